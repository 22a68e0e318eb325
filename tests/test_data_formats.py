"""TFRecord framing and SequenceExample bytes, written without TensorFlow."""
import io
import struct

import numpy as np
import pytest
from google.protobuf import descriptor_pb2

from musekit.data import example, tfrecord
from musekit.errors import MusekitError


def test_tfrecord_framing_matches_the_format():
    # length 3 (little-endian u64), masked crc32c of the length, data, masked crc of data
    rec = tfrecord.encode_record(b'abc')
    assert rec[:8] == (3).to_bytes(8, 'little') and rec[12:15] == b'abc' and len(rec) == 19
    # Known value: masked CRC32C of b'' is 0xA282EAD8 + rotated crc32c('') (= 0).
    assert tfrecord._masked_crc(b'') == 0xA282EAD8


def test_tfrecord_round_trip_and_corruption_is_detected():
    buf = io.BytesIO()
    assert tfrecord.write_records(buf, [b'one', b'', b'x' * 5000]) == 3
    data = buf.getvalue()
    assert list(tfrecord.read_records(io.BytesIO(data))) == [b'one', b'', b'x' * 5000]
    with pytest.raises(MusekitError, match='truncated'):
        list(tfrecord.read_records(io.BytesIO(data[:-3])))
    flipped = bytearray(data)
    flipped[13] ^= 0xFF                      # inside the first record's data
    with pytest.raises(MusekitError, match='checksum'):
        list(tfrecord.read_records(io.BytesIO(bytes(flipped))))


def test_sequence_example_round_trip_categorical_and_multi_hot():
    rng = np.random.default_rng(0)
    inputs = rng.random((7, 5)).astype(np.float32)
    labels = rng.integers(0, 9, 7)
    got_inputs, got_labels = example.parse_sequence_example(
        example.make_sequence_example(inputs, labels))
    np.testing.assert_array_equal(got_inputs, inputs)
    np.testing.assert_array_equal(got_labels, labels)
    multi = rng.integers(0, 2, (7, 4))
    _, got_multi = example.parse_sequence_example(example.make_sequence_example(inputs, multi))
    np.testing.assert_array_equal(got_multi, multi)
    with pytest.raises(ValueError):
        example.make_sequence_example(inputs, labels[:3])


def test_sequence_example_bytes_are_what_tensorflow_reads():
    tf = pytest.importorskip('tensorflow')
    inputs = np.arange(6, dtype=np.float32).reshape(3, 2)
    data = example.make_sequence_example(inputs, [4, 5, 6])
    ex = tf.train.SequenceExample.FromString(data)
    lists = ex.feature_lists.feature_list
    assert [list(f.float_list.value) for f in lists['inputs'].feature] == [[0, 1], [2, 3], [4, 5]]
    assert [list(f.int64_list.value) for f in lists['labels'].feature] == [[4], [5], [6]]
    context, seq = tf.io.parse_single_sequence_example(data, sequence_features={
        'inputs': tf.io.FixedLenSequenceFeature([2], tf.float32),
        'labels': tf.io.FixedLenSequenceFeature([], tf.int64)})
    np.testing.assert_array_equal(seq['inputs'].numpy(), inputs)
    np.testing.assert_array_equal(seq['labels'].numpy(), [4, 5, 6])


