"""TensorFlow 1 (V1) checkpoints and MetaGraphDefs read as data, without TensorFlow.

A V1 checkpoint is a LevelDB-format table (blocks of prefix-compressed key/value entries,
an index block, a 48-byte footer) whose values are TensorFlow `SavedTensorSlices`
messages: the first holds every variable's name, shape and dtype, the others one slice of
a variable's data each. The message schemas below are the parts of TensorFlow's that musekit
reads (same field numbers), in a private descriptor pool. Only whole (unsliced) variables
are needed for Magenta's models.
"""
import struct

import google_crc32c
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from musekit.errors import MusekitError

TABLE_MAGIC = 0xdb4775248b80fb57
FOOTER_BYTES = 48
MAX_FILLED = 1 << 16            # largest broadcast graph constant built (only small ones matter)
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64}
VALUE_FIELDS = {1: 'float_val', 2: 'double_val', 3: 'int_val', 9: 'int64_val'}
_F = descriptor_pb2.FieldDescriptorProto


def _build_messages():
    fd = descriptor_pb2.FileDescriptorProto(name='musekit/tf_protos.proto',
                                            package='tensorflow', syntax='proto2')

    def message_type(name, *fields, parent=None):
        msg = (parent or fd).message_type.add(name=name) if parent is None \
            else parent.nested_type.add(name=name)
        for field_name, number, ftype, label, type_name in fields:
            f = msg.field.add(name=field_name, number=number, type=ftype,
                              label=label or _F.LABEL_OPTIONAL)
            if type_name:
                f.type_name = '.tensorflow.' + type_name
        return msg

    def map_field(msg, field_name, number, value_type):
        entry = message_type(''.join(p.capitalize() for p in field_name.split('_')) + 'Entry',
                             ('key', 1, _F.TYPE_STRING, None, None),
                             ('value', 2, _F.TYPE_MESSAGE, None, value_type), parent=msg)
        entry.options.map_entry = True
        msg.field.add(name=field_name, number=number, type=_F.TYPE_MESSAGE,
                      label=_F.LABEL_REPEATED,
                      type_name='.tensorflow.%s.%s' % (msg.name, entry.name))

    rep, msg_t, text = _F.LABEL_REPEATED, _F.TYPE_MESSAGE, _F.TYPE_STRING
    message_type('Dim', ('size', 1, _F.TYPE_INT64, None, None))
    message_type('TensorShapeProto', ('dim', 2, msg_t, rep, 'Dim'))
    message_type('Extent', ('start', 1, _F.TYPE_INT64, None, None),
                 ('length', 2, _F.TYPE_INT64, None, None))
    message_type('TensorSliceProto', ('extent', 1, msg_t, rep, 'Extent'))
    message_type('TensorProto', ('dtype', 1, _F.TYPE_INT32, None, None),
                 ('tensor_shape', 2, msg_t, None, 'TensorShapeProto'),
                 ('tensor_content', 4, _F.TYPE_BYTES, None, None),
                 ('float_val', 5, _F.TYPE_FLOAT, rep, None),
                 ('double_val', 6, _F.TYPE_DOUBLE, rep, None),
                 ('int_val', 7, _F.TYPE_INT32, rep, None),
                 ('int64_val', 10, _F.TYPE_INT64, rep, None))
    message_type('SavedSliceMeta', ('name', 1, text, None, None),
                 ('shape', 2, msg_t, None, 'TensorShapeProto'),
                 ('type', 3, _F.TYPE_INT32, None, None),
                 ('slice', 4, msg_t, rep, 'TensorSliceProto'))
    message_type('SavedTensorSliceMeta', ('tensor', 1, msg_t, rep, 'SavedSliceMeta'))
    message_type('SavedSlice', ('name', 1, text, None, None),
                 ('slice', 2, msg_t, None, 'TensorSliceProto'),
                 ('data', 3, msg_t, None, 'TensorProto'))
    message_type('SavedTensorSlices', ('meta', 1, msg_t, None, 'SavedTensorSliceMeta'),
                 ('data', 2, msg_t, None, 'SavedSlice'))
    # the parts of a MetaGraphDef that musekit reads (graph nodes, their constant values,
    # and the node-name collections); every other field is skipped unread
    message_type('AttrValue', ('tensor', 8, msg_t, None, 'TensorProto'))
    node = message_type('NodeDef', ('name', 1, text, None, None), ('op', 2, text, None, None),
                        ('input', 3, text, rep, None))
    map_field(node, 'attr', 5, 'AttrValue')
    message_type('GraphDef', ('node', 1, msg_t, rep, 'NodeDef'))
    message_type('NodeList', ('value', 1, text, rep, None))
    message_type('CollectionDef', ('node_list', 1, msg_t, None, 'NodeList'))
    meta_graph = message_type('MetaGraphDef', ('graph_def', 2, msg_t, None, 'GraphDef'))
    map_field(meta_graph, 'collection_def', 4, 'CollectionDef')
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return [message_factory.GetMessageClass(pool.FindMessageTypeByName('tensorflow.' + n))
            for n in ('SavedTensorSlices', 'MetaGraphDef')]


SavedTensorSlices, MetaGraphDef = _build_messages()


def _varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError('a varint runs past its block')
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return result, pos
        shift += 7


