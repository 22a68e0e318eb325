"""musekit_train: trains a config's model on SequenceExample TFRecords, or evaluates it.

    musekit_train --config=lookback_rnn --run_dir=/tmp/run \\
        --sequence_example_file='/tmp/ds/training_melodies-*.tfrecord' \\
        --hparams='batch_size=64,rnn_layer_sizes=[128,128]' --num_training_steps=1000 \\
        --eval_sequence_example_file='/tmp/ds/eval_melodies-*.tfrecord' \\
        --bundle_file=/tmp/lookback.musekit --save_generator_bundle
    musekit_train --eval --run_dir=/tmp/run --sequence_example_file='/tmp/ds/eval_*'

    TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]},
                "task": {"type": "worker", "index": 0}}' \\
        musekit_train --strategy=multi_worker --config=... (the same on every worker)

Training continues from the run directory's latest checkpoint up to --num_training_steps
in all (0: until Ctrl-C, which saves a checkpoint first). --eval evaluates the latest
checkpoint once on --sequence_example_file. Without --config, the run directory's saved
config is used. One musekit_train at a time holds a run directory (a second one is one line
naming the first's pid); checkpoints, config.json and the bundle appear only when complete.
--strategy spreads each batch over a tf.distribute strategy's replicas (musekit.distribute);
under multi_worker only the chief writes to the run directory and the bundle.
"""
import os
import sys

from absl import flags

from musekit import distribute
from musekit.cli import command
from musekit.errors import MusekitError
from musekit.progress import ProgressBar

PROGRAM = 'musekit_train'


