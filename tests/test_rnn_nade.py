"""The RNN-NADE family: the NADE's probabilities by hand, exact sampling, the Keras loss
equal to the NumPy model's NLL, training, and generation end to end."""
import itertools
import os

import numpy as np
import pytest

from musekit.config import get_config
from musekit.encoders.piano_roll import PianoRollEncoder
from musekit.errors import MusekitError
from musekit.layers import nade

ENCODER = PianoRollEncoder(min_pitch=60, num_keys=6)
TINY = {'rnn_layer_sizes': [10, 8], 'nade_hidden_units': 5, 'dropout_rate': 0.0}


def tiny_nade(rng, batch, dims=4, hidden=3):
    return (rng.standard_normal((batch, hidden)), rng.standard_normal((batch, dims)),
            rng.standard_normal((dims, hidden)), rng.standard_normal((dims, hidden)))


def all_frames(dims):
    return np.array(list(itertools.product([0, 1], repeat=dims)), np.float64)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_log_prob_by_hand_on_a_two_key_nade():
    b_enc, b_dec = np.array([[0.5]]), np.array([[0.2, -0.3]])
    w_enc, w_dec = np.array([[2.0], [0.7]]), np.array([[1.5], [-1.0]])
    p0 = sigmoid(0.2 + sigmoid(0.5) * 1.5)                  # key 0 sees nothing below it
    p1_on = sigmoid(-0.3 - sigmoid(0.5 + 2.0))              # key 1 given key 0 on
    p1_off = sigmoid(-0.3 - sigmoid(0.5))                   # ... given key 0 off
    frames = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])
    expected = np.log([p0 * p1_on, p0 * (1 - p1_on), (1 - p0) * p1_off,
                       (1 - p0) * (1 - p1_off)])
    got = nade.log_prob(frames, np.repeat(b_enc, 4, 0), np.repeat(b_dec, 4, 0), w_enc, w_dec)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_the_probabilities_of_every_frame_sum_to_one():
    rng = np.random.default_rng(0)
    for dims in (3, 4):
        b_enc, b_dec, w_enc, w_dec = tiny_nade(rng, 1, dims)
        frames = all_frames(dims)
        n = len(frames)
        p = np.exp(nade.log_prob(frames, np.repeat(b_enc, n, 0), np.repeat(b_dec, n, 0),
                                 w_enc, w_dec))
        assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_magentas_safe_log_adds_epsilon_to_each_probability():
    rng = np.random.default_rng(1)
    b_enc, b_dec, w_enc, w_dec = tiny_nade(rng, 16)
    frames = all_frames(4)
    logits = nade.conditional_logits(frames, b_enc, b_dec, w_enc, w_dec)
    p = sigmoid(logits)
    expected = np.where(frames > 0, np.log(1e-6 + p), np.log(1e-6 + 1 - p)).sum(1)
    np.testing.assert_allclose(nade.log_prob(frames, b_enc, b_dec, w_enc, w_dec, 1e-6),
                               expected, rtol=1e-12)


def test_sampled_frequencies_match_the_probabilities():
    rng = np.random.default_rng(2)
    b_enc, b_dec, w_enc, w_dec = tiny_nade(rng, 1, 3)
    n = 40000
    frames, log_p = nade.sample(np.repeat(b_enc, n, 0), np.repeat(b_dec, n, 0), w_enc, w_dec,
                                1.0, np.random.default_rng(3))
    codes = frames @ [4, 2, 1]
    every = all_frames(3)
    exact = np.exp(nade.log_prob(every, np.repeat(b_enc, 8, 0), np.repeat(b_dec, 8, 0),
                                 w_enc, w_dec))
    counts = np.bincount(codes, minlength=8) / n
    np.testing.assert_allclose(counts, exact, atol=0.01)
    # each sample's log-probability is its frame's
    np.testing.assert_allclose(log_p, np.log(exact[codes]), rtol=1e-10)


