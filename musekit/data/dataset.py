"""tf.data input for training and evaluation: SequenceExample TFRecords -> padded batches.

Batches hold sequences of similar length (bucketed by length) padded only to the longest
one in the batch, as ``(inputs [B, T, D] float32, labels [B, T] int64, lengths [B] int32)``.
"""
import json
import os

from musekit.data import example, tfrecord
from musekit.errors import MusekitError

# Bucket boundaries every BUCKET_WIDTH steps: batches pad at most this much per sequence.
BUCKET_WIDTH = 32
MAX_BUCKETED_LENGTH = 4096
SHUFFLE_BUFFER = 512
DESCRIPTION_FILE = 'dataset.json'      # written by musekit_create_dataset


def list_files(pattern):
    """The sorted files matching the glob `pattern` (local or any tf.io.gfile filesystem)."""
    import tensorflow as tf
    if not pattern:
        raise MusekitError('no SequenceExample file pattern given')
    try:
        files = sorted(tf.io.gfile.glob(pattern))
    except tf.errors.OpError as e:
        raise MusekitError('cannot list %r: %s' % (pattern, e.message)) from None
    if not files:
        raise MusekitError('no files match %r' % pattern)
    return files


def peek(pattern):
    """(input width, labels of the first record) of the first non-empty file of `pattern`.

    Read without TensorFlow's parser, so the caller can compare the data with its config
    before building any graph.
    """
    import tensorflow as tf
    for path in list_files(pattern):
        with tf.io.gfile.GFile(path, 'rb') as f:
            for data in tfrecord.read_records(f, path):
                try:
                    inputs, labels = example.parse_sequence_example(data)
                except Exception as e:  # protobuf raises its own DecodeError
                    raise MusekitError('%s: not a SequenceExample: %s' % (path, e)) from None
                if inputs.ndim != 2:
                    raise MusekitError('%s: SequenceExample without an inputs feature list'
                                       % path)
                return inputs.shape[1], labels
    raise MusekitError('the files matching %r hold no records' % pattern)


def check_compatible(pattern, input_size, num_classes, config_name):
    """Raises MusekitError if the data of `pattern` was not made for this encoder size."""
    width, labels = peek(pattern)
    if width != input_size:
        raise MusekitError(
            'the data in %r has inputs %d wide but config %s encodes %d: it was made for '
            'another config (run musekit_create_dataset --config=%s)'
            % (pattern, width, config_name, input_size, config_name))
    if labels.ndim != 1:
        raise MusekitError('the data in %r has %s labels per step; config %s needs one class '
                           'per step' % (pattern, labels.shape[1:], config_name))
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise MusekitError('the data in %r has label %d but config %s has %d classes'
                           % (pattern, labels.max(), config_name, num_classes))


def read_description(pattern):
    """The dataset.json that musekit_create_dataset wrote beside the files of `pattern`
    (a dict), or None when there is none or it is unreadable."""
    import tensorflow as tf
    path = os.path.join(os.path.dirname(pattern), DESCRIPTION_FILE)
    try:
        with tf.io.gfile.GFile(path, 'r') as f:
            description = json.loads(f.read())
    except (tf.errors.OpError, ValueError):
        return None
    return description if isinstance(description, dict) else None


def _parser(input_size):
    import tensorflow as tf
    features = {'inputs': tf.io.FixedLenSequenceFeature([input_size], tf.float32),
                'labels': tf.io.FixedLenSequenceFeature([], tf.int64)}

    def parse(serialized):
        _, seq = tf.io.parse_single_sequence_example(serialized, sequence_features=features)
        return seq['inputs'], seq['labels'], tf.shape(seq['labels'], out_type=tf.int32)[0]
    return parse


def make_dataset(pattern, input_size, batch_size, training, seed=0,
                 bucket_width=BUCKET_WIDTH):
    """A tf.data.Dataset of (inputs, labels, lengths) batches from the files of `pattern`.

    Training: files and records shuffled with `seed`, repeated forever. Evaluation
    (`training=False`): every record once, in file order. `bucket_width=0` turns bucketing
    off (each batch still pads to its own longest sequence).
    """
    import tensorflow as tf
    files = list_files(pattern)
    if training:
        ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
        ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.repeat().shuffle(SHUFFLE_BUFFER, seed=seed)
    else:
        ds = tf.data.TFRecordDataset(files)
    ds = ds.map(_parser(input_size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    padded_shapes = ([None, input_size], [None], [])
    if bucket_width:
        boundaries = list(range(bucket_width + 1, MAX_BUCKETED_LENGTH, bucket_width))
        ds = ds.bucket_by_sequence_length(
            lambda inputs, labels, length: length, boundaries,
            [batch_size] * (len(boundaries) + 1), padded_shapes=padded_shapes)
    else:
        ds = ds.padded_batch(batch_size, padded_shapes=padded_shapes)
    return ds.prefetch(tf.data.AUTOTUNE)
