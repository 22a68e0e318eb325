"""Lookback melody encoding (Magenta's lookback_rnn): one-hot events plus repeat signals.

Also holds the lookback pieces the key encoder shares: parameter checks, binary metric
counters, repeat flags and the repeat-aware labels.
"""
import dataclasses

import numpy as np

from musekit.encoders.base import register
from musekit.encoders.melody import (
    NO_EVENT, NUM_SPECIAL_EVENTS, MelodyEncoder, MelodyStepper, NoteRangeParams, check_int,
    check_note_range, class_to_melody_event, empty_encoding, event_to_class,
    events_to_classes, validate_events)
from musekit.errors import MusekitError
from musekit.params import param


@dataclasses.dataclass
class LookbackParams(NoteRangeParams):
    """Magenta's lookback encoding: the pitch range, the distances looked back and the
    bits of the metric counter."""
    lookback_distances: list[int] = param([16, 32], 'steps looked back (1 and 2 bars), '
                                          'strictly increasing', min=1, max_items=16)
    binary_counter_bits: int = param(5, 'bits of the binary step counter', min=0, max=32)


def check_lookback_distances(distances):
    """Returns `distances` as a tuple of positive, strictly increasing ints (may be empty)."""
    if isinstance(distances, (str, bytes)) or not hasattr(distances, '__iter__'):
        raise MusekitError('lookback_distances must be a list of integers, got %r' % (distances,))
    distances = tuple(check_int('lookback distance', d, 1) for d in distances)
    if any(a >= b for a, b in zip(distances, distances[1:])):
        raise MusekitError('lookback_distances must be strictly increasing, got %s'
                           % list(distances))
    return distances


def binary_counters(counts, bits):
    """float32 [len(counts), bits]: bit i of each count as +1.0 (set) or -1.0 (clear)."""
    set_bits = (np.asarray(counts, np.int64)[:, None] >> np.arange(bits)) & 1
    return (2 * set_bits - 1).astype(np.float32)


def repeats(events, distance):
    """Bool array: r[p] is True where p >= distance and events[p] == events[p - distance]."""
    n = len(events)
    flags = np.zeros(n, bool)
    if distance < n:
        flags[distance:] = events[distance:] == events[:n - distance]
    return flags


def lookback_labels(events, classes, distances, first_lookback_class, default_event=NO_EVENT):
    """Labels of positions 1..n-1 (Magenta's lookback rule).

    A repeat of the event `d` steps back takes class `first_lookback_class + index_of_d`,
    the farthest matching distance winning; otherwise the event's own class from `classes`.
    The default event (melodies: no event) before the farthest distance takes the farthest
    lookback class. `events` is an int array in which equal events are equal ints.
    """
    labels = classes[1:].astype(np.int64)
    for i, distance in enumerate(distances):
        labels[repeats(events, distance)[1:]] = first_lookback_class + i
    if distances:
        early = events[1:distances[-1]] == default_event
        labels[:len(early)][early] = first_lookback_class + len(distances) - 1
    return labels


def lookback_label(events, event_class, distances, first_lookback_class,
                   default_event=NO_EVENT):
    """The label of the last of `events` (at position p >= 1) whose own class is
    `event_class`: lookback_labels at one position."""
    position, event = len(events) - 1, events[-1]
    if distances and position < distances[-1] and event == default_event:
        return first_lookback_class + len(distances) - 1
    label = event_class
    for i, distance in enumerate(distances):
        if position >= distance and event == events[position - distance]:
            label = first_lookback_class + i
    return label


def lookback_event(lookback_index, history, distances, default_event=NO_EVENT):
    """The event a lookback class stands for: history[-d], or the default event (melodies:
    no event) if history is shorter."""
    distance = distances[lookback_index]
    return default_event if len(history) < distance else history[-distance]


def lookback_inputs(events, classes, width, distances, bits):
    """float32 [n-1, (1 + L) * width + bits + L]: the lookback inputs of positions 0..n-2
    (see LookbackMelodyEncoder) from int arrays of events (equal events equal ints) and of
    their one-hot classes (`width` of them; class 0 before the start: the default event's)."""
    steps = len(events) - 1
    positions = np.arange(steps)
    inputs = np.zeros((steps, (1 + len(distances)) * width + bits + len(distances)),
                      np.float32)
    inputs[positions, classes[:-1]] = 1.0
    offset = width
    for distance in distances:
        source = positions - distance + 1
        source_class = np.where(source >= 0, classes[np.maximum(source, 0)], 0)
        inputs[positions, offset + source_class] = 1.0
        offset += width
    inputs[:, offset:offset + bits] = binary_counters(positions + 1, bits)
    offset += bits
    for i, distance in enumerate(distances):
        inputs[:, offset + i] = repeats(events, distance)[:steps]
    return inputs


