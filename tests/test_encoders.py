"""Tests of the melody encoders: hand-worked vectors, round trips, steppers, and agreement
with note_seq's reference encoders."""
import json

import numpy as np
import pytest

from musekit.encoders import get_encoder
from musekit.encoders.key import KEYS_OF_PITCH_CLASS, KeyMelodyEncoder
from musekit.encoders.lookback import LookbackMelodyEncoder
from musekit.encoders.melody import OneHotMelodyEncoder
from musekit.errors import MusekitError
from musekit.registry import ENCODERS
from refusals import refusal

ALL_KEYS = tuple(range(12))


def random_melody(rng, length, min_note, max_note, distances=(2, 4, 16, 32)):
    """A plausible melody: notes near the previous one, holds, rests, and copied passages."""
    events, pitch = [], int(rng.integers(min_note, max_note))
    for position in range(length):
        r = rng.random()
        reachable = [d for d in distances if d <= position]
        if reachable and r < 0.3:
            events.append(events[position - reachable[rng.integers(len(reachable))]])
        elif r < 0.6:
            events.append(-2)
        elif r < 0.7:
            events.append(-1)
        else:
            pitch = int(np.clip(pitch + rng.integers(-4, 5), min_note, max_note - 1))
            if rng.random() < 0.1:
                pitch = int(rng.integers(min_note, max_note))
            events.append(pitch)
    return events


def melodies(seed, count, min_note, max_note, max_length=80, distances=(2, 4, 16, 32)):
    rng = np.random.default_rng(seed)
    return [random_melody(rng, int(rng.integers(1, max_length + 1)), min_note, max_note,
                          distances) for _ in range(count)]


ENCODERS_UNDER_TEST = [
    OneHotMelodyEncoder(),
    OneHotMelodyEncoder(0, 128),
    OneHotMelodyEncoder(60, 64),
    LookbackMelodyEncoder(),
    LookbackMelodyEncoder(60, 64, [2, 4], 3),
    LookbackMelodyEncoder(60, 72, [3], 4),
    LookbackMelodyEncoder(60, 72, [], 2),
    KeyMelodyEncoder(),
    KeyMelodyEncoder(0, 128, [1, 16], 3),
    KeyMelodyEncoder(60, 64, [2, 4], 2, steps_per_bar=4),
    KeyMelodyEncoder(60, 62, [3], 1, steps_per_bar=3),
]
IDS = [repr(e) for e in ENCODERS_UNDER_TEST]


# --- sizes and parameters ---------------------------------------------------------------

@pytest.mark.parametrize('name, params, input_size, num_classes', [
    ('one_hot_melody', {}, 38, 38),
    ('one_hot_melody', {'min_note': 0, 'max_note': 128}, 130, 130),
    ('lookback_melody', {}, 121, 40),
    ('key_melody', {}, 74, 40),
])
def test_default_sizes(name, params, input_size, num_classes):
    encoder = get_encoder(name, params)
    assert (encoder.input_size, encoder.num_classes) == (input_size, num_classes)


@pytest.mark.parametrize('encoder', ENCODERS_UNDER_TEST, ids=IDS)
def test_params_rebuild_the_encoder(encoder):
    params = json.loads(json.dumps(encoder.params()))
    assert ENCODERS.get(encoder.name) is type(encoder)
    rebuilt = get_encoder(encoder.name, params)
    assert rebuilt.params() == encoder.params()
    assert repr(rebuilt) == repr(encoder)
    assert encoder.to_dict() == {'name': encoder.name, 'params': params}


