"""tf.train.SequenceExample / Example messages built without importing TensorFlow.

The schema below is TensorFlow's example.proto (same package, names and field numbers),
registered in a private descriptor pool so it never clashes with TensorFlow's own copy;
bytes written here parse with ``tf.train.SequenceExample.FromString`` and vice versa.
"""
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
    _field(fd.message_type.add(name='Example'), 'features', 1, _F.TYPE_MESSAGE,
           type_name='.tensorflow.Features')
    seq = fd.message_type.add(name='SequenceExample')
    _field(seq, 'context', 1, _F.TYPE_MESSAGE, type_name='.tensorflow.Features')
    _field(seq, 'feature_lists', 2, _F.TYPE_MESSAGE, type_name='.tensorflow.FeatureLists')
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return pool


_POOL = _build_pool()
SequenceExample = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName('tensorflow.SequenceExample'))
Example = message_factory.GetMessageClass(_POOL.FindMessageTypeByName('tensorflow.Example'))


def make_sequence_example(inputs, labels):
    """Serialized SequenceExample with feature lists `inputs` (floats) and `labels` (int64).

    `labels` is [T] (one class per step) or [T, K] (multi-hot or several ids per step).
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim == 1:
        labels = labels[:, None]
    if len(inputs) != len(labels):
        raise ValueError('inputs have %d steps but labels %d' % (len(inputs), len(labels)))
    ex = SequenceExample()
    lists = ex.feature_lists.feature_list
    in_list, label_list = lists['inputs'].feature, lists['labels'].feature
    for row in inputs.tolist():
        in_list.add().float_list.value.extend(row)
    for row in labels.tolist():
        label_list.add().int64_list.value.extend(row)
    return ex.SerializeToString(deterministic=True)


def parse_sequence_example(data):
    """(inputs float32 [T, D], labels int64 [T] or [T, K]) from serialized bytes."""
    ex = SequenceExample.FromString(data)
    lists = ex.feature_lists.feature_list
    inputs = np.array([f.float_list.value for f in lists['inputs'].feature], dtype=np.float32)
    labels = np.array([f.int64_list.value for f in lists['labels'].feature], dtype=np.int64)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    return inputs, labels
