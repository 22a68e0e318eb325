"""Times musekit_convert + musekit_create_dataset (lookback_rnn) over music21's Bach
chorales as whole processes, the way a user runs them, and prints files per second:
with the DirectRunner (1 and 2 workers) and on Beam's Dask runner (a local cluster
started by each job, when dask[distributed] is installed).

    python benchmarks/dataset.py [--runs 3] [--workers 2] [--no-dask]

Magenta's serial tools took 10.2 s (convert) + 9.3 s (create dataset) on these files on a
2-core machine; the goal is both musekit jobs together in at most 10 s.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.dirname(sys.executable)


def timed(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.exit('failed: %s\n%s' % (' '.join(cmd), proc.stderr[-2000:]))
    return elapsed, proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--workers', type=int, nargs='+', default=[2, 1],
                        help='DirectRunner worker counts to compare (>1: multi_processing)')
    parser.add_argument('--no-dask', dest='dask', action='store_false',
                        help='skip the Dask runner line')
    args = parser.parse_args()
    for workers in args.workers:
        beam_args = ['--direct_num_workers=%d' % workers]
        if workers > 1:
            beam_args.append('--direct_running_mode=multi_processing')
        bench('DirectRunner, workers=%d' % workers, beam_args, args.runs)
    if args.dask:
        try:
            import distributed  # noqa: F401
        except ImportError:
            print('Dask runner: skipped (pip install "musekit[dask]")')
            return
        bench('DaskRunner, local cluster started by each job', ['--runner=DaskRunner'],
              args.runs)


def score_files():
    from musekit.data import sources
    return sum(sources.is_supported(s.path) for s in sources.list_sources('music21:bach'))


def bench(label, beam_args, runs):
    tmp = tempfile.mkdtemp(prefix='musekit_bench_')
    convert_s, dataset_s, out = [], [], ''
    try:
        for _ in range(runs):
            t, _ = timed([os.path.join(BIN, 'musekit_convert'), '--input=music21:bach',
                             '--output=%s/ns/bach' % tmp] + beam_args)
            convert_s.append(t)
            t, out = timed([os.path.join(BIN, 'musekit_create_dataset'),
                            '--config=lookback_rnn', '--input=%s/ns/bach*' % tmp,
                            '--output_dir=%s/ds' % tmp] + beam_args)
            dataset_s.append(t)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    files = score_files()
    c, d = statistics.median(convert_s), statistics.median(dataset_s)
    print('music21 Bach corpus: %d score files; %s; median of %d runs, whole process'
          % (files, label, runs))
    print('  musekit_convert         %5.2f s  %6.1f files/s   (runs: %s)'
          % (c, files / c, ', '.join('%.2f' % x for x in convert_s)))
    print('  musekit_create_dataset  %5.2f s  %6.1f files/s   (runs: %s)'
          % (d, files / d, ', '.join('%.2f' % x for x in dataset_s)))
    print('  both jobs               %5.2f s  %6.1f files/s   (Magenta serial: 19.5 s, '
          'goal <= 10 s)' % (c + d, files / (c + d)))
    print(out.strip().splitlines()[-1])


if __name__ == '__main__':
    main()
