"""The RNN-NADE ('rnn_nade'; Boulanger-Lewandowski et al., 2012, as Magenta's
pianoroll_rnn_nade builds it): stacked LSTMs over piano-roll frames, optionally with
attention over the first layer, whose output at each step sets the biases of a NADE over
the next frame's keys (`musekit.layers.nade`).

At step t the LSTMs read frame t (the piece's previous frame, as Magenta's graph reads the
frame before the one it scores); a dense layer maps their output to [b_enc (H), b_dec (D)],
Magenta's layout; the NADE's own weights W_enc [D, H], W_dec [D, H] are shared by every
step. Loss: the NADE's NLL of the next frame, nats per frame. Generation draws a frame's
keys one after another (`nade.sample`), so a frame's log-probability is exact and beam
search over frames applies. Hparams: rnn_layer_sizes, nade_hidden_units, dropout_rate,
attn_length (events_rnn's windowed attention), nade_log_epsilon.

Weights: events_rnn's ``lstm_k/*`` and ``attention/*`` names, then

    nade_bias/kernel [U_last (2 U_0 for one layer with attention), H + D]
    nade_bias/bias [H + D]      nade/w_enc [D, H]      nade/w_dec [D, H]

'magenta_attention_rnn_nade' generates from Magenta rnn-nade_attn bundles: layer 0 inside
TF1's AttentionCellWrapper (`models/magenta_attention.py`); musekit trains its own
attention (attn_length on rnn_nade).
"""
import dataclasses
import functools
import math

import numpy as np

from musekit import params
from musekit.errors import MusekitError
from musekit.layers import nade
from musekit.layers.cells import CellStack
from musekit.models.base import (MAX_LAYERS, ModelFamily, StepModel, TrainingHparams,
                                 check_weights, register)
from musekit.models.frames import FrameBernoulli
from musekit.params import param


@dataclasses.dataclass
class Hparams(TrainingHparams):
    """The RNN-NADE's hparams (Magenta's names and defaults; dropout as a rate)."""
    rnn_layer_sizes: list[int] = param([128, 128, 128], 'LSTM widths, first layer first',
                                       min=1, min_items=1, max_items=MAX_LAYERS,
                                       architecture=True)
    nade_hidden_units: int = param(128, "the NADE's hidden units", min=1, max=1 << 16,
                                   architecture=True)
    dropout_rate: float = param(0.5, "dropout on each LSTM layer's output while training",
                                min=0.0, below=1.0)
    attn_length: int = param(0, 'steps of attention over the first layer (0: none)', min=0,
                             max=4096, architecture=True)
    nade_log_epsilon: float = param(0.0, 'each key\'s log-probability is log(epsilon + p) '
                                    "(Magenta's graph: 1e-6; 0: exact)", min=0.0, max=0.1)


def _hparams(hparams):
    return params.bind(Hparams, hparams, 'hparam')


def check_encoder(encoder):
    """The number of keys D; refuses encoders that are not multi-hot frames in and out."""
    inputs, labels = encoder.input_spec, encoder.label_spec
    if inputs.dtype != 'float32' or len(inputs.shape) != 1 or labels.dtype != 'int64' \
            or labels.shape != inputs.shape or labels.depth != 2:
        raise MusekitError('model rnn_nade needs multi-hot frames (float rows in, 0/1 keys '
                           'as labels); encoder %r gives inputs %s and labels %s'
                           % (encoder.name, inputs.describe(), labels.describe()))
    return inputs.shape[0]


def rnn_shapes(input_size, hparams):
    """({name: shape} of the LSTMs and windowed attention, width of the last output):
    events_rnn's stack."""
    from musekit.models.events_rnn import stack_shapes
    h = _hparams(hparams)
    return stack_shapes(input_size, h.rnn_layer_sizes, h.attn_length)


def nade_shapes(width, keys, hidden):
    return {'nade_bias/kernel': (width, hidden + keys), 'nade_bias/bias': (hidden + keys,),
            'nade/w_enc': (keys, hidden), 'nade/w_dec': (keys, hidden)}


