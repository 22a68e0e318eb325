"""The convert job end to end, in-process on Beam's DirectRunner: good files become sharded
NoteSequence TFRecords, every bad file lands once in the dead-letter file, counters add up,
output is byte-identical run to run, and CLI mistakes are one line on stderr."""
import collections
import glob
import os
import re

import pytest
from note_seq.protobuf import music_pb2

from music_files import make_midi_bytes, make_mixed_folder, make_zip_bomb_bytes, write
from musekit.data import tfrecord
from musekit.data.shards import shard_index
from musekit.pipelines import convert


def convert_main(input_dir, output, *extra):
    convert.main(['musekit_convert', '--input=' + input_dir, '--output=' + output] +
                 list(extra))


def shard_files(output):
    return sorted(glob.glob(output + '-?????-of-?????.tfrecord'))


def read_shards(output):
    """{shard path: [NoteSequence, ...]} of every shard of `output`."""
    return {path: [music_pb2.NoteSequence.FromString(r)
                   for r in tfrecord.read_record_file(path)]
            for path in shard_files(output)}


def read_dead_letters(output):
    with open(output + convert.DEAD_LETTER_SUFFIX, encoding='utf-8') as f:
        text = f.read()
    assert text == '' or text.endswith('\n')
    return [line.split('\t') for line in text.splitlines()]


def file_bytes(paths):
    out = {}
    for path in paths:
        with open(path, 'rb') as f:
            out[os.path.basename(path)] = f.read()
    return out


def printed_counters(text):
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'^  (\w+) +(\d+)$', text, re.MULTILINE)}


@pytest.fixture(scope='module')
def mixed_input(tmp_path_factory):
    """(input folder, {good relpath: n sequences}, {bad relpath: reason})."""
    root = str(tmp_path_factory.mktemp('mixed') / 'songs')
    good, bad = make_mixed_folder(root, make_zip_bomb_bytes(100 << 20))
    return root, good, bad


@pytest.fixture(scope='module')
def converted(mixed_input, tmp_path_factory):
    """The output prefix of one 2-shard run over the mixed folder."""
    output = str(tmp_path_factory.mktemp('converted') / 'out' / 'ns')
    convert_main(mixed_input[0], output, '--num_shards=2')
    return output


def test_shards_hold_exactly_the_good_sequences(mixed_input, converted):
    _, good, _ = mixed_input
    shards = read_shards(converted)
    assert [os.path.basename(p) for p in shards] == ['ns-00000-of-00002.tfrecord',
                                                     'ns-00001-of-00002.tfrecord']
    sequences = [ns for records in shards.values() for ns in records]
    assert collections.Counter(ns.filename for ns in sequences) == good
    ids = [ns.id for ns in sequences]
    assert len(set(ids)) == len(ids) == sum(good.values())
    assert all(ns.collection_name == 'songs' for ns in sequences)
    assert all(ns.notes for ns in sequences)
    by_file = {ns.filename: ns for ns in sequences}
    assert [n.pitch for n in by_file['midi/song.mid'].notes] == [60, 64, 67, 72]
    assert [n.pitch for n in by_file['xml/score.musicxml'].notes] == [60, 64, 67]
    # Each record sits in the shard its id hashes to, and each shard is sorted by id.
    for index, records in enumerate(shards.values()):
        keys = [ns.id for ns in records]
        assert keys == sorted(keys)
        assert all(shard_index(k, 2) == index for k in keys)


def test_dead_letter_lists_every_bad_file_once(mixed_input, converted):
    root, _, bad = mixed_input
    lines = read_dead_letters(converted)
    assert all(len(fields) == 3 for fields in lines)
    listed = collections.Counter(os.path.relpath(path, root).replace(os.sep, '/')
                                 for path, _, _ in lines)
    assert listed == collections.Counter(list(bad))  # each bad file exactly once
    assert {os.path.relpath(path, root): reason for path, reason, _ in lines} == bad
    assert not any('README' in path for path, _, _ in lines)
    assert [fields[0] for fields in lines] == sorted(fields[0] for fields in lines)
    details = {os.path.relpath(path, root): detail for path, _, detail in lines}
    assert details['bad/empty.mid'] == 'the file has 0 bytes'
    assert 'ZeroDivisionError' in details['bad/zero_division.mid']


