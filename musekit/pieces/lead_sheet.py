"""The lead-sheet piece type (Magenta's improv_rnn_generate): a melody generated over given
backing chords, `--backing_chords="C G Am F"` with `--steps_per_chord` steps each.

As Magenta: the piece is exactly as long as the chords (chords x steps_per_chord steps);
the primer (--primer_melody, --primer_midi, default middle C) is its melody through the
step where Magenta's generator starts (the last note's end plus a step, rounded up as
note_seq does: usually a note-off and a silent step after the last note; see
generation_start_step), equal to what Magenta hands its model; it is folded by octaves
into the model's range and stays there. --qpm defaults to a primer MIDI's tempo. Each
event carries its position in the backing chords, so the input at every step reads the chord under the next note while only the
melody is sampled. Written as MIDI: the melody, the chord symbols as MIDI text events at
each change (note_seq's MIDI writer drops them; musekit keeps them), and with
--render_chords the chords as notes on a second track (note_seq's BasicChordRenderer: chord
tones in octave 4, the bass in octave 3, velocity 50, program 88) through the whole piece
(Magenta's renderer stops at its output's last melody note's end: musekit's notes cut there
are Magenta's, tests/test_improv_primers.py).
"""
import typing

from musekit.encoders import chords
from musekit.errors import MusekitError
from musekit.output.notes import Note
from musekit.pieces.base import (DEFAULT_QPM, NOTE_FILE_FLAGS, PRIMER_MIDI, Flag, NoteRange,
                                 PieceType, StepGrid, register, write_note_files)
from musekit.pieces.melody import MIDDLE_C, melody_notes, primer_and_qpm, squash_melody

DEFAULT_CHORDS = 'C G Am F C G F C'     # Magenta's improv_rnn_generate default
DEFAULT_STEPS_PER_CHORD = 16
CHORD_VELOCITY = 50                     # Magenta's, for --render_chords
CHORD_PROGRAM = 88                      # note_seq's BasicChordRenderer: New Age pad
CHORD_OCTAVE, BASS_OCTAVE = 4, 3
CHORD_CHANNEL = 1
MAX_SYMBOL_CHARACTERS = 64              # a longer "symbol" is refused unread


@typing.runtime_checkable
class ChordEncoding(typing.Protocol):
    """An encoder of lead sheets: a melody range and a chord encoding."""
    min_note: int
    max_note: int
    chord_encoding: str


def parse_chords(text, encoder):
    """The chord symbols of --backing_chords (space-separated), each one the encoder can
    take; one MusekitError line otherwise."""
    symbols = text.split() if isinstance(text, str) else []
    if not symbols:
        raise MusekitError('--backing_chords needs chord symbols separated by spaces, e.g. '
                           '"C G Am F", got %r' % (text,))
    for position, symbol in enumerate(symbols):
        if len(symbol) > MAX_SYMBOL_CHARACTERS:
            raise MusekitError('--backing_chords chord %d is %d characters long, not a chord '
                               'symbol' % (position + 1, len(symbol)))
        try:
            encoder.chord_input(symbol)
        except MusekitError as e:
            raise MusekitError('--backing_chords chord %d: %s' % (position + 1, e)) from None
    return symbols


def chord_notes(symbols, total_steps):
    """Notes of the chords, one chord per step of `symbols` (note_seq's BasicChordRenderer:
    a chord held until the symbol changes, its pitch classes in octave 4, its bass in
    octave 3; no notes for N.C.)."""
    notes, start = [], 0
    for step in range(1, len(symbols) + 1):
        if step < len(symbols) and symbols[step] == symbols[start]:
            continue
        symbol, end = symbols[start], min(step, total_steps)
        if symbol != chords.NO_CHORD and start < end:
            _, _, chord_pitches, bass = chords.chord_facts(symbol)
            pitches = [12 * CHORD_OCTAVE + p for p in chord_pitches]
            pitches.append(12 * BASS_OCTAVE + bass)
            notes += [Note(p, start, end, CHORD_VELOCITY) for p in pitches]
        start = step
    return notes


def chord_changes(symbols):
    """(step, symbol) at each change of chord, from step 0."""
    return [(step, s) for step, s in enumerate(symbols) if step == 0 or s != symbols[step - 1]]


def write_lead_sheet_midi(path, melody, symbols, qpm, steps_per_quarter, render_chords):
    """A MIDI file of the melody (track 1, with the chord symbols as text events) and, with
    `render_chords`, the chords as notes (track 2, channel 2, program 88)."""
    import mido
    from musekit import atomic
    from musekit.output import midi
    steps = len(symbols)
    song = midi.midi_file(melody_notes(melody), steps, qpm, steps_per_quarter)
    track = song.tracks[0]
    timed, tick = [], 0
    for message in track:               # absolute ticks, so the text events slot in
        tick += message.time
        timed.append((tick, message))
    end = timed.pop()                   # end_of_track stays last
    for step, symbol in chord_changes(symbols):
        timed.append((step * midi.TICKS_PER_STEP, mido.MetaMessage('text', text=symbol)))
    timed.sort(key=lambda t: t[0])      # stable: at one tick, the notes' order is kept
    song.tracks[0] = _relative(timed + [end])
    if render_chords:
        song.type = 1
        notes = chord_notes(symbols, steps)
        messages = [(0, mido.Message('program_change', program=CHORD_PROGRAM,
                                     channel=CHORD_CHANNEL))]
        events = sorted([(n.start_step, 1, n.pitch) for n in notes]
                        + [(n.end_step, 0, n.pitch) for n in notes])
        for step, on, pitch in events:
            messages.append((step * midi.TICKS_PER_STEP, mido.Message(
                'note_on' if on else 'note_off', note=pitch,
                velocity=CHORD_VELOCITY if on else 0, channel=CHORD_CHANNEL)))
        messages.append((steps * midi.TICKS_PER_STEP, mido.MetaMessage('end_of_track')))
        song.tracks.append(_relative(messages))
    with atomic.replacing(path) as tmp:
        song.save(tmp)
    return path


