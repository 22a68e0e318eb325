"""Training and evaluation of a config's Keras model, with checkpoints in a run directory.

A run directory holds ``config.json`` (the config and hparams the run uses),
``train/`` (checkpoints ``ckpt-STEP`` and TensorBoard summaries) and ``eval/`` (summaries).
Restarting with the same run directory restores the latest checkpoint and continues.
"""
import json
import os
import sys
import time

import numpy as np

from musekit.config import Config
from musekit.data import dataset
from musekit import limits
from musekit.errors import MusekitError, check_int
from musekit.version import __version__

CONFIG_FILE = 'config.json'
MAX_CHECKPOINTS = 5
WEIGHTS_KEY = 'weights'     # checkpoints also track the weights under their stable names


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


def fit_to_data(config, pattern):
    """`config` with the encoder params that musekit_create_dataset fitted to the data of
    `pattern` (read from its dataset.json), for an encoder that learns them from the data
    (a chord-token vocabulary); any other config unchanged."""
    if not config.make_encoder().needs_fitting:
        return config
    description = dataset.read_description(pattern) or {}
    encoder = description.get('encoder')
    remake = ('config %s learns its %s encoder from the data, but %r has no dataset.json of '
              'it beside it: make the data with musekit_create_dataset --config=%s'
              % (config.name, config.encoder['name'], pattern, config.name))
    if not isinstance(encoder, dict) or encoder.get('name') != config.encoder['name'] \
            or not isinstance(encoder.get('params'), dict):
        raise MusekitError(remake)
    fitted = config.with_encoder_params(encoder['params'])
    if fitted.make_encoder().needs_fitting:
        raise MusekitError(remake)
    return fitted


