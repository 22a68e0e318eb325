"""The performance encoders against note_seq's own encoders (one-hot, modulo, control
signals, conditional and optional encoders) on random and real events, hand-worked
layouts and controls, and their refusals."""
import random

import note_seq
import numpy as np
import pytest
from note_seq import performance_controls as pc
from note_seq.performance_lib import PerformanceEvent

from musekit.config import get_config
from musekit.encoders import performance_controls as controls
from musekit.encoders.base import get_encoder
from musekit.errors import MusekitError
from musekit.testing import check_encoder

NOTE_ON, NOTE_OFF, TIME_SHIFT, VELOCITY = 1, 2, 3, 4
CONFIGS = ('performance', 'performance_with_dynamics',
           'performance_with_dynamics_and_modulo_encoding',
           'density_conditioned_performance_with_dynamics',
           'pitch_conditioned_performance_with_dynamics',
           'multiconditioned_performance_with_dynamics',
           'optional_multiconditioned_performance_with_dynamics')
SIZES = {'performance': (356, 356), 'performance_with_dynamics': (388, 388),
         'performance_with_dynamics_and_modulo_encoding': (16, 388),
         'density_conditioned_performance_with_dynamics': (396, 388),
         'pitch_conditioned_performance_with_dynamics': (400, 388),
         'multiconditioned_performance_with_dynamics': (408, 388),
         'optional_multiconditioned_performance_with_dynamics': (409, 388)}


def random_pairs(rng, n, bins, max_shift=100):
    out = []
    for _ in range(n):
        kind = rng.choice([NOTE_ON, NOTE_OFF, TIME_SHIFT] + ([VELOCITY] if bins else []))
        value = {NOTE_ON: lambda: rng.randrange(128), NOTE_OFF: lambda: rng.randrange(128),
                 TIME_SHIFT: lambda: rng.randrange(1, max_shift + 1),
                 VELOCITY: lambda: rng.randrange(1, bins + 1)}[kind]()
        out.append((kind, value))
    return out


def note_seq_encoder(encoder):
    """note_seq's encoder/decoder for a musekit performance encoder's params, and its
    control signals."""
    bins, shift = encoder.num_velocity_bins, encoder.max_shift_steps
    if encoder.name == 'performance_modulo':
        target = note_seq.ModuloPerformanceEventSequenceEncoderDecoder(
            num_velocity_bins=bins, max_shift_steps=shift)
    else:
        target = note_seq.OneHotEventSequenceEncoderDecoder(note_seq.PerformanceOneHotEncoding(
            num_velocity_bins=bins, max_shift_steps=shift))
    signals = [pc.NoteDensityPerformanceControlSignal(encoder.density_window_seconds,
                                                      encoder.density_bin_ranges)
               if s == 'notes_per_second' else
               pc.PitchHistogramPerformanceControlSignal(encoder.histogram_window_seconds,
                                                         encoder.histogram_prior_count)
               for s in encoder.control_signals]
    if not signals:
        return target, signals
    control = note_seq.MultipleEventSequenceEncoder([s.encoder for s in signals])
    if encoder.optional_conditioning:
        control = note_seq.OptionalEventSequenceEncoder(control)
    return note_seq.ConditionalEventSequenceEncoderDecoder(control, target), signals


def note_seq_encodings(encoder, pairs):
    """What note_seq's encoder gives for the performance `pairs` (Magenta's pipeline: the
    controls measured by the signals, and for optional conditioning both copies)."""
    reference, signals = note_seq_encoder(encoder)
    performance = note_seq.Performance(steps_per_second=encoder.steps_per_second,
                                       num_velocity_bins=encoder.num_velocity_bins,
                                       max_shift_steps=encoder.max_shift_steps)
    for kind, value in pairs:
        performance.append(PerformanceEvent(kind, value))
    if not signals:
        return [reference.encode(performance)]
    measured = list(zip(*[s.extract(performance) for s in signals]))
    if encoder.optional_conditioning:
        return [reference.encode(list(zip([flag] * len(measured), measured)), performance)
                for flag in (False, True)]
    return [reference.encode(measured, performance)]


def assert_same(encoder, pairs):
    sequences = encoder.training_sequences(pairs)
    expected = note_seq_encodings(encoder, pairs)
    assert len(sequences) == len(expected)
    for events, (inputs, labels) in zip(sequences, expected):
        got_inputs, got_labels = encoder.encode(events)
        np.testing.assert_array_equal(got_inputs, np.array(inputs, np.float32).reshape(
            got_inputs.shape))
        np.testing.assert_array_equal(got_labels, np.array(labels, np.int64))


