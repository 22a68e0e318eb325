"""The encoder contract every encoding (melody, piano roll, biaxial, audio) follows."""
import abc

import numpy as np

from musekit.registry import ENCODERS


class Encoder(abc.ABC):
    """Turns an event sequence into (inputs, labels) and labels back into events.

    Inputs are float32 ``[T, input_size]``. Labels are int64: ``[T]`` class ids when
    ``label_kind == 'categorical'``, ``[T, num_classes]`` 0/1 rows when ``'multi_hot'``.
    Step t's input describes events[:t+1]; its label is events[t+1], so a sequence of
    n events gives n-1 training steps (Magenta's layout).
    """

    name = None                 # set by register()
    label_kind = 'categorical'

    @property
    @abc.abstractmethod
    def input_size(self):
        """Width of one input row."""

    @property
    @abc.abstractmethod
    def num_classes(self):
        """Number of label classes (width of the logits)."""

    @abc.abstractmethod
    def params(self):
        """Plain JSON-able dict such that ``type(self)(**params)`` rebuilds this encoder."""

    @abc.abstractmethod
    def encode(self, events):
        """Returns (inputs [n-1, input_size] float32, labels [n-1] int64) for n events."""

    @abc.abstractmethod
    def class_to_event(self, class_index, events):
        """The event that label `class_index` stands for, after the history `events`."""

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
            events.append(self.class_to_event(int(label), events))
        return events

    def to_dict(self):
        return {'name': self.name, 'params': self.params()}


class Stepper(abc.ABC):
    """Incremental encoding of a growing sequence: one input row per appended event.

    Costs O(1) (or O(window)) per step, never a re-encoding of the history.
    """

    @abc.abstractmethod
    def push(self, event):
        """Appends `event` and returns the input row (float32 [input_size]) at its position."""

    @abc.abstractmethod
    def copy(self):
        """An independent copy (beam search branches)."""

    @property
    @abc.abstractmethod
    def events(self):
        """The events pushed so far (a list; do not modify)."""


def register(name):
    """Class decorator: registers an Encoder subclass under `name`."""
    def wrap(cls):
        cls.name = name
        return ENCODERS.register(name, cls)
    return wrap


def get_encoder(name, params=None):
    """Builds the registered encoder `name` from its params dict."""
    cls = ENCODERS.get(name)
    try:
        return cls(**(params or {}))
    except TypeError as e:
        from musekit.errors import MusekitError
        raise MusekitError('bad parameters for encoder %r: %s' % (name, e)) from None


def as_event_array(events):
    return np.asarray(list(events), dtype=np.int64)
