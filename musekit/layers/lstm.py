"""The LSTM cell: Keras's LSTM layer for training and `NumpyLSTMCell`, its NumPy twin for
step-by-step generation, with one naming of the three weights both sides share.

Weights of a cell called PREFIX (gates in Keras's order i, f, c, o):
``PREFIX/kernel [D, 4U]``, ``PREFIX/recurrent_kernel [U, 4U]``, ``PREFIX/bias [4U]``.

Training runs the Keras layer through `lstm_sequence` (see there): the input projection of
all steps as one matmul, and a hand-written backward pass whose time loop holds one small
matmul per step; the weights, their names and checkpoints are Keras's own.
"""
import functools

import numpy as np

from musekit.errors import MusekitError

# float32: exact; bfloat16: matmul operands rounded to bfloat16 (products summed in float32,
# results rounded to bfloat16), state and gates float32: about twice the matmul throughput
# on CPUs with AVX-512 BF16
MATMUL_DTYPES = ('float32', 'bfloat16')


def weight_shapes(prefix, input_size, units):
    """{name: shape} of one cell's weights."""
    return {prefix + '/kernel': (input_size, 4 * units),
            prefix + '/recurrent_kernel': (units, 4 * units),
            prefix + '/bias': (4 * units,)}


def keras_layer(units, name, matmul_dtype='float32'):
    """A Keras LSTM layer over whole sequences (returns every step's output); its cell,
    weights and checkpoint entries are keras.layers.LSTM's, its loop `lstm_sequence`
    (whose matmuls take `matmul_dtype` operands: one of MATMUL_DTYPES)."""
    if matmul_dtype not in MATMUL_DTYPES:
        raise MusekitError('an LSTM matmul dtype is one of %s, not %r'
                           % (', '.join(MATMUL_DTYPES), matmul_dtype))
    return _fast_lstm_class()(units, return_sequences=True, name=name,
                              matmul_dtype=matmul_dtype)