@pytest.mark.parametrize('name', CONFIGS)
def test_configs_equal_note_seq_on_random_events(name):
    encoder = get_config(name).make_encoder()
    assert (encoder.input_size, encoder.num_classes) == SIZES[name]
    rng = random.Random(name)
    for n in (2, 3, 40, 700):
        assert_same(encoder, random_pairs(rng, n, encoder.num_velocity_bins))


@pytest.mark.parametrize('params', [
    {'num_velocity_bins': 8, 'max_shift_steps': 50, 'steps_per_second': 50},
    {'num_velocity_bins': 127, 'control_signals': ['pitch_class_histogram',
                                                   'notes_per_second'],
     'density_bin_ranges': [0.5, 3.0], 'density_window_seconds': 1.5,
     'histogram_window_seconds': 0.7, 'histogram_prior_count': 0.0},
    {'control_signals': ['notes_per_second'], 'optional_conditioning': True},
])
@pytest.mark.parametrize('name', ['performance_one_hot', 'performance_modulo'])
def test_other_parameters_equal_note_seq_too(name, params):
    if name == 'performance_modulo' and not params.get('num_velocity_bins'):
        params = dict(params, num_velocity_bins=4)
    encoder = get_encoder(name, params)
    rng = random.Random(str(params))
    for n in (2, 60, 300):
        assert_same(encoder, random_pairs(rng, n, encoder.num_velocity_bins,
                                          encoder.max_shift_steps))


def test_real_performances_equal_note_seq():
    """Performances the extractor takes from a chorale (with transpositions), each config."""
    from musekit.data import sources
    source = [s for s in sources.list_sources('music21:bach') if s.relpath == 'bwv66.6.mxl'][0]
    ns, = sources.parse(source, sources.read_bounded(source.path))
    quantized = note_seq.quantize_note_sequence_absolute(ns, 100)
    for name in CONFIGS:
        encoder = get_config(name).make_encoder()
        pairs = [(e.event_type, e.event_value) for e in note_seq.Performance(
            quantized, num_velocity_bins=encoder.num_velocity_bins)]
        assert len(pairs) > 100
        assert_same(encoder, pairs)


def test_hand_worked_one_hot_layout():
    encoder = get_encoder('performance_one_hot', {'num_velocity_bins': 32})
    for event, index in (((NOTE_ON, 0), 0), ((NOTE_ON, 127), 127), ((NOTE_OFF, 5), 133),
                         ((TIME_SHIFT, 1), 256), ((TIME_SHIFT, 100), 355),
                         ((VELOCITY, 1), 356), ((VELOCITY, 32), 387)):
        assert encoder.event_class(event) == index
        assert encoder.class_to_event(index) == event
        row = encoder.event_input(event)
        assert row.shape == (388,) and row[index] == 1.0 and row.sum() == 1.0
    reference = note_seq.PerformanceOneHotEncoding(num_velocity_bins=32)
    for index in range(388):
        event = reference.decode_event(index)
        assert encoder.class_to_event(index) == (event.event_type, event.event_value)
    with pytest.raises(MusekitError, match=r'class 388 is outside \[0, 388\)'):
        encoder.class_to_event(388)


def test_hand_worked_modulo_rows():
    encoder = get_encoder('performance_modulo', {'num_velocity_bins': 32})
    np.testing.assert_allclose(encoder.event_input((NOTE_ON, 72)),
                               [1, -1, 0, 1, 0] + [0] * 11, atol=1e-7)     # 72/144, C
    np.testing.assert_allclose(encoder.event_input((NOTE_OFF, 3)),
                               [0] * 5 + [1, np.cos(np.pi / 24), np.sin(np.pi / 24), 0, 1]
                               + [0] * 6, atol=1e-7)                        # D#: 90 degrees
    np.testing.assert_allclose(encoder.event_input((TIME_SHIFT, 26)),
                               [0] * 10 + [1, 0, 1] + [0] * 3, atol=1e-7)   # 25/100 of a turn
    np.testing.assert_allclose(encoder.event_input((VELOCITY, 17)),
                               [0] * 13 + [1, -1, 0], atol=1e-7)            # 16/32 of a turn


