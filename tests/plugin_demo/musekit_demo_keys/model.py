"""An LSTM over key frames with one Bernoulli per key: its own loss (negative
log-likelihood summed over keys), its own sampling (each key on with its probability),
random crops for training, and musekit's shared LSTM cell on both sides."""
import dataclasses

import numpy as np

from musekit.data.batching import RandomCrops
from musekit.layers import lstm
from musekit.models.base import ModelFamily, StepModel, TrainingHparams, check_weights, register
from musekit.models.objectives import Objective
from musekit.params import param


class KeyBernoulli(Objective):
    """Loss: nats per frame (Bernoulli NLL summed over the keys); key_accuracy: keys
    whose on/off state the 0.5 threshold gets right."""

    def totals(self, outputs, labels, mask):
        import tensorflow as tf
        labels = tf.cast(labels, tf.float32)
        nll = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels, outputs), -1)
        right = tf.cast(tf.equal(tf.cast(outputs > 0, tf.float32), labels), tf.float32)
        keys = tf.cast(tf.shape(labels)[-1], tf.float32)
        steps = tf.reduce_sum(mask)
        return {'loss': (tf.reduce_sum(nll * mask), steps),
                'key_accuracy': (tf.reduce_sum(tf.reduce_sum(right, -1) * mask), steps * keys)}


@dataclasses.dataclass
class Hparams(TrainingHparams):
    units: int = param(32, 'LSTM units', min=1, architecture=True)
    crop_length: int = param(16, 'frames per training crop', min=1)


@register('demo_key_lstm')
class KeyLSTM(ModelFamily):
    Hparams = Hparams

    def build(self, encoder, hparams):
        import keras
        keys = encoder.input_spec.size
        inputs = keras.Input(shape=(None, keys), dtype='float32')
        h = lstm.keras_layer(hparams['units'], 'lstm')(inputs)
        return keras.Model(inputs, keras.layers.Dense(keys, name='keys')(h))

    def objective(self, encoder, hparams):
        return KeyBernoulli()

    def batching(self, hparams):
        return RandomCrops(hparams['crop_length'])

    def weight_variables(self, keras_model):
        dense = keras_model.get_layer('keys')
        return {**lstm.keras_variables(keras_model.get_layer('lstm')),
                'keys/kernel': dense.kernel, 'keys/bias': dense.bias}

    def weight_shapes(self, encoder, hparams):
        keys, units = encoder.input_spec.size, hparams['units']
        return {**lstm.weight_shapes('lstm', keys, units),
                'keys/kernel': (units, keys), 'keys/bias': (keys,)}

    def step_model(self, weights, encoder, hparams):
        check_weights(weights, self.weight_shapes(encoder, hparams), 'config')
        return KeyStepModel(weights)


class KeyStepModel(StepModel):
    def __init__(self, weights):
        self.cell = lstm.from_weights(weights, 'lstm')
        self.kernel, self.bias = weights['keys/kernel'], weights['keys/bias']

    def initial_state(self, batch_size):
        return self.cell.zero_state(batch_size)

    def step(self, inputs, state):
        h, state = self.cell(np.asarray(inputs, np.float32), state)
        return h @ self.kernel + self.bias, state

    def sample(self, outputs, temperature, rng):
        """Each key on with probability sigmoid(logit / temperature), independently."""
        p_on = 1.0 / (1.0 + np.exp(-np.asarray(outputs, np.float64) / temperature))
        on = rng.random(p_on.shape) < p_on
        log_probs = np.log(np.where(on, p_on, 1.0 - p_on) + 1e-12).sum(axis=1)
        return on.astype(np.int64), log_probs
