"""The encoder contract every encoding (melody, piano roll, biaxial, audio) follows.

An encoder declares the dtype and per-step shape of its inputs and labels (`StepSpec`);
the data files, the training batches and the model's input layer all follow that
declaration, so a new encoding never touches shared code.
"""
import abc
import collections
import copy
import dataclasses
import math

import numpy as np

from musekit.errors import MusekitError
from musekit.params import Declared
from musekit.registry import ENCODERS

DTYPES = ('float32', 'int64')


@dataclasses.dataclass(frozen=True)
class StepSpec:
    """One time step of a feature: its dtype and shape, and for integer features the
    number of values each element takes (`depth`: a one-hot index, a class id, 2 for 0/1).

    Melody inputs are ``StepSpec('float32', (121,))``; a class label is
    ``StepSpec('int64', (), depth=40)``; 88 multi-hot keys ``StepSpec('int64', (88,), 2)``;
    a mu-law sample input ``StepSpec('int64', (), depth=256)``.
    """
    dtype: str
    shape: tuple = ()
    depth: int = None

    def __post_init__(self):
        object.__setattr__(self, 'shape', tuple(int(d) for d in self.shape))
        if self.dtype not in DTYPES:
            raise ValueError('a StepSpec dtype is one of %s, not %r' % (DTYPES, self.dtype))
        if any(d <= 0 for d in self.shape):
            raise ValueError('a StepSpec shape has positive sizes, not %s' % (self.shape,))
        if self.depth is not None and (self.dtype != 'int64' or self.depth < 1):
            raise ValueError('depth is a positive count of an int64 feature\'s values')

    @property
    def size(self):
        """Numbers per step, as stored in a SequenceExample (the shape flattened)."""
        return math.prod(self.shape)

    def describe(self):
        text = '%s %s' % (self.dtype, list(self.shape))
        return text + (' in [0, %d)' % self.depth if self.depth else '')


class Encoder(Declared, abc.ABC):
    """Turns an event sequence into (inputs, labels) and sampled labels back into events.

    Step t's input describes events[:t+1]; its label is events[t+1], so a sequence of
    n events gives n-1 training steps (Magenta's layout). `encode` returns arrays
    ``[n-1, *input_spec.shape]`` and ``[n-1, *label_spec.shape]``. `piece_type` names the
    registered PieceType that reads primers and writes outputs for these events.
    """

    name = None                 # set by the registry
    parameter_owner = 'encoder'
    piece_type = None
    needs_fitting = False       # True: its params are learnt from the training data first
    unknown_label = None        # a label for "outside the vocabulary": decodes to a stand-in

    def statistics(self, events):
        """What fitting learns from one training sequence, as a Counter that the dataset
        job sums over the training part (nothing by default)."""
        return collections.Counter()

    def fitted(self, counts):
        """The params of this encoder fitted to `counts` (the summed `statistics`, a Counter
        keyed by strings)."""
        return self.params()

    def describe_fit(self):
        """What fitting learnt, in a few words, for the dataset job's log."""
        return 'fitted'

    @property
    @abc.abstractmethod
    def input_spec(self):
        """StepSpec of one step's input."""

    @property
    @abc.abstractmethod
    def label_spec(self):
        """StepSpec of one step's label."""

    def encode(self, events):
        """(inputs, labels) arrays for n events, n-1 steps each (see the class doc).

        Derived from the stepper, which defines the encoding: input t is what pushing event
        t returns, label t the stepper's `label()` once event t+1 is pushed. A family may
        override this with a vectorised version; musekit.testing.check_encoder proves the
        two equal."""
        stepper = self.stepper(())
        inputs, labels = [], []
        for event in events:
            inputs.append(stepper.push(event))
            if len(inputs) > 1:
                labels.append(stepper.label())
        return _stacked(inputs[:-1], self.input_spec), _stacked(labels, self.label_spec)

    @abc.abstractmethod
    def label_to_event(self, label, events):
        """The event that a sampled `label` stands for, after the history `events`."""

    @abc.abstractmethod
    def stepper(self, events):
        """A Stepper primed with `events`; generation feeds it one new event at a time."""

    @abc.abstractmethod
    def validate_events(self, events):
        """Raises MusekitError naming the first event this encoder cannot encode."""

    def decode(self, labels, primer=()):
        """Appends the events of `labels` to a copy of `primer` and returns the list."""
        events = list(primer)
        for label in labels:
            events.append(self.label_to_event(label, events))
        return events

    def to_dict(self):
        return {'name': self.name, 'params': self.params()}


def _stacked(rows, spec):
    """[len(rows), *spec.shape] array of spec.dtype from per-step rows."""
    return np.array(rows, spec.dtype).reshape((len(rows),) + spec.shape)


class Stepper(abc.ABC):
    """Incremental encoding of a growing sequence, and the definition of an encoding: the
    input at each appended event and the label each event has as a training target
    (`Encoder.encode` derives from these).

    A subclass writes `check` (validate and normalise one event), `input` and `label` (of
    the last event) and, where it carries state beyond the events, `advance`, naming its
    mutable containers in `_mutable` so that `copy` copies them. Costs O(1) (or O(window))
    per step, never a re-encoding of the history.
    """

    _mutable = ()

    def __init__(self, encoder, events=()):
        self.encoder = encoder
        self._events = []
        for event in events:
            self.append(event)

    @abc.abstractmethod
    def check(self, event, position):
        """`event` validated and in its normal form; MusekitError naming `position` if
        the encoder cannot encode it."""

    def advance(self, event):
        """Updates the running state after `event` was appended (no state by default)."""

    @abc.abstractmethod
    def input(self):
        """The input (one step, `input_spec`) at the last event."""

    @abc.abstractmethod
    def label(self):
        """The label (one step, `label_spec`) of the last event, as the target of the step
        before it (so defined from the second event on)."""

    def append(self, event):
        """Appends `event` without computing an input (priming)."""
        event = self.check(event, len(self._events))
        self._events.append(event)
        self.advance(event)

    def push(self, event):
        """Appends `event` and returns the input (one step, `input_spec`) at its position."""
        self.append(event)
        return self.input()

    def copy(self):
        """An independent copy (beam search branches)."""
        new = copy.copy(self)
        new._events = list(self._events)
        for name in self._mutable:
            setattr(new, name, copy.copy(getattr(self, name)))
        return new

    @property
    def events(self):
        """The events pushed so far, in normal form (a list; do not modify)."""
        return self._events


def check_contract(encoder):
    """Raises MusekitError where an encoder breaks what the rest of musekit relies on:
    integer labels, and a registered piece type for generation."""
    from musekit.registry import PIECES
    if encoder.label_spec.dtype != 'int64':
        raise MusekitError('encoder %r declares %s labels; labels are int64 (class ids, 0/1 '
                           'keys)' % (encoder.name, encoder.label_spec.dtype))
    if not isinstance(encoder.piece_type, str) or encoder.piece_type not in PIECES:
        raise MusekitError('encoder %r names piece type %r; known: %s'
                           % (encoder.name, encoder.piece_type, ', '.join(PIECES.names())))


def register(name):
    """Class decorator: registers an Encoder subclass under `name`."""
    return ENCODERS.register(name)


def get_encoder(name, params=None):
    """Builds the registered encoder `name` from its params dict."""
    try:
        return ENCODERS.create(name, params)
    except TypeError as e:      # a constructor that rejects a value's type
        raise MusekitError('bad parameters for encoder %r: %s' % (name, e)) from None