@pytest.mark.parametrize('cls, params, message', [
    (OneHotMelodyEncoder, {'min_note': 84, 'max_note': 48},
     'max_note (48) must be greater than min_note (84)'),
    (OneHotMelodyEncoder, {'min_note': 60, 'max_note': 60},
     'max_note (60) must be greater than min_note (60)'),
    (OneHotMelodyEncoder, {'min_note': -1}, "parameter min_note=-1 of encoder 'one_hot_melody': expected int >= 0, <= 127"),
    (OneHotMelodyEncoder, {'max_note': 129}, "parameter max_note=129 of encoder 'one_hot_melody': expected int >= 1, <= 128"),
    (OneHotMelodyEncoder, {'min_note': 48.0}, "parameter min_note=48.0 of encoder 'one_hot_melody': expected int >= 0, <= 127"),
    (OneHotMelodyEncoder, {'max_note': True}, "parameter max_note=True of encoder 'one_hot_melody': expected int >= 1, <= 128"),
    (LookbackMelodyEncoder, {'lookback_distances': [0, 4]},
     "parameter lookback_distances=[0, 4] of encoder 'lookback_melody': expected list of int (each >= 1), at most 16 items"),
    (LookbackMelodyEncoder, {'lookback_distances': [-16]},
     "parameter lookback_distances=[-16] of encoder 'lookback_melody': expected list of int (each >= 1), at most 16 items"),
    (LookbackMelodyEncoder, {'lookback_distances': [32, 16]},
     'lookback_distances must be strictly increasing, got [32, 16]'),
    (LookbackMelodyEncoder, {'lookback_distances': [16, 16]},
     'lookback_distances must be strictly increasing, got [16, 16]'),
    (LookbackMelodyEncoder, {'lookback_distances': 16},
     "parameter lookback_distances=16 of encoder 'lookback_melody': expected list of int (each >= 1), at most 16 items"),
    (LookbackMelodyEncoder, {'lookback_distances': '16'},
     "parameter lookback_distances='16' of encoder 'lookback_melody': expected list of int (each >= 1), at most 16 items"),
    (LookbackMelodyEncoder, {'lookback_distances': [2.5]},
     "parameter lookback_distances=[2.5] of encoder 'lookback_melody': expected list of int (each >= 1), at most 16 items"),
    (LookbackMelodyEncoder, {'binary_counter_bits': -1},
     "parameter binary_counter_bits=-1 of encoder 'lookback_melody': expected int >= 0, <= 32"),
    (LookbackMelodyEncoder, {'binary_counter_bits': 33},
     "parameter binary_counter_bits=33 of encoder 'lookback_melody': expected int >= 0, <= 32"),
    (KeyMelodyEncoder, {'binary_counter_bits': 33},
     "parameter binary_counter_bits=33 of encoder 'key_melody': expected int >= 0, <= 32"),
    (KeyMelodyEncoder, {'steps_per_bar': 0}, "parameter steps_per_bar=0 of encoder 'key_melody': expected int >= 1"),
    (KeyMelodyEncoder, {'min_note': 90}, 'max_note (84) must be greater than min_note (90)'),
    (KeyMelodyEncoder, {'lookback_distances': [4, 2]},
     'lookback_distances must be strictly increasing, got [4, 2]'),
])
def test_bad_params(cls, params, message):
    assert refusal(cls, **params) == message


def test_thirty_two_counter_bits_are_allowed():
    # The largest binary_counter_bits allowed; one-hot width 62 - 60 + 2 = 4, no lookbacks.
    assert LookbackMelodyEncoder(60, 62, [], 32).input_size == 4 + 32


def test_one_step_bars():
    # steps_per_bar=1, the smallest allowed: every position starts a bar (input column 8).
    encoder = KeyMelodyEncoder(60, 64, [], 0, steps_per_bar=1)
    assert encoder.encode([60, -2, -1])[0][:, 8].tolist() == [1, 1]


@pytest.mark.parametrize('encoder, text', [
    (OneHotMelodyEncoder(0, 128), 'OneHotMelodyEncoder(min_note=0, max_note=128)'),
    (LookbackMelodyEncoder(60, 64, [2, 4], 3),
     'LookbackMelodyEncoder(min_note=60, max_note=64, lookback_distances=[2, 4], '
     'binary_counter_bits=3)'),
    (KeyMelodyEncoder(60, 62, [3], 1, steps_per_bar=3),
     'KeyMelodyEncoder(min_note=60, max_note=62, lookback_distances=[3], '
     'binary_counter_bits=1, steps_per_bar=3)'),
], ids=['one_hot', 'lookback', 'key'])
def test_repr(encoder, text):
    assert repr(encoder) == text


def test_unknown_param_is_a_musekit_error():
    with pytest.raises(MusekitError, match='key_melody'):
        get_encoder('key_melody', {'lookbacks': [16]})


# --- bad events -------------------------------------------------------------------------