def _check_same_model(saved, config, run_dir):
    """Raises MusekitError if `config` builds other weights than the run's saved config."""
    old, new = saved.to_dict(), config.to_dict()
    problems = []
    if old['encoder'] != new['encoder']:
        problems.append('encoder %s vs %s' % (json.dumps(old['encoder']),
                                              json.dumps(new['encoder'])))
    old_family, family = saved.make_model(), config.make_model()
    if old_family.name != family.name:
        problems.append('model %s vs %s' % (old_family.name, family.name))
    problems += ['%s=%s vs %s' % (key, json.dumps(old['hparams'].get(key)),
                                  json.dumps(new['hparams'].get(key)))
                 for key in family.architecture_hparams
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


def learning_rate(hparams):
    """The config's learning rate: `learning_rate`, multiplied by `decay_rate` every
    `decay_steps` steps (smoothly, as Magenta's hparams of those names) when both are set."""
    import keras
    rate = float(hparams['learning_rate'])
    steps, decay = hparams.get('decay_steps'), hparams.get('decay_rate')
    if not steps or decay in (None, 1.0):
        return rate
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1 \
            or not isinstance(decay, (int, float)) or not 0 < decay <= 1:
        raise MusekitError('hparams decay_steps (a positive integer) and decay_rate (in '
                           '(0, 1]) set the learning-rate decay; got %r and %r'
                           % (steps, decay))
    return keras.optimizers.schedules.ExponentialDecay(rate, steps, float(decay))


def _mask(labels, lengths):
    import tensorflow as tf
    return tf.sequence_mask(lengths, tf.shape(labels)[1], dtype=tf.float32)


def check_training_memory(config, encoder, family, hparams):
    """Refuses (MusekitError, MUSEKIT_MEMORY_LIMIT) a config whose training would not fit in
    memory, estimated from the config before any model is built; returns the estimate."""
    batch_size = check_int('hparam batch_size', hparams.get('batch_size'), 1)
    steps = family.batching(hparams).training_length(config.make_extractor().max_steps)
    parameters, needed = family.training_memory(encoder, hparams, batch_size, steps or 1)
    limits.MEMORY.check(needed, 'training config %s (%s parameters, batches of %d x %s steps), '
                        'estimated at %s,' % (config.name, '{:,}'.format(parameters),
                                              batch_size, steps or '?',
                                              limits.MEMORY.describe(needed)))
    return parameters, needed


class Trainer:
    """One config's model, optimizer and checkpoints in `run_dir`; restores on creation.

    What is trained, on what loss, in which batches, is the config's model family's
    choice (its `build`, `objective` and `batching`); this class only runs the loop.
    """

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
        self.encoder = config.make_encoder()
        self.family = config.make_model()
        hparams = dict(config.hparams)
        check_training_memory(config, self.encoder, self.family, hparams)
        keras.utils.set_random_seed(seed)
        self.model = self.family.build(self.encoder, hparams)
        self.objective = self.family.objective(self.encoder, hparams)
        self.batching = self.family.batching(hparams)
        self.optimizer = keras.optimizers.Adam(
            learning_rate=learning_rate(hparams),
            global_clipnorm=float(hparams['clip_norm']) if hparams.get('clip_norm') else None)
        self.optimizer.build(self.model.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
        self.checkpoint = tf.train.Checkpoint(
            step=self.step, model=self.model, optimizer=self.optimizer,
            **{WEIGHTS_KEY: self.family.weight_variables(self.model)})
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(run_dir, 'train'), max_to_keep=MAX_CHECKPOINTS)
        self.restored_from = self._restore()
        self._train_step = self._eval_totals = None
        self._writers = {}
        self.history = []       # one dict per summary: step, the metrics, steps_per_second

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
        inputs, labels = self.encoder.input_spec, self.encoder.label_spec
        return [tf.TensorSpec([None, None, *inputs.shape], inputs.dtype),
                tf.TensorSpec([None, None, *labels.shape], labels.dtype),
                tf.TensorSpec([None], tf.int32)]

    def _build_functions(self):
        import tensorflow as tf
        model, optimizer, step, objective = self.model, self.optimizer, self.step, self.objective
        outputs = self.family.training_outputs

        @tf.function(input_signature=self._signature(), jit_compile=False)
        def train_step(inputs, labels, lengths):
            with tf.GradientTape() as tape:
                totals = objective.totals(outputs(model, inputs, labels, True), labels,
                                          _mask(labels, lengths))
                means = {name: total / tf.maximum(count, 1.0)
                         for name, (total, count) in totals.items()}
            grads = tape.gradient(means['loss'], model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            step.assign_add(1)
            return means

        @tf.function(input_signature=self._signature(), jit_compile=False)
        def eval_totals(inputs, labels, lengths):
            return objective.totals(outputs(model, inputs, labels, False), labels,
                                    _mask(labels, lengths))

        self._train_step, self._eval_totals = train_step, eval_totals

    def train_step(self, inputs, labels, lengths):
        """One optimizer step on one padded batch; returns its mean metrics (tensors).
        The step function is traced on first use."""
        if self._train_step is None:
            self._build_functions()
        return self._train_step(inputs, labels, lengths)

    def _writer(self, split):
        """The summary writer of run_dir/`split` ('train' or 'eval'), one per Trainer."""
        import tensorflow as tf
        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(
                os.path.join(self.run_dir, split))
        return self._writers[split]

    def check_data(self, pattern):
        """Raises MusekitError unless the files of `pattern` fit this config's encoder."""
        dataset.check_compatible(pattern, self.encoder, self.config.name)

    def save_config(self):
        os.makedirs(self.run_dir, exist_ok=True)
        _write_atomically(os.path.join(self.run_dir, CONFIG_FILE),
                          json.dumps(self.config.to_dict(), indent=2) + '\n')

    def save_checkpoint(self):
        """Writes ckpt-STEP (data first, then the index that names it latest)."""
        return self.manager.save(checkpoint_number=self.global_step)

    def _batches(self, pattern, training, seed=0, batching=None):
        return dataset.make_dataset(pattern, self.encoder, int(self.config.hparams['batch_size']),
                                    training=training, seed=seed,
                                    batching=batching or self.batching)

    def train(self, pattern, num_training_steps, summary_frequency=10,
              save_checkpoint_steps=100, eval_pattern=None, batching=None, progress=None):
        """Trains until the global step reaches `num_training_steps` (0: until interrupted).

        Checkpoints every `save_checkpoint_steps` steps, at the end, and on Ctrl-C; when
        `eval_pattern` is given, evaluates at every checkpoint. `batching` overrides the
        model family's batching policy. `progress(step, total, note)` (e.g. a
        musekit.progress.ProgressBar) is called after every step. Returns the last eval
        metrics (a dict) or None.
        """
        self.check_data(pattern)
        if eval_pattern:
            self.check_data(eval_pattern)
        self.save_config()
        start = self.global_step
        if num_training_steps and start >= num_training_steps:
            self.log('step %d: already trained (%d steps asked)' % (start, num_training_steps))
            return self.evaluate(eval_pattern) if eval_pattern else None
        self.log('%s at step %d (%s)' % ('restored ' + os.path.basename(self.restored_from)
                                         if self.restored_from else 'starting',
                                         start, self.config.name))
        # a restarted run sees a new shuffle, not the first batches again
        data = self._batches(pattern, True, seed=self.seed + start, batching=batching)
        writer = self._writer('train')
        eval_metrics = None
        window, window_steps, window_start = {}, 0, time.perf_counter()
        saved_at = start
        try:
            for inputs, labels, lengths in data:
                means = self.train_step(inputs, labels, lengths)
                for name, value in means.items():
                    window[name] = window.get(name, 0.0) + float(value)
                window_steps += 1
                step = self.global_step
                if progress:
                    progress(step, num_training_steps, 'loss %.4f' % float(means['loss']))
                if step % summary_frequency == 0 or step == num_training_steps:
                    rate = window_steps / (time.perf_counter() - window_start)
                    self._summarize(writer, step, {name: total / window_steps
                                                   for name, total in window.items()},
                                    rate, num_training_steps)
                    window, window_steps, window_start = {}, 0, time.perf_counter()
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

    def _summarize(self, writer, step, metrics, rate, total):
        self.history.append({'step': step, **metrics, 'steps_per_second': rate})
        with writer.as_default(step=step):
            for name, value in metrics.items():
                write_scalar(name, value)
            write_scalar('learning_rate', float(self.optimizer.learning_rate.numpy()))
            write_scalar('steps_per_second', rate)
        self.log('step %d%s  %s  %.2f steps/s' % (step, '/%d' % total if total else '',
                                                  _format(metrics), rate))

    def evaluate(self, pattern, batching=None):
        """Every metric of the family's objective over every record once, plus 'steps' (real
        steps counted by the loss) and 'global_step'; they also go to run_dir/eval."""
        self.check_data(pattern)
        if self._eval_totals is None:
            self._build_functions()
        sums, counts = {}, {}
        for inputs, labels, lengths in self._batches(pattern, False, batching=batching):
            for name, (total, count) in self._eval_totals(inputs, labels, lengths).items():
                sums[name] = sums.get(name, 0.0) + float(total)
                counts[name] = counts.get(name, 0.0) + float(count)
        if not counts.get('loss'):
            raise MusekitError('the files matching %r hold no steps to evaluate' % pattern)
        metrics = {name: sums[name] / counts[name] if counts[name] else 0.0 for name in sums}
        metrics.update(self.objective.derived(metrics))
        writer = self._writer('eval')
        with writer.as_default(step=self.global_step):
            for name, value in metrics.items():
                write_scalar(name, value)
        writer.flush()
        metrics.update(steps=int(counts['loss']), global_step=self.global_step)
        self.log('eval at step %d: %s  (%d steps)' % (self.global_step, _format(
            {k: v for k, v in metrics.items() if k not in ('steps', 'global_step')}),
            metrics['steps']))
        return metrics

    def bundle_parts(self, dataset_pattern=None, eval_metrics=None):
        """(config dict, {name: np.ndarray} weights, provenance) for musekit.bundle."""
        import tensorflow as tf
        provenance = {'musekit_version': __version__,
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
            provenance['eval'] = {k: v for k, v in eval_metrics.items() if k != 'global_step'}
        weights = self.family.export_weights(self.model)
        return self.config.to_dict(), {k: np.asarray(v) for k, v in weights.items()}, provenance


def _format(metrics):
    return '  '.join('%s %.4f' % (name, value) for name, value in metrics.items())


def checkpoint_weights(run_dir, config):
    """({stable name: np.ndarray}, checkpoint path, global step) of a run directory's latest
    checkpoint. The weights are found by their stable names in the checkpoint's object graph
    and read as data, with no model, optimizer or Trainer built; checkpoints written before
    the names were tracked (musekit 0.1) are restored into a freshly built model instead."""
    import tensorflow as tf
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    path = tf.train.latest_checkpoint(os.path.join(run_dir, 'train'))
    if path is None:
        raise MusekitError('run directory %s has no checkpoint yet' % run_dir)
    try:
        reader = tf.train.load_checkpoint(path)
        graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
            reader.get_tensor('_CHECKPOINTABLE_OBJECT_GRAPH'))
        root = graph.nodes[0]
        children = {c.local_name: c.node_id for c in root.children}
        weights = {}
        if WEIGHTS_KEY in children:
            for child in graph.nodes[children[WEIGHTS_KEY]].children:
                [attribute] = graph.nodes[child.node_id].attributes
                weights[child.local_name] = np.asarray(
                    reader.get_tensor(attribute.checkpoint_key), np.float32)
        else:
            weights = _restored_weights(config, path)
        step_node = graph.nodes[children['step']] if 'step' in children else None
        step = (int(reader.get_tensor(step_node.attributes[0].checkpoint_key))
                if step_node is not None and step_node.attributes else None)
    except (tf.errors.OpError, ValueError, KeyError, IndexError) as e:
        raise MusekitError('cannot read checkpoint %s: %s' % (
            path, str(e).splitlines()[0] if str(e) else type(e).__name__)) from None
    return weights, path, step


def _restored_weights(config, path):
    """The stable-name weights of an older checkpoint, restored into a built model."""
    import tensorflow as tf
    family, encoder = config.make_model(), config.make_encoder()
    model = family.build(encoder, dict(config.hparams))
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    return family.export_weights(model)
