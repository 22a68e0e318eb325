"""Drum tracks and Magenta's multi-drum encodings (drums_rnn's `one_drum` and `drum_kit`).

A drum track is a list of events, one per quantized step; an event is the frozenset of MIDI
drum pitches struck at that step (empty: nothing). The encoding maps each pitch to one of
N drum types (Magenta's nine by default: kick, snare, closed and open hi-hat, three toms,
crash, ride), so a step is one of 2^N classes: bit i set when a pitch of type i is struck.
A class decodes to the first pitch of each of its types. Pitches outside every type are not
encoded (or refused, with ignore_unknown_drums false), but the events keep them: repeats are
judged on the pitches themselves, as note_seq does.
"""
import dataclasses
import numbers

import numpy as np

from musekit.encoders.base import Encoder, StepSpec, Stepper, register
from musekit.encoders.lookback import (LookbackSizes, check_lookback_distances, lookback_event,
                                       lookback_inputs, lookback_label, lookback_labels,
                                       lookback_row)
from musekit.errors import MusekitError
from musekit.params import param

NO_HITS = frozenset()
MIN_PITCH, MAX_PITCH = 0, 127
MAX_DRUM_TYPES = 12         # 4,096 classes: a one-hot row per step stays small

# Magenta's default drum types (note_seq's DEFAULT_DRUM_TYPE_PITCHES): General MIDI drums
# gathered into nine, the first pitch of each the one a generated hit is written as
DEFAULT_DRUM_TYPE_PITCHES = [
    [36, 35],                                                       # kick
    [38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85],   # snare
    [42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22],                   # closed hi-hat
    [46, 67, 72, 74, 79, 81, 26],                                   # open hi-hat
    [45, 29, 41, 43, 61, 64, 84],                                   # low tom
    [48, 47, 60, 63, 77, 86, 87],                                   # mid tom
    [50, 30, 62, 76, 83],                                           # high tom
    [49, 52, 55, 57, 58],                                           # crash
    [51, 53, 59, 82],                                               # ride
]


@dataclasses.dataclass
class DrumTypeParams:
    """Which MIDI pitches make each drum type."""
    drum_type_pitches: list[list[int]] = param(
        DEFAULT_DRUM_TYPE_PITCHES, 'MIDI pitches of each drum type, the first the one '
        "generated hits are written as (default: Magenta's nine types)", min_items=1,
        max_items=MAX_DRUM_TYPES)
    ignore_unknown_drums: bool = param(True, 'pitches in no drum type are not encoded '
                                       '(false: such a pitch is refused)')


@dataclasses.dataclass
class LookbackDrumParams(DrumTypeParams):
    """Drum types plus Magenta's lookback inputs (drum_kit: no lookbacks, 6 counter bits)."""
    lookback_distances: list[int] = param([], 'steps looked back, strictly increasing',
                                          min=1, max_items=16)
    binary_counter_bits: int = param(6, 'bits of the binary step counter', min=0, max=32)


def check_drum_types(types):
    """`types` as a tuple of tuples of pitches after checking them: 1..MAX_DRUM_TYPES
    non-empty types of MIDI pitches, no pitch in two types."""
    if not isinstance(types, (list, tuple)) or not 1 <= len(types) <= MAX_DRUM_TYPES:
        raise MusekitError('drum_type_pitches must be a list of 1 to %d drum types, got %r'
                           % (MAX_DRUM_TYPES, types))
    owner = {}
    for index, pitches in enumerate(types):
        if not isinstance(pitches, (list, tuple)) or not pitches:
            raise MusekitError('drum type %d must be a non-empty list of MIDI pitches, got %r'
                               % (index, pitches))
        for pitch in pitches:
            if isinstance(pitch, bool) or not isinstance(pitch, numbers.Integral) \
                    or not MIN_PITCH <= pitch <= MAX_PITCH:
                raise MusekitError('drum type %d lists %r, not a MIDI pitch (0..127)'
                                   % (index, pitch))
            if owner.setdefault(int(pitch), index) != index:
                raise MusekitError('MIDI pitch %d is in drum types %d and %d'
                                   % (pitch, owner[int(pitch)], index))
    return tuple(tuple(int(p) for p in pitches) for pitches in types)


def check_drum_event(event, position):
    """`event` (a set, tuple, list or 1-D array of MIDI pitches) as a frozenset;
    MusekitError naming `position` otherwise."""
    if not isinstance(event, (frozenset, set, tuple, list)) and not (
            isinstance(event, np.ndarray) and event.ndim == 1):
        raise MusekitError('drum event at position %d must be a set of MIDI pitches, got %r'
                           % (position, event))
    for pitch in event:
        if isinstance(pitch, bool) or not isinstance(pitch, numbers.Integral) \
                or not MIN_PITCH <= pitch <= MAX_PITCH:
            raise MusekitError('drum event at position %d holds %r, not a MIDI pitch (0..127)'
                               % (position, pitch))
    return event if type(event) is frozenset and all(type(p) is int for p in event) \
        else frozenset(int(p) for p in event)


class _DrumStepper(Stepper):
    """Checks each event and keeps its class."""

    _mutable = ('_classes',)

    def __init__(self, encoder, events):
        self._classes = []
        super().__init__(encoder, events)

    def check(self, event, position):
        return check_drum_event(event, position)

    def advance(self, event):
        self._classes.append(self.encoder.event_class(event, len(self._events) - 1))