def test_hand_worked_control_signals():
    events = [(NOTE_ON, 60), (NOTE_ON, 64), (TIME_SHIFT, 100), (NOTE_OFF, 60),
              (TIME_SHIFT, 100), (NOTE_ON, 67), (TIME_SHIFT, 100), (NOTE_OFF, 64)]
    # 3 s windows at 100 steps/s: from step 0, 3 note-ons in 300 steps; the event after a
    # non-shift repeats; from step 200 only 100 steps are left, holding 1 note-on
    assert controls.note_densities(events, 300, 100) == [1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 1.0,
                                                         0.0]
    histograms = controls.pitch_histograms(events, 500, 100, 0.0)
    first = histograms[0]       # C sounds 1 s, E 3 s, G 1 s
    assert first[0] == 1.0 and first[4] == 3.0 and first[7] == 1.0 and sum(first) == 5.0
    assert controls.histogram_input(first)[4] == 0.6
    assert controls.histogram_input([0.0] * 12) == [1 / 12] * 12
    bins = [1.0, 2.0, 4.0]
    assert [controls.density_bin(d, bins) for d in (0.0, 0.99, 1.0, 3.9, 4.0, 100)] == \
        [0, 0, 1, 2, 3, 3]


def control_test_performance(rng):
    """A random performance for the control signals: notes at its very start and end some
    of the time, silences longer than any window, repeated pitches, sometimes empty."""
    if rng.random() < 0.05:
        return []
    pairs = [(NOTE_ON, rng.randrange(128))] if rng.random() < 0.5 else []
    for _ in range(rng.randrange(1, 80)):
        roll = rng.random()
        if roll < 0.05:             # a silence: every note off, then up to 12 s of shifts
            pairs += [(NOTE_OFF, p) for p in range(128)][:rng.randrange(129)]
            pairs += [(TIME_SHIFT, 100)] * rng.randrange(1, 12)
        elif roll < 0.35:
            pairs.append((TIME_SHIFT, rng.randrange(1, 101)))
        elif roll < 0.65:
            pairs.append((NOTE_ON, rng.choice([60, 72, 84, rng.randrange(128)])))
        elif roll < 0.9:
            pairs.append((NOTE_OFF, rng.choice([60, 72, 84, rng.randrange(128)])))
        else:
            pairs.append((VELOCITY, rng.randrange(1, 33)))
    if rng.random() < 0.5:
        pairs.append((NOTE_ON, rng.randrange(128)))
    return pairs


def test_control_signals_equal_note_seq_extract_exactly():
    """note_densities and pitch_histograms give note_seq's extract floats bit for bit."""
    rng = random.Random(26)
    for trial in range(300):
        pairs = control_test_performance(rng)
        steps_per_second = rng.choice([100, 50, 25])
        performance = note_seq.Performance(steps_per_second=steps_per_second,
                                           num_velocity_bins=32, max_shift_steps=100)
        for kind, value in pairs:
            performance.append(PerformanceEvent(kind, value))
        seconds = rng.choice([0.0, 0.004, 0.01, 0.5, 1.0, 3.0, 5.0, 7.3])
        prior = rng.choice([0.0, 0.01, 0.3])
        window = controls.window_steps(seconds, steps_per_second)
        density = pc.NoteDensityPerformanceControlSignal(seconds, [1.0]).extract(performance)
        histogram = pc.PitchHistogramPerformanceControlSignal(seconds, prior).extract(
            performance)
        assert controls.note_densities(pairs, window, steps_per_second) == density, trial
        assert [list(h) for h in controls.pitch_histograms(
            pairs, window, steps_per_second, prior)] == histogram, trial


def test_event_i_carries_the_control_measured_at_event_i_plus_1():
    encoder = get_config('density_conditioned_performance_with_dynamics').make_encoder()
    pairs = [(TIME_SHIFT, 100), (NOTE_ON, 60), (TIME_SHIFT, 100), (NOTE_OFF, 60)]
    measured = controls.note_densities(pairs, 300, 100)
    events, = encoder.training_sequences(pairs)
    assert [e[2] for e in events] == [(measured[1],), (measured[2],), (measured[3],),
                                      (measured[3],)]


