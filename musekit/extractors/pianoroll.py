"""The 'pianoroll' extractor: the polyphonic extractor's pieces as frames the way Magenta's
pianoroll pipeline (note_seq's PianorollSequence) makes them, where a note struck again on
the step after a note of its pitch ends is kept apart by one silent frame (split_repeats).

PianorollSequence walks the notes in order: each note first silences its pitch on the step
before it starts, then sounds it from its start to its end, so a note listed later may sound
again a step an earlier one silenced. The same walk here, over pitched notes only, with
note_seq's quirk kept: a note starting at step 0 silences its pitch on the piece's last step
(its step "-1"), so frames equal note_seq's."""
import dataclasses

import numpy as np

from musekit.extractors.base import register
from musekit.extractors.polyphony import PolyphonicExtractor
from musekit.params import param


def split_repeat_frames(quantized, low, high, length):
    """(frames, notes left out) of a quantized NoteSequence's first `length` steps, keys
    [low, high), with PianorollSequence's split_repeats walk (the module docstring)."""
    roll = np.zeros((length, max(high - low, 0)), bool)
    last = quantized.total_quantized_steps - 1
    outside = 0
    for note in quantized.notes:
        if note.is_drum:
            continue
        if not low <= note.pitch < high:
            outside += 1
            continue
        start, end, key = note.quantized_start_step, note.quantized_end_step, note.pitch - low
        before = start - 1 if start > 0 else last
        if 0 <= before < length:
            roll[before, key] = False
        roll[start:end, key] = True
    return [tuple(int(k) + low for k in np.flatnonzero(frame)) for frame in roll], outside


@register('pianoroll')
class PianorollExtractor(PolyphonicExtractor):
    """Like 'polyphonic' (same splitting, limits and counts); with split_repeats, frames as
    Magenta's pianoroll pipeline makes them."""

    @dataclasses.dataclass
    class Params(PolyphonicExtractor.Params):
        split_repeats: bool = param(True, 'a note struck on the step after a note of its '
                                    'pitch ends gets one silent frame before it (Magenta)')

    def steps(self, piece, encoder, length):
        if not self.split_repeats:
            return super().steps(piece, encoder, length)
        return split_repeat_frames(piece, encoder.min_pitch, encoder.max_pitch, length)
