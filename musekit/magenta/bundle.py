"""Magenta `.mag` generator bundles as musekit Bundles: the generator id picks musekit's
config of the same name, the TF1 checkpoint's weights are renamed and re-laid into
musekit's models, and the MetaGraphDef gives the attention length. Nothing is executed.

Every Magenta event RNN (melody_rnn, performance_rnn, polyphony_rnn, ...) builds one graph,
events_rnn_graph: a MultiRNNCell of BasicLSTMCells (the first optionally inside an
AttentionCellWrapper) and a fully_connected layer to the logits; the generators differ only
in their encoding, which is the input layer's width. So a generator is read when musekit has
a config of its id on the model family that graph maps onto, and the layer sizes come from
the weights. Graphs trained with residual connections are refused (events_rnn has none)."""
import hashlib
import os
import sys

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from musekit.errors import MusekitError
from musekit.magenta.checkpoint import read_checkpoint, read_metagraph

GRAPH_MODEL = 'events_rnn'        # the model family Magenta's events_rnn_graph maps onto
DEFAULT_ATTN_LENGTH = 40            # Magenta's attention_rnn default
MAX_ATTN_LENGTH = 4096              # far past any trained model; bounds the state's memory
FORGET_BIAS = 1.0                   # TF1's BasicLSTMCell adds this at run time
CELL = 'rnn/multi_rnn_cell/cell_%d/'
SCOPES = ('rnn/', 'fully_connected/')        # where events_rnn_graph keeps its variables
RESIDUAL = '/input_projection_wrapper/'      # a cell wrapped for residual connections
_F = descriptor_pb2.FieldDescriptorProto
WRAPPER = CELL % 0 + 'attention_cell_wrapper/'
WRAPPER_RESHAPE = '/attention_cell_wrapper/Reshape/shape'    # in the graph's while loop


