"""The data jobs against hostile folders: any error inside one file is a dead-letter line
while the other files go through; entries that are not regular files are counted, never
opened; names that are not UTF-8 are read; a full disk is one line and leaves nothing;
a rerun removes what a killed run left."""
import glob
import json
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from music_files import make_midi_bytes, write
from refusals import refusal
from musekit.data import sources, tfrecord
from musekit.pipelines import convert, create_dataset
from test_audio_data import config_file, write_tone


@pytest.fixture(autouse=True)
def _never_hang():
    """A job that blocks (on a FIFO, say) fails the test instead of hanging the suite."""
    def fail(*_):
        raise TimeoutError('the job blocked for 120 s')
    signal.signal(signal.SIGALRM, fail)
    signal.alarm(120)
    yield
    signal.alarm(0)


def convert_main(input_dir, output, *extra):
    convert.main(['musekit_convert', '--input=' + str(input_dir), '--output=' + str(output)]
                 + list(extra))


def dead_letters(path):
    with open(path, encoding='utf-8') as f:
        return {line.split('\t')[0]: line.rstrip('\n').split('\t')[1:] for line in f}


def sequences(output):
    return [music_pb2.NoteSequence.FromString(r)
            for path in sorted(glob.glob(str(output) + '-?????-of-?????.tfrecord'))
            for r in tfrecord.read_record_file(path)]


def test_an_error_no_reader_foresaw_is_a_dead_letter_and_the_rest_go_through(
        tmp_path, monkeypatch):
    root = tmp_path / 'in'
    write(str(root / 'good.mid'), make_midi_bytes())
    write(str(root / 'tune.abc'), b'X:1\nT:t\nK:C\nCDEF|\n')

    def explode(content):
        raise RecursionError('maximum recursion depth exceeded ' + 'x' * 100_000)
    monkeypatch.setattr(sources, '_parse_abc', explode)       # the job runs in-process
    convert_main(root, tmp_path / 'out' / 'ns')
    assert [ns.filename for ns in sequences(tmp_path / 'out' / 'ns')] == ['good.mid']
    letters = dead_letters(str(tmp_path / 'out' / 'ns') + convert.DEAD_LETTER_SUFFIX)
    [(path, (reason, detail))] = letters.items()
    assert path == str(root / 'tune.abc') and reason == 'unexpected_error'
    assert detail.startswith('RecursionError: maximum recursion depth exceeded xxx')
    assert len(detail) == convert.MAX_DETAIL


def test_a_pickle_pitch_of_nan_is_a_dead_letter_beside_good_files(tmp_path):
    import pickle
    root = tmp_path / 'in'
    write(str(root / 'good.mid'), make_midi_bytes())
    write(str(root / 'nan.pickle'), pickle.dumps({'train': [[[60], [float('nan')]]]}))
    convert_main(root, tmp_path / 'ns')
    assert [ns.filename for ns in sequences(tmp_path / 'ns')] == ['good.mid']
    assert dead_letters(str(tmp_path / 'ns') + convert.DEAD_LETTER_SUFFIX) == {
        str(root / 'nan.pickle'): ['piano_roll_file_error',
                                   'train piece 0 has nan, not a MIDI pitch']}


def plant_odd_entries(root):
    """A FIFO, a socket and links (looping, broken, to a folder, to a device)."""
    import socket
    os.mkfifo(root / 'blocked.mid')
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(root / 'sock.mid'))
    os.symlink(root / 'loop_b.mid', root / 'loop_a.mid')
    os.symlink(root / 'loop_a.mid', root / 'loop_b.mid')
    os.symlink(root / 'missing.mid', root / 'broken.mid')
    os.symlink(root, root / 'again')
    os.symlink('/dev/zero', root / 'zero.mid')
    return {'blocked.mid': 'a FIFO', 'loop_a.mid': 'a link that loops',
            'loop_b.mid': 'a link that loops', 'broken.mid': 'a broken link',
            'again': 'a folder behind a link, not followed', 'zero.mid': 'a device',
            'sock.mid': 'a socket'}


def test_fifos_devices_and_odd_links_are_counted_and_listed_never_opened(tmp_path, capsys):
    root = tmp_path / 'in'
    write(str(root / 'good.mid'), make_midi_bytes())
    odd = plant_odd_entries(root)
    convert_main(root, tmp_path / 'ns')
    assert [ns.filename for ns in sequences(tmp_path / 'ns')] == ['good.mid']
    letters = dead_letters(str(tmp_path / 'ns') + convert.DEAD_LETTER_SUFFIX)
    assert letters == {str(root / name): ['not_a_regular_file', what]
                       for name, what in odd.items()}
    counters = dict(line.split() for line in capsys.readouterr().out.splitlines()
                    if line.startswith('  '))
    assert counters['files_skipped_not_a_regular_file'] == str(len(odd))


