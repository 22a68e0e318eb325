"""Key-aware melody encoding (Magenta's attention_rnn KeyMelodyEncoderDecoder).

Reproduces note_seq's definition exactly, quirks included: a note-off does not clear the
attack flag, pitch 0 counts as silence (Magenta tests the current note for truthiness), and
an early no-event is labelled with the farthest lookback class.
"""
import dataclasses

import numpy as np

from musekit.encoders.base import register
from musekit.encoders.lookback import (
    LookbackParams, binary_counters, check_lookback_distances, lookback_event,
    lookback_label, lookback_labels, repeats)
from musekit.encoders.melody import (
    NO_EVENT, NOTE_OFF, NUM_SPECIAL_EVENTS, MelodyEncoder, MelodyStepper,
    check_note_range, empty_encoding, validate_events)
from musekit.errors import MusekitError
from musekit.params import param

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
# KEYS_OF_PITCH_CLASS[pc]: the major keys (0 = C ... 11 = B) whose scale holds pitch class pc.
KEYS_OF_PITCH_CLASS = tuple(tuple(key for key in range(12) if (pc - key) % 12 in MAJOR_SCALE)
                            for pc in range(12))
_KEY_MATRIX = np.array([[key in keys for key in range(12)] for keys in KEYS_OF_PITCH_CLASS],
                       np.int64)
_NO_NOTES_KEY_FLAGS = np.ones(24, np.float32)   # an empty histogram: every key ties at 0


def _max_flags(counts):
    """1.0 for every key whose count equals the maximum count, else 0.0 (per row)."""
    return (counts == counts.max(axis=-1, keepdims=True)).astype(np.float32)


def _last_index(mask):
    """For each position, the index of the last True in mask[:position + 1], or -1."""
    return np.maximum.accumulate(np.where(mask, np.arange(len(mask)), -1))


class _KeyStepper(MelodyStepper):

    _mutable = ('_recent', '_key_counts')

    def __init__(self, encoder, events):
        self._current = None        # pitch of the sounding note
        self._attack = False        # the last event other than a note-off was a note-on
        self._direction = 0.0       # +1 ascending, -1 descending, 0 unknown yet
        self._recent = []           # last 3 distinct pitches played, most recent last
        self._key_counts = [0] * 12
        self._key_flags = _NO_NOTES_KEY_FLAGS    # replaced, never mutated
        super().__init__(encoder, events)

    def advance(self, event):
        if event == NO_EVENT:
            self._attack = False
        elif event == NOTE_OFF:
            self._current = None
        else:
            self._attack = True
            self._current = event
            recent = self._recent
            if recent:
                if event > recent[-1]:
                    self._direction = 1.0
                elif event < recent[-1]:
                    self._direction = -1.0
                if event in recent:
                    recent.remove(event)
            recent.append(event)
            if len(recent) > 3:
                del recent[0]
            counts = self._key_counts
            for key in KEYS_OF_PITCH_CLASS[event % 12]:
                counts[key] += 1
            recent_counts = [0] * 12
            for pitch in recent:
                for key in KEYS_OF_PITCH_CLASS[pitch % 12]:
                    recent_counts[key] += 1
            top, recent_top = max(counts), max(recent_counts)
            self._key_flags = np.array([c == top for c in counts]
                                       + [c == recent_top for c in recent_counts], np.float32)

    def input(self):
        enc = self.encoder
        note_range = enc.note_range
        events = self._events
        position = len(events) - 1
        row = np.zeros(enc.input_size, np.float32)
        if self._current:
            row[self._current - enc.min_note] = 1.0
            row[note_range] = 1.0
        else:
            row[note_range + 1] = 1.0
        if self._attack:
            row[note_range + 2] = 1.0
        row[note_range + 3] = self._direction
        offset = note_range + 4
        for i, distance in enumerate(enc.lookback_distances):
            if position >= distance and events[position] == events[position - distance]:
                row[offset + i] = 1.0
        offset += len(enc.lookback_distances)
        count = position + 1
        for i in range(enc.binary_counter_bits):
            row[offset + i] = 1.0 if (count >> i) & 1 else -1.0
        offset += enc.binary_counter_bits
        if count % enc.steps_per_bar == 0:
            row[offset] = 1.0
        row[offset + 1:] = self._key_flags
        return row

    def label(self):
        enc, event = self.encoder, self._events[-1]
        own = (enc.note_range if event == NO_EVENT else enc.note_range + 1
               if event == NOTE_OFF else event - enc.min_note)
        return lookback_label(self._events, own, enc.lookback_distances,
                              enc.note_range + NUM_SPECIAL_EVENTS)