# TensorFlow's example.proto / feature.proto, as far as a SequenceExample reaches:
# {message: [(field, number, type, label, message type or None, oneof or None)]}
_T, _L = example._F, example._F
TENSORFLOW_SCHEMA = {
    'SequenceExample': [('context', 1, _T.TYPE_MESSAGE, _L.LABEL_OPTIONAL, 'Features', None),
                        ('feature_lists', 2, _T.TYPE_MESSAGE, _L.LABEL_OPTIONAL,
                         'FeatureLists', None)],
    'Features': [('feature', 1, _T.TYPE_MESSAGE, _L.LABEL_REPEATED, 'Features.FeatureEntry',
                  None)],
    'Features.FeatureEntry': [('key', 1, _T.TYPE_STRING, _L.LABEL_OPTIONAL, None, None),
                              ('value', 2, _T.TYPE_MESSAGE, _L.LABEL_OPTIONAL, 'Feature', None)],
    'FeatureLists': [('feature_list', 1, _T.TYPE_MESSAGE, _L.LABEL_REPEATED,
                      'FeatureLists.FeatureListEntry', None)],
    'FeatureLists.FeatureListEntry': [
        ('key', 1, _T.TYPE_STRING, _L.LABEL_OPTIONAL, None, None),
        ('value', 2, _T.TYPE_MESSAGE, _L.LABEL_OPTIONAL, 'FeatureList', None)],
    'FeatureList': [('feature', 1, _T.TYPE_MESSAGE, _L.LABEL_REPEATED, 'Feature', None)],
    'Feature': [('bytes_list', 1, _T.TYPE_MESSAGE, _L.LABEL_OPTIONAL, 'BytesList', 'kind'),
                ('float_list', 2, _T.TYPE_MESSAGE, _L.LABEL_OPTIONAL, 'FloatList', 'kind'),
                ('int64_list', 3, _T.TYPE_MESSAGE, _L.LABEL_OPTIONAL, 'Int64List', 'kind')],
    'BytesList': [('value', 1, _T.TYPE_BYTES, _L.LABEL_REPEATED, None, None)],
    'FloatList': [('value', 1, _T.TYPE_FLOAT, _L.LABEL_REPEATED, None, None)],
    'Int64List': [('value', 1, _T.TYPE_INT64, _L.LABEL_REPEATED, None, None)],
}


def test_sequence_example_schema_is_tensorflows():
    seen, todo = {}, [example.sequence_example_class().DESCRIPTOR]
    while todo:
        message = todo.pop()
        name = message.full_name[len('tensorflow.'):]
        if name in seen:
            continue
        proto = descriptor_pb2.DescriptorProto()
        message.CopyToProto(proto)
        seen[name] = [(f.name, f.number, f.type, f.label,
                       f.type_name[len('.tensorflow.'):] or None,
                       proto.oneof_decl[f.oneof_index].name if f.HasField('oneof_index')
                       else None)
                      for f in proto.field]
        todo += [f.message_type for f in message.fields if f.message_type]
        assert message.GetOptions().map_entry == name.endswith('Entry'), name
    assert seen == TENSORFLOW_SCHEMA
    file_proto = descriptor_pb2.FileDescriptorProto()
    message.file.CopyToProto(file_proto)
    assert file_proto.syntax == 'proto3'       # repeated numbers packed, as TensorFlow's


def with_protobuf(inputs, labels):
    """make_sequence_example's bytes the slow way, one protobuf message per step: the
    reference the direct writer is checked against."""
    inputs, labels = np.asarray(inputs), np.asarray(labels, np.int64)
    integer_inputs = inputs.dtype.kind in 'iub'
    inputs = inputs.astype(np.int64 if integer_inputs else np.float32)
    inputs = inputs.reshape(len(inputs), int(np.prod(inputs.shape[1:])))   # [T, ...] -> [T, n]
    labels = labels.reshape(len(labels), int(np.prod(labels.shape[1:])))
    ex = example.sequence_example_class()()
    lists = ex.feature_lists.feature_list
    in_list, label_list = lists['inputs'].feature, lists['labels'].feature
    for row in inputs.tolist():
        kind = getattr(in_list.add(), 'int64_list' if integer_inputs else 'float_list')
        kind.SetInParent()                  # an empty list is still this step's list
        kind.value.extend(row)
    for row in labels.tolist():
        kind = label_list.add().int64_list
        kind.SetInParent()
        kind.value.extend(row)
    return ex.SerializeToString(deterministic=True)


