"""Peak resident memory of a whole musekit_generate process against --num_outputs: with the
default chunks (--batch_size 128) it should stay flat; one batch of every output (what
musekit did before chunking, here --batch_size=N) grows with N.

    python benchmarks/generation_memory.py [--counts 10 1000 10000] [--num_steps 128]
        [--bundle lookback_rnn] [--no_one_batch]

Each run is a fresh process, measured by a small parent process's RUSAGE_CHILDREN (the
child's own peak), so runs do not see each other's peaks. Files go to a temporary folder.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.path.dirname(sys.executable)
MEASURE = ('import resource, subprocess, sys, time; t = time.perf_counter(); '
           'rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; '
           'print(rc, time.perf_counter() - t, '
           'resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)')


def peak(args, folder):
    """(peak RSS MiB, seconds, files written) of one musekit_generate process."""
    shutil.rmtree(folder, ignore_errors=True)
    cmd = [os.path.join(BIN, 'musekit_generate'), '--output_dir=' + folder, '--seed=1'] + args
    out = subprocess.run([sys.executable, '-c', MEASURE] + cmd, capture_output=True,
                         text=True, check=True).stdout.split()
    if out[0] != '0':
        sys.exit('failed: %s' % ' '.join(cmd))
    return int(out[2]) / 1024, float(out[1]), len(os.listdir(folder))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--counts', type=int, nargs='+', default=[10, 1000, 10000])
    parser.add_argument('--num_steps', type=int, default=128)
    parser.add_argument('--bundle', default='lookback_rnn')
    parser.add_argument('--no_one_batch', action='store_true',
                        help='skip the one-batch comparison runs')
    a = parser.parse_args()
    common = ['--bundle_file=' + a.bundle, '--num_steps=%d' % a.num_steps]
    print('musekit_generate --bundle_file=%s --num_steps=%d, peak resident memory of the '
          'whole process' % (a.bundle, a.num_steps))
    print('%12s  %26s  %26s' % ('num_outputs', 'chunked (--batch_size 128)',
                                '' if a.no_one_batch else 'one batch (--batch_size=N)'))
    chunked = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in a.counts:
            mib, secs, files = peak(common + ['--num_outputs=%d' % count], tmp + '/c')
            assert files == count, (files, count)
            chunked.append(mib)
            line = '%12d  %12.0f MiB %9.1f s' % (count, mib, secs)
            if not a.no_one_batch:
                mib1, secs1, _ = peak(common + ['--num_outputs=%d' % count,
                                                '--batch_size=%d' % count], tmp + '/o')
                line += '  %12.0f MiB %9.1f s' % (mib1, secs1)
            print(line, flush=True)
    print('chunked: largest / smallest peak = %.2f (flat means close to 1)'
          % (max(chunked) / min(chunked)))


if __name__ == '__main__':
    main()