@pytest.mark.parametrize('encoder', ENCODERS_UNDER_TEST[::3] + [ENCODERS_UNDER_TEST[-1]])
def test_bad_events(encoder):
    lo, hi = encoder.min_note, encoder.max_note
    # Pitch 0 below the range must not pass as a special event.
    out_of_range = [hi, 127] + ([lo - 1, 0] if lo > 0 else [])
    for bad in out_of_range:
        events = [lo, -2, -1, bad, -2]
        message = "event %d at position 3 is outside the encoder's pitch range [%d, %d)" % (
            bad, lo, hi)
        for call in (encoder.validate_events, encoder.encode, encoder.stepper):
            assert refusal(call, events) == message
        stepper = encoder.stepper(events[:3])
        assert refusal(stepper.push, bad) == message
        assert stepper.events == events[:3]     # a refused event is not recorded
    message = ('event -3 at position 1 is not a melody event (-2 = no event, -1 = note-off, '
               'or a pitch in [%d, %d))' % (lo, hi))
    assert refusal(encoder.encode, [lo, -3]) == message
    assert refusal(encoder.stepper([lo]).push, -3) == message
    assert refusal(encoder.encode, [lo, lo + 0.5]) == (
        'melody events must be a flat sequence of integers, got [%d, %r]' % (lo, lo + 0.5))
    assert refusal(encoder.stepper([lo]).push, float(lo)) == (
        'melody event at position 1 must be an integer, got %r' % float(lo))
    for c in (encoder.num_classes, -1):
        assert refusal(encoder.class_to_event, c, [lo]) == 'class %d is outside [0, %d)' % (
            c, encoder.num_classes)
    encoder.validate_events(np.array([lo, -2, -1, hi - 1], np.int32))


@pytest.mark.parametrize('encoder', ENCODERS_UNDER_TEST, ids=IDS)
def test_short_sequences_give_no_steps(encoder):
    for events in ([], [encoder.min_note], np.array([-2])):
        inputs, labels = encoder.encode(events)
        assert inputs.shape == (0, encoder.input_size) and inputs.dtype == np.float32
        assert labels.shape == (0,) and labels.dtype == np.int64


# --- hand-worked vectors ----------------------------------------------------------------

def test_one_hot_hand_worked():
    encoder = OneHotMelodyEncoder(60, 64)
    assert (encoder.input_size, encoder.num_classes) == (6, 6)
    inputs, labels = encoder.encode([60, -2, -1, 62, 63])
    # Classes: -2 -> 0, -1 -> 1, 60 -> 2, 62 -> 4, 63 -> 5.
    np.testing.assert_array_equal(inputs, np.eye(6, dtype=np.float32)[[2, 0, 1, 4]])
    assert inputs.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [0, 1, 4, 5])
    assert [encoder.class_to_event(c, []) for c in range(6)] == [-2, -1, 60, 61, 62, 63]
    assert OneHotMelodyEncoder(0, 128).encode([0, 127])[1].tolist() == [129]


def lookback_row(current, next_at_2, next_at_4, counters, repeats):
    """Row of LookbackMelodyEncoder(60, 64, [2, 4], 2) from its parts (6 one-hot classes)."""
    row = np.zeros(22, np.float32)
    row[current] = row[6 + next_at_2] = row[12 + next_at_4] = 1.0
    row[18:20] = counters
    row[20:22] = repeats
    return row


def test_lookback_hand_worked():
    encoder = LookbackMelodyEncoder(60, 64, [2, 4], 2)
    assert (encoder.input_size, encoder.num_classes) == (6 + 2 * 6 + 2 + 2, 8)
    events = [60, -2, 60, -2, 60, 61, 60, -1]
    # Classes: -2 -> 0, -1 -> 1, 60 -> 2, 61 -> 3; lookback 2 -> 6, lookback 4 -> 7.
    expected = [
        # current, event at p-1, event at p-3 (no event before the start), bits of p+1, repeats
        lookback_row(2, 0, 0, [1, -1], [0, 0]),      # p=0
        lookback_row(0, 2, 0, [-1, 1], [0, 0]),      # p=1
        lookback_row(2, 0, 0, [1, 1], [1, 0]),       # p=2: 60 == events[0]
        lookback_row(0, 2, 2, [-1, -1], [1, 0]),     # p=3: -2 == events[1]
        lookback_row(2, 0, 0, [1, -1], [1, 1]),      # p=4
        lookback_row(3, 2, 2, [-1, 1], [0, 0]),      # p=5
        lookback_row(2, 3, 0, [1, 1], [1, 1]),       # p=6
    ]
    inputs, labels = encoder.encode(events)
    np.testing.assert_array_equal(inputs, np.stack(expected))
    # p=1, 3: early no-event -> last lookback class; p=2: repeat of 2 back; p=4: both
    # lookbacks repeat, the farther wins; p=5, 7: plain classes.
    np.testing.assert_array_equal(labels, [7, 6, 7, 7, 3, 7, 1])
    assert encoder.class_to_event(6, [60, 61, 62]) == 61
    assert encoder.class_to_event(7, [60, 61, 62]) == -2       # history shorter than 4
    assert encoder.class_to_event(7, [60, 61, 62, 63]) == 60
    assert encoder.class_to_event(4, []) == 62