@pytest.mark.parametrize('steps,width,label_width,high', [
    (300, 121, 1, 40), (300, 121, 1, 300), (1, 74, 1, 127), (0, 38, 1, 5), (7, 5, 4, 2),
    (3, 200, 1, 2**40), (500, 1, 1, 256), (400, 2, 1, 1 << 14), (400, 2, 1, 1 << 15)])
def test_direct_bytes_equal_protobufs_deterministic_serialization(steps, width,
                                                                  label_width, high):
    rng = np.random.default_rng(steps + width)
    inputs = rng.random((steps, width)).astype(np.float32)
    labels = rng.integers(0, high, (steps, label_width) if label_width > 1 else steps)
    assert (example.make_sequence_example(inputs, labels)
            == with_protobuf(inputs, labels))


@pytest.mark.parametrize('inputs, labels', [
    (np.array([3, 255, 0, 128, 7]), np.array([255, 0, 128, 7, 9])),          # sample indices
    (np.arange(30, dtype=np.float32).reshape(5, 2, 3) / 7, np.ones((5, 2, 2), int)),
    (np.array([[1, 2**40], [0, 5]]), np.array([[0, 1], [1, 0]]))])
def test_integer_and_many_dimensional_steps(inputs, labels):
    """Integer inputs become Int64Lists, [T, a, b] steps are stored flat; the direct bytes
    equal protobuf's and read back flat ([T, a*b])."""
    data = example.make_sequence_example(inputs, labels)
    assert data == with_protobuf(inputs, labels)
    got_inputs, got_labels = example.parse_sequence_example(data)
    assert got_inputs.dtype == (np.int64 if inputs.dtype.kind == 'i' else np.float32)
    np.testing.assert_array_equal(got_inputs, inputs.reshape(len(inputs), -1))
    np.testing.assert_array_equal(got_labels.reshape(len(labels), -1),
                                  labels.reshape(len(labels), -1))


def test_batches_follow_the_encoders_step_specs(tmp_path):
    """Parsing, padding and batching take dtype and per-step shape from the encoder: integer
    sample inputs, and [notes, features] inputs with [notes, 2] labels."""
    import types
    pytest.importorskip('tensorflow')
    from musekit.data import dataset
    from musekit.data.batching import Bucketed
    from musekit.encoders.base import StepSpec
    rng = np.random.default_rng(1)
    cases = {
        'samples': (StepSpec('int64', (), depth=256), StepSpec('int64', (), depth=256),
                    lambda n: (rng.integers(0, 256, n), rng.integers(0, 256, n))),
        'notes': (StepSpec('float32', (4, 3)), StepSpec('int64', (4, 2), depth=2),
                  lambda n: (rng.random((n, 4, 3)).astype(np.float32),
                             rng.integers(0, 2, (n, 4, 2)))),
    }
    for name, (input_spec, label_spec, make) in cases.items():
        pieces = [make(n) for n in (5, 9, 3)]
        path = tmp_path / ('%s.tfrecord' % name)
        with open(path, 'wb') as f:
            tfrecord.write_records(f, [example.make_sequence_example(*p) for p in pieces])
        encoder = types.SimpleNamespace(input_spec=input_spec, label_spec=label_spec)
        dataset.check_compatible(str(path), encoder, name)
        [(inputs, labels, lengths)] = list(dataset.make_dataset(
            str(path), encoder, 3, training=False, batching=Bucketed(0)))
        assert inputs.dtype.name == input_spec.dtype and labels.dtype.name == 'int64'
        assert inputs.shape == (3, 9, *input_spec.shape)
        assert labels.shape == (3, 9, *label_spec.shape)
        assert list(lengths.numpy()) == [5, 9, 3]
        for row, (want_inputs, want_labels) in enumerate(pieces):
            n = len(want_inputs)
            np.testing.assert_array_equal(inputs[row, :n].numpy(), want_inputs)
            np.testing.assert_array_equal(labels[row, :n].numpy(), want_labels)
            assert not inputs[row, n:].numpy().any()               # padding is zeros


