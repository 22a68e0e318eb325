"""The NumPy cell protocol (musekit.layers.cells): the stack runner, the LSTM cell against
Keras, and the state rule of `StepModel.step` (models/base.py) for every built-in family."""
import math
import types

import numpy as np
import pytest

from musekit.config import get_config
from musekit.encoders.base import StepSpec
from musekit.layers import lstm
from musekit.layers.cells import Cell, CellStack
from musekit.registry import MODELS


class RunningSum(Cell):
    """output x + total; state (total [2],) becomes total + x."""
    state_size = (2,)
    output_size = 2

    def __call__(self, x, state):
        (total,) = state
        return x + total, (total + x,)


class Echo(Cell):
    """output 2x + last; state (steps [1], last [2], history [2, 2]): one more step, the
    input, the input pushed onto a two-row history."""
    state_size = (1, 2, (2, 2))
    output_size = 2

    def __call__(self, x, state):
        steps, last, history = state
        return 2 * x + last, (steps + 1, x, np.stack([history[:, 1], x], 1))


def test_stack_runs_cells_in_order_on_their_own_parts_of_the_state():
    stack = CellStack([RunningSum(), Echo()])
    assert stack.state_size == (2, 1, 2, (2, 2)) and stack.output_size == 2
    state = stack.zero_state(1)
    assert [s.shape for s in state] == [(1, 2), (1, 1), (1, 2), (1, 2, 2)]
    # by hand: step 1, x = [1, 2]: sum out [1, 2] (total [1, 2]); echo out 2*[1, 2] + 0
    out, state = stack(np.array([[1.0, 2.0]]), state)
    assert out.tolist() == [[2.0, 4.0]]
    # step 2, x = [3, 1]: sum out [3, 1] + [1, 2] = [4, 3]; echo out [8, 6] + [1, 2]
    out, state = stack(np.array([[3.0, 1.0]]), state)
    assert out.tolist() == [[9.0, 8.0]]
    total, steps, last, history = (s.tolist() for s in state)
    assert total == [[4.0, 3.0]] and steps == [[2.0]] and last == [[4.0, 3.0]]
    assert history == [[[1.0, 2.0], [4.0, 3.0]]]


def test_a_stack_is_a_cell_and_nests():
    inner = CellStack([RunningSum(), Echo()])
    outer = CellStack([inner, RunningSum()])
    assert outer.state_size == inner.state_size + (2,)
    x = np.array([[1.0, -1.0], [0.5, 2.0]])
    state = outer.zero_state(2)
    by_hand_inner, by_hand_sum = inner.zero_state(2), RunningSum().zero_state(2)
    for _ in range(3):
        out, state = outer(x, state)
        h, by_hand_inner = inner(x, by_hand_inner)
        expected, by_hand_sum = RunningSum()(h, by_hand_sum)
        np.testing.assert_array_equal(out, expected)
        for got, want in zip(state, by_hand_inner + by_hand_sum):
            np.testing.assert_array_equal(got, want)


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def _scalar_lstm(x, h, c, kernel, recurrent, bias):
    """One step of a one-unit LSTM written out by hand (gates i, f, c, o)."""
    z = [x * k + h * r + b for k, r, b in zip(kernel, recurrent, bias)]
    c = _sigmoid(z[1]) * c + _sigmoid(z[0]) * math.tanh(z[2])
    return _sigmoid(z[3]) * math.tanh(c), c


def test_stack_of_lstm_cells_equals_the_lstm_equations_by_hand():
    first = ([0.5, -1.0, 2.0, 1.0], [0.25, 0.5, -0.5, 1.5], [0.0, 1.0, 0.1, -0.2])
    second = ([1.0, 0.5, -1.5, 0.75], [-0.5, 0.25, 1.0, 0.5], [0.2, 0.0, 0.0, 0.3])
    cells = [lstm.NumpyLSTMCell(np.array([k], np.float32), np.array([r], np.float32),
                                np.array(b, np.float32)) for k, r, b in (first, second)]
    stack = CellStack(cells)
    assert stack.state_size == (1, 1, 1, 1)
    state = stack.zero_state(1)
    h0 = c0 = h1 = c1 = 0.0
    for x in (1.0, -0.5, 2.0):
        out, state = stack(np.array([[x]], np.float32), state)
        h0, c0 = _scalar_lstm(x, h0, c0, *first)
        h1, c1 = _scalar_lstm(h0, h1, c1, *second)
        assert out[0, 0] == pytest.approx(h1, abs=1e-6)
        np.testing.assert_allclose([s[0, 0] for s in state], [h0, c0, h1, c1], atol=1e-6)


