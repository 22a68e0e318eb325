"""The model-family contract: a Keras model and its loss for training, a NumPy step model
for generation, and the batching its training wants.

Generation never imports TensorFlow: it runs `step_model(weights, ...)` on the weights a
bundle carries. Weights travel as a flat ``{name: np.ndarray}`` dict with stable names,
which the family defines through `weight_variables`.
"""
import abc
import dataclasses
import math

import numpy as np

from musekit import params
from musekit.data.batching import Bucketed
from musekit.errors import MusekitError, check_int
from musekit.params import param
from musekit.registry import MODELS


# the most layers a declared architecture may stack: bounds what is built from a config
# (or a hostile bundle's) before its memory can be estimated
MAX_LAYERS = 64


@dataclasses.dataclass
class TrainingHparams:
    """The hparams every family trains with; a family's `Hparams` subclasses this."""
    batch_size: int = param(64, 'sequences (or crops) per training batch', min=1)
    learning_rate: float = param(0.001, "Adam's learning rate", above=0.0)
    clip_norm: float | None = param(None, 'clip gradients to this global norm (null: no '
                                    'clipping)', above=0.0)
    decay_steps: int | None = param(None, 'multiply the learning rate by decay_rate every '
                                    'this many steps, smoothly (null: constant rate)', min=1)
    decay_rate: float | None = param(None, 'the decay factor per decay_steps or '
                                     'decay_epochs (null: none)', above=0.0, max=1.0)
    decay_epochs: float | None = param(None, 'multiply the learning rate by decay_rate every '
                                       'this many epochs (passes over the training examples '
                                       "that the data's dataset.json counts, at batch_size), "
                                       'smoothly; instead of decay_steps, so a schedule fits '
                                       'any dataset', above=0.0)


class ModelFamily(abc.ABC):
    """One registered model family (e.g. 'events_rnn'): stateless, its methods are pure.

    `Hparams` (a dataclass subclassing TrainingHparams) declares every hparam the family
    reads, typed, with defaults, bounds and help; a config's JSON only overrides them. The
    fields declared `architecture=True` fix the weights' shapes (`architecture_hparams`),
    so a resumed run refuses to change them. Every method below receives the hparams
    complete and checked (`resolve_hparams`).
    """

    name = None                 # set by the registry
    Hparams = TrainingHparams
    trainable = True            # False: a family that only generates (imported weights)
    mixed_precision = False     # True: trains correctly under Keras's mixed_float16 policy

    @property
    def architecture_hparams(self):
        return params.architecture_names(self.Hparams)

    def resolve_hparams(self, hparams, owner=''):
        """`hparams` (a dict) with every declared hparam filled in and checked: one
        MusekitError line names an unknown, mistyped or out-of-bounds one."""
        return params.as_dict(params.bind(self.Hparams, hparams, 'hparam', owner))

    @abc.abstractmethod
    def build(self, encoder, hparams):
        """A keras.Model from inputs [B, T, *encoder.input_spec.shape] to the outputs its
        objective reads (e.g. logits [B, T, classes])."""

    @abc.abstractmethod
    def objective(self, encoder, hparams):
        """The Objective (loss and metrics) that training minimises and reports."""

    @abc.abstractmethod
    def weight_variables(self, keras_model):
        """{stable name: keras Variable} of every weight the step model needs."""

    @abc.abstractmethod
    def weight_shapes(self, encoder, hparams):
        """{stable name: shape} of every weight `weight_variables` names, from the config
        alone: bundles are checked against it and training's memory estimated from it."""

    @abc.abstractmethod
    def step_model(self, weights, encoder, hparams):
        """A StepModel (NumPy) computing the same outputs one step at a time."""

    def training_memory(self, encoder, hparams, batch_size, steps):
        """(parameters, estimated bytes to train them on batches of `batch_size` sequences
        of `steps` steps), before anything is built. Per parameter: the weight, its
        gradient and Adam's two moments (16 bytes). Per sequence step: each weight matrix's
        output width, kept for the backward pass with its gradient and a temporary (12
        bytes each). A family whose activations grow otherwise (attention windows, a
        note axis) overrides this."""
        shapes = self.weight_shapes(encoder, hparams)
        parameters = sum(math.prod(int(d) for d in shape) for shape in shapes.values())
        per_step = sum(int(shape[-1]) for shape in shapes.values() if len(shape) == 2)
        return parameters, 16 * parameters + 12 * batch_size * steps * per_step

    def training_outputs(self, model, inputs, labels, training):
        """The outputs the objective reads for a batch: `model(inputs)` by default; a family
        whose training feeds the labels back in (teacher forcing inside a step) overrides
        this."""
        return model(inputs, training=training)

    def batching(self, hparams):
        """How training batches are cut: whole sequences bucketed by length by default."""
        return Bucketed()

    def export_weights(self, keras_model):
        """{stable name: float32 array} of the model's current weights."""
        return {name: np.array(var.numpy(), dtype=np.float32)
                for name, var in self.weight_variables(keras_model).items()}

    def import_weights(self, keras_model, weights):
        """Loads an `export_weights` dict into a freshly built keras model."""
        variables = self.weight_variables(keras_model)
        check_weights(weights, {n: tuple(v.shape) for n, v in variables.items()},
                      '%s model' % self.name)
        for name, var in variables.items():
            var.assign(np.asarray(weights[name], dtype=np.float32))


