"""Training under tf.distribute: TF_CONFIG checks, input sharding, mirrored replicas equal to
one device, and real multi-worker clusters of two processes on 127.0.0.1 (two families)."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from musekit import distribute
from musekit.config import get_config
from musekit.data import dataset, example, tfrecord
from musekit.errors import MusekitError
from test_training import run_cli, write_dataset

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

EVENTS = ('basic_rnn', 'batch_size=4,rnn_layer_sizes=[8],dropout_rate=0.0,learning_rate=0.05,'
          'clip_norm=0.5')
AUDIO = ('wavenet', 'batch_size=4,stacks=1,layers_per_stack=2,residual_channels=4,'
         'dilation_channels=4,skip_channels=4,crop_samples=6,learning_rate=0.01,clip_norm=1.0')
FRAMES = ('lstm_jsb', 'batch_size=4,layer_sizes=[8],decay_epochs=null,learning_rate=0.05')
NADE = ('rnn_nade_jsb', 'batch_size=4,rnn_layer_sizes=[8],nade_hidden_units=6,dropout_rate=0.0,'
        'decay_epochs=null,decay_rate=null,learning_rate=0.05')
PROCESS_TIMEOUT = 300       # seconds any worker process may take before the test fails


def write_audio(folder, count=16, shards=2):
    """Mu-law clips of 10 to 40 samples (a learnable ramp with noise), in `shards` files."""
    rng = np.random.default_rng(3)
    os.makedirs(folder, exist_ok=True)
    records = []
    for _ in range(count):
        size = int(rng.integers(10, 40))
        samples = (np.arange(size + 1) * 7 + rng.integers(0, 3, size + 1)) % 256
        records.append(example.make_sequence_example(samples[:-1], samples[1:]))
    for shard in range(shards):
        with open(os.path.join(folder, 'clips-%05d-of-%05d.tfrecord' % (shard, shards)),
                  'wb') as f:
            tfrecord.write_records(f, records[shard::shards])
    return os.path.join(folder, 'clips-*.tfrecord')


def write_piano_rolls(folder, count=12, keys=88):
    """Piano rolls of 5 to 30 frames, a few keys on per frame; the label is the next frame."""
    rng = np.random.default_rng(4)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'rolls.tfrecord'), 'wb') as f:
        for _ in range(count):
            frames = (rng.random((int(rng.integers(6, 31)), keys)) < 0.05).astype(np.int64)
            tfrecord.write_records(f, [example.make_sequence_example(
                frames[:-1].astype(np.float32), frames[1:])])
    return os.path.join(folder, 'rolls.tfrecord')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp('data')
    rolls = write_piano_rolls(str(folder / 'rolls'))
    return {'basic_rnn': write_dataset(str(folder / 'events')),
            'wavenet': write_audio(str(folder / 'audio')),
            'lstm_jsb': rolls, 'rnn_nade_jsb': rolls}


def cluster(count, index, chief=False):
    workers = ['127.0.0.1:%d' % (2000 + i) for i in range(count)]
    spec = {'cluster': {'worker': workers}, 'task': {'type': 'worker', 'index': index}}
    if chief:
        spec['cluster']['chief'] = ['127.0.0.1:1999']
    return spec


@pytest.mark.parametrize('text, message', [
    ('', 'needs TF_CONFIG'),
    ('{"cluster": ', 'TF_CONFIG is not JSON'),
    ('[]', 'needs a "cluster" object and a "task" object'),
    ('{"cluster": {"worker": ["a:1"]}}', 'needs a "cluster" object and a "task" object'),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
     'has "ps" tasks; musekit_train runs "chief" and "worker" tasks only'),
    ('{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}',
     'must be a list of "host:port" addresses, got ["a"]'),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}',
     'must be a list of "host:port" addresses'),
    ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}',
     'names an address twice'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     'task index 2 is not one of the 2 "worker" tasks'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": true}}',
     'task index true'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
     'task type "chief" is not a job of its cluster (worker)'),
    ('{"cluster": {"worker": ["a:1"], "chief": ["b:1", "c:1"]}, '
     '"task": {"type": "worker", "index": 0}}', 'has 2 chiefs'),
])
def test_a_bad_tf_config_is_one_line(text, message):
    with pytest.raises(MusekitError, match='^[^\n]*$') as error:
        distribute.read_tf_config(text)
    assert message in str(error.value)


def test_the_chief_is_the_chief_task_or_worker_0():
    assert distribute.is_chief_task(distribute.read_tf_config(json.dumps(cluster(2, 0))))
    assert not distribute.is_chief_task(distribute.read_tf_config(json.dumps(cluster(2, 1))))
    assert not distribute.is_chief_task(distribute.read_tf_config(
        json.dumps(cluster(2, 0, chief=True))))
    spec = cluster(2, 0, chief=True)
    spec['task'] = {'type': 'chief', 'index': 0}
    assert distribute.is_chief_task(distribute.read_tf_config(json.dumps(spec)))


@pytest.mark.parametrize('argv, tf_config, message', [
    (['--strategy=parameter_server'], None, '--strategy=parameter_server is not supported'),
    (['--strategy=ring'], None, "unknown --strategy 'ring'; one of: default, mirrored, "
                                'multi_worker'),
    (['--strategy=multi_worker'], '{"cluster": {}', 'TF_CONFIG is not JSON'),
    (['--strategy=multi_worker'], '', 'needs TF_CONFIG'),
    (['--devices=/cpu:0'], None, '--devices is for --strategy=mirrored'),
    (['--strategy=mirrored', '--eval'], None, '--eval runs on one device'),
])
def test_cli_refusals_are_one_line_before_anything_is_written(argv, tf_config, message, data,
                                                              tmp_path, capsys, monkeypatch):
    if tf_config is None:
        monkeypatch.delenv('TF_CONFIG', raising=False)
    else:
        monkeypatch.setenv('TF_CONFIG', tf_config)
    code, out = run_cli(['--config=basic_rnn', '--run_dir=%s' % (tmp_path / 'run'),
                         '--sequence_example_file=%s' % data['basic_rnn']] + argv, capsys)
    assert code == 2 and out.err.count('\n') == 1
    assert out.err.startswith('musekit_train: error: ') and message in out.err
    assert not (tmp_path / 'run').exists()


def read_all(ds):
    """The (inputs, length) of every sequence in eval batches, as hashable rows."""
    rows = []
    for inputs, _, lengths in ds:
        for row, length in zip(inputs.numpy(), lengths.numpy()):
            rows.append(row[:length].tobytes())
    return rows


@pytest.mark.parametrize('shards, by', [(2, 'file'), (1, 'record')])
def test_workers_share_the_records_without_reading_one_twice(shards, by, tmp_path):
    pattern = write_dataset(str(tmp_path), count=11, shards=shards)
    encoder = get_config('basic_rnn').make_encoder()
    whole = read_all(dataset.make_dataset(pattern, encoder, 3, training=False))
    parts = [read_all(dataset.make_dataset(pattern, encoder, 3, training=False,
                                           shard=(2, i))) for i in range(2)]
    assert len(whole) == 11 and sorted(parts[0] + parts[1]) == sorted(whole)
    assert not set(parts[0]) & set(parts[1])
    files = dataset.list_files(pattern)
    expected = (files[1::2], (1, 0)) if by == 'file' else (files, (2, 1))
    assert dataset.shard_files(files, 2, 1) == expected
    with pytest.raises(MusekitError, match='input shard 2 of 2 does not exist'):
        dataset.shard_files(files, 2, 2)


def test_training_input_of_a_shard_keeps_its_share_epoch_after_epoch(tmp_path):
    pattern = write_dataset(str(tmp_path), count=6, shards=1)      # sharded by record
    encoder = get_config('basic_rnn').make_encoder()
    shards = []
    for index in range(2):
        ds = dataset.make_dataset(pattern, encoder, 1, training=True, shard=(2, index))
        shards.append(read_all(ds.take(9)))      # three passes over its three records
    assert [len(set(rows)) for rows in shards] == [3, 3]
    assert not set(shards[0]) & set(shards[1])


def reference_weights(name, hparams, pattern, steps, replicas, mixed_precision=False):
    """The weights after `steps` steps of one process on one device fed the global batches
    that `replicas` workers make together: each worker's shard's batch of batch_size /
    replicas, concatenated (padded to the longest), in the order the workers take them."""
    import tensorflow as tf
    from musekit.training import Trainer
    config = get_config(name, hparams)
    trainer = Trainer(config, 'unused-run-dir', seed=0, log=lambda line: None,
                      mixed_precision=mixed_precision)
    per_replica = int(config.hparams['batch_size']) // replicas
    parts = [iter(dataset.make_dataset(pattern, trainer.encoder, per_replica, training=True,
                                       seed=0, batching=trainer.batching,
                                       shard=(replicas, i))) for i in range(replicas)]
    for _ in range(steps):
        batches = [next(part) for part in parts]
        longest = max(int(inputs.shape[1]) for inputs, _, _ in batches)

        def padded(t):
            return tf.pad(t, [[0, 0], [0, longest - t.shape[1]]] + [[0, 0]] * (t.ndim - 2))
        trainer.train_step(tf.concat([padded(b[0]) for b in batches], 0),
                           tf.concat([padded(b[1]) for b in batches], 0),
                           tf.concat([b[2] for b in batches], 0))
    return trainer.family.export_weights(trainer.model)


def assert_same_weights(weights, reference, atol=1e-5):
    assert sorted(weights) == sorted(reference)
    for key in reference:
        np.testing.assert_allclose(weights[key], reference[key], rtol=1e-4, atol=atol,
                                   err_msg=key)
    assert any(np.abs(reference[k]).max() > 0 for k in reference)


def test_mixed_precision_computes_in_float16_and_trains_as_float32_does(data, tmp_path):
    import keras
    from musekit.training import Trainer
    for name, hparams in (EVENTS, AUDIO):
        config, results = get_config(name, hparams), []
        for mixed in (False, True):
            trainer = Trainer(config, str(tmp_path / ('%s-%d' % (name, mixed))),
                              log=lambda line: None, mixed_precision=mixed)
            assert trainer.model.dtype_policy.compute_dtype == (
                'float16' if mixed else 'float32')
            assert {v.dtype for v in trainer.model.trainable_variables} == {'float32'}
            trainer.train(data[name], 6, save_checkpoint_steps=0)
            results.append((trainer.history[-1]['loss'],
                            trainer.family.export_weights(trainer.model)))
        (loss, weights), (mixed_loss, mixed_weights) = results
        assert mixed_loss == pytest.approx(loss, rel=1e-2)
        for key in weights:
            np.testing.assert_allclose(mixed_weights[key], weights[key], atol=2e-2)
        assert keras.config.dtype_policy().name == 'float32'     # the policy is put back
        # the checkpoints hold Adam alone: a run resumes with or without mixed precision
        resumed = Trainer(config, str(tmp_path / ('%s-1' % name)), log=lambda line: None)
        assert resumed.restored_from.endswith('ckpt-6') and resumed.global_step == 6


def test_mixed_precision_is_refused_where_a_family_does_not_declare_it(tmp_path):
    from musekit.training import Trainer
    with pytest.raises(MusekitError, match='config lstm_jsb: model family frame_lstm does '
                                           'not declare that it trains correctly in mixed'):
        Trainer(get_config('lstm_jsb', 'decay_epochs=null'), str(tmp_path / 'run'),
                mixed_precision=True)
    assert not (tmp_path / 'run').exists()


MIRRORED = textwrap.dedent('''
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from musekit import distribute
    from musekit.config import get_config
    from musekit.errors import MusekitError
    from musekit.training import Trainer
    strategy = distribute.make_strategy('mirrored', ['/cpu:0', '/cpu:1'])
    assert strategy.num_replicas_in_sync == 2
    for name, hparams, pattern, run_dir, mixed in %r:
        Trainer(get_config(name, hparams), run_dir, log=print, strategy=strategy,
                mixed_precision=mixed).train(pattern, 4, save_checkpoint_steps=2,
                                             eval_pattern=pattern)
    try:
        Trainer(get_config('basic_rnn', 'batch_size=3'), run_dir + '-odd', strategy=strategy)
    except MusekitError as e:
        print('refused:', e)
''')


@pytest.mark.slow
def test_mirrored_over_two_cpu_devices_equals_one_device(data, tmp_path):
    from musekit.training import checkpoint_weights
    runs = [(name, hparams, data[name], str(tmp_path / name), False)
            for name, hparams in (EVENTS, AUDIO, FRAMES, NADE)]
    runs.append((*EVENTS, data['basic_rnn'], str(tmp_path / 'mixed'), True))
    done = subprocess.run([sys.executable, '-c', MIRRORED % (runs,)], capture_output=True,
                          text=True, timeout=PROCESS_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ('refused: hparam batch_size=3 does not split evenly over the 2 replicas of the '
            'strategy; give a multiple of 2') in done.stdout
    assert done.stdout.count('eval at step 4') == len(runs)
    for name, hparams, pattern, run_dir, mixed in runs:
        weights, path, step = checkpoint_weights(run_dir, get_config(name, hparams))
        assert path.endswith('ckpt-4') and step == 4
        # one device, batches of 4 = two replicas' consecutive batches of 2, same order
        assert_same_weights(weights, reference_weights(name, hparams, pattern, 4, 1, mixed),
                            atol=1e-3 if mixed else 1e-5)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_worker(ports, index, config, run_dir, pattern, steps, *flags):
    env = dict(os.environ, TF_CONFIG=json.dumps({
        'cluster': {'worker': ['127.0.0.1:%d' % p for p in ports]},
        'task': {'type': 'worker', 'index': index}}),
        TMPDIR=os.path.dirname(run_dir))     # a killed worker's TensorFlow log stays there
    name, hparams = config
    argv = [sys.executable, '-m', 'musekit.cli.train', '--strategy=multi_worker',
            '--config=%s' % name, '--hparams=%s' % hparams, '--run_dir=%s' % run_dir,
            '--sequence_example_file=%s' % pattern, '--num_training_steps=%d' % steps,
            '--summary_frequency=1', '--worker_timeout=30', *flags]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(procs):
    """[(exit status, stdout, stderr)] of processes that must end by themselves."""
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def native_log(err):
    """The TensorFlow log file an error line names (its C++ lines are kept out of stderr);
    removed."""
    path = err.rsplit("(TensorFlow's log: ", 1)[1].split(')')[0]
    os.remove(path)         # there, or this fails
    return path


def run_cluster(config, run_dir, pattern, steps, *flags):
    ports = free_ports(2)
    return finish([start_worker(ports, i, config, run_dir, pattern, steps, *flags)
                   for i in range(2)])


@pytest.mark.slow
@pytest.mark.parametrize('config', [EVENTS, AUDIO, NADE],     # NADE's data: one file,
                         ids=['events_rnn', 'wavenet', 'rnn_nade'])   # split by record
def test_two_workers_train_as_one_process_and_only_the_chief_writes(config, data, tmp_path):
    from musekit.bundle import load_bundle
    from musekit.training import checkpoint_weights
    name, hparams = config
    run_dir, bundle = str(tmp_path / 'run'), str(tmp_path / 'out.musekit')
    results = run_cluster(config, run_dir, data[name], 5, '--save_checkpoint_steps=2',
                          '--save_generator_bundle', '--bundle_file=%s' % bundle,
                          '--eval_sequence_example_file=%s' % data[name])
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert 'step 5/5' in out
    assert 'eval at step 4' in results[0][1] and 'eval at step' not in results[1][1]
    assert 'wrote bundle' in results[0][1] and 'wrote bundle' not in results[1][1]
    # the chief's files, and nothing but: checkpoints 2, 4 and 5, one log per split
    assert sorted(os.listdir(run_dir)) == ['config.json', 'eval', 'train']
    train_files = sorted(os.listdir(os.path.join(run_dir, 'train')))
    assert [f for f in train_files if f.endswith('.index')] == [
        'ckpt-2.index', 'ckpt-4.index', 'ckpt-5.index']
    assert len([f for f in train_files if f.startswith('events.out')]) == 1
    weights, path, step = checkpoint_weights(run_dir, get_config(name, hparams))
    assert step == 5
    reference = reference_weights(name, hparams, data[name], 5, 2)
    assert_same_weights(weights, reference)
    assert_same_weights(load_bundle(bundle).weights, reference)


@pytest.mark.slow
@pytest.mark.parametrize('killed', [1, 0], ids=['worker', 'chief'])
def test_a_killed_worker_and_the_same_commands_again_resume_from_the_last_checkpoint(
        killed, data, tmp_path):
    from musekit.training import listed_checkpoints
    run_dir, pattern = str(tmp_path / 'run'), data['basic_rnn']
    ports = free_ports(2)
    procs = [start_worker(ports, i, EVENTS, run_dir, pattern, 10_000,
                          '--save_checkpoint_steps=3') for i in range(2)]
    try:
        for line in procs[killed].stdout:   # the chief saved ckpt-3 before step 4 began
            if line.startswith('musekit_train: step 4/'):
                break
        procs[killed].send_signal(signal.SIGKILL)
    finally:
        results = finish(procs)
    code, _, err = results[1 - killed]
    assert results[killed][0] == -signal.SIGKILL
    # the survivor: a lost collective (2), or its watchdog (SIGKILL) if TensorFlow hangs
    assert code in (2, -signal.SIGKILL), err[-3000:]
    assert err.count('\n') == 1 and err.startswith('musekit_train: error: ')
    assert 'run the same commands again to resume' in err
    native_log(err)
    last = listed_checkpoints(os.path.join(run_dir, 'train'))[-1]
    saved = int(last.rsplit('-', 1)[1])
    assert saved >= 3 and saved % 3 == 0
    results = run_cluster(EVENTS, run_dir, pattern, saved + 2)
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert 'restored ckpt-%d at step %d' % (saved, saved) in out
        assert 'step %d/%d' % (saved + 2, saved + 2) in out
    assert sorted(os.listdir(run_dir)) == ['config.json', 'train']


def test_a_worker_whose_port_is_taken_ends_in_one_line(data, tmp_path):
    with socket.socket() as taken:      # say, the same worker of an earlier run, still up
        taken.bind(('127.0.0.1', 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        [(code, out, err)] = finish([start_worker(
            [port], 0, EVENTS, str(tmp_path / 'run'), data['basic_rnn'], 5)])
    assert code == 2 and err.count('\n') == 1, err[-3000:]
    assert err.startswith('musekit_train: error: cannot start TF_CONFIG task worker 0 at '
                          '127.0.0.1:%d: Could not start gRPC server (is another process '
                          'using that port?)' % port)
    native_log(err)
    assert not os.path.exists(os.path.join(tmp_path, 'run', 'train'))


@pytest.mark.slow
def test_an_unreachable_worker_ends_in_one_line(data, tmp_path):
    ports = free_ports(2)
    [(code, out, err)] = finish([start_worker(
        ports, 0, EVENTS, str(tmp_path / 'run'), data['basic_rnn'], 5, '--worker_timeout=5')])
    # its watchdog ended it: TensorFlow waits for the cluster holding the GIL
    assert code == -signal.SIGKILL and err.count('\n') == 1, err[-3000:]
    assert err.startswith('musekit_train: error: connecting to the other workers: no '
                          'progress for 5 s')
    native_log(err)
    assert not os.path.exists(os.path.join(tmp_path, 'run', 'train'))
