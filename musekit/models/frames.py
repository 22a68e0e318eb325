"""What every piano-roll model shares: a stack of recurrent layers over frames, a dense
layer of one logit per key, the frame-level Bernoulli loss and metrics of the polyphonic
benchmarks, and per-key sampling in generation. A family adds only its recurrent layers
(`models/snu.py`, `models/frame_lstm.py`)."""
import abc
import dataclasses

import numpy as np

from musekit import params
from musekit.layers.cells import CellStack
from musekit.models.base import (MAX_LAYERS, ModelFamily, StepModel, TrainingHparams,
                                 check_weights)
from musekit.params import param
from musekit.models.objectives import Objective

KEYS_LAYER = 'keys'


class FrameBernoulli(Objective):
    """loss: the frame-level NLL of the benchmarks, nats per frame (for each frame the
    Bernoulli NLL summed over the keys); frame_accuracy: TP / (TP + FP + FN) over all
    frames, the keys predicted on where P(on) > 0.5 (Bay et al., 2009)."""

    def totals(self, outputs, labels, mask):
        import tensorflow as tf
        labels = tf.cast(labels, tf.float32)
        nll = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels, outputs), -1)
        predicted = tf.cast(outputs > 0, tf.float32) * mask[..., None]
        on = labels * mask[..., None]
        true_positives = tf.reduce_sum(predicted * on)
        return {'loss': (tf.reduce_sum(nll * mask), tf.reduce_sum(mask)),
                'frame_accuracy': (true_positives,
                                   tf.reduce_sum(predicted) + tf.reduce_sum(on)
                                   - true_positives)}

    def derived(self, means):
        return {'frame_nll': means['loss']}


@dataclasses.dataclass
class FrameHparams(TrainingHparams):
    """What every piano-roll model's hparams hold."""
    layer_sizes: list[int] = param([150], 'recurrent layer widths, first layer first', min=1,
                                   min_items=1, max_items=MAX_LAYERS, architecture=True)


class FrameModel(ModelFamily):
    """Recurrent layers (`layer_sizes`) -> Dense(keys) logits, trained on whole pieces.

    A subclass supplies `recurrent_layer` (Keras) and `numpy_layer` (its twin for
    generation) with their stable weight names.
    """

    Hparams = FrameHparams

    @abc.abstractmethod
    def recurrent_layer(self, units, name, hparams):
        """A Keras layer over [B, T, D] returning every step's output [B, T, units]."""

    @abc.abstractmethod
    def layer_variables(self, layer, name):
        """{stable name: Variable} of one recurrent layer (built by `recurrent_layer`)."""

    @abc.abstractmethod
    def layer_shapes(self, name, input_size, units, hparams):
        """{stable name: shape} of one recurrent layer's weights."""

    @abc.abstractmethod
    def numpy_layer(self, weights, name, hparams):
        """The NumPy twin of one recurrent layer: a `musekit.layers.cells.Cell`."""

    def layer_sizes(self, hparams):
        return params.bind(self.Hparams, hparams, 'hparam').layer_sizes

    def build(self, encoder, hparams):
        import keras
        keys = encoder.input_spec.size
        inputs = keras.Input(shape=(None, keys), dtype='float32')
        h = inputs
        for i, units in enumerate(self.layer_sizes(hparams)):
            h = self.recurrent_layer(units, 'rnn_%d' % i, hparams)(h)
        return keras.Model(inputs, keras.layers.Dense(keys, name=KEYS_LAYER)(h))

    def objective(self, encoder, hparams):
        return FrameBernoulli()

    def weight_variables(self, keras_model):
        out = {}
        for layer in keras_model.layers:
            if layer.name.startswith('rnn_'):
                out.update(self.layer_variables(layer, layer.name))
        dense = keras_model.get_layer(KEYS_LAYER)
        out.update({KEYS_LAYER + '/kernel': dense.kernel, KEYS_LAYER + '/bias': dense.bias})
        return out

    def weight_shapes(self, encoder, hparams):
        keys = encoder.input_spec.size
        shapes, size = {}, keys
        for i, units in enumerate(self.layer_sizes(hparams)):
            shapes.update(self.layer_shapes('rnn_%d' % i, size, units, hparams))
            size = units
        shapes.update({KEYS_LAYER + '/kernel': (size, keys), KEYS_LAYER + '/bias': (keys,)})
        return shapes

    def step_model(self, weights, encoder, hparams):
        check_weights(weights, self.weight_shapes(encoder, hparams), 'config')
        cells = [self.numpy_layer(weights, 'rnn_%d' % i, hparams)
                 for i in range(len(self.layer_sizes(hparams)))]
        return FrameStepModel(cells, weights[KEYS_LAYER + '/kernel'],
                              weights[KEYS_LAYER + '/bias'])


class FrameStepModel(StepModel):
    """NumPy frames in, one logit per key out; each key sampled on or off independently.

    Modes: 'sample' (each key on with probability sigmoid(logit / temperature)) and
    'threshold' (each key on where P(on) > 0.5: the most likely frame).
    """

    modes = ('sample', 'threshold')

    def __init__(self, cells, kernel, bias):
        self.stack = CellStack(cells)
        self.kernel = np.asarray(kernel, np.float32)
        self.bias = np.asarray(bias, np.float32)

    def initial_state(self, batch_size):
        return self.stack.zero_state(batch_size)

    def step(self, inputs, state):
        h, state = self.stack(np.asarray(inputs, np.float32), state)
        return h @ self.kernel + self.bias, state

    def sample(self, outputs, temperature, rng):
        """(keys on [B, K] as 0/1, log-probabilities [B] of those frames)."""
        logits = np.asarray(outputs, np.float64)
        if self.mode == 'threshold':
            on = logits > 0
            scaled = logits
        else:
            scaled = logits / temperature
            on = rng.random(logits.shape) < 1.0 / (1.0 + np.exp(-scaled))
        # log sigmoid(+-x) computed stably: -log(1 + exp(-+x))
        signed = np.where(on, scaled, -scaled)
        log_probs = -(np.maximum(-signed, 0) + np.log1p(np.exp(-np.abs(signed))))
        return on.astype(np.int64), log_probs.sum(axis=1)
