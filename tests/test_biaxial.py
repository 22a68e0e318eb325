"""The biaxial family: the encoder's per-note features on hand-worked steps, held vs
repeated notes, the note axis's causality, equality of the NumPy step model with the Keras
model, a tiny model learning, and generation from a bundle to MIDI."""
import os

import numpy as np
import pytest

from musekit.config import get_config
from musekit.encoders.biaxial import BiaxialEncoder
from musekit.errors import MusekitError
from musekit.output.notes import Note
from musekit.pieces.articulated_roll import step_notes
from refusals import refusal

# 14 notes, MIDI 60..73: small enough to work features out by hand.
ENCODER = BiaxialEncoder(min_pitch=60, num_notes=14)


def column(name):
    """The feature columns of `name`, by the layout of the encoder's docstring."""
    return {'position': slice(0, 1), 'pitch_class': slice(1, 13),
            'vicinity': slice(13, 63), 'context': slice(63, 75), 'beat': slice(75, 79)}[name]


def step_features(step, index):
    return ENCODER.features(ENCODER.step_input(step, index))


def test_features_are_79_per_note_with_position_and_pitch_class():
    f = step_features(((), ()), 0)
    assert f.shape == (14, 79)
    assert f[:, column('position')].ravel().tolist() == list(range(14))
    # note 0 is C (class 0), note 13 is C# (class 1): one-hot
    assert f[0, column('pitch_class')].tolist() == [1] + [0] * 11
    assert f[13, column('pitch_class')].tolist() == [0, 1] + [0] * 10


def test_vicinity_is_zero_beyond_the_range_edges():
    f = step_features(((60, 64, 73), (64,)), 0)
    vicinity = f[:, column('vicinity')].reshape(14, 25, 2)      # offsets -12..+12
    # note 0 (MIDI 60): nothing below it; itself played not articulated; +4 played and
    # articulated; +13 would be 73, beyond its +12 window
    assert vicinity[0, :12].sum() == 0
    assert vicinity[0, 12].tolist() == [1, 0]
    assert vicinity[0, 16].tolist() == [1, 1]
    assert vicinity[0].sum() == 3
    # note 13 (MIDI 73): itself played; 60 is -13, outside; 64 is -9; above it nothing
    assert vicinity[13, 12].tolist() == [1, 0]
    assert vicinity[13, 3].tolist() == [1, 1]
    assert vicinity[13, 13:].sum() == 0 and vicinity[13].sum() == 3


