"""Magenta's event RNNs after melodies (Performance, Polyphony, Improv and Drums RNN): eval
NLL against training seconds, and generation of 10 outputs (10 s of performance; 128
polyphony or drum steps; lead sheets over 8 chords) as a whole process, beside Magenta.

    python benchmarks/event_rnns.py [--families performance polyphony improv drums] [--steps 300]
        [--eval_every 50] [--hparams H] [--seeds 0] [--process_runs 3]
        [--magenta_peer /tmp/vmag --magenta_bundles DIR] [--skip_training]
        [--skip_generation]

Training uses time_to_quality.py's loop (clock stopped while evaluating) on a dataset that
musekit_create_dataset makes from music21's Bach chorales (kept in /tmp/musekit_ttq/CONFIG),
at the shipped bundles' sizes by default (--hparams='' for Magenta's: three 512-unit or
256-unit LSTMs, which train several times slower on 2 cores).
Generation times whole `musekit_generate` processes from the shipped bundles (median of
--process_runs). With --magenta_peer (a venv where Magenta 2.1.4 runs; how, in
tests/data/magenta/README.md) and --magenta_bundles (a folder of CONFIG.mag files:
performance_with_dynamics, polyphony, basic_improv, drum_kit; e.g. made by the peer's tools
at Magenta's default sizes), both tools generate from the same .mag file, the fairest
comparison; without them the Magenta figures printed are the ones recorded that way on this
machine class (MAGENTA below; basic_improv's shipped bundle has Magenta's sizes). Training speed is printed for
musekit only: Magenta's was measured at its own default sizes (0.082 steps/s for
performance_with_dynamics, 0.059 for polyphony, batch 64, a quiet machine), not at these.
No drum data ships here, so drums have no training figures, and their generation runs from
random weights at drum_kit's own sizes (Magenta's; weights do not change the speed).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import time_to_quality as ttq  # noqa: E402
from musekit.config import get_config  # noqa: E402

BIN = os.path.dirname(sys.executable)
NUM_OUTPUTS = 10
FAMILIES = {
    'performance': {
        'config': 'performance_with_dynamics',
        'hparams': 'batch_size=64,rnn_layer_sizes=[256,256]',     # the shipped bundle's
        'musekit_length': ['--num_seconds=10'],
        'magenta_tool': 'performance_rnn_generate',
        'magenta_length': ['--num_steps=1000'],        # 100 steps per second
        'what': '10 s performances',
    },
    'polyphony': {
        'config': 'polyphony',
        'hparams': 'batch_size=32,rnn_layer_sizes=[128,128]',     # the shipped bundle's
        'musekit_length': ['--num_steps=128'],
        'magenta_tool': 'polyphony_rnn_generate',
        'magenta_length': ['--num_steps=128'],
        'what': '128-step polyphonic pieces',
    },
    'improv': {
        'config': 'basic_improv',
        'hparams': 'batch_size=64',                 # the shipped bundle's: Magenta's sizes
        'magenta_sizes': True,
        'musekit_length': ['--backing_chords=C G Am F C G Am F', '--steps_per_chord=16'],
        'magenta_tool': 'improv_rnn_generate',
        'magenta_length': ['--backing_chords=C G Am F C G Am F', '--steps_per_chord=16'],
        'what': 'lead sheets over 8 chords of 16 steps',
    },
    # no drum data ships here: no training figures, and generation from random weights at
    # Magenta's default sizes (weights do not change the speed)
    'drums': {
        'config': 'drum_kit',
        'shipped': False,
        'magenta_sizes': True,
        'musekit_length': ['--num_steps=128'],
        'magenta_tool': 'drums_rnn_generate',
        'magenta_length': ['--num_steps=128'],
        'what': '128-step drum tracks',
    },
}
# Magenta 2.1.4 on this machine class (2 cores): seconds of a whole generate process of 10
# outputs from a .mag at Magenta's default sizes (musekit on the same file: 1.08 s and 1.19 s;
# improv 0.40 s, drums 1.02 s, load about 1);
# benchmarks/README.md
MAGENTA = {'performance': {'generate': 20.78}, 'polyphony': {'generate': 22.61},
           'drums': {'generate': 9.74}, 'improv': {'generate': 9.73}}


def random_bundle(config_name, path):
    """A bundle of `config_name` at its own (Magenta's default) sizes with random weights."""
    import numpy as np
    from musekit.bundle import write_bundle
    config = get_config(config_name)
    shapes = config.make_model().weight_shapes(config.make_encoder(), config.hparams)
    rng = np.random.default_rng(0)
    weights = {name: (0.05 * rng.standard_normal(shape)).astype(np.float32)
               for name, shape in shapes.items()}
    write_bundle(path, config.to_dict(), weights, {'dataset': 'random weights (benchmark)'})
    return path


def median_seconds(cmd, runs, env=None):
    """(median, all) wall seconds of `runs` runs of the command `cmd` (a list)."""
    times = []
    for seed in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd + ['--seed=%d' % (seed + 1)], capture_output=True,
                              text=True, env=env)
        times.append(time.perf_counter() - start)
        if proc.returncode:
            sys.exit('failed: %s\n%s' % (' '.join(cmd), proc.stderr[-2000:]))
    return statistics.median(times), times


