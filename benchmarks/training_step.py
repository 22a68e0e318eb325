"""Where a training step's time goes: the step, its matmul work, and the input pipeline.

    python benchmarks/training_step.py [--config lookback_rnn] [--hparams batch_size=64]
        [--steps_per_row 215] [--repeats 15] [--data_dir DIR]

Times musekit's own train step (forward, backward and Adam) on a fixed batch of
`--steps_per_row` steps (215 is the mean padded length of the music21 Bach lookback data),
and counts the matmul work of its weights: each weight matrix [K, N] costs 2 B K N FLOP per
time step forward and twice that backward (the gradients of both operands; an upper bound,
as TensorFlow may skip the input's). The same shapes are then timed as plain `tf.matmul`s,
so "matmul seconds" is what the step would take if it did nothing else. With `--data_dir`
(a dataset that `musekit_create_dataset` wrote for the config), it also prints the wall and
CPU milliseconds the input pipeline takes per batch, training order, nothing else running.
Then the step again on one thread. Medians of `--repeats`; run it on a quiet machine.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402


def _median_seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_shapes(trainer, batch):
    """[(M, K, N)] of the per-time-step forward matmuls: every 2-D weight, batch rows."""
    return [(batch, *v.shape) for v in trainer.model.trainable_variables if len(v.shape) == 2]


def time_matmuls(shapes, steps, repeats):
    """Seconds that `steps` forward-and-backward rounds of `shapes` take as plain matmuls."""
    import tensorflow as tf
    rng = np.random.default_rng(0)
    total = 0.0
    for m, k, n in shapes:
        a = tf.constant(rng.random((m, k), np.float32))
        b = tf.constant(rng.random((k, n), np.float32))

        @tf.function
        def rounds(a, b):
            acc = tf.zeros((m, n))
            for _ in tf.range(steps):
                acc += tf.matmul(a, b)
            return acc
        total += 3 * _median_seconds(lambda: rounds(a, b).numpy(), repeats)
    return total


def pipeline_cost(trainer, data_dir, batch, batches):
    """(wall ms, CPU ms) per training batch of the files in `data_dir`."""
    from musekit.data import dataset
    pattern = os.path.join(data_dir, 'training_*.tfrecord')
    it = iter(dataset.make_dataset(pattern, trainer.encoder, batch, training=True,
                                   batching=trainer.batching))
    next(it)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(it)
    return (1000 * (time.perf_counter() - wall) / batches,
            1000 * (time.process_time() - cpu) / batches)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='lookback_rnn')
    parser.add_argument('--hparams', default='batch_size=64')
    parser.add_argument('--steps_per_row', type=int, default=215)
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--data_dir')
    parser.add_argument('--threads', type=int, default=0,
                        help='TensorFlow threads (0: its default); set by the one-thread rerun')
    args = parser.parse_args()
    import tensorflow as tf
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from musekit.config import get_config
    from musekit.training import Trainer

    config = get_config(args.config, args.hparams)
    trainer = Trainer(config, tempfile.mkdtemp(), log=lambda line: None)
    batch, steps = int(config.hparams['batch_size']), args.steps_per_row
    inputs_spec, labels_spec = trainer.encoder.input_spec, trainer.encoder.label_spec
    rng = np.random.default_rng(0)
    inputs = tf.constant((rng.random((batch, steps, *inputs_spec.shape)) < 0.1)
                         .astype(inputs_spec.dtype))
    labels = tf.constant(rng.integers(0, labels_spec.depth or 2,
                                      (batch, steps, *labels_spec.shape)))
    lengths = tf.constant(np.full(batch, steps, np.int32))
    step = _median_seconds(lambda: float(trainer.train_step(inputs, labels, lengths)['loss']),
                           args.repeats)
    print('%s, batch %d x %d steps, %s thread(s): train step %.1f ms'
          % (args.config, batch, steps, args.threads or 'default', 1000 * step))
    if args.threads:
        return
    shapes = matmul_shapes(trainer, batch)
    flop = 3 * 2 * steps * sum(m * k * n for m, k, n in shapes)
    matmul = time_matmuls(shapes, steps, args.repeats)
    print('matmuls: %s; %.1f GFLOP per step (at most), %.1f ms as plain matmuls '
          '(%.0f GFLOP/s), %.0f%% of the step'
          % (', '.join('%dx%dx%d' % s for s in shapes), flop / 1e9, 1000 * matmul,
             flop / matmul / 1e9, 100 * matmul / step))
    if args.data_dir:
        wall, cpu = pipeline_cost(trainer, args.data_dir, batch, 200)
        print('input pipeline: %.1f ms wall, %.1f ms CPU per batch' % (wall, cpu))
    subprocess.run([sys.executable, __file__, '--config', args.config, '--hparams', args.hparams,
                    '--steps_per_row', str(steps), '--repeats', str(args.repeats),
                    '--threads', '1'], check=True)


if __name__ == '__main__':
    main()
