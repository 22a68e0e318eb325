"""Tests of musekit.data.sources: listing inputs, bounded reads, parsing MIDI / MusicXML /
ABC into NoteSequences with stable ids, and a BadInput with the right reason for every kind
of broken file."""
import io
import os
import zipfile

import pytest

from music_files import (ABC_GARBAGE, ABC_TUNE_PITCHES, ABC_TWO_TUNES, MIDI_PITCHES,
                         MUSICXML_NOTES, make_midi_bytes, make_mxl_bytes,
                         make_mxl_missing_member_bytes, make_musicxml_bytes,
                         make_raw_midi_bytes, make_truncated_midi_bytes, make_zip_bomb_bytes,
                         make_zip_bytes, make_zip_without_score_bytes, write)
from musekit import limits
from musekit.data import sources
from musekit.errors import MusekitError


def source_for(tmp_path, relpath, data, collection='test'):
    """Writes `data` at tmp_path/relpath; returns its Source."""
    path = write(os.path.join(str(tmp_path), relpath), data)
    return sources.Source(path, relpath, collection)


def parse_file(tmp_path, relpath, data, collection='test'):
    src = source_for(tmp_path, relpath, data, collection)
    return sources.parse(src, sources.read_bounded(src.path))


def parse_error(tmp_path, relpath, data):
    with pytest.raises(sources.BadInput) as info:
        parse_file(tmp_path, relpath, data)
    return info.value


def notes_of(ns):
    return [(n.pitch, round(n.start_time, 6), round(n.end_time, 6))
            for n in sorted(ns.notes, key=lambda n: (n.start_time, n.pitch))]


@pytest.fixture(scope='session')
def zip_bomb_bytes():
    """An .mxl whose score inflates to 100 MiB of zeros (~100 KB on disk)."""
    data = make_zip_bomb_bytes(100 << 20)
    assert len(data) < 1 << 20
    return data


# --- good files -------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['song.mid', 'SONG.MIDI'])
def test_midi_round_trips_pitches(tmp_path, name):
    [ns] = parse_file(tmp_path, name, make_midi_bytes())
    assert [n.pitch for n in sorted(ns.notes, key=lambda n: n.start_time)] == list(MIDI_PITCHES)
    assert [round(n.start_time, 3) for n in sorted(ns.notes, key=lambda n: n.start_time)] == [
        0.0, 0.5, 1.0, 1.5]
    assert all(n.velocity == 80 for n in ns.notes)
    assert ns.id.startswith('/id/midi/test/')


@pytest.mark.parametrize('name', ['score.xml', 'score.musicxml'])
def test_uncompressed_musicxml_gives_expected_notes(tmp_path, name):
    [ns] = parse_file(tmp_path, name, make_musicxml_bytes())
    assert notes_of(ns) == list(MUSICXML_NOTES)
    assert ns.id.startswith('/id/musicxml/test/')


def test_compressed_mxl_gives_expected_notes(tmp_path):
    [ns] = parse_file(tmp_path, 'score.mxl', make_mxl_bytes())
    assert notes_of(ns) == list(MUSICXML_NOTES)


def test_mxl_container_may_point_into_a_subfolder(tmp_path):
    data = make_mxl_bytes(make_musicxml_bytes(notes=(('A', 4, 4),)), score_name='a/b/s.xml')
    [ns] = parse_file(tmp_path, 'score.mxl', data)
    assert notes_of(ns) == [(69, 0.0, 2.0)]


def test_mxl_without_container_uses_its_single_score(tmp_path):
    data = make_zip_bytes({'only.musicxml': make_musicxml_bytes()})
    [ns] = parse_file(tmp_path, 'score.mxl', data)
    assert notes_of(ns) == list(MUSICXML_NOTES)


def test_real_music21_bach_mxl_parses(tmp_path):
    src = sources.list_sources('music21:bach')[0]
    [ns] = sources.parse(src, sources.read_bounded(src.path))
    assert len(ns.notes) > 50
    assert ns.collection_name == 'bach' and ns.filename == src.relpath


def test_abc_with_two_tunes_gives_two_sequences_with_distinct_ids(tmp_path):
    sequences = parse_file(tmp_path, 'tunes.abc', ABC_TWO_TUNES)
    assert len(sequences) == 2
    assert [[n.pitch for n in ns.notes] for ns in sequences] == [list(p)
                                                                 for p in ABC_TUNE_PITCHES]
    ids = [ns.id for ns in sequences]
    assert len(set(ids)) == 2
    assert ids[0].endswith('/0') and ids[1].endswith('/1')
    assert ids[0][:-2] == ids[1][:-2]
    assert all(ns.filename == 'tunes.abc' for ns in sequences)


# --- ids --------------------------------------------------------------------------------

def test_ids_are_stable_and_depend_on_relpath_and_content(tmp_path):
    midi = make_midi_bytes()
    first = parse_file(tmp_path / 'a', 'x/song.mid', midi)[0]
    # Same relpath and bytes under another root: same id, and the same again on a new call.
    again = parse_file(tmp_path / 'b', 'x/song.mid', midi)[0]
    assert again.id == first.id
    assert parse_file(tmp_path / 'a', 'x/song.mid', midi)[0].id == first.id
    other_content = parse_file(tmp_path / 'c', 'x/song.mid', make_midi_bytes(pitches=(61,)))[0]
    other_path = parse_file(tmp_path / 'd', 'y/song.mid', midi)[0]
    assert len({first.id, other_content.id, other_path.id}) == 3


