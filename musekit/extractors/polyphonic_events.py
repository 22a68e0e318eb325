"""Polyphonic event streams from NoteSequences, with Magenta's polyphony_rnn pipeline rules.

Split where the tempo or time signature changes, quantize (4 steps per quarter), and take
every note of a piece (drums too, as Magenta does) as one stream of events
(musekit.encoders.polyphonic_events) over all its quantized steps; a piece of fewer than
`min_steps` or more than `max_steps` steps, or of notes on more than one MIDI program, is
dropped and counted under Magenta's names. Transposition (the dataset job's
--transpose_range) moves every pitched note, and skips the whole transposition when a
note would leave MIDI's range, as Magenta's TranspositionPipeline does.
"""
import dataclasses

from musekit.encoders.polyphonic_events import notes_to_events
from musekit.extractors.base import NoteSequenceExtractor, new_stats, register, transposed
from musekit.extractors.melody import _note_seq, quantized_or_counted
from musekit.params import param

# Magenta's histogram of kept tracks' lengths in bars: (lower bound of each bucket)
LENGTH_BUCKETS_BARS = (0, 1, 10, 20, 30, 40, 50, 100, 200, 500, 1000)


def polyphonic_events(quantized):
    """The event stream of a quantized NoteSequence over all its total_quantized_steps
    (every note, drums too; see notes_to_events)."""
    return notes_to_events(((n.pitch, n.quantized_start_step, n.quantized_end_step)
                            for n in quantized.notes), quantized.total_quantized_steps)


def length_bucket(bars):
    """The name of the histogram bucket of a track `bars` long ('10_to_19', '1000_up')."""
    lower = max(b for b in LENGTH_BUCKETS_BARS if b <= bars)
    index = LENGTH_BUCKETS_BARS.index(lower)
    if index + 1 == len(LENGTH_BUCKETS_BARS):
        return '%d_up' % lower
    upper = LENGTH_BUCKETS_BARS[index + 1] - 1
    return str(lower) if upper == lower else '%d_to_%d' % (lower, upper)


class _OutOfRange:
    """A transposition skipped: one of its notes would leave MIDI 0..127."""


@register('polyphonic_events')
class PolyphonicEventExtractor(NoteSequenceExtractor):
    """Magenta's polyphony_rnn_create_dataset: one event stream per piece (split at time
    changes), pieces of 80 to 512 steps (5 to 32 bars of 4/4)."""

    output_name = 'poly_tracks'

    @dataclasses.dataclass
    class Params:
        steps_per_quarter: int = param(4, 'steps per quarter note once quantized', min=1,
                                       max=96)
        min_steps: int = param(80, 'a piece of fewer quantized steps is dropped', min=0)
        max_steps: int = param(512, 'a piece of more quantized steps is dropped (its '
                               'stream has several events per step)', min=1)

    def prepare(self, sequence):
        _, _, sequences_lib, _ = _note_seq()
        stats, quantized = new_stats(), []
        for piece in sequences_lib.split_note_sequence_on_time_changes(sequence):
            piece = quantized_or_counted(piece, self.steps_per_quarter, stats)
            if piece is not None:
                quantized.append(piece)
        return quantized, stats

    def check_augmentation(self, transpositions):
        pass

    def augment(self, piece, transposition):
        if not transposition:
            return piece
        moved = transposed(piece, transposition)
        return _OutOfRange() if moved is None else moved

    def longest_sequence(self):
        # a stream holds START, END and per step a STEP_END plus one event per sounding
        # note: four voices (the chorales) give 5 events a step; denser music needs more
        # memory than estimated from this
        return 5 * self.max_steps + 2

    def extract(self, quantized, encoder):
        """([event stream] or [], drop stats) of one quantized piece."""
        _, _, sequences_lib, _ = _note_seq()
        stats = new_stats()
        if isinstance(quantized, _OutOfRange):
            stats['skipped_due_to_range_exceeded'] += 1
            return [], stats
        try:
            steps_per_bar = sequences_lib.steps_per_bar_in_quantized_sequence(quantized)
        except Exception:  # a time signature without a usable denominator
            steps_per_bar = 0
        if not steps_per_bar > 0:
            stats['sequences_discarded_bad_time_signature'] += 1
            return [], stats
        if len({note.program for note in quantized.notes}) > 1:
            stats['polyphonic_tracks_discarded_more_than_1_program'] += 1
            return [], stats
        steps = quantized.total_quantized_steps     # the stream's STEP_END count
        if steps < self.min_steps:
            stats['polyphonic_tracks_discarded_too_short'] += 1
            return [], stats
        if steps > self.max_steps:
            stats['polyphonic_tracks_discarded_too_long'] += 1
            return [], stats
        bars = int(steps // steps_per_bar)
        stats['polyphonic_track_lengths_in_bars_' + length_bucket(bars)] += 1
        return [polyphonic_events(quantized)], stats