def test_only_the_final_files_are_left(converted):
    assert sorted(os.listdir(os.path.dirname(converted))) == [
        'ns-00000-of-00002.tfrecord', 'ns-00001-of-00002.tfrecord', 'ns-dead_letter.tsv']


def test_printed_counters_match(mixed_input, tmp_path, capsys):
    root, good, bad = mixed_input
    convert_main(root, str(tmp_path / 'ns'), '--num_shards=2')
    printed = capsys.readouterr().out
    assert 'converting 14 files from %s' % root in printed
    counters = printed_counters(printed)
    expected = {'files_read': len(good) + len(bad),
                'sequences_converted': sum(good.values()),
                'files_skipped_unsupported_extension': 1}
    for reason, count in collections.Counter(bad.values()).items():
        expected['files_failed_' + reason] = count
    assert counters == expected
    assert sum(v for k, v in counters.items() if k.startswith('files_failed_')) == len(bad)


def test_output_is_byte_identical_run_to_run(mixed_input, converted, tmp_path):
    before = file_bytes(shard_files(converted) + [converted + convert.DEAD_LETTER_SUFFIX])
    other = str(tmp_path / 'ns')
    convert_main(mixed_input[0], other, '--num_shards=2')
    assert file_bytes(shard_files(other) + [other + convert.DEAD_LETTER_SUFFIX]) == before
    # Again over the same prefix, with parallel workers: still the same bytes.
    convert_main(mixed_input[0], other, '--num_shards=2', '--direct_num_workers=3',
                 '--direct_running_mode=multi_threading')
    assert file_bytes(shard_files(other) + [other + convert.DEAD_LETTER_SUFFIX]) == before
    assert sorted(os.listdir(tmp_path)) == sorted(before)


def test_rerun_with_fewer_shards_removes_old_shards(mixed_input, tmp_path):
    output = str(tmp_path / 'ns')
    convert_main(mixed_input[0], output, '--num_shards=2')
    two = read_shards(output)
    assert len(two) == 2
    convert_main(mixed_input[0], output, '--num_shards=1')
    one = read_shards(output)
    assert [os.path.basename(p) for p in one] == ['ns-00000-of-00001.tfrecord']
    assert sorted(os.listdir(tmp_path)) == ['ns-00000-of-00001.tfrecord', 'ns-dead_letter.tsv']
    [records] = one.values()
    merged = sorted((ns for rs in two.values() for ns in rs), key=lambda ns: ns.id)
    assert [ns.SerializeToString(deterministic=True) for ns in records] == [
        ns.SerializeToString(deterministic=True) for ns in merged]


def test_rerun_replaces_the_dead_letter_file(mixed_input, tmp_path):
    output = str(tmp_path / 'ns')
    convert_main(mixed_input[0], output, '--num_shards=1')
    assert read_dead_letters(output)
    clean = str(tmp_path / 'clean')
    write(os.path.join(clean, 'a.mid'), make_midi_bytes())
    convert_main(clean, output, '--num_shards=1')
    assert read_dead_letters(output) == []
    [records] = read_shards(output).values()
    assert [ns.filename for ns in records] == ['a.mid']


# --- CLI errors -------------------------------------------------------------------------

