"""Polyphony: the piano-roll and chord-token encoders, the benchmark-file reader, the SNU
cell against its equations, the frame NLL, and the NumPy step models against Keras."""
import os
import pickle

import numpy as np
import pytest

from musekit.data import piano_roll_files, sources
from musekit.data.splits import HashSplit, PublishedSplit
from musekit.encoders.chord_tokens import (ChordTokenEncoder, frame_token, pitch_name,
                                           token_frame)
from musekit.encoders.piano_roll import PianoRollEncoder
from musekit.errors import MusekitError
from musekit.layers import snu
from musekit.output.notes import Note
from musekit.pieces.piano_roll import frame_notes
from refusals import refusal

HERE = os.path.dirname(os.path.abspath(__file__))
JSB = os.path.join(HERE, 'data', 'JSB_Chorales.mat')


def jsb_rolls():
    import scipy.io
    data = scipy.io.loadmat(JSB)
    return {part: [np.asarray(r) for r in data[var].ravel()]
            for part, var in piano_roll_files.MAT_VARIABLES.items()}


# --- piano roll -------------------------------------------------------------------------

def test_piano_roll_encodes_key_k_as_midi_21_plus_k_and_shifts_labels_by_one_frame():
    encoder = PianoRollEncoder()
    frames = [(21, 60), (), (60, 64, 108)]
    inputs, labels = encoder.encode(frames)
    assert inputs.shape == (2, 88) and labels.shape == (2, 88)
    assert inputs.dtype == np.float32 and labels.dtype == np.int64
    assert np.flatnonzero(inputs[0]).tolist() == [0, 39]
    assert not inputs[1].any()
    assert np.flatnonzero(labels[1]).tolist() == [39, 43, 87]
    assert np.array_equal(labels[0], inputs[1])


def test_piano_roll_round_trip_and_held_keys_become_one_note():
    encoder = PianoRollEncoder()
    frames = [(60, 64), (60, 64), (60, 67), (), (60,)]
    _, labels = encoder.encode(frames)
    assert encoder.decode(labels, primer=frames[:1]) == frames
    assert frame_notes(frames) == [Note(60, 0, 3), Note(64, 0, 2), Note(67, 2, 3),
                                   Note(60, 4, 5)]


def test_piano_roll_refuses_pitches_off_the_keyboard():
    assert refusal(PianoRollEncoder().encode, [(60,), (109,)]) == (
        'frame 1 holds 109, not a key of the piano roll (MIDI 21..108)')
    assert refusal(PianoRollEncoder, min_pitch=100, num_keys=88) == (
        'num_keys must be in [1, 28], got 88')


def test_stepper_gives_the_same_inputs_as_encode():
    encoder = PianoRollEncoder(min_pitch=48, num_keys=36)
    frames = [(48, 60), (83,), (), (50, 52)]
    inputs, _ = encoder.encode(frames)
    stepper = encoder.stepper([])
    assert np.array_equal(np.stack([stepper.push(f) for f in frames[:-1]]), inputs)


# --- benchmark files and the published split --------------------------------------------

def test_mat_file_becomes_382_sequences_that_keep_their_split_and_frames():
    content = open(JSB, 'rb').read()
    source = sources.Source(JSB, 'JSB_Chorales.mat', 'data')
    sequences = sources.parse(source, content)
    split = PublishedSplit()
    parts = [split.assign(ns.id) for ns in sequences]
    assert (parts.count('training'), parts.count('eval'), parts.count('test')) == (229, 76, 77)
    assert sequences[0].id.endswith('/train/0') and sequences[-1].id.endswith('/test/76')
    # quantized at one step per quarter, the notes give back the .mat frames exactly
    from note_seq import sequences_lib
    from musekit.extractors.polyphony import note_frames
    rolls = jsb_rolls()
    for ns, roll in [(sequences[0], rolls['train'][0]), (sequences[-1], rolls['test'][-1])]:
        frames, outside = note_frames(sequences_lib.quantize_note_sequence(ns, 1), 21, 109)
        assert outside == 0 and len(frames) == len(roll)
        assert np.array_equal(PianoRollEncoder().rows(frames), roll)
    assert len(rolls['train'][0]) == 129


def test_published_split_falls_back_to_the_hash_split_and_never_invents_test():
    split = PublishedSplit(eval_ratio=0.5)
    ids = ['/id/midi/x/%032x' % i for i in range(200)]
    parts = {split.assign(i) for i in ids}
    assert parts == {'training', 'eval'}
    assert split.assign('/id/pianoroll/x/%s/valid/3' % ('ab' * 16)) == 'eval'


