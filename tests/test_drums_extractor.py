"""The drums extractor: Magenta's drum track rules on drum MIDI the tests write.

Checked three ways: against Magenta's own pipeline stages (TimeChangeSplitter, Quantizer,
DrumsExtractor) on 40 generated files (tests/data/magenta/drums_pipeline.json, made as its
README says), against note_seq's DrumTrack.from_quantized_sequence driven as Magenta's
extract_drum_tracks drives it on hand-made pieces (patterns, fills, gaps, meters, tempo
changes, no drums), and through a real musekit_create_dataset run."""
import collections
import glob
import hashlib
import importlib.util
import io
import json
import os

import numpy as np
import pretty_midi
import pytest
from note_seq import DrumTrack, midi_io, sequences_lib

from musekit.config import get_config
from musekit.encoders.drums import NO_HITS
from musekit.extractors.drums import DrumExtractor, drum_tracks, hits_by_step, length_bucket

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'magenta')
KICK, SNARE, HAT, TOM, CRASH = 36, 38, 42, 45, 49


def reference_script():
    """tests/data/magenta/make_drum_references.py as a module (its MIDI generator)."""
    spec = importlib.util.spec_from_file_location(
        'make_drum_references', os.path.join(DATA, 'make_drum_references.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def track_digest(events):
    text = json.dumps([sorted(event) for event in events], separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()


def magenta_stat_name(name):
    """musekit's counter name for a Magenta one (its stage prefix removed, a histogram
    bucket 'name@lower' as musekit names the bucket)."""
    name = name.split('_', 1)[1] if name.startswith(('DrumsExtractor_', 'Quantizer_')) \
        else name
    if '@' in name:
        stat, lower = name.split('@')
        return '%s_%s' % (stat, length_bucket(int(lower), [0, 1, 3, 6, 7, 8, 10, 20, 30, 40,
                                                           50, 100, 200, 500]))
    return name


def musekit_extraction(config, sequence):
    """(tracks, counters) of musekit's extractor for `config` on one NoteSequence."""
    extractor, encoder = config.make_extractor(), config.make_encoder()
    pieces, stats = extractor.prepare(sequence)
    tracks = []
    for piece in pieces:
        found, more = extractor.extract(piece, encoder)
        tracks += found
        stats.update(more)
    return tracks, stats


@pytest.fixture(scope='module')
def generated_files():
    """The 40 drum MIDI files of make_drum_references.py, as NoteSequences (by name)."""
    script = reference_script()
    rng = np.random.default_rng(27)
    files = {}
    for i in range(40):
        data = io.BytesIO()
        script.drum_midi(rng, i).write(data)        # as the files Magenta read: MIDI ticks
        files['drums_%02d.mid' % i] = midi_io.midi_to_note_sequence(data.getvalue())
    return files


@pytest.mark.parametrize('name', ['drum_kit', 'one_drum'])
def test_extraction_equals_magentas_pipeline(generated_files, name):
    with open(os.path.join(DATA, 'drums_pipeline.json')) as f:
        reference = json.load(f)[name]
    config = get_config(name)
    kept = 0
    for record in reference:
        tracks, stats = musekit_extraction(config, generated_files[record['file']])
        assert [track_digest(t) for t in tracks] == record['tracks'], record['file']
        assert [len(t) for t in tracks] == record['lengths']
        assert dict(stats) == {magenta_stat_name(k): v for k, v in record['stats'].items()}, \
            record['file']
        kept += len(tracks)
    assert kept == {'drum_kit': 48, 'one_drum': 49}[name]


# --- hand-made pieces against note_seq's DrumTrack ---------------------------------------

def note_seq_tracks(quantized, min_bars=7, max_steps=512, gap_bars=1.0, pad_end=False,
                    ignore_is_drum=False):
    """(tracks, counters) the way Magenta's extract_drum_tracks gets them from note_seq."""
    steps_per_bar = int(sequences_lib.steps_per_bar_in_quantized_sequence(quantized))
    tracks, stats, start = [], collections.Counter(), 0
    while True:
        track = DrumTrack()
        track.from_quantized_sequence(quantized, search_start_step=start, gap_bars=gap_bars,
                                      pad_end=pad_end, ignore_is_drum=ignore_is_drum)
        start = track.end_step + (start - track.end_step) % steps_per_bar
        if not track:
            return tracks, stats
        if len(track) < steps_per_bar * min_bars:
            stats['drum_tracks_discarded_too_short'] += 1
            continue
        if len(track) > max_steps:
            track.set_length(max_steps - (max_steps % steps_per_bar if pad_end else 0))
            stats['drum_tracks_truncated'] += 1
        tracks.append(list(track))


def drum_piece(bars, numerator=4, denominator=4, qpm=120.0, gaps=(), fills=(), seed=0,
               start_bar=0, piano=False, ghost_velocity_zero=False, second_kit=False):
    """A pretty_midi drum part (is_drum): a kick/snare/hat pattern, tom fills in `fills`
    bars, silent bars in `gaps`, a crash on each part's first bar; with `second_kit` a
    second is_drum part (a shaker, a cowbell and the same kicks, some in the gaps)."""
    rng = np.random.default_rng(seed)
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, 0))
    drums = pretty_midi.Instrument(0, is_drum=True)
    step = 60.0 / qpm / 4
    steps_per_bar = numerator * 16 // denominator
    for bar in range(start_bar, start_bar + bars):
        if bar in gaps:
            continue
        for s in range(steps_per_bar):
            hits = []
            if bar in fills and s >= steps_per_bar // 2:
                hits = [TOM + (s % 3)]
            else:
                hits += [HAT] if s % 2 == 0 else []
                hits += [KICK] if s % 8 == 0 else []
                hits += [SNARE] if s % 8 == 4 else []
            if s == 0 and (bar == start_bar or bar - 1 in gaps):
                hits.append(CRASH)
            if rng.random() < 0.1:
                hits.append(int(rng.choice([37, 40, 100])))
            t = (bar * steps_per_bar + s) * step
            for pitch in hits:
                drums.notes.append(pretty_midi.Note(90, pitch, t, t + step / 2))
            if ghost_velocity_zero and s == 3:
                drums.notes.append(pretty_midi.Note(0, 81, t, t + step / 2))
    midi.instruments.append(drums)
    if second_kit:
        percussion = pretty_midi.Instrument(0, is_drum=True)
        for s in range(0, bars * steps_per_bar, 3):
            t = (start_bar * steps_per_bar + s) * step
            for pitch in ((82, 36) if s % 2 else (56,)):
                percussion.notes.append(pretty_midi.Note(80, pitch, t, t + step))
        midi.instruments.append(percussion)
    if piano:
        keys = pretty_midi.Instrument(0)
        for k in range(bars):
            keys.notes.append(pretty_midi.Note(70, 60 + k % 12, k * 2.0, k * 2.0 + 1.0))
        midi.instruments.append(keys)
    return midi_io.midi_to_note_sequence(midi)


HAND_MADE = {
    'plain 4/4': dict(bars=12),
    'fills and a one-bar gap': dict(bars=20, gaps=(6,), fills=(3, 11, 15)),
    'two-bar gap splits it': dict(bars=24, gaps=(8, 9), fills=(4,)),
    'short parts dropped': dict(bars=16, gaps=(3, 4, 9, 10)),
    'late start': dict(bars=10, start_bar=3),
    'long, truncated': dict(bars=40, seed=3),
    '3/4': dict(bars=14, numerator=3, gaps=(5, 6)),
    '6/8': dict(bars=12, numerator=6, denominator=8, fills=(2,)),
    '5/4 with a piano': dict(bars=9, numerator=5, piano=True),
    'zero-velocity notes': dict(bars=8, ghost_velocity_zero=True),
    'two drum parts': dict(bars=12, gaps=(4, 5), second_kit=True),
}


@pytest.mark.parametrize('case', HAND_MADE)
@pytest.mark.parametrize('steps_per_quarter, min_bars, max_steps, gap_bars, pad_end', [
    (4, 7, 512, 1.0, False), (2, 7, 512, 1.0, False), (4, 2, 100, 2.0, True),
    (4, 0, 64, 0.5, False), (1, 1, 512, float('inf'), True)])
def test_hand_made_pieces_equal_note_seqs_drum_tracks(case, steps_per_quarter, min_bars,
                                                      max_steps, gap_bars, pad_end):
    sequence = drum_piece(**HAND_MADE[case])
    extractor = DrumExtractor(steps_per_quarter=steps_per_quarter, min_bars=min_bars,
                              max_steps=max_steps, gap_bars=gap_bars, pad_end=pad_end)
    encoder = get_config('drum_kit').make_encoder()
    pieces, stats = extractor.prepare(sequence)
    assert len(pieces) == 1 and not stats
    tracks, stats = extractor.extract(pieces[0], encoder)
    expected, expected_stats = note_seq_tracks(pieces[0], min_bars, max_steps, gap_bars,
                                               pad_end)
    assert tracks == expected
    assert {k: v for k, v in stats.items() if 'lengths' not in k} == dict(expected_stats)
    assert sum(v for k, v in stats.items() if 'lengths' in k) == len(tracks)
    assert all(type(e) is frozenset for track in tracks for e in track)
    assert all(len(track) % (steps_per_quarter * 4 * HAND_MADE[case].get('numerator', 4)
                             // HAND_MADE[case].get('denominator', 4)) == 0
               for track in tracks) or not pad_end


def test_the_rules_by_hand():
    hits = {0: frozenset([36]), 4: frozenset([38]), 20: frozenset([42]), 37: frozenset([36]),
            70: frozenset([49])}
    # steps 4 -> 20 is a gap of 15 < 16: one track; 20 -> 37 is 16: a new track on bar 2
    tracks = drum_tracks(hits, 16)
    assert [(start, len(events)) for start, events in tracks] == [(0, 21), (32, 6), (64, 7)]
    assert tracks[1][1] == [NO_HITS] * 5 + [frozenset([36])]
    assert [len(e) for _, e in drum_tracks(hits, 16, pad_end=True)] == [32, 16, 16]
    assert len(drum_tracks(hits, 16, gap_bars=float('inf'))) == 1
    # a search that starts mid-bar keeps its own bar grid
    assert [(s, len(e)) for s, e in drum_tracks(hits, 16, search_start_step=2)] == [
        (2, 19), (34, 4), (66, 5)]


def test_pieces_without_drums_are_skipped_and_counted():
    sequence = drum_piece(bars=8)
    for note in sequence.notes:
        note.is_drum = False
    extractor = get_config('drum_kit').make_extractor()
    assert extractor.prepare(sequence) == ([], {'sequences_without_drums': 1})
    # unless every note is taken as a drum hit
    taking_all = DrumExtractor(ignore_is_drum=True, min_bars=1)
    pieces, _ = taking_all.prepare(sequence)
    tracks, _ = taking_all.extract(pieces[0], get_config('drum_kit').make_encoder())
    assert len(tracks) == 1 and tracks[0][0] == frozenset([KICK, HAT, CRASH])
    assert hits_by_step(pieces[0]) == {}


def test_time_changes_split_and_bad_meters_are_counted():
    sequence = drum_piece(bars=20)
    sequence.tempos.add(qpm=90, time=8 * 2.0)       # bar 8 at 120 qpm
    extractor = DrumExtractor(min_bars=4)
    pieces, stats = extractor.prepare(sequence)
    assert len(pieces) == 2 and not stats
    assert [len(extractor.extract(p, get_config('drum_kit').make_encoder())[0])
            for p in pieces] == [1, 1]
    # 5/16 at two steps a quarter: 2.5 steps a bar (Magenta's non_integer_steps_per_bar)
    odd = drum_piece(bars=8, numerator=5, denominator=16)
    extractor = DrumExtractor(steps_per_quarter=2, min_bars=1)
    pieces, _ = extractor.prepare(odd)
    assert extractor.extract(pieces[0], get_config('drum_kit').make_encoder()) == (
        [], {'non_integer_steps_per_bar': 1})


def test_unknown_drums_drop_a_track_when_the_encoder_refuses_them():
    from musekit.encoders.drums import OneHotDrumEncoder
    sequence = drum_piece(bars=8, seed=1)           # a few pitch-100 hits
    extractor = DrumExtractor(min_bars=1)
    pieces, _ = extractor.prepare(sequence)
    assert len(extractor.extract(pieces[0], OneHotDrumEncoder())[0]) == 1
    assert extractor.extract(pieces[0], OneHotDrumEncoder(ignore_unknown_drums=False)) == (
        [], {'drum_tracks_discarded_unknown_drums': 1,
             'drum_track_lengths_in_bars_2_to_9': 1})


def test_drums_are_not_transposed():
    from musekit.errors import MusekitError
    extractor = get_config('drum_kit').make_extractor()
    extractor.check_augmentation([0])
    with pytest.raises(MusekitError, match="extractor 'drums' cannot transpose"):
        extractor.check_augmentation([-1, 0, 1])


def test_musekit_create_dataset_on_drum_midi(generated_files, tmp_path, capsys):
    """A real musekit_create_dataset --config=drum_kit run on a folder of drum MIDI (and
    one file without drums): every track Magenta extracts is written, encoded."""
    from musekit.data import example, tfrecord
    from musekit.pipelines import create_dataset
    folder = tmp_path / 'midi'
    folder.mkdir()
    script = reference_script()
    rng = np.random.default_rng(27)
    names = []
    for i in range(6):
        midi = script.drum_midi(rng, i)
        names.append('drums_%02d.mid' % i)
        midi.write(str(folder / names[-1]))
    piano = pretty_midi.PrettyMIDI()
    piano.instruments.append(pretty_midi.Instrument(0))
    piano.instruments[0].notes.append(pretty_midi.Note(80, 60, 0, 1))
    piano.write(str(folder / 'piano.mid'))
    out = str(tmp_path / 'ds')
    create_dataset.main(['musekit_create_dataset', '--config=drum_kit', '--input=%s' % folder,
                         '--output_dir=' + out, '--eval_ratio=0'])
    printed = capsys.readouterr().out
    with open(os.path.join(DATA, 'drums_pipeline.json')) as f:
        reference = {r['file']: r for r in json.load(f)['drum_kit']}
    expected = [d for name in names for d in reference[name]['tracks']]
    assert '%d training and 0 eval drum_tracks' % len(expected) in printed
    encoder = get_config('drum_kit').make_encoder()
    written = []
    for path in sorted(glob.glob(os.path.join(out, 'training_drum_tracks-*.tfrecord'))):
        for record in tfrecord.read_record_file(path):
            inputs, labels = example.parse_sequence_example(record)
            assert inputs.shape[1] == 518 and np.all(inputs[:, :512].sum(1) == 1)
            classes = np.concatenate([inputs[:1, :512].argmax(1), labels])
            np.testing.assert_array_equal(inputs[:, :512].argmax(1), classes[:-1])
            written.append(tuple(classes))
    digests = {}
    for name in names:
        for track in musekit_extraction(get_config('drum_kit'),
                                        generated_files[name])[0]:
            digests[track_digest(track)] = tuple(encoder.event_class(e) for e in track)
    assert sorted(written) == sorted(digests[d] for d in expected)
    with open(os.path.join(out, 'dataset.json')) as f:
        counters = json.load(f)['counters']
    assert counters['sequences_without_drums'] == 1
    magentas = collections.Counter()
    for name in names:
        magentas.update({magenta_stat_name(k): v for k, v in reference[name]['stats'].items()})
    assert len(magentas) >= 3 and {k: counters.get(k) for k in magentas} == dict(magentas)
