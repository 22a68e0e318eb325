"""The events RNN: Keras and NumPy step twins agree, causality, weight export/import."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from musekit.encoders.base import StepSpec
from musekit.errors import MusekitError
from musekit.models.base import get_model
from musekit.models.events_rnn import weight_shapes

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

INPUT_SIZE, NUM_CLASSES, STEPS = 7, 5, 16
# what the family reads of an encoder: its name and step specs
ENC = types.SimpleNamespace(name='sized', input_spec=StepSpec('float32', (INPUT_SIZE,)),
                            label_spec=StepSpec('int64', (), depth=NUM_CLASSES))
VARIANTS = {
    'basic': {'rnn_layer_sizes': [8, 8], 'dropout_rate': 0.5, 'attn_length': 0},
    'attention': {'rnn_layer_sizes': [8, 6], 'dropout_rate': 0.5, 'attn_length': 5},
    'attention_one_layer': {'rnn_layer_sizes': [6], 'dropout_rate': 0.0, 'attn_length': 3},
}


@pytest.fixture(scope='module')
def spec():
    return get_model('events_rnn')


@pytest.fixture(scope='module', params=sorted(VARIANTS))
def built(request, spec):
    import keras
    keras.utils.set_random_seed(1)
    hparams = VARIANTS[request.param]
    return hparams, spec.build(ENC, hparams)


def _inputs(batch=3, steps=STEPS, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, INPUT_SIZE)).astype(np.float32)


def _step_logits(step_model, inputs):
    state = step_model.initial_state(len(inputs))
    out = []
    for t in range(inputs.shape[1]):
        logits, state = step_model.step(inputs[:, t], state)
        out.append(logits)
    return np.stack(out, axis=1)


def test_numpy_step_model_matches_keras(spec, built):
    hparams, model = built
    inputs = _inputs()
    expected = model(inputs, training=False).numpy()
    step_model = spec.step_model(spec.export_weights(model), ENC, hparams)
    got = _step_logits(step_model, inputs)
    assert got.dtype == np.float32 and got.shape == (3, STEPS, NUM_CLASSES)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_keras_model_is_causal(built):
    _, model = built
    inputs = _inputs()
    changed = inputs.copy()
    changed[:, 9] += 1.0
    a = model(inputs, training=False).numpy()
    b = model(changed, training=False).numpy()
    np.testing.assert_array_equal(a[:, :9], b[:, :9])
    assert np.abs(a[:, 9:] - b[:, 9:]).max() > 1e-4



def test_dropout_acts_in_training_outputs_only(spec, built):
    hparams, model = built
    inputs = _inputs()
    evaluated = spec.training_outputs(model, inputs, None, training=False).numpy()
    np.testing.assert_array_equal(evaluated, model(inputs, training=False).numpy())
    trained = [spec.training_outputs(model, inputs, None, training=True).numpy()
               for _ in range(2)]
    if hparams['dropout_rate']:
        assert np.abs(trained[0] - evaluated).max() > 1e-3       # masks are applied ...
        assert np.abs(trained[0] - trained[1]).max() > 1e-3      # ... fresh each batch
    else:
        np.testing.assert_allclose(trained[0], evaluated, atol=1e-6)

def test_export_import_round_trip(spec, built):
    import keras
    hparams, model = built
    weights = spec.export_weights(model)
    assert set(weights) == set(weight_shapes(INPUT_SIZE, NUM_CLASSES, hparams))
    assert all(w.dtype == np.float32 for w in weights.values())
    keras.utils.set_random_seed(2)
    fresh = spec.build(ENC, hparams)
    inputs = _inputs()
    assert not np.allclose(fresh(inputs).numpy(), model(inputs).numpy())
    spec.import_weights(fresh, weights)
    np.testing.assert_array_equal(fresh(inputs).numpy(), model(inputs).numpy())


def test_import_rejects_wrong_names_and_shapes(spec, built):
    hparams, model = built
    weights = spec.export_weights(model)
    bad = dict(weights, **{'logits/bias': np.zeros(NUM_CLASSES + 1, np.float32)})
    with pytest.raises(MusekitError, match=r'logits/bias has shape \(6,\).*\(5,\)'):
        spec.import_weights(model, bad)
    with pytest.raises(MusekitError, match=r'logits/bias has shape'):
        spec.step_model(bad, ENC, hparams)
    missing = {k: v for k, v in weights.items() if k != 'lstm_0/kernel'}
    with pytest.raises(MusekitError, match='missing lstm_0/kernel'):
        spec.import_weights(model, missing)
    with pytest.raises(MusekitError, match='unexpected extra'):
        spec.step_model(dict(weights, extra=np.zeros(1)), ENC, hparams)


def test_bad_hparams(spec):
    for hparams, message in (({'rnn_layer_sizes': []}, 'rnn_layer_sizes'),
                             ({'rnn_layer_sizes': [8], 'attn_length': -1}, 'attn_length'),
                             ({'rnn_layer_sizes': [8], 'dropout_rate': 1.0}, 'dropout_rate')):
        with pytest.raises(MusekitError, match=message):
            spec.build(ENC, hparams)


def test_step_model_never_imports_tensorflow():
    code = (
        'import sys, numpy as np\n'
        'from musekit.models.base import get_model\n'
        'from musekit.models.events_rnn import weight_shapes\n'
        'from musekit.encoders.base import StepSpec\n'
        'import types\n'
        "e = types.SimpleNamespace(name='e', input_spec=StepSpec('float32', (5,)), "
        "label_spec=StepSpec('int64', (), depth=3))\n"
        "hp = {'rnn_layer_sizes': [8, 8], 'attn_length': 4}\n"
        'w = {k: np.ones(s, np.float32) for k, s in weight_shapes(5, 3, hp).items()}\n'
        "m = get_model('events_rnn').step_model(w, e, hp)\n"
        's = m.initial_state(2)\n'
        'for _ in range(6):\n'
        '    logits, s = m.step(np.ones((2, 5), np.float32), s)\n'
        'assert logits.shape == (2, 3)\n'
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        'assert not bad, bad\n')
    subprocess.run([sys.executable, '-c', code], check=True)


def test_the_old_name_rnn_finds_the_events_rnn_and_other_encodings_are_refused(spec):
    assert type(get_model('rnn')) is type(spec) and spec.name == 'events_rnn'
    multi_hot = types.SimpleNamespace(name='keys', input_spec=StepSpec('float32', (88,)),
                                      label_spec=StepSpec('int64', (88,), depth=2))
    with pytest.raises(MusekitError, match="needs one class id per step; encoder 'keys'"):
        spec.build(multi_hot, VARIANTS['basic'])
    samples = types.SimpleNamespace(name='mu', input_spec=StepSpec('int64', (), depth=256),
                                    label_spec=StepSpec('int64', (), depth=256))
    with pytest.raises(MusekitError, match='needs float input rows'):
        spec.step_model({}, samples, VARIANTS['basic'])


@pytest.mark.parametrize('steps', [3, 13])      # shorter and longer than the window (5)
def test_attention_layer_equals_its_gathered_window_definition(spec, steps):
    """The banded-matmul attention computes the module docstring's windowed attention (and
    its gradients) as a direct gather of every step's window does."""
    import tensorflow as tf
    hparams = VARIANTS['attention']
    model = spec.build(ENC, hparams)
    layer = model.get_layer('attention')
    length = hparams['attn_length']
    h = tf.constant(np.random.default_rng(11).normal(size=(2, steps, 8)).astype(np.float32))

    def reference(h):
        keys = h @ layer.key_kernel
        query = h @ layer.query_kernel + layer.query_bias
        offsets = np.arange(steps)[:, None] - np.arange(length)[None, :]
        windows = tf.gather(keys, np.maximum(offsets, 0), axis=1)          # [B, T, L, A]
        scores = tf.einsum('btla,a->btl', tf.tanh(windows + query[:, :, None]), layer.v)
        scores = tf.where(offsets[None] >= 0, scores, -np.inf)
        context = tf.einsum('btl,btlu->btu', tf.nn.softmax(scores),
                            tf.gather(h, np.maximum(offsets, 0), axis=1))
        return tf.concat([h, context], axis=-1)

    results = []
    for fn in (layer, reference):
        with tf.GradientTape() as tape:
            tape.watch(h)
            out = fn(h)
            loss = tf.reduce_sum(out * tf.range(out.shape[-1], dtype=tf.float32))
        results.append([out] + tape.gradient(loss, [h] + layer.trainable_variables))
    for a, b in zip(*results):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_stacked_cells_in_one_time_loop_equal_lstm_layers_in_sequence():
    """events_rnn without attention runs its LSTMs as cells of one RNN layer (faster to
    train); with the same weights it computes what separate LSTM layers compute."""
    import keras
    from musekit.layers import lstm
    inputs = _inputs(steps=23)
    x = keras.Input((None, INPUT_SIZE))
    separate = keras.Model(x, lstm.keras_layer(6, 'lstm_1')(lstm.keras_layer(8, 'lstm_0')(x)))
    stacked_layer = lstm.keras_stacked_layer([8, 6], 0.5, 'lstm')
    stacked = keras.Model(x, stacked_layer(x))
    mine = lstm.keras_stacked_variables(stacked_layer)
    theirs = {name: variable for layer in separate.layers[1:]
              for name, variable in lstm.keras_variables(layer).items()}
    assert sorted(mine) == sorted(theirs)
    for name, variable in mine.items():
        variable.assign(theirs[name])
    np.testing.assert_array_equal(stacked(inputs).numpy(), separate(inputs).numpy())
    dropped = stacked(inputs, training=True).numpy()      # dropout between the cells
    assert np.abs(dropped - separate(inputs).numpy()).max() > 1e-3
