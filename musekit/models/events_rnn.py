"""The events RNN ('events_rnn', formerly 'rnn'): stacked LSTMs, optional causal attention,
a Dense layer to the logits of the next event's class (Magenta's events_rnn_graph).

It models any encoder with float input rows and one class per step; the melody configs
basic_rnn, mono_rnn, lookback_rnn and attention_rnn all use it. Hparams:
``rnn_layer_sizes`` (LSTM widths), ``dropout_rate`` (on each layer's output, training only)
and ``attn_length`` (0: no attention).

Attention (``attn_length`` = L > 0) looks back over the first LSTM layer's outputs h_i:

    window(t) = {i : max(0, t - L + 1) <= i <= t}          (the last L outputs, t included)
    e_{t,i}   = v . tanh(h_i W_k + h_t W_q + b_q)           (Bahdanau-style additive score)
    a_{t,i}   = softmax of e_{t,i} over window(t)          (early steps have shorter windows)
    c_t       = sum over window(t) of a_{t,i} h_i
    layer 1 input at t = [h_t, c_t]                          (then dropout, like every layer)

The window holds first-layer outputs, which never depend on attention, so training computes
every step at once with a banded causal window; generation keeps the last L outputs (and
their key projections h_i W_k) in a ring buffer.

Weights travel under these names (U_k = rnn_layer_sizes[k], D_0 = input_size, D_k = U_{k-1},
or 2 U_0 for D_1 with attention; A = U_0; gates in Keras's order i, f, c, o):

    lstm_{k}/kernel [D_k, 4 U_k]   lstm_{k}/recurrent_kernel [U_k, 4 U_k]   lstm_{k}/bias [4 U_k]
    attention/key_kernel [U_0, A]  attention/query_kernel [U_0, A]
    attention/query_bias [A]       attention/v [A]
    logits/kernel [W, num_classes]   logits/bias [num_classes]

where W is the last layer's width U_last (2 U_0 for a single layer with attention).

Only `build` and `weight_variables` import Keras; the step model is NumPy.
"""
import dataclasses
import functools

import numpy as np

from musekit import params
from musekit.errors import MusekitError
from musekit.layers import lstm
from musekit.layers.cells import Cell, CellStack
from musekit.models.base import (MAX_LAYERS, ModelFamily, StepModel, TrainingHparams,
                                 check_weights, register)
from musekit.params import param
from musekit.models.objectives import CategoricalCrossEntropy
from musekit.registry import MODELS


@dataclasses.dataclass
class Hparams(TrainingHparams):
    """The events RNN's hparams (Magenta's names and defaults)."""
    rnn_layer_sizes: list[int] = param([128, 128], 'LSTM widths, first layer first', min=1,
                                       min_items=1, max_items=MAX_LAYERS, architecture=True)
    dropout_rate: float = param(0.5, "dropout on each layer's output while training",
                                min=0.0, below=1.0)
    # bounded so generation's window of attn_length outputs per sequence stays small
    attn_length: int = param(0, 'steps of attention over the first layer (0: none)', min=0,
                             max=4096, architecture=True)


def architecture(hparams):
    """(layer sizes, attn_length, dropout rate) from hparams, checked (magenta_attention
    reads them too)."""
    h = params.bind(Hparams, hparams, 'hparam')
    return h.rnn_layer_sizes, h.attn_length, h.dropout_rate


def rnn_variables(layer):
    """{stable name: variable} of a keras layer of the LSTM stack built here (its LSTMs and
    windowed attention); {} for any other layer. Families built on this stack share it."""
    if layer.name == 'lstm':
        return lstm.keras_stacked_variables(layer)
    if layer.name.startswith('lstm_'):
        return lstm.keras_variables(layer)
    if layer.name == 'attention':
        return {'attention/' + n: getattr(layer, n)
                for n in ('key_kernel', 'query_kernel', 'query_bias', 'v')}
    return {}

def keras_stack(h, sizes, attn_length, dropout):
    """The LSTM stack on the keras tensor `h` (layer names as rnn_variables reads them): one
    layer at a time when attention follows layer 0 or there is one layer, else every layer
    in one time loop (the same maths, faster to train); dropout after the layers."""
    import keras
    if attn_length or len(sizes) == 1:
        for k, units in enumerate(sizes):
            h = lstm.keras_layer(units, 'lstm_%d' % k)(h)
            if k == 0 and attn_length:
                h = _attention_layer_class()(attn_length, name='attention')(h)
            if dropout:
                h = keras.layers.Dropout(dropout, name='dropout_%d' % k)(h)
        return h
    h = lstm.keras_stacked_layer(sizes, dropout, 'lstm')(h)
    if dropout:
        h = keras.layers.Dropout(dropout, name='dropout_%d' % (len(sizes) - 1))(h)
    return h


