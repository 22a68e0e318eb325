"""Time to quality: eval NLL against training seconds and steps, as users train.

    python benchmarks/time_to_quality.py [--config lookback_rnn] [--data_dir DIR]
        [--hparams batch_size=64] [--steps 1000] [--eval_every 100] [--seeds 0 1 2]
        [--bucket_width W] [--target NLL] [--magenta MAGENTA_CURVE]

Trains `--config` with musekit's own Trainer (the loop `musekit_train` runs, without
checkpoints) on a dataset that `musekit_create_dataset` made from `music21:bach` (made
into `--data_dir` when that folder has no `training_*` files; default
/tmp/musekit_ttq/CONFIG), or on Magenta's own dataset: a `--data_dir` holding
`training_melodies.tfrecord` and `eval_melodies.tfrecord` as Magenta's
melody_rnn_create_dataset writes them. Every `--eval_every` steps the clock stops, the whole eval split
is evaluated, and the clock restarts, so the seconds printed are training time only (the
first step's tracing included: users pay it too). Per seed it prints a row per evaluation:
step, training seconds, eval NLL (nats per step); then medians over the seeds, the steps/s
between the first and the last evaluation, and the training seconds at which eval NLL first reached `--target`
(by default no target: pass today's 1000-step median to compare a change with it).
With `--magenta FILE` (what magenta_time_to_quality.py printed, Magenta trained on the same
data), each median evaluation is set beside the seconds Magenta's curve took to reach the
same eval NLL, and their ratio (the time-to-quality speed-up). Seconds compare only when
both ran on the same, quiet machine.
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

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from musekit.config import get_config  # noqa: E402
from musekit.data.batching import Bucketed  # noqa: E402
from musekit.training import Trainer  # noqa: E402

BIN = os.path.dirname(sys.executable)


def ensure_dataset(config_name, folder):
    """`folder`, holding `musekit_create_dataset --config=CONFIG` output of music21:bach
    (made now if it has no training files)."""
    if glob.glob(os.path.join(folder, 'training_*.tfrecord')):
        return folder
    ns = tempfile.mkdtemp(prefix='musekit_ttq_ns_')
    try:
        for cmd in ([os.path.join(BIN, 'musekit_convert'), '--input=music21:bach',
                     '--output=%s/bach' % ns],
                    [os.path.join(BIN, 'musekit_create_dataset'), '--config=' + config_name,
                     '--input=%s/bach*' % ns, '--output_dir=' + folder]):
            print('running', ' '.join(cmd), flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                sys.exit('failed: %s\n%s' % (' '.join(cmd), proc.stderr[-2000:]))
    finally:
        shutil.rmtree(ns, ignore_errors=True)
    return folder


class Curve:
    """The `progress` callback of Trainer.train: evaluates every `every` steps with the
    clock stopped, recording (step, training seconds, eval NLL)."""

    def __init__(self, trainer, eval_pattern, every):
        self.trainer, self.eval_pattern, self.every = trainer, eval_pattern, every
        self.points = []
        self.paused = 0.0
        self.start = None

    def seconds(self):
        return time.perf_counter() - self.start - self.paused

    def __call__(self, step, total, note):
        if step % self.every:
            return
        seconds = self.seconds()
        pause = time.perf_counter()
        metrics = self.trainer.evaluate(self.eval_pattern)
        self.paused += time.perf_counter() - pause
        self.points.append((step, seconds, metrics['loss']))
        print('  step %5d  %7.1f s  eval NLL %.4f' % (step, seconds, metrics['loss']),
              flush=True)


def run(config, pattern, eval_pattern, steps, every, seed, batching):
    """The Curve of one training run of `steps` steps from scratch."""
    run_dir = tempfile.mkdtemp(prefix='musekit_ttq_run_')
    try:
        trainer = Trainer(config, run_dir, seed=seed, log=lambda line: None)
        curve = Curve(trainer, eval_pattern, every)
        curve.start = time.perf_counter()
        trainer.train(pattern, steps, summary_frequency=every, save_checkpoint_steps=0,
                      batching=batching, progress=curve)
        (first_step, first_seconds, _), (last_step, last_seconds, _) = curve.points[0], \
            curve.points[-1]
        # steps/s between the first and the last evaluation (no tracing)
        rate = ((last_step - first_step) / (last_seconds - first_seconds)
                if last_step > first_step else 0.0)
        return curve.points, last_seconds, rate
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def time_to(points, target):
    """Training seconds of the first evaluation with NLL <= target, or None."""
    for _, seconds, nll in points:
        if nll <= target:
            return seconds
    return None


def read_magenta_curve(path):
    """[(step, seconds, eval NLL)] from magenta_time_to_quality.py's printed table."""
    points = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) == 3 and fields[0].isdigit():
                points.append((int(fields[0]), float(fields[1]), float(fields[2])))
    if not points:
        sys.exit('%s holds no curve of magenta_time_to_quality.py' % path)
    return points