def test_lookback_label_rules():
    encoder = LookbackMelodyEncoder(60, 64, [2, 4], 2)
    # An early no-event takes the farthest lookback class even where nothing repeats...
    assert encoder.encode([61, 62, 63, -2])[1].tolist() == [4, 5, 7]
    # ...but from the farthest distance on, -2 is an ordinary event or repeat.
    assert encoder.encode([61, 62, 63, 60, -2])[1].tolist() == [4, 5, 2, 0]
    assert encoder.encode([61, 62, 63, -2, 60, -2])[1].tolist() == [4, 5, 7, 2, 6]
    # Both distances repeat: the farther one (4) wins.
    assert encoder.encode([61, 62, 61, 62, 61])[1].tolist() == [4, 6, 6, 7]
    # No lookbacks: plain one-hot labels.
    assert LookbackMelodyEncoder(60, 64, [], 0).encode([60, -2, 60])[1].tolist() == [0, 2]


def key_row(pitch=None, attack=0, direction=0, repeats=(0, 0), counters=(0, 0), bar=0,
            keys=ALL_KEYS, recent_keys=ALL_KEYS):
    """Row of KeyMelodyEncoder(60, 64, [2, 4], 2, steps_per_bar=4) from its parts."""
    row = np.zeros(37, np.float32)
    if pitch is None:
        row[5] = 1.0                   # silence
    else:
        row[pitch - 60] = row[4] = 1.0
    row[6], row[7] = attack, direction
    row[8:10], row[10:12], row[12] = repeats, counters, bar
    row[13 + np.array(keys)] = 1.0
    row[25 + np.array(recent_keys)] = 1.0
    return row


def test_key_hand_worked():
    encoder = KeyMelodyEncoder(60, 64, [2, 4], 2, steps_per_bar=4)
    assert (encoder.input_size, encoder.num_classes) == (4 + 4 + 2 + 2 + 1 + 24, 8)
    events = [60, -2, -1, 62, 60, 60, -2, 61, 63, -2]
    # Major keys holding C: 0 1 3 5 7 8 10; C#: 1 2 4 6 8 9 11; D: 0 2 3 5 7 9 10;
    # D#: 1 3 4 6 8 10 11.
    c_keys = (0, 1, 3, 5, 7, 8, 10)
    c_d_keys = (0, 3, 5, 7, 10)
    expected = [
        key_row(60, 1, 0, (0, 0), (1, -1), 0, c_keys, c_keys),          # p=0
        key_row(60, 0, 0, (0, 0), (-1, 1), 0, c_keys, c_keys),          # p=1 hold
        key_row(None, 0, 0, (0, 0), (1, 1), 0, c_keys, c_keys),         # p=2 note-off
        key_row(62, 1, 1, (0, 0), (-1, -1), 1, c_d_keys, c_d_keys),     # p=3 up, bar
        key_row(60, 1, -1, (0, 1), (1, -1), 0, c_d_keys, c_d_keys),     # p=4 down, 60 4 back
        key_row(60, 1, -1, (0, 0), (-1, 1), 0, c_d_keys, c_d_keys),     # p=5 same pitch
        key_row(60, 0, -1, (0, 0), (1, 1), 0, c_d_keys, c_d_keys),      # p=6 hold
        # p=7: all notes C C C D C# -> every C key scores 4; last 3 {D, C, C#} -> 2 each
        # for the keys holding two of them.
        key_row(61, 1, 1, (0, 0), (-1, -1), 1, c_keys, (0, 1, 2, 3, 5, 7, 8, 9, 10)),
        # p=8: + D#, last 3 {C, C#, D#}: keys 1 3 8 10 score 5 overall; 1 and 8 hold all 3.
        key_row(63, 1, 1, (0, 0), (1, -1), 0, (1, 3, 8, 10), (1, 8)),
    ]
    inputs, labels = encoder.encode(events)
    np.testing.assert_array_equal(inputs, np.stack(expected))
    # p=1: early no-event -> R+L+1 = 7; p=2 note-off R+1; p=3 pitch; p=4 repeat of 4 back;
    # p=6: no-event past the farthest lookback -> R.
    np.testing.assert_array_equal(labels, [7, 5, 2, 7, 0, 4, 1, 3, 4])
    assert [encoder.class_to_event(c, [60, 61, 62]) for c in range(8)] == [
        60, 61, 62, 63, -2, -1, 61, -2]
    assert encoder.class_to_event(7, [60, 61, 62, 63]) == 60