def test_pickle_file_reads_the_same_pieces_as_the_mat_file(tmp_path):
    rolls = jsb_rolls()
    data = {part: [[[int(k) + 21 for k in np.flatnonzero(row)] for row in roll]
                   for roll in rolls[part][:3]] for part in ('train', 'valid', 'test')}
    pickled = pickle.dumps(data, protocol=2)
    pieces = piano_roll_files.read(pickled, is_pickle=True)
    assert [(p, i) for p, i, _ in pieces] == [(p, i) for p in ('train', 'valid', 'test')
                                              for i in range(3)]
    from_mat = piano_roll_files.read(open(JSB, 'rb').read(), is_pickle=False)
    assert pieces[3][2] == from_mat[229][2]     # valid piece 0, as a NoteSequence


def test_a_pickle_that_names_any_global_is_refused_without_running_it(tmp_path):
    marker = tmp_path / 'ran'

    class Evil:
        def __reduce__(self):
            return (os.system, ('touch %s' % marker,))

    hostile = pickle.dumps({'train': [[[60]], Evil()]}, protocol=2)
    source = sources.Source('evil.pickle', 'evil.pickle', 'x')
    with pytest.raises(sources.BadInput) as caught:
        sources.parse(source, hostile)
    assert caught.value.reason == 'piano_roll_file_error'
    assert 'refers to' in caught.value.detail and not marker.exists()


@pytest.mark.parametrize('content, detail', [
    (b'not a mat file at all', 'not a readable MATLAB file'),
    (pickle.dumps([1, 2]), 'not a dict'),
    (pickle.dumps({'train': [[[200]]]}), 'not a MIDI pitch'),
    (pickle.dumps({'other': []}), 'holds none of'),
])
def test_malformed_benchmark_files_are_one_reason(content, detail):
    name = 'x.mat' if content.startswith(b'not') else 'x.pickle'
    with pytest.raises(sources.BadInput, match=detail):
        sources.parse(sources.Source(name, name, 'x'), content)


# --- the frame NLL ----------------------------------------------------------------------

def test_frame_nll_and_accuracy_on_a_hand_worked_case():
    import tensorflow as tf
    from musekit.models.frames import FrameBernoulli
    from musekit.testing import frame_nll
    # two frames of three keys; logit 0 is P = 0.5, ln 2 each; logit ln 3 is P(on) = 0.75
    logits = np.array([[[0.0, 0.0, 0.0], [np.log(3.0), -np.log(3.0), 0.0]]], np.float32)
    labels = np.array([[[1, 0, 1], [1, 1, 0]]], np.int64)
    # frame 1: 3 ln 2; frame 2: -ln .75 - ln .25 + ln 2
    expected = (3 * np.log(2) + (-np.log(0.75) - np.log(0.25) + np.log(2))) / 2
    assert frame_nll(logits[0], labels[0]) == pytest.approx(expected)
    totals = FrameBernoulli().totals(tf.constant(logits), tf.constant(labels),
                                     tf.constant([[1.0, 1.0]]))
    loss, frames = (float(v) for v in totals['loss'])
    assert frames == 2 and loss / frames == pytest.approx(expected, rel=1e-6)
    # predicted on (P > 0.5): only key 0 of frame 2: TP 1, FP 0, FN 3 (keys 0, 2; then 1)
    tp, denominator = (float(v) for v in totals['frame_accuracy'])
    assert (tp, denominator) == (1.0, 4.0)
    # a padded frame counts for nothing
    masked = FrameBernoulli().totals(tf.constant(logits), tf.constant(labels),
                                     tf.constant([[1.0, 0.0]]))
    assert float(masked['loss'][0]) == pytest.approx(3 * np.log(2), rel=1e-6)
    assert float(masked['frame_accuracy'][1]) == 2.0


# --- the SNU cell ----------------------------------------------------------------------

def keras_snu_outputs(inputs, kernel, threshold, **options):
    import keras
    layer = snu.keras_layer(kernel.shape[1], 'snu', **options)
    sequence = keras.Input(shape=(None, kernel.shape[0]))
    model = keras.Model(sequence, layer(sequence))
    layer.cell.kernel.assign(kernel)
    layer.cell.threshold.assign(threshold)
    return np.asarray(model(inputs[None].astype(np.float32)))[0]