def test_temperature_divides_each_keys_logit_and_threshold_takes_p_at_least_half():
    rng = np.random.default_rng(4)
    b_enc, b_dec, w_enc, w_dec = tiny_nade(rng, 1, 3)
    # at a tiny temperature sampling is the threshold decision key by key
    cold, _ = nade.sample(np.repeat(b_enc, 50, 0), np.repeat(b_dec, 50, 0), w_enc, w_dec,
                          1e-4, np.random.default_rng(5))
    greedy, greedy_log_p = nade.sample(b_enc, b_dec, w_enc, w_dec, 1.0, None, threshold=True)
    assert (cold == greedy).all()
    x = []
    for i in range(3):      # by hand: each key on where p >= 0.5 given the keys chosen below
        logit = nade.conditional_logits(np.array([x + [0] * (3 - i)]), b_enc, b_dec, w_enc,
                                        w_dec)[0, i]
        x.append(int(logit >= 0))
    assert greedy[0].tolist() == x
    assert greedy_log_p[0] == pytest.approx(nade.log_prob(greedy, b_enc, b_dec, w_enc,
                                                          w_dec)[0])
    # at temperature 2 key 0 is on with probability sigmoid(logit / 2)
    n = 40000
    hot, _ = nade.sample(np.repeat(b_enc, n, 0), np.repeat(b_dec, n, 0), w_enc, w_dec, 2.0,
                         np.random.default_rng(6))
    logit0 = nade.conditional_logits(np.zeros((1, 3)), b_enc, b_dec, w_enc, w_dec)[0, 0]
    assert hot[:, 0].mean() == pytest.approx(sigmoid(logit0 / 2), abs=0.01)


# --- the model family --------------------------------------------------------------------

@pytest.fixture(scope='module')
def tiny():
    """(family, Keras model) of a tiny RNN-NADE over ENCODER's 6 keys."""
    import keras
    from musekit.models.rnn_nade import RnnNade
    keras.utils.set_random_seed(3)
    family = RnnNade()
    return family, family.build(ENCODER, TINY)


def random_piece(rng, length, keys=6):
    return [tuple(60 + int(k) for k in np.flatnonzero(rng.random(keys) < 0.4))
            for _ in range(length)]


def teacher_forced_log_probs(step_model, inputs, labels):
    state, out = step_model.initial_state(1), []
    for row, label in zip(inputs, labels):
        outputs, state = step_model.step(row[None], state)
        out.append(step_model.log_prob(outputs, label[None])[0])
    return np.array(out)


@pytest.mark.parametrize('hparams', [TINY, {**TINY, 'attn_length': 3},
                                     {**TINY, 'rnn_layer_sizes': [7]}])
def test_keras_loss_equals_the_numpy_models_nll(hparams):
    import keras
    import tensorflow as tf
    from musekit.models.rnn_nade import RnnNade
    keras.utils.set_random_seed(7)
    family = RnnNade()
    model = family.build(ENCODER, hparams)
    assert set(family.export_weights(model)) == set(family.weight_shapes(ENCODER, hparams))
    rng = np.random.default_rng(8)
    inputs, labels = ENCODER.encode(random_piece(rng, 12))
    outputs = family.training_outputs(model, tf.constant(inputs[None]),
                                      tf.constant(labels[None]), False)
    totals = family.objective(ENCODER, hparams).totals(outputs, labels[None],
                                                       tf.ones((1, len(labels))))
    step_model = family.step_model(family.export_weights(model), ENCODER, hparams)
    log_probs = teacher_forced_log_probs(step_model, inputs, labels)
    loss = float(totals['loss'][0] / totals['loss'][1])
    assert loss == pytest.approx(-log_probs.mean(), rel=1e-5)


def test_a_later_key_or_frame_does_not_reach_an_earlier_keys_logit(tiny):
    family, model = tiny
    rng = np.random.default_rng(9)
    inputs, labels = ENCODER.encode(random_piece(rng, 8))
    logits = np.asarray(model((inputs[None], labels[None])))[0]
    changed = labels.copy()
    changed[:, 3:] = 1 - changed[:, 3:]
    other = np.asarray(model((inputs[None], changed[None])))[0]
    np.testing.assert_allclose(other[:, :4], logits[:, :4], atol=1e-6)
    assert not np.allclose(other[:, 4:], logits[:, 4:])
    later = inputs.copy()
    later[4:] = 1 - later[4:]
    np.testing.assert_allclose(np.asarray(model((later[None], labels[None])))[0][:4],
                               logits[:4], atol=1e-6)


