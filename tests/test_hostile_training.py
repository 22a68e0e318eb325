"""Training against a hostile world: a second musekit_train on the same run directory, a
kill in the middle of a checkpoint save, unreadable checkpoints, and a full disk while
saving checkpoints, the run's config or the bundle. Nothing partial is ever left under a
final name, and a rerun resumes from the last good checkpoint."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from musekit.errors import MusekitError
from test_training import TINY, make_trainer, tiny_config, write_dataset
from refusals import refusal

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_dataset(str(tmp_path_factory.mktemp('data')))


def train_cli(*argv):
    """The exit status of musekit_train run in this process (0 when it returns)."""
    from musekit.cli import train as cli
    try:
        cli.run(['musekit_train'] + list(argv))
    except SystemExit as e:
        return e.code
    return 0


def snapshot(folder):
    """{relative path: (size, mtime_ns, sha256)} of every file under `folder`."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            stat = os.stat(path)
            with open(path, 'rb') as f:
                found[os.path.relpath(path, folder)] = (
                    stat.st_size, stat.st_mtime_ns, hashlib.sha256(f.read()).hexdigest())
    return found


def fill(folder):
    """A file that takes every free byte of the small disk `folder`; returns its path."""
    path = folder / 'filler'
    with open(path, 'wb', buffering=0) as f:
        try:
            while True:
                f.write(b'\0' * 4096)
        except OSError:
            pass
    return path


def listed(run_dir):
    from musekit.training import listed_checkpoints
    return [os.path.basename(p) for p in listed_checkpoints(os.path.join(run_dir, 'train'))]


def leftovers(folder):
    """Files under `folder` that no finished run keeps: hidden ones, TensorFlow's temporary
    files, and checkpoint files that train/checkpoint does not name."""
    names = set(listed(folder)) if os.path.isdir(os.path.join(folder, 'train')) else set()
    found = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            stem = name.split('.data-')[0] if '.data-' in name else name[:-6] \
                if name.endswith('.index') else None
            if (name.startswith('.') or '_temp' in name or 'tmp' in name
                    or (stem is not None and stem not in names)):
                found.append(os.path.relpath(os.path.join(root, name), folder))
    return sorted(found)


# -- one musekit_train per run directory ----------------------------------------------------

def test_a_second_musekit_train_on_a_held_run_dir_is_one_line_and_touches_nothing(
        data, tmp_path, capsys):
    from musekit.cli import generate
    run_dir = str(tmp_path / 'run')
    base = ['--config=basic_rnn', '--hparams=' + TINY, '--run_dir=' + run_dir,
            '--sequence_example_file=' + data, '--summary_frequency=1']
    assert train_cli('--num_training_steps=1', *base) == 0
    assert not os.path.exists(os.path.join(run_dir, '.musekit_train.lock'))  # released
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import sys\nfrom musekit.training import run_dir_lock\n'
         'with run_dir_lock(sys.argv[1]):\n    print("held", flush=True)\n'
         '    sys.stdin.read()\n', run_dir],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == 'held\n'
        before = snapshot(run_dir)
        capsys.readouterr()
        assert train_cli('--num_training_steps=3', *base) == 2
        err = capsys.readouterr().err
        assert err == ('musekit_train: error: run directory %s is in use by another training '
                       'process (pid %d); one training at a time per run directory: wait for '
                       'it to end or give another --run_dir\n' % (run_dir, holder.pid))
        assert train_cli('--eval', '--run_dir=' + run_dir,
                         '--sequence_example_file=' + data) == 2
        assert 'is in use by another training process' in capsys.readouterr().err
        assert snapshot(run_dir) == before
        # generating from the run directory only reads it: no lock needed
        generate.run(['musekit_generate', '--run_dir=' + run_dir, '--num_steps=8',
                      '--num_outputs=1', '--output_dir=%s' % (tmp_path / 'out')])
        assert [n for n in os.listdir(tmp_path / 'out') if n.endswith('.mid')]
    finally:
        holder.send_signal(signal.SIGKILL)      # a lock dies with its process
        holder.wait()
    capsys.readouterr()
    assert train_cli('--num_training_steps=3', *base) == 0
    assert 'restored ckpt-1 at step 1' in capsys.readouterr().out
    assert listed(run_dir)[-1] == 'ckpt-3'


