"""Times lookback_rnn training (batch 64, LSTM 128x128) on music21's Bach chorales and prints
training steps per second, for several length-bucket widths.

    python benchmarks/melody_train.py [--data_dir DIR] [--windows 5] [--window_steps 20]
                                      [--bucket_widths 32 16 64 0]

Without --data_dir it makes the dataset in a temporary folder with musekit_convert and
musekit_create_dataset. Each figure is the median of --windows timed windows after one
warm-up window (which includes tracing). Magenta's melody_rnn_train did 1.25 steps/s here
on a 2-core machine; the goal is >= 2.5 steps/s.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from musekit.config import get_config  # noqa: E402
from musekit.training import Trainer  # noqa: E402

BIN = os.path.dirname(sys.executable)
HPARAMS = 'batch_size=64,rnn_layer_sizes=[128,128]'
MAGENTA_STEPS_PER_S, GOAL_STEPS_PER_S = 1.25, 2.5


def make_dataset(folder):
    for cmd in ([os.path.join(BIN, 'musekit_convert'), '--input=music21:bach',
                 '--output=%s/ns/bach' % folder],
                [os.path.join(BIN, 'musekit_create_dataset'), '--config=lookback_rnn',
                 '--input=%s/ns/bach*' % folder, '--output_dir=%s/ds' % folder]):
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode:
            sys.exit('failed: %s\n%s' % (' '.join(cmd), proc.stderr[-2000:]))
    return '%s/ds' % folder


def steps_per_second(pattern, bucket_width, windows, window_steps):
    """Median steps/s over `windows` windows of `window_steps` steps, after one warm-up."""
    run_dir = tempfile.mkdtemp(prefix='musekit_train_bench_')
    try:
        trainer = Trainer(get_config('lookback_rnn', HPARAMS), run_dir, log=lambda line: None)
        trainer.train(pattern, (windows + 1) * window_steps, summary_frequency=window_steps,
                      save_checkpoint_steps=0, bucket_width=bucket_width)
        rates = [h['steps_per_second'] for h in trainer.history[1:]]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return statistics.median(rates), rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data_dir', help='a lookback_rnn dataset folder (made if absent)')
    parser.add_argument('--windows', type=int, default=5)
    parser.add_argument('--window_steps', type=int, default=20)
    parser.add_argument('--bucket_widths', type=int, nargs='+', default=[32, 16, 64, 0],
                        help='length-bucket widths to compare (0: no bucketing)')
    args = parser.parse_args()
    tmp = None
    if args.data_dir is None:
        tmp = tempfile.mkdtemp(prefix='musekit_bench_')
        args.data_dir = make_dataset(tmp)
    pattern = os.path.join(args.data_dir, 'training_melodies-*.tfrecord')
    try:
        print('lookback_rnn %s on %s; median of %d windows of %d steps after warm-up'
              % (HPARAMS, pattern, args.windows, args.window_steps))
        for width in args.bucket_widths:
            median, rates = steps_per_second(pattern, width, args.windows, args.window_steps)
            verdict = 'met' if median >= GOAL_STEPS_PER_S else 'NOT met'
            print('  bucket width %-3s %5.2f steps/s  (Magenta %.2f, goal >= %.1f: %s; '
                  'windows: %s)' % (width or 'off', median, MAGENTA_STEPS_PER_S,
                                    GOAL_STEPS_PER_S, verdict,
                                    ', '.join('%.2f' % r for r in rates)), flush=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
