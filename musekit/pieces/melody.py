"""The melody piece type: monophonic events (-2 hold, -1 note-off, 0..127 note-on), read
from a primer list or MIDI file, moved into the model's key and range as Magenta's melody
models do, and written as MIDI (with WAV and a piano-roll PNG on request)."""
import sys

from musekit.encoders.key import MAJOR_SCALE
from musekit.encoders.melody import NOTE_OFF
from musekit.errors import MusekitError
from musekit.output.notes import Note
from musekit.pieces.base import (NOTE_FILE_FLAGS, PRIMER_MIDI, Flag, NoteRange, StepGrid, PieceType,
                                 int_list, read_midi_sequence, register, write_note_files)

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
             '(-2 = no event, -1 = note-off, 0..127 = note-on). Default: middle C. Like '
             "every primer it is moved into the model's key and range for generation, and "
             'the result moved back.'),
        PRIMER_MIDI,
    ) + NOTE_FILE_FLAGS

    def __init__(self, encoder, extractor):
        super().__init__(encoder, extractor)
        self.min_note, self.max_note = encoder.min_note, encoder.max_note
        self.steps_per_quarter = extractor.steps_per_quarter
        self.transpose_to_key = extractor.transpose_to_key

    def primer(self, options):
        from musekit.output.midi import check_qpm
        check_qpm(options['qpm'])
        if options['primer_melody'] is not None and options['primer_midi']:
            raise MusekitError('give --primer_melody or --primer_midi, not both')
        if options['primer_midi']:
            return read_primer_midi(options['primer_midi'], self.encoder,
                                    self.steps_per_quarter)
        if options['primer_melody'] is not None:
            return parse_primer(options['primer_melody'])
        low, high = self.min_note, self.max_note
        return [MIDDLE_C if low <= MIDDLE_C < high else (low + high) // 2]

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
        return write_note_files(stem, melody_notes(events), len(events), primer_length,
                                options, self.steps_per_quarter)
