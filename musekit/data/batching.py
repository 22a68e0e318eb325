"""How a model family cuts training batches from parsed sequences (tf.data, built lazily).

Each element going in is ``(inputs [T, ...], labels [T, ...], length)``; each batch coming
out is the same padded to its longest member, with ``lengths [B]``.
"""
import abc

from musekit.errors import MusekitError

# Bucket boundaries every BUCKET_WIDTH steps: batches pad at most this much per sequence.
BUCKET_WIDTH = 32
MAX_BUCKETED_LENGTH = 4096


class Batching(abc.ABC):
    """A batching policy; `batch` adds it to a tf.data pipeline."""

    @abc.abstractmethod
    def batch(self, ds, batch_size, padded_shapes, training, seed=0):
        """`ds` of single sequences -> padded batches."""

    def training_length(self, max_steps):
        """The longest training batch row, for sequences of at most `max_steps` steps."""
        return max_steps


class Bucketed(Batching):
    """Whole sequences, grouped by length so a batch pads at most `width` steps per row
    (`width` 0: plain padded batches in data order)."""

    def __init__(self, width=BUCKET_WIDTH):
        self.width = int(width)

    def batch(self, ds, batch_size, padded_shapes, training, seed=0):
        if not self.width:
            return ds.padded_batch(batch_size, padded_shapes=padded_shapes)
        boundaries = list(range(self.width + 1, MAX_BUCKETED_LENGTH, self.width))
        return ds.bucket_by_sequence_length(
            lambda inputs, labels, length: length, boundaries,
            [batch_size] * (len(boundaries) + 1), padded_shapes=padded_shapes)

    def __repr__(self):
        return 'Bucketed(width=%d)' % self.width


class RandomCrops(Batching):
    """Training: one random window of `length` steps from each sequence (shorter sequences
    whole), drawn from `seed`; evaluation: whole sequences, so every step counts once."""

    def __init__(self, length):
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise MusekitError('a crop length is a positive integer, not %r' % (length,))
        self.length = length

    def batch(self, ds, batch_size, padded_shapes, training, seed=0):
        import tensorflow as tf
        if not training:
            return ds.padded_batch(batch_size, padded_shapes=padded_shapes)
        crop = self.length

        def cut(element, random):
            inputs, labels, length = element
            size = tf.minimum(length, crop)
            start = tf.cast(random % tf.cast(length - size + 1, tf.int64), tf.int32)
            return inputs[start:start + size], labels[start:start + size], size

        pairs = tf.data.Dataset.zip((ds, tf.data.Dataset.random(seed=seed)))
        return pairs.map(cut).padded_batch(batch_size, padded_shapes=padded_shapes)

    def training_length(self, max_steps):
        return self.length if max_steps is None else min(self.length, max_steps)

    def __repr__(self):
        return 'RandomCrops(length=%d)' % self.length
