"""Chord tokens (the "Play Bach" approach): each frame's set of sounding pitches is one
token, spelled like "A2.G#3" (a rest is "R"), and a piece is a sequence of token ids.

The vocabulary is learnt from the training data by the dataset job (`needs_fitting`,
`statistics`, `fitted`): tokens seen fewer than `min_count` times, or beyond the
`max_size` most frequent, become the unknown token (id 0). It is stored in the encoder's
params, so every run and bundle carries its own. Generation reads a sampled unknown token
as the previous frame held.
"""
import collections
import dataclasses
import re

import numpy as np

from musekit.encoders.base import Encoder, StepSpec, register
from musekit.encoders.piano_roll import FrameStepper, frame_pitches
from musekit.errors import MusekitError
from musekit.params import param

NAMES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')
REST = 'R'
UNKNOWN = '<unk>'
_NOTE = re.compile(r'^([A-G]#?)(-?\d+)$')


def pitch_name(pitch):
    """MIDI 60 -> 'C4', 56 -> 'G#3' (scientific pitch notation, sharps only)."""
    return '%s%d' % (NAMES[pitch % 12], pitch // 12 - 1)


def frame_token(frame):
    """The token of a frame: its pitch names low to high joined by '.', or 'R'."""
    return '.'.join(pitch_name(p) for p in sorted(frame)) if frame else REST


def token_frame(token):
    """The frame (sorted pitch tuple) a token spells; MusekitError if it spells none."""
    if token == REST:
        return ()
    pitches = []
    for name in token.split('.'):
        match = _NOTE.match(name)
        if not match or match.group(1) not in NAMES:
            raise MusekitError('%r is not a chord token (like "A2.G#3" or "R")' % token)
        pitch = NAMES.index(match.group(1)) + 12 * (int(match.group(2)) + 1)
        if not 0 <= pitch <= 127:
            raise MusekitError('chord token %r has a pitch outside MIDI' % token)
        pitches.append(pitch)
    return tuple(sorted(pitches))


@register('chord_tokens')
class ChordTokenEncoder(Encoder):
    """Input t: the id of frame t's token; label t: the id of frame t+1's token.

    `vocabulary` lists the known tokens (ids 1..n; id 0 is unknown); None until the
    dataset job fits it to the training data.
    """

    piece_type = 'piano_roll'
    min_pitch, max_pitch = 0, 128       # every MIDI pitch can be part of a token
    unknown_label = 0

    @dataclasses.dataclass
    class Params:
        vocabulary: list[str] | None = param(None, 'the known tokens, ids 1..n (null: learnt '
                                             'from the training data)')
        min_count: int = param(2, 'a token seen fewer times in training is unknown', min=1)
        max_size: int = param(4096, 'the most frequent tokens kept', min=1)

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        vocabulary = self.vocabulary
        if vocabulary is not None:
            if len(set(vocabulary)) != len(vocabulary) or UNKNOWN in vocabulary:
                raise MusekitError('a chord-token vocabulary lists each token once, and not '
                                   '%s' % UNKNOWN)
            self._frames = [None] + [token_frame(t) for t in vocabulary]
        self._ids = {t: i + 1 for i, t in enumerate(vocabulary or ())}

    @property
    def needs_fitting(self):
        return self.vocabulary is None

    @property
    def depth(self):
        """Number of token ids (the unknown token included); None before fitting."""
        return None if self.vocabulary is None else len(self.vocabulary) + 1

    @property
    def input_spec(self):
        return StepSpec('int64', (), depth=self.depth)

    @property
    def label_spec(self):
        return StepSpec('int64', (), depth=self.depth)

    def statistics(self, events):
        """How often each token occurs in one training sequence (summed by the job)."""
        return collections.Counter(frame_token(f) for f in events)

    def fitted(self, counts):
        """Params of this encoder with the vocabulary of `counts` (a Counter of tokens):
        the `max_size` most frequent tokens seen at least `min_count` times, most frequent
        first (ties by token), so equal data gives an equal vocabulary."""
        kept = sorted((t for t, n in counts.items() if n >= self.min_count),
                      key=lambda t: (-counts[t], t))[:self.max_size]
        return {**self.params(), 'vocabulary': kept}

    def describe_fit(self):
        return 'a vocabulary of %d chord tokens, plus the unknown token' % len(
            self.vocabulary or ())

    def _check_fitted(self):
        if self.vocabulary is None:
            raise MusekitError('the chord-token encoder has no vocabulary yet: it is learnt '
                               'from the training data by musekit_create_dataset')

    def token_id(self, frame):
        return self._ids.get(frame_token(frame), 0)

    def check_frame(self, frame, position):
        """The pitches of frame number `position` (a list); MusekitError if one is none."""
        pitches = frame_pitches(position, frame)
        if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool)
                   and 0 <= p <= 127 for p in pitches):
            raise MusekitError('frame %d %r holds something that is not a MIDI pitch'
                               % (position, tuple(pitches)))
        return pitches

    def validate_events(self, events):
        for position, frame in enumerate(events):
            self.check_frame(frame, position)

    def encode(self, events):
        """Speed override of the stepper's encoding (each token id looked up once)."""
        self._check_fitted()
        self.validate_events(events)
        ids = np.array([self.token_id(f) for f in events], np.int64)
        return ids[:-1], ids[1:]

    def label_to_event(self, label, events):
        self._check_fitted()
        label = int(label)
        if label == 0:
            return tuple(events[-1]) if events else ()
        return self._frames[label]

    def frame_input(self, frame):
        """The input of one (validated, sorted) frame: its token id."""
        return np.int64(self.token_id(frame))

    frame_label = frame_input

    def stepper(self, events):
        self._check_fitted()
        return FrameStepper(self, events)
