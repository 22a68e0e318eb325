"""Training: tf.data input, masked loss, checkpoints and resume, summaries, bundles, CLI."""
import glob
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest

from musekit.config import get_config
from musekit.data import dataset, example, tfrecord
from musekit.data.batching import Bucketed, RandomCrops
from musekit.encoders.base import StepSpec
from musekit.errors import MusekitError

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

WIDTH = 38          # basic_rnn: one-hot inputs and classes over 36 pitches + 2 events
TINY = 'batch_size=4,rnn_layer_sizes=[8],dropout_rate=0.0,learning_rate=0.05'


def write_dataset(folder, name='training', count=24, seed=0, width=WIDTH, shards=2):
    """SequenceExample shards of a learnable toy task: the label is the next of 5 events."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    records = []
    for _ in range(count):
        events = rng.integers(0, 5, size=int(rng.integers(5, 30)))
        inputs = np.eye(width, dtype=np.float32)[events]
        records.append(example.make_sequence_example(inputs, (events + 1) % 5))
    for shard in range(shards):
        path = os.path.join(folder, '%s-%05d-of-%05d.tfrecord' % (name, shard, shards))
        with open(path, 'wb') as f:
            tfrecord.write_records(f, records[shard::shards])
    return os.path.join(folder, name + '-*.tfrecord')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('data'))
    return write_dataset(folder), write_dataset(folder, 'eval', count=8, seed=1)


def tiny_config(extra=''):
    return get_config('basic_rnn', TINY + (',' + extra if extra else ''))


def make_trainer(run_dir, config=None, lines=None):
    from musekit.training import Trainer
    return Trainer(config or tiny_config(), str(run_dir), seed=0,
                   log=(lines.append if lines is not None else lambda line: None))


def basic_encoder():
    return get_config('basic_rnn').make_encoder()


def test_categorical_objective_ignores_padding():
    import tensorflow as tf
    from musekit.models.objectives import CategoricalCrossEntropy
    logits = tf.constant([[[2.0, 0.0], [0.0, 0.0], [10.0, -10.0]]])
    labels = tf.constant([[0, 1, 1]], tf.int64)
    mask = tf.constant([[1.0, 1.0, 0.0]])
    totals = CategoricalCrossEntropy().totals(logits, labels, mask)
    loss, steps = (float(t) for t in totals['loss'])
    assert steps == 2 and float(totals['accuracy'][1]) == 2
    assert loss == pytest.approx(math.log(1 + math.exp(-2)) + math.log(2), 1e-6)
    assert float(totals['accuracy'][0]) == 1.0
    assert CategoricalCrossEntropy().derived({'loss': 0.5}) == {'perplexity': math.exp(0.5)}


def test_eval_batches_pad_to_their_longest_sequence_only(data):
    train, _ = data
    seen = 0
    for inputs, labels, lengths in dataset.make_dataset(train, basic_encoder(), 4,
                                                        training=False, batching=Bucketed(8)):
        lengths = lengths.numpy()
        assert inputs.shape[1] == labels.shape[1] == lengths.max()
        assert lengths.max() - lengths.min() < 8
        for row, n in enumerate(lengths):
            assert not inputs[row, n:].numpy().any() and not labels[row, n:].numpy().any()
            assert inputs[row, :n].numpy().sum() == n
        seen += len(lengths)
    assert seen == 24


def test_training_input_is_shuffled_and_repeats(data):
    train, _ = data
    encoder = basic_encoder()
    batches = list(dataset.make_dataset(train, encoder, 4, training=True, seed=3).take(12))
    assert sum(len(b[2]) for b in batches) == 48
    again = list(dataset.make_dataset(train, encoder, 4, training=True, seed=3).take(12))
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(batches, again))


def test_random_crops_are_windows_of_their_sequences(data):
    train, _ = data
    encoder = basic_encoder()
    whole = {}
    for inputs, labels, lengths in dataset.make_dataset(train, encoder, 4, training=False,
                                                        batching=Bucketed(0)):
        for row, n in enumerate(lengths.numpy()):
            whole[labels[row, :n].numpy().tobytes()] = labels[row, :n].numpy()
    starts = set()
    batches = dataset.make_dataset(train, encoder, 4, training=True, seed=5,
                                   batching=RandomCrops(6)).take(10)
    for inputs, labels, lengths in batches:
        assert inputs.shape[1] == labels.shape[1] == 6       # every toy sequence has >= 5
        for row, n in enumerate(lengths.numpy()):
            crop = labels[row, :n].numpy()
            assert n == 6 or any(len(s) == n for s in whole.values())
            matches = [s for s in whole.values() for i in range(len(s) - n + 1)
                       if np.array_equal(s[i:i + n], crop)]
            assert matches, crop                  # the crop is a window of one sequence
            # inputs and labels are cut at the same place: label = (input event + 1) % 5
            events = np.argmax(inputs[row, :n].numpy(), axis=-1)
            assert np.array_equal((events + 1) % 5, crop)
            starts.add(crop.tobytes())
    assert len(starts) > 20                       # crops start at many places
    with pytest.raises(MusekitError, match='positive integer'):
        RandomCrops(0)


def test_data_problems_are_clear(data, tmp_path):
    train, _ = data
    with pytest.raises(MusekitError, match='no files match'):
        dataset.list_files(str(tmp_path / 'nothing-*'))
    lookback = get_config('lookback_rnn').make_encoder()
    with pytest.raises(MusekitError, match='inputs 38 wide but config lookback_rnn encodes 121'):
        dataset.check_compatible(train, lookback, 'lookback_rnn')
    three = types.SimpleNamespace(input_spec=StepSpec('float32', (WIDTH,)),
                                  label_spec=StepSpec('int64', (), depth=3))
    with pytest.raises(MusekitError, match='label 4 but config x has 3 classes'):
        dataset.check_compatible(train, three, 'x')
    keys = types.SimpleNamespace(input_spec=StepSpec('float32', (WIDTH,)),
                                 label_spec=StepSpec('int64', (88,), depth=2))
    with pytest.raises(MusekitError, match='has 1 labels per step; config k needs int64 '
                                           r'\[88\] in \[0, 2\)'):
        dataset.check_compatible(train, keys, 'k')
    samples = types.SimpleNamespace(input_spec=StepSpec('int64', (WIDTH,), depth=2),
                                    label_spec=StepSpec('int64', (), depth=5))
    with pytest.raises(MusekitError, match='has float32 inputs but config s encodes int64'):
        dataset.check_compatible(train, samples, 's')
    (tmp_path / 'empty.tfrecord').write_bytes(b'')
    with pytest.raises(MusekitError, match='hold no records'):
        dataset.peek(str(tmp_path / 'empty.tfrecord'))


def test_loss_drops(data, tmp_path):
    train, evaluation = data
    trainer = make_trainer(tmp_path)
    before = trainer.evaluate(evaluation)['loss']
    calls = []
    after = trainer.train(train, 40, save_checkpoint_steps=0, eval_pattern=evaluation,
                          progress=lambda *args: calls.append(args))
    assert after['global_step'] == 40
    assert [c[:2] for c in calls] == [(step, 40) for step in range(1, 41)]
    assert calls[-1][2].startswith('loss ')
    assert after['loss'] < 0.6 * before
    assert after['perplexity'] == pytest.approx(math.exp(after['loss']))


def test_one_train_step_is_one_optimizer_step_on_that_batch(data, tmp_path):
    train, _ = data
    trainer = make_trainer(tmp_path)
    inputs, labels, lengths = next(iter(dataset.make_dataset(
        train, trainer.encoder, 4, training=False)))
    weights = [v.numpy() for v in trainer.model.trainable_variables]
    losses = [float(trainer.train_step(inputs, labels, lengths)['loss']) for _ in range(5)]
    assert trainer.global_step == 5
    assert losses[-1] < losses[0]
    assert all((w != v.numpy()).any()
               for w, v in zip(weights, trainer.model.trainable_variables))
    # its loss is the batch's mean NLL over the real steps, before the update (no dropout)
    fresh = make_trainer(tmp_path / 'fresh')
    logits = fresh.model(inputs, training=False).numpy().astype(np.float64)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_p, labels.numpy()[..., None], -1)[..., 0]
    real = np.arange(nll.shape[1])[None, :] < lengths.numpy()[:, None]
    assert not real.all()
    assert float(fresh.train_step(inputs, labels, lengths)['loss']) == pytest.approx(
        nll[real].mean(), rel=1e-5)


@pytest.fixture(scope='module')
def resumed_run(data, tmp_path_factory):
    """A run trained to step 6 (checkpoints every 3), then restarted and trained to 10."""
    train, evaluation = data
    run_dir = tmp_path_factory.mktemp('run')
    first = make_trainer(run_dir)
    first.train(train, 6, summary_frequency=2, save_checkpoint_steps=3)
    lines = []
    second = make_trainer(run_dir, lines=lines)
    state = {'restored_from': second.restored_from, 'step': second.global_step,
             'iterations': int(second.optimizer.iterations.numpy())}
    metrics = second.train(train, 10, summary_frequency=2, save_checkpoint_steps=3,
                           eval_pattern=evaluation)
    return run_dir, second, state, lines, metrics


def test_restart_continues_from_latest_checkpoint(resumed_run):
    import tensorflow as tf
    run_dir, trainer, state, lines, _ = resumed_run
    assert os.path.basename(state['restored_from']) == 'ckpt-6'
    assert state['step'] == 6 and state['iterations'] == 6
    assert lines[0] == 'restored ckpt-6 at step 6 (basic_rnn)'
    assert trainer.global_step == 10
    latest = tf.train.latest_checkpoint(str(run_dir / 'train'))
    assert os.path.basename(latest) == 'ckpt-10'
    reader = tf.train.load_checkpoint(latest)
    assert reader.get_tensor('step/.ATTRIBUTES/VARIABLE_VALUE') == 10
    assert {os.path.basename(p) for p in glob.glob(str(run_dir / 'train' / 'ckpt-*.index'))} \
        == {'ckpt-3.index', 'ckpt-6.index', 'ckpt-9.index', 'ckpt-10.index'}


def test_unfinished_checkpoint_files_never_become_latest(resumed_run):
    run_dir, _, _, _, _ = resumed_run
    # what a save killed before it names its checkpoint in the index leaves behind
    (run_dir / 'train' / 'ckpt-11.index').write_bytes(b'partial')
    (run_dir / 'train' / 'ckpt-11.data-00000-of-00001').write_bytes(b'partial')
    trainer = make_trainer(run_dir)
    assert os.path.basename(trainer.restored_from) == 'ckpt-10'
    assert trainer.global_step == 10


def test_summaries_are_written(resumed_run):
    import tensorflow as tf
    run_dir = resumed_run[0]

    def tags(split):
        found = set()
        for path in glob.glob(str(run_dir / split / 'events.out.tfevents.*')):
            for event in tf.compat.v1.train.summary_iterator(path):
                found.update(v.tag for v in event.summary.value
                             if v.metadata.plugin_data.plugin_name == 'scalars')
        return found
    assert tags('train') == {'loss', 'accuracy', 'learning_rate', 'steps_per_second'}
    assert tags('eval') == {'loss', 'accuracy', 'perplexity'}


def test_bundle_parts_round_trip(data, resumed_run, tmp_path):
    from musekit.bundle import load_bundle, write_bundle
    train, _ = data
    _, trainer, _, _, metrics = resumed_run
    config_dict, weights, provenance = trainer.bundle_parts(train, metrics)
    assert config_dict['hparams']['rnn_layer_sizes'] == [8]
    assert config_dict['hparams']['learning_rate'] == 0.05
    assert provenance['training_steps'] == 10 and provenance['dataset'] == train
    assert provenance['eval']['loss'] == metrics['loss']
    assert 'dataset_description' not in provenance      # the toy data has no dataset.json
    description = {'config': 'basic_rnn', 'counters': {'training_melodies': 24}}
    (tmp_path / 'dataset.json').write_text(json.dumps(description))
    described = trainer.bundle_parts(str(tmp_path / 'training-*.tfrecord'))[2]
    assert described['dataset_description'] == description
    write_bundle(str(tmp_path / 'b.musekit'), config_dict, weights, provenance)
    bundle = load_bundle(str(tmp_path / 'b.musekit'))
    inputs = np.eye(WIDTH, dtype=np.float32)[np.random.default_rng(0).integers(0, 5, (2, 12))]
    expected = trainer.model(inputs, training=False).numpy()
    step_model = bundle.step_model()
    state = step_model.initial_state(2)
    for t in range(12):
        logits, state = step_model.step(inputs[:, t], state)
        np.testing.assert_allclose(logits, expected[:, t], atol=1e-4)


def test_a_run_saved_under_the_old_model_name_resumes(resumed_run, tmp_path):
    run_dir = resumed_run[0]
    path = run_dir / 'config.json'
    saved = json.loads(path.read_text())
    assert saved['model']['name'] == 'events_rnn'
    saved['model']['name'] = 'rnn'                    # as musekit 0.1 wrote it
    path.write_text(json.dumps(saved))
    assert make_trainer(run_dir).global_step == 10


def test_other_architecture_in_same_run_dir_is_refused(resumed_run):
    with pytest.raises(MusekitError, match=r'different model \(rnn_layer_sizes=\[8\] vs \[9\]'):
        make_trainer(resumed_run[0], tiny_config('rnn_layer_sizes=[9]'))


# -- the command line --------------------------------------------------------------------

def run_cli(argv, capsys):
    from musekit.cli import train as cli
    with pytest.raises(SystemExit) as exit_info:
        cli.run(['musekit_train'] + argv)
    return exit_info.value.code, capsys.readouterr()


@pytest.mark.parametrize('argv, message', [
    (['--config=nope'], "unknown config 'nope'"),
    (['--config=basic_rnn', '--hparams=batch_size='], 'malformed value'),
    (['--config=basic_rnn', '--hparams=batch_sise=3'], "unknown hparam 'batch_sise'"),
    (['--config=basic_rnn', '--sequence_example_file={tmp}/none-*'], 'no files match'),
    (['--config=lookback_rnn'], 'inputs 38 wide but config lookback_rnn encodes 121'),
    (['--config=basic_rnn', '--save_generator_bundle'], 'needs --bundle_file'),
    (['--config=basic_rnn', '--bundle_file={tmp}/b.musekit'],
     '--bundle_file is written only with --save_generator_bundle'),
    (['--eval', '--eval_sequence_example_file={tmp}/x'], '--eval evaluates'),
    (['--eval', '--save_generator_bundle', '--bundle_file={tmp}/b'], '--eval evaluates'),
    ([], 'missing --config (run directory'),
    (['--config=basic_rnn', '--bogus=1'], 'bogus'),
    (['--config=basic_rnn', '--num_training_steps=-1'], 'num_training_steps'),
    (['--eval'], 'has no checkpoints to evaluate'),
    (['--run_dir='], 'missing required flag: --run_dir'),
    (['--run_dir={tmp}/a_file', '--config=basic_rnn'], 'exists and is not a folder'),
    (['--run_dir={tmp}/bad_config'], 'has an unreadable config.json'),
    (['--run_dir={tmp}/list_config'], 'has a bad config.json: a config is a JSON object'),
    (['--config=basic_rnn', '--hparams=rnn_layer_sizes=[100000,100000]'],
     "estimated at 2.9 TiB (3,"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, data, tmp_path, capsys):
    train, _ = data
    (tmp_path / 'a_file').write_text('')
    for name, text in (('bad_config', '{bad'), ('list_config', '[1, 2]')):
        (tmp_path / name).mkdir()
        (tmp_path / name / 'config.json').write_text(text)
    base = ['--run_dir=%s' % (tmp_path / 'run'), '--sequence_example_file=%s' % train]
    code, out = run_cli(base + [a.format(tmp=tmp_path) for a in argv], capsys)
    assert code == 2
    assert out.err.count('\n') == 1 and out.err.startswith('musekit_train: error: ')
    assert message in out.err
    assert not (tmp_path / 'run' / 'train').exists()


def test_cli_trains_evaluates_and_writes_bundle(data, tmp_path, capsys):
    from musekit.bundle import load_bundle
    train, evaluation = data
    run_dir, bundle_file = str(tmp_path / 'run'), str(tmp_path / 'out' / 'toy.musekit')
    from musekit.cli import train as cli
    cli.run(['musekit_train', '--config=basic_rnn', '--hparams=' + TINY,
             '--run_dir=' + run_dir, '--sequence_example_file=' + train,
             '--num_training_steps=4', '--summary_frequency=2',
             '--eval_sequence_example_file=' + evaluation,
             '--bundle_file=' + bundle_file, '--save_generator_bundle'])
    out = capsys.readouterr().out
    assert 'musekit_train: step 4/4  loss ' in out and 'wrote bundle' in out
    bundle = load_bundle(bundle_file)
    assert bundle.provenance['training_steps'] == 4 and 'loss' in bundle.provenance['eval']
    # --eval needs no --config: the run directory has its config.json
    cli.run(['musekit_train', '--eval', '--run_dir=' + run_dir,
             '--sequence_example_file=' + evaluation])
    assert 'musekit_train: eval at step 4: loss ' in capsys.readouterr().out


def ctrl_c_after(last_step):
    """A stand-in for the progress bar class that presses Ctrl-C after `last_step`."""
    class CtrlC:
        def __init__(self, label):
            pass

        def __call__(self, step, total, note=''):
            if step >= last_step:
                raise KeyboardInterrupt

        def clear(self):
            pass
    return CtrlC


def test_ctrl_c_ends_an_endless_run_and_still_writes_its_bundle(data, tmp_path, capsys,
                                                                 monkeypatch):
    from musekit.bundle import load_bundle
    from musekit.cli import train as cli

    monkeypatch.setattr(cli, 'ProgressBar', ctrl_c_after(3))
    train, _ = data
    bundle_file = str(tmp_path / 'endless.musekit')
    code, out = run_cli(['--config=basic_rnn', '--hparams=' + TINY,
                         '--run_dir=%s' % (tmp_path / 'run'), '--sequence_example_file=' + train,
                         '--num_training_steps=0', '--bundle_file=' + bundle_file,
                         '--save_generator_bundle'], capsys)
    assert code == 130
    assert 'interrupted at step 3; checkpoint saved' in out.out and 'wrote bundle' in out.out
    assert load_bundle(bundle_file).provenance['training_steps'] == 3


@pytest.mark.slow
def test_kill_9_during_training_leaves_a_restorable_checkpoint(data, tmp_path):
    train, _ = data
    run_dir = str(tmp_path / 'run')
    script = textwrap.dedent('''
        import sys
        from musekit.config import get_config
        from musekit.training import Trainer
        config = get_config('basic_rnn', %r)
        Trainer(config, %r, log=lambda line: print(line, flush=True)).train(
            %r, 0, summary_frequency=1, save_checkpoint_steps=1)
    ''' % (TINY, run_dir, train))
    rng = np.random.default_rng(0)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                                text=True)
        steps = 0
        for line in proc.stdout:
            steps += line.startswith('step ')
            if steps == 2:          # step 1's checkpoint is on disk: kill somewhere after it
                break
        time.sleep(rng.uniform(0.05, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        trainer = make_trainer(run_dir)
        assert trainer.restored_from is not None
        assert trainer.restored_from.endswith('ckpt-%d' % trainer.global_step)


def test_checkpoint_weights_are_read_without_a_trainer_old_checkpoints_too(data, tmp_path):
    import tensorflow as tf
    from musekit.training import checkpoint_weights
    train, _ = data
    trainer = make_trainer(tmp_path / 'new')
    trainer.train(train, 2, save_checkpoint_steps=2)
    expected = trainer.family.export_weights(trainer.model)
    weights, path, step = checkpoint_weights(str(tmp_path / 'new'), trainer.config)
    assert step == 2 and path.endswith('ckpt-2') and sorted(weights) == sorted(expected)
    for name in expected:
        np.testing.assert_array_equal(weights[name], expected[name])
    # a checkpoint as musekit 0.1 wrote it: step, model and optimizer, no stable names
    old_dir = tmp_path / 'old'
    old = tf.train.Checkpoint(step=trainer.step, model=trainer.model,
                              optimizer=trainer.optimizer)
    tf.train.CheckpointManager(old, str(old_dir / 'train'), max_to_keep=1).save(
        checkpoint_number=2)
    weights, _, step = checkpoint_weights(str(old_dir), trainer.config)
    assert step == 2
    for name in expected:
        np.testing.assert_array_equal(weights[name], expected[name])
    with pytest.raises(MusekitError, match='has no checkpoint yet'):
        checkpoint_weights(str(tmp_path), trainer.config)


def test_cli_already_trained_pruning_and_ctrl_c_with_a_step_target(data, tmp_path, capsys,
                                                                   monkeypatch):
    from musekit.cli import train as cli
    train, _ = data
    run_dir = str(tmp_path / 'run')
    base = ['--config=basic_rnn', '--hparams=' + TINY, '--run_dir=' + run_dir,
            '--sequence_example_file=' + train, '--save_checkpoint_steps=1', '--seed=3']
    cli.run(['musekit_train', '--num_training_steps=7'] + base)
    kept = sorted(int(p.rsplit('-', 1)[1].split('.')[0])
                  for p in glob.glob(os.path.join(run_dir, 'train', 'ckpt-*.index')))
    assert kept == [3, 4, 5, 6, 7]                   # the last MAX_CHECKPOINTS only
    capsys.readouterr()
    cli.run(['musekit_train', '--num_training_steps=7'] + base)
    assert 'step 7: already trained (7 steps asked)' in capsys.readouterr().out

    monkeypatch.setattr(cli, 'ProgressBar', ctrl_c_after(9))
    bundle = str(tmp_path / 'b.musekit')
    code, out = run_cli(['--num_training_steps=20', '--bundle_file=' + bundle,
                         '--save_generator_bundle'] + base, capsys)
    assert code == 130 and 'interrupted at step 9; checkpoint saved' in out.out
    assert not os.path.exists(bundle)               # a run with a step target is unfinished
    assert make_trainer(run_dir).global_step == 9


def test_a_checkpoint_that_does_not_fit_the_config_is_one_line(data, tmp_path):
    train, _ = data
    run_dir = tmp_path / 'run'
    make_trainer(run_dir).train(train, 1, save_checkpoint_steps=1)
    os.remove(run_dir / 'config.json')              # nothing left to compare configs with
    with pytest.raises(MusekitError, match='does not fit config basic_rnn'):
        make_trainer(run_dir, tiny_config('rnn_layer_sizes=[9]'))


def test_the_seed_fixes_the_initial_weights(tmp_path):
    from musekit.training import Trainer
    zero = make_trainer(tmp_path / 'a')                  # seed 0
    a = zero.family.export_weights(zero.model)
    b = Trainer(tiny_config(), str(tmp_path / 'b'), seed=1, log=lambda line: None)
    c = Trainer(tiny_config(), str(tmp_path / 'c'), seed=1, log=lambda line: None)
    wb, wc = (t.family.export_weights(t.model) for t in (b, c))
    assert all(np.array_equal(wb[k], wc[k]) for k in wb)
    assert not all(np.array_equal(a[k], wb[k]) for k in wb)


def described_data(folder, counters):
    """The training-file pattern of a folder whose dataset.json holds `counters`."""
    folder.mkdir(exist_ok=True)
    (folder / 'dataset.json').write_text(json.dumps({'counters': counters}))
    return str(folder / 'training_piano_rolls-*.tfrecord')


def test_decay_epochs_become_decay_steps_for_the_data_at_hand(tmp_path):
    from musekit.training import fit_to_data
    jsb = described_data(tmp_path / 'jsb', {'training_piano_rolls': 229,
                                            'training_sequences': 229})
    # the JSB configs decay once an epoch: the steps they used to name for JSB's 229
    for name, batch, steps in (('ssnu_jsb', 1, 229), ('lstm_jsb', 1, 229),
                               ('rnn_nade_jsb', 4, 58)):
        config = get_config(name)
        assert config.hparams['batch_size'] == batch and config.hparams['decay_epochs'] == 1
        fitted = fit_to_data(config, jsb)
        assert (fitted.hparams['decay_steps'], fitted.hparams['decay_epochs']) == (steps, None)
    # three times the pieces: three times the steps between decays, not three decays an epoch
    bigger = described_data(tmp_path / 'big', {'training_piano_rolls': 687})
    assert fit_to_data(get_config('ssnu_jsb'), bigger).hparams['decay_steps'] == 687
    # fractional epochs, a batch that does not divide the data (the last batch counts)
    odd = get_config('ssnu_jsb', 'batch_size=10,decay_epochs=2.5')
    data = described_data(tmp_path / 'odd', {'training_piano_rolls': 995})
    assert fit_to_data(odd, data).hparams['decay_steps'] == 250
    # a config without decay_epochs is left as it is
    plain = get_config('ssnu_jsb', 'decay_epochs=null,decay_steps=7')
    assert fit_to_data(plain, jsb) == plain


def test_decay_epochs_refusals_are_one_line(tmp_path):
    from musekit.training import fit_to_data, learning_rate
    cases = (
        (get_config('ssnu_jsb'), str(tmp_path / 'nothing' / 'training_*'),
         'no dataset.json counting its training examples'),
        (get_config('ssnu_jsb'), described_data(tmp_path / 'other', {'training_melodies': 9}),
         'no dataset.json counting its training examples'),
        (get_config('ssnu_jsb', 'decay_steps=10'), described_data(tmp_path / 'd', {}),
         'sets both decay_steps and decay_epochs'),
    )
    for config, pattern, message in cases:
        with pytest.raises(MusekitError) as info:
            fit_to_data(config, pattern)
        assert message in str(info.value) and '\n' not in str(info.value)
    with pytest.raises(MusekitError, match='decay_epochs needs the training data'):
        learning_rate(dict(get_config('ssnu_jsb').hparams))


def test_learning_rate_decays_by_decay_rate_every_decay_steps():
    from musekit.training import learning_rate
    assert learning_rate({'learning_rate': 0.01}) == 0.01
    assert learning_rate({'learning_rate': 0.01, 'decay_steps': 10, 'decay_rate': 1.0}) == 0.01
    schedule = learning_rate({'learning_rate': 0.01, 'decay_steps': 10, 'decay_rate': 0.5})
    assert [round(float(schedule(step)), 7) for step in (0, 10, 20, 5)] == [
        0.01, 0.005, 0.0025, round(0.01 * 0.5 ** 0.5, 7)]
    with pytest.raises(MusekitError, match='decay_rate'):
        learning_rate({'learning_rate': 0.01, 'decay_steps': 10, 'decay_rate': 1.5})
