"""Performance events and their encodings (Magenta's performance_rnn configs).

A performance event is a pair ``(kind, value)`` with note_seq's PerformanceEvent type
numbers: NOTE_ON (1) and NOTE_OFF (2) of a MIDI pitch 0..127, TIME_SHIFT (3) of 1 ..
max_shift_steps steps (100 steps per second), VELOCITY (4) of a bin 1 .. num_velocity_bins.

Labels are note_seq's PerformanceOneHotEncoding: NOTE_ON p -> p, NOTE_OFF p -> 128 + p,
TIME_SHIFT s -> 256 + s - 1, VELOCITY b -> 256 + max_shift_steps + b - 1. Inputs are the
same one-hot (`performance_one_hot`) or note_seq's modulo encoding (`performance_modulo`).

With `control_signals`, an event is a triple ``(kind, value, control)``: `control` is the
tuple of control values (note density, pitch-class histogram, in the configured order)
that the model's input at that event reads, or None where conditioning is switched off
(`optional_conditioning`). Inputs are then Magenta's ConditionalEventSequenceEncoderDecoder
rows: the control's encoding, then the event's. Magenta's input for event i reads the
control measured at event i + 1, so that is what the data job puts on event i; during
generation each new event keeps its row's control (`label_to_event`).
"""
import abc
import dataclasses
import math
import typing

import numpy as np

from musekit.encoders import performance_controls as controls
from musekit.encoders.base import Encoder, StepSpec, Stepper, register
from musekit.errors import MusekitError
from musekit.params import param

NOTE_ON, NOTE_OFF, TIME_SHIFT, VELOCITY = (controls.NOTE_ON, controls.NOTE_OFF,
                                           controls.TIME_SHIFT, controls.VELOCITY)
KIND_NAMES = {NOTE_ON: 'NOTE_ON', NOTE_OFF: 'NOTE_OFF', TIME_SHIFT: 'TIME_SHIFT',
              VELOCITY: 'VELOCITY'}
NUM_PITCHES = 128
MAX_VELOCITY_BINS = 127             # note_seq: one bin per MIDI velocity at most

Signal = typing.Literal['notes_per_second', 'pitch_class_histogram']