def test_float_rows_are_little_endian_whatever_the_arrays_byte_order():
    # one step [1.0, -2.5]: FeatureList.feature entry (0a, 12 bytes) of a Feature whose
    # float_list (12, 10 bytes) packs value (0a, 8 bytes): 1.0 = 0x3f800000, -2.5 = 0xc0200000
    want = bytes.fromhex('0a0c' '120a' '0a08' '0000803f' '000020c0')
    for dtype in ('<f4', '>f4'):
        assert example._float_rows(np.array([[1.0, -2.5]], dtype)) == want
    assert example.make_sequence_example(np.array([[1.0, -2.5]], '>f4'), [3]) == \
        example.make_sequence_example(np.array([[1.0, -2.5]], '<f4'), [3])


def test_tfrecord_damage_is_named_with_the_file_and_record_number():
    good = tfrecord.encode_record(b'first') + tfrecord.encode_record(b'second')
    second = len(tfrecord.encode_record(b'first'))

    def refused(data, name=None):
        args = (io.BytesIO(data),) if name is None else (io.BytesIO(data), name)
        with pytest.raises(MusekitError) as e:
            list(tfrecord.read_records(*args))
        return str(e.value)

    assert refused(good[:second + 5]) == '<stream>: truncated TFRecord header at record 1'
    bad_length = bytearray(good)
    bad_length[second] ^= 1
    assert refused(bytes(bad_length), 'x.tfrecord') == (
        'x.tfrecord: corrupt TFRecord length at record 1')
    assert refused(good[:-2]) == '<stream>: truncated TFRecord at record 1'
    bad_data = bytearray(good)
    bad_data[second + 12] ^= 1
    assert refused(bytes(bad_data)) == '<stream>: TFRecord checksum mismatch at record 1'
    three = good + tfrecord.encode_record(b'third')
    assert refused(three[:-1]) == '<stream>: truncated TFRecord at record 2'
    # a length past 2**63 is read unsigned: far more than the file holds, so truncated
    huge = struct.pack('<Q', 2 ** 63 + 5)
    header = huge + struct.pack('<I', tfrecord._masked_crc(huge))
    assert refused(header + b'data') == '<stream>: truncated TFRecord at record 0'