@pytest.mark.slow
def test_a_tiny_model_learns_a_repeating_piece():
    import keras
    import tensorflow as tf
    from musekit.models.rnn_nade import RnnNade
    keras.utils.set_random_seed(4)
    family = RnnNade()
    model = family.build(ENCODER, TINY)
    objective = family.objective(ENCODER, TINY)
    piece = [(60, 64), (62, 65), (64,), (61, 63, 65)] * 4
    inputs, labels = ENCODER.encode(piece)
    inputs, labels = tf.constant(inputs[None]), tf.constant(labels[None])
    mask = tf.ones((1, len(piece) - 1))
    optimizer = keras.optimizers.Adam(0.03)
    losses = []
    for _ in range(40):
        with tf.GradientTape() as tape:
            totals = objective.totals(family.training_outputs(model, inputs, labels, True),
                                      labels, mask)
            loss = totals['loss'][0] / totals['loss'][1]
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
    assert losses[-1] < 0.3 * losses[0], losses


def test_the_step_model_refuses_top_k_and_offers_threshold(tiny):
    family, model = tiny
    step_model = family.step_model(family.export_weights(model), ENCODER, TINY)
    assert step_model.supports_beam_search
    assert step_model.modes == ('sample', 'threshold')
    with pytest.raises(MusekitError, match='top-k'):
        step_model.with_top_k(3)


def test_an_encoder_of_classes_is_refused():
    from musekit.models.rnn_nade import RnnNade
    encoder = get_config('basic_rnn').make_encoder()
    with pytest.raises(MusekitError, match='rnn_nade needs multi-hot frames'):
        RnnNade().weight_shapes(encoder, TINY)


def test_configs_carry_magentas_hparams_and_data_settings():
    nade_config, attn = get_config('rnn-nade'), get_config('rnn-nade_attn')
    assert nade_config.hparams['rnn_layer_sizes'] == (128, 128, 128)
    assert nade_config.hparams['nade_hidden_units'] == 128
    assert nade_config.hparams['batch_size'] == 64
    assert attn.hparams['rnn_layer_sizes'] == (128, 128) and attn.hparams['attn_length'] == 32
    assert attn.hparams['batch_size'] == 48
    for config in (nade_config, attn):
        assert config.hparams['dropout_rate'] == 0.5 and config.hparams['clip_norm'] == 5.0
        extractor = config.make_extractor()
        assert (extractor.steps_per_quarter, extractor.min_steps, extractor.max_steps,
                extractor.truncate, extractor.split_repeats) == (4, 80, 2048, True, True)
        assert config.transpose_range() == '-4,4'
        encoder = config.make_encoder()
        assert (encoder.min_pitch, encoder.num_keys) == (21, 88)


def test_the_piano_roll_encoder_equals_note_seqs_pianoroll_encoding():
    import note_seq
    theirs = note_seq.PianorollEncoderDecoder()
    ours = get_config('rnn-nade').make_encoder()
    frames = [(21, 60, 108), (), (64, 67)]
    events = [tuple(p - 21 for p in frame) for frame in frames]
    inputs, labels = ours.encode(frames)
    for t in range(len(frames) - 1):
        np.testing.assert_array_equal(inputs[t], theirs.events_to_input(events, t))
        label = theirs.events_to_label(events, t + 1)
        np.testing.assert_array_equal(labels[t], [(label >> k) & 1 for k in range(88)])
    assert ours.label_to_event(labels[0], frames) == frames[1]


# --- generation from a bundle, without TensorFlow ---------------------------------------

def random_bundle(path, config_name='rnn-nade', hparams=None, seed=0, model=None):
    from musekit.bundle import write_bundle
    config = get_config(config_name).with_hparams(hparams or {})
    if model:
        data = config.to_dict()
        data['model'] = {'name': model}
        from musekit.config import Config
        config = Config.from_dict(data)
    shapes = config.make_model().weight_shapes(config.make_encoder(), dict(config.hparams))
    rng = np.random.default_rng(seed)
    weights = {name: (0.3 * rng.standard_normal(shape)).astype(np.float32)
               for name, shape in shapes.items()}
    write_bundle(str(path), config, weights, {'dataset': 'none: random weights'})
    return str(path)


def run_generate(args, capsys):
    from musekit.cli import generate as cli
    try:
        cli.run(['musekit_generate'] + args)
    except SystemExit as e:
        assert e.code == 0, capsys.readouterr().err