def test_context_counts_pitch_classes_rotated_to_each_note():
    f = step_features(((60, 64, 67, 72), (60, 64, 67, 72)), 0)   # C E G C: two Cs
    context = f[:, column('context')]
    # note 0 is C: two notes a unison/octave above (class +0), one at +4 (E), one at +7
    assert context[0].tolist() == [2, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    # note 2 is D: C is 10 semitones up from D (mod 12), E is +2, G is +5
    assert context[2].tolist() == [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 2, 0]
    # the context does not depend on whether the note itself is played
    assert np.array_equal(context[0], context[12])              # 72 is C as well


@pytest.mark.parametrize('index, bits', [
    (0, [-1, -1, -1, -1]), (1, [1, -1, -1, -1]), (5, [1, -1, 1, -1]),
    (15, [1, 1, 1, 1]), (16, [-1, -1, -1, -1]), (22, [-1, 1, 1, -1]),
])
def test_beat_is_the_step_index_in_four_bits_least_significant_first(index, bits):
    f = step_features(((), ()), index)
    assert np.all(f[:, column('beat')] == bits)


def test_encode_pairs_each_step_with_the_next_steps_decisions():
    steps = [((60,), (60,)), ((60, 62), (62,)), ((), ())]
    inputs, labels = ENCODER.encode(steps)
    assert inputs.shape == (2, 29) and labels.shape == (2, 14, 2)
    assert inputs[1, :14].tolist() == [1, 0, 1] + [0] * 11       # played at step 1
    assert inputs[1, 14:28].tolist() == [0, 0, 1] + [0] * 11     # articulated at step 1
    assert inputs[:, 28].tolist() == [0, 1]                      # beats
    assert labels[0, :3].tolist() == [[1, 0], [0, 0], [1, 1]]    # step 1's decisions
    assert labels[1].sum() == 0
    assert ENCODER.label_to_event(labels[0], steps[:1]) == ((60, 62), (62,))


@pytest.mark.parametrize('steps, message', [
    ([((59,), ())], 'step 0 holds 59, not a note of the range (MIDI 60..73)'),
    ([((), ()), ((60,), (62,))], 'step 1 articulates [62] without playing it'),
    ([(60, 62)], 'step 0 is (60, 62), not a pair (played pitches, articulated pitches)'),
    ([((73, 74), ())], 'step 0 holds 74, not a note of the range (MIDI 60..73)'),
    ([((60.0,), ())], 'step 0 holds 60.0, not a note of the range (MIDI 60..73)'),
])
def test_bad_steps_are_one_clear_error(steps, message):
    with pytest.raises(MusekitError) as info:
        ENCODER.validate_events(steps)
    assert str(info.value) == message


def test_default_range_is_midi_24_to_101():
    assert BiaxialEncoder().params() == {'min_pitch': 24, 'num_notes': 78}
    assert BiaxialEncoder().max_pitch == 102


@pytest.mark.parametrize('min_pitch, num_notes, message', [
    (-1, 10, "parameter min_pitch=-1 of encoder 'biaxial': expected int >= 0, <= 127"),
    (128, 1, "parameter min_pitch=128 of encoder 'biaxial': expected int >= 0, <= 127"),
    (60, 0, "parameter num_notes=0 of encoder 'biaxial': expected int >= 1, <= 128"),
    (60, 69, 'num_notes must be in [1, 68], got 69'),
    (127, 2, 'num_notes must be in [1, 1], got 2'),
])
def test_a_range_outside_midi_is_one_clear_error(min_pitch, num_notes, message):
    assert refusal(BiaxialEncoder, min_pitch, num_notes) == message


def test_a_range_may_span_all_of_midi_or_one_note():
    assert BiaxialEncoder(0, 128).max_pitch == 128
    assert BiaxialEncoder(127, 1).max_pitch == 128
    assert BiaxialEncoder(60, 68).max_pitch == 128


def test_stored_inputs_are_int64_with_the_beat_cycling_through_0_to_15():
    inputs, labels = ENCODER.encode([((60, 73), (73,))] * 19)
    assert inputs.dtype == np.int64 and labels.dtype == np.int64
    assert ENCODER.state(((60,), ())).dtype == np.int64
    assert inputs[:, 28].tolist() == list(range(16)) + [0, 1]      # 18 inputs


def test_features_are_float32_whatever_the_inputs_dtype():
    inputs, _ = ENCODER.encode([((60, 64), (60,)), ((64, 67), (67,))] * 9)
    f = ENCODER.features(inputs)
    assert f.dtype == np.float32
    # inputs read back as floats (as a float pipeline gives them): the same features
    assert np.array_equal(ENCODER.features(inputs.astype(np.float32)), f)


def test_stepper_pushes_give_the_encoded_inputs_of_sorted_steps():
    steps = [((64, 60), (64,)), ((60, 64), (60,)), ((), ()), ((73,), (73,))]
    inputs, _ = ENCODER.encode(steps + [((), ())])
    stepper = ENCODER.stepper([])
    assert np.stack([stepper.push(s) for s in steps]).tolist() == inputs.tolist()
    assert stepper.events[0] == ((60, 64), (64,))
    primed = ENCODER.stepper(steps[:2])
    assert primed.events == [((60, 64), (64,)), ((60, 64), (60,))]
    assert primed.push(steps[2]).tolist() == inputs[2].tolist()


def test_held_and_repeated_notes_from_midi_and_back(tmp_path):
    """A note held for two steps, then the same pitch again: three steps played, the first
    and third articulated; written back, still two notes."""
    from note_seq import sequences_lib
    from note_seq.protobuf import music_pb2
    from musekit.extractors.articulated import note_steps
    ns = music_pb2.NoteSequence()
    ns.tempos.add(qpm=120)
    for pitch, start, end in ((60, 0.0, 0.25), (60, 0.25, 0.375), (64, 0.125, 0.375)):
        ns.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=80)
    ns.total_time = 0.375
    quantized = sequences_lib.quantize_note_sequence(ns, 4)        # 1/8 s per step
    steps, outside = note_steps(quantized, 60, 74, 3)
    assert outside == 0
    assert steps == [((60,), (60,)), ((60, 64), (64,)), ((60, 64), (60,))]
    assert step_notes(steps) == [Note(60, 0, 2), Note(64, 1, 3), Note(60, 2, 3)]


def test_the_articulated_extractor_keeps_the_polyphonic_limits():
    config = get_config('biaxial_jsb')
    extractor = config.make_extractor()
    assert extractor.output_name == 'articulated_rolls'
    assert (extractor.min_steps, extractor.max_steps) == (8, 1024)


