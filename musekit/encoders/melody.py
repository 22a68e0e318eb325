"""Melody events and their one-hot encoding (Magenta's basic_rnn / mono_rnn).

A melody is a list of ints, one per time step: -2 = no event (whatever sounds goes on),
-1 = note-off, 0..127 = note-on at that MIDI pitch. The helpers here (parameter checks,
event <-> class mapping, event validation, the shared stepper) serve every melody encoder.
"""
import abc
import dataclasses
import numbers

import numpy as np

from musekit.encoders.base import Encoder, StepSpec, Stepper, register
from musekit.errors import MusekitError, check_int  # noqa: F401  (re-exported)
from musekit.params import param

NO_EVENT = -2
NOTE_OFF = -1
NUM_SPECIAL_EVENTS = 2


@dataclasses.dataclass
class NoteRangeParams:
    """The melody encoders' pitch range: notes min_note .. max_note - 1."""
    min_note: int = param(48, 'lowest MIDI pitch of a note', min=0, max=127)
    max_note: int = param(84, 'one past the highest MIDI pitch (above min_note)', min=1,
                          max=128)


def check_note_range(min_note, max_note):
    """Returns (min_note, max_note) as ints after checking 0 <= min_note < max_note <= 128."""
    min_note = check_int('min_note', min_note, 0, 127)
    max_note = check_int('max_note', max_note, 1, 128)
    if max_note <= min_note:
        raise MusekitError('max_note (%d) must be greater than min_note (%d)'
                           % (max_note, min_note))
    return min_note, max_note


def event_to_class(event, min_note):
    """One-hot class of a valid event: no event 0, note-off 1, pitch p -> p - min_note + 2."""
    return event + NUM_SPECIAL_EVENTS if event < 0 else event - min_note + NUM_SPECIAL_EVENTS


def events_to_classes(events, min_note):
    """event_to_class over an int64 array of valid events."""
    return np.where(events < 0, events + NUM_SPECIAL_EVENTS,
                    events - min_note + NUM_SPECIAL_EVENTS)


def class_to_melody_event(class_index, min_note, max_note):
    """Inverse of event_to_class; raises MusekitError for a class outside the encoding."""
    num_classes = max_note - min_note + NUM_SPECIAL_EVENTS
    if not 0 <= class_index < num_classes:
        raise MusekitError('class %d is outside [0, %d)' % (class_index, num_classes))
    if class_index < NUM_SPECIAL_EVENTS:
        return class_index - NUM_SPECIAL_EVENTS
    return class_index - NUM_SPECIAL_EVENTS + min_note


def _bad_event_message(event, position, min_note, max_note):
    if event < NO_EVENT:
        return ('event %d at position %d is not a melody event (-2 = no event, -1 = note-off, '
                'or a pitch in [%d, %d))' % (event, position, min_note, max_note))
    return ("event %d at position %d is outside the encoder's pitch range [%d, %d)"
            % (event, position, min_note, max_note))


def validate_events(events, min_note, max_note):
    """Returns `events` as an int64 array; raises MusekitError naming the first invalid event."""
    raw = events if isinstance(events, np.ndarray) else list(events)
    if len(raw) == 0:
        return np.zeros(0, np.int64)
    arr = np.asarray(raw)
    if arr.ndim != 1 or arr.dtype.kind not in 'iu':
        raise MusekitError('melody events must be a flat sequence of integers, got %r'
                           % (raw[:8] if isinstance(raw, list) else arr.dtype))
    arr = arr.astype(np.int64, copy=False)
    bad = (arr < NO_EVENT) | ((arr >= 0) & (arr < min_note)) | (arr >= max_note)
    if bad.any():
        position = int(np.argmax(bad))
        raise MusekitError(_bad_event_message(int(arr[position]), position, min_note, max_note))
    return arr


def check_event(event, position, min_note, max_note):
    """Scalar validate_events for one event at `position`; returns it as an int."""
    if isinstance(event, bool) or not isinstance(event, numbers.Integral):
        raise MusekitError('melody event at position %d must be an integer, got %r'
                           % (position, event))
    event = int(event)
    if event < NO_EVENT or 0 <= event < min_note or event >= max_note:
        raise MusekitError(_bad_event_message(event, position, min_note, max_note))
    return event


def empty_encoding(input_size):
    """The (inputs, labels) pair of a sequence too short to give a training step."""
    return np.zeros((0, input_size), np.float32), np.zeros(0, np.int64)


class MelodyStepper(Stepper):
    """Stepper of the melody encoders: checks each event against the pitch range."""

    def check(self, event, position):
        return check_event(event, position, self.encoder.min_note, self.encoder.max_note)


class MelodyEncoder(Encoder):
    """Base of the melody encodings: float input rows, one class id per step, events
    checked against the pitch range [min_note, max_note).

    Subclasses give `input_size`, `num_classes` and `class_to_event`.
    """

    piece_type = 'melody'
    min_note = max_note = None

    @property
    @abc.abstractmethod
    def input_size(self):
        """Width of one input row."""

    @property
    @abc.abstractmethod
    def num_classes(self):
        """Number of label classes (width of the logits)."""

    @abc.abstractmethod
    def class_to_event(self, class_index, events):
        """The event that class `class_index` stands for, after the history `events`."""

    @property
    def input_spec(self):
        return StepSpec('float32', (self.input_size,))

    @property
    def label_spec(self):
        return StepSpec('int64', (), depth=self.num_classes)

    def label_to_event(self, label, events):
        return self.class_to_event(int(label), events)

    def validate_events(self, events):
        validate_events(events, self.min_note, self.max_note)


class _OneHotStepper(MelodyStepper):

    def input(self):
        row = np.zeros(self.encoder.num_classes, np.float32)
        row[self.label()] = 1.0
        return row

    def label(self):
        return event_to_class(self._events[-1], self.encoder.min_note)


@register('one_hot_melody')
class OneHotMelodyEncoder(MelodyEncoder):
    """One-hot melody events: input t is the class of event t, label t the class of event t+1.

    Classes: 0 = no event, 1 = note-off, 2 + (pitch - min_note) for pitches in
    [min_note, max_note); 38 classes for the default range, 130 for mono_rnn's [0, 128).
    """

    Params = NoteRangeParams

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        check_note_range(self.min_note, self.max_note)

    @property
    def input_size(self):
        return self.num_classes

    @property
    def num_classes(self):
        return self.max_note - self.min_note + NUM_SPECIAL_EVENTS

    def encode(self, events):
        events = validate_events(events, self.min_note, self.max_note)
        if len(events) < 2:
            return empty_encoding(self.input_size)
        classes = events_to_classes(events, self.min_note)
        inputs = np.zeros((len(events) - 1, self.input_size), np.float32)
        inputs[np.arange(len(events) - 1), classes[:-1]] = 1.0
        return inputs, classes[1:].astype(np.int64)

    def class_to_event(self, class_index, events):
        return class_to_melody_event(class_index, self.min_note, self.max_note)

    def stepper(self, events):
        return _OneHotStepper(self, events)

    def __repr__(self):
        return 'OneHotMelodyEncoder(min_note=%d, max_note=%d)' % (self.min_note, self.max_note)
