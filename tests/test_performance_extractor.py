"""The performance extractor: Magenta's performance pipeline (sustain, stretch, 30 s pieces,
100 steps per second, transposition, min/max events) against Magenta's own output, and
its rules on hand-made NoteSequences."""
import collections
import glob
import json
import os
import shutil
import sys

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from musekit.config import get_config
from musekit.encoders.base import get_encoder
from musekit.errors import MusekitError
from musekit.extractors.base import get_extractor

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'magenta')
sys.path.insert(0, DATA)
from make_performance_references import (CONFIGS, STRETCHES, TRANSPOSITIONS,  # noqa: E402
                                         digest, read_inputs)

NOTE_ON, NOTE_OFF, TIME_SHIFT, VELOCITY = 1, 2, 3, 4
DYNAMICS = get_encoder('performance_one_hot', {'num_velocity_bins': 32})
PLAIN = get_encoder('performance_one_hot', {})


@pytest.fixture(scope='module')
def reference():
    with open(os.path.join(DATA, 'performance_pipeline.json')) as f:
        return json.load(f)


def run(extractor, sequence, encoder, training=False, transpositions=(0,)):
    """(event sequences, Counter of drops) as the dataset job gets them for one source."""
    stats = collections.Counter()
    pieces, more = extractor.prepare(sequence)
    stats.update(more)
    out = []
    for piece in pieces:
        for augmentation in extractor.augmentations(list(transpositions), training):
            sequences, more = extractor.extract(extractor.augment(piece, augmentation),
                                                encoder)
            stats.update(more)
            out += sequences
    return out, stats


@pytest.mark.parametrize('name', CONFIGS)
def test_every_part_equals_magentas_pipeline(name, reference):
    """Two music21 chorales and four hand-made pieces (sustain pedal, 70 s cut into three,
    velocities, two programs, too short, drums and a pitch a transposition pushes out of
    MIDI): the same encoded sequences (inputs and labels) and the same counters as
    Magenta's pipeline, training part (5 stretches x 7 transpositions) and eval part."""
    config = get_config(name)
    encoder, extractor = config.make_encoder(), config.make_extractor()
    for source, sequence in read_inputs():
        for part in ('training', 'eval'):
            training = part == 'training'
            sequences, stats = run(extractor, sequence, encoder, training,
                                   TRANSPOSITIONS if training else [0])
            expected = reference['%s/%s/%s' % (name, part, source)]
            assert dict(stats) == expected['counters'], (part, source)
            assert sorted(digest(*encoder.encode(s)) for s in sequences) == \
                expected['digests'], (part, source)


def test_the_references_cover_what_they_claim(reference):
    counters = collections.Counter()
    for key, value in reference.items():
        if key.startswith('performance_with_dynamics/training/'):
            counters.update(value['counters'])
    for name in ('performances_truncated', 'performances_discarded_too_short',
                 'performances_discarded_more_than_1_program',
                 'skipped_due_to_range_exceeded'):
        assert counters[name] > 0, name
    assert len(reference['performance_with_dynamics/training/pedal']['digests']) == 3 * 35


