"""Melody model speed for lookback_rnn (batch 64, LSTM 128x128) on music21's Bach chorales:
training steps per second, generation of 10 outputs x 128 steps in process, and a whole
musekit_generate process as a user runs it.

    python benchmarks/melody.py [--data_dir DIR] [--bundle FILE] [--windows 5]
        [--window_steps 20] [--bucket_widths 32 0] [--runs 7] [--process_runs 5]
        [--skip_training] [--skip_generation]

Without --data_dir the dataset is made in a temporary folder with musekit_convert and
musekit_create_dataset. Training figures are medians of --windows timed windows after one
warm-up window (which includes tracing), per length-bucket width (0: no bucketing, each
batch padded to its longest melody). Generation uses the shipped bundles/lookback_rnn
bundle (else a random-weight one of the same shape: weight values do not change the speed).
Magenta 2.1.4 on this 2-core machine class: 1.25 training steps/s, 148 generated steps/s,
14.5 s for the generate process; the goals are >= 2.5 steps/s, >= 7,400 steps/s, <= 3 s.
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from musekit.bundle import load_bundle, write_bundle  # noqa: E402
from musekit.config import get_config  # noqa: E402
from musekit.errors import MusekitError  # noqa: E402
from musekit.generation import generate  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
HPARAMS = 'batch_size=64,rnn_layer_sizes=[128,128]'
NUM_OUTPUTS, NUM_STEPS = 10, 128
MAGENTA = {'train': 1.25, 'generate': 148, 'process': 14.5}
GOAL = {'train': 2.5, 'generate': 7400, 'process': 3.0}


def verdict(met):
    return 'met' if met else 'MISSED'


def make_dataset(folder):
    for cmd in ([os.path.join(BIN, 'musekit_convert'), '--input=music21:bach',
                 '--output=%s/ns/bach' % folder],
                [os.path.join(BIN, 'musekit_create_dataset'), '--config=lookback_rnn',
                 '--input=%s/ns/bach*' % folder, '--output_dir=%s/ds' % folder]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit('failed: %s\n%s' % (' '.join(cmd), proc.stderr[-2000:]))
    return '%s/ds' % folder


def training_steps_per_second(pattern, bucket_width, windows, window_steps):
    """(median, all) steps/s over `windows` windows of `window_steps` steps, after a warm-up."""
    from musekit.data.batching import Bucketed
    from musekit.training import Trainer
    run_dir = tempfile.mkdtemp(prefix='musekit_train_bench_')
    try:
        trainer = Trainer(get_config('lookback_rnn', HPARAMS), run_dir, log=lambda line: None)
        trainer.train(pattern, (windows + 1) * window_steps, summary_frequency=window_steps,
                      save_checkpoint_steps=0, batching=Bucketed(bucket_width))
        rates = [h['steps_per_second'] for h in trainer.history[1:]]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return statistics.median(rates), rates


def find_bundle():
    """A shipped lookback_rnn bundle with 128x128 LSTMs, or None."""
    for path in sorted(glob.glob(os.path.join(HERE, '..', 'bundles', '*'))):
        try:
            bundle = load_bundle(path)
        except MusekitError:
            continue
        if (bundle.config.name == 'lookback_rnn'
                and list(bundle.config.hparams['rnn_layer_sizes']) == [128, 128]):
            return os.path.normpath(path)
    return None


def random_bundle(path):
    """A lookback_rnn bundle with random weights of the trained model's shapes."""
    from musekit.models.events_rnn import weight_shapes
    config = get_config('lookback_rnn')
    encoder = config.make_encoder()
    rng = np.random.default_rng(0)
    weights = {name: (0.1 * rng.standard_normal(shape)).astype(np.float32) for name, shape
               in weight_shapes(encoder.input_size, encoder.num_classes,
                                config.hparams).items()}
    write_bundle(path, config.to_dict(), weights, {'dataset': 'random weights (benchmark)'})
    return path