class StepModel(abc.ABC):
    """Batch-first incremental inference: state in, outputs and state out, plus how one
    step's label is drawn from those outputs (a categorical class by default).

    The state rule, for every family: `step` (and `step_and_sample`) consumes the state it
    is given. It may update those arrays in place and return them, so a caller keeps only
    the state returned and never reads the one it passed in again. To keep a state (beam
    search branching rows), take `select(state, rows)` first: its arrays share no memory
    with `state` or with each other. A step model is built from `musekit.layers.cells`
    cells, whose calls follow the same rule.

    `supports_beam_search`: whether the log-probabilities it returns with each sampled
    label make branches comparable, so generation may run beam search.
    """

    supports_beam_search = True
    modes = ('sample',)         # how `sample` may draw labels; the first is the default
    mode = 'sample'
    top_k = 0                   # categorical sampling from the k likeliest classes (0: all)

    def with_top_k(self, k):
        """This step model drawing each class from the `k` likeliest only (renormalised)."""
        if type(self).sample is not StepModel.sample \
                or type(self).step_and_sample is not StepModel.step_and_sample:
            raise MusekitError('top-k sampling applies to models that draw one class per '
                               'step; this one draws its labels its own way')
        return self._copy_with(top_k=check_int('top_k', k, 0))

    def with_mode(self, mode):
        """This step model drawing labels the way `mode` (one of `modes`) says."""
        if mode not in self.modes:
            raise MusekitError('sampling %r is not offered by this model; it offers %s'
                               % (mode, ', '.join(self.modes)))
        return self._copy_with(mode=mode)

    def _copy_with(self, **attributes):
        import copy
        model = copy.copy(self)
        model.__dict__.update(attributes)
        return model

    @abc.abstractmethod
    def initial_state(self, batch_size):
        """The state before the first step (a tuple of [batch, ...] arrays)."""

    @abc.abstractmethod
    def step(self, inputs, state):
        """(outputs [B, ...] e.g. logits, new state) for one step's inputs [B, ...]; `state`
        is consumed (the state rule above)."""

    def select(self, state, indices):
        """The state of the batch rows `indices` (repeats allowed), in new arrays: beam
        search reorders and copies rows. (Integer-array indexing always copies.)"""
        return tuple(s[indices] for s in state)

    def sample(self, outputs, temperature, rng):
        """(labels [B, ...], log-probabilities [B] of those labels) drawn from `outputs`."""
        from musekit.generation.sampling import sample_categorical
        return sample_categorical(outputs, temperature, rng, self.top_k)

    def step_and_sample(self, inputs, state, temperature, rng):
        """(labels, log-probabilities, new state): one generation step. A family whose step
        itself samples (a note-by-note loop inside one time step) overrides this."""
        outputs, state = self.step(inputs, state)
        labels, log_probs = self.sample(outputs, temperature, rng)
        return labels, log_probs, state


def check_weights(weights, expected, what):
    """Raises MusekitError unless `weights` has exactly the names and shapes of `expected`."""
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise MusekitError('weights do not fit the %s: %s' % (what, '; '.join(
            part for part in ('missing ' + ', '.join(missing) if missing else '',
                              'unexpected ' + ', '.join(extra) if extra else '') if part)))
    for name, shape in expected.items():
        got = tuple(np.shape(weights[name]))
        if got != tuple(shape):
            raise MusekitError('weight %s has shape %s but the %s needs %s'
                               % (name, got, what, tuple(shape)))


def register(name):
    """Class decorator: registers a ModelFamily subclass under `name`."""
    return MODELS.register(name)


def get_model(name):
    """The model family registered as `name` (an instance)."""
    return MODELS.create(name)