def test_sequence_id_is_a_pure_function():
    src = sources.Source('/any/where/x.mid', 'x.mid', 'col')
    assert sources.sequence_id(src, b'abc') == sources.sequence_id(
        sources.Source('/else/x.mid', 'x.mid', 'col'), b'abc')
    assert sources.sequence_id(src, b'abc') != sources.sequence_id(src, b'abd')
    assert sources.sequence_id(src, b'abc', 0) != sources.sequence_id(src, b'abc', 1)
    assert sources.sequence_id(src, b'abc').startswith('/id/midi/col/')


def test_filename_and_collection_are_set(tmp_path):
    [ns] = parse_file(tmp_path, 'sub/score.xml', make_musicxml_bytes(), collection='mine')
    assert ns.filename == 'sub/score.xml'
    assert ns.collection_name == 'mine'
    assert ns.id.startswith('/id/musicxml/mine/')


# --- bad files --------------------------------------------------------------------------

@pytest.mark.parametrize('relpath, data, reason', [
    ('empty.mid', b'', 'empty_file'),
    ('empty.xml', b'', 'empty_file'),
    ('random.mid', bytes(range(256)) * 4, 'midi_parse_error'),
    ('truncated.mid', make_truncated_midi_bytes(), 'midi_parse_error'),
    ('random.mxl', os.urandom(2048), 'bad_zip'),
    ('not_a_zip.mxl', b'PK\x03\x04' + b'\xff' * 100, 'bad_zip'),
    ('no_score.mxl', make_zip_without_score_bytes(), 'zip_without_score'),
    ('missing_member.mxl', make_mxl_missing_member_bytes(), 'zip_without_score'),
    ('bad_container.mxl', make_zip_bytes({'META-INF/container.xml': b'<not xml',
                                          'score.xml': make_musicxml_bytes()}), 'bad_zip'),
    ('two_scores.mxl', make_zip_bytes({'a.xml': make_musicxml_bytes(),
                                       'b.xml': make_musicxml_bytes()}), 'zip_without_score'),
    ('not_xml.xml', b'this is not xml <<<', 'musicxml_parse_error'),
    ('not_xml.musicxml', b'\x00\x01\x02', 'musicxml_parse_error'),
    ('mxl_with_bad_score.mxl', make_mxl_bytes(b'<score-partwise><oops'),
     'musicxml_parse_error'),
    ('garbage.abc', ABC_GARBAGE, 'abc_parse_error'),
    ('prose.abc', b'hello world, this is not a tune\n', 'abc_parse_error'),
])
def test_bad_input_reasons(tmp_path, relpath, data, reason):
    error = parse_error(tmp_path, relpath, data)
    assert error.reason == reason
    assert reason in str(error)


def test_midi_with_zero_ticks_per_beat_is_bad_input_not_a_crash(tmp_path):
    assert parse_file(tmp_path, 'ok.mid', make_raw_midi_bytes(96))[0].notes  # the control
    error = parse_error(tmp_path, 'zero.mid', make_raw_midi_bytes(0))
    assert error.reason == 'midi_parse_error'


def test_detail_is_short_and_one_line(tmp_path):
    error = parse_error(tmp_path, 'random.mid', os.urandom(4096))
    assert error.detail and '\n' not in error.detail and len(error.detail) < 300


def test_zip_bomb_is_refused(tmp_path, zip_bomb_bytes):
    assert 100 << 20 > limits.MAX_UNZIPPED_BYTES.value()
    error = parse_error(tmp_path, 'bomb.mxl', zip_bomb_bytes)
    assert error.reason == 'zip_too_large'


def test_zip_size_check_uses_declared_sizes_before_inflating(tmp_path, monkeypatch):
    monkeypatch.setenv('MUSEKIT_MAX_UNZIPPED_BYTES', '10000')
    data = make_zip_bomb_bytes(20_000)

    def no_inflating(*args, **kwargs):
        raise AssertionError('a member was opened before the declared sizes were checked')

    monkeypatch.setattr(zipfile.ZipFile, 'open', no_inflating)
    error = parse_error(tmp_path, 'bomb.mxl', data)
    assert error.reason == 'zip_too_large'


