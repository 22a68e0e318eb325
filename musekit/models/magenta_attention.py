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
from musekit.layers.cells import Cell, CellStack
from musekit.models.base import ModelFamily, StepModel, check_weights, register
from musekit.models.events_rnn import Hparams, architecture, encoder_sizes


def wrapped_stack_shapes(input_size, sizes):
    """({name: shape} of an LSTM stack whose layer 0 is inside TF1's AttentionCellWrapper;
    the width of its last output). Families that read such Magenta graphs share it."""
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
    return shapes, width


def wrapped_stack_cells(weights, num_layers, attn_length):
    """The NumPy cells of that stack: layer 0 wrapped, then the further LSTM layers."""
    cells = [lstm.from_weights(weights, 'lstm_%d' % k) for k in range(num_layers)]
    return [AttentionCellWrapper(cells[0], weights, attn_length)] + cells[1:]


def weight_shapes(input_size, num_classes, hparams):
    """{name: shape} of every weight, for rnn_layer_sizes U and attn_length L."""
    sizes, attn_length, _ = architecture(hparams)
    if not attn_length:
        raise MusekitError('model magenta_attention_rnn needs attn_length > 0')
    shapes, width = wrapped_stack_shapes(input_size, sizes)
    shapes['logits/kernel'] = (width, num_classes)
    shapes['logits/bias'] = (num_classes,)
    return shapes


@register('magenta_attention_rnn')
class MagentaAttentionRNN(ModelFamily):
    """Generation with Magenta attention_rnn weights (see the module docstring)."""

    Hparams = Hparams
    trainable = False       # it runs imported Magenta weights; musekit's attention_rnn trains

    def weight_shapes(self, encoder, hparams):
        return weight_shapes(*encoder_sizes(encoder), hparams)

    def step_model(self, weights, encoder, hparams):
        check_weights(weights, self.weight_shapes(encoder, hparams), 'config')
        return MagentaAttentionStepModel(weights, hparams)


class AttentionCellWrapper(Cell):
    """TF1's AttentionCellWrapper around layer 0's LSTM cell (the module docstring's maths).
    State: the LSTM's (h, c), the attention vector [B, A], the last L outputs [B, L, A]."""

    def __init__(self, cell, weights, attn_length):
        self.cell, self.w = cell, weights
        units = cell.units
        self.state_size = cell.state_size + (units, (attn_length, units))
        self.output_size = units

    def __call__(self, x, state):
        w = self.w
        h, c, attention, outputs = state
        projected = np.concatenate([x, attention], 1) @ w['attention/input_kernel'] \
            + w['attention/input_bias']
        h, (h, c) = self.cell(projected, (h, c))
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
        return out, (h, c, attention, np.concatenate([outputs[:, 1:], out[:, None]], 1))


class MagentaAttentionStepModel(StepModel):
    """NumPy steps of the wrapped LSTM stack: a CellStack of the wrapped layer 0 and the
    further LSTM layers, then the logits."""

    def __init__(self, weights, hparams):
        sizes, attn_length, _ = architecture(hparams)
        w = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.stack = CellStack(wrapped_stack_cells(w, len(sizes), attn_length))
        self.kernel, self.bias = w['logits/kernel'], w['logits/bias']

    def initial_state(self, batch_size):
        return self.stack.zero_state(batch_size)

    def step(self, inputs, state):
        x, state = self.stack(np.asarray(inputs, np.float32), state)
        return x @ self.kernel + self.bias, state