# --- the model (TensorFlow) -------------------------------------------------------------

TINY = {'time_layer_sizes': [12, 10], 'note_layer_sizes': [8, 6], 'dropout_rate': 0.0,
        'crop_length': 16}


@pytest.fixture(scope='module')
def tiny():
    """(family, Keras model) of a tiny biaxial RNN over ENCODER's 14 notes."""
    from musekit.models.biaxial_rnn import BiaxialRNN
    import keras
    keras.utils.set_random_seed(3)
    family = BiaxialRNN()
    return family, family.build(ENCODER, TINY)


def random_piece(rng, length):
    steps, previous = [], set()
    for _ in range(length):
        played = {60 + int(k) for k in np.flatnonzero(rng.random(14) < 0.3)}
        articulated = {p for p in played if p not in previous or rng.random() < 0.3}
        steps.append((tuple(sorted(played)), tuple(sorted(articulated))))
        previous = played
    return steps


@pytest.mark.slow
def test_keras_features_equal_the_encoders(tiny):
    _, model = tiny
    rng = np.random.default_rng(0)
    inputs, _ = ENCODER.encode(random_piece(rng, 21))
    np.testing.assert_array_equal(np.asarray(model.features(inputs[None]))[0],
                                  ENCODER.features(inputs))


@pytest.mark.slow
def test_note_axis_is_causal_and_the_step_model_equals_keras(tiny):
    family, model = tiny
    rng = np.random.default_rng(1)
    inputs, labels = ENCODER.encode(random_piece(rng, 9))
    logits = np.asarray(model((inputs[None], labels[None])))[0]          # [8, 14, 2]
    # decisions of notes above k (at every step) do not reach note k's outputs
    k = 6
    changed = labels.copy()
    changed[:, k:] = 1 - changed[:, k:]
    changed[:, k:, 1] *= changed[:, k:, 0]
    other = np.asarray(model((inputs[None], changed[None])))[0]
    np.testing.assert_allclose(other[:, :k + 1], logits[:, :k + 1], atol=1e-6)
    assert not np.allclose(other[:, k + 1:], logits[:, k + 1:])
    # a later step's inputs do not reach earlier steps
    later = inputs.copy()
    later[5:, :28] = 1 - later[5:, :28]
    np.testing.assert_allclose(np.asarray(model((later[None], labels[None])))[0][:5],
                               logits[:5], atol=1e-6)
    # the NumPy step model, fed the same decisions, gives the same logits step by step
    step_model = family.step_model(family.export_weights(model), ENCODER, TINY)
    state = step_model.initial_state(1)
    for t in range(len(inputs)):
        time_outputs, state = step_model.step(inputs[t][None], state)
        _, _, step_logits = step_model.decide(time_outputs, 1.0, None,
                                              choose=lambda n, _, t=t: labels[t, n][None])
        np.testing.assert_allclose(step_logits[0], logits[t], atol=1e-5)


@pytest.mark.slow
def test_a_tiny_model_learns_a_repeating_piece():
    import keras
    import tensorflow as tf
    from musekit.models.biaxial_rnn import BiaxialRNN
    keras.utils.set_random_seed(4)
    family = BiaxialRNN()
    model = family.build(ENCODER, TINY)
    objective = family.objective(ENCODER, TINY)
    piece = [((60, 64, 67), (60, 64, 67)), ((60, 64, 67), ()), ((62, 65), (62, 65)),
             ((62, 65), ())] * 4
    inputs, labels = ENCODER.encode(piece)
    inputs, labels = tf.constant(inputs[None]), tf.constant(labels[None])
    mask = tf.ones((1, len(piece) - 1))
    optimizer = keras.optimizers.Adam(0.02)
    losses = []
    for _ in range(30):
        with tf.GradientTape() as tape:
            totals = objective.totals(family.training_outputs(model, inputs, labels, True),
                                      labels, mask)
            loss = totals['loss'][0] / totals['loss'][1]
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0], losses           # 11.5 -> 7.6 nats per step
    frame = totals['frame_nll'][0] / totals['frame_nll'][1]
    assert 0 < float(frame) < float(loss)             # play decisions alone: a part of it


# --- generation from a bundle, without TensorFlow ---------------------------------------

