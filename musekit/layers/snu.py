"""Spiking neural units (Woźniak et al., Nature Machine Intelligence 2020) as a Keras RNN
cell, and `NumpySNUCell`, its NumPy twin for generation (a `musekit.layers.cells.Cell`).

    s_t = g(W x_t [+ R y_{t-1}] + decay * s_{t-1} * (1 - y_{t-1}))     membrane potential
    y_t = h(s_t - threshold)                                         output

The reset term (1 - y_{t-1}) empties the membrane after a spike. `snu`: h is a step
function whose backward pass uses the derivative of tanh as a pseudo-derivative; `ssnu`
(soft SNU): h is the sigmoid. The threshold is trained, one per unit, from 1.

Weights of a cell called PREFIX: ``PREFIX/kernel [D, U]``, ``PREFIX/threshold [U]`` and,
with recurrent connections, ``PREFIX/recurrent_kernel [U, U]``.
"""
import functools

import numpy as np

from musekit.errors import MusekitError
from musekit.layers.cells import Cell

OUTPUTS = ('step', 'sigmoid')       # h of the snu and of the ssnu
MEMBRANE = ('identity', 'leaky_relu')
LEAKY_SLOPE = 0.1


def check_options(output, g, decay, recurrent):
    if output not in OUTPUTS:
        raise MusekitError('SNU output is one of %s, not %r' % (', '.join(OUTPUTS), output))
    if g not in MEMBRANE:
        raise MusekitError('SNU g is one of %s, not %r' % (', '.join(MEMBRANE), g))
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay <= 1:
        raise MusekitError('SNU decay is a number in [0, 1], not %r' % (decay,))
    if not isinstance(recurrent, bool):
        raise MusekitError('SNU recurrent is true or false, not %r' % (recurrent,))


def weight_shapes(prefix, input_size, units, recurrent):
    shapes = {prefix + '/kernel': (input_size, units), prefix + '/threshold': (units,)}
    if recurrent:
        shapes[prefix + '/recurrent_kernel'] = (units, units)
    return shapes


def spike(x):
    """Heaviside step (1 where x > 0) whose gradient is that of tanh(x): 1 - tanh(x)^2."""
    import tensorflow as tf

    @tf.custom_gradient
    def forward(x):
        def grad(dy):
            t = tf.tanh(x)
            return dy * (1.0 - t * t)
        return tf.cast(x > 0, x.dtype), grad
    return forward(x)


@functools.lru_cache(maxsize=None)
def _cell_class():
    import keras
    import tensorflow as tf

    class SNUCell(keras.layers.Layer):
        """One step of a layer of SNUs; its state is (membrane s, output y)."""

        def __init__(self, units, decay=0.8, g='identity', recurrent=False, output='step',
                     **kwargs):
            super().__init__(**kwargs)
            check_options(output, g, decay, recurrent)
            self.units, self.decay, self.g = units, float(decay), g
            self.recurrent, self.output_kind = recurrent, output
            self.state_size = [units, units]
            self.output_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(name='kernel', shape=(input_shape[-1], self.units),
                                          initializer='glorot_uniform')
            self.recurrent_kernel = (self.add_weight(
                name='recurrent_kernel', shape=(self.units, self.units),
                initializer='orthogonal') if self.recurrent else None)
            self.threshold = self.add_weight(name='threshold', shape=(self.units,),
                                             initializer='ones')

        def call(self, inputs, states, training=None):
            s, y = states
            z = tf.matmul(inputs, self.kernel) + self.decay * s * (1.0 - y)
            if self.recurrent:
                z += tf.matmul(y, self.recurrent_kernel)
            s = tf.nn.leaky_relu(z, LEAKY_SLOPE) if self.g == 'leaky_relu' else z
            v = s - self.threshold
            y = spike(v) if self.output_kind == 'step' else tf.sigmoid(v)
            return y, [s, y]

        def get_config(self):
            return {**super().get_config(), 'units': self.units, 'decay': self.decay,
                    'g': self.g, 'recurrent': self.recurrent, 'output': self.output_kind}

    return SNUCell


def keras_cell(units, **options):
    return _cell_class()(units, **options)


def keras_layer(units, name, **options):
    """A Keras RNN layer of SNUs over whole sequences (returns every step's output)."""
    import keras
    return keras.layers.RNN(keras_cell(units, **options), return_sequences=True, name=name)


def keras_variables(layer, prefix=None):
    """{name: Variable} of an SNU layer's cell, named as `weight_shapes` names them."""
    prefix = prefix or layer.name
    cell = layer.cell
    out = {prefix + '/kernel': cell.kernel, prefix + '/threshold': cell.threshold}
    if cell.recurrent:
        out[prefix + '/recurrent_kernel'] = cell.recurrent_kernel
    return out


class NumpySNUCell(Cell):
    """One SNU step in NumPy, equal to the Keras cell's forward pass; its state is
    (membrane s, output y), its output y."""

    def __init__(self, kernel, threshold, recurrent_kernel=None, decay=0.8, g='identity',
                 output='step'):
        check_options(output, g, decay, recurrent_kernel is not None)
        self.kernel = np.asarray(kernel, np.float32)
        self.threshold = np.asarray(threshold, np.float32)
        self.recurrent_kernel = (None if recurrent_kernel is None
                                 else np.asarray(recurrent_kernel, np.float32))
        self.decay, self.g, self.output = np.float32(decay), g, output
        self.units = self.output_size = self.kernel.shape[1]
        self.state_size = (self.units, self.units)

    @classmethod
    def from_weights(cls, weights, prefix, decay=0.8, g='identity', output='step'):
        return cls(weights[prefix + '/kernel'], weights[prefix + '/threshold'],
                   weights.get(prefix + '/recurrent_kernel'), decay, g, output)

    def __call__(self, x, state):
        """(y, (s, y)) for inputs x [B, D] and state (s, y) [B, U]."""
        s, y = state
        z = x @ self.kernel + self.decay * s * (1.0 - y)
        if self.recurrent_kernel is not None:
            z += y @ self.recurrent_kernel
        s = np.where(z > 0, z, LEAKY_SLOPE * z).astype(np.float32) \
            if self.g == 'leaky_relu' else z.astype(np.float32)
        v = s - self.threshold
        y = ((v > 0).astype(np.float32) if self.output == 'step'
             else (1.0 / (1.0 + np.exp(-v))).astype(np.float32))
        return y, (s, y)
