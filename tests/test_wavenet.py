"""The audio family: mu-law classes pinned by hand, the encoding's layout, WaveNet's
causality and exact receptive field, the Keras model equal to its NumPy forward pass, the
fast (cached-queue) and naive generators equal to both and giving the same samples for the
same seed, the warmed-up loss, and global conditioning."""
import math

import numpy as np
import pytest

from musekit.encoders.mu_law import MuLawEncoder, mu_law_classes, mu_law_samples
from musekit.errors import MusekitError
from musekit.generation import generate
from musekit import testing
from musekit.models import wavenet

SMALL = dict(stacks=2, layers_per_stack=3, residual_channels=8, dilation_channels=6,
             skip_channels=10)     # dilations 1 2 4 1 2 4: receptive field 16


def random_weights(arch, scale=0.4, seed=0):
    rng = np.random.default_rng(seed)
    return {name: (rng.standard_normal(shape) * scale).astype(np.float32)
            for name, shape in wavenet.weight_shapes(arch).items()}


# --- mu-law ----------------------------------------------------------------------------

def test_mu_law_classes_of_pinned_values():
    # worked by hand: f(0.01) = ln(3.55)/ln(256) = 0.22847 -> 1.22847/2*255 + 0.5 = 157.13
    # f(0.5) = ln(128.5)/ln(256) = 0.87569 -> 239.15 + 0.5 -> 239; f(-0.5) -> 16.35 -> 16
    got = mu_law_classes([-1.0, -0.5, 0.0, 0.01, 0.5, 1.0])
    assert got.tolist() == [0, 16, 128, 157, 239, 255]
    assert got.dtype == np.int64


def test_mu_law_clips_out_of_range_input_to_the_end_classes():
    assert mu_law_classes([-7.0, 1.0000001, 3.0]).tolist() == [0, 255, 255]


def test_mu_law_inverse_is_exact_on_every_class_and_bounded_between():
    classes = np.arange(256)
    assert (mu_law_classes(mu_law_samples(classes)) == classes).all()
    # 256 classes have no centre at 0: class 128's is f = 1/255, x = (256^(1/255) - 1)/255
    assert mu_law_samples([0, 128, 255]).tolist() == pytest.approx([-1.0, 8.621e-5, 1.0],
                                                                   abs=1e-8)
    # a class spans 2/255 of the companded axis; half of it, mapped back through
    # x = ((1 + mu)^|f| - 1) / mu, bounds the error: (1/mu + |x|) * (256^(1/255) - 1)
    x = np.linspace(-1, 1, 200001)
    error = np.abs(mu_law_samples(mu_law_classes(x)) - x)
    bound = (1 / 255 + np.abs(x)) * (256 ** (1 / 255) - 1)
    assert (error <= bound + 1e-12).all()
    assert error.max() > 0.5 * bound.max()      # the bound is tight, not loose
    assert error[np.abs(x) < 0.001].max() < 1.1e-4   # fine steps near silence (vs 0.02 at 1)


def test_encoding_layout_label_then_samples():
    encoder = MuLawEncoder()
    inputs, labels = encoder.encode(['', 0.5, -0.5, 1.0])
    # step 0 sees the label event (silence) and predicts the first sample
    assert inputs.tolist() == [128, 239, 16]
    assert labels.tolist() == [239, 16, 255]
    stepper = encoder.stepper([])
    assert [int(stepper.push(e)) for e in ['', 0.5, -0.5]] == inputs.tolist()
    assert [encoder.label_to_event(c, []) for c in labels] == pytest.approx(
        mu_law_samples(labels).tolist())


def test_conditioned_encoding_carries_the_label_index():
    encoder = MuLawEncoder(condition=True, labels=['bach', 'schubert'])
    assert encoder.input_spec.shape == (2,)
    inputs, labels = encoder.encode(['schubert', 0.0, 1.0])
    assert inputs.tolist() == [[128, 1], [128, 1]]
    assert labels.tolist() == [128, 255]
    assert encoder.stepper(['schubert']).push(1.0).tolist() == [255, 1]
    with pytest.raises(MusekitError, match="label 'mozart' is not one the model was trained"):
        encoder.encode(['mozart', 0.0])