def define_flags(fv):
    flags.DEFINE_string('config', None, 'Config name (e.g. lookback_rnn) or .json path; '
                        "default: the run directory's config.json.", flag_values=fv)
    flags.DEFINE_string('run_dir', None, 'Folder for checkpoints (run_dir/train), summaries '
                        '(run_dir/train, run_dir/eval) and config.json.', flag_values=fv)
    flags.DEFINE_string('sequence_example_file', None, 'Glob of SequenceExample TFRecords: '
                        'training data, or with --eval the data to evaluate.', flag_values=fv)
    flags.DEFINE_string('hparams', '', "Hparam overrides, e.g. 'batch_size=64,"
                        "rnn_layer_sizes=[256,256]'; 'help' lists the config's parameters "
                        '(value, type and bounds, default, help) and exits.', flag_values=fv)
    flags.DEFINE_integer('num_training_steps', 1000, 'Train until the run has taken this many '
                         'steps in all (0: until interrupted).', lower_bound=0, flag_values=fv)
    flags.DEFINE_boolean('eval', False, 'Evaluate the latest checkpoint on '
                         '--sequence_example_file (loss, accuracy, perplexity) and stop.',
                         flag_values=fv)
    flags.DEFINE_string('eval_sequence_example_file', None, 'Glob of eval data to evaluate on '
                        'at every checkpoint while training.', flag_values=fv)
    flags.DEFINE_integer('summary_frequency', 10, 'Print and summarize training metrics every '
                         'this many steps.', lower_bound=1, flag_values=fv)
    flags.DEFINE_integer('save_checkpoint_steps', 100, 'Save a checkpoint every this many '
                         'steps (and always at the end; 0: only at the end).', lower_bound=0,
                         flag_values=fv)
    flags.DEFINE_integer('seed', 0, 'Seed of weight initialization, dropout and shuffling.',
                         flag_values=fv)
    flags.DEFINE_string('bundle_file', None, 'Where --save_generator_bundle writes the '
                        'bundle.', flag_values=fv)
    flags.DEFINE_string('strategy', 'default', 'tf.distribute strategy: default (one '
                        'device), mirrored (every local GPU, or --devices) or multi_worker '
                        '(MultiWorkerMirroredStrategy over the cluster of the TF_CONFIG '
                        'environment variable); batch_size is the global batch, split '
                        'evenly over the replicas.', flag_values=fv)
    flags.DEFINE_list('devices', None, 'With --strategy=mirrored: the devices to mirror '
                      'over, e.g. /gpu:0,/gpu:1 (default: every GPU, else the CPU).',
                      flag_values=fv)
    flags.DEFINE_integer('worker_timeout', distribute.DEFAULT_WORKER_TIMEOUT,
                         'With --strategy=multi_worker: seconds a worker waits for the '
                         'others (to connect, or in a step) before it ends with an error; '
                         'must exceed the longest evaluation the chief runs.',
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_boolean('mixed_precision', False, "Keras's mixed_float16 policy (float16 "
                         'maths, float32 weights) with dynamic loss scaling, for GPUs; only '
                         'for model families that declare it correct.', flag_values=fv)
    flags.DEFINE_boolean('save_generator_bundle', False, 'After training (with '
                         '--num_training_steps=0: when stopped by Ctrl-C), write the latest '
                         'checkpoint as a bundle to --bundle_file.', flag_values=fv)


SYNOPSIS = ('%s --run_dir=DIR --sequence_example_file=GLOB [--config=NAME] [flags]'
            % PROGRAM)


def parse(argv):
    """The parsed flags, checked; --help prints usage and exits 0."""
    fv = command.parse_flags(argv, define_flags, SYNOPSIS)
    if fv.hparams.strip().lower() == 'help':
        if not fv.config and not fv.run_dir:
            raise MusekitError('--hparams=help lists the parameters of --config (or of '
                               "--run_dir's config)")
        fv.hparams = ''
        print('\n'.join(resolve_config(fv).describe()))
        sys.exit(0)
    command.require(fv, ('run_dir', 'sequence_example_file'))
    if fv.save_generator_bundle and not fv.bundle_file:
        raise MusekitError('--save_generator_bundle needs --bundle_file')
    if fv.bundle_file and not fv.save_generator_bundle:
        raise MusekitError('--bundle_file is written only with --save_generator_bundle')
    if fv.eval and (fv.save_generator_bundle or fv.eval_sequence_example_file):
        raise MusekitError('--eval evaluates --sequence_example_file only; it takes neither '
                           '--eval_sequence_example_file nor --save_generator_bundle')
    distribute.check_strategy_name(fv.strategy)
    if fv.devices and fv.strategy != 'mirrored':
        raise MusekitError('--devices is for --strategy=mirrored')
    if fv.strategy != 'default' and fv.eval:
        raise MusekitError('--eval runs on one device; give it no --strategy')
    if fv.strategy == 'multi_worker':
        distribute.read_tf_config()         # a bad TF_CONFIG is told before TF starts
    return fv


def is_chief(fv):
    """Whether this process may write the run directory (all but multi_worker's others)."""
    return fv.strategy != 'multi_worker' or distribute.is_chief_task(
        distribute.read_tf_config())


def resolve_config(fv):
    """The config to use: --config, else the run directory's, with --hparams applied."""
    from musekit.config import get_config
    from musekit.training import load_run_config
    if fv.config:
        return get_config(fv.config, fv.hparams or None)
    config = load_run_config(fv.run_dir)
    if config is None:
        raise MusekitError('missing --config (run directory %s has no config.json yet)'
                           % fv.run_dir)
    return config.with_hparams(fv.hparams) if fv.hparams else config


def main(argv):
    fv = parse(argv)
    command.check_folder(fv.run_dir, '--run_dir')
    if fv.eval and not os.path.isdir(os.path.join(fv.run_dir, 'train')):
        raise MusekitError('run directory %s has no checkpoints to evaluate' % fv.run_dir)
    from musekit.training import run_dir_lock
    log = None
    if fv.strategy == 'multi_worker':
        log = distribute.divert_native_stderr(PROGRAM)
    try:
        if not is_chief(fv):    # the chief holds the run directory; the others only read it
            train(fv, log)
        else:
            with run_dir_lock(fv.run_dir):      # one musekit_train per run directory at a time
                train(fv, log)
    except MusekitError as e:
        if log:
            raise MusekitError("%s (TensorFlow's log: %s)" % (e, log)) from None
        raise
    if log:
        os.remove(log)


def train(fv, native_log=None):
    """Trains (or with --eval evaluates) as the parsed flags `fv` say; `native_log`: where
    TensorFlow's C++ log goes (named in the watchdog's error line)."""
    config = resolve_config(fv)
    family = config.make_model()
    if not family.trainable:
        raise MusekitError('config %s: model family %s generates only (it declares trainable '
                           '= False) and cannot be trained' % (config.name, family.name))
    command.import_tensorflow_quietly()
    from musekit.training import Trainer, fit_to_data
    config = fit_to_data(config, fv.sequence_example_file)   # e.g. a learnt vocabulary
    bar = ProgressBar('training')

    def log(line):
        bar.clear()
        print('%s: %s' % (PROGRAM, line), flush=True)

    watchdog = None
    if fv.strategy == 'multi_worker':   # connecting, and every step, under a deadline
        watchdog = distribute.Watchdog(fv.worker_timeout, 'connecting to the other workers',
                                       PROGRAM, " (TensorFlow's log: %s)" % native_log)

    def progress(step, total, note):
        if watchdog:
            watchdog.kick('training at step %d' % step)
        bar(step, total, note)
    strategy = distribute.make_strategy(fv.strategy, fv.devices, fv.worker_timeout)
    trainer = Trainer(config, fv.run_dir, seed=fv.seed, log=log, strategy=strategy,
                      mixed_precision=fv.mixed_precision)
    if fv.eval:
        if trainer.restored_from is None:
            raise MusekitError('run directory %s has no checkpoints to evaluate' % fv.run_dir)
        trainer.evaluate(fv.sequence_example_file)
        return
    try:
        eval_metrics = trainer.train(
            fv.sequence_example_file, fv.num_training_steps,
            summary_frequency=fv.summary_frequency,
            save_checkpoint_steps=fv.save_checkpoint_steps,
            eval_pattern=fv.eval_sequence_example_file, progress=progress)
    except KeyboardInterrupt:
        # Ctrl-C is how a --num_training_steps=0 run ends: keep what it learnt
        if fv.save_generator_bundle and fv.num_training_steps == 0 and trainer.global_step \
                and trainer.is_chief:
            save_bundle(trainer, fv, None, log)
        raise
    if fv.save_generator_bundle and trainer.is_chief:
        save_bundle(trainer, fv, eval_metrics, log)


def save_bundle(trainer, fv, eval_metrics, log):
    """Writes --bundle_file from the trainer's current weights."""
    from musekit.bundle import write_bundle
    config_dict, weights, provenance = trainer.bundle_parts(fv.sequence_example_file,
                                                            eval_metrics)
    try:        # whole or not at all: a full disk leaves no file under its name
        write_bundle(fv.bundle_file, config_dict, weights, provenance)
    except OSError as e:
        raise MusekitError('cannot write --bundle_file %s: %s'
                           % (fv.bundle_file, e.strerror or e)) from None
    log('wrote bundle %s (step %d)' % (fv.bundle_file, trainer.global_step))


def run(argv=None):
    """Console entry point: user errors print one line on stderr and exit with status 2."""
    command.run_main(main, argv, PROGRAM)


if __name__ == '__main__':
    run()
