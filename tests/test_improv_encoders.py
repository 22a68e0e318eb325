"""The lead-sheet encoders of the three improv configs against note_seq's own
ConditionalEventSequenceEncoderDecoder (triad / major-minor one-hot and pitch chords
beside the one-hot or key melody encoding) on random and hand-made lead sheets; the chord
encodings by hand; Backing positions in generation; refusals."""
import random

import note_seq
import numpy as np
import pytest

from musekit.config import get_config
from musekit.encoders import chords
from musekit.encoders.base import get_encoder
from musekit.encoders.lead_sheet import lead_sheet_events
from musekit.errors import MusekitError
from musekit.testing import check_encoder

CONFIGS = ('basic_improv', 'attention_improv', 'chord_pitches_improv')
# input width, classes: Magenta's improv configs at its default note range [48, 84)
SIZES = {'basic_improv': (49 + 38, 38), 'attention_improv': (49 + 74, 40),
         'chord_pitches_improv': (37 + 38, 38)}
TRIADS = ['C', 'Am', 'F#', 'Bbm', 'Eaug', 'Bdim', 'G7', 'Dm7', 'Cmaj7', 'Bm7b5', 'C+',
          'E/G#', 'Ab', 'Ebm', 'C#m', 'F']
OTHER = ['Csus4', 'C5', 'G13', 'D9', 'Fmaj9/A', 'Asus2']


def note_seq_encoder(encoder):
    """note_seq's conditional encoder for a musekit lead-sheet encoder's params."""
    low, high = encoder.min_note, encoder.max_note
    control = {'triad': lambda: note_seq.OneHotEventSequenceEncoderDecoder(
                   note_seq.TriadChordOneHotEncoding()),
               'major_minor': lambda: note_seq.OneHotEventSequenceEncoderDecoder(
                   note_seq.MajorMinorChordOneHotEncoding()),
               'pitches': note_seq.PitchChordsEncoderDecoder}[encoder.chord_encoding]()
    if encoder.melody_encoding == 'key_melody':
        target = note_seq.KeyMelodyEncoderDecoder(low, high, encoder.lookback_distances,
                                                  encoder.binary_counter_bits)
    else:
        target = note_seq.OneHotEventSequenceEncoderDecoder(
            note_seq.MelodyOneHotEncoding(low, high))
    return note_seq.ConditionalEventSequenceEncoderDecoder(control, target)


def random_lead_sheet(rng, n, symbols, low=48, high=84):
    """(melody events, chord symbols) of n steps: notes, holds, note-offs; chords held for
    a few steps, sometimes no chord."""
    melody, chord_list, chord = [], [], chords.NO_CHORD
    for i in range(n):
        r = rng.random()
        melody.append(rng.randrange(low, high) if r < 0.4 else -1 if r < 0.5 else -2)
        if i == 0 or rng.random() < 0.2:
            chord = chords.NO_CHORD if rng.random() < 0.1 else rng.choice(symbols)
        chord_list.append(chord)
    if n and melody[0] == -2 and rng.random() < 0.5:
        melody[0] = low
    for i, event in enumerate(melody):      # note_seq's Melody has no note-off before a note
        if event >= 0:
            break
        melody[i] = -2
    return melody, chord_list


def theirs(encoder, melody, chord_list):
    inputs, labels = note_seq_encoder(encoder).encode(
        note_seq.ChordProgression(chord_list), note_seq.Melody(melody))
    return _arrays(inputs, labels, encoder)


def _arrays(inputs, labels, encoder):
    return (np.array(inputs, np.float32).reshape(-1, encoder.input_spec.size),
            np.array(labels, np.int64))


@pytest.mark.parametrize('name', CONFIGS)
def test_sizes_are_magentas(name):
    encoder = get_config(name).make_encoder()
    assert (encoder.input_spec.size, encoder.label_spec.depth) == SIZES[name]
    ns = note_seq_encoder(encoder)
    assert (ns.input_size, ns.num_classes) == SIZES[name]


@pytest.mark.parametrize('name', CONFIGS)
def test_encoding_equals_note_seq_on_random_lead_sheets(name):
    encoder = get_config(name).make_encoder()
    rng = random.Random(27)
    symbols = TRIADS + (OTHER if encoder.chord_encoding == 'pitches' else [])
    sheets = [random_lead_sheet(rng, n, symbols) for n in
              [0, 1, 2, 3, 17, 33, 64, 200] + [rng.randrange(2, 300) for _ in range(30)]]
    event_lists = []
    for melody, chord_list in sheets:
        events = lead_sheet_events(melody, chord_list)
        event_lists.append(events)
        inputs, labels = encoder.encode(events)
        if len(melody) < 2:
            assert inputs.shape == (0, encoder.input_spec.size) and labels.shape == (0,)
            continue
        want_inputs, want_labels = theirs(encoder, melody, chord_list)
        np.testing.assert_array_equal(inputs, want_inputs)
        np.testing.assert_array_equal(labels, want_labels)
    check_encoder(encoder, event_lists)


