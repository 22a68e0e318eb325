"""The LSTM cell: Keras's LSTM layer for training and `NumpyLSTMCell`, its NumPy twin for
step-by-step generation (a `musekit.layers.cells.Cell`), with one naming of the three
weights both sides share.

Weights of a cell called PREFIX (gates in Keras's order i, f, c, o):
``PREFIX/kernel [D, 4U]``, ``PREFIX/recurrent_kernel [U, 4U]``, ``PREFIX/bias [4U]``.
"""
import numpy as np

from musekit.layers.cells import Cell


def weight_shapes(prefix, input_size, units):
    """{name: shape} of one cell's weights."""
    return {prefix + '/kernel': (input_size, 4 * units),
            prefix + '/recurrent_kernel': (units, 4 * units),
            prefix + '/bias': (4 * units,)}


def keras_layer(units, name):
    """A Keras LSTM layer over whole sequences (returns every step's output)."""
    import keras
    return keras.layers.LSTM(units, return_sequences=True, name=name)


def keras_stacked_layer(sizes, dropout, name):
    """One Keras RNN layer running an LSTM cell per size at each time step (returns every
    step's last-cell output), with `dropout` on the output of every cell but the last
    (a fresh mask each step, as a Dropout layer between LSTM layers draws).

    The same maths as LSTM layers in sequence, in one time loop whose parallel iterations
    let cell k at step t run beside cell k - 1 at step t + 1 (faster to train).
    """
    import keras

    class StackedLSTMCells(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.cells = [keras.layers.LSTMCell(units, name='lstm_%d' % k)
                          for k, units in enumerate(sizes)]
            self.state_size = [units for units in sizes for _ in range(2)]    # h, c per cell
            self.output_size = sizes[-1]
            self.seed_generator = keras.random.SeedGenerator(name='dropout_seed')

        def build(self, input_shape):
            width = input_shape[-1]
            for cell, units in zip(self.cells, sizes):
                cell.build((None, width))
                width = units
            self.built = True

        def call(self, inputs, states, training=False):
            h, new_states = inputs, []
            for k, cell in enumerate(self.cells):
                h, (h_state, c_state) = cell(h, [states[2 * k], states[2 * k + 1]])
                new_states += [h_state, c_state]
                if training and dropout and k < len(self.cells) - 1:
                    h = keras.random.dropout(h, dropout, seed=self.seed_generator)
            return h, new_states

    return keras.layers.RNN(StackedLSTMCells(name=name + '_cells'), return_sequences=True,
                            name=name)


def keras_stacked_variables(layer, prefix='lstm'):
    """{name: Variable} of every cell of a `keras_stacked_layer`: PREFIX_k/kernel, ..."""
    out = {}
    for k, cell in enumerate(layer.cell.cells):
        out.update(_cell_variables(cell, '%s_%d' % (prefix, k)))
    return out


def keras_variables(layer, prefix=None):
    """{name: Variable} of a Keras LSTM layer's cell, named as `weight_shapes` names them."""
    return _cell_variables(layer.cell, prefix or layer.name)


def _cell_variables(cell, prefix):
    return {prefix + '/kernel': cell.kernel, prefix + '/recurrent_kernel': cell.recurrent_kernel,
            prefix + '/bias': cell.bias}


def from_weights(weights, prefix):
    """A NumpyLSTMCell from the `prefix/...` entries of a weights dict."""
    return NumpyLSTMCell(weights[prefix + '/kernel'], weights[prefix + '/recurrent_kernel'],
                         weights[prefix + '/bias'])


class NumpyLSTMCell(Cell):
    """One LSTM step in NumPy, equal to Keras's LSTMCell (sigmoid gates, tanh activation);
    its state is (h, c), its output h.

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
        self.units = self.output_size = units
        self.state_size = (units, units)
        self._scratch = {}

    def _buffers(self, batch):
        if batch not in self._scratch:
            xh = np.empty((batch, self.matrix.shape[0]), np.float32)
            xh[:, -1] = 1.0
            self._scratch[batch] = (xh, np.empty((batch, 4 * self.units), np.float32),
                                    np.empty((batch, self.units), np.float32))
        return self._scratch[batch]

    def __call__(self, x, state):
        """(h, (h, c)) for inputs x [B, D] and state (h, c) [B, U]; the inputs are kept."""
        h, c = state
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
        new_h = np.multiply(z[:, 2 * units:3 * units], tanh_c)
        return new_h, (new_h, new_c)
