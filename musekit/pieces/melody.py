"""The melody piece type (Magenta's melody_rnn_generate: basic_rnn, mono_rnn, lookback_rnn,
attention_rnn): monophonic events (-2 hold, -1 note-off, 0..127 note-on), written as MIDI
(with WAV and a piano-roll PNG on request).

The primer is Magenta's (tests/test_melody_primers.py proves it against its generator):
--primer_melody (default middle C) timed at --qpm as note_seq's Melody.to_sequence times it,
or --primer_midi's first melody (the highest note of a chord) at the file's own tempo,
through the step where Magenta starts generating: the last note's end plus a step, rounded
up in its floating-point order (see generation_start_step; usually a note-off and one silent
step: [60] becomes [60, -1, -2]); a primer without notes is one silent step. It is moved
into the model's key and range as Magenta's Melody.squash moves it, and the output moved
back. --qpm defaults to a primer MIDI's tempo, else 120. Differences on purpose: whole
silent bars before a MIDI primer's melody are not written (Magenta writes them as silence)
and --num_steps counts the steps written (Magenta's counts from time 0, floored in floating
point: --num_steps=32 at 110 qpm makes 31); --qpm, when given, is the tempo written even
with a primer MIDI (Magenta writes the file's tempo; the primer is placed at it in both).
"""
import sys

from musekit.encoders.key import MAJOR_SCALE
from musekit.encoders.melody import NOTE_OFF
from musekit.errors import MusekitError
from musekit.output.notes import Note
from musekit.pieces.base import (DEFAULT_QPM, NOTE_FILE_FLAGS, PRIMER_MIDI, Flag, NoteRange,
                                 PieceType, StepGrid, generation_start_step, int_list,
                                 primer_midi_qpm, read_midi_sequence, register,
                                 write_note_files)

MIDDLE_C = 60
OCTAVE = 12


def melody_notes(events):
    """Notes of a melody: a note-on lasts until the next note-on, note-off or the end."""
    notes, pitch, start = [], None, 0
    for step, event in enumerate(events):
        if event >= 0 or event == NOTE_OFF:
            if pitch is not None:
                notes.append(Note(pitch, start, step))
            pitch, start = (event, step) if event >= 0 else (None, 0)
    if pitch is not None:
        notes.append(Note(pitch, start, len(events)))
    return notes


def parse_primer(text):
    """'[60, -2, 62]' (brackets optional) -> [60, -2, 62]; anything else is a MusekitError."""
    events = int_list(text)
    if events is None:
        raise MusekitError('malformed --primer_melody %r: expected a non-empty list of '
                           'integers like "[60, -2, 62]"' % text)
    for position, event in enumerate(events):
        if not -2 <= event <= 127:
            raise MusekitError('--primer_melody event %d at position %d is not a melody event '
                               '(-2 hold, -1 note-off, 0..127 a MIDI pitch)' % (event, position))
    return events


def _note_seq():
    import warnings
    with warnings.catch_warnings():   # its audio dependencies warn about a missing ffmpeg
        warnings.simplefilter('ignore')
        import note_seq
    return note_seq


def to_note_sequence(events, qpm=120.0, steps_per_quarter=4):
    """A NoteSequence of the melody (note_seq.Melody.to_sequence)."""
    from musekit.output.midi import check_qpm
    return _note_seq().Melody(list(events), steps_per_quarter=steps_per_quarter).to_sequence(
        qpm=check_qpm(qpm))


def read_primer_midi(path, encoder, steps_per_quarter=4):
    """The first monophonic melody of a MIDI file, at its own pitches.

    Uses musekit's melody extractor with Magenta's primer settings: no minimum length or
    pitch count, no gap splitting, polyphony resolved by keeping the highest note.
    """
    from musekit.extractors.melody import MelodyExtractor
    sequence = read_midi_sequence(path)
    extractor = MelodyExtractor(steps_per_quarter=steps_per_quarter, min_bars=0,
                                max_steps=1 << 30, gap_bars=float('inf'),
                                min_unique_pitches=1, ignore_polyphonic_notes=True,
                                transpose_to_key=None, fold_into_range=False)
    pieces, _ = extractor.prepare(sequence)
    for piece in pieces:
        melodies, _ = extractor.extract(piece, encoder)
        if melodies:
            return melodies[0]
    raise MusekitError('primer MIDI %s holds no melody musekit can use' % path)


