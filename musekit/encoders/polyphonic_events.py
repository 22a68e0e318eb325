"""Polyphonic event streams and their one-hot encoding (Magenta's polyphony_rnn).

A piece is one stream of events, step by step: each step lists its sounding notes, highest
first, as NEW_NOTE (starts here) or CONTINUED_NOTE (held from the step before), and ends
with STEP_END; a stream opens with START and closes with END. An event is the hashable
pair ``(kind, pitch)`` with Magenta's kind numbers; START, END and STEP_END carry pitch
None. Chord C-E-G held for two steps:

    (0, None)  (3, 67) (3, 64) (3, 60) (2, None)  (4, 67) (4, 64) (4, 60) (2, None)  (1, None)
"""
import collections
import numbers

import numpy as np

from musekit.encoders.base import Encoder, StepSpec, Stepper, register
from musekit.errors import MusekitError

START, END, STEP_END, NEW_NOTE, CONTINUED_NOTE = range(5)
KIND_NAMES = ('START', 'END', 'STEP_END', 'NEW_NOTE', 'CONTINUED_NOTE')
PITCHED = (NEW_NOTE, CONTINUED_NOTE)
NUM_PITCHES = 128
NUM_UNPITCHED = 3                       # START, END, STEP_END: classes 0, 1, 2
NUM_CLASSES = NUM_UNPITCHED + len(PITCHED) * NUM_PITCHES      # 259

START_EVENT, END_EVENT, STEP_END_EVENT = (START, None), (END, None), (STEP_END, None)


def new_note(pitch):
    return (NEW_NOTE, pitch)


def continued_note(pitch):
    return (CONTINUED_NOTE, pitch)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_event(event, position):
    """`event` in normal form, a (kind, pitch) tuple; MusekitError naming `position` if it
    is not a polyphonic event. Lists (from JSON) are taken, and an unpitched kind's pitch
    may be 0 (Magenta's decoder gives 0) or None."""
    if not isinstance(event, (tuple, list)) or len(event) != 2 or not _is_int(event[0]):
        raise MusekitError('polyphonic event at position %d must be a (kind, pitch) pair, '
                           'got %r' % (position, event))
    kind, pitch = int(event[0]), event[1]
    if kind in PITCHED:
        if not _is_int(pitch) or not 0 <= pitch < NUM_PITCHES:
            raise MusekitError('polyphonic event %r at position %d: a %s needs a MIDI pitch '
                               '0..127' % (tuple(event), position, KIND_NAMES[kind]))
        return (kind, int(pitch))
    if not 0 <= kind < len(KIND_NAMES):
        raise MusekitError('polyphonic event %r at position %d has kind %d; kinds are 0..4 '
                           '(%s)' % (tuple(event), position, kind, ', '.join(KIND_NAMES)))
    if pitch is not None and not (_is_int(pitch) and pitch == 0):
        raise MusekitError('polyphonic event %r at position %d: %s carries no pitch (None)'
                           % (tuple(event), position, KIND_NAMES[kind]))
    return (kind, None)


def event_class(event):
    """One-hot class of a normal-form event: START 0, END 1, STEP_END 2, NEW_NOTE p 3 + p,
    CONTINUED_NOTE p 131 + p (Magenta's PolyphonyOneHotEncoding)."""
    kind, pitch = event
    if kind < NUM_UNPITCHED:
        return kind
    return NUM_UNPITCHED + (kind - NEW_NOTE) * NUM_PITCHES + pitch


def class_event(index):
    """The event of class `index` (inverse of event_class); MusekitError outside [0, 259)."""
    if not 0 <= index < NUM_CLASSES:
        raise MusekitError('class %d is outside [0, %d)' % (index, NUM_CLASSES))
    if index < NUM_UNPITCHED:
        return (index, None)
    kind, pitch = divmod(index - NUM_UNPITCHED, NUM_PITCHES)
    return (NEW_NOTE + kind, pitch)


def step_count(events):
    """Completed steps of a stream: its STEP_END events."""
    return sum(1 for kind, _ in events if kind == STEP_END)


