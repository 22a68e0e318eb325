"""Whole-process generation from every shipped bundle, on an idle machine and beside a
CPU-bound neighbour (one process spinning on one core, as a second user's job would),
median of --runs, with the one BLAS thread musekit's generation uses and, with --compare,
with BLAS left at its own setting (MUSEKIT_GENERATION_BLAS_THREADS=0: OpenBLAS's default
of a thread per core, what generation did before).

    python benchmarks/busy_generation.py [--bundles lookback_rnn wavenet ...] [--runs 5]
        [--compare]

Prints, per bundle, the median seconds idle and busy and their ratio (the goal: busy
within 1.3x of idle).
"""
import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..'))

from musekit.bundle import shipped_bundles  # noqa: E402

BIN = os.path.dirname(sys.executable)
# what each piece type is asked for: 10 outputs of a typical length
LENGTH = {
    'melody': ['--num_steps=128'],
    'piano_roll': ['--num_steps=32'],
    'articulated_roll': ['--num_steps=32'],
    'polyphonic_events': ['--num_steps=128'],
    'performance': ['--num_seconds=10'],
    'audio': ['--num_seconds=2'],
}


def spin(stop):
    """The neighbour: pure-Python arithmetic on one core until `stop` is set."""
    x = 0
    while not stop.is_set():
        for i in range(100000):
            x = (x * 31 + i) % 1000003


def command(name, path, out):
    from musekit.bundle import load_bundle
    piece = load_bundle(path).make_encoder().piece_type
    return [os.path.join(BIN, 'musekit_generate'), '--bundle_file=' + path,
            '--output_dir=' + out, '--num_outputs=10'] + LENGTH.get(piece, [])


def median_seconds(cmd, runs, env):
    times = []
    for seed in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd + ['--seed=%d' % (seed + 1)], capture_output=True,
                              text=True, env=env)
        times.append(time.perf_counter() - start)
        if proc.returncode:
            sys.exit('failed: %s\n%s' % (' '.join(cmd), proc.stderr[-2000:]))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--bundles', nargs='*', help='shipped bundle names (default: all)')
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--compare', action='store_true',
                        help="also time with BLAS at its own setting (the old way)")
    args = parser.parse_args()
    bundles = shipped_bundles()
    names = args.bundles or sorted(bundles)
    settings = [('one BLAS thread', {'MUSEKIT_GENERATION_BLAS_THREADS': '1'})]
    if args.compare:
        settings.append(("BLAS's own threads", {'MUSEKIT_GENERATION_BLAS_THREADS': '0'}))
    print('whole musekit_generate process, 10 outputs, median of %d; %d cores; neighbour: '
          'one busy process' % (args.runs, os.cpu_count()))
    print('%-28s %-26s %8s %8s %7s' % ('bundle', 'threads', 'idle s', 'busy s', 'ratio'))
    with tempfile.TemporaryDirectory() as out:
        for name in names:
            cmd = command(name, bundles[name], out)
            for label, extra in settings:
                env = dict(os.environ, **extra)
                idle = median_seconds(cmd, args.runs, env)
                stop = multiprocessing.Event()
                neighbour = multiprocessing.Process(target=spin, args=(stop,))
                neighbour.start()
                try:
                    time.sleep(0.5)
                    busy = median_seconds(cmd, args.runs, env)
                finally:
                    stop.set()
                    neighbour.join()
                print('%-28s %-26s %8.2f %8.2f %6.2fx' % (name, label, idle, busy,
                                                         busy / idle), flush=True)


if __name__ == '__main__':
    main()