def test_zip_that_lies_about_its_size_is_refused(tmp_path, monkeypatch):
    """A member whose header claims a small size but inflates far beyond it."""
    monkeypatch.setenv('MUSEKIT_MAX_UNZIPPED_BYTES', '10000')
    honest = make_zip_bomb_bytes(200_000)
    claimed = 1_000
    lying = bytearray(honest)
    # Rewrite the uncompressed size of score.xml in its local header and central record.
    local = zipfile.ZipFile(io.BytesIO(honest)).getinfo('score.xml').header_offset
    assert lying[local:local + 4] == b'PK\x03\x04'
    lying[local + 22:local + 26] = claimed.to_bytes(4, 'little')
    central = honest.find(b'PK\x01\x02')
    while honest[central + 46:central + 46 + len(b'score.xml')] != b'score.xml':
        central = honest.find(b'PK\x01\x02', central + 4)
        assert central > 0
    lying[central + 24:central + 28] = claimed.to_bytes(4, 'little')
    lying = bytes(lying)
    assert zipfile.ZipFile(io.BytesIO(lying)).getinfo('score.xml').file_size == claimed
    error = parse_error(tmp_path, 'liar.mxl', lying)
    assert error.reason in ('bad_zip', 'zip_too_large')


def test_zip_bomb_under_a_raised_limit_is_accepted_as_zip(tmp_path, monkeypatch):
    """The limit is what refuses it: with room enough, the same kind of archive inflates
    and fails later, as XML (zeros are not MusicXML)."""
    monkeypatch.setenv('MUSEKIT_MAX_UNZIPPED_BYTES', '1M')
    error = parse_error(tmp_path, 'zeros.mxl', make_zip_bomb_bytes(100_000))
    assert error.reason == 'musicxml_parse_error'


def test_file_too_large(tmp_path, monkeypatch):
    src = source_for(tmp_path, 'big.mid', make_midi_bytes())
    size = os.path.getsize(src.path)
    assert sources.read_bounded(src.path, limit=size) == make_midi_bytes()
    with pytest.raises(sources.BadInput) as info:
        sources.read_bounded(src.path, limit=size - 1)
    assert info.value.reason == 'file_too_large'
    # The default limit is MUSEKIT_MAX_FILE_BYTES, read at call time (as the pipeline calls it).
    assert sources.read_bounded(src.path) == make_midi_bytes()
    monkeypatch.setenv('MUSEKIT_MAX_FILE_BYTES', str(size - 1))
    with pytest.raises(sources.BadInput) as info:
        sources.read_bounded(src.path)
    assert info.value.reason == 'file_too_large'
    assert str(size) in info.value.detail


def test_read_bounded_empty_and_missing(tmp_path):
    empty = write(str(tmp_path / 'e.mid'), b'')
    with pytest.raises(sources.BadInput) as info:
        sources.read_bounded(empty)
    assert info.value.reason == 'empty_file'
    with pytest.raises(sources.BadInput) as info:
        sources.read_bounded(str(tmp_path / 'missing.mid'))
    assert info.value.reason == 'unreadable'


# --- list_sources -----------------------------------------------------------------------

def test_list_sources_walks_folder_recursively_sorted_with_unsupported_files(tmp_path):
    root = tmp_path / 'songs'
    for rel in ['b.mid', 'a.abc', 'sub/z.xml', 'sub/deeper/c.mxl', 'README.txt', 'aa/x.mid']:
        write(str(root / rel), b'x')
    listed = sources.list_sources(str(root))
    assert [s.relpath for s in listed] == [
        'README.txt', 'a.abc', 'b.mid', 'aa/x.mid', 'sub/z.xml', 'sub/deeper/c.mxl']
    assert all(s.collection == 'songs' for s in listed)
    assert all(os.path.isfile(s.path) for s in listed)
    assert [sources.is_supported(s.path) for s in listed] == [False] + [True] * 5
    # The same again, and with a trailing slash the same relpaths and collection.
    assert sources.list_sources(str(root)) == listed
    assert [(s.relpath, s.collection) for s in sources.list_sources(str(root) + os.sep)] == [
        (s.relpath, s.collection) for s in listed]


def test_list_sources_single_file_and_glob(tmp_path):
    write(str(tmp_path / 'col' / 'one.mid'), b'x')
    write(str(tmp_path / 'col' / 'two.mid'), b'x')
    write(str(tmp_path / 'col' / 'three.abc'), b'x')
    [single] = sources.list_sources(str(tmp_path / 'col' / 'one.mid'))
    assert (single.relpath, single.collection) == ('one.mid', 'col')
    globbed = sources.list_sources(str(tmp_path / 'col' / '*.mid'))
    assert [s.relpath for s in globbed] == ['one.mid', 'two.mid']


def test_list_sources_glob_without_matches_raises(tmp_path):
    with pytest.raises(MusekitError, match='no input files'):
        sources.list_sources(str(tmp_path / 'nothing' / '*.mid'))
    with pytest.raises(MusekitError):
        sources.list_sources(str(tmp_path / 'does_not_exist'))


def test_list_sources_music21_bach():
    listed = sources.list_sources('music21:bach')
    mxl = [s for s in listed if s.path.endswith('.mxl')]
    assert len(mxl) > 300
    assert all(s.collection == 'bach' for s in listed)
    assert len({s.relpath for s in listed}) == len(listed)
    assert sources.list_sources('music21:bach') == listed


@pytest.mark.parametrize('name', ['nope', '', '../bach'])
def test_list_sources_unknown_music21_collection(name):
    with pytest.raises(MusekitError) as info:
        sources.list_sources('music21:' + name)
    message = str(info.value)
    assert 'unknown music21 corpus collection' in message
    assert 'bach' in message and 'known:' in message