def primer_with_gap(events, length):
    """Magenta's primer melody: the melody's notes (as its NoteSequence holds them), a
    note-off at the last one's end, silence through `length` steps (the step where Magenta
    starts generating: see generation_start_step); [-2] without notes."""
    notes = melody_notes(events)
    if not notes:
        return [-2]
    melody = [-2] * length
    for note in notes:
        melody[note.start_step] = note.pitch
        if melody[note.end_step] == -2:
            melody[note.end_step] = -1
    return melody


def melody_primer(events, qpm, steps_per_quarter):
    """Magenta's primer of --primer_melody (or its default): the events as note_seq's
    Melody.to_sequence times them at `qpm`, through the step generation starts at."""
    notes = melody_notes(events)
    if not notes:
        return [-2]
    last_end = max(note.end_step for note in notes) * (60.0 / qpm / steps_per_quarter)
    return primer_with_gap(events, generation_start_step(last_end, qpm, steps_per_quarter))


def midi_primer(path, encoder, steps_per_quarter, qpm):
    """(Magenta's primer of --primer_midi: the file's first melody (highest note of a
    chord) quantized at the file's tempo, through the step generation starts at, counted
    from the last end of any note in the file; the file's first tempo, else `qpm`).
    Whole silent bars before the melody are not kept (Magenta's melody generator plays
    them as silence, its improv generator fails on them), and of a file whose tempo or
    meter changes only the part before the change."""
    from note_seq import sequences_lib
    events = read_primer_midi(path, encoder, steps_per_quarter)
    sequence = next(piece for piece in sequences_lib.split_note_sequence_on_time_changes(
        read_midi_sequence(path)) if any(not n.is_drum for n in piece.notes))
    if sequence.tempos and sequence.tempos[0].qpm:
        qpm = sequence.tempos[0].qpm
    steps_per_second = steps_per_quarter * qpm / 60.0
    first = min(n.start_time for n in sequence.notes if not n.is_drum)
    first_note = next(i for i, e in enumerate(events) if e >= 0)
    melody_start = int(first * steps_per_second + 0.5) - first_note
    last_end = max(n.end_time for n in sequence.notes)
    length = generation_start_step(last_end, qpm, steps_per_quarter) - melody_start
    return primer_with_gap(events, max(length, len(events) + 1)), qpm


def major_key(events):
    """The major key (0 = C ... 11 = B) whose scale holds the most note-ons; the lowest such
    key on a tie, C when there are no notes."""
    counts = [0] * OCTAVE
    for event in events:
        if event >= 0:
            counts[event % OCTAVE] += 1
    scores = [sum(counts[(key + degree) % OCTAVE] for degree in MAJOR_SCALE)
              for key in range(OCTAVE)]
    return scores.index(max(scores))


def fold(pitch, low, high):
    """`pitch` moved by whole octaves into [low, high) (which spans at least an octave)."""
    if pitch < low:
        return low + (pitch - low) % OCTAVE
    if pitch >= high:
        return high - OCTAVE + (pitch - high) % OCTAVE
    return pitch


def squash_melody(events, min_note, max_note, transpose_to_key=None):
    """(events moved into the key and range, semitones moved), as note_seq's Melody.squash.

    With `transpose_to_key`, the melody is transposed so its estimated major key becomes
    that key, by the amount (key difference plus whole octaves) that best centres its
    notes in the range; then every note outside the range is folded in by octaves.
    Hold (-2) and note-off (-1) events are kept.
    """
    pitches = [e for e in events if e >= 0]
    amount = 0
    if transpose_to_key is not None and pitches:
        key_diff = transpose_to_key - major_key(events)
        centre = (min(pitches) + max(pitches)) / 2
        target = (min_note + max_note - 1) / 2
        amount = key_diff + OCTAVE * int(round((target - (centre + key_diff)) / OCTAVE))
    return [fold(e + amount, min_note, max_note) if e >= 0 else e for e in events], amount