@pytest.mark.parametrize('name', CONFIGS)
def test_contract_on_random_and_constant_control_events(name):
    encoder = get_config(name).make_encoder()
    rng = random.Random(1)
    sequences = []
    for n in (1, 2, 5, 120):
        pairs = random_pairs(rng, n, encoder.num_velocity_bins)
        sequences += encoder.training_sequences(pairs)
        if encoder.conditioned:
            control = tuple(controls.DEFAULTS[s] for s in encoder.control_signals)
            sequences.append(encoder.with_control(pairs, control))
    check_encoder(encoder, sequences)


def test_generated_events_keep_their_rows_control():
    encoder = get_config('optional_multiconditioned_performance_with_dynamics').make_encoder()
    control = (5.0, tuple(float(i) for i in range(12)))
    history = encoder.with_control([(NOTE_ON, 60)], control)
    assert encoder.label_to_event(256, history) == (TIME_SHIFT, 1, control)
    assert encoder.label_to_event(387, [(NOTE_ON, 60, None)]) == (VELOCITY, 32, None)
    assert encoder.label_to_event(0, []) == (NOTE_ON, 0, encoder.default_control())
    stepper = encoder.stepper(history)
    row = stepper.push((TIME_SHIFT, 1, control))
    # [flag 0][density 5 -> bin 3 of 8][histogram / 66][388 one-hot]
    assert row[0] == 0.0 and row[1 + 3] == 1.0 and row[1:9].sum() == 1.0
    np.testing.assert_allclose(row[9:21], np.arange(12) / 66, rtol=1e-6)
    assert row[21 + 256] == 1.0 and row[21:].sum() == 1.0
    off = encoder.stepper([]).push((TIME_SHIFT, 1, None))
    assert off[0] == 1.0 and off[1:21].sum() == 0.0


@pytest.mark.parametrize('name, event, message', [
    ('performance', (VELOCITY, 3),
     r'kind 4; this encoder knows 1 \(NOTE_ON\), 2 \(NOTE_OFF\), 3 \(TIME_SHIFT\)'),
    ('performance', (TIME_SHIFT, 0), r'TIME_SHIFT value 0 is outside \[1, 100\]'),
    ('performance', (NOTE_ON, 128), r'NOTE_ON value 128 is outside \[0, 127\]'),
    ('performance', (NOTE_ON, 60, None), r'must be \(kind, value\)'),
    ('performance', (NOTE_ON, 6.0), 'its value must be an integer'),
    ('performance', 'ab', r'must be \(kind, value\)'),
    ('performance_with_dynamics', (VELOCITY, 33), r'VELOCITY value 33 is outside \[1, 32\]'),
    ('density_conditioned_performance_with_dynamics', (NOTE_ON, 60),
     r'must be \(kind, value, control\)'),
    ('density_conditioned_performance_with_dynamics', (NOTE_ON, 60, None),
     'always conditioned'),
    ('density_conditioned_performance_with_dynamics', (NOTE_ON, 60, (float('nan'),)),
     'a note density is a number'),
    ('multiconditioned_performance_with_dynamics', (NOTE_ON, 60, (3.0,)),
     r'a tuple of 2 values \(notes_per_second, pitch_class_histogram\)'),
    ('pitch_conditioned_performance_with_dynamics', (NOTE_ON, 60, ((1.0,) * 11,)),
     'a pitch-class histogram is 12 numbers'),
    ('pitch_conditioned_performance_with_dynamics', (NOTE_ON, 60, ((1.0,) * 11 + (-1,),)),
     'pitch-class weights are numbers >= 0'),
])
def test_bad_events_are_one_line_naming_the_position(name, event, message):
    encoder = get_config(name).make_encoder()
    good = encoder.training_sequences([(NOTE_ON, 60)])[0]
    with pytest.raises(MusekitError, match=message) as caught:
        encoder.validate_events(good + [event])
    assert 'position 1' in str(caught.value) and '\n' not in str(caught.value)


@pytest.mark.parametrize('params, message', [
    ({'control_signals': ['notes_per_second', 'notes_per_second']}, 'name a signal twice'),
    ({'optional_conditioning': True}, 'needs control_signals'),
    ({'density_bin_ranges': [2.0, 1.0]}, 'must increase'),
    ({'control_signals': ['loudness']}, 'control_signals'),
    ({'num_velocity_bins': 128}, 'num_velocity_bins'),
    ({'steps_per_second': 1000}, 'steps_per_second'),
])
def test_bad_parameters_are_one_line(params, message):
    with pytest.raises(MusekitError, match=message):
        get_encoder('performance_one_hot', params)