def generation_seconds(path, runs):
    """Median seconds of one generate() call (10 x 128 steps) after the bundle is loaded."""
    bundle = load_bundle(path)
    encoder = bundle.make_encoder()
    model = bundle.step_model(encoder)
    generate(model, encoder, [60], NUM_STEPS, NUM_OUTPUTS, seed=0)       # warm-up
    times = []
    for seed in range(runs):
        start = time.perf_counter()
        generate(model, encoder, [60], NUM_STEPS, NUM_OUTPUTS, seed=seed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def process_seconds(path, runs, out_dir):
    """Median wall time of a whole `musekit_generate` process writing 10 MIDI files."""
    cmd = [os.path.join(BIN, 'musekit_generate'), '--bundle_file=' + path,
           '--output_dir=' + out_dir, '--num_outputs=%d' % NUM_OUTPUTS,
           '--num_steps=%d' % NUM_STEPS]
    times = []
    for seed in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd + ['--seed=%d' % seed], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode:
            sys.exit('failed: %s\n%s' % (' '.join(cmd), proc.stderr[-2000:]))
    return statistics.median(times), times


def bench_training(args):
    tmp = None
    if args.data_dir is None:
        tmp = tempfile.mkdtemp(prefix='musekit_bench_')
        args.data_dir = make_dataset(tmp)
    pattern = os.path.join(args.data_dir, 'training_melodies-*.tfrecord')
    try:
        print('training lookback_rnn %s on %s; median of %d windows of %d steps after a '
              'warm-up window' % (HPARAMS, pattern, args.windows, args.window_steps))
        for width in args.bucket_widths:
            median, rates = training_steps_per_second(pattern, width, args.windows,
                                                      args.window_steps)
            print('  bucket width %-3s %5.2f steps/s  (Magenta %.2f, goal >= %.1f: %s, '
                  '%.1fx Magenta; windows: %s)' % (
                      width or 'off', median, MAGENTA['train'], GOAL['train'],
                      verdict(median >= GOAL['train']), median / MAGENTA['train'],
                      ', '.join('%.2f' % r for r in rates)), flush=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def bench_generation(args):
    with tempfile.TemporaryDirectory(prefix='musekit_bench_') as tmp:
        path = args.bundle or find_bundle() or random_bundle(os.path.join(tmp, 'lb.musekit'))
        print('generation with %s' % path)
        seconds = generation_seconds(path, args.runs)
        rate = NUM_OUTPUTS * NUM_STEPS / seconds
        print('  in process, %d outputs x %d steps: %.1f ms, %.0f steps/s  (Magenta %d, goal '
              '>= %d: %s, %.0fx Magenta)' % (
                  NUM_OUTPUTS, NUM_STEPS, 1000 * seconds, rate, MAGENTA['generate'],
                  GOAL['generate'], verdict(rate >= GOAL['generate']),
                  rate / MAGENTA['generate']), flush=True)
        seconds, times = process_seconds(path, args.process_runs, os.path.join(tmp, 'out'))
        print('  whole musekit_generate process, %d outputs: %.2f s  (Magenta %.1f s, goal '
              '<= %.0f s: %s; runs: %s)' % (
                  NUM_OUTPUTS, seconds, MAGENTA['process'], GOAL['process'],
                  verdict(seconds <= GOAL['process']), ', '.join('%.2f' % t for t in times)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data_dir', help='a lookback_rnn dataset folder (made if absent)')
    parser.add_argument('--bundle', help='a lookback_rnn bundle (default: see above)')
    parser.add_argument('--windows', type=int, default=5)
    parser.add_argument('--window_steps', type=int, default=20)
    parser.add_argument('--bucket_widths', type=int, nargs='+', default=[32, 0],
                        help='length-bucket widths to compare (0: no bucketing)')
    parser.add_argument('--runs', type=int, default=7, help='in-process generation runs')
    parser.add_argument('--process_runs', type=int, default=5, help='whole-process runs')
    parser.add_argument('--skip_training', action='store_true')
    parser.add_argument('--skip_generation', action='store_true')
    args = parser.parse_args()
    if not args.skip_training:
        bench_training(args)
    if not args.skip_generation:
        bench_generation(args)


if __name__ == '__main__':
    main()
