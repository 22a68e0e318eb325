"""The 'articulated' extractor: polyphonic pieces as steps of (played, articulated)
pitches, so a note repeated on consecutive steps stays two notes (the biaxial encoding)."""
from musekit.extractors.base import register
from musekit.extractors.polyphony import PolyphonicExtractor


def note_steps(quantized, low, high, length):
    """((played, articulated) per step for the first `length` steps, notes left out): a
    note is articulated on its first step and played on all of them; drum notes and
    pitches outside [low, high) are left out, the latter counted over the whole piece."""
    played = [set() for _ in range(length)]
    articulated = [set() for _ in range(length)]
    outside = 0
    for note in quantized.notes:
        if note.is_drum:
            continue
        if not low <= note.pitch < high:
            outside += 1
            continue
        start, end = note.quantized_start_step, min(note.quantized_end_step, length)
        if start < end:
            articulated[start].add(note.pitch)
        for step in range(start, end):
            played[step].add(note.pitch)
    return [(tuple(sorted(p)), tuple(sorted(a))) for p, a in zip(played, articulated)], outside


@register('articulated')
class ArticulatedExtractor(PolyphonicExtractor):
    """Like 'polyphonic' (same splitting, limits and counts), with each step's onsets."""

    output_name = 'articulated_rolls'

    def steps(self, piece, encoder, length):
        return note_steps(piece, encoder.min_pitch, encoder.max_pitch, length)
