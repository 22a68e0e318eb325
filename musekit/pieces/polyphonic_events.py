"""The polyphonic-events piece type (Magenta's polyphony_rnn_generate): a primer chord,
melody or MIDI file, the model's continuation or harmonisation of it, written as MIDI.

Lengths are quantized steps (16th notes at 4 steps per quarter), as in Magenta:
--num_steps counts every step of an output, primer included, and each output is generated
until it has that many steps (each step is several events: its notes and a STEP_END).

An output is the primer, then the generated part. With --inject_primer_during_generation
(the default) the primer's notes are forced into the generated part again, step by step
from its first step, and the model adds the rest (a harmonisation); with
--condition_on_primer the model reads the primer before it generates (a continuation),
otherwise it starts from nothing (Magenta's two flags, with its defaults).
"""
import copy
import sys

from musekit import limits
from musekit.encoders.polyphonic_events import (
    END, START, START_EVENT, STEP_END, events_to_notes, notes_to_events,
    step_count, with_length)
from musekit.errors import MusekitError
from musekit.generation.steering import Steering
from musekit.output.notes import Note
from musekit.pieces.base import (NOTE_FILE_FLAGS, PRIMER_MIDI, Flag, PieceType, StepGrid,
                                 pitch_list, read_midi_sequence, register, write_note_files)

# The most events a generated step may take on average: each output is generated for at most
# this many events per step it still needs (a chorale takes about 5: four voices and the
# STEP_END); an output that uses them up before --num_steps steps ends in silence.
EVENTS_PER_STEP = 16


def chord_primer(pitches, steps_per_quarter):
    """The stream of `pitches` sounding together for one quarter note (Magenta's
    --primer_pitches)."""
    return notes_to_events([(p, 0, steps_per_quarter) for p in pitches], steps_per_quarter)


def melody_primer(text):
    """The stream of a --primer_melody (melody events, one per step: -2 hold, -1 note-off,
    0..127 note-on), as long as the melody."""
    from musekit.pieces.melody import melody_notes, parse_primer
    events = parse_primer(text)
    notes = [(n.pitch, n.start_step, n.end_step) for n in melody_notes(events)]
    return notes_to_events(notes, len(events))


def midi_primer(path, steps_per_quarter):
    """The stream of every pitched note of a MIDI file, quantized, as long as the file."""
    from note_seq import sequences_lib
    sequence = read_midi_sequence(path)
    try:
        quantized = sequences_lib.quantize_note_sequence(sequence, steps_per_quarter)
    except Exception as e:      # note_seq's several "cannot quantize" errors
        raise MusekitError('cannot use primer MIDI %s: %s' % (path, e)) from None
    notes = [(n.pitch, n.quantized_start_step, n.quantized_end_step)
             for n in quantized.notes if not n.is_drum]
    if not notes:
        raise MusekitError('primer MIDI %s holds no pitched notes' % path)
    length = max([quantized.total_quantized_steps] + [end for _, _, end in notes])
    limits.MAX_STEPS.check(length, 'primer MIDI %s (%d steps)' % (path, length))
    return notes_to_events(notes, length)


def primer_steps(primer):
    """The steps of a primer stream, each the list of its note events (STEP_END left out)."""
    steps, current = [], []
    for event in primer:
        if event[0] == STEP_END:
            steps.append(current)
            current = []
        elif event[0] != START:
            current.append(event)
    return steps


class PrimerSteering(Steering):
    """Forces the primer's notes into the generated part (Magenta's _inject_melody): when a
    row's step `offset + k` begins (after a STEP_END, or right after a lone START), the
    note events of the primer's step k come next, unscored; the model then adds events
    until it ends the step. A row is finished at `total_steps` steps. Reads each event
    once."""

    def __init__(self, inject, offset, total_steps):
        self.inject = inject            # the primer's steps (lists of events); () for none
        self.offset = offset            # the row's step at which the primer's step 0 goes
        self.total_steps = total_steps
        self.read = 0                   # events read so far
        self.steps = 0                  # STEP_ENDs among them
        self.queue = []                 # forced events still to come, last first
        self.decided = 0                # the row length at which injection was last decided

    def _read(self, events):
        for kind, _ in events[self.read:]:
            self.steps += kind == STEP_END
        self.read = len(events)

    def forced(self, events):
        self._read(events)
        if not self.queue and self.decided != len(events):
            kind = events[-1][0]
            if kind == STEP_END or (kind == START and len(events) == 1):
                self.decided = len(events)
                k = self.steps - self.offset
                if 0 <= k < len(self.inject):
                    self.queue = list(reversed(self.inject[k]))
        return self.queue.pop() if self.queue else None

    def finished(self, events):
        self._read(events)
        return self.steps >= self.total_steps

    def copy(self):
        new = copy.copy(self)           # the primer's steps are shared, never changed
        new.queue = list(self.queue)
        return new


