"""Training and evaluation of a config's Keras model, with checkpoints in a run directory.

A run directory holds ``config.json`` (the config and hparams the run uses),
``train/`` (checkpoints ``ckpt-STEP`` and TensorBoard summaries) and ``eval/`` (summaries).
Restarting with the same run directory restores the latest checkpoint and continues.
"""
import json
import math
import os
import sys
import time

import numpy as np

import musekit
from musekit.config import Config
from musekit.data import dataset
from musekit.errors import MusekitError
from musekit.models.base import get_model

CONFIG_FILE = 'config.json'
MAX_CHECKPOINTS = 5
# Hparams that change the model's weights: a run cannot continue with different values.
ARCHITECTURE_HPARAMS = ('rnn_layer_sizes', 'attn_length')


def masked_loss_and_accuracy(logits, labels, lengths):
    """(mean cross-entropy, accuracy) over the first `lengths[b]` steps of each row only."""
    import tensorflow as tf
    totals = masked_totals(logits, labels, lengths)
    steps = tf.maximum(totals[2], 1.0)
    return totals[0] / steps, totals[1] / steps


def masked_totals(logits, labels, lengths):
    """(summed cross-entropy, correct predictions, real steps) over the unpadded steps."""
    import tensorflow as tf
    mask = tf.sequence_mask(lengths, tf.shape(labels)[1], dtype=tf.float32)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1), labels), tf.float32)
    return tf.reduce_sum(ce * mask), tf.reduce_sum(correct * mask), tf.reduce_sum(mask)


def write_scalar(name, value):
    """A scalar summary as TensorBoard's scalars plugin writes it, without needing TensorBoard."""
    import tensorflow as tf
    metadata = tf.compat.v1.SummaryMetadata(
        plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name='scalars'))
    return tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata)


def load_run_config(run_dir):
    """The Config saved in `run_dir`, or None for a new run directory."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return Config.from_dict(json.load(f))
    except (OSError, ValueError) as e:
        raise MusekitError('run directory %s has an unreadable %s: %s'
                           % (run_dir, CONFIG_FILE, e)) from None
    except MusekitError as e:
        raise MusekitError('run directory %s has a bad %s: %s'
                           % (run_dir, CONFIG_FILE, e)) from None


def _check_same_model(saved, config, run_dir):
    """Raises MusekitError if `config` builds other weights than the run's saved config."""
    old, new = saved.to_dict(), config.to_dict()
    problems = ['%s %s vs %s' % (key, json.dumps(old[key]), json.dumps(new[key]))
                for key in ('encoder', 'model') if old[key] != new[key]]
    problems += ['%s=%s vs %s' % (key, json.dumps(old['hparams'].get(key)),
                                  json.dumps(new['hparams'].get(key)))
                 for key in ARCHITECTURE_HPARAMS
                 if old['hparams'].get(key) != new['hparams'].get(key)]
    if problems:
        raise MusekitError('run directory %s holds a different model (%s); use a new '
                           '--run_dir or the same config and hparams'
                           % (run_dir, '; '.join(problems)))


def _write_atomically(path, text):
    tmp = path + '.tmp-%d' % os.getpid()
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


