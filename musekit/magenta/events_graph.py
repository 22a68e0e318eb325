"""The reader of Magenta's events_rnn_graph, the graph of every Magenta event RNN
(melody_rnn, performance_rnn, polyphony_rnn, ...): the recurrent stack (`rnn_cells`) under
`rnn/` and a fully_connected layer to the logits. The generators differ only in their
encoding, the input layer's width, so a generator is read when musekit has a config of its
id on events_rnn; the layer sizes come from the weights. Graphs trained with residual
connections are refused (events_rnn has none)."""
from musekit.magenta import rnn_cells
from musekit.magenta.bundle import register_reader

FAMILY = 'events_rnn'           # the model family events_rnn_graph maps onto
DEFAULT_ATTN_LENGTH = 40        # Magenta's attention_rnn default
SCOPE = 'rnn/'
SCOPES = (SCOPE, 'fully_connected/')        # where events_rnn_graph keeps its variables


@register_reader(FAMILY)
def read(variables, generator_bundle, config, path):
    """(config dict, weights, provenance entries) of the events RNN in `variables`;
    KeyError, IndexError or ValueError where they do not fit (convert says which)."""
    from musekit.models.events_rnn import weight_shapes as rnn_shapes
    from musekit.models.magenta_attention import weight_shapes as attention_shapes
    rnn_cells.check_residual(variables, path, FAMILY)
    encoder = config.make_encoder()
    input_size = encoder.input_spec.size
    stack = rnn_cells.Stack(variables, SCOPE, input_size, generator_bundle.metagraph_file,
                            path, DEFAULT_ATTN_LENGTH)
    weights = dict(stack.weights)
    weights['logits/kernel'] = variables['fully_connected/weights']
    weights['logits/bias'] = variables['fully_connected/biases']
    hparams = stack.hparams
    shapes = (attention_shapes if stack.attention else rnn_shapes)(
        input_size, encoder.label_spec.depth, hparams)
    rnn_cells.check_unused(variables, stack.used | {'fully_connected/weights',
                                                    'fully_connected/biases'}, SCOPES, FAMILY)
    config = config.with_hparams(hparams).to_dict()
    if stack.attention:
        config['model'] = {'name': 'magenta_attention_rnn'}
    return config, weights, shapes, {'attn_length_from': stack.attn_length_from}
