"""The token RNN ('token_rnn'): an embedding of each step's token id, stacked LSTMs and a
Dense layer to the logits of the next token (the chord-token LSTM of "Play Bach").

It models any encoder with one integer id per step as input and as label (both with a
depth). Hparams: ``embedding_size``, ``layer_sizes`` (LSTM widths), ``dropout_rate`` (on
each LSTM's output, training only). Weights: ``embedding [V, E]``, ``lstm_{k}/...`` (see
musekit.layers.lstm) and ``logits/kernel [U_last, V]``, ``logits/bias [V]``.
"""
import dataclasses

import numpy as np

from musekit import params
from musekit.errors import MusekitError
from musekit.layers import lstm
from musekit.layers.cells import CellStack
from musekit.models.base import (MAX_LAYERS, ModelFamily, StepModel, TrainingHparams,
                                 check_weights, register)
from musekit.models.objectives import CategoricalCrossEntropy
from musekit.params import param


@dataclasses.dataclass
class Hparams(TrainingHparams):
    """The token RNN's hparams."""
    embedding_size: int = param(64, "width of each token's embedding", min=1,
                                architecture=True)
    layer_sizes: list[int] = param([256], 'LSTM widths, first layer first', min=1,
                                   min_items=1, max_items=MAX_LAYERS, architecture=True)
    dropout_rate: float = param(0.5, "dropout on each LSTM's output while training",
                                min=0.0, below=1.0)


def _architecture(encoder, hparams):
    """(vocabulary size, embedding size, layer sizes, dropout), checked."""
    inputs, labels = encoder.input_spec, encoder.label_spec
    if inputs.dtype != 'int64' or inputs.shape or not inputs.depth \
            or labels.shape or not labels.depth:
        raise MusekitError('model token_rnn needs one token id per step in and out; encoder '
                           '%r gives inputs %s and labels %s'
                           % (encoder.name, inputs.describe(), labels.describe()))
    h = params.bind(Hparams, hparams, 'hparam')
    if inputs.depth != labels.depth:
        raise MusekitError('model token_rnn reads and predicts the same tokens; encoder %r '
                           'has %d input and %d label ids'
                           % (encoder.name, inputs.depth, labels.depth))
    return inputs.depth, h.embedding_size, h.layer_sizes, h.dropout_rate


@register('token_rnn')
class TokenRNN(ModelFamily):
    Hparams = Hparams

    def build(self, encoder, hparams):
        import keras
        vocabulary, embedding, sizes, dropout = _architecture(encoder, hparams)
        inputs = keras.Input(shape=(None,), dtype='int64')
        h = keras.layers.Embedding(vocabulary, embedding, name='embedding')(inputs)
        for k, units in enumerate(sizes):
            h = lstm.keras_layer(units, 'lstm_%d' % k)(h)
            if dropout:
                h = keras.layers.Dropout(dropout)(h)
        return keras.Model(inputs, keras.layers.Dense(vocabulary, name='logits')(h))

    def objective(self, encoder, hparams):
        return CategoricalCrossEntropy()

    def weight_variables(self, keras_model):
        out = {'embedding': keras_model.get_layer('embedding').embeddings}
        for layer in keras_model.layers:
            if layer.name.startswith('lstm_'):
                out.update(lstm.keras_variables(layer))
        dense = keras_model.get_layer('logits')
        out.update({'logits/kernel': dense.kernel, 'logits/bias': dense.bias})
        return out

    def weight_shapes(self, encoder, hparams):
        vocabulary, embedding, sizes, _ = _architecture(encoder, hparams)
        shapes, width = {'embedding': (vocabulary, embedding)}, embedding
        for k, units in enumerate(sizes):
            shapes.update(lstm.weight_shapes('lstm_%d' % k, width, units))
            width = units
        shapes.update({'logits/kernel': (width, vocabulary), 'logits/bias': (vocabulary,)})
        return shapes

    def step_model(self, weights, encoder, hparams):
        check_weights(weights, self.weight_shapes(encoder, hparams), 'config')
        return TokenStepModel(weights, len(_architecture(encoder, hparams)[2]))


class TokenStepModel(StepModel):
    """Token ids [B] in, next-token logits [B, V] out, through a CellStack of LSTM cells."""

    def __init__(self, weights, num_layers):
        self.embedding = np.asarray(weights['embedding'], np.float32)
        self.stack = CellStack(lstm.from_weights(weights, 'lstm_%d' % k)
                               for k in range(num_layers))
        self.kernel = np.asarray(weights['logits/kernel'], np.float32)
        self.bias = np.asarray(weights['logits/bias'], np.float32)

    def initial_state(self, batch_size):
        return self.stack.zero_state(batch_size)

    def step(self, inputs, state):
        h, state = self.stack(self.embedding[np.asarray(inputs, np.int64).reshape(-1)], state)
        return h @ self.kernel + self.bias, state
