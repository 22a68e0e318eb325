"""The performance piece type (Magenta's performance_rnn_generate): primers from a chord,
a melody or a MIDI file, the control signals of the conditioned configs, generation until
the performance lasts --num_seconds, and expressive MIDI out (velocities from the bins,
timing on the encoder's grid of 10 ms steps).

The length (primer included) is --num_seconds, or --num_steps in the encoder's 10 ms
steps when given, as Magenta's performance_rnn_generate reads it (--num_steps=3000 is
30 s); it then overrides --num_seconds. Each output may take up to 200 events per second
of its length. A row stops once it reaches the length and is cut to it exactly (Magenta's
set_length); a row that runs out of events first is padded with silence, and that is said
on stderr.
"""
import json
import math
import sys
import typing

from musekit import limits
from musekit.encoders import performance_controls as controls
from musekit.encoders.performance import NOTE_OFF, NOTE_ON, TIME_SHIFT, VELOCITY
from musekit.errors import MusekitError
from musekit.generation.steering import Steering
from musekit.output.notes import Note
from musekit.pieces.base import (NOTE_FILE_FLAGS, PRIMER_MIDI, Flag, PieceType,
                                 pitch_list, read_midi_sequence, register, write_note_files)

EVENTS_PER_SECOND = 200         # the default cap on events per second of performance
MAX_NOTE_SECONDS = 5.0          # Magenta's max_note_duration: longer notes are cut
PRIMER_VELOCITY = 100           # note_seq's default velocity of primer notes
PRIMER_CHORD_SECONDS = 0.5      # a quarter note at Magenta's default 120 qpm
DEFAULT_VELOCITY = 100          # of notes before any VELOCITY event (note_seq's default)


@typing.runtime_checkable
class PerformanceGrid(typing.Protocol):
    """An encoder of performance events on a grid of steps_per_second, with its velocity
    bins and control signals."""
    steps_per_second: int
    max_shift_steps: int
    num_velocity_bins: int
    control_signals: list
    optional_conditioning: bool


def velocity_of_bin(velocity_bin, num_velocity_bins):
    """The MIDI velocity a bin stands for: its lowest (note_seq's velocity_bin_to_velocity)."""
    return 1 + (velocity_bin - 1) * math.ceil(127 / num_velocity_bins)


def num_time_steps(pairs):
    """The length of a performance in time steps (its time shifts summed)."""
    return sum(event[1] for event in pairs if event[0] == TIME_SHIFT)


def set_length(pairs, steps, max_shift_steps):
    """`pairs` cut or padded to exactly `steps` time steps (note_seq's set_length: padding
    first lengthens a trailing short time shift; cutting drops whatever follows the cut
    and shortens the time shift it falls in)."""
    pairs = [tuple(p[:2]) for p in pairs]
    have = num_time_steps(pairs)
    if have < steps:
        missing = steps - have
        if pairs and pairs[-1][0] == TIME_SHIFT and pairs[-1][1] < max_shift_steps:
            added = min(missing, max_shift_steps - pairs[-1][1])
            pairs[-1] = (TIME_SHIFT, pairs[-1][1] + added)
            missing -= added
        while missing >= max_shift_steps:
            pairs.append((TIME_SHIFT, max_shift_steps))
            missing -= max_shift_steps
        if missing > 0:
            pairs.append((TIME_SHIFT, missing))
    excess = have - steps
    while excess > 0 and pairs:
        kind, value = pairs[-1]
        if kind != TIME_SHIFT:
            pairs.pop()
        elif value > excess:
            pairs[-1] = (TIME_SHIFT, value - excess)
            excess = 0
        else:
            excess -= value
            pairs.pop()
    return pairs


def performance_notes(pairs, num_velocity_bins, max_note_steps=None):
    """Notes of a performance (note_seq's Performance.to_sequence on the step grid): a
    NOTE_OFF ends the earliest open note of its pitch (none open: ignored), notes still
    open end at the last step, notes of no duration are dropped, notes longer than
    `max_note_steps` are cut; velocity from the last VELOCITY event (100 before one)."""
    notes, open_notes, step, velocity = [], {}, 0, DEFAULT_VELOCITY

    def close(pitch, start, start_velocity, end):
        if end == start:
            return
        if max_note_steps and end - start > max_note_steps:
            end = start + max_note_steps
        notes.append(Note(pitch, start, end, start_velocity))

    for kind, value in pairs:
        if kind == NOTE_ON:
            open_notes.setdefault(value, []).append((step, velocity))
        elif kind == NOTE_OFF:
            if open_notes.get(value):
                start, start_velocity = open_notes[value].pop(0)
                close(value, start, start_velocity, step)
        elif kind == TIME_SHIFT:
            step += value
        elif kind == VELOCITY:
            velocity = velocity_of_bin(value, num_velocity_bins)
    for pitch, started in open_notes.items():
        for start, start_velocity in started:
            close(pitch, start, start_velocity, step)
    return notes