def seconds_to_reach(points, nll):
    """Seconds at which a curve first reaches `nll`, interpolated linearly between its
    evaluations; None if it never does."""
    previous = None
    for _, seconds, value in points:
        if value <= nll:
            if previous is None or previous[1] == value:
                return seconds
            (s0, v0) = previous
            return s0 + (seconds - s0) * (v0 - nll) / (v0 - value)
        previous = (seconds, value)
    return None


def compare_with_magenta(runs, magenta):
    """Per evaluation: musekit's median seconds and NLL, the seconds Magenta's curve
    needed for that NLL, and their ratio (above 1: musekit got there sooner)."""
    print('against Magenta (%d checkpoints, %.1f s to step %d):'
          % (len(magenta), magenta[-1][1], magenta[-1][0]))
    print('   step   musekit s   eval NLL   Magenta s to it   ratio')
    for i, (step, _, _) in enumerate(runs[0][0]):
        secs = statistics.median(r[0][i][1] for r in runs)
        nll = statistics.median(r[0][i][2] for r in runs)
        theirs = seconds_to_reach(magenta, nll)
        print('  %5d   %8.1f   %.4f    %s' % (
            step, secs, nll, '%8.1f          %.2fx' % (theirs, theirs / secs)
            if theirs is not None else '   not reached'))


def data_patterns(folder):
    """(training, eval) file patterns of a dataset folder: musekit's shards
    (training_melodies-00000-of-00002.tfrecord) or Magenta's single files
    (training_melodies.tfrecord, as melody_rnn_create_dataset names them)."""
    name = os.path.basename(sorted(glob.glob(os.path.join(folder, 'training_*.tfrecord')))[0])
    if '-' in name:
        name = name.split('-')[0] + '-*.tfrecord'           # training_melodies-*.tfrecord
    return (os.path.join(folder, name),
            os.path.join(folder, name.replace('training_', 'eval_', 1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='lookback_rnn')
    parser.add_argument('--data_dir', help='musekit_create_dataset output for --config '
                        '(made from music21:bach if it has no training files; default '
                        '/tmp/musekit_ttq/CONFIG)')
    parser.add_argument('--hparams', default='batch_size=64')
    parser.add_argument('--steps', type=int, default=1000)
    parser.add_argument('--eval_every', type=int, default=100)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--bucket_width', type=int, default=None,
                        help='length-bucket width (default: the model family\'s batching)')
    parser.add_argument('--magenta', default=None,
                        help="magenta_time_to_quality.py's output: prints, per evaluation, "
                        "the seconds Magenta took to the same eval NLL and the ratio")
    parser.add_argument('--target', type=float, default=None,
                        help='eval NLL to report the time to (e.g. a baseline\'s final NLL)')
    args = parser.parse_args()
    folder = ensure_dataset(args.config, args.data_dir
                            or os.path.join('/tmp/musekit_ttq', args.config))
    pattern, eval_pattern = data_patterns(folder)
    config = get_config(args.config, args.hparams)
    batching = Bucketed(args.bucket_width) if args.bucket_width is not None else None
    with open('/proc/loadavg') as f:
        load = f.read().split()[0]
    print('%s %s, %d steps, eval every %d, seeds %s, data %s (1-min load %s)' % (
        args.config, args.hparams, args.steps, args.eval_every, args.seeds, folder, load))
    runs = []
    for seed in args.seeds:
        print('seed %d' % seed, flush=True)
        points, total, rate = run(config, pattern, eval_pattern, args.steps, args.eval_every,
                                  seed, batching)
        runs.append((points, total, rate))
        print('  %.1f s training to step %d, %.2f steps/s after the first evaluation'
              % (total, points[-1][0], rate), flush=True)
    print('median of %d run(s):' % len(runs))
    print('  step   seconds   eval NLL   (each seed)')
    for i, (step, _, _) in enumerate(runs[0][0]):
        secs = [r[0][i][1] for r in runs]
        nlls = [r[0][i][2] for r in runs]
        print('  %5d  %7.1f   %.4f     (%s)' % (step, statistics.median(secs),
                                               statistics.median(nlls),
                                               ', '.join('%.4f' % n for n in nlls)))
    print('  steps/s %.2f  (%s)' % (statistics.median(r[2] for r in runs),
                                    ', '.join('%.2f' % r[2] for r in runs)))
    if args.magenta:
        compare_with_magenta(runs, read_magenta_curve(args.magenta))
    if args.target is not None:
        times = [time_to(r[0], args.target) for r in runs]
        reached = [t for t in times if t is not None]
        print('  seconds to eval NLL <= %.4f: %s  (median of the runs that reached it: %s)'
              % (args.target, ', '.join('%.1f' % t if t is not None else 'not reached'
                                        for t in times),
                 '%.1f' % statistics.median(reached) if reached else '-'))


if __name__ == '__main__':
    main()
