"""The 'articulated' extractor: polyphonic pieces as steps of (played, articulated)
pitches, so a note repeated on consecutive steps stays two notes (the biaxial encoding)."""
from musekit.extractors.base import register
from musekit.extractors.polyphony import PolyphonicExtractor, note_sets


def note_steps(quantized, low, high, length):
    """((played, articulated) per step for the first `length` steps, notes left out): a
    note is articulated on its first step and played on all of them (see `note_sets`)."""
    sounding, starting, outside = note_sets(quantized, low, high, length)
    return [(tuple(sorted(p)), tuple(sorted(a))) for p, a in zip(sounding, starting)], outside


@register('articulated')
class ArticulatedExtractor(PolyphonicExtractor):
    """Like 'polyphonic' (same splitting, limits and counts), with each step's onsets."""

    output_name = 'articulated_rolls'

    def steps(self, piece, encoder, length):
        return note_steps(piece, encoder.min_pitch, encoder.max_pitch, length)