def _generator_bundle_class():
    """Magenta's GeneratorBundle message (note_seq's generator.proto, the fields a bundle
    uses), in a private descriptor pool: importing note_seq would cost a second."""
    fd = descriptor_pb2.FileDescriptorProto(name='musekit/magenta_generator.proto',
                                            package='magenta', syntax='proto3')
    details = fd.message_type.add(name='GeneratorDetails')
    details.field.add(name='id', number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    details.field.add(name='description', number=2, type=_F.TYPE_STRING,
                      label=_F.LABEL_OPTIONAL)
    bundle = fd.message_type.add(name='GeneratorBundle')
    bundle.nested_type.add(name='BundleDetails').field.add(
        name='description', number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    for name, number, ftype, label, type_name in (
            ('generator_details', 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL,
             '.magenta.GeneratorDetails'),
            ('checkpoint_file', 2, _F.TYPE_BYTES, _F.LABEL_REPEATED, None),
            ('metagraph_file', 3, _F.TYPE_BYTES, _F.LABEL_OPTIONAL, None),
            ('bundle_details', 4, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL,
             '.magenta.GeneratorBundle.BundleDetails')):
        field = bundle.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName('magenta.GeneratorBundle'))


GeneratorBundle = _generator_bundle_class()


def parse_generator_bundle(data):
    """The Magenta GeneratorBundle in `data`, or None when `data` is not one."""
    try:
        bundle = GeneratorBundle.FromString(data)
    except (message.DecodeError, ValueError, UnicodeDecodeError):
        return None
    return bundle if bundle.generator_details.id else None


def magenta_config(generator):
    """musekit's config named as the Magenta generator id `generator`, when its model is the
    one Magenta's graph maps onto; else None."""
    from musekit.config import config_names, get_config
    if generator not in config_names():     # a name only: never a path to a .json file
        return None
    config = get_config(generator)
    return config if config.model['name'] == GRAPH_MODEL else None


def supported_generators():
    """The Magenta generator ids musekit reads, in order: its configs on GRAPH_MODEL."""
    from musekit.config import config_names
    return [name for name in sorted(config_names()) if magenta_config(name)]


def _keras_lstm(kernel, bias, input_size):
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


def _layers(variables, input_size, attention):
    """[(prefix in the checkpoint, units)] of the LSTM stack, in order."""
    layers, k = [], 0
    while True:
        prefix = (WRAPPER if attention and k == 0 else CELL % k) + 'basic_lstm_cell/'
        if prefix + 'bias' not in variables:
            break
        bias = variables[prefix + 'bias']
        if bias.ndim != 1 or not bias.size or bias.size % 4:
            raise ValueError('%sbias has shape %s' % (prefix, list(bias.shape)))
        layers.append((prefix, bias.size // 4))
        k += 1
    if not layers:
        raise ValueError('no LSTM cells under rnn/multi_rnn_cell/')
    return layers


def _attn_length(metagraph, attn_size):
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


def _check_variables(variables, path):
    """Refuses, by what they are, graphs whose cells musekit's events_rnn lacks."""
    wrapped = sorted(name for name in variables if RESIDUAL in name)
    if wrapped:
        raise MusekitError("%s was trained with residual connections (Magenta's hparam "
                           "residual_connections; its variables include %s); musekit's %s "
                           "has none" % (path, wrapped[0], GRAPH_MODEL))


def convert(data, path):
    """(config dict, weights, provenance) of a musekit bundle for the Magenta bundle whose
    bytes are `data` (read from `path`)."""
    from musekit.models.events_rnn import weight_shapes as rnn_shapes
    from musekit.models.magenta_attention import weight_shapes as attention_shapes
    from musekit.models.base import check_weights
    generator_bundle = parse_generator_bundle(data)
    if generator_bundle is None:
        raise MusekitError('%s is not a Magenta bundle (.mag)' % path)
    generator = generator_bundle.generator_details.id
    config = magenta_config(generator)
    if config is None:
        raise MusekitError('%s is a Magenta %r bundle; musekit reads Magenta bundles of %s'
                           % (path, generator, ', '.join(supported_generators())))
    if len(generator_bundle.checkpoint_file) != 1:
        raise MusekitError('%s holds %d checkpoint files; a Magenta bundle holds one'
                           % (path, len(generator_bundle.checkpoint_file)))
    variables = read_checkpoint(generator_bundle.checkpoint_file[0], path)
    _check_variables(variables, path)
    # the graph's first cell is inside an AttentionCellWrapper when it was trained with
    # attn_length > 0 (attention_rnn's default, an hparam of every events_rnn generator)
    attention = WRAPPER + 'basic_lstm_cell/bias' in variables
    length = None
    encoder = config.make_encoder()
    input_size = encoder.input_spec.size
    try:
        layers = _layers(variables, input_size, attention)
        weights, width = {}, input_size
        for k, (prefix, units) in enumerate(layers):
            lstm = _keras_lstm(variables[prefix + 'kernel'], variables[prefix + 'bias'], width)
            weights.update({'lstm_%d/%s' % (k, n): v for n, v in lstm.items()})
            width = units
        weights['logits/kernel'] = variables['fully_connected/weights']
        weights['logits/bias'] = variables['fully_connected/biases']
        hparams = {'rnn_layer_sizes': [units for _, units in layers], 'attn_length': 0}
        if attention:
            units = layers[0][1]
            weights.update({
                'attention/input_kernel': variables[WRAPPER + 'kernel'],
                'attention/input_bias': variables[WRAPPER + 'bias'],
                'attention/query_kernel': variables[WRAPPER + 'attention/kernel'],
                'attention/query_bias': variables[WRAPPER + 'attention/bias'],
                'attention/key_kernel': variables[WRAPPER + 'attention/attn_w'].reshape(
                    units, -1),
                'attention/v': variables[WRAPPER + 'attention/attn_v'],
                'attention/output_kernel': variables[WRAPPER + 'attn_output_projection/kernel'],
                'attention/output_bias': variables[WRAPPER + 'attn_output_projection/bias']})
            length = _attn_length(generator_bundle.metagraph_file, units)
            hparams['attn_length'] = length or DEFAULT_ATTN_LENGTH
            if not length:      # nothing else in a .mag says it: a damaged graph may hide it
                print("musekit: %s: %s no attention length; Magenta's default %d is used"
                      % (path, 'its graph gives' if generator_bundle.metagraph_file
                         else 'it holds no graph, so', DEFAULT_ATTN_LENGTH), file=sys.stderr)
            shapes = attention_shapes(input_size, encoder.label_spec.depth, hparams)
        else:
            shapes = rnn_shapes(input_size, encoder.label_spec.depth, hparams)
        used = {prefix + n for prefix, _ in layers for n in ('kernel', 'bias')}
        used |= {'fully_connected/weights', 'fully_connected/biases'}
        used |= {name for name in variables if attention and name.startswith(WRAPPER)}
        unused = sorted(n for n in variables if n.startswith(SCOPES) and n not in used)
        if unused:
            raise ValueError("it has variables musekit's %s has no place for: %s"
                             % (GRAPH_MODEL, ', '.join(unused[:4])
                                + (', ...' if len(unused) > 4 else '')))
    except KeyError as e:
        raise MusekitError('%s lacks the %s variable %s' % (path, generator, e)) from None
    except IndexError as e:
        raise MusekitError('%s has variables of the wrong rank: %s' % (path, e)) from None
    except ValueError as e:
        raise MusekitError('%s: %s' % (path, e)) from None
    weights = {k: np.ascontiguousarray(v, np.float32) for k, v in weights.items()}
    try:
        check_weights(weights, shapes, '%s %s model' % (generator, encoder.name))
    except MusekitError as e:
        raise MusekitError('%s does not fit Magenta\'s %s: %s' % (path, generator, e)) from None
    config = config.with_hparams(hparams).to_dict()
    if attention:
        config['model'] = {'name': 'magenta_attention_rnn'}
    provenance = {
        'magenta_bundle': os.path.basename(path),
        'magenta_bundle_sha256': hashlib.sha256(data).hexdigest(),
        'generator_id': generator,
        'generator_description': generator_bundle.generator_details.description,
        'bundle_description': generator_bundle.bundle_details.description,
        'attn_length_from': ('metagraph' if length else 'default') if attention else None}
    return config, weights, {k: v for k, v in provenance.items() if v is not None}