def transpose_melody(events, amount, min_note=0, max_note=128):
    """Every pitch moved by `amount` semitones, folded by octaves into [min_note, max_note)."""
    return [fold(e + amount, min_note, max_note) if e >= 0 else e for e in events]


def primer_and_qpm(options, encoder, steps_per_quarter, default_pitch):
    """(Magenta's primer melody from --primer_melody or --primer_midi, else one note of
    `default_pitch`; the tempo to write at: --qpm, else a primer MIDI's, else 120)."""
    from musekit.output.midi import check_qpm
    qpm = options['qpm'] if options['qpm'] is None else check_qpm(options['qpm'])
    if options['primer_melody'] is not None and options['primer_midi']:
        raise MusekitError('give --primer_melody or --primer_midi, not both')
    if options['primer_midi']:
        melody, tempo = midi_primer(options['primer_midi'], encoder, steps_per_quarter,
                                    DEFAULT_QPM if qpm is None else qpm)
        return melody, primer_midi_qpm(tempo) if qpm is None else qpm
    qpm = DEFAULT_QPM if qpm is None else qpm
    given = parse_primer(options['primer_melody']) \
        if options['primer_melody'] is not None else [default_pitch]
    return melody_primer(given, qpm, steps_per_quarter), qpm


@register('melody')
class MelodyPiece(PieceType):
    """Melodies in and out: `--primer_melody` or `--primer_midi` (default middle C), moved
    into the key and range the model was trained on and back, written as MIDI."""

    file_stem = 'melody'
    plural = 'melodies'
    reads_encoder = (NoteRange,)
    reads_extractor = (StepGrid,)
    flags = (
        Flag('primer_melody', 'string', None, 'Primer events as a list, e.g. "[60, -2, 62]" '
             '(-2 = no event, -1 = note-off, 0..127 = note-on). Default: middle C. As in '
             "Magenta, the model is primed through a note-off and a silent step after the "
             "last note, in the model's key and range; the result is moved back."),
        PRIMER_MIDI,
        Flag('qpm', 'float', None, "Tempo in quarter notes per minute. Default: a primer "
             "MIDI's first tempo (Magenta's, where it overrides even --qpm), else 120."),
    ) + tuple(flag for flag in NOTE_FILE_FLAGS if flag.name != 'qpm')

    def __init__(self, encoder, extractor):
        super().__init__(encoder, extractor)
        self.min_note, self.max_note = encoder.min_note, encoder.max_note
        self.steps_per_quarter = extractor.steps_per_quarter
        self.transpose_to_key = extractor.transpose_to_key
        self._qpm = DEFAULT_QPM     # the tempo the primer's options give (see primer)

    def primer(self, options):
        """Magenta's primer melody (see melody_primer, midi_primer): through the step where
        its generator starts, after the last note; the tempo the output is written at is
        kept."""
        low, high = self.min_note, self.max_note
        default = MIDDLE_C if low <= MIDDLE_C < high else (low + high) // 2
        melody, self._qpm = primer_and_qpm(options, self.encoder, self.steps_per_quarter,
                                           default)
        return melody

    def to_model(self, primer):
        # as in Magenta: the primer moves into the key and range the model was trained on;
        # a note that leaves the range on the way is folded by octaves, and that is said
        moved, amount = squash_melody(primer, self.min_note, self.max_note,
                                      self.transpose_to_key)
        outside = sum(e >= 0 and not self.min_note <= e + amount < self.max_note
                      for e in primer)
        if outside:
            from musekit.output.plot import note_name
            print("musekit: primer: %d note%s outside the model's range %s..%s%s moved by "
                  'octaves into it' % (outside, 's' if outside > 1 else '',
                                       note_name(self.min_note), note_name(self.max_note - 1),
                                       ' (once transposed by %+d)' % amount if amount else ''),
                  file=sys.stderr)
        return moved, amount

    def from_model(self, events, moved):
        return transpose_melody(events, -moved)

    def write(self, stem, events, primer_length, options):
        """MIDI (WAV, PNG) at --qpm, else the tempo `primer` found."""
        if options['qpm'] is None:
            options = dict(options, qpm=self._qpm)
        return write_note_files(stem, melody_notes(events), len(events), primer_length,
                                options, self.steps_per_quarter)