def random_bundle(path, config_name='biaxial_rnn', hparams=None, seed=0):
    from musekit.bundle import write_bundle
    config = get_config(config_name).with_hparams(hparams or {})
    shapes = config.make_model().weight_shapes(config.make_encoder(), dict(config.hparams))
    rng = np.random.default_rng(seed)
    weights = {name: (0.3 * rng.standard_normal(shape)).astype(np.float32)
               for name, shape in shapes.items()}
    write_bundle(str(path), config, weights, {'dataset': 'none: random weights'})
    return str(path)


def test_generate_writes_polyphonic_midi_of_the_requested_length(tmp_path, capsys):
    import note_seq
    from musekit.cli import generate as cli
    bundle = random_bundle(tmp_path / 'b.musekit', hparams={
        'time_layer_sizes': [16], 'note_layer_sizes': [8]})
    out_dir = tmp_path / 'out'
    try:
        cli.run(['musekit_generate', '--bundle_file=' + bundle, '--output_dir=%s' % out_dir,
                 '--num_outputs=3', '--num_steps=32', '--seed=5'])
    except SystemExit as e:
        assert e.code == 0, capsys.readouterr().err
    assert sorted(os.listdir(out_dir)) == ['piece_01.mid', 'piece_02.mid', 'piece_03.mid']
    for name in sorted(os.listdir(out_dir)):
        ns = note_seq.midi_file_to_note_sequence(str(out_dir / name))
        starts = [round(n.start_time * 8) for n in ns.notes]         # 8 steps a second
        assert ns.notes and max(round(n.end_time * 8) for n in ns.notes) <= 32
        assert all(24 <= n.pitch < 102 for n in ns.notes)
        assert len(starts) > len(set(starts))                         # chords: polyphonic


def test_biaxial_generation_refuses_top_k(tmp_path, capsys):
    from musekit.cli import generate as cli
    bundle = random_bundle(tmp_path / 'b.musekit', hparams={
        'time_layer_sizes': [4], 'note_layer_sizes': [4]})
    with pytest.raises(SystemExit) as info:
        cli.run(['musekit_generate', '--bundle_file=' + bundle, '--top_k=3',
                 '--output_dir=%s' % (tmp_path / 'out')])
    assert info.value.code == 2
    assert 'top-k sampling applies to models that draw one class per step' in \
        capsys.readouterr().err


def test_same_seed_same_steps_and_log_probabilities():
    from musekit.generation import generate
    config = get_config('biaxial_rnn')
    encoder = config.make_encoder()
    hparams = {**config.hparams, 'time_layer_sizes': [8], 'note_layer_sizes': [6]}
    shapes = config.make_model().weight_shapes(encoder, hparams)
    rng = np.random.default_rng(2)
    weights = {n: (0.5 * rng.standard_normal(s)).astype(np.float32) for n, s in shapes.items()}
    model = config.make_model().step_model(weights, encoder, hparams)
    a = generate(model, encoder, [((60,), (60,))], 12, num_outputs=2, seed=9)
    b = generate(model, encoder, [((60,), (60,))], 12, num_outputs=2, seed=9)
    assert a.events == b.events and np.array_equal(a.log_likelihood, b.log_likelihood)
    assert all(len(e) == 12 for e in a.events) and np.all(a.log_likelihood < 0)
    for events in a.events:
        encoder.validate_events(events)              # articulated always a subset of played


def test_a_primer_midi_keeps_repeated_notes_apart_and_moves_pitches_into_range(tmp_path):
    from musekit.output.midi import write_midi
    from musekit.pieces.articulated_roll import ArticulatedRollPiece
    config = get_config('biaxial_rnn')                   # MIDI 24..101, sixteenth notes
    path = write_midi(str(tmp_path / 'p.mid'), [Note(60, 0, 2), Note(60, 2, 3),
                                                 Note(110, 1, 3)], 3)
    piece = ArticulatedRollPiece(config.make_encoder(), config.make_extractor())
    primer = piece.primer({'primer_midi': path, 'qpm': 120.0, 'render_wav': False,
                           'plot': False})
    # 110 is above the range: an octave down is 98
    assert primer == [((60,), (60,)), ((60, 98), (98,)), ((60, 98), (60,))]


def test_params_rebuild_the_encoder():
    encoder = BiaxialEncoder(min_pitch=30, num_notes=50)
    assert encoder.params() == {'min_pitch': 30, 'num_notes': 50}
    rebuilt = BiaxialEncoder(**encoder.params())
    assert (rebuilt.min_pitch, rebuilt.num_notes) == (30, 50)
    assert rebuilt.input_spec == encoder.input_spec == BiaxialEncoder(30, 50).input_spec