def numpy_snu_outputs(inputs, kernel, threshold, **options):
    cell = snu.NumpySNUCell(kernel, threshold, **options)
    state = cell.zero_state(1)
    out, membrane = [], []
    for x in inputs:
        o, state = cell(x[None].astype(np.float32), state)
        s = state[0]
        out.append(o[0])
        membrane.append(s[0])
    return np.array(out), np.array(membrane)


def test_snu_cell_decays_its_membrane_and_resets_after_a_spike():
    # one unit, weight 0.6, threshold 1, decay 0.8, input 1 at every step:
    # s1 = 0.6 (no spike); s2 = 0.6 + 0.8 * 0.6 = 1.08 (spike); s3 = 0.6 + 0 (reset) = 0.6
    inputs, kernel, threshold = np.ones((3, 1)), np.array([[0.6]]), np.array([1.0])
    y, s = numpy_snu_outputs(inputs, kernel, threshold)
    np.testing.assert_allclose(s[:, 0], [0.6, 1.08, 0.6], rtol=1e-6)
    assert y[:, 0].tolist() == [0.0, 1.0, 0.0]
    np.testing.assert_array_equal(keras_snu_outputs(inputs, kernel, threshold), y)
    # sSNU: y = sigmoid(s - threshold); its reset is partial: s3 = 0.6 + 0.8*1.08*(1-y2)
    y, s = numpy_snu_outputs(inputs, kernel, threshold, output='sigmoid')
    y1 = 1 / (1 + np.exp(0.4))
    s2 = 0.6 + 0.8 * 0.6 * (1 - y1)
    y2 = 1 / (1 + np.exp(-(s2 - 1)))
    np.testing.assert_allclose(s[:, 0], [0.6, s2, 0.6 + 0.8 * s2 * (1 - y2)], rtol=1e-5)
    np.testing.assert_allclose(keras_snu_outputs(inputs, kernel, threshold, output='sigmoid'),
                               y, rtol=1e-5)


def test_snu_leaky_relu_membrane_and_recurrent_weights():
    # g = leaky ReLU 0.1: a negative drive -2 gives s = -0.2, then -2 + 0.8*(-0.2)
    cell = snu.NumpySNUCell(np.array([[-2.0]]), np.array([1.0]), g='leaky_relu')
    _, (s, y) = cell(np.ones((1, 1), np.float32), cell.zero_state(1))
    _, (s2, _) = cell(np.ones((1, 1), np.float32), (s, y))
    np.testing.assert_allclose([s[0, 0], s2[0, 0]], [-0.2, 0.1 * (-2 - 0.16)], rtol=1e-6)
    # recurrent: a spike feeds back R y into the next step
    cell = snu.NumpySNUCell(np.array([[2.0]]), np.array([1.0]), np.array([[0.5]]))
    _, state = cell(np.ones((1, 1), np.float32), cell.zero_state(1))   # s = 2, spike
    _, (s, y) = cell(np.zeros((1, 1), np.float32), state)    # s = 0 + 0.5 * 1 (reset)
    assert s[0, 0] == pytest.approx(0.5) and y[0, 0] == 0.0