class DrumEncoder(Encoder):
    """Base of the drum encodings: events are frozensets of pitches, each step one of
    2^N classes of its drum types (see the module docstring)."""

    piece_type = 'drums'
    drum_type_pitches = ignore_unknown_drums = None

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        self.drum_types = check_drum_types(self.drum_type_pitches)
        self._type_of = {p: i for i, pitches in enumerate(self.drum_types) for p in pitches}
        self._class_cache = {}

    @property
    def one_hot_size(self):
        """Classes of a step: 2 ** number of drum types."""
        return 1 << len(self.drum_types)

    def event_class(self, event, position=0):
        """The class of a checked event (a frozenset): bit i set for a pitch of type i."""
        found = self._class_cache.get(event)
        if found is not None:
            return found
        bits = 0
        for pitch in event:
            kind = self._type_of.get(pitch)
            if kind is None:
                if not self.ignore_unknown_drums:
                    raise MusekitError('drum event at position %d holds pitch %d, which is '
                                       'in no drum type (ignore_unknown_drums is false)'
                                       % (position, pitch))
                continue
            bits |= 1 << kind
        if len(self._class_cache) < 1 << 16:
            self._class_cache[event] = bits
        return bits

    def class_hits(self, class_index):
        """The event a class stands for: the first pitch of each of its drum types."""
        if not 0 <= class_index < self.one_hot_size:
            raise MusekitError('drum class %d is outside [0, %d)'
                               % (class_index, self.one_hot_size))
        return frozenset(pitches[0] for i, pitches in enumerate(self.drum_types)
                         if class_index >> i & 1)

    def checked(self, events):
        """(events as frozensets, their classes as an int64 array); MusekitError naming the
        first event it cannot encode."""
        events = [check_drum_event(e, i) for i, e in enumerate(events)]
        classes = np.array([self.event_class(e, i) for i, e in enumerate(events)], np.int64)
        return events, classes

    def validate_events(self, events):
        self.checked(events)

    @property
    def label_spec(self):
        return StepSpec('int64', (), depth=self.num_classes)

    @property
    def input_spec(self):
        return StepSpec('float32', (self.input_size,))

    def label_to_event(self, label, events):
        return self.class_hits(int(label))


class _OneHotDrumStepper(_DrumStepper):

    def input(self):
        row = np.zeros(self.encoder.one_hot_size, np.float32)
        row[self._classes[-1]] = 1.0
        return row

    def label(self):
        return self._classes[-1]


@register('multi_drum_one_hot')
class OneHotDrumEncoder(DrumEncoder):
    """Magenta's OneHotEventSequenceEncoderDecoder(MultiDrumOneHotEncoding): input t is the
    one-hot class of event t, label t the class of event t+1 (one_drum: one drum type of
    every pitch, so 2 classes, hit or not)."""

    Params = DrumTypeParams

    @property
    def input_size(self):
        return self.one_hot_size

    @property
    def num_classes(self):
        return self.one_hot_size

    def encode(self, events):
        _, classes = self.checked(events)
        steps = max(len(classes) - 1, 0)
        inputs = np.zeros((steps, self.input_size), np.float32)
        inputs[np.arange(steps), classes[:steps]] = 1.0
        return inputs, classes[1:].copy()

    def stepper(self, events):
        return _OneHotDrumStepper(self, events)


class _LookbackDrumStepper(_DrumStepper):

    def input(self):
        enc = self.encoder
        return lookback_row(self._events, self._classes, enc.one_hot_size,
                            enc.lookback_distances, enc.binary_counter_bits)

    def label(self):
        enc = self.encoder
        return lookback_label(self._events, self._classes[-1], enc.lookback_distances,
                              enc.one_hot_size, default_event=NO_HITS)


def event_keys(events):
    """int64 array numbering the distinct events (NO_HITS 0), so equal events get equal
    numbers: what the vectorised lookback comparisons take."""
    numbers_ = {NO_HITS: 0}
    return np.array([numbers_.setdefault(e, len(numbers_)) for e in events], np.int64)


@register('lookback_drums')
class LookbackDrumEncoder(LookbackSizes, DrumEncoder):
    """Magenta's LookbackEventSequenceEncoderDecoder(MultiDrumOneHotEncoding) (drum_kit: no
    lookbacks, 6 counter bits). Input at position p (C = 2^N classes, L lookbacks): a
    one-hot of the class at p; per distance d a one-hot of the class at p - d + 1 (empty
    before the start); bits of p + 1 as +-1; per d whether the event at p repeats the one d
    steps back. Labels: the C classes plus one "repeat d steps back" class per distance."""

    Params = LookbackDrumParams

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        self.lookback_distances = list(check_lookback_distances(self.lookback_distances))

    def encode(self, events):
        events, classes = self.checked(events)
        if len(events) < 2:
            return (np.zeros((0, self.input_size), np.float32), np.zeros(0, np.int64))
        keys = event_keys(events)
        inputs = lookback_inputs(keys, classes, self.one_hot_size, self.lookback_distances,
                                 self.binary_counter_bits)
        labels = lookback_labels(keys, classes, self.lookback_distances, self.one_hot_size,
                                 default_event=0)
        return inputs, labels

    def label_to_event(self, label, events):
        label = int(label)
        if self.one_hot_size <= label < self.num_classes:
            return lookback_event(label - self.one_hot_size, events, self.lookback_distances,
                                  default_event=NO_HITS)
        if not 0 <= label < self.num_classes:
            raise MusekitError('class %d is outside [0, %d)' % (label, self.num_classes))
        return self.class_hits(label)

    def stepper(self, events):
        return _LookbackDrumStepper(self, events)
