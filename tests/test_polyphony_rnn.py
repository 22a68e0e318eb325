"""Polyphony RNN (Magenta's polyphony_rnn): the one-hot encoding, the extractor, event
streams to notes, and generation, each equal to what Magenta 2.1.4's own code gives (the
references in tests/data/magenta/polyphony_*, made as their README says), plus hand-worked
cases, bad primers and musekit_generate end to end."""
import base64
import hashlib
import json
import os

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from musekit.config import get_config
from musekit.encoders.polyphonic_events import (
    END_EVENT, NUM_CLASSES, START_EVENT, STEP_END_EVENT, PolyphonyOneHotEncoder, check_event,
    class_event, continued_note, event_class, events_to_notes, new_note, notes_to_events,
    step_count, with_length)
from musekit.errors import MusekitError
from musekit.extractors.polyphonic_events import length_bucket, polyphonic_events
from musekit.generation import generate
from musekit.models.base import StepModel
from musekit.output.midi import write_midi
from musekit.output.notes import Note
from musekit.pieces.polyphonic_events import PolyphonicEventsPiece
from musekit.testing import check_encoder

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'magenta')
ENCODER = PolyphonyOneHotEncoder()
S, E, X = START_EVENT, END_EVENT, STEP_END_EVENT


def load_json(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


def pairs(events):
    """Events as JSON's [kind, pitch] lists (the references' form)."""
    return [[kind, pitch] for kind, pitch in events]


def digest(events):
    return hashlib.sha256(json.dumps(pairs(events), separators=(',', ':')).encode()).hexdigest()


@pytest.fixture(scope='module')
def extraction():
    return load_json('polyphony_extraction.json')


@pytest.fixture(scope='module')
def config():
    return get_config('polyphony')


# --- the encoding -----------------------------------------------------------------------

def test_classes_are_magentas_layout_by_hand():
    assert NUM_CLASSES == 259
    assert [event_class(e) for e in (S, E, X)] == [0, 1, 2]
    assert event_class(new_note(0)) == 3 and event_class(new_note(127)) == 130
    assert event_class(continued_note(0)) == 131 and event_class(continued_note(60)) == 191
    assert [class_event(c) for c in (0, 2, 63, 258)] == [S, X, new_note(60),
                                                          continued_note(127)]


def test_encoding_equals_magentas_encoder_decoder():
    """Inputs (one-hot) and labels of Magenta's OneHotEventSequenceEncoderDecoder(
    PolyphonyOneHotEncoding()) on two chorale streams and eleven random ones (with START
    and END in the middle, continued notes of silent pitches, a lone START), and its
    decoder's event for every class."""
    ref = np.load(os.path.join(DATA, 'polyphony_encoding.npz'))
    count = 0
    while 'kinds_%02d' % count in ref:
        kinds, pitches = ref['kinds_%02d' % count], ref['pitches_%02d' % count]
        events = [(int(k), None if p < 0 else int(p)) for k, p in zip(kinds, pitches)]
        inputs, labels = ENCODER.encode(events)
        assert inputs.shape == (len(events) - 1, 259) and inputs.dtype == np.float32
        np.testing.assert_array_equal(labels, ref['labels_%02d' % count])
        expected = np.zeros_like(inputs)
        expected[np.arange(len(inputs)), ref['input_classes_%02d' % count]] = 1.0
        np.testing.assert_array_equal(inputs, expected)
        count += 1
    assert count == 13
    decoded = [class_event(c) for c in range(NUM_CLASSES)]
    assert [k for k, _ in decoded] == ref['decoded_kind'].tolist()
    # Magenta's decoder gives pitch 0 to START, END and STEP_END; musekit None
    assert [p or 0 for _, p in decoded] == ref['decoded_pitch'].tolist()


def test_the_encoder_keeps_its_contract_on_chorale_streams(extraction):
    streams = [[tuple(e) for e in piece['transpositions']['0']['events']]
               for record in extraction['results'] for piece in record['pieces']
               if piece['transpositions']['0'].get('events')]
    check_encoder(ENCODER, streams[:4] + [[S], [S, X, E]])


@pytest.mark.parametrize('event, message', [
    ((3, 128), 'NEW_NOTE needs a MIDI pitch 0..127'),
    ((4, None), 'CONTINUED_NOTE needs a MIDI pitch'),
    ((5, None), 'has kind 5; kinds are 0..4'),
    ((2, 60), 'STEP_END carries no pitch'),
    (60, 'must be a (kind, pitch) pair'),
    ((3, 60, 1), 'must be a (kind, pitch) pair'),
    ((True, None), 'must be a (kind, pitch) pair'),
])
def test_bad_events_are_one_line_naming_the_position(event, message):
    with pytest.raises(MusekitError, match='position 1') as info:
        ENCODER.validate_events([S, event])
    assert message in str(info.value) and '\n' not in str(info.value)


def test_events_from_json_and_magentas_decoder_are_normalised():
    assert check_event([3, 60], 0) == (3, 60) and check_event((2, 0), 0) == X
    stepper = ENCODER.stepper([[0, None], [3, 60]])
    assert stepper.events == [S, new_note(60)]


# --- events, notes and lengths ----------------------------------------------------------

def test_notes_to_events_by_hand():
    # C4 held two steps, E4 one step then restarted, G4 doubled by a second note
    notes = [(60, 0, 2), (64, 0, 1), (64, 1, 2), (67, 1, 3), (67, 2, 3)]
    assert notes_to_events(notes, 4) == [
        S, new_note(64), new_note(60), X,
        new_note(67), new_note(64), continued_note(60), X,
        continued_note(67), new_note(67), X,
        X, E]
    assert sorted(events_to_notes(notes_to_events(notes, 4))) == sorted(notes)


def test_set_length_and_notes_equal_magentas():
    """with_length and events_to_notes equal Magenta's PolyphonicSequence.set_length and
    to_sequence on 30 random streams (cut, padded, unfinished last steps, stray START,
    END and continued notes)."""
    cases = load_json('polyphony_notes.json')['cases']
    assert len(cases) == 30
    for case in cases:
        events = [tuple(e) for e in case['events']]
        made = with_length(events, case['num_steps'])
        assert pairs(made) == case['set_length']
        assert step_count(made) == case['total_steps'] == case['num_steps']
        assert sorted(list(n) for n in events_to_notes(made)) == case['notes']


# --- the extractor ----------------------------------------------------------------------

def test_extraction_equals_magentas_pipeline(extraction, config):
    """Magenta's TimeChangeSplitter, Quantizer(4), TranspositionPipeline([amount]) and
    PolyphonicSequenceExtractor(80, 512) on five chorales and 24 random pieces: the same
    pieces, streams (untransposed in full, transposed by -4..4 by digest) and counters."""
    extractor, encoder = config.make_extractor(), config.make_encoder()
    kept = skipped = 0
    for item, record in zip(extraction['inputs'], extraction['results']):
        sequence = music_pb2.NoteSequence.FromString(base64.b64decode(item['note_sequence']))
        pieces, stats = extractor.prepare(sequence)
        assert dict(stats) == record['quantize_stats'], item['name']
        assert [p.total_quantized_steps for p in pieces] == [
            r['total_quantized_steps'] for r in record['pieces']], item['name']
        for piece, ref in zip(pieces, record['pieces']):
            for amount, outcome in ref['transpositions'].items():
                streams, stats = extractor.extract(extractor.augment(piece, int(amount)),
                                                   encoder)
                expected = {}
                for name, count in outcome['stats'].items():
                    name, _, lower = name.partition('@')
                    expected[name + ('_' + length_bucket(int(lower)) if lower else '')] = count
                assert dict(stats) == expected, (item['name'], amount)
                if 'length' not in outcome:         # the transposition left MIDI's range
                    assert streams == []
                    skipped += 1
                    continue
                got = streams[0] if streams else []
                assert len(got) == outcome['length'], (item['name'], amount)
                if 'events' in outcome:
                    assert pairs(got) == outcome['events'], item['name']
                else:
                    assert digest(got) == outcome['sha256'], (item['name'], amount)
                kept += bool(got)
    assert kept == 136 and skipped == 23


def test_extractor_rules_by_hand(config):
    extractor = config.make_extractor()
    sequence = music_pb2.NoteSequence(ticks_per_quarter=220)
    sequence.tempos.add(qpm=120)
    sequence.time_signatures.add(numerator=4, denominator=4)
    for pitch, start, end, program in ((60, 0.0, 0.25, 0), (72, 0.125, 0.25, 0),
                                       (36, 0.0, 12.0, 0)):
        sequence.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=80,
                           program=program)
    sequence.total_time = 12.0
    (piece,), _ = extractor.prepare(sequence)
    (events,), stats = extractor.extract(piece, ENCODER)
    assert events[:8] == [S, new_note(60), new_note(36), X, new_note(72), continued_note(60),
                          continued_note(36), X]
    assert step_count(events) == 96 and events[-1] == E
    assert stats == {'polyphonic_track_lengths_in_bars_1_to_9': 1}
    # a second program drops the piece; a note past MIDI 127 drops the transposition
    sequence.notes[1].program = 5
    (two,), _ = extractor.prepare(sequence)
    assert extractor.extract(two, ENCODER)[1] == {
        'polyphonic_tracks_discarded_more_than_1_program': 1}
    sequence.notes[1].program, sequence.notes[1].pitch = 0, 125
    (high,), _ = extractor.prepare(sequence)
    (up,), stats = extractor.extract(extractor.augment(high, 2), ENCODER)
    assert up[1:3] == [new_note(62), new_note(38)] and up[4] == new_note(127)
    assert stats == {'polyphonic_track_lengths_in_bars_1_to_9': 1}
    assert extractor.extract(extractor.augment(high, 3), ENCODER) == (
        [], {'skipped_due_to_range_exceeded': 1})
    assert 125 in [n.pitch for n in high.notes]     # augment leaves its piece alone


def test_length_buckets_are_magentas_histogram():
    assert [length_bucket(b) for b in (0, 1, 9, 10, 49, 50, 999, 1000, 5000)] == [
        '0', '1_to_9', '1_to_9', '10_to_19', '40_to_49', '50_to_99', '500_to_999',
        '1000_up', '1000_up']
