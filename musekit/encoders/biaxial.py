"""The biaxial encoding (Daniel Johnson's biaxial RNN, 2015): per time step and note, the
note's own features, and labels (played, articulated) per note.

Events are steps: ``(played, articulated)``, two sorted tuples of MIDI pitches, the
articulated ones a subset of the played ones (a note held over from the previous step is
played, not articulated; a repeated note is articulated again).

Stored inputs are compact, ``[2N + 1]`` int64 per step: the step's played and
articulated keys and its index in a 16-step cycle (its beat); `features` expands them,
the same way in NumPy (here) and in the model's Keras layer, to 79 numbers per note:

    position        1   the note's index in the range
    pitch class    12   one-hot
    vicinity       50   for the notes -12..+12 around it: (played, articulated) at this
                        step, 0 beyond the range's edges
    context        12   how many notes of each pitch class, counted from this note's
                        (entry j: pitch class + j), are played at this step
    beat            4   the step index's four low bits, least significant first, as +-1

Input t is step t expanded so; label t is step t+1's (played, articulated) per note.
"""
import dataclasses

import numpy as np

from musekit.encoders.base import Encoder, StepSpec, Stepper, register
from musekit.errors import MusekitError, check_int
from musekit.params import param

VICINITY = 12           # notes each side
BEAT_BITS = 4
NUM_FEATURES = 1 + 12 + 2 * (2 * VICINITY + 1) + 12 + BEAT_BITS      # 79


def vicinity_index(num_notes):
    """[N, 25] indices into a (played, articulated) row padded with VICINITY zeros each
    side: row n holds notes n-12 .. n+12."""
    return np.arange(num_notes)[:, None] + np.arange(2 * VICINITY + 1)[None, :]


def context_index(pitch_classes):
    """[N, 12]: entry j of note n is the pitch class (class of n + j) mod 12."""
    return (np.asarray(pitch_classes)[:, None] + np.arange(12)[None, :]) % 12


def beat_bits(beat):
    """[..., 4] the low four bits of `beat`, least significant first, as -1 / +1."""
    beat = np.asarray(beat, np.int64)
    return (((beat[..., None] >> np.arange(BEAT_BITS)) & 1) * 2 - 1).astype(np.float32)


def features(played, articulated, beat, min_pitch):
    """[..., N, 79] float32 features of steps (played, articulated [..., N] 0/1, beat
    [...]) over the notes min_pitch .. min_pitch + N - 1 (see the module docstring)."""
    played = np.asarray(played, np.float32)
    articulated = np.asarray(articulated, np.float32)
    lead, n = played.shape[:-1], played.shape[-1]
    classes = (min_pitch + np.arange(n)) % 12
    position = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None], lead + (n, 1))
    pitch_class = np.broadcast_to(np.eye(12, dtype=np.float32)[classes], lead + (n, 12))
    pad = [(0, 0)] * len(lead) + [(VICINITY, VICINITY)]
    both = np.stack([np.pad(played, pad), np.pad(articulated, pad)], -1)   # [..., N+24, 2]
    vicinity = both[..., vicinity_index(n), :].reshape(lead + (n, 2 * (2 * VICINITY + 1)))
    counts = played @ np.eye(12, dtype=np.float32)[classes]                # [..., 12]
    context = counts[..., context_index(classes)]                           # [..., N, 12]
    beats = np.broadcast_to(beat_bits(beat)[..., None, :], lead + (n, BEAT_BITS))
    return np.concatenate([position, pitch_class, vicinity, context, beats], -1)


def split_inputs(inputs, num_notes):
    """(played, articulated, beat) of stored inputs [..., 2N + 1]."""
    inputs = np.asarray(inputs)
    return (inputs[..., :num_notes], inputs[..., num_notes:2 * num_notes],
            inputs[..., 2 * num_notes])


@register('biaxial')
class BiaxialEncoder(Encoder):
    """Steps over the notes [min_pitch, min_pitch + num_notes) (default MIDI 24..101)."""

    piece_type = 'articulated_roll'

    @dataclasses.dataclass
    class Params:
        min_pitch: int = param(24, 'MIDI pitch of the lowest note', min=0, max=127)
        num_notes: int = param(78, 'notes from min_pitch up (at most 128 - min_pitch)', min=1,
                               max=128)

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        check_int('num_notes', self.num_notes, 1, 128 - self.min_pitch)

    @property
    def max_pitch(self):
        """One past the highest note."""
        return self.min_pitch + self.num_notes

    @property
    def input_spec(self):
        return StepSpec('int64', (2 * self.num_notes + 1,))

    @property
    def label_spec(self):
        return StepSpec('int64', (self.num_notes, 2), depth=2)

    def check_step(self, step, position):
        """(played, articulated) pitch lists of step number `position`; MusekitError if it
        is not a step of this range."""
        try:
            played, articulated = step
            played, articulated = list(played), list(articulated)
        except (TypeError, ValueError):
            raise MusekitError('step %d is %r, not a pair (played pitches, articulated '
                               'pitches)' % (position, step)) from None
        for pitch in played + articulated:
            if isinstance(pitch, bool) or not isinstance(pitch, (int, np.integer)) \
                    or not self.min_pitch <= pitch < self.max_pitch:
                raise MusekitError('step %d holds %r, not a note of the range (MIDI '
                                   '%d..%d)' % (position, pitch, self.min_pitch,
                                                self.max_pitch - 1))
        if not set(articulated) <= set(played):
            raise MusekitError('step %d articulates %s without playing it'
                               % (position, sorted(set(articulated) - set(played))))
        return played, articulated

    def validate_events(self, events):
        for position, step in enumerate(events):
            self.check_step(step, position)

    def state(self, step):
        """[N, 2] int64 (played, articulated) of one step."""
        row = np.zeros((self.num_notes, 2), np.int64)
        played, articulated = step
        row[[p - self.min_pitch for p in played], 0] = 1
        row[[p - self.min_pitch for p in articulated], 1] = 1
        return row

    def step_input(self, step, index):
        """The stored input [2N + 1] of `step`, the `index`-th of its piece."""
        state = self.state(step)
        return np.concatenate([state[:, 0], state[:, 1], [index % (1 << BEAT_BITS)]])

    def features(self, inputs):
        """[..., N, 79] features of stored inputs [..., 2N + 1]."""
        return features(*split_inputs(inputs, self.num_notes), self.min_pitch)

    def encode(self, events):
        """Speed override of the stepper's encoding (no sorting, each step once)."""
        self.validate_events(events)
        inputs = [self.step_input(s, t) for t, s in enumerate(events[:-1])]
        labels = [self.state(s) for s in events[1:]]
        return (np.array(inputs, np.int64).reshape(-1, 2 * self.num_notes + 1),
                np.array(labels, np.int64).reshape(-1, self.num_notes, 2))

    def label_to_event(self, label, events):
        label = np.asarray(label)
        played = label[:, 0] != 0
        articulated = played & (label[:, 1] != 0)
        return (tuple(int(k) + self.min_pitch for k in np.flatnonzero(played)),
                tuple(int(k) + self.min_pitch for k in np.flatnonzero(articulated)))

    def stepper(self, events):
        return BiaxialStepper(self, events)


class BiaxialStepper(Stepper):
    """Input: the stored input of each pushed step (its state and its index in the piece);
    label: its state."""

    def check(self, event, position):
        played, articulated = self.encoder.check_step(event, position)
        return tuple(sorted(played)), tuple(sorted(articulated))

    def input(self):
        return self.encoder.step_input(self._events[-1], len(self._events) - 1)

    def label(self):
        return self.encoder.state(self._events[-1])