def sequence(notes, pedal=(), total=None):
    """notes: (pitch, start s, end s, velocity); pedal: (on s, off s) of CC 64."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    for pitch, start, end, velocity in notes:
        ns.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=velocity)
    for on, off in pedal:
        ns.control_changes.add(time=on, control_number=64, control_value=127)
        ns.control_changes.add(time=off, control_number=64, control_value=0)
    ns.total_time = total or max(n.end_time for n in ns.notes)
    return ns


def test_hand_worked_events_with_velocity_bins():
    extractor = get_extractor('performance', {'min_events': 2})
    ns = sequence([(60, 0.0, 0.5, 1), (64, 0.25, 1.5, 127), (67, 0.25, 0.26, 100)])
    (events,), stats = run(extractor, ns, DYNAMICS)
    # bins of 4 velocities: 1 -> 1, 127 -> 32, 100 -> 25
    assert events == [(VELOCITY, 1), (NOTE_ON, 60), (TIME_SHIFT, 25), (VELOCITY, 32),
                      (NOTE_ON, 64), (VELOCITY, 25), (NOTE_ON, 67), (TIME_SHIFT, 1),
                      (NOTE_OFF, 67), (TIME_SHIFT, 24), (NOTE_OFF, 60), (TIME_SHIFT, 100),
                      (NOTE_OFF, 64)]
    assert stats == {'transpositions_generated': 1}
    (events,), _ = run(extractor, ns, PLAIN)
    assert VELOCITY not in {kind for kind, _ in events}


def test_the_sustain_pedal_holds_notes_until_it_is_released():
    ns = sequence([(60, 0.0, 0.5, 80), (62, 3.0, 3.1, 80)], pedal=[(0.2, 2.0)])
    (held,), _ = run(get_extractor('performance', {'min_events': 2}), ns, PLAIN)
    assert held[:4] == [(NOTE_ON, 60), (TIME_SHIFT, 100), (TIME_SHIFT, 100), (NOTE_OFF, 60)]
    (plain,), _ = run(get_extractor('performance', {'min_events': 2, 'sustain': False}), ns,
                      PLAIN)
    assert plain[:3] == [(NOTE_ON, 60), (TIME_SHIFT, 50), (NOTE_OFF, 60)]


def test_long_sources_are_cut_every_30_seconds():
    # a note every second for 70 s, one held across the cut at 30 s
    notes = [(60 + i % 12, float(i), i + 0.5, 80) for i in range(70)] + [(40, 29.0, 31.0, 80)]
    pieces, _ = run(get_extractor('performance', {'min_events': 2}), sequence(notes), PLAIN)
    assert len(pieces) == 3
    # each piece starts at its own time 0 with its first note (at 0, 30 and 60 s)
    assert [events[0] for events in pieces] == [(NOTE_ON, 60), (NOTE_ON, 66), (NOTE_ON, 60)]
    # the held note ends where its piece ends and does not go on in the next
    first = pieces[0]
    assert sum(v for k, v in first if k == TIME_SHIFT) == 3000
    assert first[-1] == (NOTE_OFF, 40)
    assert (NOTE_ON, 40) not in pieces[1] and (NOTE_OFF, 40) not in pieces[1]


def test_max_events_cut_min_events_drop_and_programs():
    notes = [(60, i * 0.1, i * 0.1 + 0.05, 80) for i in range(100)]
    extractor = get_extractor('performance', {'min_events': 10, 'max_events': 50})
    (events,), stats = run(extractor, sequence(notes), PLAIN)
    assert len(events) == 50 and stats['performances_truncated'] == 1
    short = get_extractor('performance', {'min_events': 400})
    assert run(short, sequence(notes), PLAIN) == ([], {'transpositions_generated': 1,
                                                      'performances_discarded_too_short': 1})
    ns = sequence(notes)
    ns.notes[3].program = 5
    _, stats = run(extractor, ns, PLAIN)
    assert stats['performances_discarded_more_than_1_program'] == 1


def test_augmentations_are_every_stretch_by_every_transposition_on_training_only():
    extractor = get_extractor('performance')
    got = extractor.augmentations([-1, 0, 1], True)
    assert got == [(s, t) for s in STRETCHES for t in (-1, 0, 1)]
    assert extractor.augmentations([0], False) == [(1.0, 0)]
    # the generic default (other families) is unchanged: the transpositions themselves
    assert get_extractor('melody').augmentations([-1, 0, 1], True) == [-1, 0, 1]


def test_a_stretch_scales_time_and_a_transposition_moves_pitched_notes_only():
    extractor = get_extractor('performance', {'min_events': 2})
    ns = sequence([(60, 0.0, 1.0, 80), (62, 1.0, 2.0, 80)])
    ns.notes.add(pitch=36, start_time=0.0, end_time=0.5, velocity=80, is_drum=True)
    piece, = extractor.prepare(ns)[0]
    (slow,), _ = extractor.extract(extractor.augment(piece, (1.05, 2)), PLAIN)
    assert sum(v for k, v in slow if k == TIME_SHIFT) == 210
    assert {v for k, v in slow if k == NOTE_ON} == {36, 62, 64}
    (same,), _ = extractor.extract(extractor.augment(piece, 0), PLAIN)   # a bare int
    assert {v for k, v in same if k == NOTE_ON} == {36, 60, 62}
    _, stats = extractor.extract(extractor.augment(piece, (1.0, 70)), PLAIN)
    assert stats == {'skipped_due_to_range_exceeded': 1}


def test_conditioned_encoders_get_measured_controls_and_optional_ones_two_copies():
    notes = [(60 + i % 5, i * 0.25, i * 0.25 + 0.2, 80) for i in range(40)]
    extractor = get_extractor('performance')
    optional = get_config('optional_multiconditioned_performance_with_dynamics').make_encoder()
    (on, off), _ = run(extractor, sequence(notes), optional)
    assert [e[:2] for e in on] == [e[:2] for e in off]
    assert {e[2] for e in off} == {None}
    density, histogram = on[0][2]
    # event 0 carries the control measured at event 1 (a NOTE_ON at step 0): 4 notes/s
    assert density == pytest.approx(4.0) and len(histogram) == 12


def test_hostile_notes_are_counted_not_fatal():
    extractor = get_extractor('performance', {'min_events': 2})
    drum = sequence([(60, 0.0, 1.0, 80)])
    drum.notes.add(pitch=200, start_time=0.0, end_time=0.5, velocity=80, is_drum=True)
    assert run(extractor, drum, PLAIN)[1]['performances_discarded_pitch_outside_midi'] == 1
    silent = sequence([(60, 0.0, 1.0, 0)])
    assert run(extractor, silent, DYNAMICS)[1][
        'performances_discarded_velocity_outside_midi'] == 1
    assert len(run(extractor, silent, PLAIN)[0]) == 1       # no bins: velocity unused


def test_a_source_too_long_to_quantize_is_counted(monkeypatch):
    monkeypatch.setenv('MUSEKIT_MAX_QUANTIZED_STEPS', '1000')
    pieces, stats = run(get_extractor('performance'), sequence([(60, 0.0, 20.0, 80)]), PLAIN)
    assert pieces == [] and stats == {'sequences_discarded_too_long_to_quantize': 1}


def test_bad_parameters_and_encoders_are_one_line():
    with pytest.raises(MusekitError, match='max_events must be >= min_events'):
        get_extractor('performance', {'min_events': 100, 'max_events': 10})
    with pytest.raises(MusekitError, match='stretch_factors'):
        get_extractor('performance', {'stretch_factors': [0.0]})
    melody = get_encoder('one_hot_melody', {})
    extractor = get_extractor('performance')
    piece, = extractor.prepare(sequence([(60, 0.0, 1.0, 80)]))[0]
    with pytest.raises(MusekitError, match='needs a performance encoder'):
        extractor.extract(extractor.augment(piece, 0), melody)


def test_create_dataset_on_chorales_writes_magentas_training_examples(tmp_path, capsys,
                                                                       reference):
    """musekit_create_dataset --config=performance_with_dynamics on two music21 chorales
    writes exactly the examples Magenta's pipeline makes of them: the config's own
    transposition (-3..3, Magenta's) applies without --transpose_range."""
    from musekit.data import example, sources, tfrecord
    from musekit.pipelines import create_dataset
    folder = tmp_path / 'chorales'
    folder.mkdir()
    corpus = sources.music21_corpus_dir('bach')
    for name in ('bwv66.6.mxl', 'bwv10.7.mxl'):
        shutil.copy(os.path.join(corpus, name), folder / name)
    out = str(tmp_path / 'ds')
    create_dataset.main(['musekit_create_dataset', '--config=performance_with_dynamics',
                         '--input=%s' % folder, '--output_dir=' + out, '--eval_ratio=0'])
    printed = capsys.readouterr().out
    records = [example.parse_sequence_example(r) for f in sorted(glob.glob(
        os.path.join(out, 'training_performances-*.tfrecord'))) for r in
        tfrecord.read_record_file(f)]
    expected = sorted(reference['performance_with_dynamics/training/%s' % name]['digests']
                      for name in ('bwv66.6.mxl', 'bwv10.7.mxl'))
    assert sorted(digest(i, l) for i, l in records) == sorted(sum(expected, []))
    assert '105 training and 0 eval performances' in printed
    with open(os.path.join(out, 'dataset.json')) as f:
        description = json.load(f)
    counters = description['counters']
    assert counters['transpositions_generated'] == 105
    assert description['transpose_range'] == '-3,3'
    # an empty --transpose_range turns the config's augmentation off
    plain = str(tmp_path / 'plain')
    create_dataset.main(['musekit_create_dataset', '--config=performance_with_dynamics',
                         '--input=%s' % folder, '--output_dir=' + plain, '--eval_ratio=0',
                         '--transpose_range='])
    with open(os.path.join(plain, 'dataset.json')) as f:
        description = json.load(f)
    assert description['transpose_range'] is None
    assert description['counters']['transpositions_generated'] == 105 // 7
    assert np.all([i.shape[1] == 388 for i, _ in records])
