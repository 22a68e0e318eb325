"""The piano-roll encoding: each time step is the set of keys sounding (a frame), as a
multi-hot row over a keyboard (88 keys from A0, MIDI 21, by default: the layout of the
Boulanger-Lewandowski benchmark files).

Events are frames: sorted tuples of MIDI pitches. Input t is frame t's row (floats);
label t is frame t+1's row (0/1 per key), so a piece of n frames gives n-1 steps.
"""
import dataclasses

import numpy as np

from musekit.encoders.base import Encoder, StepSpec, Stepper, register
from musekit.errors import MusekitError, check_int
from musekit.params import param

PIANO_LOWEST = 21       # A0
PIANO_KEYS = 88


def frame_pitches(position, frame):
    """The pitches of frame number `position` as a list; one clear error if it is not a
    collection."""
    try:
        return list(frame)
    except TypeError:
        raise MusekitError('frame %d is %r, not a collection of pitches'
                           % (position, frame)) from None


@register('piano_roll')
class PianoRollEncoder(Encoder):
    """Frames over the keys [min_pitch, min_pitch + num_keys) as multi-hot rows."""

    piece_type = 'piano_roll'

    @dataclasses.dataclass
    class Params:
        min_pitch: int = param(PIANO_LOWEST, 'MIDI pitch of the lowest key (A0: 21)', min=0,
                               max=127)
        num_keys: int = param(PIANO_KEYS, 'keys from min_pitch up (at most 128 - min_pitch)',
                              min=1, max=128)

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        check_int('num_keys', self.num_keys, 1, 128 - self.min_pitch)

    @property
    def max_pitch(self):
        """One past the highest key."""
        return self.min_pitch + self.num_keys

    @property
    def input_spec(self):
        return StepSpec('float32', (self.num_keys,))

    @property
    def label_spec(self):
        return StepSpec('int64', (self.num_keys,), depth=2)

    def check_frame(self, frame, position):
        """The pitches of frame number `position` (a list); MusekitError if one is no key."""
        pitches = frame_pitches(position, frame)
        for pitch in pitches:
            if isinstance(pitch, bool) or not isinstance(pitch, (int, np.integer)) \
                    or not self.min_pitch <= pitch < self.max_pitch:
                raise MusekitError('frame %d holds %r, not a key of the piano roll '
                                   '(MIDI %d..%d)' % (position, pitch, self.min_pitch,
                                                      self.max_pitch - 1))
        return pitches

    def validate_events(self, events):
        for position, frame in enumerate(events):
            self.check_frame(frame, position)

    def rows(self, frames):
        """[n, num_keys] int64 multi-hot rows of n frames."""
        rows = np.zeros((len(frames), self.num_keys), np.int64)
        for t, frame in enumerate(frames):
            rows[t, [p - self.min_pitch for p in frame]] = 1
        return rows

    def encode(self, events):
        """Speed override of the stepper's encoding (one array op over all frames)."""
        self.validate_events(events)
        rows = self.rows(events)
        return rows[:-1].astype(np.float32), rows[1:]

    def label_to_event(self, label, events):
        return tuple(int(k) + self.min_pitch for k in np.flatnonzero(label))

    def frame_input(self, frame):
        """The input of one (validated, sorted) frame."""
        return self.frame_label(frame).astype(np.float32)

    def frame_label(self, frame):
        """The label of one (validated, sorted) frame: its multi-hot row."""
        return self.rows([frame])[0]

    def stepper(self, events):
        return FrameStepper(self, events)


class FrameStepper(Stepper):
    """For encodings whose input and label at a step are functions of that step's frame
    alone (`encoder.check_frame`, `frame_input`, `frame_label`)."""

    def check(self, event, position):
        return tuple(sorted(self.encoder.check_frame(event, position)))

    def input(self):
        return self.encoder.frame_input(self._events[-1])

    def label(self):
        return self.encoder.frame_label(self._events[-1])