@pytest.mark.parametrize('extra', [[], ['--beam_size=2', '--branch_factor=2']])
def test_generate_writes_polyphonic_midi_of_the_requested_length(tmp_path, capsys, extra):
    import note_seq
    bundle = random_bundle(tmp_path / 'b.musekit', hparams={
        'rnn_layer_sizes': [16], 'nade_hidden_units': 8})
    out_dir = tmp_path / 'out'
    run_generate(['--bundle_file=' + bundle, '--output_dir=%s' % out_dir, '--num_outputs=2',
                  '--num_steps=32', '--seed=5'] + extra, capsys)
    assert sorted(os.listdir(out_dir)) == ['piece_01.mid', 'piece_02.mid']
    for name in sorted(os.listdir(out_dir)):
        ns = note_seq.midi_file_to_note_sequence(str(out_dir / name))
        starts = [n.start_time for n in ns.notes]
        assert ns.notes and all(21 <= n.pitch <= 108 for n in ns.notes)
        assert len(starts) > len(set(starts))                         # chords: polyphonic


def test_same_seed_same_frames_and_generation_scores_the_frames_drawn(tmp_path):
    from musekit.bundle import load_bundle
    from musekit.generation.sampling import sample
    bundle = load_bundle(random_bundle(tmp_path / 'b.musekit', hparams={
        'rnn_layer_sizes': [12], 'nade_hidden_units': 6}))
    encoder = bundle.make_encoder()
    model = bundle.step_model(encoder)
    primer = [(60, 64, 67)]
    a = sample(model, encoder, primer, 9, num_outputs=3, seed=11)
    b = sample(model, encoder, primer, 9, num_outputs=3, seed=11)
    assert a.events == b.events
    np.testing.assert_array_equal(a.log_likelihood, b.log_likelihood)
    for row, events in enumerate(a.events):
        inputs, labels = encoder.encode(events)
        expected = teacher_forced_log_probs(model, inputs, labels).sum()
        assert a.log_likelihood[row] == pytest.approx(expected, rel=1e-6)


# --- Magenta's piano-roll frames (split_repeats) ------------------------------------------

def quantized(notes, total=None):
    from note_seq import sequences_lib
    from note_seq.protobuf import music_pb2
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=60)
    for pitch, start, end in notes:
        ns.notes.add(pitch=pitch, start_time=start / 4, end_time=end / 4, velocity=80)
    ns.total_time = max(end for _, _, end in notes) / 4
    return sequences_lib.quantize_note_sequence(ns, 4)


def note_seq_frames(q):
    from note_seq import pianoroll_lib
    return [tuple(p + 21 for p in e) for e in pianoroll_lib.PianorollSequence(
        quantized_sequence=q)]


def test_split_repeats_by_hand_and_as_note_seq_walks_the_notes_in_order():
    from musekit.extractors.pianoroll import split_repeat_frames
    # 60 held 0-2 then struck again 2-4: silent at 1; 67 likewise silent at 2. The 64 of
    # 4-6 silences step 3, but the 64 of 0-4 listed after it sounds there again (and,
    # starting at 0, silences 64 on the last step)
    q = quantized([(60, 0, 2), (60, 2, 4), (64, 4, 6), (64, 0, 4), (67, 1, 3), (67, 3, 6)])
    frames, outside = split_repeat_frames(q, 21, 109, 6)
    assert frames == [(60, 64), (64, 67), (60, 64), (60, 64, 67), (64, 67), (67,)]
    assert frames == note_seq_frames(q) and outside == 0
    # note_seq's step "-1": a note from step 0 silences its pitch on the last step
    q = quantized([(72, 3, 6), (72, 0, 2)])
    assert split_repeat_frames(q, 21, 109, 6)[0] == note_seq_frames(q) == [
        (72,), (72,), (), (72,), (72,), ()]
    # cut short (max_steps), the last step is not among the frames built
    assert split_repeat_frames(q, 21, 109, 4)[0] == [(72,), (72,), (), (72,)]


def test_the_pianoroll_extractor_equals_note_seqs_frames_on_chorales():
    import music21
    import note_seq
    from note_seq import sequences_lib
    extractor = get_config('rnn-nade').make_extractor()
    encoder = get_config('rnn-nade').make_encoder()
    for name in ('bwv10.7.mxl', 'bwv66.6.mxl'):
        ns = note_seq.musicxml_file_to_sequence_proto(os.path.join(
            os.path.dirname(music21.__file__), 'corpus', 'bach', name))
        del ns.time_signatures[:]
        ns.time_signatures.add(numerator=4, denominator=4, time=0)
        q = sequences_lib.quantize_note_sequence(ns, 4)
        [frames], stats = extractor.extract(q, encoder)
        assert frames == note_seq_frames(q) and not stats
        plain = type(extractor)(**{**extractor.params(), 'split_repeats': False})
        assert plain.extract(q, encoder)[0][0] != frames        # repeats run together