@functools.cache
def _recurrence():
    """The TensorFlow function `recurrence(zx, recurrent_kernel, h0, c0)`, defined on first
    use so importing this module skips TensorFlow.

    Gates here are in the order i, f, o, g (`lstm_sequence` reorders Keras's i, f, c, o):
    zx [T, B, 4U] holds every step's input projection x_t W + b (time-major); it returns
    (h [T, B, U] of every step, c [B, U] of the last). The gradient is written out by hand
    (backpropagation through time from the gate activations the forward pass kept, with
    TensorFlow's fused SigmoidGrad and TanhGrad): its time loop does one matmul and about
    twenty small ops per step, and the recurrent kernel's gradient is one matmul over all
    steps afterwards; TensorFlow's own gradient of the loop does more of both per step.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def recurrence(zx, recurrent_kernel, h0, c0):
        steps, units = tf.shape(zx)[0], tf.shape(h0)[1]
        dtype, low = zx.dtype, recurrent_kernel.dtype

        def matmul(a, b, **options):    # operands in the kernel's dtype, result in zx's
            return tf.cast(tf.matmul(tf.cast(a, low), tf.cast(b, low), **options), dtype)

        def body(t, h, c, hs, cs, sigs, gs):
            z = zx[t] + matmul(h, recurrent_kernel)
            z_sig, z_g = tf.split(z, [3 * units, units], axis=1)
            sig, g = tf.sigmoid(z_sig), tf.tanh(z_g)
            i, f, o = tf.split(sig, 3, axis=1)
            c = f * c + i * g
            h = o * tf.tanh(c)
            return (t + 1, h, c, hs.write(t, h), cs.write(t + 1, c), sigs.write(t, sig),
                    gs.write(t, g))

        def array(size, shape):     # read more than once by the backward pass (eagerly too)
            return tf.TensorArray(dtype, size=size, element_shape=shape, clear_after_read=False)
        arrays = (array(steps, h0.shape), array(steps + 1, c0.shape).write(0, c0),
                  array(steps, [h0.shape[0], None]), array(steps, h0.shape))
        _, _, c_last, hs, cs, sigs, gs = tf.while_loop(
            lambda t, *_: t < steps, body, (tf.constant(0), h0, c0, *arrays))
        hs_stacked = hs.stack()

        def grad(d_hs, d_c_last):
            transposed = tf.transpose(recurrent_kernel)

            def body(t, dh, dc, dzs):
                dh = dh + d_hs[t]
                sig, g, c_prev, c = sigs.read(t), gs.read(t), cs.read(t), cs.read(t + 1)
                i, f, o = tf.split(sig, 3, axis=1)
                tanh_c = tf.tanh(c)
                dc = dc + tf.raw_ops.TanhGrad(y=tanh_c, dy=dh * o)
                dz_sig = tf.raw_ops.SigmoidGrad(
                    y=sig, dy=tf.concat([dc * g, dc * c_prev, dh * tanh_c], axis=1))
                dz = tf.concat([dz_sig, tf.raw_ops.TanhGrad(y=g, dy=dc * i)], axis=1)
                return t - 1, matmul(dz, transposed), dc * f, dzs.write(t, dz)

            _, dh0, dc0, dzs = tf.while_loop(
                lambda t, *_: t >= 0, body,
                (steps - 1, tf.zeros_like(h0),
                 tf.zeros_like(c0) if d_c_last is None else d_c_last,
                 tf.TensorArray(dtype, size=steps, element_shape=[h0.shape[0], None])))
            dz = dzs.stack()
            h_prev = tf.concat([h0[None], hs_stacked[:-1]], axis=0)
            d_recurrent = matmul(tf.reshape(h_prev, [-1, units]),
                                 tf.reshape(dz, [-1, 4 * units]), transpose_a=True)
            return dz, d_recurrent, dh0, dc0

        return (hs_stacked, c_last), grad

    return recurrence


def lstm_sequence(inputs, kernel, recurrent_kernel, bias, h0, c0, matmul_dtype='float32'):
    """(outputs [B, T, U], last h, last c) of an LSTM over `inputs` [B, T, D] from state
    (h0, c0): what Keras's LSTM layer computes (sigmoid gates, tanh activation, no mask),
    with the input projection of every step done as one matmul before the time loop."""
    import tensorflow as tf

    def ifog(weights):      # Keras's gate order i, f, c, o -> i, f, o, g
        i, f, g, o = tf.split(weights, 4, axis=-1)
        return tf.concat([i, f, o, g], axis=-1)
    low = tf.as_dtype(matmul_dtype)
    time_major = tf.cast(tf.transpose(inputs, [1, 0, 2]), low)
    zx = tf.cast(tf.tensordot(time_major, tf.cast(ifog(kernel), low), 1), inputs.dtype)
    zx += ifog(bias)                                                           # [T, B, 4U]
    hs, c = _recurrence()(zx, tf.cast(ifog(recurrent_kernel), low), h0, c0)
    return tf.transpose(hs, [1, 0, 2]), hs[-1], c


@functools.cache
def _fast_lstm_class():
    """keras.layers.LSTM running its loop through `lstm_sequence` when it can (standard
    activations, no dropout inside the cell, no mask, forwards, TensorFlow without a GPU,
    where Keras's own layer runs cuDNN)."""
    import keras
    import tensorflow as tf

    class FastLSTM(keras.layers.LSTM):
        """keras.layers.LSTM (same cell, weights and checkpoint entries) whose loop is
        `lstm_sequence`; unusual settings fall back to Keras's own loop."""

        def __init__(self, units, matmul_dtype='float32', **kwargs):
            super().__init__(units, **kwargs)
            self.matmul_dtype = matmul_dtype

        def get_config(self):
            return {**super().get_config(), 'matmul_dtype': self.matmul_dtype}

        def inner_loop(self, sequences, initial_state, mask, training=False):
            cell = self.cell
            if (mask is not None or self.go_backwards or self.unroll or self.dropout
                    or self.recurrent_dropout or keras.backend.backend() != 'tensorflow'
                    or cell.activation is not keras.activations.tanh
                    or cell.recurrent_activation is not keras.activations.sigmoid
                    or not cell.use_bias or tf.config.list_logical_devices('GPU')):
                return super().inner_loop(sequences, initial_state, mask, training)
            outputs, h, c = lstm_sequence(sequences, cell.kernel.value,
                                          cell.recurrent_kernel.value, cell.bias.value,
                                          initial_state[0], initial_state[1],
                                          self.matmul_dtype)
            return h, outputs, [h, c]

    return FastLSTM


def keras_variables(layer, prefix=None):
    """{name: Variable} of a Keras LSTM layer's cell, named as `weight_shapes` names them."""
    prefix = prefix or layer.name
    cell = layer.cell
    return {prefix + '/kernel': cell.kernel, prefix + '/recurrent_kernel': cell.recurrent_kernel,
            prefix + '/bias': cell.bias}


def from_weights(weights, prefix):
    """A NumpyLSTMCell from the `prefix/...` entries of a weights dict."""
    return NumpyLSTMCell(weights[prefix + '/kernel'], weights[prefix + '/recurrent_kernel'],
                         weights[prefix + '/bias'])


class NumpyLSTMCell:
    """One LSTM step in NumPy, equal to Keras's LSTMCell (sigmoid gates, tanh activation).

    A single matmul of [x, h, 1] by [kernel; recurrent; bias]: the fused matrix's gate
    columns are reordered to (i, f, o, c) and the i, f, o columns halved, so one tanh
    serves all gates: sigmoid(z) = 0.5 * tanh(z / 2) + 0.5. Scratch buffers are kept per
    batch size, so use one instance per thread.
    """

    def __init__(self, kernel, recurrent_kernel, bias):
        units = recurrent_kernel.shape[0]
        fused = np.concatenate([kernel, recurrent_kernel, np.asarray(bias)[None, :]])
        i, f, c, o = np.split(fused.astype(np.float32), 4, axis=1)
        self.matrix = np.ascontiguousarray(np.concatenate([0.5 * i, 0.5 * f, 0.5 * o, c], 1))
        self.input_size = kernel.shape[0]
        self.units = units
        self._scratch = {}

    def zero_state(self, batch_size):
        """(h, c) zeros for `batch_size` rows."""
        return (np.zeros((batch_size, self.units), np.float32),
                np.zeros((batch_size, self.units), np.float32))

    def _buffers(self, batch):
        if batch not in self._scratch:
            xh = np.empty((batch, self.matrix.shape[0]), np.float32)
            xh[:, -1] = 1.0
            self._scratch[batch] = (xh, np.empty((batch, 4 * self.units), np.float32),
                                    np.empty((batch, self.units), np.float32))
        return self._scratch[batch]

    def __call__(self, x, h, c):
        """(new h, new c) for inputs x [B, D] and state h, c [B, U]; the inputs are kept."""
        batch, units = len(x), self.units
        xh, z, tanh_c = self._buffers(batch)
        xh[:, :x.shape[1]] = x
        xh[:, x.shape[1]:-1] = h
        np.matmul(xh, self.matrix, out=z)
        np.tanh(z, out=z)
        sig = z[:, :3 * units]
        sig *= 0.5
        sig += 0.5
        new_c = z[:, units:2 * units] * c
        new_c += z[:, :units] * z[:, 3 * units:]
        np.tanh(new_c, out=tanh_c)
        return np.multiply(z[:, 2 * units:3 * units], tanh_c), new_c
