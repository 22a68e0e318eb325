"""The melody RNN ('rnn'): stacked LSTMs, optional causal attention, a Dense layer to logits.

One builder serves basic_rnn, mono_rnn, lookback_rnn and attention_rnn. Hparams:
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

Only `build`, `export_weights` and `import_weights` import Keras; the step model is NumPy.
"""
import functools

import numpy as np

from musekit.errors import MusekitError
from musekit.models.base import ModelSpec, StepModel, register


def _architecture(hparams):
    """(layer sizes, attn_length, dropout rate) from hparams, checked."""
    sizes = hparams.get('rnn_layer_sizes')
    if (not isinstance(sizes, (list, tuple)) or not sizes
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)):
        raise MusekitError('hparam rnn_layer_sizes must be a non-empty list of positive '
                           'integers, not %r' % (sizes,))
    attn_length = hparams.get('attn_length', 0) or 0
    if not isinstance(attn_length, int) or attn_length < 0:
        raise MusekitError('hparam attn_length must be an integer >= 0, not %r' % (attn_length,))
    dropout = float(hparams.get('dropout_rate', 0.0) or 0.0)
    if not 0.0 <= dropout < 1.0:
        raise MusekitError('hparam dropout_rate must be in [0, 1), not %r' % dropout)
    return [int(s) for s in sizes], attn_length, dropout


def weight_shapes(input_size, num_classes, hparams):
    """{name: shape} of every exported weight (the naming scheme in the module docstring)."""
    sizes, attn_length, _ = _architecture(hparams)
    shapes = {}
    width = input_size
    for k, units in enumerate(sizes):
        shapes['lstm_%d/kernel' % k] = (width, 4 * units)
        shapes['lstm_%d/recurrent_kernel' % k] = (units, 4 * units)
        shapes['lstm_%d/bias' % k] = (4 * units,)
        width = units
        if k == 0 and attn_length:
            shapes.update({'attention/key_kernel': (units, units),
                           'attention/query_kernel': (units, units),
                           'attention/query_bias': (units,), 'attention/v': (units,)})
            width = 2 * units
    shapes['logits/kernel'] = (width, num_classes)
    shapes['logits/bias'] = (num_classes,)
    return shapes


def _check(weights, expected, what):
    """Raises MusekitError unless `weights` has exactly the names and shapes of `expected`."""
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise MusekitError('rnn weights do not fit the %s: %s' % (what, '; '.join(
            part for part in ('missing ' + ', '.join(missing) if missing else '',
                              'unexpected ' + ', '.join(extra) if extra else '') if part)))
    for name, shape in expected.items():
        got = tuple(np.shape(weights[name]))
        if got != tuple(shape):
            raise MusekitError('rnn weight %s has shape %s but the %s needs %s'
                               % (name, got, what, tuple(shape)))


def check_weights(weights, input_size, num_classes, hparams):
    """Raises MusekitError unless `weights` has exactly the expected names and shapes."""
    _check(weights, weight_shapes(input_size, num_classes, hparams), 'config')


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
            # offsets[t, d] = t - d: the window of step t, newest first; negative = before start
            time = ops.arange(ops.shape(h)[1], dtype='int32')
            offsets = time[:, None] - ops.arange(self.attn_length, dtype='int32')[None, :]
            valid = offsets >= 0
            offsets = ops.maximum(offsets, 0)
            window_keys = ops.take(keys, offsets, axis=1)                 # [B, T, L, A]
            scores = ops.einsum('btla,a->btl', ops.tanh(window_keys + query[:, :, None, :]),
                                self.v)
            scores = ops.where(valid[None], scores, ops.full_like(scores, -1e9))
            weights = ops.softmax(scores, axis=-1)
            context = ops.einsum('btl,btlu->btu', weights, ops.take(h, offsets, axis=1))
            return ops.concatenate([h, context], axis=-1)

        def get_config(self):
            return {**super().get_config(), 'attn_length': self.attn_length}

    return CausalWindowAttention


@register('rnn')
class MelodyRNN(ModelSpec):
    """Stacked LSTM melody model with optional windowed attention over the first layer."""

    def build(self, input_size, num_classes, hparams):
        import keras
        sizes, attn_length, dropout = _architecture(hparams)
        inputs = keras.Input(shape=(None, input_size), dtype='float32', name='inputs')
        h = inputs
        for k, units in enumerate(sizes):
            h = keras.layers.LSTM(units, return_sequences=True, name='lstm_%d' % k)(h)
            if k == 0 and attn_length:
                h = _attention_layer_class()(attn_length, name='attention')(h)
            if dropout:
                h = keras.layers.Dropout(dropout, name='dropout_%d' % k)(h)
        logits = keras.layers.Dense(num_classes, name='logits')(h)
        return keras.Model(inputs, logits, name='rnn')

    @staticmethod
    def _variables(keras_model):
        """{stable name: keras Variable} of the model's weights."""
        out = {}
        for layer in keras_model.layers:
            if layer.name.startswith('lstm_'):
                cell = layer.cell
                out.update({layer.name + '/kernel': cell.kernel,
                            layer.name + '/recurrent_kernel': cell.recurrent_kernel,
                            layer.name + '/bias': cell.bias})
            elif layer.name == 'attention':
                out.update({'attention/' + n: getattr(layer, n)
                            for n in ('key_kernel', 'query_kernel', 'query_bias', 'v')})
            elif layer.name == 'logits':
                out.update({'logits/kernel': layer.kernel, 'logits/bias': layer.bias})
        return out

    def export_weights(self, keras_model):
        return {name: np.array(var.numpy(), dtype=np.float32)
                for name, var in self._variables(keras_model).items()}

    def import_weights(self, keras_model, weights):
        variables = self._variables(keras_model)
        _check(weights, {name: var.shape for name, var in variables.items()}, 'model')
        for name, var in variables.items():
            var.assign(np.asarray(weights[name], dtype=np.float32))

    def step_model(self, weights, input_size, num_classes, hparams):
        check_weights(weights, input_size, num_classes, hparams)
        return RNNStepModel(weights, hparams)