def test_the_step_function_passes_the_tanh_pseudo_derivative():
    import tensorflow as tf
    x = tf.constant([-0.5, 0.0, 0.3, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = snu.spike(x)
    assert np.asarray(y).tolist() == [0.0, 0.0, 1.0, 1.0]
    np.testing.assert_allclose(tape.gradient(y, x), 1 - np.tanh(np.asarray(x)) ** 2,
                               rtol=1e-6)


def test_gradients_reach_every_snu_weight():
    import keras
    import tensorflow as tf
    layer = snu.keras_layer(4, 'snu', recurrent=True)
    x = tf.constant(4 * np.random.default_rng(0).random((2, 5, 3)), tf.float32)  # spikes
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    grads = tape.gradient(loss, layer.trainable_variables)
    assert len(grads) == 3 and all(float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)
    del keras


# --- NumPy step models equal the Keras models ------------------------------------------

def assert_step_model_matches_keras(config_name, inputs, hparams=None, encoder=None):
    import keras
    from musekit.config import get_config
    config = get_config(config_name, hparams)
    encoder = encoder or config.make_encoder()
    family = config.make_model()
    keras.utils.set_random_seed(1)
    model = family.build(encoder, dict(config.hparams))
    for var in model.trainable_variables:      # thresholds and biases off their defaults
        var.assign(var + np.random.default_rng(2).normal(0, 0.3, var.shape))
    expected = np.asarray(model(inputs[None], training=False))[0]
    step_model = family.step_model(family.export_weights(model), encoder, dict(config.hparams))
    state = step_model.initial_state(1)
    got = []
    for x in inputs:
        out, state = step_model.step(x[None], state)
        got.append(out[0])
    np.testing.assert_allclose(np.array(got), expected, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize('name, hparams', [
    ('snu_jsb', 'layer_sizes=[12,8],recurrent=true'),
    ('ssnu_jsb', 'layer_sizes=[12],g=leaky_relu'),
    ('lstm_jsb', 'layer_sizes=[12,8]'),
])
def test_frame_step_models_equal_their_keras_models(name, hparams):
    rng = np.random.default_rng(0)
    frames = (rng.random((12, 88)) < 0.05).astype(np.float32)
    assert_step_model_matches_keras(name, frames, hparams)


def test_token_step_model_equals_its_keras_model():
    encoder = ChordTokenEncoder(vocabulary=['R', 'C4', 'C4.E4', 'G3.D4'])
    ids = np.array([1, 2, 0, 3, 4, 4, 2], np.int64)
    assert_step_model_matches_keras('chord_token_lstm', ids,
                                    'embedding_size=6,layer_sizes=[10,7]', encoder)


# --- sampling ----------------------------------------------------------------------------

def test_frame_sampling_threshold_and_temperature():
    from musekit.models.frames import FrameStepModel
    model = FrameStepModel([], np.eye(3, dtype=np.float32), np.zeros(3, np.float32))
    logits = np.array([[2.0, -0.1, 0.1]])
    on, log_p = model.with_mode('threshold').sample(logits, 1.0, None)
    assert on.tolist() == [[1, 0, 1]]
    sig = lambda v: 1 / (1 + np.exp(-v))                        # noqa: E731
    assert log_p[0] == pytest.approx(np.log(sig(2.0) * sig(0.1) * sig(0.1)))
    rng = np.random.default_rng(0)
    draws = np.concatenate([model.sample(logits, 1.0, rng)[0] for _ in range(4000)])
    np.testing.assert_allclose(draws.mean(0), sig(logits[0]), atol=0.03)
    cold = np.concatenate([model.sample(logits, 0.1, rng)[0] for _ in range(500)])
    assert cold.mean(0)[0] == 1.0 and cold.mean(0)[1] < 0.35
    with pytest.raises(MusekitError, match='top-k'):
        model.with_top_k(2)
    with pytest.raises(MusekitError, match="'greedy' is not offered"):
        model.with_mode('greedy')


def test_top_k_draws_only_the_k_likeliest_classes_renormalised():
    from musekit.generation.sampling import sample_categorical
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 3000))
    classes, log_p = sample_categorical(logits, 1.0, np.random.default_rng(0), top_k=2)
    assert set(classes.tolist()) == {0, 1}
    assert np.mean(classes == 0) == pytest.approx(0.5 / 0.8, abs=0.03)
    np.testing.assert_allclose(log_p[classes == 1], np.log(0.3 / 0.8))


# --- chord tokens ------------------------------------------------------------------------

def test_chord_tokens_spell_frames_and_back():
    assert pitch_name(60) == 'C4' and pitch_name(45) == 'A2' and pitch_name(56) == 'G#3'
    assert frame_token((56, 45)) == 'A2.G#3' and frame_token(()) == 'R'
    assert token_frame('A2.G#3') == (45, 56) and token_frame('R') == ()
    assert all(token_frame(frame_token((p,))) == (p,) for p in range(128))
    assert refusal(token_frame, 'H2') == '\'H2\' is not a chord token (like "A2.G#3" or "R")'
    assert refusal(token_frame, 'C4.x') == (
        '\'C4.x\' is not a chord token (like "A2.G#3" or "R")')


def test_vocabulary_keeps_frequent_tokens_most_frequent_first():
    import collections
    encoder = ChordTokenEncoder(min_count=2, max_size=3)
    counts = collections.Counter({'C4': 5, 'R': 2, 'E4': 5, 'G4': 1, 'D4': 3, 'F4': 2})
    assert encoder.fitted(counts)['vocabulary'] == ['C4', 'E4', 'D4']
    fitted = ChordTokenEncoder(**encoder.fitted(counts))
    assert fitted.depth == 4 and not fitted.needs_fitting
    inputs, labels = fitted.encode([(60,), (62,), (67,), (64,)])
    assert inputs.tolist() == [1, 3, 0] and labels.tolist() == [3, 0, 2]
    # an unknown token decodes as the previous frame held
    assert fitted.decode([3, 0, 2], primer=[(60,)]) == [(60,), (62,), (62,), (64,)]


def test_an_unfitted_chord_encoder_says_where_its_vocabulary_comes_from():
    unfitted = ('the chord-token encoder has no vocabulary yet: it is learnt from the '
                'training data by musekit_create_dataset')
    assert refusal(ChordTokenEncoder().encode, [(60,), (62,)]) == unfitted
    assert refusal(ChordTokenEncoder().label_to_event, 1, []) == unfitted
    assert refusal(ChordTokenEncoder().stepper, []) == unfitted
    once = 'a chord-token vocabulary lists each token once, and not <unk>'
    assert refusal(ChordTokenEncoder, vocabulary=['C4', 'C4']) == once
    assert refusal(ChordTokenEncoder, vocabulary=['C4', '<unk>']) == once


# --- boundaries and steppers (found unpinned by the mutation run) -------------------------

def test_piano_roll_keyboard_bounds():
    assert PianoRollEncoder(min_pitch=0, num_keys=1).max_pitch == 1
    assert PianoRollEncoder(min_pitch=127, num_keys=1).max_pitch == 128
    assert PianoRollEncoder(min_pitch=21, num_keys=107).max_pitch == 128
    for bad, message in ((dict(min_pitch=-1), "parameter min_pitch=-1 of encoder 'piano_roll': expected int >= 0, <= 127"),
                         (dict(min_pitch=128), "parameter min_pitch=128 of encoder 'piano_roll': expected int >= 0, <= 127"),
                         (dict(num_keys=0), "parameter num_keys=0 of encoder 'piano_roll': expected int >= 1, <= 128"),
                         (dict(min_pitch=21, num_keys=108),
                          'num_keys must be in [1, 107], got 108'),
                         (dict(min_pitch='21'), "parameter min_pitch='21' of encoder 'piano_roll': expected int >= 0, <= 127")):
        assert refusal(PianoRollEncoder, **bad) == message
    assert PianoRollEncoder(min_pitch=30, num_keys=10).params() == {'min_pitch': 30,
                                                                   'num_keys': 10}
    assert refusal(PianoRollEncoder().encode, [(True,), (60,)]) == (
        'frame 0 holds True, not a key of the piano roll (MIDI 21..108)')
    assert refusal(PianoRollEncoder().encode, [(60,), 5]) == (
        'frame 1 is 5, not a collection of pitches')
    for bad in (True, 60.0):            # not integers, though in range as numbers
        assert refusal(PianoRollEncoder(min_pitch=0, num_keys=128).encode, [(bad,), ()]) == (
            'frame 0 holds %r, not a key of the piano roll (MIDI 0..127)' % bad)


@pytest.mark.parametrize('encoder', [PianoRollEncoder(), ChordTokenEncoder(
    vocabulary=['C4', 'E4', 'C4.E4'])])
def test_steppers_are_primed_copied_independently_and_match_encode(encoder):
    frames = [(60,), (64,), (60, 64), (67,)]
    inputs, _ = encoder.encode(frames)
    primed = encoder.stepper(frames[:2])
    assert primed.events == [(60,), (64,)]
    branch = primed.copy()
    np.testing.assert_array_equal(primed.push((64, 60)), inputs[2])
    assert branch.events == [(60,), (64,)] and primed.events[-1] == (60, 64)
    np.testing.assert_array_equal(branch.push((60, 64)), inputs[2])    # a working copy
    fresh = encoder.stepper([])
    pushed = np.stack([fresh.push(f) for f in frames[:3]])
    np.testing.assert_array_equal(pushed, inputs)
    assert pushed.dtype == inputs.dtype == (np.float32 if encoder.name == 'piano_roll'
                                            else np.int64)


def test_chord_token_bounds_and_checks():
    assert token_frame('G9') == (127,)
    assert refusal(token_frame, 'G#9') == "chord token 'G#9' has a pitch outside MIDI"
    encoder = ChordTokenEncoder(vocabulary=['C4'])
    encoder.validate_events([(0, 127), ()])
    for bad in [(128,), (-1,), (True,), (60.0,), (64, 60.0)]:
        assert refusal(encoder.validate_events, [(60,), bad]) == (
            'frame 1 %r holds something that is not a MIDI pitch' % (bad,))
    assert refusal(encoder.validate_events, [3]) == 'frame 0 is 3, not a collection of pitches'
    for bad, message in ((dict(min_count=0), "parameter min_count=0 of encoder 'chord_tokens': expected int >= 1"),
                         (dict(max_size=0), "parameter max_size=0 of encoder 'chord_tokens': expected int >= 1"),
                         (dict(min_count=1.5), "parameter min_count=1.5 of encoder 'chord_tokens': expected int >= 1"),
                         (dict(vocabulary='C4'), "parameter vocabulary='C4' of encoder 'chord_tokens': expected list of str or null"),
                         (dict(vocabulary=['C4', 7]),
                          "parameter vocabulary=['C4', 7] of encoder 'chord_tokens': expected list of str or null")):
        assert refusal(ChordTokenEncoder, **bad) == message
    assert ChordTokenEncoder(min_count=1, max_size=1).params() == {
        'vocabulary': None, 'min_count': 1, 'max_size': 1}
    inputs, labels = encoder.encode([(60,), (62,)])
    assert inputs.dtype == labels.dtype == np.int64
    # the unknown token after no history is a rest; after some, the last frame held
    assert encoder.label_to_event(0, []) == ()
    assert encoder.label_to_event(0, [(60,), (62, 65)]) == (62, 65)
    assert encoder.statistics([(60,), (60,), ()]) == {'C4': 2, 'R': 1}
    import collections
    fitted = ChordTokenEncoder(min_count=3).fitted(collections.Counter({'C4': 3, 'D4': 2}))
    assert fitted['vocabulary'] == ['C4']           # a count equal to min_count is kept
    assert ChordTokenEncoder(**fitted).describe_fit() == (
        'a vocabulary of 1 chord tokens, plus the unknown token')
    assert ChordTokenEncoder().describe_fit() == (
        'a vocabulary of 0 chord tokens, plus the unknown token')


def test_published_split_options_and_description():
    split = PublishedSplit()
    assert split.with_options(eval_ratio=None) is split
    assert split.describe() == {'split': 'published', 'eval_ratio': 0.1}
    assert split.with_options(eval_ratio=0.5).describe() == {'split': 'published',
                                                             'eval_ratio': 0.5}
    assert refusal(split.with_options, transpose='x', eval_ratio=None, augment=True) == (
        "split 'published' takes no --augment")
    for bad in ('0.1', None, True, 1.5, -0.5):  # e.g. a config file's "eval_ratio": "0.1"
        assert refusal(PublishedSplit, bad) == (
            "parameter eval_ratio=%r of split 'published': expected float >= 0.0, <= 1.0"
            % (bad,))


def test_the_defaults_a_config_gets_by_leaving_params_out():
    assert HashSplit().describe() == {'eval_ratio': 0.1}
    assert HashSplit().with_options(eval_ratio=None, transpose=None).describe() == {
        'eval_ratio': 0.1}
    assert refusal(HashSplit().with_options, eval_ratio=0.2, transpose='x') == (
        "split 'hash' takes no --transpose")
    assert PianoRollEncoder().params() == {'min_pitch': 21, 'num_keys': 88}
    assert ChordTokenEncoder().params() == {'vocabulary': None, 'min_count': 2,
                                            'max_size': 4096}


def test_an_empty_or_one_frame_sequence_encodes_to_empty_int64_arrays():
    encoder = ChordTokenEncoder(vocabulary=['C4'])
    for frames in ([], [(60,)]):
        inputs, labels = encoder.encode(frames)
        assert inputs.dtype == labels.dtype == np.int64
        assert inputs.shape == labels.shape == (0,)


def test_the_hash_split_puts_eval_at_fractions_below_the_ratio():
    """eval is the ids whose sha256 fraction lies in [0, eval_ratio): an id exactly at the
    ratio is training (so ratio 0 is never eval and ratio 1 always is)."""
    import hashlib

    from musekit.data.splits import stable_fraction
    fraction = stable_fraction('/id/midi/x/7')
    assert fraction == int.from_bytes(
        hashlib.sha256(b'/id/midi/x/7').digest()[:8], 'big') / 2.0 ** 64
    assert HashSplit(fraction).assign('/id/midi/x/7') == 'training'
    assert HashSplit(np.nextafter(fraction, 1.0)).assign('/id/midi/x/7') == 'eval'