def stack_shapes(input_size, sizes, attn_length):
    """({name: shape} of the LSTM stack's weights, with the windowed attention after layer 0
    when attn_length > 0; the width of its last output). Families built on this stack
    share it."""
    shapes, width = {}, input_size
    for k, units in enumerate(sizes):
        shapes.update(lstm.weight_shapes('lstm_%d' % k, width, units))
        width = units
        if k == 0 and attn_length:
            shapes.update({'attention/key_kernel': (units, units),
                           'attention/query_kernel': (units, units),
                           'attention/query_bias': (units,), 'attention/v': (units,)})
            width = 2 * units
    return shapes, width


def weight_shapes(input_size, num_classes, hparams):
    """{name: shape} of every exported weight (the naming scheme in the module docstring)."""
    sizes, attn_length, _ = architecture(hparams)
    shapes, width = stack_shapes(input_size, sizes, attn_length)
    shapes['logits/kernel'] = (width, num_classes)
    shapes['logits/bias'] = (num_classes,)
    return shapes


def encoder_sizes(encoder):
    """(input width, number of classes), refusing encoders this family cannot model."""
    inputs, labels = encoder.input_spec, encoder.label_spec
    if inputs.dtype != 'float32' or len(inputs.shape) != 1:
        raise MusekitError('model events_rnn needs float input rows; encoder %r gives %s'
                           % (encoder.name, inputs.describe()))
    if labels.dtype != 'int64' or labels.shape != () or not labels.depth:
        raise MusekitError('model events_rnn needs one class id per step; encoder %r gives %s'
                           % (encoder.name, labels.describe()))
    return inputs.shape[0], labels.depth


@functools.cache
def _attention_layer_class():
    """The Keras attention layer, defined on first use so importing this module skips Keras."""
    import keras
    from keras import ops

    class CausalWindowAttention(keras.layers.Layer):
        """[B, T, U] first-layer outputs -> [B, T, 2U]: each output joined to its context."""

        def __init__(self, attn_length, **kwargs):
            super().__init__(**kwargs)
            self.attn_length = attn_length

        def build(self, input_shape):
            units = input_shape[-1]
            self.key_kernel = self.add_weight(shape=(units, units), name='key_kernel',
                                              initializer='glorot_uniform')
            self.query_kernel = self.add_weight(shape=(units, units), name='query_kernel',
                                                initializer='glorot_uniform')
            self.query_bias = self.add_weight(shape=(units,), name='query_bias',
                                              initializer='zeros')
            self.v = self.add_weight(shape=(units,), name='v', initializer='glorot_uniform')

        def compute_output_shape(self, input_shape):
            return tuple(input_shape[:-1]) + (2 * input_shape[-1],)

        def call(self, h):
            keys = ops.matmul(h, self.key_kernel)
            query = ops.matmul(h, self.query_kernel) + self.query_bias
            steps = ops.shape(h)[1]
            # offsets[t, d] = t - d: the window of step t, newest first; negative = before start
            offsets = (ops.arange(steps, dtype='int32')[:, None]
                       - ops.arange(self.attn_length, dtype='int32')[None, :])
            valid = offsets >= 0
            offsets = ops.maximum(offsets, 0)

            def window_scores(row):         # one sequence's [T, L, A] window at a time,
                row_keys, row_query = row   # small enough to stay in the CPU's caches
                return ops.einsum('tla,a->tl', ops.tanh(ops.take(row_keys, offsets, axis=0)
                                                        + row_query[:, None, :]), self.v)
            scores = ops.map(window_scores, (keys, query))                  # [B, T, L]
            scores = ops.where(valid[None], scores, ops.full_like(scores, -1e9))
            weights = ops.softmax(scores, axis=-1)
            context = ops.matmul(self._banded(weights, steps), h)
            return ops.concatenate([h, context], axis=-1)

        def _banded(self, weights, steps):
            """[B, T, L] window weights (index d: step t - d) -> [B, T, T] matrix M with
            M[b, t, t - d] = weights[b, t, d], zeros elsewhere, so the context is one batched
            matmul M h (no [B, T, L, U] gather of windows). Each row is shifted right by its
            index by padding rows to width L + T and rereading them L + T - 1 wide."""
            length = self.attn_length
            batch, width = ops.shape(weights)[0], length + steps
            rows = ops.pad(ops.flip(weights, axis=2), [[0, 0], [0, 0], [0, steps]])
            rows = ops.reshape(rows, [batch, steps * width])[:, :steps * (width - 1)]
            rows = ops.reshape(rows, [batch, steps, width - 1])
            return rows[:, :, length - 1:length - 1 + steps]

        def get_config(self):
            return {**super().get_config(), 'attn_length': self.attn_length}

    return CausalWindowAttention