def test_labels_are_fitted_from_the_clips_counted():
    encoder = MuLawEncoder(condition=True)
    assert encoder.needs_fitting and not MuLawEncoder().needs_fitting
    counts = encoder.statistics(['schubert', 0.1]) + encoder.statistics(['bach', 0.0]) \
        + encoder.statistics(['bach', 0.2])
    fitted = MuLawEncoder(**encoder.fitted(counts))
    assert fitted.labels == ['bach', 'schubert'] and not fitted.needs_fitting


@pytest.mark.parametrize('events, message', [
    ([0.5, 0.1], 'starts with its label'),
    ([], 'starts with its label'),
    (['', 0.1, float('nan')], 'audio event 2 is nan'),
    (['', 0.1, 'x'], "audio event 2 is 'x'"),
])
def test_bad_audio_events_are_one_clear_error(events, message):
    with pytest.raises(MusekitError, match=message):
        MuLawEncoder().validate_events(events)


# --- the model --------------------------------------------------------------------------

@pytest.fixture(scope='module')
def small():
    encoder = MuLawEncoder()
    arch = wavenet.Architecture(encoder, SMALL)
    weights = random_weights(arch)
    family = wavenet.WaveNet()
    model = family.build(encoder, SMALL)
    family.import_weights(model, weights)
    return encoder, arch, weights, model


def test_receptive_field_of_the_dilations():
    arch = wavenet.Architecture(MuLawEncoder(), {})
    assert arch.dilations == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] * 2
    assert arch.receptive_field == 2048
    assert wavenet.Architecture(MuLawEncoder(), SMALL).receptive_field == 16


def test_output_is_causal_with_the_exact_receptive_field(small):
    _, arch, _, model = small
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (1, 40))
    base = np.asarray(model(x))
    t = 30
    later = x.copy()
    later[0, t + 1:] = rng.integers(0, 256, 40 - t - 1)
    assert np.array_equal(np.asarray(model(later))[0, :t + 1], base[0, :t + 1])
    # the input receptive_field - 1 steps back still reaches output t, one more does not
    edge = x.copy()
    edge[0, t - arch.receptive_field + 1] = (x[0, t - arch.receptive_field + 1] + 77) % 256
    assert not np.allclose(np.asarray(model(edge))[0, t], base[0, t])
    beyond = x.copy()
    beyond[0, :t - arch.receptive_field + 1] = 0
    assert np.allclose(np.asarray(model(beyond))[0, t], base[0, t], atol=1e-5)