def notes_to_events(notes, num_steps):
    """The stream of `notes` ((pitch, start step, end step) each, end > start) over steps
    0 .. num_steps - 1 (polyphony_lib's rules): START; per step the notes held from the
    step before (CONTINUED_NOTE) and those starting (NEW_NOTE), highest pitch first (a
    pitch held and restarted: continued first; a pitch sounding twice at once appears
    twice), then STEP_END; END. Notes starting at or after num_steps are left out."""
    starts, ends = collections.defaultdict(list), collections.defaultdict(list)
    for pitch, start, end in notes:
        starts[start].append(pitch)
        ends[end].append(pitch)
    events = [START_EVENT]
    active = collections.Counter()
    for step in range(num_steps):
        for pitch in ends.get(step, ()):
            active[pitch] -= 1
        step_events = [(CONTINUED_NOTE, p) for p, n in active.items() for _ in range(n)]
        for pitch in starts.get(step, ()):
            active[pitch] += 1
            step_events.append((NEW_NOTE, pitch))
        step_events.sort(key=lambda e: -e[1])     # stable: a pitch's continued come first
        events += step_events
        events.append(STEP_END_EVENT)
    events.append(END_EVENT)
    return events


def events_to_notes(events):
    """(pitch, start step, end step) of every note a stream sounds, as Magenta's
    PolyphonicSequence.to_sequence reads it: a NEW_NOTE starts a note; at each STEP_END
    (and a final END) a note that was sounding at the step before and was not continued
    in this step ends (the earliest-started of a doubled pitch first). START anywhere and
    END before the last event are ignored; a CONTINUED_NOTE of a silent pitch too. Notes
    still sounding when the stream stops end there."""
    notes, sounding, to_end, step = [], [], [], 0
    last = len(events) - 1
    for i, (kind, pitch) in enumerate(events):
        if kind == NEW_NOTE:
            sounding.append((pitch, step))
        elif kind == CONTINUED_NOTE:
            if pitch in to_end:
                to_end.remove(pitch)
        elif kind == STEP_END or (kind == END and i == last):
            kept = []
            for pitch_start in sounding:
                if pitch_start[0] in to_end:
                    to_end.remove(pitch_start[0])
                    notes.append((pitch_start[0], pitch_start[1], step))
                else:
                    kept.append(pitch_start)
            sounding = kept
            step += 1
            to_end = [p for p, _ in sounding]
    notes += [(pitch, start, max(step, start + 1)) for pitch, start in sounding]
    return notes


def with_length(events, num_steps):
    """`events` made exactly `num_steps` steps long and closed, as Magenta's set_length: cut
    after the num_steps-th STEP_END, or padded with silent steps (an unfinished last step
    is finished first), then END. Trailing END events are dropped first."""
    events = list(events)
    while events and events[-1][0] == END:
        events.pop()
    if not events or num_steps == 0:
        return [START_EVENT, END_EVENT]
    out, steps = [], 0
    for event in events:
        if steps == num_steps:
            break
        out.append(event)
        steps += event[0] == STEP_END
    out += [STEP_END_EVENT] * (num_steps - steps)     # the first ends an unfinished step
    return out + [END_EVENT]


class _OneHotStepper(Stepper):

    def check(self, event, position):
        return check_event(event, position)

    def input(self):
        row = np.zeros(NUM_CLASSES, np.float32)
        row[self.label()] = 1.0
        return row

    def label(self):
        return event_class(self._events[-1])


@register('polyphony_one_hot')
class PolyphonyOneHotEncoder(Encoder):
    """Magenta's OneHotEventSequenceEncoderDecoder(PolyphonyOneHotEncoding()): input t is
    the one-hot class of event t (259 wide), label t the class of event t+1 (see
    event_class). No parameters: the layout covers every MIDI pitch."""

    piece_type = 'polyphonic_events'
    num_classes = NUM_CLASSES

    @property
    def input_spec(self):
        return StepSpec('float32', (NUM_CLASSES,))

    @property
    def label_spec(self):
        return StepSpec('int64', (), depth=NUM_CLASSES)

    def classes(self, events):
        """int64 class of each event (validated)."""
        return np.array([event_class(check_event(e, i)) for i, e in enumerate(events)],
                        np.int64)

    def encode(self, events):
        classes = self.classes(events)
        steps = max(len(classes) - 1, 0)
        inputs = np.zeros((steps, NUM_CLASSES), np.float32)
        inputs[np.arange(steps), classes[:steps]] = 1.0
        return inputs, classes[1:].copy() if steps else np.zeros(0, np.int64)

    def label_to_event(self, label, events):
        return class_event(int(label))

    def stepper(self, events):
        return _OneHotStepper(self, events)

    def validate_events(self, events):
        for position, event in enumerate(events):
            check_event(event, position)

    def __repr__(self):
        return 'PolyphonyOneHotEncoder()'