def _parse_number_list(flag, text):
    try:
        value = json.loads(text.strip())
    except ValueError:
        raise MusekitError('malformed --%s %r: not a number or a list of numbers'
                           % (flag, text)) from None
    return value


def parse_notes_per_second(text):
    """'5' or '[5]' -> 5.0 (notes per second, >= 0); MusekitError otherwise."""
    value = _parse_number_list('notes_per_second', text)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, list):
        raise MusekitError('--notes_per_second takes one number; musekit keeps the controls '
                           'constant (a list of segments is not supported), got %r' % text)
    return controls.check_density(value, '--notes_per_second')


def parse_pitch_class_histogram(text):
    """'[2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]' -> 12 weights of C .. B (>= 0; the model's
    input normalises them); MusekitError otherwise."""
    value = _parse_number_list('pitch_class_histogram', text)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    return controls.check_histogram(value, '--pitch_class_histogram')


def _note_seq():
    import warnings
    with warnings.catch_warnings():   # its audio dependencies warn about a missing ffmpeg
        warnings.simplefilter('ignore')
        import note_seq
    return note_seq


def chord_sequence(pitches):
    """Magenta's --primer_pitches NoteSequence: the pitches together for a quarter note at
    120 qpm (0.5 s), velocity 100."""
    note_seq = _note_seq()
    sequence = note_seq.NoteSequence(ticks_per_quarter=note_seq.STANDARD_PPQ)
    for pitch in pitches:
        sequence.notes.add(pitch=pitch, start_time=0.0, end_time=PRIMER_CHORD_SECONDS,
                           velocity=PRIMER_VELOCITY)
        sequence.total_time = PRIMER_CHORD_SECONDS
    return sequence


def melody_sequence(events):
    """Magenta's --primer_melody NoteSequence: note_seq's Melody at 120 qpm, 4 steps per
    quarter, velocity 100."""
    return _note_seq().Melody(list(events)).to_sequence()


class LengthSteering(Steering):
    """Ends a row once its performance lasts `total_steps` time steps (reading only the
    events it has not seen)."""

    def __init__(self, total_steps):
        self.total_steps = total_steps
        self.read = 0
        self.steps = 0

    def finished(self, events):
        for event in events[self.read:]:
            if event[0] == TIME_SHIFT:
                self.steps += event[1]
        self.read = len(events)
        return self.steps >= self.total_steps

    def copy(self):
        new = LengthSteering(self.total_steps)
        new.read, new.steps = self.read, self.steps
        return new


def _key(options):
    return tuple(sorted(options.items()))