def test_a_refused_run_leaves_no_run_dir_behind(data, tmp_path, capsys):
    run_dir = tmp_path / 'new_run'
    assert train_cli('--config=basic_rnn', '--run_dir=%s' % run_dir,
                     '--sequence_example_file=%s' % (tmp_path / 'none-*')) == 2
    assert 'no files match' in capsys.readouterr().err
    assert not run_dir.exists()


# -- a kill in the middle of a save, unreadable checkpoints ---------------------------------

@pytest.mark.slow
def test_a_kill_between_a_checkpoints_files_resumes_from_the_one_before(data, tmp_path):
    run_dir = str(tmp_path / 'run')
    # dies (as by kill -9: no cleanup) when ckpt-2's data file is in place, not its index
    script = textwrap.dedent('''
        import os
        from musekit.config import get_config
        from musekit.training import Trainer
        replace = os.replace
        def dying_replace(source, target):
            if os.path.basename(target) == 'ckpt-2.index':
                os._exit(9)
            replace(source, target)
        os.replace = dying_replace
        Trainer(get_config('basic_rnn', %r), %r, log=print).train(
            %r, 3, summary_frequency=1, save_checkpoint_steps=1)
    ''' % (TINY, run_dir, data))
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    train = os.path.join(run_dir, 'train')
    assert listed(run_dir) == ['ckpt-1']
    assert os.path.exists(os.path.join(train, 'ckpt-2.data-00000-of-00001'))
    assert [n for n in os.listdir(train) if n.startswith('.ckpt-2.')]     # the hidden folder
    assert os.path.exists(os.path.join(run_dir, '.musekit_train.lock'))   # stale, not held
    lines = []
    trainer = make_trainer(run_dir, lines=lines)
    assert trainer.restored_from.endswith('ckpt-1') and trainer.global_step == 1
    trainer.train(data, 2, summary_frequency=1, save_checkpoint_steps=1)
    assert lines[0] == 'restored ckpt-1 at step 1 (basic_rnn)'
    assert listed(run_dir) == ['ckpt-1', 'ckpt-2'] and leftovers(run_dir) == []
    assert make_trainer(run_dir).global_step == 2


def test_what_killed_saves_left_is_removed_by_the_rerun(data, tmp_path):
    run_dir = tmp_path / 'run'
    make_trainer(run_dir).train(data, 2, save_checkpoint_steps=1)
    train = run_dir / 'train'
    planted = {'.ckpt-3.0123abcd.tmp/ckpt.index': b'cut', 'ckpt-3.index': b'cut',
               'ckpt-3.data-00000-of-00001': b'cut', 'ckpt-3_temp/part-00000-of-00001': b'c',
               'checkpoint.tmp0123456789abcdef': b'cut', '.checkpoint.0a1b.tmp': b'cut',
               '../.config.json.99ff.tmp': b'{"cut'}
    for name, content in planted.items():
        os.makedirs(os.path.dirname(train / name), exist_ok=True)
        (train / name).write_bytes(content)
    assert len(leftovers(str(run_dir))) == 8        # the two folders and six files
    lines = []
    trainer = make_trainer(run_dir, lines=lines)
    trainer.train(data, 3, save_checkpoint_steps=1)
    assert lines[0] == 'restored ckpt-2 at step 2 (basic_rnn)'
    assert leftovers(str(run_dir)) == []
    assert listed(str(run_dir)) == ['ckpt-1', 'ckpt-2', 'ckpt-3']
    assert make_trainer(run_dir).global_step == 3   # ckpt-3 is whole now