def test_names_that_are_not_utf8_are_read_with_their_own_bytes(tmp_path):
    root = os.fsencode(str(tmp_path / 'in'))
    os.makedirs(os.path.join(root, b'caf\xe9'))
    with open(os.path.join(root, b'\xff\xfe.mid'), 'wb') as f:
        f.write(make_midi_bytes())
    with open(os.path.join(root, b'caf\xe9', b'song.mid'), 'wb') as f:
        f.write(make_midi_bytes(velocity=90))
    convert_main(tmp_path / 'in', tmp_path / 'ns')
    got = sorted(ns.filename for ns in sequences(tmp_path / 'ns'))
    assert got == ['caf\ufffd/song.mid', '\ufffd\ufffd.mid']
    assert len({ns.id for ns in sequences(tmp_path / 'ns')}) == 2
    # the same name and bytes give the same id in every run (the raw name is hashed)
    source = sources.Source(os.fsdecode(os.path.join(root, b'\xff\xfe.mid')),
                            os.fsdecode(b'\xff\xfe.mid'), 'in')
    assert sources.sequence_id(source, make_midi_bytes()) in {
        ns.id for ns in sequences(tmp_path / 'ns')}
    # create_dataset reads the same folder straight from the music files
    create_dataset.main(['musekit_create_dataset', '--config=basic_rnn',
                         '--input=' + str(tmp_path / 'in'), '--output_dir=' + str(
                             tmp_path / 'ds')])
    assert os.path.exists(tmp_path / 'ds' / 'dataset.json')


def test_the_audio_job_writes_a_dead_letter_file(tmp_path, capsys):
    import soundfile
    root = tmp_path / 'in'
    root.mkdir()
    write_tone(str(root / 'tone.wav'), 440.0, 3.0, rate=8000)
    nan = np.zeros(8000, np.float32)
    nan[100] = np.nan
    soundfile.write(str(root / 'nan.wav'), nan, 8000, subtype='FLOAT')
    (root / 'bad.wav').write_bytes(b'RIFF\x10\x00\x00\x00WAVEjunk')
    os.mkfifo(root / 'pipe.wav')
    out = tmp_path / 'ds'
    create_dataset.main(['musekit_create_dataset', '--config=' + config_file(tmp_path),
                         '--input=' + str(root), '--output_dir=' + str(out)])
    letters = dead_letters(str(out / create_dataset.DEAD_LETTER_FILE))
    assert sorted(letters) == sorted(str(root / n) for n in ('nan.wav', 'bad.wav', 'pipe.wav'))
    assert letters[str(root / 'nan.wav')][0] == 'non_finite_audio'
    assert letters[str(root / 'bad.wav')][0] == 'unreadable_audio'
    assert letters[str(root / 'pipe.wav')] == ['not_a_regular_file', 'a FIFO']
    printed = capsys.readouterr().out
    assert 'sources_skipped_non_finite_audio' in printed
    assert 'files_skipped_not_a_regular_file' in printed


def many_midi_files(root, count=60):
    for i in range(count):
        pitches = [48 + (i + k) % 36 for k in range(400)]
        write(str(root / ('song%02d.mid' % i)), make_midi_bytes(pitches=pitches, step=0.25))


def run_cli(module, args):
    return subprocess.run([sys.executable, '-m', module] + args, capture_output=True,
                          text=True, timeout=300)


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, small_disk):
    root = tmp_path / 'in'
    many_midi_files(root)
    done = run_cli('musekit.pipelines.convert', ['--input=%s' % root,
                                                 '--output=%s/ns' % small_disk])
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()          # one line, no traceback
    assert line.startswith('musekit_convert: error: cannot write %s/ns-' % small_disk)
    assert 'No space left on device' in line
    assert os.listdir(small_disk) == []


def test_create_dataset_on_a_full_disk_leaves_nothing(tmp_path, small_disk):
    root = tmp_path / 'in'
    many_midi_files(root, 120)
    done = run_cli('musekit.pipelines.create_dataset', [
        '--config=mono_rnn', '--input=%s' % root, '--output_dir=%s' % small_disk])
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith('musekit_create_dataset: error: cannot write %s/' % small_disk)
    assert 'No space left on device' in line
    assert os.listdir(small_disk) == []


