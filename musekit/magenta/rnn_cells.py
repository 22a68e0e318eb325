"""The recurrent stack every Magenta RNN graph builds (events_rnn_graph.make_rnn_cell): a
MultiRNNCell of TF1 BasicLSTMCells, the first optionally inside an AttentionCellWrapper,
read from a checkpoint's variables into musekit's LSTM (and Magenta-attention) weights.
A graph reader (`events_graph`, `rnn_nade_graph`) says under which scope the stack lives."""
import sys

import numpy as np

from musekit.errors import MusekitError
from musekit.magenta.checkpoint import read_metagraph

MAX_ATTN_LENGTH = 4096              # far past any trained model; bounds the state's memory
FORGET_BIAS = 1.0                   # TF1's BasicLSTMCell adds this at run time
CELL = 'multi_rnn_cell/cell_%d/'
RESIDUAL = '/input_projection_wrapper/'      # a cell wrapped for residual connections
WRAPPER = CELL % 0 + 'attention_cell_wrapper/'
WRAPPER_RESHAPE = '/attention_cell_wrapper/Reshape/shape'    # in the graph's while loop


def keras_lstm(kernel, bias, input_size):
    """TF1 BasicLSTMCell weights (gates i, j, f, o; forget bias added at run time) as
    musekit's LSTM weights (Keras's gates i, f, c, o; bias stored whole)."""
    if kernel.ndim != 2 or bias.ndim != 1 or kernel.shape[1] != len(bias) \
            or len(bias) % 4 or kernel.shape[0] <= input_size:
        raise ValueError('an LSTM cell has kernel %s and bias %s'
                         % (list(kernel.shape), list(bias.shape)))
    i, j, f, o = np.split(kernel, 4, axis=1)
    bi, bj, bf, bo = np.split(bias, 4)
    full = np.concatenate([i, f, j, o], axis=1)
    return {'kernel': full[:input_size], 'recurrent_kernel': full[input_size:],
            'bias': np.concatenate([bi, bf + FORGET_BIAS, bj, bo])}


def check_residual(variables, path, family):
    """Refuses, by what they are, graphs trained with residual connections."""
    wrapped = sorted(name for name in variables if RESIDUAL in name)
    if wrapped:
        raise MusekitError("%s was trained with residual connections (Magenta's hparam "
                           "residual_connections; its variables include %s); musekit's %s "
                           "has none" % (path, wrapped[0], family))


def has_attention(variables, scope):
    """Whether the stack under `scope` was trained with attn_length > 0."""
    return scope + WRAPPER + 'basic_lstm_cell/bias' in variables