def test_keras_model_equals_the_numpy_forward_pass(small):
    _, arch, weights, model = small
    x = np.random.default_rng(2).integers(0, 256, (3, 50))
    np.testing.assert_allclose(np.asarray(model(x)), testing.wavenet_forward(weights, arch, x),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('step_model', [wavenet.WaveNetStepModel,
                                        testing.NaiveWaveNetStepModel])
def test_step_models_equal_the_whole_sequence_pass(small, step_model):
    _, arch, weights, _ = small
    x = np.random.default_rng(3).integers(0, 256, (2, 45))     # longer than the field
    model = step_model(weights, arch)
    state = model.initial_state(2)
    steps = []
    for t in range(x.shape[1]):
        logits, state = model.step(x[:, t], state)
        steps.append(np.array(logits))
    np.testing.assert_allclose(np.stack(steps, 1), testing.wavenet_forward(weights, arch, x),
                               rtol=1e-4, atol=1e-4)


def test_fast_and_naive_generation_draw_the_same_samples(small):
    encoder, arch, weights, _ = small
    fast = wavenet.WaveNetStepModel(weights, arch)
    naive = testing.NaiveWaveNetStepModel(weights, arch)
    primer = ['', 0.0, 0.25, -0.1]
    a = generate(fast, encoder, primer, 300, num_outputs=3, temperature=1.0, seed=7)
    b = generate(naive, encoder, primer, 300, num_outputs=3, temperature=1.0, seed=7)
    assert a.events == b.events
    np.testing.assert_allclose(a.log_likelihood, b.log_likelihood, rtol=1e-5)
    assert a.events[0][:4] == primer and len(a.events[0]) == 300
    assert a.events[0] != a.events[1]          # outputs differ from one another
    c = generate(fast, encoder, primer, 300, num_outputs=3, temperature=1.0, seed=8)
    assert c.events != a.events


def test_beam_search_state_rows_stay_apart(small):
    encoder, arch, weights, _ = small
    fast = wavenet.WaveNetStepModel(weights, arch)
    naive = testing.NaiveWaveNetStepModel(weights, arch)
    args = dict(num_outputs=2, temperature=1.0, seed=3, beam_size=2, branch_factor=2)
    a = generate(fast, encoder, ['', 0.5], 40, **args)
    b = generate(naive, encoder, ['', 0.5], 40, **args)
    assert a.events == b.events


def test_conditioned_model_uses_its_label_everywhere():
    encoder = MuLawEncoder(condition=True, labels=['a', 'b', 'c'])
    arch = wavenet.Architecture(encoder, SMALL)
    weights = random_weights(arch, seed=5)
    assert weights['layer_0/label'].shape == (3, 12)
    family = wavenet.WaveNet()
    model = family.build(encoder, SMALL)
    family.import_weights(model, weights)
    x = np.random.default_rng(4).integers(0, 256, (2, 30))
    inputs = np.stack([x, np.array([[0] * 30, [2] * 30])], -1)
    keras_logits = np.asarray(model(inputs))
    np.testing.assert_allclose(keras_logits, testing.wavenet_forward(weights, arch, inputs),
                               rtol=1e-4, atol=1e-4)
    other = inputs.copy()
    other[1, :, 1] = 1
    assert not np.allclose(np.asarray(model(other))[1], keras_logits[1])
    fast = wavenet.WaveNetStepModel(weights, arch)
    state = fast.initial_state(2)
    for t in range(30):
        logits, state = fast.step(inputs[:, t], state)
    np.testing.assert_allclose(logits, keras_logits[:, -1], rtol=1e-4, atol=1e-4)


def test_loss_counts_only_outputs_with_a_full_receptive_field():
    import tensorflow as tf
    objective = wavenet.WarmedUpCrossEntropy(warmup=3)
    logits = np.zeros((2, 5, 4), np.float32)
    logits[:, :3] = [9.0, -9.0, -9.0, -9.0]    # wrong and confident, but in the warm-up
    labels = np.full((2, 5), 1, np.int64)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], np.float32)
    totals = objective.totals(tf.constant(logits), tf.constant(labels), tf.constant(mask))
    loss, count = (float(v) for v in totals['loss'])
    assert count == 3                           # positions 3, 4 of row 0 and 3 of row 1
    assert loss == pytest.approx(3 * math.log(4), rel=1e-6)
    assert objective.derived({'loss': math.log(4)})['bits_per_sample'] == pytest.approx(2.0)


def test_training_crops_are_the_receptive_field_plus_crop_samples():
    batching = wavenet.WaveNet().batching(dict(SMALL, crop_samples=100, eval_batch_size=3))
    assert batching.length == 15 + 100 and batching.eval_batch_size == 3
    family, encoder = wavenet.WaveNet(), MuLawEncoder()
    assert family.objective(encoder, SMALL).warmup == 15


def test_bad_architecture_hparams_are_one_clear_line():
    with pytest.raises(MusekitError, match='^hparam residual_channels=0: expected int >= 1$'):
        wavenet.Architecture(MuLawEncoder(), dict(SMALL, residual_channels=0))
    with pytest.raises(MusekitError, match="reads one class per sample .*encoder 'piano_roll' gives "):
        from musekit.encoders.piano_roll import PianoRollEncoder
        wavenet.Architecture(PianoRollEncoder(), SMALL)