def lookback_row(events, classes, width, distances, bits):
    """The lookback input (float32) at the last of `events` (a list; any events that
    compare with ==), whose one-hot classes are the list `classes`: lookback_inputs at one
    position."""
    position = len(events) - 1
    row = np.zeros((1 + len(distances)) * width + bits + len(distances), np.float32)
    row[classes[-1]] = 1.0
    offset = width
    for distance in distances:
        source = position - distance + 1
        row[offset + (classes[source] if source >= 0 else 0)] = 1.0
        offset += width
    count = position + 1
    for i in range(bits):
        row[offset + i] = 1.0 if (count >> i) & 1 else -1.0
    offset += bits
    for i, distance in enumerate(distances):
        if position >= distance and events[position] == events[position - distance]:
            row[offset + i] = 1.0
    return row


class _LookbackStepper(MelodyStepper):

    _mutable = ('_classes',)

    def __init__(self, encoder, events):
        self._classes = []
        super().__init__(encoder, events)

    def advance(self, event):
        self._classes.append(event_to_class(event, self.encoder.min_note))

    def input(self):
        enc = self.encoder
        return lookback_row(self._events, self._classes, enc.one_hot_size,
                            enc.lookback_distances, enc.binary_counter_bits)

    def label(self):
        enc = self.encoder
        return lookback_label(self._events, self._classes[-1], enc.lookback_distances,
                              enc.one_hot_size)


class LookbackSizes:
    """The sizes of a lookback encoding of `one_hot_size` classes (melody or drums): inputs
    hold the event's and each lookback's one-hot rows, the counter bits and a repeat flag
    per distance; labels add a "repeat d steps back" class per distance."""

    @property
    def input_size(self):
        num_lookbacks = len(self.lookback_distances)
        return ((1 + num_lookbacks) * self.one_hot_size + self.binary_counter_bits
                + num_lookbacks)

    @property
    def num_classes(self):
        return self.one_hot_size + len(self.lookback_distances)


@register('lookback_melody')
class LookbackMelodyEncoder(LookbackSizes, MelodyEncoder):
    """Magenta's LookbackEventSequenceEncoderDecoder over the one-hot melody encoding.

    Input at position p (C one-hot classes, L lookbacks): [0, C) the event at p; for each
    distance d a C-wide one-hot of the event at p - d + 1 (no event before the start), i.e.
    what repeating d steps back would play next; binary counters of p + 1; and for each d
    whether the event at p repeats the one d steps back. Labels are C one-hot classes plus
    one "repeat d steps back" class per distance (see lookback_labels).
    """

    Params = LookbackParams

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        check_note_range(self.min_note, self.max_note)
        check_lookback_distances(self.lookback_distances)

    @property
    def one_hot_size(self):
        return self.max_note - self.min_note + NUM_SPECIAL_EVENTS

    def encode(self, events):
        events = validate_events(events, self.min_note, self.max_note)
        n = len(events)
        if n < 2:
            return empty_encoding(self.input_size)
        classes = events_to_classes(events, self.min_note)
        inputs = lookback_inputs(events, classes, self.one_hot_size, self.lookback_distances,
                                 self.binary_counter_bits)
        labels = lookback_labels(events, classes, self.lookback_distances, self.one_hot_size)
        return inputs, labels

    def class_to_event(self, class_index, events):
        width = self.one_hot_size
        if width <= class_index < self.num_classes:
            return lookback_event(class_index - width, events, self.lookback_distances)
        if not 0 <= class_index < self.num_classes:
            raise MusekitError('class %d is outside [0, %d)' % (class_index, self.num_classes))
        return class_to_melody_event(class_index, self.min_note, self.max_note)

    def stepper(self, events):
        return _LookbackStepper(self, events)

    def __repr__(self):
        return ('LookbackMelodyEncoder(min_note=%d, max_note=%d, lookback_distances=%s, '
                'binary_counter_bits=%d)' % (self.min_note, self.max_note,
                                             list(self.lookback_distances),
                                             self.binary_counter_bits))