def layers(variables, scope, attention):
    """[(prefix in the checkpoint, units)] of the LSTM stack under `scope`, in order."""
    out, k = [], 0
    while True:
        prefix = scope + (WRAPPER if attention and k == 0 else CELL % k) + 'basic_lstm_cell/'
        if prefix + 'bias' not in variables:
            break
        bias = variables[prefix + 'bias']
        if bias.ndim != 1 or not bias.size or bias.size % 4:
            raise ValueError('%sbias has shape %s' % (prefix, list(bias.shape)))
        out.append((prefix, bias.size // 4))
        k += 1
    if not out:
        raise ValueError('no LSTM cells under %s%s' % (scope, CELL.split('/')[0] + '/'))
    return out


def attn_length(metagraph, attn_size):
    """The attention length read from the graph's initial attention state, else None."""
    if not metagraph:
        return None
    constants, inputs, collections = read_metagraph(metagraph)
    # the wrapper's zero state is (c, h, attention, attention states): the last, of size
    # attn_length * attn_size, is filled to the shape that its input `concat` builds
    states = [name.split(':')[0] for name in collections.get('initial_state', [])
              if 'AttentionCellWrapperZeroState' in name]
    if len(states) != 4 or not inputs.get(states[3]):
        return None
    shape = [constants.get(i) for i in inputs.get(inputs[states[3]][0], [])]
    if len(shape) < 2 or shape[1] is None or shape[1].size != 1 or shape[1].dtype.kind != 'i':
        return None
    size = int(shape[1].ravel()[0])
    if size <= 0 or size % attn_size:
        return None
    length = size // attn_size
    if length > MAX_ATTN_LENGTH:
        raise ValueError('its graph asks for attention over %d steps (at most %d)'
                         % (length, MAX_ATTN_LENGTH))
    # the graph says the length twice: the cell reshapes its attention states to
    # [-1, attn_length, attn_size]; the graph has no checksum, so one flipped bit in either
    # place shows as a disagreement
    for name, value in constants.items():
        if name.endswith(WRAPPER_RESHAPE) and value.dtype.kind == 'i' and value.shape == (3,) \
                and value[2] == attn_size and value[1] != length:
            raise ValueError('its graph is damaged: its initial state holds attention over %d '
                             'steps, its attention cell over %d' % (length, value[1]))
    return length


class Stack:
    """The stack under `scope` read into musekit's names: `weights` (lstm_k/* and, with
    attention, Magenta's attention/* wrapper weights), `sizes`, `attention`, `attn_length`
    (None without attention), `attn_length_from` ('metagraph', or 'default' where the graph
    does not say it and `default_attn_length`, the generator's default, is taken), `used`
    (the checkpoint names read) and `width` (the last layer's output width)."""

    def __init__(self, variables, scope, input_size, metagraph, path, default_attn_length):
        self.attention = has_attention(variables, scope)
        found = layers(variables, scope, self.attention)
        self.weights, width = {}, input_size
        for k, (prefix, units) in enumerate(found):
            lstm = keras_lstm(variables[prefix + 'kernel'], variables[prefix + 'bias'], width)
            self.weights.update({'lstm_%d/%s' % (k, n): v for n, v in lstm.items()})
            width = units
        self.width, self.sizes = width, [units for _, units in found]
        self.used = {prefix + n for prefix, _ in found for n in ('kernel', 'bias')}
        self.attn_length = self.attn_length_from = None
        if self.attention:
            wrapper = scope + WRAPPER
            units = found[0][1]
            self.weights.update({
                'attention/input_kernel': variables[wrapper + 'kernel'],
                'attention/input_bias': variables[wrapper + 'bias'],
                'attention/query_kernel': variables[wrapper + 'attention/kernel'],
                'attention/query_bias': variables[wrapper + 'attention/bias'],
                'attention/key_kernel': variables[wrapper + 'attention/attn_w'].reshape(
                    units, -1),
                'attention/v': variables[wrapper + 'attention/attn_v'],
                'attention/output_kernel': variables[wrapper + 'attn_output_projection/kernel'],
                'attention/output_bias': variables[wrapper + 'attn_output_projection/bias']})
            self.used |= {name for name in variables if name.startswith(wrapper)}
            length = attn_length(metagraph, units)
            self.attn_length = length or default_attn_length
            self.attn_length_from = 'metagraph' if length else 'default'
            if not length:      # nothing else in a .mag says it: a damaged graph may hide it
                print("musekit: %s: %s no attention length; Magenta's default %d is used"
                      % (path, 'its graph gives' if metagraph else 'it holds no graph, so',
                         default_attn_length), file=sys.stderr)

    @property
    def hparams(self):
        return {'rnn_layer_sizes': list(self.sizes), 'attn_length': self.attn_length or 0}


def check_unused(variables, used, scopes, family):
    """Refuses variables under the graph's `scopes` that the reader did not read."""
    unused = sorted(n for n in variables if n.startswith(scopes) and n not in used)
    if unused:
        raise ValueError("it has variables musekit's %s has no place for: %s"
                         % (family, ', '.join(unused[:4]) + (', ...' if len(unused) > 4
                                                            else '')))