@dataclasses.dataclass
class PerformanceParams:
    """Magenta's performance encoding: time grid, velocity bins and control signals."""
    num_velocity_bins: int = param(0, 'velocity bins (0: no VELOCITY events)', min=0,
                                   max=MAX_VELOCITY_BINS)
    max_shift_steps: int = param(100, 'the longest TIME_SHIFT, in steps', min=1, max=1000)
    # at most 200: the MIDI writer's grid (musekit.output.midi) holds it at 60 qpm
    steps_per_second: int = param(100, 'time steps per second', min=1, max=200)
    control_signals: list[Signal] = param([], 'control signals beside each event, in input '
                                          'order (none: unconditioned)', max_items=2)
    optional_conditioning: bool = param(False, 'a disable flag before the controls, so '
                                        'conditioning can be switched off')
    density_bin_ranges: list[float] = param([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
                                            'note-density bin bounds (notes per second, '
                                            'increasing); one more bin than bounds',
                                            min=0.0, min_items=1, max_items=64)
    density_window_seconds: float = param(3.0, 'window the note density is counted over',
                                          above=0.0, max=3600.0)
    histogram_window_seconds: float = param(5.0, 'window the pitch-class histogram is '
                                            'measured over', above=0.0, max=3600.0)
    histogram_prior_count: float = param(0.01, 'added to every pitch-class weight', min=0.0,
                                         max=1e6)


def check_params(encoder):
    """Cross-field checks of PerformanceParams."""
    signals = encoder.control_signals
    if len(set(signals)) != len(signals):
        raise MusekitError('control_signals of encoder %r name a signal twice: %s'
                           % (encoder.name, signals))
    if encoder.optional_conditioning and not signals:
        raise MusekitError('optional_conditioning of encoder %r needs control_signals'
                           % encoder.name)
    bounds = encoder.density_bin_ranges
    if any(a >= b for a, b in zip(bounds, bounds[1:])):
        raise MusekitError('density_bin_ranges of encoder %r must increase, got %s'
                           % (encoder.name, bounds))


class PerformanceStepper(Stepper):
    """Stepper of the performance encoders: one event in, its input row and label out."""

    def check(self, event, position):
        return self.encoder.check_event(event, position)

    def input(self):
        return self.encoder.event_input(self._events[-1])

    def label(self):
        return self.encoder.event_class(self._events[-1])


class PerformanceEncoder(Encoder):
    """Base of the performance encodings: one-hot labels over note_seq's performance
    events, optional control signals before each input row. Subclasses give the event's
    own input (`target_size`, `target_rows`)."""

    piece_type = 'performance'
    Params = PerformanceParams

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        check_params(self)
        self._ranges = [(NOTE_ON, 0, NUM_PITCHES - 1), (NOTE_OFF, 0, NUM_PITCHES - 1),
                        (TIME_SHIFT, 1, self.max_shift_steps)]
        if self.num_velocity_bins:
            self._ranges.append((VELOCITY, 1, self.num_velocity_bins))
        self._offsets, offset = {}, 0
        for kind, low, high in self._ranges:
            self._offsets[kind] = offset - low
            offset += high - low + 1
        self._num_classes = offset
        self._bounds = {kind: (low, high) for kind, low, high in self._ranges}
        self._density_window = controls.window_steps(self.density_window_seconds,
                                                     self.steps_per_second)
        self._histogram_window = controls.window_steps(self.histogram_window_seconds,
                                                       self.steps_per_second)

    # --- sizes --------------------------------------------------------------------------

    @property
    def num_classes(self):
        return self._num_classes

    @property
    def conditioned(self):
        return bool(self.control_signals)

    @property
    def control_size(self):
        """Width of the control part of an input row (0 unconditioned)."""
        sizes = {controls.NOTES_PER_SECOND: len(self.density_bin_ranges) + 1,
                 controls.PITCH_CLASS_HISTOGRAM: controls.NOTES_PER_OCTAVE}
        return sum(sizes[s] for s in self.control_signals) + int(self.optional_conditioning)

    @property
    @abc.abstractmethod
    def target_size(self):
        """Width of the event part of an input row."""

    @property
    def input_size(self):
        return self.control_size + self.target_size

    @property
    def input_spec(self):
        return StepSpec('float32', (self.input_size,))

    @property
    def label_spec(self):
        return StepSpec('int64', (), depth=self.num_classes)

    # --- events -------------------------------------------------------------------------

    def check_event(self, event, position):
        """`event` in normal form (a tuple of ints, and a checked control); MusekitError
        naming `position` for anything this encoder cannot encode."""
        width = 3 if self.conditioned else 2
        if isinstance(event, (str, bytes)) or not isinstance(event, (tuple, list)) \
                or len(event) != width:
            raise MusekitError('performance event at position %d must be %s, got %r' % (
                position, '(kind, value, control)' if self.conditioned else '(kind, value)',
                event))
        kind, value = event[0], event[1]
        for what, number in (('kind', kind), ('value', value)):
            if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
                raise MusekitError('performance event at position %d: its %s must be an '
                                   'integer, got %r' % (position, what, number))
        kind, value = int(kind), int(value)
        bounds = self._bounds
        if kind not in bounds:
            raise MusekitError('performance event at position %d has kind %d; this encoder '
                               'knows %s' % (position, kind, ', '.join(
                                   '%d (%s)' % (k, KIND_NAMES[k]) for k in bounds)))
        low, high = bounds[kind]
        if not low <= value <= high:
            raise MusekitError('performance event at position %d: %s value %d is outside '
                               '[%d, %d]' % (position, KIND_NAMES[kind], value, low, high))
        if not self.conditioned:
            return (kind, value)
        return (kind, value, self.check_control(event[2], 'performance event at position %d'
                                                % position))

    def check_control(self, control, where):
        """A control in normal form: None (conditioning off, optional configs only) or a
        tuple of one checked value per control signal."""
        if control is None:
            if not self.optional_conditioning:
                raise MusekitError('%s: this encoder is always conditioned; its control '
                                   'cannot be None' % where)
            return None
        if isinstance(control, (str, bytes)) or not isinstance(control, (tuple, list)) \
                or len(control) != len(self.control_signals):
            raise MusekitError('%s: the control must be a tuple of %d value%s (%s), got %r'
                               % (where, len(self.control_signals),
                                  's' if len(self.control_signals) > 1 else '',
                                  ', '.join(self.control_signals), control))
        return tuple(controls.CHECKS[signal](value, where)
                     for signal, value in zip(self.control_signals, control))

    def validate_events(self, events):
        for position, event in enumerate(events):
            self.check_event(event, position)

    def event_class(self, event):
        """The one-hot class (label) of a valid event."""
        return self._offsets[event[0]] + event[1]

    def class_to_event(self, class_index):
        """The (kind, value) pair of a class; MusekitError outside the encoding."""
        class_index = int(class_index)
        if not 0 <= class_index < self._num_classes:
            raise MusekitError('class %d is outside [0, %d)'
                               % (class_index, self._num_classes))
        for kind, low, high in self._ranges:
            if class_index <= self._offsets[kind] + high:
                return (kind, class_index - self._offsets[kind])
        raise AssertionError('unreachable')

    def label_to_event(self, label, events):
        pair = self.class_to_event(label)
        if not self.conditioned:
            return pair
        return pair + (events[-1][2] if events else self.default_control(),)

    def default_control(self):
        """Magenta's default control values (15 notes per second, a flat histogram)."""
        return tuple(controls.DEFAULTS[signal] for signal in self.control_signals)

    # --- inputs -------------------------------------------------------------------------

    def control_input(self, control):
        """The control part of an input row, a list of floats."""
        row = []
        if self.optional_conditioning:
            if control is None:
                return [1.0] + [0.0] * (self.control_size - 1)
            row.append(0.0)
        for signal, value in zip(self.control_signals, control):
            if signal == controls.NOTES_PER_SECOND:
                one_hot = [0.0] * (len(self.density_bin_ranges) + 1)
                one_hot[controls.density_bin(value, self.density_bin_ranges)] = 1.0
                row += one_hot
            else:
                row += controls.histogram_input(value)
        return row

    @abc.abstractmethod
    def target_rows(self, classes):
        """float32 [len(classes), target_size]: the event part of the rows of these
        events' classes."""

    def event_input(self, event):
        """The input row (float32 [input_size]) at a valid event."""
        target = self.target_rows(np.array([self.event_class(event)]))[0]
        if not self.conditioned:
            return target
        return np.concatenate([np.asarray(self.control_input(event[2]), np.float32), target])

    def encode(self, events):
        """The stepper's encoding, vectorised over the event part (controls are read once
        per distinct control value)."""
        events = [self.check_event(e, i) for i, e in enumerate(events)]
        steps = max(len(events) - 1, 0)
        if steps == 0:
            return (np.zeros((0, self.input_size), np.float32), np.zeros(0, np.int64))
        classes = np.fromiter((self.event_class(e) for e in events), np.int64, len(events))
        target = self.target_rows(classes[:-1])
        if not self.conditioned:
            return target, classes[1:]
        rows, cache = [], {}
        for event in events[:-1]:
            control = event[2]
            if control not in cache:
                cache[control] = np.asarray(self.control_input(control), np.float32)
            rows.append(cache[control])
        return np.concatenate([np.stack(rows), target], axis=1), classes[1:]

    def stepper(self, events):
        return PerformanceStepper(self, events)

    # --- what the data job and the piece type ask -------------------------------------------

    def with_control(self, pairs, control):
        """Events of the (kind, value) `pairs`, each carrying `control` (unconditioned:
        the pairs themselves)."""
        if not self.conditioned:
            return [tuple(p) for p in pairs]
        control = self.check_control(control, 'control')
        return [(kind, value, control) for kind, value in pairs]

    def measured_controls(self, pairs):
        """The control tuple Magenta's input reads at each event of a performance: the
        signals measured at the next event (the last event keeps its own, unused by
        training)."""
        measured = []
        for signal in self.control_signals:
            if signal == controls.NOTES_PER_SECOND:
                measured.append(controls.note_densities(pairs, self._density_window,
                                                        self.steps_per_second))
            else:
                measured.append(controls.pitch_histograms(
                    pairs, self._histogram_window, self.steps_per_second,
                    self.histogram_prior_count))
        per_event = list(zip(*measured))
        return per_event[1:] + per_event[-1:]

    def training_sequences(self, pairs):
        """The event sequences the data job writes for one performance (a list of
        (kind, value) pairs): the pairs; with controls, the pairs with their measured
        controls; with optional conditioning that and a copy with conditioning off (as
        Magenta writes each performance twice)."""
        pairs = [tuple(p) for p in pairs]
        if not self.conditioned:
            return [pairs]
        measured = self.measured_controls(pairs) if pairs else []
        sequences = [[pair + (control,) for pair, control in zip(pairs, measured)]]
        if self.optional_conditioning:
            sequences.append([pair + (None,) for pair in pairs])
        return sequences

    def __repr__(self):
        return '%s(%s)' % (type(self).__name__, ', '.join(
            '%s=%r' % kv for kv in self.params().items()))


@register('performance_one_hot')
class PerformanceOneHotEncoder(PerformanceEncoder):
    """Input = label = note_seq's PerformanceOneHotEncoding of the event (356 classes
    without velocity, 388 with 32 bins), after the controls if any."""

    @property
    def target_size(self):
        return self.num_classes

    def target_rows(self, classes):
        rows = np.zeros((len(classes), self.num_classes), np.float32)
        rows[np.arange(len(classes)), classes] = 1.0
        return rows


# note_seq's modulo encoding: per kind a valid bit and (cos, sin) pairs; pitches also on a
# circle of 144 notes and of 12 pitch classes
MODULO_PITCH_WIDTH, MODULO_OTHER_WIDTH = 5, 3
NOTE_CIRCLE = 144


@register('performance_modulo')
class PerformanceModuloEncoder(PerformanceEncoder):
    """note_seq's ModuloPerformanceEventSequenceEncoderDecoder: inputs place each event on
    circles (13 numbers without velocity, 16 with), labels are one-hot classes.

    Row layout: NOTE_ON [0, 5) and NOTE_OFF [5, 10): valid bit, (cos, sin) of the pitch on
    a circle of 144 notes, (cos, sin) of its pitch class on a circle of 12; TIME_SHIFT
    [10, 13): valid bit, (cos, sin) of (steps - 1) on a circle of max_shift_steps; VELOCITY
    [13, 16): valid bit, (cos, sin) of (bin - 1) on a circle of num_velocity_bins."""

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        table = np.zeros((self.num_classes, self.target_size), np.float64)

        def circle(value, size):
            angle = float(value) * 2.0 * math.pi / float(size)
            return math.cos(angle), math.sin(angle)

        for index in range(self.num_classes):
            kind, value = self.class_to_event(index)
            if kind in (NOTE_ON, NOTE_OFF):
                offset = 0 if kind == NOTE_ON else MODULO_PITCH_WIDTH
                note_angle = float(value) * math.pi / 72.0          # as note_seq computes it
                pitch_class_angle = float(value % 12) * math.pi / 6.0
                table[index, offset:offset + MODULO_PITCH_WIDTH] = (
                    1.0, math.cos(note_angle), math.sin(note_angle),
                    math.cos(pitch_class_angle), math.sin(pitch_class_angle))
            elif kind == TIME_SHIFT:
                offset = 2 * MODULO_PITCH_WIDTH
                table[index, offset:offset + 3] = (1.0,) + circle(value - 1,
                                                                  self.max_shift_steps)
            else:
                offset = 2 * MODULO_PITCH_WIDTH + MODULO_OTHER_WIDTH
                table[index, offset:offset + 3] = (1.0,) + circle(value - 1,
                                                                  self.num_velocity_bins)
        self._table = table.astype(np.float32)

    @property
    def target_size(self):
        return 2 * MODULO_PITCH_WIDTH + MODULO_OTHER_WIDTH * (1 + bool(self.num_velocity_bins))

    def target_rows(self, classes):
        return self._table[classes]
