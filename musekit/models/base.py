"""The model contract: a Keras builder for training, a NumPy step model for generation.

Generation never imports TensorFlow: it runs `step_model(weights, ...)` on the weights a
bundle carries. Weights travel as a flat ``{name: np.ndarray}`` dict with stable names.
"""
import abc

from musekit.registry import MODELS


class ModelSpec(abc.ABC):
    """One registered model family (e.g. 'rnn'); methods are static-like, state-free."""

    name = None

    @abc.abstractmethod
    def build(self, input_size, num_classes, hparams):
        """A keras.Model mapping inputs [B, T, input_size] to logits [B, T, num_classes]."""

    @abc.abstractmethod
    def export_weights(self, keras_model):
        """{stable name: np.ndarray} of every weight the step model needs."""

    @abc.abstractmethod
    def import_weights(self, keras_model, weights):
        """Loads an `export_weights` dict into a freshly built keras model."""

    @abc.abstractmethod
    def step_model(self, weights, input_size, num_classes, hparams):
        """A StepModel (NumPy) computing the same logits one step at a time."""


class StepModel(abc.ABC):
    """Batch-first incremental inference: state in, logits and state out."""

    @abc.abstractmethod
    def initial_state(self, batch_size):
        """The state before the first step (a tuple of [batch, ...] arrays)."""

    @abc.abstractmethod
    def step(self, inputs, state):
        """(logits [B, num_classes] float32, new state) for inputs [B, input_size]."""

    def select(self, state, indices):
        """The state of the batch rows `indices` (beam search reorders and copies rows)."""
        return tuple(s[indices] for s in state)


def register(name):
    def wrap(cls):
        cls.name = name
        MODELS.register(name, cls)
        return cls
    return wrap


def get_model(name):
    return MODELS.get(name)()
