"""TFRecord framing and SequenceExample bytes, written without TensorFlow."""
import io

import numpy as np
import pytest

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


@pytest.mark.parametrize('steps,width,label_width,high', [
    (300, 121, 1, 40), (300, 121, 1, 300), (1, 74, 1, 127), (0, 38, 1, 5), (7, 5, 4, 2),
    (3, 200, 1, 2**40)])
def test_direct_bytes_equal_protobufs_deterministic_serialization(steps, width,
                                                                  label_width, high):
    rng = np.random.default_rng(steps + width)
    inputs = rng.random((steps, width)).astype(np.float32)
    labels = rng.integers(0, high, (steps, label_width) if label_width > 1 else steps)
    assert (example.make_sequence_example(inputs, labels)
            == example.make_sequence_example_with_protobuf(inputs, labels))
