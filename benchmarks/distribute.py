"""musekit_train under each tf.distribute strategy: steps/s, examples/s and time to first step.

    python benchmarks/distribute.py [--config basic_rnn]
        [--hparams 'batch_size=32,rnn_layer_sizes=[64,64],dropout_rate=0.0'] [--steps 200]
        [--data_dir DIR]

Runs whole `musekit_train` processes as a user does, on toy melody data (or the SequenceExample
files of `--data_dir`, e.g. a musekit_create_dataset output): `default` (one process, one
device), `mirrored` over two logical CPU devices of one process, and `multi_worker` with one
and with two worker processes on 127.0.0.1 (the same global batch, split over the workers).
Time to first step: from starting the command(s) until step 1 is printed (TensorFlow's import,
the cluster's connection, the model and the first step's tracing). steps/s: over the steps
after the first 10. On a 2-core machine two workers cannot be faster than one: they share
the cores and add a gradient all-reduce over gRPC per step; the figure is here to be honest
about that cost, not as a speed-up.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))

from test_distribute import free_ports  # noqa: E402  (tests/ is on the path above)

WARM_UP = 10

MIRRORED = '''
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from musekit.cli import train
train.run(sys.argv)
'''


def commands(strategy, workers, args, pattern, run_dir):
    """[(argv, environment)] of the processes of one run."""
    flags = ['--config=%s' % args.config, '--hparams=%s' % args.hparams,
             '--run_dir=%s' % run_dir, '--sequence_example_file=%s' % pattern,
             '--num_training_steps=%d' % args.steps, '--summary_frequency=1',
             '--save_checkpoint_steps=0']
    if strategy == 'default':
        return [([sys.executable, '-m', 'musekit.cli.train'] + flags, dict(os.environ))]
    if strategy == 'mirrored':
        return [([sys.executable, '-c', MIRRORED, '--strategy=mirrored',
                  '--devices=/cpu:0,/cpu:1'] + flags, dict(os.environ))]
    ports = free_ports(workers)
    cluster = {'worker': ['127.0.0.1:%d' % p for p in ports]}
    return [([sys.executable, '-m', 'musekit.cli.train', '--strategy=multi_worker'] + flags,
             dict(os.environ, TF_CONFIG=json.dumps({'cluster': cluster, 'task': {
                 'type': 'worker', 'index': i}}))) for i in range(workers)]


def run(strategy, workers, args, pattern, folder):
    """(seconds to step 1, steps per second after WARM_UP steps) of the first process."""
    run_dir = tempfile.mkdtemp(dir=folder)
    start = time.perf_counter()
    # only the first process's stdout is read as it runs: the others' output goes to files,
    # so no pipe fills up and stalls a worker
    logs = [open(os.path.join(folder, 'stderr_%d.log' % i), 'w+') for i in range(workers)]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE if i == 0
                              else subprocess.DEVNULL, stderr=logs[i], text=True)
             for i, (argv, env) in enumerate(commands(strategy, workers, args, pattern,
                                                      run_dir))]
    seen = {}
    for line in procs[0].stdout:
        if line.startswith('musekit_train: step '):
            step = int(line.split()[2].split('/')[0])
            seen[step] = time.perf_counter()
    for proc, log in zip(procs, logs):
        proc.wait()
        log.seek(0)
        err = log.read()
        log.close()
        if proc.returncode:
            raise SystemExit('%s failed: %s' % (strategy, err.strip().splitlines()[-1:]))
    first = seen[1] - start
    rate = (args.steps - WARM_UP) / (seen[args.steps] - seen[WARM_UP])
    return first, rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='basic_rnn')
    parser.add_argument('--hparams', default='batch_size=32,rnn_layer_sizes=[64,64],'
                                             'dropout_rate=0.0')
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--data_dir', help='folder of SequenceExample *.tfrecord files for '
                                           '--config (default: toy melodies)')
    args = parser.parse_args()
    from musekit.config import get_config
    batch = int(get_config(args.config, args.hparams).hparams['batch_size'])
    with tempfile.TemporaryDirectory() as folder:
        if args.data_dir:
            pattern = os.path.join(args.data_dir, '*.tfrecord')
        else:
            from test_training import write_dataset
            pattern = write_dataset(os.path.join(folder, 'data'), count=512, shards=4)
        print('%s, %s, %d steps, global batch %d, %d cores'
              % (args.config, args.hparams, args.steps, batch, os.cpu_count()))
        print('| strategy | processes | replicas | seconds to step 1 | steps/s | examples/s |')
        print('|---|---|---|---|---|---|')
        for strategy, workers, replicas in (('default', 1, 1), ('mirrored', 1, 2),
                                            ('multi_worker', 1, 1), ('multi_worker', 2, 2)):
            first, rate = run(strategy, workers, args, pattern, folder)
            print('| %s | %d | %d | %.1f | %.1f | %.0f |'
                  % (strategy, workers, replicas, first, rate, rate * batch), flush=True)


if __name__ == '__main__':
    main()