def test_major_minor_encoding_equals_note_seq():
    encoder = get_encoder('lead_sheet', {'chord_encoding': 'major_minor'})
    rng = random.Random(5)
    symbols = ['C', 'Am', 'F#', 'Bbm', 'G7', 'Dm7', 'Cmaj7', 'E/G#', 'Ebm', 'C#m']
    for n in (2, 40, 128):
        melody, chord_list = random_lead_sheet(rng, n, symbols)
        inputs, labels = encoder.encode(lead_sheet_events(melody, chord_list))
        want_inputs, want_labels = theirs(encoder, melody, chord_list)
        np.testing.assert_array_equal(inputs, want_inputs)
        np.testing.assert_array_equal(labels, want_labels)
    assert encoder.input_spec.size == 25 + 38


def test_chord_rows_by_hand():
    # triad: 0 no chord, 1 + root major, 13 + root minor, 25 + root aug, 37 + root dim
    for symbol, hot in (('N.C.', 0), ('C', 1), ('G7', 8), ('Am', 22), ('Bbm7', 23),
                        ('Eaug', 29), ('Bm7b5', 48), ('F#dim', 43), ('E/G#', 5)):
        row = chords.chord_row(symbol, 'triad')
        assert row.shape == (49,) and row.sum() == 1 and row[hot] == 1, symbol
    assert chords.chord_row('Am', 'major_minor').argmax() == 22
    # pitches: [0] no chord, [1 + root], [13 + each pitch class], [25 + bass]
    row = chords.chord_row('G7/B', 'pitches')
    assert np.flatnonzero(row).tolist() == [1 + 7, 13 + 2, 13 + 5, 13 + 7, 13 + 11, 25 + 11]
    assert np.flatnonzero(chords.chord_row('N.C.', 'pitches')).tolist() == [0]


def test_inputs_read_the_next_steps_chord():
    encoder = get_config('basic_improv').make_encoder()
    events = lead_sheet_events([60, -2, 62, -1], ['C', 'C', 'G', 'Am'])
    assert [c for _, c in events] == ['C', 'G', 'Am', 'Am']
    inputs, labels = encoder.encode(events)
    assert inputs[:, :49].argmax(1).tolist() == [1, 8, 22]      # C, G, Am
    assert inputs[:, 49:].argmax(1).tolist() == [2 + 12, 0, 2 + 14]
    assert labels.tolist() == [0, 2 + 14, 1]


def test_backing_positions_advance_in_generation():
    encoder = get_config('chord_pitches_improv').make_encoder()
    progression = tuple(['C'] * 2 + ['G'] * 2)
    primer = [(60, chords.Backing(progression, 1))]
    events = encoder.decode([2 + 2, 0, 1, 0], primer)
    assert [e[0] for e in events] == [60, 50, -2, -1, -2]
    assert [e[1].index for e in events] == [1, 2, 3, 4, 5]
    assert [e[1].chord for e in events] == ['C', 'G', 'G', 'G', 'G']   # past the end: last
    stepper = encoder.stepper(events[:1])
    row = stepper.push(events[1])
    np.testing.assert_array_equal(row[:37], chords.chord_row('G', 'pitches'))
    # the same events with the chords written out encode the same
    plain = [(m, b.chord) for m, b in events]
    np.testing.assert_array_equal(encoder.encode(events)[0], encoder.encode(plain)[0])


def test_refusals():
    encoder = get_config('basic_improv').make_encoder()
    with pytest.raises(chords.ChordError, match='position 1: chord Csus4 is not a major, '
                       'minor, augmented or diminished triad') as info:
        encoder.validate_events([(60, 'C'), (62, 'Csus4')])
    assert info.value.reason == chords.ENCODING_ERROR
    with pytest.raises(chords.ChordError, match="position 0: 'H7' is not a chord symbol") \
            as info:
        encoder.encode([(60, 'H7'), (62, 'C')])
    assert info.value.reason == chords.SYMBOL_ERROR
    with pytest.raises(MusekitError, match='major or minor triad'):
        get_encoder('lead_sheet', {'chord_encoding': 'major_minor'}).validate_events(
            [(60, 'Bdim')])
    with pytest.raises(MusekitError, match='outside the encoder'):
        encoder.validate_events([(30, 'C')])
    with pytest.raises(MusekitError, match=r'must be \(melody event, chord\)'):
        encoder.validate_events([60])
    with pytest.raises(MusekitError, match='chord symbol string'):
        encoder.validate_events([(60, 7)])
    with pytest.raises(MusekitError, match='2 melody events, 1 chords'):
        lead_sheet_events([60, 62], ['C'])
    with pytest.raises(MusekitError, match='chord_encoding'):
        get_encoder('lead_sheet', {'chord_encoding': 'sevenths'})