class Trainer:
    """One config's model, optimizer and checkpoints in `run_dir`; restores on creation."""

    def __init__(self, config, run_dir, seed=0, log=None):
        import keras
        import tensorflow as tf
        self.config = config
        self.run_dir = run_dir
        self.seed = seed
        self.log = log or (lambda line: print(line, flush=True))
        saved = load_run_config(run_dir)
        if saved is not None:
            _check_same_model(saved, config, run_dir)
        encoder = config.make_encoder()
        self.input_size, self.num_classes = encoder.input_size, encoder.num_classes
        self.spec = get_model(config.model['name'])
        hparams = dict(config.hparams)
        keras.utils.set_random_seed(seed)
        self.model = self.spec.build(self.input_size, self.num_classes, hparams)
        self.optimizer = keras.optimizers.Adam(
            learning_rate=float(hparams['learning_rate']),
            global_clipnorm=float(hparams['clip_norm']) if hparams.get('clip_norm') else None)
        self.optimizer.build(self.model.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
        self.checkpoint = tf.train.Checkpoint(step=self.step, model=self.model,
                                              optimizer=self.optimizer)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(run_dir, 'train'), max_to_keep=MAX_CHECKPOINTS)
        self.restored_from = self._restore()
        self._train_step = self._eval_totals = None
        self._writers = {}
        self.history = []       # one dict per summary: step, loss, accuracy, steps_per_second

    def _restore(self):
        path = self.manager.latest_checkpoint
        if path is None:
            return None
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (ValueError, AssertionError) as e:
            raise MusekitError('checkpoint %s does not fit config %s: %s'
                               % (path, self.config.name, str(e).splitlines()[0])) from None
        return path

    @property
    def global_step(self):
        return int(self.step.numpy())

    def _signature(self):
        import tensorflow as tf
        return [tf.TensorSpec([None, None, self.input_size], tf.float32),
                tf.TensorSpec([None, None], tf.int64), tf.TensorSpec([None], tf.int32)]

    def _build_functions(self):
        import tensorflow as tf
        model, optimizer, step = self.model, self.optimizer, self.step

        @tf.function(input_signature=self._signature(), jit_compile=False)
        def train_step(inputs, labels, lengths):
            with tf.GradientTape() as tape:
                logits = model(inputs, training=True)
                loss, accuracy = masked_loss_and_accuracy(logits, labels, lengths)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            step.assign_add(1)
            return loss, accuracy

        @tf.function(input_signature=self._signature(), jit_compile=False)
        def eval_totals(inputs, labels, lengths):
            return masked_totals(model(inputs, training=False), labels, lengths)

        self._train_step, self._eval_totals = train_step, eval_totals

    def _writer(self, split):
        """The summary writer of run_dir/`split` ('train' or 'eval'), one per Trainer."""
        import tensorflow as tf
        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(
                os.path.join(self.run_dir, split))
        return self._writers[split]

    def check_data(self, pattern):
        """Raises MusekitError unless the files of `pattern` fit this config's encoder."""
        dataset.check_compatible(pattern, self.input_size, self.num_classes, self.config.name)

    def save_config(self):
        os.makedirs(self.run_dir, exist_ok=True)
        _write_atomically(os.path.join(self.run_dir, CONFIG_FILE),
                          json.dumps(self.config.to_dict(), indent=2) + '\n')

    def save_checkpoint(self):
        """Writes ckpt-STEP (data first, then the index that names it latest)."""
        return self.manager.save(checkpoint_number=self.global_step)

    def train(self, pattern, num_training_steps, summary_frequency=10,
              save_checkpoint_steps=100, eval_pattern=None, bucket_width=dataset.BUCKET_WIDTH,
              progress=None):
        """Trains until the global step reaches `num_training_steps` (0: until interrupted).

        Checkpoints every `save_checkpoint_steps` steps, at the end, and on Ctrl-C; when
        `eval_pattern` is given, evaluates at every checkpoint. `progress(step, total, note)`
        (e.g. a musekit.progress.ProgressBar) is called after every step. Returns the last
        eval metrics (a dict) or None.
        """
        self.check_data(pattern)
        if eval_pattern:
            self.check_data(eval_pattern)
        self.save_config()
        if self._train_step is None:
            self._build_functions()
        start = self.global_step
        if num_training_steps and start >= num_training_steps:
            self.log('step %d: already trained (%d steps asked)' % (start, num_training_steps))
            return self.evaluate(eval_pattern) if eval_pattern else None
        self.log('%s at step %d (%s)' % ('restored ' + os.path.basename(self.restored_from)
                                         if self.restored_from else 'starting',
                                         start, self.config.name))
        # a restarted run sees a new shuffle, not the first batches again
        data = dataset.make_dataset(pattern, self.input_size,
                                    int(self.config.hparams['batch_size']), training=True,
                                    seed=self.seed + start, bucket_width=bucket_width)
        writer = self._writer('train')
        eval_metrics = None
        window_loss = window_acc = 0.0
        window_steps, window_start = 0, time.perf_counter()
        saved_at = start
        try:
            for inputs, labels, lengths in data:
                loss, accuracy = self._train_step(inputs, labels, lengths)
                window_loss += float(loss)
                window_acc += float(accuracy)
                window_steps += 1
                step = self.global_step
                if progress:
                    progress(step, num_training_steps, 'loss %.4f' % float(loss))
                if step % summary_frequency == 0 or step == num_training_steps:
                    rate = window_steps / (time.perf_counter() - window_start)
                    self._summarize(writer, step, window_loss / window_steps,
                                    window_acc / window_steps, rate, num_training_steps)
                    window_loss = window_acc = 0.0
                    window_steps, window_start = 0, time.perf_counter()
                done = bool(num_training_steps) and step >= num_training_steps
                if done or (save_checkpoint_steps and step % save_checkpoint_steps == 0):
                    self.save_checkpoint()
                    saved_at = step
                    if eval_pattern:
                        eval_metrics = self.evaluate(eval_pattern)
                if done:
                    break
        except KeyboardInterrupt:
            if self.global_step != saved_at:
                self.save_checkpoint()
            self.log('interrupted at step %d; checkpoint saved' % self.global_step)
            raise
        finally:
            writer.flush()
        return eval_metrics

    def _summarize(self, writer, step, loss, accuracy, rate, total):
        self.history.append({'step': step, 'loss': loss, 'accuracy': accuracy,
                             'steps_per_second': rate})
        with writer.as_default(step=step):
            write_scalar('loss', loss)
            write_scalar('accuracy', accuracy)
            write_scalar('learning_rate', float(self.optimizer.learning_rate.numpy()))
            write_scalar('steps_per_second', rate)
        self.log('step %d%s  loss %.4f  accuracy %.4f  %.2f steps/s'
                 % (step, '/%d' % total if total else '', loss, accuracy, rate))

    def evaluate(self, pattern, bucket_width=dataset.BUCKET_WIDTH):
        """{'loss', 'accuracy', 'perplexity', 'steps', 'global_step'} over every record once.

        The figures are per real (unpadded) step; they also go to run_dir/eval summaries.
        """
        self.check_data(pattern)
        if self._eval_totals is None:
            self._build_functions()
        data = dataset.make_dataset(pattern, self.input_size,
                                    int(self.config.hparams['batch_size']), training=False,
                                    bucket_width=bucket_width)
        totals = np.zeros(3)
        for inputs, labels, lengths in data:
            totals += [float(t) for t in self._eval_totals(inputs, labels, lengths)]
        ce, correct, steps = (float(v) for v in totals)
        if not steps:
            raise MusekitError('the files matching %r hold no steps to evaluate' % pattern)
        loss = ce / steps
        metrics = {'loss': loss, 'accuracy': correct / steps,
                   'perplexity': math.exp(min(loss, 700.0)), 'steps': int(steps),
                   'global_step': self.global_step}
        writer = self._writer('eval')
        with writer.as_default(step=self.global_step):
            for key in ('loss', 'accuracy', 'perplexity'):
                write_scalar(key, metrics[key])
        writer.flush()
        self.log('eval at step %d: loss %.4f  accuracy %.4f  perplexity %.3f  (%d steps)'
                 % (self.global_step, loss, metrics['accuracy'], metrics['perplexity'],
                    int(steps)))
        return metrics

    def bundle_parts(self, dataset_pattern=None, eval_metrics=None):
        """(config dict, {name: np.ndarray} weights, provenance) for musekit.bundle."""
        import tensorflow as tf
        provenance = {'musekit_version': musekit.__version__,
                      'dataset': dataset_pattern,
                      'training_steps': self.global_step,
                      'checkpoint': os.path.basename(self.manager.latest_checkpoint or ''),
                      'seed': self.seed,
                      'python': sys.version.split()[0],
                      'tensorflow': tf.__version__}
        description = dataset.read_description(dataset_pattern) if dataset_pattern else None
        if description:
            provenance['dataset_description'] = description
        if eval_metrics:
            provenance['eval'] = {k: eval_metrics[k] for k in ('loss', 'accuracy',
                                                                'perplexity', 'steps')}
        weights = self.spec.export_weights(self.model)
        return self.config.to_dict(), {k: np.asarray(v) for k, v in weights.items()}, provenance