@register('events_rnn')
class EventsRNN(ModelFamily):
    """Stacked LSTM over event classes, with optional windowed attention over the first
    layer; softmax cross-entropy loss; bucketed whole sequences."""

    Hparams = Hparams
    mixed_precision = True      # checked on CPU only (tests/test_distribute.py)

    def build(self, encoder, hparams):
        import keras
        input_size, num_classes = encoder_sizes(encoder)
        sizes, attn_length, dropout = architecture(hparams)
        inputs = keras.Input(shape=(None, input_size), dtype='float32', name='inputs')
        h = keras_stack(inputs, sizes, attn_length, dropout)
        logits = keras.layers.Dense(num_classes, name='logits')(h)
        return keras.Model(inputs, logits, name='events_rnn')

    def objective(self, encoder, hparams):
        return CategoricalCrossEntropy()

    def weight_variables(self, keras_model):
        out = {}
        for layer in keras_model.layers:
            out.update(rnn_variables(layer))
            if layer.name == 'logits':
                out.update({'logits/kernel': layer.kernel, 'logits/bias': layer.bias})
        return out

    def weight_shapes(self, encoder, hparams):
        return weight_shapes(*encoder_sizes(encoder), hparams)

    def step_model(self, weights, encoder, hparams):
        check_weights(weights, self.weight_shapes(encoder, hparams), 'config')
        return RNNStepModel(weights, hparams)


MODELS.alias('rnn', 'events_rnn')     # the name in bundles and run directories made before 0.2


class WindowAttention(Cell):
    """The NumPy attention of `CausalWindowAttention` as a cell between layers 0 and 1: first-
    layer output h [B, U] in, [h, context] [B, 2U] out. State: rings of the last L outputs
    [B, L, U] and of their key projections [B, L, A], and the steps taken [B] (int64), all
    updated in place (the state rule of models/base.py)."""

    def __init__(self, key_kernel, query_kernel, query_bias, v, attn_length):
        self.key_kernel, self.v, self.attn_length = key_kernel, v, attn_length
        self.query = np.concatenate([query_kernel, query_bias[None, :]])
        units = key_kernel.shape[0]
        self.state_size = ((attn_length, units), (attn_length, key_kernel.shape[1]), ())
        self.output_size = 2 * units

    def zero_state(self, batch_size):
        outputs, keys, _ = super().zero_state(batch_size)
        return outputs, keys, np.zeros(batch_size, np.int64)

    def __call__(self, h, state):
        outputs, keys, count = state
        rows = np.arange(len(h))
        slot = count % self.attn_length
        count += 1
        outputs[rows, slot] = h
        keys[rows, slot] = h @ self.key_kernel
        query = h @ self.query[:-1] + self.query[-1]
        scores = np.tanh(keys + query[:, None, :]) @ self.v               # [B, L]
        scores[np.arange(self.attn_length)[None, :] >= count[:, None]] = -np.inf
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=1, keepdims=True)
        context = (weights[:, None, :] @ outputs)[:, 0]
        return np.concatenate([h, context], axis=1), (outputs, keys, count)


def step_cells(weights, hparams):
    """The NumPy cells of the stack, in order: lstm_0, the attention (with attn_length),
    lstm_1, ..."""
    sizes, attn_length, _ = architecture(hparams)
    return stack_cells(weights, len(sizes), attn_length)


def stack_cells(weights, num_layers, attn_length):
    """The NumPy cells of an LSTM stack of `num_layers` from `weights` (stack_shapes'
    names), the windowed attention after layer 0 when attn_length > 0."""
    cells = [lstm.from_weights(weights, 'lstm_%d' % k) for k in range(num_layers)]
    if attn_length:
        cells.insert(1, WindowAttention(*(weights['attention/' + n] for n in (
            'key_kernel', 'query_kernel', 'query_bias', 'v')), attn_length))
    return cells


class RNNStepModel(StepModel):
    """The NumPy twin of `EventsRNN.build`: the same logits, one step at a time, from a
    CellStack of `step_cells` and the logits layer. The cells keep scratch buffers per
    batch size, so use one instance per thread."""

    def __init__(self, weights, hparams):
        w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.stack = CellStack(step_cells(w, hparams))
        self.logits = np.concatenate([w['logits/kernel'], w['logits/bias'][None, :]])
        self._top = {}

    def initial_state(self, batch_size):
        return self.stack.zero_state(batch_size)

    def _top_rows(self, batch):
        """The [x, 1] rows the logits layer multiplies, made once per batch size."""
        if batch not in self._top:
            top = np.empty((batch, self.logits.shape[0]), np.float32)
            top[:, -1] = 1.0
            self._top[batch] = top
        return self._top[batch]

    def step(self, inputs, state):
        x, state = self.stack(np.asarray(inputs, dtype=np.float32), state)
        top = self._top_rows(len(x))
        top[:, :-1] = x
        return top @ self.logits, state