@register('performance')
class PerformancePiece(PieceType):
    """Performances in and out: a primer chord, melody or MIDI file (default: one second
    of silence, as Magenta), constant control signals, expressive MIDI out."""

    file_stem = 'performance'
    plural = 'performances'
    step_unit = 'events at most'
    reads_encoder = (PerformanceGrid,)
    flags = (
        Flag('num_seconds', 'float', 30.0, 'Length of each performance in seconds, primer '
             "included; --num_steps, when given, sets it in 10 ms steps instead, as "
             "Magenta's (--num_steps=3000 is 30 s)."),
        Flag('primer_pitches', 'string', None, 'A chord that primes the model, e.g. '
             '"[60, 64, 67]" (performances: held 0.5 s at velocity 100, as Magenta).'),
        Flag('primer_melody', 'string', None, 'Primer melody events as a list, e.g. '
             '"[60, -2, 62]" (-2 = no event, -1 = note-off, 0..127 = note-on); performances '
             'play it at 120 qpm, 4 steps a quarter, velocity 100, as Magenta.'),
        PRIMER_MIDI,
        Flag('notes_per_second', 'string', None, 'For a model conditioned on note density: '
             'notes per second to aim at, e.g. "5" (default 15, as Magenta).'),
        Flag('pitch_class_histogram', 'string', None, 'For a model conditioned on pitch '
             'classes: 12 weights of C, C#, ..., B, e.g. "[2, 0, 1, 0, 1, 1, 0, 1, 0, 1, '
             '0, 1]" (normalised; default flat).'),
        Flag('disable_conditioning', 'boolean', False, 'For an optionally conditioned '
             'model: generate without its control signals.'),
    ) + tuple(f for f in NOTE_FILE_FLAGS if f.name != 'qpm')

    def __init__(self, encoder, extractor):
        super().__init__(encoder, extractor)
        self.steps_per_second = encoder.steps_per_second
        self._primers = {}          # options -> the primer made of them (num_steps reads it)
        self._given_steps = None    # --num_steps when given: the length in time steps

    # --- options ------------------------------------------------------------------------

    def total_steps(self, options):
        """The length in time steps: --num_steps when given (Magenta's meaning, kept by
        `num_steps`), else --num_seconds as steps (rounded), checked."""
        if self._given_steps is not None:
            return self._given_steps
        seconds = options['num_seconds']
        if not seconds > 0 or seconds == float('inf'):
            raise MusekitError('--num_seconds must be a positive number, got %r' % (seconds,))
        steps = int(round(seconds * self.steps_per_second))
        if steps < 1:
            raise MusekitError('--num_seconds=%g is shorter than one step (1/%d s)'
                               % (seconds, self.steps_per_second))
        limits.MAX_QUANTIZED_STEPS.check(steps, '--num_seconds=%g (%s steps of 1/%d s)' % (
            seconds, '{:,}'.format(steps), self.steps_per_second))
        return steps

    def control(self, options):
        """(the control every event carries, names of the signals left at their default):
        None when conditioning is off or the encoder is unconditioned; a control flag this
        bundle has no use for is refused."""
        encoder = self.encoder
        signals = list(encoder.control_signals)
        given = {signal: options[signal] for signal in controls.CONTROL_SIGNALS
                 if options[signal] is not None}
        for signal in given:
            if signal not in signals:
                raise MusekitError('--%s does not apply to this bundle: its model is %s' % (
                    signal, 'conditioned on %s only' % ', '.join(signals) if signals
                    else 'not conditioned on control signals'))
        if options['disable_conditioning'] and not encoder.optional_conditioning:
            raise MusekitError('--disable_conditioning applies to optionally conditioned '
                               'models; this one is %s' % ('always conditioned' if signals
                                                           else 'not conditioned'))
        if not signals or options['disable_conditioning']:
            return None, []
        parse = {controls.NOTES_PER_SECOND: parse_notes_per_second,
                 controls.PITCH_CLASS_HISTOGRAM: parse_pitch_class_histogram}
        values = [parse[signal](given[signal]) if signal in given
                  else controls.DEFAULTS[signal] for signal in signals]
        return tuple(values), [signal for signal in signals if signal not in given]

    def primer_sequence(self, options):
        """The NoteSequence the primer flags ask for (None: no primer)."""
        asked = [name for name in ('primer_pitches', 'primer_melody', 'primer_midi')
                 if options[name]]
        if len(asked) > 1:
            raise MusekitError('give one primer, not %s'
                               % ' and '.join('--' + a for a in asked))
        if options['primer_pitches']:
            return chord_sequence(pitch_list(options['primer_pitches']))
        if options['primer_melody']:
            from musekit.pieces.melody import parse_primer
            return melody_sequence(parse_primer(options['primer_melody']))
        if options['primer_midi']:
            return read_midi_sequence(options['primer_midi'])
        return None

    def primer(self, options):
        total = self.total_steps(options)
        control, defaults = self.control(options)
        sequence = self.primer_sequence(options)
        encoder = self.encoder
        if sequence is None or not sequence.notes:
            pairs = [(TIME_SHIFT, min(encoder.max_shift_steps, total))]
        else:
            pairs = self.primer_pairs(sequence, total)
        primer = encoder.with_control(pairs, control)
        self._primers = {_key(options): primer}
        for signal in defaults:         # as Magenta warns
            print('musekit: --%s not given; conditioning on the default %s' % (
                signal, '%g notes per second' % controls.DEFAULT_NOTE_DENSITY
                if signal == controls.NOTES_PER_SECOND else 'flat histogram'),
                file=sys.stderr)
        return primer

    def primer_pairs(self, sequence, total):
        """The (kind, value) events of a primer NoteSequence, padded to the step after its
        end, as Magenta's generator does; a primer as long as the output is refused."""
        from musekit.extractors.performance import performance_pairs
        note_seq = _note_seq()
        encoder, sps = self.encoder, self.steps_per_second
        seconds = total / sps
        if sequence.total_time >= seconds:
            raise MusekitError('the primer lasts %.2f s; the length asked (%g s, %s) must be '
                               'longer' % (sequence.total_time, seconds, self._length_flag()))
        start = note_seq.quantize_to_step(sequence.total_time, sps, quantize_cutoff=0.0)
        if start >= total:
            raise MusekitError('the primer and the step after it take %d of the %d steps '
                               'asked; %s must be longer' % (start, total, self._length_flag()))
        if len({note.program for note in sequence.notes}) > 1:
            raise MusekitError('the primer plays %d MIDI programs; a performance primer '
                               'plays one' % len({n.program for n in sequence.notes}))
        if encoder.num_velocity_bins and any(not 1 <= n.velocity <= 127
                                             for n in sequence.notes):
            raise MusekitError('the primer has a note velocity outside MIDI 1..127')
        if any(not 0 <= n.pitch <= 127 for n in sequence.notes):
            raise MusekitError('the primer has a note pitch outside MIDI 0..127')
        try:
            quantized = note_seq.quantize_note_sequence_absolute(sequence, sps)
        except note_seq.sequences_lib.NegativeTimeError:
            raise MusekitError('the primer has a note at a negative time') from None
        pairs = performance_pairs(quantized, encoder.num_velocity_bins,
                                  encoder.max_shift_steps)
        return set_length(pairs, start, encoder.max_shift_steps)

    def _length_flag(self):
        return '--num_seconds' if self._given_steps is None else '--num_steps'

    def requested_length(self, num_steps, given):
        """--num_steps, when given, is the length in time steps (Magenta's meaning); the
        primer (padded to at most that length) and the output follow it."""
        if given:
            if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
                raise MusekitError('--num_steps must be a positive number of 1/%d s steps, '
                                   'got %r' % (self.steps_per_second, num_steps))
            limits.MAX_QUANTIZED_STEPS.check(num_steps, '--num_steps=%d (steps of 1/%d s)'
                                             % (num_steps, self.steps_per_second))
        self._given_steps = num_steps if given else None

    def num_steps(self, options, num_steps, given):
        """The cap on events of an output: EVENTS_PER_SECOND per second of its length plus
        the primer's events, checked against MUSEKIT_MAX_STEPS (the length is --num_steps
        when given, see `requested_length`, else --num_seconds)."""
        total = self.total_steps(options)
        primer = self._primers.get(_key(options))
        primer_events = len(primer if primer is not None else self.primer(options))
        cap = primer_events + max(1, math.ceil(total * EVENTS_PER_SECOND
                                               / self.steps_per_second))
        self.steps_limit.check(cap, '%s (up to %s events at %d per second)' % (
            '--num_steps=%d' % total if self._given_steps is not None else
            '--num_seconds=%g' % options['num_seconds'], '{:,}'.format(cap),
            EVENTS_PER_SECOND))
        return cap

    def steering(self, options, primer):
        return LengthSteering(self.total_steps(options))

    # --- output -------------------------------------------------------------------------

    def write(self, stem, events, primer_length, options):
        encoder = self.encoder
        total = self.total_steps(options)
        reached = num_time_steps(events)
        if reached < total:
            print('musekit: %s: its %d events (at most %d a second) ended at %.2f of '
                  '%.2f s; the rest is silence' % (stem, len(events), EVENTS_PER_SECOND,
                                                   reached / self.steps_per_second,
                                                   total / self.steps_per_second),
                  file=sys.stderr)
        pairs = set_length(events, total, encoder.max_shift_steps)
        notes = performance_notes(pairs, encoder.num_velocity_bins,
                                  int(round(MAX_NOTE_SECONDS * self.steps_per_second)))
        primer_steps = min(num_time_steps(events[:primer_length]), total)
        timing = {'qpm': 60.0, 'render_wav': options['render_wav'], 'plot': options['plot']}
        return write_note_files(stem, notes, total, primer_steps, timing,
                                steps_per_quarter=self.steps_per_second)
