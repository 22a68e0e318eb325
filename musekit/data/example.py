"""tf.train.SequenceExample messages built without importing TensorFlow.

The schema below is the part of TensorFlow's example.proto and feature.proto that a
SequenceExample uses (same package, names and field numbers), registered in a private
descriptor pool so it never clashes with TensorFlow's own copy; bytes written here parse
with ``tf.train.SequenceExample.FromString`` and vice versa.
"""
import functools

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _field(msg, name, number, ftype, label=_F.LABEL_OPTIONAL, type_name=None, oneof=None):
    f = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof


def _map(msg, name, value_type):
    entry = msg.nested_type.add(name=''.join(p.capitalize() for p in name.split('_')) + 'Entry')
    entry.options.map_entry = True
    _field(entry, 'key', 1, _F.TYPE_STRING)
    _field(entry, 'value', 2, _F.TYPE_MESSAGE, type_name=value_type)
    _field(msg, name, 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED,
           '.tensorflow.%s.%s' % (msg.name, entry.name))


def _build_pool():
    fd = descriptor_pb2.FileDescriptorProto(
        name='musekit/tensorflow_example.proto', package='tensorflow', syntax='proto3')
    for name, ftype in (('BytesList', _F.TYPE_BYTES), ('FloatList', _F.TYPE_FLOAT),
                        ('Int64List', _F.TYPE_INT64)):
        _field(fd.message_type.add(name=name), 'value', 1, ftype, _F.LABEL_REPEATED)
    feature = fd.message_type.add(name='Feature')
    feature.oneof_decl.add(name='kind')
    for number, (name, tname) in enumerate((('bytes_list', 'BytesList'),
                                            ('float_list', 'FloatList'),
                                            ('int64_list', 'Int64List')), start=1):
        _field(feature, name, number, _F.TYPE_MESSAGE, type_name='.tensorflow.' + tname,
               oneof=0)
    _map(fd.message_type.add(name='Features'), 'feature', '.tensorflow.Feature')
    _field(fd.message_type.add(name='FeatureList'), 'feature', 1, _F.TYPE_MESSAGE,
           _F.LABEL_REPEATED, '.tensorflow.Feature')
    _map(fd.message_type.add(name='FeatureLists'), 'feature_list', '.tensorflow.FeatureList')
    seq = fd.message_type.add(name='SequenceExample')
    _field(seq, 'context', 1, _F.TYPE_MESSAGE, type_name='.tensorflow.Features')
    _field(seq, 'feature_lists', 2, _F.TYPE_MESSAGE, type_name='.tensorflow.FeatureLists')
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return pool


@functools.cache
def sequence_example_class():
    """The SequenceExample message class (schema built on first use, not at import)."""
    return message_factory.GetMessageClass(
        _build_pool().FindMessageTypeByName('tensorflow.SequenceExample'))


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(tag, payload):
    return bytes((tag,)) + _varint(len(payload)) + payload


def _feature_list(kind_tag, rows):
    """FeatureList bytes: one Feature per row, each holding one packed list (field 1)."""
    return b''.join(_length_delimited(0x0A, _length_delimited(kind_tag, _length_delimited(
        0x0A, row))) for row in rows)


def _float_rows(inputs):
    """Packed little-endian float rows; equal-length rows share one prefix, built once."""
    t, d = inputs.shape
    body = np.ascontiguousarray(inputs, dtype='<f4').view(np.uint8).reshape(t, 4 * d)
    packed = _length_delimited(0x0A, b'\0' * 4 * d)[:-4 * d]       # FloatList.value header
    feature = _length_delimited(0x12, b'\0' * (len(packed) + 4 * d))[:-(len(packed) + 4 * d)]
    entry = _varint(len(feature) + len(packed) + 4 * d)
    prefix = np.frombuffer(b'\x0a' + entry + feature + packed, dtype=np.uint8)
    return np.concatenate([np.broadcast_to(prefix, (t, len(prefix))), body], axis=1).tobytes()


def _steps(values, dtype, what):
    """`values` as [T, numbers per step]: [T] becomes [T, 1], [T, a, b] becomes [T, a*b]."""
    array = np.asarray(values, dtype=dtype)
    if array.ndim == 0:
        raise ValueError('%s must have a time axis, got a scalar' % what)
    if array.ndim == 1:
        return array[:, None]
    return array.reshape(len(array), int(np.prod(array.shape[1:])))


def _int_rows(rows):
    """A FeatureList of one Int64List per row."""
    if rows.shape[1] == 1 and len(rows) and 0 <= rows.min() and rows.max() < 1 << 14:
        # one value of one or two varint bytes per step (class ids, mu-law audio): each
        # Feature is 7 or 8 bytes, built for all steps at once
        values = rows[:, 0]
        two = values >= 128
        out = np.empty((len(rows), 8), dtype=np.uint8)
        out[:, 0], out[:, 2], out[:, 4] = 0x0A, 0x1A, 0x0A
        out[:, 1], out[:, 3], out[:, 5] = 5 + two, 3 + two, 1 + two
        out[:, 6] = np.where(two, (values & 0x7F) | 0x80, values)
        out[:, 7] = values >> 7
        keep = np.ones(out.shape, bool)
        keep[:, 7] = two
        return out[keep].tobytes()
    return _feature_list(0x1A, [b''.join(_varint(int(v) & 0xFFFFFFFFFFFFFFFF)
                                             for v in row) for row in rows.tolist()])


def make_sequence_example(inputs, labels):
    """Serialized SequenceExample with feature lists `inputs` and `labels`, one Feature per
    time step.

    `inputs` are floats (a FloatList per step) or integers (an Int64List per step);
    `labels` are integers. Each is [T] (one number per step) or [T, ...] (flattened per
    step). The bytes are written directly (numpy, not one message per step): they equal
    the protobuf library's deterministic serialization of the same message.
    """
    raw_inputs = np.asarray(inputs)
    integer_inputs = raw_inputs.dtype.kind in 'iub'
    inputs = _steps(raw_inputs, np.int64 if integer_inputs else np.float32, 'inputs')
    labels = _steps(labels, np.int64, 'labels')
    if len(inputs) != len(labels):
        raise ValueError('inputs %s and labels %s must have the same number of steps'
                         % (inputs.shape, labels.shape))
    if integer_inputs:
        input_list = _int_rows(inputs)
    elif inputs.shape[1]:
        input_list = _float_rows(inputs)
    else:
        input_list = _feature_list(0x12, [b''] * len(inputs))
    label_list = _int_rows(labels)
    feature_lists = b''.join(
        _length_delimited(0x0A, _length_delimited(0x0A, key) + _length_delimited(0x12, body))
        for key, body in ((b'inputs', input_list), (b'labels', label_list)))
    return _length_delimited(0x12, feature_lists)


def parse_sequence_example(data):
    """(inputs [T, D] float32 or int64, labels int64 [T] or [T, K]) from serialized bytes."""
    ex = sequence_example_class().FromString(data)
    lists = ex.feature_lists.feature_list
    steps = lists['inputs'].feature
    if steps and steps[0].WhichOneof('kind') == 'int64_list':
        inputs = np.array([f.int64_list.value for f in steps], dtype=np.int64)
    else:
        inputs = np.array([f.float_list.value for f in steps], dtype=np.float32)
    labels = np.array([f.int64_list.value for f in lists['labels'].feature], dtype=np.int64)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    return inputs, labels