class NadeNLL(FrameBernoulli):
    """loss: the NADE's NLL of each frame, nats per frame, from the teacher-forced
    conditional logits (FrameBernoulli's sum of per-key Bernoulli NLLs; with epsilon,
    Magenta's log(epsilon + p)); frame_accuracy as FrameBernoulli, each key predicted given
    the true keys below it."""

    def __init__(self, epsilon=0.0):
        self.epsilon = epsilon

    def totals(self, outputs, labels, mask):
        totals = super().totals(outputs, labels, mask)
        if self.epsilon:
            import tensorflow as tf
            x = tf.cast(labels, tf.float32)
            p = tf.sigmoid(outputs)
            nll = -tf.reduce_sum(x * tf.math.log(self.epsilon + p)
                                 + (1 - x) * tf.math.log(self.epsilon + 1 - p), -1)
            totals['loss'] = (tf.reduce_sum(nll * mask), tf.reduce_sum(mask))
        return totals


@functools.cache
def _nade_layer_class():
    """The Keras NADE layer, defined on first use so importing this module skips Keras."""
    import keras
    from keras import ops

    class NadeLogits(keras.layers.Layer):
        """([B, T, H + D] biases, [B, T, D] labels) -> [B, T, D] conditional logits."""

        def __init__(self, keys, hidden, **kwargs):
            super().__init__(**kwargs)
            self.keys, self.hidden = keys, hidden

        def build(self, input_shape):
            # Magenta's initialiser: truncated normal, stddev 1 / sqrt(D)
            init = keras.initializers.TruncatedNormal(stddev=1.0 / math.sqrt(self.keys))
            self.w_enc = self.add_weight(shape=(self.keys, self.hidden), name='w_enc',
                                         initializer=init)
            self.w_dec = self.add_weight(shape=(self.keys, self.hidden), name='w_dec',
                                         initializer=init)

        def compute_output_shape(self, input_shapes):
            return tuple(input_shapes[1])

        def call(self, inputs):
            biases, labels = inputs
            x = ops.cast(labels, 'float32')
            return nade.keras_conditional_logits(x, biases[..., :self.hidden],
                                                 biases[..., self.hidden:], self.w_enc,
                                                 self.w_dec)

        def get_config(self):
            return {**super().get_config(), 'keys': self.keys, 'hidden': self.hidden}

    return NadeLogits


class _RnnNadeGenerator(ModelFamily):
    """What generation needs of an RNN-NADE: its weights' shapes and the NumPy step model
    (the recurrent cells a subclass chooses, then the NADE)."""

    Hparams = Hparams

    def weight_shapes(self, encoder, hparams):
        keys = check_encoder(encoder)
        shapes, width = rnn_shapes(keys, hparams)
        shapes.update(nade_shapes(width, keys, _hparams(hparams).nade_hidden_units))
        return shapes

    def step_cells(self, weights, hparams):
        """The NumPy cells of the recurrent stack, in order (events_rnn's)."""
        from musekit.models.events_rnn import stack_cells
        h = _hparams(hparams)
        return stack_cells(weights, len(h.rnn_layer_sizes), h.attn_length)

    def step_model(self, weights, encoder, hparams):
        check_weights(weights, self.weight_shapes(encoder, hparams), 'config')
        w = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        return RnnNadeStepModel(self.step_cells(w, hparams), w,
                                _hparams(hparams).nade_log_epsilon)