def test_a_rerun_removes_what_a_killed_run_left(tmp_path):
    root = tmp_path / 'in'
    write(str(root / 'good.mid'), make_midi_bytes())
    out = tmp_path / 'out'
    out.mkdir()
    left = ['.ns-00001-of-00002.tfrecord.tmp-99999',
            '.ns-dead_letter.tsv.part-00000-of-00001.tmp-4242',
            'ns-dead_letter.tsv.part-00000-of-00001']
    for name in left:
        (out / name).write_bytes(b'x' * 1000)
    convert_main(root, out / 'ns')
    assert sorted(os.listdir(out)) == ['ns-00000-of-00002.tfrecord',
                                       'ns-00001-of-00002.tfrecord', 'ns-dead_letter.tsv']
    # create_dataset: a killed run's temporary shards and its old description go
    ds = tmp_path / 'ds'
    ds.mkdir()
    (ds / '.training_melodies-00000-of-00002.tfrecord.tmp-777').write_bytes(b'x' * 1000)
    (ds / 'dataset.json').write_text('{"from": "an earlier run"}')
    (ds / '.dataset.json.tmp-5').write_text('{')
    create_dataset.main(['musekit_create_dataset', '--config=basic_rnn',
                         '--input=%s/ns*' % out, '--output_dir=%s' % ds])
    names = sorted(os.listdir(ds))
    assert not [n for n in names if n.startswith('.')]
    assert 'dataset.json' in names and 'an earlier run' not in (ds / 'dataset.json').read_text()


def melody_midi(root, name, notes):
    """A one-line tune of `notes` quarter notes (5 distinct pitches), long enough for a
    melody."""
    write(str(root / name), make_midi_bytes(pitches=[60 + 2 * (i % 5) for i in range(notes)]))


def test_an_encoder_error_in_one_record_is_a_dead_letter_saying_what_went_out(
        tmp_path, monkeypatch):
    root = tmp_path / 'in'
    melody_midi(root, 'short.mid', 40)
    melody_midi(root, 'long.mid', 60)
    made = []

    def refuse_the_long_one_second(inputs, labels):
        # the long tune's second sequence (its transposition) cannot be encoded
        if len(inputs) > 200:
            made.append(len(inputs))
            if len(made) == 2:
                raise ValueError('planted\n' + 'y' * 5000)
        return real(inputs, labels)
    real = create_dataset.make_sequence_example
    monkeypatch.setattr(create_dataset, 'make_sequence_example', refuse_the_long_one_second)
    out = tmp_path / 'ds'
    create_dataset.main(['musekit_create_dataset', '--config=mono_rnn', '--input=%s' % root,
                         '--output_dir=%s' % out, '--eval_ratio=0', '--transpose_range=0,1'])
    [(path, (reason, detail))] = dead_letters(out / create_dataset.DEAD_LETTER_FILE).items()
    long_id = sources.sequence_id(sources.Source(str(root / 'long.mid'), 'long.mid', 'in'),
                                  (root / 'long.mid').read_bytes())
    assert path == long_id and reason == 'unexpected_error'     # named by its record id
    assert detail.startswith('after 1 of its sequences: ValueError: planted yyy')
    assert len(detail) == convert.MAX_DETAIL and detail.endswith('...')
    written = [r for p in sorted(glob.glob(str(out / 'training_melodies-*')))
               for r in tfrecord.read_record_file(p)]
    assert len(written) == 3        # the short tune's two and the long one's first
    description = json.loads((out / 'dataset.json').read_text())
    assert description['counters']['sources_skipped_unexpected_error'] == 1


def test_record_files_that_block_or_break_are_dead_letters_of_create_dataset(tmp_path):
    root = tmp_path / 'in'
    melody_midi(root, 'tune.mid', 40)
    melody_midi(root, 'other.mid', 44)
    ns = tmp_path / 'ns'
    convert_main(root, ns / 'tunes', '--num_shards=1')
    cut = ns / 'tunes-00000-of-00001.tfrecord'
    cut.write_bytes(cut.read_bytes()[:-100])    # its second record loses its tail
    os.mkfifo(ns / 'pipe.tfrecord')          # opened, it would wait for a writer forever
    (ns / 'junk.tfrecord').write_bytes(b'\x05' * 40)
    out = tmp_path / 'ds'
    create_dataset.main(['musekit_create_dataset', '--config=mono_rnn', '--input=%s' % ns,
                         '--output_dir=%s' % out, '--eval_ratio=0'])
    letters = dead_letters(out / create_dataset.DEAD_LETTER_FILE)
    assert letters[str(ns / 'pipe.tfrecord')] == ['not_a_regular_file', 'a FIFO']
    assert letters[str(ns / 'junk.tfrecord')][0] == 'damaged_record_file'
    reason, detail = letters[str(cut)]
    assert reason == 'damaged_record_file'
    assert detail.startswith('its first 1 record kept; not a file of NoteSequence')
    assert len(letters) == 3
    counters = json.loads((out / 'dataset.json').read_text())['counters']
    assert counters['files_skipped_not_a_regular_file'] == 1
    assert counters['record_files_damaged'] == 2
    assert counters['training_melodies'] == 1