# OpenBLAS multiplies blocks of up to 4 rows by a wide matrix several times faster per row
# than 8 or more rows at once (about 13 us vs 45 us for 10 rows by [250, 512]).
_ROWS = 4


class _LSTMStep:
    """One LSTM layer in NumPy: a single matmul of [x, h, 1] by [kernel; recurrent; bias].

    The fused matrix's gate columns are reordered to (i, f, o, c) and the i, f, o columns
    halved, so one tanh serves all gates: sigmoid(z) = 0.5 * tanh(z / 2) + 0.5.
    """

    def __init__(self, kernel, recurrent_kernel, bias):
        units = recurrent_kernel.shape[0]
        fused = np.concatenate([kernel, recurrent_kernel, bias[None, :]]).astype(np.float32)
        i, f, c, o = np.split(fused, 4, axis=1)
        self.matrix = np.ascontiguousarray(np.concatenate([0.5 * i, 0.5 * f, 0.5 * o, c], 1))
        self.input_size = kernel.shape[0]
        self.units = units


class RNNStepModel(StepModel):
    """The NumPy twin of `MelodyRNN.build`: the same logits, one step at a time.

    State: (h_0, c_0, ..., h_{n-1}, c_{n-1}) and with attention also (ring of the last L
    first-layer outputs [B, L, U], ring of their key projections [B, L, A], steps taken [B]).
    `step` never modifies the arrays it is given. Scratch buffers are kept per batch size,
    so use one instance per thread.
    """

    def __init__(self, weights, hparams):
        sizes, self.attn_length, _ = _architecture(hparams)
        w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.layers = [_LSTMStep(w['lstm_%d/kernel' % k], w['lstm_%d/recurrent_kernel' % k],
                                 w['lstm_%d/bias' % k]) for k in range(len(sizes))]
        self.logits = np.concatenate([w['logits/kernel'], w['logits/bias'][None, :]])
        if self.attn_length:
            self.key_kernel = w['attention/key_kernel']
            self.query = np.concatenate([w['attention/query_kernel'],
                                         w['attention/query_bias'][None, :]])
            self.v = w['attention/v']
        self.input_size = self.layers[0].input_size
        self.num_classes = self.logits.shape[1]
        self._scratch = {}

    def initial_state(self, batch_size):
        state = []
        for layer in self.layers:
            state += [np.zeros((batch_size, layer.units), np.float32)] * 2
        if self.attn_length:
            units = self.layers[0].units
            state += [np.zeros((batch_size, self.attn_length, units), np.float32),
                      np.zeros((batch_size, self.attn_length, units), np.float32),
                      np.zeros((batch_size,), np.int64)]
        return tuple(np.array(s) for s in state)

    def _buffers(self, batch):
        """Per-layer [x, h, 1] rows and gate buffers for `batch` rows, made once."""
        if batch not in self._scratch:
            rows = []
            for layer in self.layers:
                xh = np.empty((batch, layer.matrix.shape[0]), np.float32)
                xh[:, -1] = 1.0
                rows.append((xh, np.empty((batch, 4 * layer.units), np.float32),
                             np.empty((batch, layer.units), np.float32)))
            top = np.empty((batch, self.logits.shape[0]), np.float32)
            top[:, -1] = 1.0
            self._scratch[batch] = rows, top
        return self._scratch[batch]

    def step(self, inputs, state):
        inputs = np.asarray(inputs, dtype=np.float32)
        batch = inputs.shape[0]
        rows, top = self._buffers(batch)
        new_state = []
        x = inputs
        for k, (layer, (xh, z, tanh_c)) in enumerate(zip(self.layers, rows)):
            h, c = state[2 * k], state[2 * k + 1]
            width, units = x.shape[1], layer.units
            xh[:, :width] = x
            xh[:, width:-1] = h
            for lo in range(0, batch, _ROWS):
                np.matmul(xh[lo:lo + _ROWS], layer.matrix, out=z[lo:lo + _ROWS])
            np.tanh(z, out=z)
            sig = z[:, :3 * units]
            sig *= 0.5
            sig += 0.5
            new_c = z[:, units:2 * units] * c
            new_c += z[:, :units] * z[:, 3 * units:]
            np.tanh(new_c, out=tanh_c)
            new_h = np.multiply(z[:, 2 * units:3 * units], tanh_c)
            new_state += [new_h, new_c]
            x = new_h
            if k == 0 and self.attn_length:
                context, attn_state = self._attend(new_h, state[2 * len(self.layers):])
                x = np.concatenate([new_h, context], axis=1)
        top[:, :-1] = x
        logits = top @ self.logits
        if self.attn_length:
            new_state += attn_state
        return logits, tuple(new_state)

    def _attend(self, h, attn_state):
        """(context [B, U], new ring state) after adding first-layer output `h`."""
        outputs, keys, count = attn_state
        rows = np.arange(len(h))
        slot = count % self.attn_length
        outputs, keys, count = outputs.copy(), keys.copy(), count + 1
        outputs[rows, slot] = h
        keys[rows, slot] = h @ self.key_kernel
        query = h @ self.query[:-1] + self.query[-1]
        scores = np.tanh(keys + query[:, None, :]) @ self.v               # [B, L]
        scores[np.arange(self.attn_length)[None, :] >= count[:, None]] = -np.inf
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=1, keepdims=True)
        context = (weights[:, None, :] @ outputs)[:, 0]
        return context, [outputs, keys, count]