def bench_training(family, spec, args):
    folder = ttq.ensure_dataset(spec['config'], os.path.join('/tmp/musekit_ttq', spec['config']))
    pattern, eval_pattern = ttq.data_patterns(folder)
    hparams = args.hparams if args.hparams is not None else spec['hparams']
    config = get_config(spec['config'], hparams)
    print('%s: training %s %s, %d steps, eval every %d' % (
        family, spec['config'], hparams or "(the config's)", args.steps, args.eval_every),
        flush=True)
    runs = [ttq.run(config, pattern, eval_pattern, args.steps, args.eval_every, seed, None)
            for seed in args.seeds]
    print('  step   seconds   eval NLL   (median of %d run(s))' % len(runs))
    for i, (step, _, _) in enumerate(runs[0][0]):
        print('  %5d  %7.1f   %.4f' % (step, statistics.median(r[0][i][1] for r in runs),
                                        statistics.median(r[0][i][2] for r in runs)))
    print('  %.2f steps/s' % statistics.median(r[2] for r in runs), flush=True)


def bench_generation(family, spec, args):
    with tempfile.TemporaryDirectory(prefix='musekit_bench_') as tmp:
        mag = (os.path.join(args.magenta_bundles, spec['config'] + '.mag')
               if args.magenta_bundles else None)
        source = mag if mag and args.magenta_peer else spec['config']
        if source == spec['config'] and not spec.get('shipped', True):
            source = random_bundle(spec['config'], os.path.join(tmp, spec['config'] + '.musekit'))
        cmd = [os.path.join(BIN, 'musekit_generate'), '--bundle_file=' + source,
               '--output_dir=' + os.path.join(tmp, 'mk'),
               '--num_outputs=%d' % NUM_OUTPUTS] + spec['musekit_length']
        seconds, times = median_seconds(cmd, args.process_runs)
        print('%s: musekit_generate, %d %s from %s: %.2f s whole process (runs: %s)' % (
            family, NUM_OUTPUTS, spec['what'], source, seconds,
            ', '.join('%.2f' % t for t in times)), flush=True)
        if mag and args.magenta_peer:
            env = dict(os.environ, TF_USE_LEGACY_KERAS='1', TF_CPP_MIN_LOG_LEVEL='3')
            cmd = [os.path.join(args.magenta_peer, 'bin', spec['magenta_tool']),
                   '--bundle_file=' + mag, '--output_dir=' + os.path.join(tmp, 'mag'),
                   '--num_outputs=%d' % NUM_OUTPUTS] + spec['magenta_length']
            theirs, their_times = median_seconds(cmd, args.process_runs, env)
            print('  Magenta %s, same .mag: %.2f s (runs: %s): musekit %.1fx faster' % (
                spec['magenta_tool'], theirs, ', '.join('%.2f' % t for t in their_times),
                theirs / seconds), flush=True)
        elif MAGENTA.get(family, {}).get('generate'):
            theirs = MAGENTA[family]['generate']
            print('  Magenta (recorded, from a .mag at its default sizes%s): %.2f s'
                  % ('' if spec.get('magenta_sizes') else ', so larger than the shipped '
                     'bundle', theirs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--families', nargs='+', default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--eval_every', type=int, default=50)
    parser.add_argument('--hparams', default=None, help="for every family, e.g. "
                        "'batch_size=64' ('' for the configs' own, Magenta's; default: the "
                        "shipped bundles' sizes)")
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--process_runs', type=int, default=3)
    parser.add_argument('--magenta_peer', help='a Magenta 2.1.4 venv to run beside musekit')
    parser.add_argument('--magenta_bundles', help='folder of CONFIG.mag files for both tools')
    parser.add_argument('--skip_training', action='store_true')
    parser.add_argument('--skip_generation', action='store_true')
    args = parser.parse_args()
    with open('/proc/loadavg') as f:
        print('1-min load %s' % f.read().split()[0])
    for family in args.families:
        if not args.skip_training and FAMILIES[family].get('shipped', True):
            bench_training(family, FAMILIES[family], args)
        if not args.skip_generation:
            bench_generation(family, FAMILIES[family], args)


if __name__ == '__main__':
    main()