@register('key_melody')
class KeyMelodyEncoder(MelodyEncoder):
    """Magenta's KeyMelodyEncoderDecoder: pitch, attack, direction, repeats, meter and key.

    Input at position p (R = max_note - min_note, L lookbacks): [0, R) pitch of the sounding
    note; R a note sounds; R+1 silence; R+2 attack (the last event other than a note-off
    is a note-on); R+3 +1/-1 melody ascending/descending (0 before the first change); then
    L repeat flags (event p equals event p - d); binary counters of p + 1; start of the next
    bar; 12 flags for the major keys that best fit all notes so far; 12 for the last 3
    distinct notes. Labels: pitch - min_note, R no event, R+1 note-off, R+2+i repeat of
    lookback i.
    """

    @dataclasses.dataclass
    class Params(LookbackParams):
        binary_counter_bits: int = param(7, 'bits of the binary step counter', min=0, max=32)
        steps_per_bar: int = param(16, 'steps in a bar (the key is estimated per bar)',
                                   min=1)

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        check_note_range(self.min_note, self.max_note)
        check_lookback_distances(self.lookback_distances)

    @property
    def note_range(self):
        return self.max_note - self.min_note

    @property
    def input_size(self):
        return (self.note_range + 4 + len(self.lookback_distances) + self.binary_counter_bits
                + 1 + 24)

    @property
    def num_classes(self):
        return self.note_range + NUM_SPECIAL_EVENTS + len(self.lookback_distances)

    def encode(self, events):
        events = validate_events(events, self.min_note, self.max_note)
        if len(events) < 2:
            return empty_encoding(self.input_size)
        steps = len(events) - 1
        prefix = events[:steps]      # input rows only ever look at events up to their position
        positions = np.arange(steps)
        note_range = self.note_range
        inputs = np.zeros((steps, self.input_size), np.float32)

        last = _last_index(prefix != NO_EVENT)
        current = np.where(last >= 0, prefix[last], NOTE_OFF)
        sounding = current > 0       # Magenta's truthiness test: pitch 0 counts as silence
        inputs[positions[sounding], current[sounding] - self.min_note] = 1.0
        inputs[:, note_range] = sounding
        inputs[:, note_range + 1] = ~sounding

        last = _last_index(prefix != NOTE_OFF)
        inputs[:, note_range + 2] = (last >= 0) & (prefix[last] >= 0)

        note_positions = np.flatnonzero(prefix >= 0)
        pitches = prefix[note_positions]
        steps_up = np.sign(np.diff(pitches))
        turned = np.zeros(steps, bool)
        turned[note_positions[1:][steps_up != 0]] = True
        direction = np.append(steps_up[steps_up != 0], 0)   # index -1: no direction yet
        inputs[:, note_range + 3] = direction[np.cumsum(turned) - 1]

        offset = note_range + 4
        for i, distance in enumerate(self.lookback_distances):
            inputs[:, offset + i] = repeats(prefix, distance)
        offset += len(self.lookback_distances)
        bits = self.binary_counter_bits
        inputs[:, offset:offset + bits] = binary_counters(positions + 1, bits)
        offset += bits
        inputs[:, offset] = (positions + 1) % self.steps_per_bar == 0
        offset += 1

        # Key flags change only at note-ons: compute them per note, then spread to positions.
        key_flags = np.concatenate([self._key_flags_per_note(pitches), _NO_NOTES_KEY_FLAGS[None]])
        note_index = np.cumsum(prefix >= 0) - 1          # -1 before the first note
        inputs[:, offset:] = key_flags[note_index]

        classes = np.where(events == NO_EVENT, note_range,
                           np.where(events == NOTE_OFF, note_range + 1, events - self.min_note))
        labels = lookback_labels(events, classes, self.lookback_distances,
                                 note_range + NUM_SPECIAL_EVENTS)
        return inputs, labels

    def _key_flags_per_note(self, pitches):
        """[len(pitches), 24] key flags after each note: all notes so far, last 3 distinct."""
        num_notes = len(pitches)
        rows = np.arange(num_notes)
        pitch_classes = np.zeros((num_notes, 12), np.int64)
        pitch_classes[rows, pitches % 12] = 1
        total = _max_flags(np.cumsum(pitch_classes, axis=0) @ _KEY_MATRIX)

        # The last 3 distinct pitches are the 3 with the latest last occurrence.
        last_seen = np.full((num_notes, self.note_range), -1, np.int64)
        last_seen[rows, pitches - self.min_note] = rows
        last_seen = np.maximum.accumulate(last_seen, axis=0)
        if self.note_range > 3:
            columns = np.argpartition(last_seen, self.note_range - 3, axis=1)[:, -3:]
        else:
            columns = np.broadcast_to(np.arange(self.note_range), last_seen.shape)
        played = np.take_along_axis(last_seen, columns, axis=1) >= 0
        recent_classes = (columns + self.min_note) % 12
        recent_histogram = ((recent_classes[:, :, None] == np.arange(12))
                            & played[:, :, None]).sum(axis=1)
        recent = _max_flags(recent_histogram @ _KEY_MATRIX)
        return np.concatenate([total, recent], axis=1)

    def class_to_event(self, class_index, events):
        note_range = self.note_range
        if not 0 <= class_index < self.num_classes:
            raise MusekitError('class %d is outside [0, %d)' % (class_index, self.num_classes))
        if class_index >= note_range + NUM_SPECIAL_EVENTS:
            return lookback_event(class_index - note_range - NUM_SPECIAL_EVENTS, events,
                                  self.lookback_distances)
        if class_index == note_range + 1:
            return NOTE_OFF
        if class_index == note_range:
            return NO_EVENT
        return self.min_note + class_index

    def stepper(self, events):
        return _KeyStepper(self, events)

    def __repr__(self):
        return ('KeyMelodyEncoder(min_note=%d, max_note=%d, lookback_distances=%s, '
                'binary_counter_bits=%d, steps_per_bar=%d)'
                % (self.min_note, self.max_note, list(self.lookback_distances),
                   self.binary_counter_bits, self.steps_per_bar))