@pytest.mark.parametrize('args', [
    ['--output={out}/ns'],                                   # missing --input
    ['--input={src}'],                                       # missing --output
    [],
    ['--input={src}', '--output={out}/ns', '--bogus=1'],
    ['--input={out}/does/not/exist', '--output={out}/ns'],
    ['--input={out}/nothing*.mid', '--output={out}/ns'],
    ['--input=music21:nope', '--output={out}/ns'],
    ['--input={src}', '--output={out}/ns', '--num_shards=0'],
    ['--input={src}', '--output={out}/ns', '--num_shards=two'],
    ['--input={src}', '--output={out}/ns', 'stray'],
    ['--input={empty}', '--output={out}/ns'],               # no music files in the folder
    ['--input={src}', '--output={out}/'],                   # a folder, not a prefix
    ['--input={src}', '--output={src}/ns'],                 # under a file
])
def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys, args):
    src = write(str(tmp_path / 'src' / 'a.mid'), make_midi_bytes())
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'notes.txt').write_text('no music here')
    argv = ['musekit_convert'] + [a.format(src=src, out=str(tmp_path / 'out'), empty=empty)
                                  for a in args]
    with pytest.raises(SystemExit) as info:
        convert.run(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith('musekit_convert: error: ')
    assert 'Traceback' not in err
    assert not os.path.exists(str(tmp_path / 'out' / 'ns-dead_letter.tsv'))


def test_unknown_music21_collection_names_the_known_ones(capsys, tmp_path):
    with pytest.raises(SystemExit):
        convert.run(['musekit_convert', '--input=music21:nope',
                     '--output=%s/ns' % tmp_path])
    err = capsys.readouterr().err
    assert "'nope'" in err and 'bach' in err


def test_failed_run_keeps_earlier_output(mixed_input, converted, tmp_path, capsys):
    """A typo in --input must not delete the previous run's shards."""
    output = str(tmp_path / 'ns')
    convert_main(mixed_input[0], output, '--num_shards=2')
    before = file_bytes(shard_files(output))
    with pytest.raises(SystemExit):
        convert.run(['musekit_convert', '--input=%s/typo' % tmp_path, '--output=' + output])
    assert file_bytes(shard_files(output)) == before


def test_glob_characters_in_the_output_folder_are_literal(mixed_input, tmp_path):
    output = str(tmp_path / 'take [1]' / 'ns')
    convert_main(mixed_input[0], output, '--num_shards=3')
    convert_main(mixed_input[0], output, '--num_shards=2')
    assert sorted(os.listdir(tmp_path / 'take [1]')) == [
        'ns-00000-of-00002.tfrecord', 'ns-00001-of-00002.tfrecord', 'ns-dead_letter.tsv']


def test_help_exits_0_and_lists_flags(capsys):
    with pytest.raises(SystemExit) as info:
        convert.run(['musekit_convert', '--help'])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert '--input' in out and '--output' in out and '--num_shards' in out


def _ids(output):
    return sorted(ns.id for sequences in read_shards(output).values() for ns in sequences)


@pytest.mark.slow
def test_a_single_file_a_glob_and_a_music21_collection(mixed_input, converted, tmp_path):
    root, good, _ = mixed_input
    midi = sorted(p for p in good if p.endswith('.mid'))[0]
    convert_main(os.path.join(root, midi), str(tmp_path / 'one' / 'ns'), '--num_shards=1')
    [one] = _ids(str(tmp_path / 'one' / 'ns'))
    assert one.startswith('/id/midi/')
    convert_main(os.path.join(root, '**', '*.mid'), str(tmp_path / 'glob' / 'ns'))
    assert _ids(str(tmp_path / 'glob' / 'ns')) == [one]    # same relpath and bytes, same id
    dead = read_dead_letters(str(tmp_path / 'glob' / 'ns'))
    assert sorted(os.path.basename(line[0]) for line in dead) == [
        'empty.mid', 'random.mid', 'zero_division.mid']
    convert_main('music21:schumann_clara', str(tmp_path / 'corpus' / 'ns'))
    corpus = _ids(str(tmp_path / 'corpus' / 'ns'))
    assert corpus and all('/schumann_clara/' in i for i in corpus)


@pytest.mark.slow
def test_multi_processing_mode_writes_the_same_bytes(mixed_input, converted, tmp_path):
    output = str(tmp_path / 'mp' / 'ns')
    convert_main(mixed_input[0], output, '--num_shards=2', '--direct_num_workers=2',
                 '--direct_running_mode=multi_processing')
    assert file_bytes(shard_files(output)) == file_bytes(shard_files(converted))
    assert file_bytes([output + convert.DEAD_LETTER_SUFFIX])[
        os.path.basename(output + convert.DEAD_LETTER_SUFFIX)] == \
        open(converted + convert.DEAD_LETTER_SUFFIX, 'rb').read()