def test_key_quirks():
    encoder = KeyMelodyEncoder(0, 128, [2, 4], 2)
    inputs = encoder.encode([0, -2, 60, -1, -2])[0]
    offset = 128
    # Pitch 0 sounds like silence (Magenta's truthiness test) but is still an attack.
    assert inputs[0, 0] == 0 and inputs[0, offset] == 0 and inputs[0, offset + 1] == 1
    assert inputs[0, offset + 2] == 1
    # A note-off silences the note but keeps the attack flag of the note-on before it.
    assert inputs[3, offset + 1] == 1 and inputs[3, offset + 2] == 1
    assert KEYS_OF_PITCH_CLASS[0] == (0, 1, 3, 5, 7, 8, 10)
    # With no note at all every key ties at 0: all 24 key flags are set.
    np.testing.assert_array_equal(encoder.encode([-2, -1, -2])[0][:, -24:], np.ones((2, 24)))


def test_key_flags_with_an_offset_range():
    # min_note 61 (C#) is not a multiple of 6: recent keys must come from pitch classes.
    encoder = KeyMelodyEncoder(61, 73, [], 0)
    events = [62, 66, 69, 61, -2]          # D F# A, then C#
    # Keys holding D: 0 2 3 5 7 9 10; F#: 1 2 4 6 7 9 11; A: 0 2 4 5 7 9 10;
    # C#: 1 2 4 6 8 9 11.
    d_keys = (0, 2, 3, 5, 7, 9, 10)
    expected = [(d_keys, d_keys), ((2, 7, 9), (2, 7, 9)), ((2, 7, 9), (2, 7, 9)),
                # all four notes: D and A major; the last 3 (F# A C#): D, E and A major.
                ((2, 9), (2, 4, 9))]
    flags = np.zeros((4, 24), np.float32)
    for row, (keys, recent_keys) in zip(flags, expected):
        row[list(keys)] = 1.0
        row[12 + np.array(recent_keys)] = 1.0
    inputs = encoder.encode(events)[0]
    np.testing.assert_array_equal(inputs[:, -24:], flags)
    stepper = encoder.stepper([])
    np.testing.assert_array_equal(np.stack([stepper.push(e) for e in events[:-1]]), inputs)


# --- round trips and steppers -----------------------------------------------------------

@pytest.mark.parametrize('encoder', ENCODERS_UNDER_TEST, ids=IDS)
def test_decode_inverts_encode(encoder):
    for events in melodies(1, 60, encoder.min_note, encoder.max_note):
        labels = encoder.encode(events)[1]
        assert encoder.decode(labels, primer=events[:1]) == events


@pytest.mark.parametrize('encoder', ENCODERS_UNDER_TEST, ids=IDS)
def test_stepper_matches_encode(encoder):
    rng = np.random.default_rng(2)
    for events in melodies(3, 40, encoder.min_note, encoder.max_note):
        every_row = encoder.encode(events + [-2])[0]      # a row for every event position
        split = int(rng.integers(0, len(events) + 1))
        stepper = encoder.stepper(events[:split])
        rows = [stepper.push(event) for event in events[split:]]
        if rows:
            assert all(row.dtype == np.float32 and row.shape == (encoder.input_size,)
                       for row in rows)
            np.testing.assert_array_equal(np.stack(rows), every_row[split:])
        assert stepper.events == events