@register('polyphonic_events')
class PolyphonicEventsPiece(PieceType):
    """Polyphonic event streams in and out (see the module doc)."""

    file_stem = 'polyphony'
    plural = 'polyphonic pieces'
    step_unit = 'events at most'     # num_steps() gives a cap; outputs end at --num_steps
    reads_extractor = (StepGrid,)
    flags = (
        Flag('primer_pitches', 'string', None, 'Pitches of a primer chord held for a '
             'quarter note, e.g. "[60, 64, 67]".'),
        Flag('primer_melody', 'string', None, 'A melody primer, one event per step, e.g. '
             '"[60, -2, 62]" (-2 = no event, -1 = note-off, 0..127 = note-on).'),
        PRIMER_MIDI,
        Flag('condition_on_primer', 'boolean', False, 'The model reads the primer before it '
             "generates, and so continues it (Magenta's flag); either way an output starts "
             'with the primer, and --num_steps (16th notes) counts it.'),
        Flag('inject_primer_during_generation', 'boolean', True, "From the step after the "
             "primer, the primer's notes are forced in again, step by step, for the model to "
             "harmonise (Magenta's flag)."),
    ) + NOTE_FILE_FLAGS

    def __init__(self, encoder, extractor):
        super().__init__(encoder, extractor)
        self.steps_per_quarter = extractor.steps_per_quarter
        self.total_steps = None         # --num_steps, once num_steps() has read it

    def primer(self, options):
        from musekit.output.midi import check_qpm
        check_qpm(options['qpm'])
        given = [name for name in ('primer_pitches', 'primer_melody', 'primer_midi')
                 if options[name]]
        if len(given) > 1:
            raise MusekitError('give one of --primer_pitches, --primer_melody and '
                               '--primer_midi, not %s' % ' and '.join('--' + g for g in given))
        if options['primer_pitches']:
            events = chord_primer(pitch_list(options['primer_pitches']),
                                  self.steps_per_quarter)
        elif options['primer_melody']:
            events = melody_primer(options['primer_melody'])
        elif options['primer_midi']:
            events = midi_primer(options['primer_midi'], self.steps_per_quarter)
        else:
            events = [START_EVENT]      # Magenta's default: an empty primer
        if events[-1][0] == END:
            events = events[:-1]        # generation goes on from the primer's last step
        self.condition = bool(options['condition_on_primer'])
        self.inject = bool(options['inject_primer_during_generation'])
        self.primer_events = events
        return events

    def to_model(self, primer):
        # without --condition_on_primer the model starts from nothing; from_model puts the
        # primer back in front
        return (primer if self.condition else [START_EVENT]), primer

    def from_model(self, events, primer):
        if self.condition:
            return list(events)
        return list(primer) + list(events[1:])

    def num_steps(self, options, num_steps, given):
        """The cap on each output's events: the model primer's, plus EVENTS_PER_STEP for
        every step still to generate (within MUSEKIT_MAX_STEPS events)."""
        primer_steps_ = step_count(self.primer_events)
        if num_steps <= primer_steps_:
            raise MusekitError('--num_steps (%d) must be more than the primer\'s %d steps '
                               '(it counts the primer)' % (num_steps, primer_steps_))
        self.total_steps = num_steps
        model_primer, _ = self.to_model(self.primer_events)
        cap = min(len(model_primer) + EVENTS_PER_STEP * (num_steps - primer_steps_),
                  limits.MAX_STEPS.value())
        if cap <= len(model_primer):
            raise MusekitError('the primer\'s %d events leave no room to generate within '
                               'MUSEKIT_MAX_STEPS (%d events)' % (len(model_primer), cap))
        return cap

    def steering(self, options, primer):
        if self.total_steps is None:
            raise MusekitError('the polyphonic piece type needs num_steps() before steering()')
        given_steps = step_count(self.primer_events)
        inject = primer_steps(self.primer_events) if self.inject else ()
        model_steps = step_count(primer)
        # the primer's step 0 goes to the first generated step; the row covers the rest
        total = self.total_steps - (0 if self.condition else given_steps)
        return PrimerSteering(inject, model_steps, total)

    def notes(self, events):
        """The Notes of an output's events, made --num_steps steps long (cut, or padded with
        silence) as Magenta's set_length and to_sequence do."""
        total = self.total_steps or step_count(events)
        return [Note(p, start, end) for p, start, end in events_to_notes(
            with_length(events, total))]

    def write(self, stem, events, primer_length, options):
        total = self.total_steps or step_count(events)
        steps = step_count(events)
        if steps < total:
            print('musekit: %s ended after %d events (primer included) at step %d of %d; '
                  'the rest is silence' % (stem, len(events), steps, total), file=sys.stderr)
        return write_note_files(stem, self.notes(events), total,
                                step_count(self.primer_events), options,
                                self.steps_per_quarter)
