"""Training and evaluation of a config's Keras model, with checkpoints in a run directory.

A run directory holds ``config.json`` (the config and hparams the run uses),
``train/`` (checkpoints ``ckpt-STEP`` and TensorBoard summaries) and ``eval/`` (summaries).
Restarting with the same run directory restores the latest checkpoint and continues.
One process trains in a run directory at a time (`run_dir_lock`); every file it writes
but the summaries (an append-only log TensorBoard reads as it grows) appears under its
name only when complete.
"""
import contextlib
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import time

import numpy as np

from musekit import atomic, distribute, limits
from musekit.config import Config
from musekit.data import dataset
from musekit.errors import MusekitError, check_int
from musekit.version import __version__

CONFIG_FILE = 'config.json'
LOCK_FILE = '.musekit_train.lock'
STATE_FILE = 'checkpoint'   # TF's list of a folder's checkpoints, the latest last
MAX_CHECKPOINTS = 5
WEIGHTS_KEY = 'weights'     # checkpoints also track the weights under their stable names

_held = {}                  # real path of a locked run directory: [lock fd, depth, created]


@contextlib.contextmanager
def run_dir_lock(run_dir):
    """Holds `run_dir` for this process's training: another process asking for it gets one
    MusekitError line naming the holder's pid, and nothing in the folder is touched. The
    lock is an flock on run_dir/.musekit_train.lock, so it dies with its process (a kill -9
    leaves no stale lock). Re-entrant within a process. A folder the lock created is
    removed again if nothing else was written in it."""
    key = os.path.realpath(run_dir)
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    fd, created = _lock(run_dir)
    _held[key] = [fd, 1, created]
    try:
        yield
    finally:
        del _held[key]
        _unlock(run_dir, fd, created)