@pytest.mark.parametrize('encoder', ENCODERS_UNDER_TEST, ids=IDS)
def test_stepper_copies_are_independent(encoder):
    lo, hi = encoder.min_note, encoder.max_note
    rng = np.random.default_rng(4)
    for events in melodies(5, 20, lo, hi, max_length=50):
        stepper = encoder.stepper(events)
        branches = [stepper, stepper.copy(), stepper.copy().copy()]
        continuations = [random_melody(rng, 40, lo, hi) for _ in branches]
        for step in range(40):
            for branch, continuation in zip(branches, continuations):
                branch.push(continuation[step])
        for branch, continuation in zip(branches, continuations):
            full = events + continuation
            assert branch.events == full
            expected = encoder.encode(full + [-2, -2])[0][-1]
            np.testing.assert_array_equal(branch.push(-2), expected)


# --- agreement with note_seq ------------------------------------------------------------

def reference_encoder(encoder):
    from note_seq import encoder_decoder, melody_encoder_decoder
    lo, hi = encoder.min_note, encoder.max_note
    if isinstance(encoder, KeyMelodyEncoder):
        assert encoder.steps_per_bar == 16      # note_seq's bar length is fixed
        return melody_encoder_decoder.KeyMelodyEncoderDecoder(
            lo, hi, list(encoder.lookback_distances), encoder.binary_counter_bits)
    one_hot = melody_encoder_decoder.MelodyOneHotEncoding(lo, hi)
    if isinstance(encoder, LookbackMelodyEncoder):
        return encoder_decoder.LookbackEventSequenceEncoderDecoder(
            one_hot, list(encoder.lookback_distances), encoder.binary_counter_bits)
    return encoder_decoder.OneHotEventSequenceEncoderDecoder(one_hot)


@pytest.mark.parametrize('encoder, count', [
    (OneHotMelodyEncoder(), 100),
    (OneHotMelodyEncoder(0, 128), 100),
    (LookbackMelodyEncoder(), 200),
    (LookbackMelodyEncoder(60, 66, [1, 3, 8], 3), 100),
    (LookbackMelodyEncoder(60, 72, [], 2), 30),
    (KeyMelodyEncoder(), 200),
    (KeyMelodyEncoder(0, 128, [1, 16], 3), 60),
    (KeyMelodyEncoder(60, 62, [3], 6), 60),
], ids=repr)
def test_agrees_with_note_seq(encoder, count):
    reference = reference_encoder(encoder)
    assert (reference.input_size, reference.num_classes) == (
        encoder.input_size, encoder.num_classes)
    lo, hi = encoder.min_note, encoder.max_note
    for events in melodies(6, count, lo, hi, distances=(1, 2, 3, 8, 16, 32)):
        if lo == 0 and events:
            events[0] = 0                           # exercise the pitch-0 quirk
        inputs, labels = encoder.encode(events)
        positions = range(len(events) - 1)
        if positions:
            expected_inputs = [reference.events_to_input(events, p) for p in positions]
            np.testing.assert_array_equal(inputs, np.array(expected_inputs, np.float32))
        assert labels.tolist() == [reference.events_to_label(events, p + 1) for p in positions]
        for p in positions[::7]:
            for c in range(encoder.num_classes):
                assert (encoder.class_to_event(c, events[:p + 1])
                        == reference.class_index_to_event(c, events[:p + 1]))


def test_validate_events_returns_int64_and_names_what_it_refuses():
    from musekit.encoders.melody import validate_events
    for empty in ([], (), iter([]), np.zeros(0, np.float32)):
        out = validate_events(empty, 48, 84)
        assert out.shape == (0,) and out.dtype == np.int64
    out = validate_events((x for x in (60, -2, -1)), 48, 84)   # any iterable, a generator too
    assert out.dtype == np.int64 and out.tolist() == [60, -2, -1]
    events = np.array([60, -2, -1, 83], np.int64)
    assert validate_events(events, 48, 84) is events   # an int64 array is not copied
    out = validate_events(np.array([60, 61], np.int32), 48, 84)
    assert out.dtype == np.int64 and out.tolist() == [60, 61]
    assert refusal(validate_events, np.array([60.0, 61.0]), 48, 84) == (
        "melody events must be a flat sequence of integers, got dtype('float64')")
    assert refusal(validate_events, np.array([[60, 61]]), 48, 84) == (
        "melody events must be a flat sequence of integers, got dtype('int64')")
    assert refusal(validate_events, (60, 60.5), 48, 84) == (
        'melody events must be a flat sequence of integers, got [60, 60.5]')
    assert refusal(validate_events, list(range(60, 69)) + [0.5], 48, 84) == (
        'melody events must be a flat sequence of integers, got %r' % list(range(60, 68)))