def test_audio_files_whose_names_are_not_utf8_are_listed_and_the_rest_read(tmp_path):
    import shutil
    root = tmp_path / 'in'
    write_tone(str(root / 'bach' / 'tone.wav'), 440.0, 3.0, rate=8000)
    odd = os.path.join(os.fsencode(str(root)), b'caf\xe9')
    os.makedirs(odd)
    shutil.copy(str(root / 'bach' / 'tone.wav'), os.path.join(odd, b'\xff.wav'))
    out = tmp_path / 'ds'
    create_dataset.main(['musekit_create_dataset', '--config=' + config_file(
        tmp_path, condition=True), '--input=' + str(root), '--output_dir=' + str(out)])
    letters = dead_letters(out / create_dataset.DEAD_LETTER_FILE)
    assert list(letters.values()) == [['name_not_utf8', 'soundfile opens only paths that are '
                                       'UTF-8; rename the file or its folder']]
    assert list(letters) == [sources.printable(os.fsdecode(os.path.join(odd, b'\xff.wav')))]
    description = json.loads((out / 'dataset.json').read_text())
    assert description['encoder']['params']['labels'] == ['bach']
    assert description['counters']['audio_files_read'] == 1


def test_training_refuses_a_set_of_shards_that_a_killed_run_left_incomplete(tmp_path):
    from musekit.config import get_config
    from musekit.data import dataset
    root = tmp_path / 'in'
    for i in range(6):
        melody_midi(root, 'tune%d.mid' % i, 40 + 4 * i)
    out = tmp_path / 'ds'
    create_dataset.main(['musekit_create_dataset', '--config=mono_rnn', '--input=%s' % root,
                         '--output_dir=%s' % out, '--eval_ratio=0', '--num_shards=3'])
    encoder = get_config('mono_rnn').make_encoder()
    every = str(out / 'training_melodies-*')
    dataset.check_compatible(every, encoder, 'mono_rnn')
    one = str(out / 'training_melodies-00001-of-00003.tfrecord')
    dataset.check_compatible(one, encoder, 'mono_rnn')     # one shard of a whole set
    # a run killed after writing two of its three shards (dataset.json comes last)
    os.remove(out / 'training_melodies-00002-of-00003.tfrecord')
    os.remove(out / 'dataset.json')
    for pattern in (every, one):
        message = refusal(lambda: dataset.check_compatible(pattern, encoder, 'mono_rnn'))
        assert 'training_melodies-00002-of-00003.tfrecord is missing' in message
        assert 'incomplete' in message


def test_input_and_output_folders_whose_names_are_not_utf8(tmp_path):
    odd_in = os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), b'in\xfd'))
    odd_out = os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), b'out\xfe'))
    melody_midi(pathlib.Path(odd_in), 'tune.mid', 40)
    # printing a path that is not UTF-8 to a strict stdout would fail after the work
    done = subprocess.run(
        [sys.executable, '-m', 'musekit.pipelines.convert', '--input=' + odd_in,
         '--output=' + os.path.join(odd_out, 'ns')], capture_output=True, timeout=300,
        env=dict(os.environ, PYTHONIOENCODING='utf-8:strict'))
    assert done.returncode == 0, done.stderr.decode('utf-8', 'replace')
    [ns] = sequences(os.path.join(odd_out, 'ns'))
    assert ns.collection_name == 'in\ufffd' and ns.id.startswith('/id/midi/in\ufffd/')
    out = os.path.join(odd_out, 'ds')
    create_dataset.main(['musekit_create_dataset', '--config=mono_rnn', '--eval_ratio=0',
                         '--input=' + os.path.join(odd_out, 'ns*'), '--output_dir=' + out])
    assert json.loads(open(os.path.join(out, 'dataset.json')).read())[
        'counters']['training_melodies'] == 1
    assert not [n for n in os.listdir(out) if n.startswith('.')]


def test_the_audio_job_on_a_full_disk_names_the_path_and_leaves_nothing(tmp_path, small_disk):
    from musekit.errors import MusekitError
    root = tmp_path / 'in'
    for i in range(2):
        write_tone(str(root / ('tone%d.wav' % i)), 300.0 + 100 * i, 20.0, rate=8000)
    with pytest.raises(MusekitError) as raised:
        create_dataset.main(['musekit_create_dataset', '--config=' + config_file(tmp_path),
                             '--input=' + str(root), '--output_dir=' + str(small_disk)])
    message = str(raised.value)
    assert message.startswith('cannot write %s/' % small_disk), message
    assert 'No space left on device' in message and '\n' not in message
    assert os.listdir(small_disk) == []