def _relative(timed):
    """A mido track of (absolute tick, message) pairs."""
    import mido
    track, tick = mido.MidiTrack(), 0
    for at, message in timed:
        track.append(message.copy(time=max(0, at - tick)))
        tick = max(tick, at)
    return track


@register('lead_sheet')
class LeadSheetPiece(PieceType):
    """Melodies over backing chords: the length is the chords' (--backing_chords x
    --steps_per_chord), the primer a melody (default middle C)."""

    file_stem = 'lead_sheet'
    plural = 'lead sheets'
    reads_encoder = (ChordEncoding, NoteRange)
    reads_extractor = (StepGrid,)
    flags = (
        Flag('backing_chords', 'string', DEFAULT_CHORDS, 'Chord symbols separated by spaces, '
             'e.g. "C Dm7 G13 Cmaj7", each lasting --steps_per_chord steps; the piece is '
             'as long as they are.'),
        Flag('steps_per_chord', 'integer', DEFAULT_STEPS_PER_CHORD, 'Steps (16th notes) '
             'each backing chord lasts.'),
        Flag('primer_melody', 'string', None, 'Primer melody events as a list, e.g. '
             '"[60, -2, 62]" (-2 = no event, -1 = note-off, 0..127 = note-on). Default: '
             'middle C. Folded by octaves into the model\'s range, as Magenta.'),
        PRIMER_MIDI,
        Flag('render_chords', 'boolean', False, 'Also write the backing chords as notes '
             'on a second MIDI track.'),
        Flag('qpm', 'float', None, "Tempo in quarter notes per minute. Default: a primer "
             "MIDI's first tempo (Magenta's, where it overrides even --qpm), else 120."),
    ) + tuple(flag for flag in NOTE_FILE_FLAGS if flag.name != 'qpm')

    def __init__(self, encoder, extractor):
        super().__init__(encoder, extractor)
        self.min_note, self.max_note = encoder.min_note, encoder.max_note
        self.steps_per_quarter = extractor.steps_per_quarter
        self.transpose_to_key = getattr(extractor, 'transpose_to_key', None)
        self._symbols = None
        self._qpm = DEFAULT_QPM     # the tempo the primer's options give (see primer)

    def backing(self, options):
        """The backing chords, one symbol per step (checked)."""
        steps = options['steps_per_chord']
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise MusekitError('--steps_per_chord must be a positive number of steps, got %r'
                               % (steps,))
        symbols = parse_chords(options['backing_chords'], self.encoder)
        total = len(symbols) * steps
        self.steps_limit.check(total, '--backing_chords x --steps_per_chord (%d chords x %d '
                               '= %d steps)' % (len(symbols), steps, total))
        return [s for s in symbols for _ in range(steps)]

    def primer(self, options):
        """Magenta's primer melody (see melody_primer, midi_primer), each event with its
        place in the backing chords; the tempo the output is written at is kept."""
        symbols = self.backing(options)
        melody, qpm = primer_and_qpm(options, self.encoder, self.steps_per_quarter, MIDDLE_C)
        if len(melody) >= len(symbols):
            raise MusekitError('the primer melody (%d steps, through the step where Magenta '
                               'starts generating, after its last note) is not shorter than '
                               'the backing chords (%d steps): give more chords or a longer '
                               '--steps_per_chord' % (len(melody), len(symbols)))
        self._symbols = tuple(symbols)
        self._qpm = qpm
        return [(event, chords.Backing(self._symbols, i + 1))
                for i, event in enumerate(melody)]

    def num_steps(self, options, num_steps, given):
        total = len(self.backing(options))
        if given and num_steps != total:
            raise MusekitError('--num_steps does not apply to lead sheets: their length is '
                               "the backing chords' (%d steps: --backing_chords x "
                               '--steps_per_chord)' % total)
        return total

    def to_model(self, primer):
        melody = [e[0] for e in primer]
        moved, amount = squash_melody(melody, self.min_note, self.max_note,
                                      self.transpose_to_key)
        symbols = self._symbols
        if amount:      # a config with transpose_to_key moves the chords with the melody
            symbols = tuple(chords.transpose_chord(s, amount) for s in symbols)
        return [(m, chords.Backing(symbols, e[1].index))
                for m, e in zip(moved, primer)], amount

    def from_model(self, events, moved):
        """(melody event, chord symbol) per step, back in the given key; the chords as
        given (as Magenta writes them: moving them back could respell them, C# as Db)."""
        from musekit.pieces.melody import transpose_melody
        symbols = events[0][1].chords if events else ()
        if moved:
            symbols = self._symbols
        return [(m, s) for m, s in zip(transpose_melody([e[0] for e in events], -moved),
                                       symbols)]

    def write(self, stem, events, primer_length, options):
        """`events`: (melody event, chord symbol) per step (from_model's), at --qpm, else
        the tempo `primer` found."""
        if options['qpm'] is None:
            options = dict(options, qpm=self._qpm)
        melody = [e[0] for e in events]
        symbols = [e[1] for e in events]
        notes = melody_notes(melody)
        if options['render_chords']:
            notes = notes + chord_notes(symbols, len(symbols))
        paths, renderers = write_note_files(stem, notes, len(events), primer_length,
                                            options, self.steps_per_quarter)
        write_lead_sheet_midi(paths[0], melody, symbols, options['qpm'],
                              self.steps_per_quarter, options['render_chords'])
        return paths, renderers
