"""tf.data input for training and evaluation: SequenceExample TFRecords -> padded batches.

Parsing follows the encoder's declared step specs (dtype and per-step shape of inputs and
labels); the model family's Batching policy cuts the batches. Each batch is
``(inputs [B, T, ...], labels [B, T, ...], lengths [B] int32)``, padded past each length.
"""
import json
import os
import re

from musekit.data import example, tfrecord
from musekit.data.batching import Bucketed
from musekit.errors import MusekitError

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
    """(inputs [T, D], labels [T] or [T, K]) of the first record of `pattern`'s files.

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
                return inputs, labels
    raise MusekitError('the files matching %r hold no records' % pattern)


_SHARD = re.compile(r'^(.*)-(\d{5})-of-(\d{5})([^/]*)$')


def check_complete(pattern):
    """Raises MusekitError when the files of `pattern` include part of a set of shards
    (NAME-00001-of-00002.tfrecord) whose other members are missing: the output of a
    musekit_create_dataset run that did not finish. A pattern may pick some shards of a
    whole set; only members missing from the folder count."""
    import tensorflow as tf
    sets = {}
    for path in list_files(pattern):
        match = _SHARD.match(path)
        if match:
            prefix, index, total, suffix = match.groups()
            sets.setdefault((prefix, total, suffix), set()).add(int(index))
    for (prefix, total, suffix), present in sorted(sets.items()):
        for index in range(int(total)):
            name = '%s-%05d-of-%s%s' % (prefix, index, total, suffix)
            if index not in present and not tf.io.gfile.exists(name):
                raise MusekitError(
                    'the data in %r is incomplete: %s is missing from its set of %d shards '
                    '(a musekit_create_dataset run that did not finish; a folder without '
                    '%s is incomplete): run musekit_create_dataset again'
                    % (pattern, name, int(total), DESCRIPTION_FILE))


def check_compatible(pattern, encoder, config_name):
    """Raises MusekitError if the data of `pattern` is an incomplete set of shards
    (`check_complete`) or was not made for this encoder."""
    check_complete(pattern)
    inputs, labels = peek(pattern)
    input_spec, label_spec = encoder.input_spec, encoder.label_spec
    remake = 'it was made for another config (run musekit_create_dataset --config=%s)' % (
        config_name)
    if inputs.shape[1] != input_spec.size:
        raise MusekitError('the data in %r has inputs %d wide but config %s encodes %d: %s'
                           % (pattern, inputs.shape[1], config_name, input_spec.size, remake))
    if (inputs.dtype.kind == 'f') != (input_spec.dtype == 'float32') and len(inputs):
        raise MusekitError('the data in %r has %s inputs but config %s encodes %s: %s' % (
            pattern, inputs.dtype.name, config_name, input_spec.dtype, remake))
    per_step = 1 if labels.ndim == 1 else labels.shape[1]
    if per_step != label_spec.size:
        raise MusekitError('the data in %r has %d labels per step; config %s needs %s'
                           % (pattern, per_step, config_name, label_spec.describe()))
    depth = label_spec.depth
    if depth and labels.size and (labels.min() < 0 or labels.max() >= depth):
        bad = labels.max() if labels.max() >= depth else labels.min()
        raise MusekitError('the data in %r has label %d but config %s has %d classes'
                           % (pattern, bad, config_name, depth))


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


def shard_files(files, count, index):
    """(files, (record count, record index)): input pipeline `index` of `count` reads every
    count-th file when there are at least `count` files (sharding by file), else every
    file but only every count-th record of them (by record; the file order, shuffled with
    the same seed everywhere, is the same on every worker)."""
    count, index = int(count), int(index)
    if not 0 <= index < count:
        raise MusekitError('input shard %d of %d does not exist' % (index, count))
    if count == 1:
        return files, (1, 0)
    if len(files) >= count:
        return files[index::count], (1, 0)
    return files, (count, index)


def _shard(ds, records):
    return ds.shard(*records) if records[0] > 1 else ds


def _tf_dtype(spec):
    import tensorflow as tf
    return tf.float32 if spec.dtype == 'float32' else tf.int64


def _parser(input_spec, label_spec):
    import tensorflow as tf
    features = {'inputs': tf.io.FixedLenSequenceFeature(list(input_spec.shape),
                                                        _tf_dtype(input_spec)),
                'labels': tf.io.FixedLenSequenceFeature(list(label_spec.shape),
                                                        _tf_dtype(label_spec))}

    def parse(serialized):
        _, seq = tf.io.parse_single_sequence_example(serialized, sequence_features=features)
        return seq['inputs'], seq['labels'], tf.shape(seq['labels'], out_type=tf.int32)[0]
    return parse


def make_dataset(pattern, encoder, batch_size, training, seed=0, batching=None, shard=None):
    """A tf.data.Dataset of (inputs, labels, lengths) batches from the files of `pattern`.

    Training: files and records shuffled with `seed`, repeated forever. Evaluation
    (`training=False`): every record once, in file order. `batching` (a
    musekit.data.batching policy, bucketed whole sequences by default) cuts the batches.
    `shard` (count, index): this input pipeline's part of the data when `count` workers
    share it, so that no record is read by two of them in an epoch (`shard_files`).
    """
    import tensorflow as tf
    files, records = shard_files(list_files(pattern), *(shard or (1, 0)))
    if training:
        ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
        ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = _shard(ds, records).repeat().shuffle(SHUFFLE_BUFFER, seed=seed)
    else:
        ds = _shard(tf.data.TFRecordDataset(files), records)
    input_spec, label_spec = encoder.input_spec, encoder.label_spec
    ds = ds.map(_parser(input_spec, label_spec), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    padded_shapes = ([None, *input_spec.shape], [None, *label_spec.shape], [])
    ds = (batching or Bucketed()).batch(ds, batch_size, padded_shapes, training, seed)
    return ds.prefetch(tf.data.AUTOTUNE)