def _masked_crc(data):
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _block(data, offset, size):
    """The contents of the table block at `offset`, its trailer (type, CRC) checked."""
    end = offset + size
    if offset < 0 or end + 5 > len(data):
        raise ValueError('a block handle points past the end of the file')
    kind = data[end]
    if _masked_crc(data[offset:end + 1]) != struct.unpack('<I', data[end + 1:end + 5])[0]:
        raise ValueError('a block fails its checksum')
    if kind != 0:
        raise ValueError('a block is compressed (type %d); only uncompressed tables are read'
                         % kind)
    return data[offset:end]


def _entries(block):
    """(key suffix, value) of each entry of one block (keys are not needed whole here)."""
    if len(block) < 4:
        raise ValueError('a block is too short')
    restarts = struct.unpack('<I', block[-4:])[0]
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise ValueError('a block has more restart points than bytes')
    pos = 0
    while pos < limit:
        _, pos = _varint(block, pos)                     # bytes shared with the last key
        unshared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        if pos + unshared + value_length > limit:
            raise ValueError('an entry runs past its block')
        key = block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + value_length]
        pos += value_length


def _table_values(data):
    """Every value of a LevelDB-format table, in key order."""
    if len(data) < FOOTER_BYTES or struct.unpack('<Q', data[-8:])[0] != TABLE_MAGIC:
        raise ValueError('not a TensorFlow V1 checkpoint (no table footer)')
    footer = data[-FOOTER_BYTES:]
    _, pos = _varint(footer, 0)                      # metaindex block: unused here
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    next_free = 0
    for _, handle in _entries(_block(data, index_offset, index_size)):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        if offset < next_free:          # data blocks follow each other; none is read twice
            raise ValueError('the index points at overlapping or repeated blocks')
        next_free = offset + size + 5
        for _, value in _entries(_block(data, offset, size)):
            yield value


def _array(tensor, shape, dtype_code):
    dtype = DTYPES[dtype_code]
    count = int(np.prod(shape))
    if tensor.tensor_content:
        values = np.frombuffer(tensor.tensor_content, np.dtype(dtype).newbyteorder('<'))
    else:
        values = np.asarray(getattr(tensor, VALUE_FIELDS[dtype_code]), dtype)
    if values.size != count:
        raise ValueError('a variable holds %d values, its shape %s needs %d'
                         % (values.size, list(shape), count))
    return values.astype(dtype).reshape(shape)


def read_checkpoint(data, name='checkpoint'):
    """{variable name: np.ndarray} of a V1 checkpoint's bytes; damage is a MusekitError."""
    try:
        meta, arrays = None, {}
        for value in _table_values(data):
            saved = SavedTensorSlices.FromString(value)
            if saved.HasField('meta'):
                meta = {t.name: t for t in saved.meta.tensor}
                continue
            if meta is None:
                raise ValueError('variable data comes before the variable list')
            if not all(isinstance(n, str) for n in [*meta, saved.data.name]):
                raise ValueError('a variable name is not text')
            if saved.data.name in arrays:
                raise ValueError('variable %r has its data twice' % saved.data.name)
            info = meta.get(saved.data.name)
            if info is None:
                raise ValueError('data of an unlisted variable %r' % saved.data.name)
            if len(info.slice) != 1 or any(e.HasField('length') for e in info.slice[0].extent):
                raise ValueError('variable %r is saved in slices' % info.name)
            if info.type not in DTYPES:
                raise ValueError('variable %r has TensorFlow dtype %d' % (info.name, info.type))
            shape = tuple(int(d.size) for d in info.shape.dim)
            arrays[info.name] = _array(saved.data.data, shape, info.type)
    except (ValueError, message.DecodeError, struct.error) as e:
        raise MusekitError('%s is not a readable TensorFlow checkpoint: %s' % (name, e)) from None
    if meta is not None and not all(isinstance(n, str) for n in meta):
        raise MusekitError('%s is not a readable TensorFlow checkpoint: a variable name is '
                           'not text' % name)
    if meta is None or set(meta) != set(arrays):
        raise MusekitError('%s is not a readable TensorFlow checkpoint: variables %s have no '
                           'data' % (name, ', '.join(sorted(set(meta or {}) - set(arrays)))
                                     or '(none listed)'))
    return arrays


def read_metagraph(data, name='metagraph'):
    """(constants {node name: np.ndarray}, inputs {node name: [input names]}, collections
    {collection name: [node names]}) of a MetaGraphDef's bytes: data to look at, never run."""
    try:
        graph = MetaGraphDef.FromString(data)
    except message.DecodeError as e:
        raise MusekitError('%s is not a readable MetaGraphDef: %s' % (name, e)) from None
    constants, inputs = {}, {}
    for node in graph.graph_def.node:
        if not isinstance(node.name, str) or not all(isinstance(i, str) for i in node.input):
            continue                    # a damaged name (not UTF-8) names nothing we use
        inputs[node.name] = list(node.input)
        tensor = node.attr['value'].tensor if node.op == 'Const' and 'value' in node.attr \
            else None
        if tensor is not None and tensor.dtype in DTYPES:
            shape = tuple(int(d.size) for d in tensor.tensor_shape.dim)
            try:
                constants[node.name] = _array(tensor, shape, tensor.dtype)
            except ValueError:      # a constant stored as one value broadcast to a shape
                values = getattr(tensor, VALUE_FIELDS[tensor.dtype])
                if len(values) == 1 and 0 <= np.prod(shape, dtype=float) <= MAX_FILLED:
                    constants[node.name] = np.full(shape, values[0], DTYPES[tensor.dtype])
    collections = {key: [v for v in c.node_list.value if isinstance(v, str)]
                   for key, c in graph.collection_def.items() if isinstance(key, str)}
    return constants, inputs, collections