def test_the_numpy_lstm_cell_equals_keras_lstmcell_on_random_weights():
    import keras
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(5)
    theirs = keras.layers.LSTMCell(6)
    theirs.build((None, 4))
    weights = {'cell/kernel': rng.normal(size=(4, 24)), 'cell/bias': rng.normal(size=24),
               'cell/recurrent_kernel': rng.normal(size=(6, 24))}
    for name, value in weights.items():
        getattr(theirs, name.split('/')[1]).assign(value.astype(np.float32))
    assert {k: v.shape for k, v in weights.items()} == lstm.weight_shapes('cell', 4, 6)
    mine = lstm.from_weights(weights, 'cell')
    assert mine.state_size == (6, 6) and mine.output_size == 6
    state = mine.zero_state(2)
    keras_state = [np.zeros((2, 6), np.float32)] * 2
    for _ in range(7):
        x = rng.normal(size=(2, 4)).astype(np.float32)
        kept = x.copy()
        out, state = mine(x, state)
        expected, keras_state = theirs(x, keras_state)
        np.testing.assert_array_equal(x, kept)                        # inputs are kept
        np.testing.assert_allclose(out, expected, atol=1e-5)
        for got, want in zip(state, keras_state):                     # (h, c) both sides
            np.testing.assert_allclose(got, want, atol=1e-5)


# --- the state rule of StepModel.step, for every built-in family ----------------------------

def _spec_encoder(input_spec, label_spec):
    return types.SimpleNamespace(name='spec', input_spec=input_spec, label_spec=label_spec)


FLOATS = _spec_encoder(StepSpec('float32', (7,)), StepSpec('int64', (), depth=5))
KEYS = _spec_encoder(StepSpec('float32', (6,)), StepSpec('int64', (6,), depth=2))
TOKENS = _spec_encoder(StepSpec('int64', (), depth=9), StepSpec('int64', (), depth=9))

# family: [(encoder or a config to take it from, hparams)], each small
CASES = {
    'events_rnn': [(FLOATS, {'rnn_layer_sizes': [8, 6]}),
                   (FLOATS, {'rnn_layer_sizes': [8, 6], 'attn_length': 3})],
    'magenta_attention_rnn': [(FLOATS, {'rnn_layer_sizes': [8, 6], 'attn_length': 3})],
    'token_rnn': [(TOKENS, {'embedding_size': 4, 'layer_sizes': [6, 5]})],
    'frame_lstm': [(KEYS, {'layer_sizes': [8, 5]})],
    'rnn_nade': [(KEYS, {'rnn_layer_sizes': [8, 6], 'nade_hidden_units': 4}),
                 (KEYS, {'rnn_layer_sizes': [8, 6], 'nade_hidden_units': 4, 'attn_length': 3})],
    'magenta_attention_rnn_nade': [(KEYS, {'rnn_layer_sizes': [8, 6], 'nade_hidden_units': 4,
                                           'attn_length': 3})],
    'snu': [(KEYS, {'layer_sizes': [8, 5], 'output': 'sigmoid', 'recurrent': True}),
            (KEYS, {'layer_sizes': [8], 'g': 'leaky_relu'})],
    'biaxial_rnn': [('biaxial_jsb', {'time_layer_sizes': [6, 5], 'note_layer_sizes': [4, 3]})],
    'wavenet': [('wavenet', {'stacks': 1, 'layers_per_stack': 3, 'residual_channels': 4,
                             'dilation_channels': 4, 'skip_channels': 4})],
}


def _inputs(spec, shape, rng):
    if spec.dtype == 'float32':
        return rng.normal(size=shape + spec.shape).astype(np.float32)
    return rng.integers(0, spec.depth or 2, size=shape + spec.shape)


def test_every_built_in_family_has_a_state_rule_case():
    built_in = {name for name in MODELS.names()
                if type(MODELS.create(name)).__module__.startswith('musekit.')}
    assert built_in == set(CASES)


@pytest.mark.parametrize('family, case', [(f, i) for f in sorted(CASES)
                                          for i in range(len(CASES[f]))])
def test_step_consumes_its_state_and_select_copies_rows(family, case):
    """The rule: a selected state is the caller's to keep (no memory shared with the state
    it came from, nor between its arrays), whatever `step` then does to the original in
    place, and stepping the selected rows gives those rows' outputs."""
    encoder, hparams = CASES[family][case]
    if isinstance(encoder, str):
        encoder = get_config(encoder).make_encoder()
    model = MODELS.create(family)
    hparams = model.resolve_hparams(hparams)
    rng = np.random.default_rng(7)
    weights = {k: rng.normal(scale=0.5, size=s).astype(np.float32)
               for k, s in model.weight_shapes(encoder, hparams).items()}
    step_model = model.step_model(weights, encoder, hparams)
    batch, rows = 4, np.array([2, 2, 0])
    inputs = _inputs(encoder.input_spec, (7, batch), rng)
    state = step_model.initial_state(batch)
    assert isinstance(state, tuple) and all(len(s) == batch for s in state)
    for t in range(5):
        _, state = step_model.step(inputs[t], state)
        assert isinstance(state, tuple) and all(len(s) == batch for s in state)
    kept = step_model.select(state, rows)
    for i, a in enumerate(kept):
        assert len(a) == len(rows)
        assert not any(np.shares_memory(a, b) for b in state)
        assert not any(np.shares_memory(a, b) for b in kept[i + 1:])
    snapshot = [a.copy() for a in kept]
    for t in (5, 6):
        outputs, state = step_model.step(inputs[t], state)     # may change `state` in place
        if t == 5:
            for a, b in zip(kept, snapshot):
                np.testing.assert_array_equal(a, b)
        picked, kept = step_model.step(inputs[t][rows], kept)
        np.testing.assert_allclose(picked, outputs[rows], rtol=1e-5, atol=1e-5)
