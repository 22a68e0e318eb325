"""The shard writer's parts without a pipeline: shard names, which shard a key goes to, the
order inside a shard, atomic replacement of an earlier run's file, and stale-shard removal
(names holding glob characters included)."""
import os

import pytest

from musekit.data import shards, tfrecord
from musekit.errors import MusekitError


def test_shard_paths_number_every_shard_of_the_total():
    assert shards.shard_paths('out/ns', 3, '.tfrecord') == [
        'out/ns-00000-of-00003.tfrecord', 'out/ns-00001-of-00003.tfrecord',
        'out/ns-00002-of-00003.tfrecord']
    assert shards.shard_paths('x', 1, '') == ['x-00000-of-00001']


def test_shard_index_is_the_sha256_fraction_of_the_key_times_the_shard_count():
    # sha256('a') begins ca978112ca1bbdca: 0xca978112ca1bbdca / 2**64 = 0.79137...
    assert [shards.shard_index('a', n) for n in (1, 2, 3, 10, 100)] == [0, 1, 2, 7, 79]
    # sha256('d') begins 18ac3e7343f01689: 0.0963...
    assert [shards.shard_index('d', n) for n in (2, 10, 11, 100)] == [0, 0, 1, 9]
    keys = ['/id/midi/bach/%d' % i for i in range(400)]
    counts = [sum(shards.shard_index(k, 4) == s for k in keys) for s in range(4)]
    assert min(counts) > 70, counts             # every shard gets its share


def test_shard_records_sorts_by_key_and_drops_the_every_shard_marker():
    keyed = [('b', b'2'), None, ('a', b'1'), ('c', b'3')]
    assert list(shards.shard_records(keyed)) == [b'1', b'2', b'3']
    expand = lambda key, value: [key.encode() + value, value * 2]  # noqa: E731
    assert list(shards.shard_records(keyed, expand)) == [b'a1', b'11', b'b2', b'22',
                                                          b'c3', b'33']
    assert list(shards.shard_records([None])) == []


def test_escape_glob_and_absolute():
    assert shards.escape_glob('a[b]*c?d') == 'a[[]b][*]c[?]d'
    assert shards.escape_glob('plain/name.tfrecord') == 'plain/name.tfrecord'
    assert shards.absolute('gs://bucket/ns') == 'gs://bucket/ns'
    assert shards.absolute('rel/ns') == os.path.join(os.getcwd(), 'rel', 'ns')


def test_check_output_location(tmp_path):
    shards.check_output_location(str(tmp_path / 'new' / 'deeper' / 'ns'), '--output')
    shards.check_output_location('gs://bucket/', '--output')   # not checked: a URL
    with pytest.raises(MusekitError) as e:
        shards.check_output_location(str(tmp_path) + '/', '--output')
    assert str(e.value) == ('--output %s/ ends in a slash: give a file prefix such as %s/bach'
                            % (tmp_path, tmp_path))
    (tmp_path / 'afile').write_text('x')
    with pytest.raises(MusekitError) as e:
        shards.check_output_location(str(tmp_path / 'afile' / 'sub' / 'ns'), '--out')
    assert str(e.value) == '--out %s: %s is a file, not a folder' % (
        tmp_path / 'afile' / 'sub' / 'ns', tmp_path / 'afile')


def test_write_shard_writes_tfrecords_and_replaces_the_old_file(tmp_path):
    path = str(tmp_path / 'ns-00000-of-00001.tfrecord')
    with open(path, 'wb') as f:
        f.write(b'an earlier run, longer than the new one' * 100)
    assert shards.write_shard(path, iter([b'one', b'', b'three'])) == path
    with open(path, 'rb') as f:
        assert f.read() == b''.join(tfrecord.encode_record(r) for r in (b'one', b'', b'three'))
    assert os.listdir(tmp_path) == ['ns-00000-of-00001.tfrecord']    # no temporary left


def test_write_shard_as_text_writes_utf8_lines(tmp_path):
    path = str(tmp_path / 'dead[1]')
    shards.write_shard(path, ['a.mid: not a MIDI file', 'é.abc: empty'], as_text=True)
    with open(path, 'rb') as f:
        assert f.read() == 'a.mid: not a MIDI file\né.abc: empty\n'.encode('utf-8')


def test_remove_stale_shards_removes_exactly_that_prefix_and_suffix(tmp_path):
    folder = tmp_path / 'runs [1]*'
    folder.mkdir()
    stale = ['ns-00000-of-00003.tfrecord', 'ns-00002-of-00003.tfrecord']
    kept = ['ns-00000-of-00003.tfrecord.bak', 'nsx-00000-of-00001.tfrecord',
            'other-00000-of-00001.tfrecord', 'ns-0000-of-00001.tfrecord', 'ns_dead_letters']
    for name in stale + kept:
        (folder / name).write_bytes(b'x')
    shards.remove_stale_shards(str(folder / 'ns'), '.tfrecord')
    assert sorted(os.listdir(folder)) == sorted(kept)
    shards.remove_stale_shards(str(folder / 'ns'), '.tfrecord')     # nothing left: no error


def test_delete_files_deletes_names_holding_glob_characters_literally(tmp_path):
    for name in ('a*', 'ab', 'a?', 'a[b]', 'ab]'):
        (tmp_path / name).write_bytes(b'x')
    shards.delete_files([str(tmp_path / 'a*'), str(tmp_path / 'a[b]')])
    assert sorted(os.listdir(tmp_path)) == ['a?', 'ab', 'ab]']


def test_escape_glob_leaves_other_characters_alone():
    assert shards.escape_glob('XaX]') == 'XaX]'


def test_write_shard_writes_under_a_hidden_name_in_the_same_folder(tmp_path):
    path = str(tmp_path / 'ns-00000-of-00001.tfrecord')
    seen = []

    def records():
        seen.append(sorted(os.listdir(tmp_path)))
        yield b'one'
    shards.write_shard(path, records())
    assert seen == [['.ns-00000-of-00001.tfrecord.tmp-%d' % os.getpid()]]
    assert os.listdir(tmp_path) == ['ns-00000-of-00001.tfrecord']


# --- splits ----------------------------------------------------------------------------
def test_hash_split_accepts_both_ends_of_its_range():
    from musekit.data.splits import HashSplit
    assert HashSplit(0).eval_ratio == 0.0 and HashSplit(0).assign('a') == 'training'
    assert HashSplit(1.0).eval_ratio == 1.0 and HashSplit(1.0).assign('a') == 'eval'
    for bad in (-0.01, 1.01, True, '0.5'):
        with pytest.raises(MusekitError) as e:
            HashSplit(bad)
        assert str(e.value) == ("parameter eval_ratio=%r of split 'hash': expected float "
                                '>= 0.0, <= 1.0' % (bad,))
