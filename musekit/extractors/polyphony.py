"""The polyphonic extractor: every pitched (non-drum) note of a piece, quantized, as one
sequence of frames (the set of pitches sounding at each step) for the piano-roll and
chord-token encoders."""
import dataclasses

from musekit.errors import MusekitError
from musekit.extractors.base import NoteSequenceExtractor, fits_step_limit, new_stats, register
from musekit.params import param


def quantized_length(quantized):
    """Steps from the start of a quantized NoteSequence to its end (or its last note's)."""
    return max([quantized.total_quantized_steps]
               + [n.quantized_end_step for n in quantized.notes])


def note_sets(quantized, low, high, length=None):
    """(pitches sounding, pitches starting, notes left out) of a quantized NoteSequence: a
    set per step for its first `length` steps (default: all); drum notes and pitches
    outside [low, high) are left out and the latter counted over the whole piece. Only
    `length` steps are ever built, so a long piece costs no more than the part kept."""
    if length is None:
        length = quantized_length(quantized)
    sounding = [set() for _ in range(length)]
    starting = [set() for _ in range(length)]
    outside = 0
    for note in quantized.notes:
        if note.is_drum:
            continue
        if not low <= note.pitch < high:
            outside += 1
            continue
        start, end = note.quantized_start_step, min(note.quantized_end_step, length)
        if start < end:
            starting[start].add(note.pitch)
        for step in range(start, end):
            sounding[step].add(note.pitch)
    return sounding, starting, outside


def note_frames(quantized, low, high, length=None):
    """(frames, notes left out): `note_sets`'s sounding pitches as sorted tuples."""
    sounding, _, outside = note_sets(quantized, low, high, length)
    return [tuple(sorted(f)) for f in sounding], outside


@register('polyphonic')
class PolyphonicExtractor(NoteSequenceExtractor):
    """NoteSequence -> quantized (split where the tempo or time signature changes) -> one
    frame sequence per part, with Magenta-style limits: pieces shorter than `min_steps`
    are dropped, longer than `max_steps` dropped too unless `truncate` (then cut), all
    counted. The encoder's keyboard (`min_pitch`, `max_pitch`) bounds the pitches."""

    output_name = 'piano_rolls'

    @dataclasses.dataclass
    class Params:
        steps_per_quarter: int = param(4, 'steps per quarter note once quantized', min=1,
                                       max=96)
        min_steps: int = param(8, 'a shorter piece is dropped', min=2)
        max_steps: int = param(1024, 'a longer piece is dropped, or cut with truncate '
                               '(at least min_steps)', min=2)
        truncate: bool = param(False, 'cut a piece longer than max_steps instead of '
                               'dropping it')

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        if self.max_steps < self.min_steps:
            raise MusekitError('max_steps must be >= min_steps (%d), got %d'
                               % (self.min_steps, self.max_steps))

    def prepare(self, sequence):
        from note_seq import sequences_lib
        stats, pieces = new_stats(), []
        for part in sequences_lib.split_note_sequence_on_time_changes(sequence):
            if not any(not n.is_drum for n in part.notes):
                continue
            try:
                quantized = sequences_lib.quantize_note_sequence(part, self.steps_per_quarter)
            except Exception:       # note_seq raises several "cannot quantize" errors
                stats['sequences_not_quantizable'] += 1
                continue
            if fits_step_limit(quantized, stats):
                pieces.append(quantized)
        if not pieces and not stats:
            stats['sequences_without_pitched_notes'] += 1
        return pieces, stats

    def check_augmentation(self, transpositions):
        pass

    def augment(self, piece, transposition):
        from note_seq import sequences_lib
        if not transposition:
            return piece
        # note_seq counts (and drops) notes it would push out of MIDI's range
        return sequences_lib.transpose_note_sequence(piece, transposition)[0]

    def extract(self, piece, encoder):
        stats = new_stats()
        length = quantized_length(piece)
        dropped = length < self.min_steps or (length > self.max_steps and not self.truncate)
        frames, outside = self.steps(piece, encoder, 0 if dropped else min(length, self.max_steps))
        if outside:
            stats['notes_outside_key_range'] += outside
        if length < self.min_steps:
            stats['%s_discarded_too_short' % self.output_name] += 1
            return [], stats
        if length > self.max_steps:
            if not self.truncate:
                stats['%s_discarded_too_long' % self.output_name] += 1
                return [], stats
            stats['%s_truncated' % self.output_name] += 1
        return [frames], stats

    def steps(self, piece, encoder, length):
        """(the first `length` events of `piece`, notes outside the encoder's keys)."""
        return note_frames(piece, encoder.min_pitch, encoder.max_pitch, length)

    def fingerprint(self, sequence):
        return tuple(sequence)