@register('rnn_nade')
class RnnNade(_RnnNadeGenerator):
    """LSTMs (optional windowed attention) -> NADE biases; NADE NLL; bucketed pieces."""

    def build(self, encoder, hparams):
        import keras
        from musekit.models.events_rnn import keras_stack
        keys = check_encoder(encoder)
        h_ = _hparams(hparams)
        inputs = keras.Input(shape=(None, keys), dtype='float32', name='inputs')
        labels = keras.Input(shape=(None, keys), dtype='int64', name='labels')
        h = keras_stack(inputs, h_.rnn_layer_sizes, h_.attn_length, h_.dropout_rate)
        biases = keras.layers.Dense(h_.nade_hidden_units + keys, name='nade_bias')(h)
        logits = _nade_layer_class()(keys, h_.nade_hidden_units, name='nade')(
            [biases, labels])
        return keras.Model([inputs, labels], logits, name='rnn_nade')

    def training_outputs(self, model, inputs, labels, training):
        return model((inputs, labels), training=training)

    def objective(self, encoder, hparams):
        return NadeNLL(_hparams(hparams).nade_log_epsilon)

    def weight_variables(self, keras_model):
        from musekit.models.events_rnn import rnn_variables
        out = {}
        for layer in keras_model.layers:
            out.update(rnn_variables(layer))
            if layer.name == 'nade_bias':
                out.update({'nade_bias/kernel': layer.kernel, 'nade_bias/bias': layer.bias})
            elif layer.name == 'nade':
                out.update({'nade/w_enc': layer.w_enc, 'nade/w_dec': layer.w_dec})
        return out

    def training_memory(self, encoder, hparams, batch_size, steps):
        """The base estimate plus the NADE's hidden units of every key of every frame
        ([B, T, D, H], kept with its sigmoid and their gradients: 16 bytes each)."""
        parameters, estimate = super().training_memory(encoder, hparams, batch_size, steps)
        keys = check_encoder(encoder)
        hidden = _hparams(hparams).nade_hidden_units
        return parameters, estimate + 16 * batch_size * steps * keys * hidden


@register('magenta_attention_rnn_nade')
class MagentaAttentionRnnNade(_RnnNadeGenerator):
    """Generation with Magenta rnn-nade_attn weights: layer 0 inside TF1's
    AttentionCellWrapper (`models/magenta_attention.py`; needs attn_length > 0)."""

    trainable = False

    def weight_shapes(self, encoder, hparams):
        keys = check_encoder(encoder)
        h = _hparams(hparams)
        if not h.attn_length:
            raise MusekitError('model magenta_attention_rnn_nade needs attn_length > 0')
        from musekit.models.magenta_attention import wrapped_stack_shapes
        shapes, width = wrapped_stack_shapes(keys, h.rnn_layer_sizes)
        shapes.update(nade_shapes(width, keys, h.nade_hidden_units))
        return shapes

    def step_cells(self, weights, hparams):
        from musekit.models.magenta_attention import wrapped_stack_cells
        h = _hparams(hparams)
        return wrapped_stack_cells(weights, len(h.rnn_layer_sizes), h.attn_length)


class RnnNadeStepModel(StepModel):
    """NumPy steps: the cells' output -> NADE biases [B, H + D] (the step's outputs); a
    frame is drawn from them key by key (`nade.sample`).

    Modes: 'sample' (each key's logit divided by the temperature, then drawn) and
    'threshold' (each key on where p >= 0.5 given the keys chosen below it: Magenta's
    generator's only way). The log-probability returned with a frame is of the
    distribution it was drawn from, so beam search compares frames."""

    modes = ('sample', 'threshold')

    def __init__(self, cells, weights, epsilon=0.0):
        self.stack = CellStack(cells)
        self.kernel, self.bias = weights['nade_bias/kernel'], weights['nade_bias/bias']
        self.w_enc = np.asarray(weights['nade/w_enc'], np.float64)
        self.w_dec = np.asarray(weights['nade/w_dec'], np.float64)
        self.hidden = self.w_enc.shape[1]
        self.epsilon = epsilon

    def initial_state(self, batch_size):
        return self.stack.zero_state(batch_size)

    def step(self, inputs, state):
        x, state = self.stack(np.asarray(inputs, np.float32), state)
        return x @ self.kernel + self.bias, state

    def sample(self, outputs, temperature, rng):
        """(frames [B, D] 0/1, log-probabilities [B])."""
        outputs = np.asarray(outputs, np.float64)
        return nade.sample(outputs[:, :self.hidden], outputs[:, self.hidden:], self.w_enc,
                           self.w_dec, temperature, rng, threshold=self.mode == 'threshold',
                           epsilon=self.epsilon)

    def log_prob(self, outputs, frames):
        """[B] log-probabilities of the frames [B, D] (0/1) under a step's outputs."""
        outputs = np.asarray(outputs, np.float64)
        return nade.log_prob(frames, outputs[:, :self.hidden], outputs[:, self.hidden:],
                             self.w_enc, self.w_dec, self.epsilon)
