"""Drums RNN encodings: musekit's drum encoders give exactly note_seq's inputs, labels and
decoded events (MultiDrumOneHotEncoding, one-hot and inside the lookback encoder) on many
tracks, random ones included; the configs are Magenta's drum_kit and one_drum."""
import numpy as np
import pytest
from note_seq import drums_encoder_decoder, encoder_decoder

from musekit.config import get_config
from musekit.encoders.drums import (DEFAULT_DRUM_TYPE_PITCHES, NO_HITS, LookbackDrumEncoder,
                                    OneHotDrumEncoder)
from musekit.errors import MusekitError
from musekit.testing import check_encoder

ONE_DRUM_TYPES = [[39] + list(range(0, 39)) + list(range(39, 128))]
KIT = [p for pitches in DEFAULT_DRUM_TYPE_PITCHES for p in pitches]


def random_tracks(seed, count=40, known_only=False):
    """Drum tracks: random hit sets (some of pitches in no drum type), repeated bars, long
    silences, and tracks of 0, 1 and 2 steps."""
    rng = np.random.default_rng(seed)
    pool = np.array(KIT if known_only else range(128))
    tracks = [[], [NO_HITS], [frozenset([36]), NO_HITS]]
    for k in range(count):
        length = int(rng.integers(3, 200))
        bar = [frozenset(int(p) for p in rng.choice(pool, int(rng.integers(0, 4))))
               for _ in range(int(rng.integers(1, 20)))]
        track = []
        while len(track) < length:
            if rng.random() < 0.5:
                track += bar                        # a repeat, so lookbacks fire
            elif rng.random() < 0.3:
                track += [NO_HITS] * int(rng.integers(1, 40))
            else:
                track.append(frozenset(int(p) for p in rng.choice(
                    pool, int(rng.integers(0, 5)))))
        tracks.append(track[:length])
    return tracks


def note_seq_encoding(theirs, events):
    """(inputs, labels) as note_seq's encoder-decoder gives them, position by position."""
    n = len(events)
    inputs = np.array([theirs.events_to_input(events, i) for i in range(n - 1)],
                      np.float32).reshape(max(n - 1, 0), theirs.input_size)
    labels = np.array([theirs.events_to_label(events, i) for i in range(1, n)], np.int64)
    return inputs, labels


def test_the_configs_are_magentas_drum_kit_and_one_drum():
    kit, one = get_config('drum_kit'), get_config('one_drum')
    assert kit.make_encoder().drum_types == tuple(tuple(p) for p in DEFAULT_DRUM_TYPE_PITCHES)
    assert kit.make_encoder().params()['lookback_distances'] == []
    assert kit.make_encoder().params()['binary_counter_bits'] == 6
    assert (kit.make_encoder().input_spec.size, kit.make_encoder().label_spec.depth) == (518,
                                                                                        512)
    assert (one.make_encoder().input_spec.size, one.make_encoder().label_spec.depth) == (2, 2)
    assert one.make_encoder().drum_types == (tuple(ONE_DRUM_TYPES[0]),)
    assert kit.hparams['batch_size'] == one.hparams['batch_size'] == 128
    assert (list(kit.hparams['rnn_layer_sizes']), kit.hparams['attn_length'],
            kit.hparams['clip_norm'], kit.hparams['dropout_rate']) == ([256, 256, 256], 32,
                                                                       3.0, 0.5)
    assert (list(one.hparams['rnn_layer_sizes']), one.hparams['attn_length'],
            one.hparams['clip_norm']) == ([128, 128], 0, 5.0)
    assert kit.make_extractor().steps_per_quarter == 4
    assert one.make_extractor().steps_per_quarter == 2      # Magenta's one_drum: 8th notes
    for config in (kit, one):
        extractor = config.make_extractor()
        assert (extractor.min_bars, extractor.max_steps, extractor.gap_bars,
                extractor.pad_end) == (7, 512, 1.0, False)


def test_classes_by_hand():
    kit = OneHotDrumEncoder()
    assert kit.event_class(frozenset()) == 0
    assert kit.event_class(frozenset([36])) == 1 and kit.event_class(frozenset([35])) == 1
    assert kit.event_class(frozenset([36, 38, 42])) == 0b111
    assert kit.event_class(frozenset([51, 100])) == 256          # 100: in no type
    assert kit.class_hits(0b110000011) == frozenset([36, 38, 49, 51])
    one = OneHotDrumEncoder(drum_type_pitches=ONE_DRUM_TYPES)
    assert [one.event_class(frozenset(e)) for e in ([], [0], [127, 5])] == [0, 1, 1]
    assert one.class_hits(1) == frozenset([39])                 # a hand clap


@pytest.mark.parametrize('seed', range(3))
@pytest.mark.parametrize('types, distances, bits', [
    (None, [], 6),                      # drum_kit
    (None, [16, 32], 5),                # Magenta's default lookbacks
    (None, [1, 3, 8], 0),
    ([[36], [38, 40], [42, 44, 46]], [4], 7),
])
def test_lookback_encoding_equals_note_seqs(seed, types, distances, bits):
    ours = LookbackDrumEncoder(**({'drum_type_pitches': types} if types else {}),
                               lookback_distances=distances, binary_counter_bits=bits)
    theirs = encoder_decoder.LookbackEventSequenceEncoderDecoder(
        drums_encoder_decoder.MultiDrumOneHotEncoding(types), lookback_distances=distances,
        binary_counter_bits=bits)
    assert (ours.input_spec.size, ours.num_classes) == (theirs.input_size, theirs.num_classes)
    for events in random_tracks(seed, count=15):
        inputs, labels = ours.encode(events)
        expected_inputs, expected_labels = note_seq_encoding(theirs, events)
        np.testing.assert_array_equal(inputs, expected_inputs)
        np.testing.assert_array_equal(labels, expected_labels)
        stepper = ours.stepper([])
        rows = [stepper.push(event) for event in events[:-1]]
        if rows:
            np.testing.assert_array_equal(np.stack(rows), expected_inputs)
        for label in range(theirs.num_classes):      # decoding, lookbacks included
            assert ours.label_to_event(label, events) == \
                theirs.class_index_to_event(label, events), label


