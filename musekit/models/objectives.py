"""Losses and metrics that model families own (TensorFlow is imported only when called).

An Objective turns a batch's model outputs, labels and step mask into running totals
``{metric: (sum, count)}``; training minimises ``loss_sum / loss_count`` and every report
(progress line, TensorBoard, eval) shows each metric as its sum over its count.
"""
import abc
import math


class Objective(abc.ABC):
    """A family's training loss and the metrics it reports; 'loss' is always one of them."""

    @abc.abstractmethod
    def totals(self, outputs, labels, mask):
        """{name: (sum, count)} float32 tensors over the real steps (`mask` [B, T] is 1.0
        on real steps, 0.0 on padding)."""

    def derived(self, means):
        """Extra metrics computed from the eval means (e.g. perplexity); none by default."""
        return {}


class CategoricalCrossEntropy(Objective):
    """Softmax cross-entropy of one class per step, argmax accuracy, and perplexity."""

    def totals(self, outputs, labels, mask):
        import tensorflow as tf
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=outputs)
        correct = tf.cast(tf.equal(tf.argmax(outputs, axis=-1), labels), tf.float32)
        steps = tf.reduce_sum(mask)
        return {'loss': (tf.reduce_sum(ce * mask), steps),
                'accuracy': (tf.reduce_sum(correct * mask), steps)}

    def derived(self, means):
        return {'perplexity': math.exp(min(means['loss'], 700.0))}