def test_a_checksummed_length_of_terabytes_is_truncated_not_a_memory_error(tmp_path):
    # the length's own CRC is right, so only the file's end tells it is damaged; asking
    # Python for 2**40 bytes at once would be a MemoryError
    for length in (2 ** 40, 2 ** 63 - 1, 2 ** 63 + 5, tfrecord.READ_CHUNK + 1):
        packed = struct.pack('<Q', length)
        path = tmp_path / 'damaged.tfrecord'
        path.write_bytes(tfrecord.encode_record(b'first') + packed
                         + struct.pack('<I', tfrecord._masked_crc(packed)) + b'x' * 3000)
        with pytest.raises(MusekitError) as e:
            tfrecord.read_record_file(str(path))
        assert str(e.value) == '%s: truncated TFRecord at record 1' % path
    # records longer than one read chunk come back whole
    data = bytes(range(256)) * (tfrecord.READ_CHUNK // 128 + 3)
    path.write_bytes(tfrecord.encode_record(data) + tfrecord.encode_record(b'end'))
    assert tfrecord.read_record_file(str(path)) == [data, b'end']


def _same_message(data, inputs, labels):
    cls = example.sequence_example_class()
    assert cls.FromString(data) == cls.FromString(with_protobuf(inputs, labels))


def test_zero_width_steps_are_empty_lists_and_read_back():
    # (the direct bytes hold an empty packed field, 0a00, where protobuf writes nothing:
    # the same message, so compared as messages)
    for inputs, labels in ((np.zeros((3, 0), np.float32), [1, 2, 3]),
                           (np.zeros((3, 0), np.int64), [1, 2, 3]),
                           (np.ones((2, 3), np.float32), np.zeros((2, 0), np.int64))):
        data = example.make_sequence_example(inputs, labels)
        _same_message(data, inputs, labels)
        got_inputs, got_labels = example.parse_sequence_example(data)
        assert got_inputs.dtype == inputs.dtype and got_inputs.shape == inputs.shape
        assert got_labels.dtype == np.int64
        np.testing.assert_array_equal(got_inputs, inputs)
        np.testing.assert_array_equal(got_labels, labels)
    got_inputs, got_labels = example.parse_sequence_example(
        example.make_sequence_example(np.zeros((0, 4), np.float32), []))
    assert got_inputs.dtype == np.float32 and got_labels.dtype == np.int64
    assert got_labels.shape == (0,)
    got_inputs, _ = example.parse_sequence_example(example.make_sequence_example([5], [1]))
    assert got_inputs.dtype == np.int64 and got_inputs.tolist() == [[5]]


def test_float_labels_are_stored_as_integers():
    inputs = np.ones((3, 2), np.float32)
    for labels in (np.array([1.0, 2.0, 300.0]), np.array([[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])):
        assert example.make_sequence_example(inputs, labels) == with_protobuf(inputs, labels)


def test_shape_errors_name_the_argument_exactly():
    for args, want in (((np.float32(1), [1]), 'inputs must have a time axis, got a scalar'),
                       ((3, [1]), 'inputs must have a time axis, got a scalar'),
                       (([1.0], 2), 'labels must have a time axis, got a scalar'),
                       ((np.ones((3, 2)), [1, 2]),
                        'inputs (3, 2) and labels (2, 1) must have the same number of steps')):
        with pytest.raises(ValueError) as e:
            example.make_sequence_example(*args)
        assert str(e.value) == want


def _varint_within_a_second(n):
    import signal

    def stuck(*_):
        raise AssertionError('_varint(%d) does not end' % n)
    old = signal.signal(signal.SIGALRM, stuck)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        return example._varint(n)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_varint_boundaries_match_protobuf():
    int64_list = example.sequence_example_class()().context.feature['x'].int64_list
    for n in (0, 1, 127, 128, 255, 16383, 16384, 2**21 - 1, 2**21, 2**63 - 1):
        del int64_list.value[:]
        int64_list.value.append(n)
        assert b'\x0a' + _varint_within_a_second(len(_varint_within_a_second(n))) + \
            _varint_within_a_second(n) == int64_list.SerializeToString()
    assert _varint_within_a_second(127) == b'\x7f'
    assert _varint_within_a_second(128) == b'\x80\x01'
    assert _varint_within_a_second(2**63 - 1) == b'\xff' * 8 + b'\x7f'
    # labels at the one/two/three-byte varint boundaries and negative (10-byte two's
    # complement) equal protobuf's bytes
    inputs = np.ones((6, 1), np.float32)
    for labels in ([0, 127, 128, 16383, 16384, 1], [16384] * 6, [-1, 0, 5, 2**63 - 1, 1, 2],
                   [[-(2**63), 1]] * 6):
        assert example.make_sequence_example(inputs, labels) == with_protobuf(inputs, labels)
    assert example.make_sequence_example(np.array([-3, 128, 16384, 0, 1, 2]), [1] * 6) == \
        with_protobuf(np.array([-3, 128, 16384, 0, 1, 2]), [1] * 6)


def test_read_record_file_names_the_file_in_its_errors(tmp_path):
    path = tmp_path / 'x.tfrecord'
    path.write_bytes(tfrecord.encode_record(b'a') + tfrecord.encode_record(b'bc'))
    assert tfrecord.read_record_file(str(path)) == [b'a', b'bc']
    path.write_bytes(tfrecord.encode_record(b'a')[:-1])
    with pytest.raises(MusekitError) as e:
        tfrecord.read_record_file(str(path))
    assert str(e.value) == '%s: truncated TFRecord at record 0' % path