@pytest.mark.parametrize('types', [None, ONE_DRUM_TYPES, [[36, 35], [38], [42, 46, 44]]])
def test_one_hot_encoding_equals_note_seqs(types):
    ours = OneHotDrumEncoder(**({'drum_type_pitches': types} if types else {}))
    theirs = encoder_decoder.OneHotEventSequenceEncoderDecoder(
        drums_encoder_decoder.MultiDrumOneHotEncoding(types))
    assert (ours.input_spec.size, ours.label_spec.depth) == (theirs.input_size,
                                                             theirs.num_classes)
    for events in random_tracks(7, count=25):
        inputs, labels = ours.encode(events)
        expected_inputs, expected_labels = note_seq_encoding(theirs, events)
        np.testing.assert_array_equal(inputs, expected_inputs)
        np.testing.assert_array_equal(labels, expected_labels)
    for label in range(theirs.num_classes):
        assert ours.label_to_event(label, []) == theirs.class_index_to_event(label, [])


@pytest.mark.parametrize('name', ['drum_kit', 'one_drum'])
def test_the_encoders_keep_their_contract(name):
    encoder = get_config(name).make_encoder()
    check_encoder(encoder, random_tracks(11, count=12))


def test_lookback_contract_on_canonical_hits():
    """With lookbacks, decoding writes each type's first pitch, so a track decodes and
    encodes back to its labels when it holds those pitches only."""
    encoder = LookbackDrumEncoder(lookback_distances=[2, 16], binary_counter_bits=4)
    canonical = [[encoder.class_hits(encoder.event_class(e)) for e in track]
                 for track in random_tracks(12, count=12)]
    check_encoder(encoder, canonical)


def test_events_of_other_kinds_are_normalised():
    encoder = LookbackDrumEncoder(lookback_distances=[1])
    inputs, labels = encoder.encode([(36, 42), [36, 42], {42, 36}, np.array([42, 36]), ()])
    assert list(labels) == [512, 512, 512, 0]       # each repeats the one before
    stepper = encoder.stepper([(36, np.int64(42))])
    assert stepper.events == [frozenset([36, 42])]
    assert all(type(p) is int for p in stepper.events[0])


@pytest.mark.parametrize('events, message', [
    ([(36,), 36], 'drum event at position 1 must be a set of MIDI pitches, got 36'),
    ([(36,), '36'], "drum event at position 1 must be a set of MIDI pitches, got '36'"),
    ([(36, 128)], 'drum event at position 0 holds 128, not a MIDI pitch (0..127)'),
    ([(), (True,)], 'drum event at position 1 holds True, not a MIDI pitch (0..127)'),
    ([(36.0,)], 'drum event at position 0 holds 36.0, not a MIDI pitch (0..127)'),
])
def test_bad_events_are_one_line(events, message):
    for encoder in (OneHotDrumEncoder(), LookbackDrumEncoder()):
        with pytest.raises(MusekitError) as e:
            encoder.encode(events)
        assert str(e.value) == message
        with pytest.raises(MusekitError) as e:
            encoder.stepper(events)
        assert str(e.value) == message


def test_unknown_drums_refused_when_asked_as_note_seq_does():
    ours = OneHotDrumEncoder(ignore_unknown_drums=False)
    theirs = drums_encoder_decoder.MultiDrumOneHotEncoding(ignore_unknown_drums=False)
    assert ours.encode([(36,), (42, 38)])[1].tolist() == [theirs.encode_event({42, 38})]
    with pytest.raises(drums_encoder_decoder.DrumsEncodingError):
        theirs.encode_event({36, 100})
    with pytest.raises(MusekitError) as e:
        ours.encode([(36,), (36, 100)])
    assert str(e.value) == ('drum event at position 1 holds pitch 100, which is in no drum '
                            'type (ignore_unknown_drums is false)')


@pytest.mark.parametrize('types, message', [
    ([], 'expected list of list of int, 1 to 12 items'),
    ([[36]] * 13, 'expected list of list of int, 1 to 12 items'),
    ([[36], []], 'drum type 1 must be a non-empty list of MIDI pitches, got []'),
    ([[36, 200]], 'drum type 0 lists 200, not a MIDI pitch (0..127)'),
    ([[36, 38], [38]], 'MIDI pitch 38 is in drum types 0 and 1'),
    ([['36']], 'expected list of list of int'),
])
def test_bad_drum_types_are_one_line(types, message):
    with pytest.raises(MusekitError) as e:
        OneHotDrumEncoder(drum_type_pitches=types)
    assert message in str(e.value) and '\n' not in str(e.value)


def test_bad_lookbacks_and_classes():
    with pytest.raises(MusekitError, match='strictly increasing'):
        LookbackDrumEncoder(lookback_distances=[8, 8])
    with pytest.raises(MusekitError, match=r'class 514 is outside \[0, 514\)'):
        LookbackDrumEncoder(lookback_distances=[1, 2]).label_to_event(514, [])
    with pytest.raises(MusekitError, match=r'drum class 2 is outside \[0, 2\)'):
        OneHotDrumEncoder(drum_type_pitches=ONE_DRUM_TYPES).label_to_event(2, [])
