"""Lead sheets (a melody over chord symbols) and their encoding (Magenta's improv_rnn:
note_seq's ConditionalEventSequenceEncoderDecoder of a chord encoding and a melody one).

A lead-sheet event is a pair ``(melody_event, chord)``: a melody event (-2 no event, -1
note-off, a MIDI pitch) and the chord the model's input at that event reads. Magenta's
input for melody event i reads the chord at position i + 1 (the chord under the note to
be predicted), so that is the chord event i carries (`lead_sheet_events`); the last event
keeps its own chord, which no training step reads. Input rows are the chord's encoding
(musekit.encoders.chords) then the melody encoder's row; labels are the melody encoder's.

In generation the chord is a `chords.Backing` position instead of a symbol: each sampled
event carries the next position of the backing progression, so the melody follows the
chords given while only the melody is sampled.
"""
import dataclasses
import typing

import numpy as np

from musekit.encoders import chords
from musekit.encoders.base import Encoder, StepSpec, Stepper, get_encoder, register
from musekit.encoders.key import KeyMelodyEncoder
from musekit.encoders.melody import check_event as check_melody_event
from musekit.errors import MusekitError
from musekit.params import param

MELODY_ENCODINGS = ('one_hot_melody', 'key_melody')


def lead_sheet_events(melody, chord_symbols):
    """The lead-sheet events of a melody and its chords, one per step (equal lengths):
    event i is (melody[i], chord i + 1); the last keeps its own chord."""
    melody, chord_symbols = list(melody), list(chord_symbols)
    if len(melody) != len(chord_symbols):
        raise MusekitError('a lead sheet has one chord per melody step: %d melody events, '
                           '%d chords' % (len(melody), len(chord_symbols)))
    return [(int(m), c) for m, c in zip(melody, chord_symbols[1:] + chord_symbols[-1:])]


class _MelodyView:
    """The melody events of a list of lead-sheet events, without copying (lookback
    classes read history[-d])."""

    __slots__ = ('_events',)

    def __init__(self, events):
        self._events = events

    def __len__(self):
        return len(self._events)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [e[0] for e in self._events[index]]
        return self._events[index][0]

    def __iter__(self):
        return (e[0] for e in self._events)


class LeadSheetStepper(Stepper):
    """Steps the melody encoder's own stepper and puts the chord row before its input."""

    def __init__(self, encoder, events=()):
        self._melody = encoder.melody_encoder.stepper(())
        super().__init__(encoder, events)

    def check(self, event, position):
        return self.encoder.check_event(event, position)

    def advance(self, event):
        self._melody.append(event[0])

    def input(self):
        return np.concatenate([self.encoder.chord_input(self._events[-1][1]),
                               self._melody.input()])

    def label(self):
        return self._melody.label()

    def copy(self):
        new = super().copy()
        new._melody = self._melody.copy()
        return new


@register('lead_sheet')
class LeadSheetEncoder(Encoder):
    """Magenta's improv_rnn encodings: basic_improv and attention_improv (triad chords, the
    one-hot or key melody encoding), chord_pitches_improv (root, pitch classes and bass)."""

    piece_type = 'lead_sheet'

    @dataclasses.dataclass
    class Params(KeyMelodyEncoder.Params):
        chord_encoding: typing.Literal['triad', 'major_minor', 'pitches'] = param(
            'triad', "the chords' input: one-hot triads (49), major/minor (25) or root, "
            'pitch classes and bass (37)')
        melody_encoding: typing.Literal['one_hot_melody', 'key_melody'] = param(
            'one_hot_melody', "the melody's encoder (key_melody reads the lookback, counter "
            'and steps_per_bar params; one_hot_melody only the note range)')

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        own = {f.name for f in dataclasses.fields(KeyMelodyEncoder.Params)}
        params = {k: v for k, v in self.params().items() if k in own}
        if self.melody_encoding == 'one_hot_melody':
            params = {'min_note': self.min_note, 'max_note': self.max_note}
        self.melody_encoder = get_encoder(self.melody_encoding, params)
        self._chord_size = chords.input_size(self.chord_encoding)

    @property
    def chord_size(self):
        """Width of the chord part of an input row."""
        return self._chord_size

    @property
    def input_spec(self):
        return StepSpec('float32', (self._chord_size + self.melody_encoder.input_spec.size,))

    @property
    def label_spec(self):
        return self.melody_encoder.label_spec

    # --- events -------------------------------------------------------------------------

    def chord_input(self, control):
        """The chord part of an input row for a chord symbol or Backing position."""
        return chords.chord_row(chords.chord_of(control), self.chord_encoding)

    def check_chord(self, control, where):
        """`control` if this encoder can encode its chord; ChordError (with Magenta's
        reason) or MusekitError naming `where` otherwise."""
        try:
            self.chord_input(control)
        except chords.ChordError as e:
            raise chords.ChordError('%s: %s' % (where, e), e.reason) from None
        except MusekitError as e:
            raise MusekitError('%s: %s' % (where, e)) from None
        return control

    def check_event(self, event, position):
        """`event` in normal form (melody event int, chord); MusekitError naming
        `position` for anything this encoder cannot encode."""
        if isinstance(event, (str, bytes)) or not isinstance(event, (tuple, list)) \
                or len(event) != 2:
            raise MusekitError('lead-sheet event at position %d must be (melody event, '
                               'chord), got %r' % (position, event))
        melody = check_melody_event(event[0], position, self.min_note, self.max_note)
        return (melody, self.check_chord(event[1], 'lead-sheet event at position %d'
                                         % position))

    def validate_events(self, events):
        for position, event in enumerate(events):
            self.check_event(event, position)

    def label_to_event(self, label, events):
        """The melody event of `label` with the chord the next step reads: a Backing
        advances one step, a chord symbol is kept."""
        melody = self.melody_encoder.label_to_event(label, _MelodyView(events))
        if not events:
            return (melody, chords.NO_CHORD)
        control = events[-1][1]
        return (melody, control.advanced() if isinstance(control, chords.Backing)
                else control)

    # --- inputs -------------------------------------------------------------------------

    def encode(self, events):
        """The stepper's encoding: the melody encoder's (vectorised) beside the chord rows."""
        events = [self.check_event(e, i) for i, e in enumerate(events)]
        melody_inputs, labels = self.melody_encoder.encode([e[0] for e in events])
        if len(events) < 2:
            return np.zeros((0, self.input_spec.size), np.float32), labels
        chord_rows = np.stack([self.chord_input(e[1]) for e in events[:-1]])
        return np.concatenate([chord_rows, melody_inputs], axis=1), labels

    def stepper(self, events):
        return LeadSheetStepper(self, events)

    def __repr__(self):
        return 'LeadSheetEncoder(%s)' % ', '.join('%s=%r' % kv for kv in self.params().items())