def test_an_unreadable_latest_checkpoint_is_said_and_training_resumes_before_it(data,
                                                                                  tmp_path):
    from musekit.training import checkpoint_weights
    run_dir = tmp_path / 'run'
    make_trainer(run_dir).train(data, 3, save_checkpoint_steps=1)
    with open(run_dir / 'train' / 'ckpt-3.data-00000-of-00001', 'r+b') as f:
        f.truncate(100)                              # a disk that lost its tail
    message = refusal(checkpoint_weights, str(run_dir), tiny_config())
    assert message.startswith('cannot read checkpoint %s/train/ckpt-3: ' % run_dir)
    lines = []
    trainer = make_trainer(run_dir, lines=lines)
    assert trainer.global_step == 2 and trainer.restored_from.endswith('ckpt-2')
    assert lines == ['checkpoint %s/train/ckpt-3 is unreadable (Read less bytes than '
                     'requested); trying the one before' % run_dir]
    trainer.train(data, 4, save_checkpoint_steps=1)
    assert listed(str(run_dir)) == ['ckpt-1', 'ckpt-2', 'ckpt-3', 'ckpt-4']
    weights, path, step = checkpoint_weights(str(run_dir), tiny_config())
    assert step == 4 and path.endswith('ckpt-4')
    assert make_trainer(run_dir).global_step == 4
    # none readable at all, or a list that is not one: one line each, nothing trained over
    for name in ('ckpt-1', 'ckpt-2', 'ckpt-3', 'ckpt-4'):
        os.remove(run_dir / 'train' / (name + '.index'))
    assert refusal(make_trainer, run_dir) == (
        'run directory %s has no readable checkpoint (ckpt-4, ckpt-3, ckpt-2, ckpt-1); '
        'remove its train/ folder to train from the start' % run_dir)
    (run_dir / 'train' / 'checkpoint').write_text('model_checkpoint_path: "ckpt-4\n')
    assert refusal(make_trainer, run_dir).startswith(
        '%s/train/checkpoint is not a checkpoint list (' % run_dir)


# -- a full disk ----------------------------------------------------------------------------

def test_a_full_disk_at_a_checkpoint_is_one_line_and_the_rerun_resumes(data, small_disk,
                                                                         capfd):
    run_dir = str(small_disk / 'run')
    filler = small_disk / 'filler'
    filler.write_bytes(b'\0' * 100 * 1024)
    # checkpoints of 53 KB: a few fit in the 256 KiB disk, then one does not
    base = ['--config=basic_rnn', '--hparams=' + TINY.replace('[8]', '[16]'),
            '--run_dir=' + run_dir, '--sequence_example_file=' + data,
            '--summary_frequency=1000', '--save_checkpoint_steps=1']
    assert train_cli('--num_training_steps=20', *base) == 2
    out, err = capfd.readouterr()
    assert err.count('\n') == 1, err
    prefix = 'musekit_train: error: cannot write checkpoint %s/train/ckpt-' % run_dir
    assert err.startswith(prefix) and err.endswith(': No space left on device\n'), err
    failed = int(err[len(prefix):].split(':')[0])
    assert failed >= 2
    assert listed(run_dir)[-1] == 'ckpt-%d' % (failed - 1)
    assert leftovers(run_dir) == []
    assert json.load(open(os.path.join(run_dir, 'config.json')))['name'] == 'basic_rnn'
    filler.unlink()                                 # the user makes room, runs it again
    assert train_cli('--num_training_steps=%d' % failed, *base) == 0
    out, err = capfd.readouterr()
    assert 'restored ckpt-%d at step %d' % (failed - 1, failed - 1) in out and not err
    assert listed(run_dir)[-1] == 'ckpt-%d' % failed and leftovers(run_dir) == []


def test_a_full_disk_for_the_bundle_is_one_line_and_leaves_no_file(data, small_disk,
                                                                     tmp_path, capfd):
    from musekit.bundle import load_bundle
    filler = fill(small_disk)
    bundle = str(small_disk / 'toy.musekit')
    base = ['--config=basic_rnn', '--hparams=' + TINY, '--run_dir=%s' % (tmp_path / 'run'),
            '--sequence_example_file=' + data, '--num_training_steps=2',
            '--bundle_file=' + bundle, '--save_generator_bundle']
    assert train_cli(*base) == 2
    err = capfd.readouterr().err
    assert err == 'musekit_train: error: cannot write %s: No space left on device\n' % bundle
    assert sorted(os.listdir(small_disk)) == ['filler']
    filler.unlink()
    assert train_cli(*base) == 0
    assert 'step 2: already trained (2 steps asked)' in capfd.readouterr().out
    assert load_bundle(bundle).provenance['training_steps'] == 2


def test_a_full_disk_for_the_runs_config_is_one_line_and_leaves_nothing(data, small_disk):
    fill(small_disk)
    run_dir = small_disk / 'run'
    trainer = make_trainer(run_dir)
    with pytest.raises(MusekitError) as raised:
        trainer.train(data, 1)
    assert str(raised.value) == ('cannot write %s/config.json: No space left on device'
                                 % run_dir)
    assert not run_dir.exists()                     # the lock made it and took it away
