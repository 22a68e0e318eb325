"""Times melody generation with a lookback_rnn bundle (LSTM 128x128): 10 outputs x 128 steps
in-process after loading, and a whole musekit_generate process as a user runs it.

    python benchmarks/melody_generate.py [--bundle FILE] [--runs 7] [--process_runs 3]

Without --bundle it uses a lookback_rnn bundle from bundles/ if one is there, else a
random-weight one of the same shape (weight values do not change the speed). Magenta's
melody_rnn_generate managed 148 steps/s and took 14.5 s for the whole process on a
2-core machine; the goals are >= 7,400 steps/s and <= 3 s.
"""
import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from musekit.bundle import load_bundle, write_bundle
from musekit.config import get_config
from musekit.errors import MusekitError
from musekit.generation import generate

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
NUM_OUTPUTS, NUM_STEPS = 10, 128
MAGENTA_STEPS_PER_S, GOAL_STEPS_PER_S = 148, 7400
MAGENTA_PROCESS_S, GOAL_PROCESS_S = 14.5, 3.0


def find_bundle():
    """A shipped lookback_rnn bundle with 128x128 LSTMs, or None."""
    for path in sorted(glob.glob(os.path.join(HERE, '..', 'bundles', '*'))):
        try:
            bundle = load_bundle(path)
        except MusekitError:
            continue
        if (bundle.config.name == 'lookback_rnn'
                and list(bundle.config.hparams['rnn_layer_sizes']) == [128, 128]):
            return path
    return None


def random_bundle(path):
    """A lookback_rnn bundle with random weights of the trained model's shapes."""
    from musekit.models.rnn import weight_shapes
    config = get_config('lookback_rnn')
    encoder = config.make_encoder()
    rng = np.random.default_rng(0)
    weights = {name: (0.1 * rng.standard_normal(shape)).astype(np.float32) for name, shape
               in weight_shapes(encoder.input_size, encoder.num_classes,
                                config.hparams).items()}
    write_bundle(path, config.to_dict(), weights, {'dataset': 'random weights (benchmark)'})
    return path


def in_process(path, runs):
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


def whole_process(path, runs, out_dir):
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
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--bundle', help='a lookback_rnn bundle (default: see above)')
    parser.add_argument('--runs', type=int, default=7, help='in-process runs (median)')
    parser.add_argument('--process_runs', type=int, default=3, help='process runs (median)')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='musekit_bench_') as tmp:
        path = args.bundle or find_bundle() or random_bundle(os.path.join(tmp, 'lb.musekit'))
        print('bundle: %s' % path)
        seconds = in_process(path, args.runs)
        steps_per_s = NUM_OUTPUTS * NUM_STEPS / seconds
        print('in-process, %d outputs x %d steps: %.1f ms  %.0f steps/s  (Magenta %d, goal '
              '>= %d: %s, %.0fx Magenta)' % (
                  NUM_OUTPUTS, NUM_STEPS, 1000 * seconds, steps_per_s, MAGENTA_STEPS_PER_S,
                  GOAL_STEPS_PER_S, 'met' if steps_per_s >= GOAL_STEPS_PER_S else 'MISSED',
                  steps_per_s / MAGENTA_STEPS_PER_S))
        seconds = whole_process(path, args.process_runs, os.path.join(tmp, 'out'))
        print('whole musekit_generate process, --num_outputs=%d: %.2f s  (Magenta %.1f s, '
              'goal <= %.0f s: %s)' % (NUM_OUTPUTS, seconds, MAGENTA_PROCESS_S, GOAL_PROCESS_S,
                                       'met' if seconds <= GOAL_PROCESS_S else 'MISSED'))


if __name__ == '__main__':
    main()