def _lock(run_dir):
    """(fd, created): the locked lock file of `run_dir`, with this process's pid in it."""
    path = os.path.join(run_dir, LOCK_FILE)
    created = not os.path.isdir(run_dir)
    for _ in range(100):
        try:
            os.makedirs(run_dir, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            continue        # a holder that created the folder removed it as we came in
        except OSError as e:
            raise MusekitError('cannot lock run directory %s: %s'
                               % (run_dir, e.strerror or e)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).strip()
            os.close(fd)
            raise MusekitError(
                'run directory %s is in use by another training process%s; one training '
                'at a time per run directory: wait for it to end or give another --run_dir'
                % (run_dir, ' (pid %s)' % holder.decode() if holder.isdigit() else ''))
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            current = False
        if current:         # not a lock file its last holder unlinked as we locked it
            break
        os.close(fd)
    else:
        raise MusekitError('cannot lock run directory %s: its lock file keeps going away'
                           % run_dir)
    with contextlib.suppress(OSError):      # the pid only names the holder to others
        os.ftruncate(fd, 0)
        os.pwrite(fd, b'%d\n' % os.getpid(), 0)
    return fd, created


def _unlock(run_dir, fd, created):
    """Removes the lock file (while still holding it) and, if this lock created `run_dir`
    and nothing else is in it, the folder; then releases the lock."""
    with contextlib.suppress(OSError):
        os.remove(os.path.join(run_dir, LOCK_FILE))
        if created:
            os.rmdir(run_dir)
    os.close(fd)


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
    """`config` fitted to the data of `pattern` from its dataset.json: the encoder params
    that musekit_create_dataset learnt (a chord-token vocabulary), and a learning-rate decay
    counted in epochs (decay_epochs) made decay_steps; any other config unchanged."""
    config = _epochs_to_steps(config, pattern)
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


def training_examples(config, pattern):
    """How many training examples the data of `pattern` holds, as its dataset.json counts
    them (the records musekit_create_dataset wrote to its training part); None when it
    does not say."""
    description = dataset.read_description(pattern) or {}
    counters = description.get('counters')
    key = 'training_%s' % config.make_extractor().output_name
    count = counters.get(key) if isinstance(counters, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 \
        else None


def _epochs_to_steps(config, pattern):
    """`config` with hparam decay_epochs turned into decay_steps for the data of `pattern`:
    epochs x ceil(training examples / batch_size), at least 1."""
    epochs = config.hparams.get('decay_epochs')
    if epochs is None:
        return config
    if config.hparams.get('decay_steps') is not None:
        raise MusekitError('config %s sets both decay_steps and decay_epochs; give one'
                           % config.name)
    count = training_examples(config, pattern)
    if count is None:
        raise MusekitError('config %s decays its learning rate every %s epochs, but %r has no '
                           'dataset.json counting its training examples beside it: make the '
                           'data with musekit_create_dataset, or set decay_steps instead'
                           % (config.name, epochs, pattern))
    steps_per_epoch = -(-count // int(config.hparams['batch_size']))
    return config.with_hparams({'decay_steps': max(1, round(epochs * steps_per_epoch)),
                                'decay_epochs': None})


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


_HIDDEN = r'\.%s\.[0-9a-f]+\.tmp'         # a name musekit.atomic writes under
_RUN_DIR_LEFTOVER = re.compile(r'^%s$(?P<ckpt>)' % (_HIDDEN % re.escape(CONFIG_FILE)))
_TRAIN_LEFTOVER = re.compile(  # group ckpt: a checkpoint's files, kept when listed
    r'^(?:%s|%s|checkpoint\.tmp[0-9a-f]+|ckpt-\d+_temp|.*\.tempstate\d+'
    r'|(?P<ckpt>ckpt-\d+)\.(?:index|data-\d+-of-\d+))$'
    % (_HIDDEN % r'ckpt-\d+', _HIDDEN % STATE_FILE))


def _io_reason(error):
    """The cause of a failed TensorFlow or OS write, e.g. 'No space left on device'."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    line = (str(getattr(error, 'message', '') or error).splitlines() or [''])[0]
    return line.rsplit('; ', 1)[-1].split(' [Op:')[0].strip() or type(error).__name__


def listed_checkpoints(train_dir):
    """The checkpoint prefixes that train_dir/checkpoint names, oldest first, the latest
    last (names only are kept, so a moved run directory still finds its own)."""
    from google.protobuf import text_format
    from tensorflow.python.training.checkpoint_state_pb2 import CheckpointState
    path = os.path.join(train_dir, STATE_FILE)
    try:
        with open(path, 'rb') as f:
            text = f.read()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise MusekitError('cannot read %s: %s' % (path, e.strerror or e)) from None
    try:
        state = text_format.Parse(text.decode('utf-8'), CheckpointState())
    except (UnicodeDecodeError, text_format.ParseError) as e:
        raise MusekitError('%s is not a checkpoint list (%s); remove it to train from the '
                           'start' % (path, str(e).splitlines()[0])) from None
    latest = os.path.basename(state.model_checkpoint_path)
    names = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
    names = [name for name in names if name and name != latest] + ([latest] if latest else [])
    return [os.path.join(train_dir, name) for name in names]


def write_checkpoint_list(train_dir, prefixes):
    """Writes train_dir/checkpoint (whole or not at all) naming `prefixes`, the latest last;
    removes it when there are none."""
    from google.protobuf import text_format
    import tensorflow as tf
    path = os.path.join(train_dir, STATE_FILE)
    names = [os.path.basename(p) for p in prefixes]
    if not names:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        return
    state = tf.compat.v1.train.generate_checkpoint_state_proto(
        train_dir, names[-1], all_model_checkpoint_paths=names)
    atomic.write_text(path, text_format.MessageToString(state))


def checkpoint_files(prefix):
    """The files of checkpoint `prefix` present on disk: its .index and .data-* shards."""
    folder, name = os.path.split(prefix)
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return []
    return [os.path.join(folder, entry) for entry in entries
            if entry == name + '.index' or entry.startswith(name + '.data-')]


def _remove_checkpoint(prefix):
    for path in checkpoint_files(prefix):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def learning_rate(hparams):
    """The config's learning rate: `learning_rate`, multiplied by `decay_rate` every
    `decay_steps` steps (smoothly, as Magenta's hparams of those names) when both are set."""
    import keras
    rate = float(hparams['learning_rate'])
    if hparams.get('decay_epochs') is not None:
        raise MusekitError('hparam decay_epochs needs the training data\'s size: fit the '
                           'config to its data first (musekit.training.fit_to_data)')
    steps, decay = hparams.get('decay_steps'), hparams.get('decay_rate')
    if not steps or decay in (None, 1.0):
        return rate
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1 \
            or not isinstance(decay, (int, float)) or not 0 < decay <= 1:
        raise MusekitError('hparams decay_steps (a positive integer) and decay_rate (in '
                           '(0, 1]) set the learning-rate decay; got %r and %r'
                           % (steps, decay))
    return keras.optimizers.schedules.ExponentialDecay(rate, steps, float(decay))


@contextlib.contextmanager
def _dtype_policy(name):
    """Keras's global dtype policy set to `name` (None: left as it is) while building."""
    import keras
    if name is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _mask(labels, lengths):
    import tensorflow as tf
    return tf.sequence_mask(lengths, tf.shape(labels)[1], dtype=tf.float32)


def check_training_memory(config, encoder, family, hparams):
    """Refuses (MusekitError, MUSEKIT_MEMORY_LIMIT) a config whose training would not fit in
    memory, estimated from the config before any model is built; returns the estimate."""
    batch_size = check_int('hparam batch_size', hparams.get('batch_size'), 1)
    steps = family.batching(hparams).training_length(config.make_extractor().longest_sequence())
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
    Under a tf.distribute `strategy` (musekit.distribute.make_strategy) each replica takes
    its share of the batch_size, and only the chief writes to `run_dir`. `mixed_precision`:
    Keras's mixed_float16 policy (float16 maths, float32 weights and loss) with dynamic
    loss scaling, for a family that declares it trains correctly so.
    """

    def __init__(self, config, run_dir, seed=0, log=None, strategy=None,
                 mixed_precision=False):
        import keras
        import tensorflow as tf
        self.config = config
        self.run_dir = run_dir
        self.seed = seed
        self.log = log or (lambda line: print(line, flush=True))
        self.strategy = strategy
        self.is_chief = distribute.is_chief(strategy)
        self.mixed_precision = bool(mixed_precision)
        saved = load_run_config(run_dir)
        if saved is not None:
            _check_same_model(saved, config, run_dir)
        self.encoder = config.make_encoder()
        self.family = config.make_model()
        if mixed_precision and not self.family.mixed_precision:
            raise MusekitError('config %s: model family %s does not declare that it trains '
                               'correctly in mixed precision; train it without '
                               '--mixed_precision' % (config.name, self.family.name))
        hparams = dict(config.hparams)
        check_training_memory(config, self.encoder, self.family, hparams)
        if strategy is not None:
            self._check_batch_split(int(hparams['batch_size']))
        keras.utils.set_random_seed(seed)
        self.clip_norm = float(hparams['clip_norm']) if hparams.get('clip_norm') else None
        with self._scope():
            with _dtype_policy('mixed_float16' if mixed_precision else None):
                self.model = self.family.build(self.encoder, hparams)
            self.objective = self.family.objective(self.encoder, hparams)
            self.batching = self.family.batching(hparams)
            # replicas clip the gradient they share, not their own part (train_step)
            self.optimizer = keras.optimizers.Adam(
                learning_rate=learning_rate(hparams),
                global_clipnorm=self.clip_norm if strategy is None else None)
            adam = self.optimizer
            if mixed_precision:
                self.optimizer = keras.optimizers.LossScaleOptimizer(adam)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step',
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            # Adam alone: a run resumes with or without mixed precision (the loss scale
            # starts over, and finds its level again in a few steps)
            self.checkpoint = tf.train.Checkpoint(
                step=self.step, model=self.model, optimizer=adam,
                **{WEIGHTS_KEY: self.family.weight_variables(self.model)})
            self.checkpoint.save_counter   # made now, so write() saves what restore() expects
        self.train_dir = os.path.join(run_dir, 'train')
        self.checkpoints = listed_checkpoints(self.train_dir)    # oldest first
        self.restored_from = self._restore()
        self._train_step = self._eval_totals = None
        self._writers = {}
        self.history = []       # one dict per summary: step, the metrics, steps_per_second

    def _restore(self):
        """Restores the latest listed checkpoint that reads whole; one that does not (its
        files cut short, changed or gone) is said in a line and dropped from the list."""
        import tensorflow as tf
        unreadable = []
        for path in reversed(self.checkpoints):
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except (tf.errors.OpError, IndexError) as e:
                unreadable.append(path)
                self.log('checkpoint %s is unreadable (%s); trying the one before'
                         % (path, _io_reason(e)))
                continue
            except (ValueError, AssertionError) as e:
                raise MusekitError('checkpoint %s does not fit config %s: %s'
                                   % (path, self.config.name, str(e).splitlines()[0])) from None
            self.checkpoints = [p for p in self.checkpoints if p not in unreadable]
            return path
        if unreadable:
            raise MusekitError('run directory %s has no readable checkpoint (%s); remove its '
                               'train/ folder to train from the start'
                               % (self.run_dir, ', '.join(os.path.basename(p)
                                                          for p in unreadable)))
        return None

    def _scope(self):
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def _check_batch_split(self, batch_size):
        replicas = self.strategy.num_replicas_in_sync
        if batch_size % replicas:
            raise MusekitError('hparam batch_size=%d does not split evenly over the %d '
                               'replicas of the strategy; give a multiple of %d'
                               % (batch_size, replicas, replicas))

    @property
    def latest_checkpoint(self):
        """The prefix of the newest checkpoint of this run, or None."""
        return self.checkpoints[-1] if self.checkpoints else None

    @property
    def global_step(self):
        return int(self.step.numpy())

    def _signature(self):
        import tensorflow as tf
        inputs, labels = self.encoder.input_spec, self.encoder.label_spec
        return [tf.TensorSpec([None, None, *inputs.shape], inputs.dtype),
                tf.TensorSpec([None, None, *labels.shape], labels.dtype),
                tf.TensorSpec([None], tf.int32)]

    def _outputs(self):
        """The family's training_outputs, as float32 under mixed precision (the loss is
        summed in float32 whatever the layers compute in)."""
        import tensorflow as tf
        outputs = self.family.training_outputs
        if not self.mixed_precision:
            return outputs

        def float32_outputs(model, inputs, labels, training):
            return tf.nest.map_structure(
                lambda t: tf.cast(t, tf.float32) if t.dtype.is_floating else t,
                outputs(model, inputs, labels, training))
        return float32_outputs

    def _build_functions(self):
        import tensorflow as tf
        mixed = self.mixed_precision
        model, optimizer, step, objective = self.model, self.optimizer, self.step, self.objective
        outputs = self._outputs()

        @tf.function(input_signature=self._signature(), jit_compile=False)
        def train_step(inputs, labels, lengths):
            with tf.GradientTape() as tape:
                totals = objective.totals(outputs(model, inputs, labels, True), labels,
                                          _mask(labels, lengths))
                means = {name: total / tf.maximum(count, 1.0)
                         for name, (total, count) in totals.items()}
                loss = optimizer.scale_loss(means['loss']) if mixed else means['loss']
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            step.assign_add(1)
            return means

        @tf.function(input_signature=self._signature(), jit_compile=False)
        def eval_totals(inputs, labels, lengths):
            return objective.totals(outputs(model, inputs, labels, False), labels,
                                    _mask(labels, lengths))

        self._train_step, self._eval_totals = train_step, eval_totals
        if self.strategy is not None:
            self._train_step = self._distributed_train_step()

    def _distributed_train_step(self):
        """The train step under the strategy: each replica's loss is its sum over the
        global batch's count (all-reduced), so the replicas' gradients sum to the
        gradient of the whole batch's mean, as one device would compute it."""
        import tensorflow as tf
        model, optimizer, step, objective = self.model, self.optimizer, self.step, self.objective
        outputs, strategy, clip = self._outputs(), self.strategy, self.clip_norm
        replicas, mixed = strategy.num_replicas_in_sync, self.mixed_precision
        SUM = tf.distribute.ReduceOp.SUM

        def replica_step(inputs, labels, lengths):
            context = tf.distribute.get_replica_context()
            variables = model.trainable_variables
            with tf.GradientTape() as tape:
                totals = objective.totals(outputs(model, inputs, labels, True), labels,
                                          _mask(labels, lengths))
                names = list(totals)
                summed = dict(zip(names, context.all_reduce(SUM, [
                    tf.stop_gradient(tf.stack([tf.cast(t, tf.float32) for t in totals[name]]))
                    for name in names])))
                loss = totals['loss'][0] / tf.maximum(summed['loss'][1], 1.0)
                if mixed:
                    loss = optimizer.scale_loss(loss)
            grads = tape.gradient(loss, variables)
            if clip or mixed:   # every replica sees the whole gradient (and if it is finite)
                grads = context.all_reduce(SUM, [tf.convert_to_tensor(g) for g in grads])
                if clip:
                    scale = optimizer.dynamic_scale if mixed else 1.0
                    grads, _ = tf.clip_by_global_norm([g / scale for g in grads], clip)
                    grads = [g * scale for g in grads]
                grads = [g / replicas for g in grads]   # the optimizer sums them again
            optimizer.apply_gradients(zip(grads, variables))
            step.assign_add(1)
            return {name: both[0] / tf.maximum(both[1], 1.0) for name, both in summed.items()}

        @tf.function(reduce_retracing=True)   # batches' lengths vary
        def train_step(element):
            means = strategy.run(replica_step, args=element)
            return {name: strategy.experimental_local_results(value)[0]
                    for name, value in means.items()}
        return train_step

    def train_step(self, inputs, labels, lengths):
        """One optimizer step on one padded batch; returns its mean metrics (tensors).
        The step function is traced on first use. Under a strategy, `inputs`, `labels`
        and `lengths` are the per-replica values of a distributed dataset's element."""
        if self._train_step is None:
            self._build_functions()
        if self.strategy is not None:
            return self._train_step((inputs, labels, lengths))
        return self._train_step(inputs, labels, lengths)

    def _writer(self, split):
        """The summary writer of run_dir/`split` ('train' or 'eval'), one per Trainer."""
        import tensorflow as tf
        if split not in self._writers:
            with self._writing_summaries(split):
                self._writers[split] = tf.summary.create_file_writer(
                    os.path.join(self.run_dir, split))
        return self._writers[split]

    def check_data(self, pattern):
        """Raises MusekitError unless the files of `pattern` fit this config's encoder."""
        dataset.check_compatible(pattern, self.encoder, self.config.name)

    def save_config(self):
        """Writes run_dir/config.json whole or not at all."""
        try:
            os.makedirs(self.run_dir, exist_ok=True)
        except OSError as e:
            raise MusekitError('cannot make run directory %s: %s'
                               % (self.run_dir, e.strerror or e)) from None
        atomic.write_text(os.path.join(self.run_dir, CONFIG_FILE),
                          json.dumps(self.config.to_dict(), indent=2) + '\n')

    def save_checkpoint(self):
        """Writes train/ckpt-STEP whole or not at all and returns its prefix: written into a
        hidden folder beside it, moved in (the .index, which makes the files a checkpoint,
        last), then named latest in train/checkpoint; only then are the oldest beyond
        MAX_CHECKPOINTS removed. A failed write (a full disk) removes what it wrote and is
        one MusekitError line naming the checkpoint; the list still names the last one."""
        import tensorflow as tf
        if not self.is_chief:
            return self._save_elsewhere()
        prefix = os.path.join(self.train_dir, 'ckpt-%d' % self.global_step)
        if prefix in self.checkpoints:      # never listed while its files are replaced
            self.checkpoints = [p for p in self.checkpoints if p != prefix]
            write_checkpoint_list(self.train_dir, self.checkpoints)
        kept = (self.checkpoints + [prefix])[-MAX_CHECKPOINTS:]
        hidden = atomic.temporary_name(prefix)
        moved = []
        try:
            os.makedirs(self.train_dir, exist_ok=True)
            os.mkdir(hidden)
            self.checkpoint.write(os.path.join(hidden, 'ckpt'))
            for name in sorted(os.listdir(hidden), key=lambda name: name.endswith('.index')):
                moved.append(prefix + name[len('ckpt'):])
                os.replace(os.path.join(hidden, name), moved[-1])
            os.rmdir(hidden)
            write_checkpoint_list(self.train_dir, kept)
        except BaseException as e:
            shutil.rmtree(hidden, ignore_errors=True)
            for path in moved:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            if isinstance(e, (OSError, tf.errors.OpError)):
                raise MusekitError('cannot write checkpoint %s: %s'
                                   % (prefix, _io_reason(e))) from None
            raise
        for old in self.checkpoints:
            if old not in kept:
                _remove_checkpoint(old)
        self.checkpoints = kept
        return prefix

    def _save_elsewhere(self):
        """A non-chief worker's share of a checkpoint save: written to a temporary folder
        (every worker takes part in a save, which may hold collective ops) and removed."""
        import tensorflow as tf
        folder = tempfile.mkdtemp(prefix='musekit-worker-ckpt-')
        try:
            self.checkpoint.write(os.path.join(folder, 'ckpt'))
        except (OSError, tf.errors.OpError) as e:
            raise MusekitError('cannot write the worker\'s temporary checkpoint in %s: %s'
                               % (folder, _io_reason(e))) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return None

    def remove_leftovers(self):
        """Removes what a killed run left: hidden files and folders of a write cut short,
        TensorFlow's temporary ones, and checkpoint files that train/checkpoint does not
        name (a save cut short, an old one whose removal was); also rewrites the list when
        restoring dropped an unreadable checkpoint. Call it holding the run_dir_lock."""
        listed = {os.path.basename(p) for p in self.checkpoints}
        for folder, pattern in ((self.run_dir, _RUN_DIR_LEFTOVER),
                                (self.train_dir, _TRAIN_LEFTOVER)):
            try:
                entries = os.listdir(folder)
            except FileNotFoundError:
                continue
            for entry in entries:
                match = pattern.match(entry)
                if not match or match.group('ckpt') in listed:
                    continue
                path = os.path.join(folder, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(path)
        if self.checkpoints != listed_checkpoints(self.train_dir):
            write_checkpoint_list(self.train_dir, self.checkpoints)

    def _batches(self, pattern, training, seed=0, batching=None):
        batch_size = int(self.config.hparams['batch_size'])
        if self.strategy is None or not training:     # evaluation: on one device
            return dataset.make_dataset(pattern, self.encoder, batch_size, training=training,
                                        seed=seed, batching=batching or self.batching)

        def pipeline(context):      # one per worker; its batches go to its replicas in turn
            return dataset.make_dataset(
                pattern, self.encoder, context.get_per_replica_batch_size(batch_size),
                training=True, seed=seed, batching=batching or self.batching,
                shard=(context.num_input_pipelines, context.input_pipeline_id))
        return self.strategy.distribute_datasets_from_function(pipeline)

    def train(self, pattern, num_training_steps, summary_frequency=10,
              save_checkpoint_steps=100, eval_pattern=None, batching=None, progress=None):
        """Trains until the global step reaches `num_training_steps` (0: until interrupted).

        Checkpoints every `save_checkpoint_steps` steps, at the end, and on Ctrl-C; when
        `eval_pattern` is given, evaluates at every checkpoint. `batching` overrides the
        model family's batching policy. `progress(step, total, note)` (e.g. a
        musekit.progress.ProgressBar) is called after every step. Returns the last eval
        metrics (a dict) or None. Holds the run_dir_lock throughout (under a multi-worker
        strategy, the chief does), and first removes what a killed run left.
        """
        with run_dir_lock(self.run_dir) if self.is_chief else contextlib.nullcontext():
            return self._train(pattern, num_training_steps, summary_frequency,
                               save_checkpoint_steps, eval_pattern, batching, progress)

    def _train(self, pattern, num_training_steps, summary_frequency, save_checkpoint_steps,
               eval_pattern, batching, progress):
        self.check_data(pattern)
        if not self.is_chief:
            eval_pattern = None         # the chief evaluates
        if eval_pattern:
            self.check_data(eval_pattern)
        if self.is_chief:
            self.remove_leftovers()
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
        writer = self._writer('train') if self.is_chief else None
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
        except _peer_errors() as e:
            if self.strategy is None:
                raise
            raise MusekitError('training stopped at step %d: the replicas lost contact (%s: '
                               'another worker ended or is unreachable); run the same commands '
                               'again to resume from the last checkpoint'
                               % (self.global_step, type(e).__name__)) from None
        finally:
            if writer is not None and sys.exc_info()[1] is None:
                with self._writing_summaries('train'):
                    writer.flush()
            elif writer is not None:    # the error under way is the one to tell
                with contextlib.suppress(Exception):
                    writer.flush()
        return eval_metrics

    @contextlib.contextmanager
    def _writing_summaries(self, split):
        """Turns a failed summary write (a full disk) into one MusekitError line."""
        import tensorflow as tf
        try:
            yield
        except (OSError, tf.errors.OpError) as e:
            raise MusekitError('cannot write summaries in %s: %s'
                               % (os.path.join(self.run_dir, split), _io_reason(e))) from None

    def _summarize(self, writer, step, metrics, rate, total):
        self.history.append({'step': step, **metrics, 'steps_per_second': rate})
        if writer is not None:      # the chief's
            with self._writing_summaries('train'), writer.as_default(step=step):
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
        with self._writing_summaries('eval'):
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
                      'checkpoint': os.path.basename(self.latest_checkpoint or ''),
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


def _peer_errors():
    """The TensorFlow errors of a collective op whose peers are gone or too slow."""
    import tensorflow as tf
    return (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
            tf.errors.CancelledError, tf.errors.AbortedError)


def _format(metrics):
    return '  '.join('%s %.4f' % (name, value) for name, value in metrics.items())


def checkpoint_weights(run_dir, config):
    """({stable name: np.ndarray}, checkpoint path, global step) of a run directory's latest
    checkpoint. The weights are found by their stable names in the checkpoint's object graph
    and read as data, with no model, optimizer or Trainer built; checkpoints written before
    the names were tracked (musekit 0.1) are restored into a freshly built model instead.
    An unreadable latest checkpoint is refused, never silently replaced by an older one
    (resuming the training drops it from the list)."""
    import tensorflow as tf
    listed = listed_checkpoints(os.path.join(run_dir, 'train'))
    if not listed:
        raise MusekitError('run directory %s has no checkpoint yet' % run_dir)
    path = listed[-1]
    from tensorflow.core.protobuf import trackable_object_graph_pb2
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
        raise MusekitError('cannot read checkpoint %s: %s (musekit_train on this run '
                           'directory resumes from the last readable one)' % (
                               path, str(e).splitlines()[0] if str(e) else type(e).__name__)
                           ) from None
    return weights, path, step


def _restored_weights(config, path):
    """The stable-name weights of an older checkpoint, restored into a built model."""
    import tensorflow as tf
    family, encoder = config.make_model(), config.make_encoder()
    model = family.build(encoder, dict(config.hparams))
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    return family.export_weights(model)
