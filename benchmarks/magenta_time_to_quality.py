"""Magenta 2.1.4's side of time_to_quality.py: its lookback_rnn trained by its own loop, eval
NLL per step against training seconds.

    TF_USE_LEGACY_KERAS=1 MAGENTA_PYTHON benchmarks/magenta_time_to_quality.py \\
        --data_dir DIR [--steps 1000] [--checkpoint_secs 15] [--run_dir RUN]

Runs only with a Python that has Magenta 2.1.4 (the reference peer of the developers'
guide); musekit itself never imports Magenta. DIR holds melody_rnn_create_dataset's
`training_melodies.tfrecord` and `eval_melodies.tfrecord`. Training is Magenta's
`events_rnn_train.run_training` (what melody_rnn_train runs) at batch 64, [128, 128], with a
checkpoint every --checkpoint_secs seconds, all kept. Each checkpoint is then loaded into
Magenta's own generate graph (no dropout, temperature 1) and scored on every eval step:
NLL per step = sum of -log p(label) / number of steps, as time_to_quality.py scores
musekit. A checkpoint's seconds are its file's time since training started, graph building
included, as musekit's clock includes its first step's tracing.
"""
import argparse
import glob
import os
import re
import time

import numpy as np
import tensorflow.compat.v1 as tf


def magenta_config(hparams):
    from magenta.models.melody_rnn import melody_rnn_model
    config = melody_rnn_model.default_configs['lookback_rnn']
    config.hparams.parse(hparams)
    return config


def train(config, data_dir, train_dir, steps, checkpoint_secs):
    """Magenta's training loop; returns the wall time it started at."""
    from magenta.models.shared import events_rnn_graph, events_rnn_train
    build = events_rnn_graph.get_build_graph_fn(
        'train', config, [os.path.join(data_dir, 'training_melodies.tfrecord')])
    start = time.time()
    events_rnn_train.run_training(build, train_dir, steps, 10,
                                  save_checkpoint_secs=checkpoint_secs, checkpoints_to_keep=0)
    return start


def eval_sequences(path):
    """[(inputs [T, depth], labels [T])] of a SequenceExample TFRecord file."""
    out = []
    for record in tf.io.tf_record_iterator(path):
        lists = tf.train.SequenceExample.FromString(record).feature_lists.feature_list
        out.append((np.array([f.float_list.value for f in lists['inputs'].feature], np.float32),
                    np.array([f.int64_list.value[0] for f in lists['labels'].feature])))
    return out


def scores(config, train_dir, sequences, batch=64):
    """[(step, eval NLL per step, checkpoint file time)] of every checkpoint in train_dir."""
    from magenta.models.shared import events_rnn_graph
    graph = tf.Graph()
    with graph.as_default():
        events_rnn_graph.get_build_graph_fn('generate', config)()
        inputs = tf.get_collection('inputs')[0]
        softmax = tf.get_collection('softmax')[0]
        temperature = tf.get_collection('temperature')[0]
        states = tf.get_collection('initial_state')
        saver = tf.train.Saver()
    index = sorted(glob.glob(os.path.join(train_dir, 'model.ckpt-*.index')),
                   key=lambda p: int(re.search(r'ckpt-(\d+)', p).group(1)))
    order = sorted(sequences, key=lambda s: len(s[1]))
    out = []
    with tf.Session(graph=graph) as session:
        for path in index:
            saver.restore(session, path[:-len('.index')])
            total, count = 0.0, 0
            for first in range(0, len(order), batch):
                part = order[first:first + batch]
                x = np.zeros((len(part), max(len(y) for _, y in part), part[0][0].shape[1]),
                             np.float32)
                for k, (rows, _) in enumerate(part):
                    x[k, :len(rows)] = rows
                feed = {inputs: x, temperature: 1.0}
                for state in states:
                    feed[state] = np.zeros([len(part)] + state.shape.as_list()[1:], np.float32)
                p = session.run(softmax, feed).reshape(len(part), x.shape[1], -1)
                for k, (_, labels) in enumerate(part):
                    total -= np.log(p[k, np.arange(len(labels)), labels]).sum()
                    count += len(labels)
            step = int(re.search(r'ckpt-(\d+)', path).group(1))
            out.append((step, total / count, os.path.getmtime(path)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data_dir', required=True)
    parser.add_argument('--steps', type=int, default=1000)
    parser.add_argument('--checkpoint_secs', type=int, default=15)
    parser.add_argument('--hparams', default='batch_size=64,rnn_layer_sizes=[128,128]')
    parser.add_argument('--run_dir', default=None, help='default: a new temporary folder')
    args = parser.parse_args()
    tf.disable_v2_behavior()
    config = magenta_config(args.hparams)
    import tempfile
    train_dir = os.path.join(args.run_dir or tempfile.mkdtemp(prefix='magenta_ttq_'), 'train')
    start = train(config, args.data_dir, train_dir, args.steps, args.checkpoint_secs)
    total = time.time() - start
    sequences = eval_sequences(os.path.join(args.data_dir, 'eval_melodies.tfrecord'))
    print('Magenta 2.1.4 lookback_rnn %s, %d steps in %.1f s (%.2f steps/s); eval: %d '
          'sequences, %d steps' % (args.hparams, args.steps, total, args.steps / total,
                                   len(sequences), sum(len(y) for _, y in sequences)))
    print('  step   seconds   eval NLL')
    for step, nll, mtime in scores(config, train_dir, sequences):
        print('  %5d  %7.1f   %.4f' % (step, mtime - start, nll))


if __name__ == '__main__':
    main()
