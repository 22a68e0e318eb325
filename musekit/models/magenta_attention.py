"""Magenta's attention_rnn cell ('magenta_attention_rnn'), for bundles imported from
Magenta: stacked LSTMs whose first layer sits inside TF1's AttentionCellWrapper.

Unlike musekit's own windowed attention (events_rnn with attn_length), the wrapper feeds
its attention vector back into the next step's input and attends over its own projected
outputs, always over all L slots (zeros before they fill). Per step, with layer-0 LSTM
state (c, h), attention vector a and the last L outputs H [L, A]:

    x'       = [x, a] W_in + b_in                       (the cell's input projection)
    c, h     = LSTM_0(x', (c, h))
    q        = [c, h] W_q + b_q
    s_i      = v . tanh(H_i W_k + q)     a = softmax(s) . H
    out      = [h, a] W_out + b_out       H = H[1:] + [out]
    out -> LSTM_1 -> ... -> logits

It generates only: musekit trains attention models with its own attention_rnn config.
"""
import numpy as np

from musekit.errors import MusekitError
from musekit.layers import lstm
from musekit.models.base import ModelFamily, StepModel, check_weights, register
from musekit.models.events_rnn import Hparams, _architecture, _sizes


def weight_shapes(input_size, num_classes, hparams):
    """{name: shape} of every weight, for rnn_layer_sizes U and attn_length L."""
    sizes, attn_length, _ = _architecture(hparams)
    if not attn_length:
        raise MusekitError('model magenta_attention_rnn needs attn_length > 0')
    units = sizes[0]
    shapes = {'attention/input_kernel': (input_size + units, input_size),
              'attention/input_bias': (input_size,),
              'attention/query_kernel': (2 * units, units), 'attention/query_bias': (units,),
              'attention/key_kernel': (units, units), 'attention/v': (units,),
              'attention/output_kernel': (2 * units, units), 'attention/output_bias': (units,)}
    width = input_size
    for k, size in enumerate(sizes):
        shapes.update(lstm.weight_shapes('lstm_%d' % k, width, size))
        width = size
    shapes['logits/kernel'] = (width, num_classes)
    shapes['logits/bias'] = (num_classes,)
    return shapes


@register('magenta_attention_rnn')
class MagentaAttentionRNN(ModelFamily):
    """Generation with Magenta attention_rnn weights (see the module docstring)."""

    Hparams = Hparams
    trainable = False       # it runs imported Magenta weights; musekit's attention_rnn trains

    def weight_shapes(self, encoder, hparams):
        return weight_shapes(*_sizes(encoder), hparams)

    def step_model(self, weights, encoder, hparams):
        check_weights(weights, self.weight_shapes(encoder, hparams), 'config')
        return MagentaAttentionStepModel(weights, hparams)


class MagentaAttentionStepModel(StepModel):
    """NumPy steps of the wrapped LSTM stack. State: (c_0, h_0, attention vector [B, A],
    last L outputs [B, L, A], then h_k, c_k of each further layer)."""

    def __init__(self, weights, hparams):
        sizes, self.attn_length, _ = _architecture(hparams)
        w = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.layers = [lstm.from_weights(w, 'lstm_%d' % k) for k in range(len(sizes))]
        self.w = w
        self.units = sizes[0]

    def initial_state(self, batch_size):
        units = self.units
        state = [np.zeros((batch_size, units), np.float32) for _ in range(3)]
        state.append(np.zeros((batch_size, self.attn_length, units), np.float32))
        for layer in self.layers[1:]:
            state += layer.zero_state(batch_size)
        return tuple(state)

    def step(self, inputs, state):
        w = self.w
        x = np.asarray(inputs, np.float32)
        c, h, attention, outputs = state[:4]
        projected = np.concatenate([x, attention], 1) @ w['attention/input_kernel'] \
            + w['attention/input_bias']
        h, c = self.layers[0](projected, h, c)
        query = np.concatenate([c, h], 1) @ w['attention/query_kernel'] \
            + w['attention/query_bias']
        scores = np.tanh(outputs @ w['attention/key_kernel'] + query[:, None, :]) \
            @ w['attention/v']
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=1, keepdims=True)
        attention = (weights[:, None, :] @ outputs)[:, 0]
        out = np.concatenate([h, attention], 1) @ w['attention/output_kernel'] \
            + w['attention/output_bias']
        new_state = [c, h, attention, np.concatenate([outputs[:, 1:], out[:, None]], 1)]
        x = out
        for k, layer in enumerate(self.layers[1:]):
            h_k, c_k = layer(x, state[4 + 2 * k], state[5 + 2 * k])
            new_state += [h_k, c_k]
            x = h_k
        return x @ w['logits/kernel'] + w['logits/bias'], tuple(new_state)
