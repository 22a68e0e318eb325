"""Performances from NoteSequences, with Magenta's performance_rnn pipeline rules.

Per source: the sustain pedal lengthens the notes it holds (prepare); per augmentation
(training part: every time stretch x every transposition; other parts: neither): stretch,
cut into 30-second pieces, quantize at the encoder's steps per second, transpose (a piece
a transposition pushes out of MIDI's range is skipped), then take one performance of all
its notes with note_seq, cut to `max_events`, dropped below `min_events` (extract). The
encoder then gives the sequences to write (with measured controls for the conditioned
configs; twice for optional conditioning, as Magenta writes them).
"""
import collections
import dataclasses
import functools
import numbers

from musekit import limits
from musekit.errors import MusekitError
from musekit.extractors.base import NoteSequenceExtractor, new_stats, register, transposed
from musekit.params import param

MIN_PITCH, MAX_PITCH = 0, 127

# what augment hands extract: a source stretched, and the transposition still to apply
Augmented = collections.namedtuple('Augmented', 'sequence transposition')


@functools.lru_cache(maxsize=None)
def _note_seq():
    """note_seq's modules, imported on first use: a job's driver process never needs them."""
    import warnings
    with warnings.catch_warnings():     # its audio dependencies warn about a missing ffmpeg
        warnings.simplefilter('ignore')
        from note_seq import performance_lib, sequences_lib
    return performance_lib, sequences_lib


def performance_pairs(quantized, num_velocity_bins, max_shift_steps):
    """The (kind, value) events of one absolute-quantized NoteSequence, every note of every
    instrument from step 0 (note_seq's Performance)."""
    performance_lib, _ = _note_seq()
    performance = performance_lib.Performance(
        quantized, start_step=0, num_velocity_bins=num_velocity_bins,
        max_shift_steps=max_shift_steps)
    return [(event.event_type, event.event_value) for event in performance]


def performance_encoder(encoder):
    """`encoder` if it encodes performances; MusekitError otherwise."""
    if not hasattr(encoder, 'training_sequences') or not hasattr(encoder, 'steps_per_second'):
        raise MusekitError('the performance extractor needs a performance encoder, not %r'
                           % encoder.name)
    return encoder


@register('performance')
class PerformanceExtractor(NoteSequenceExtractor):
    """Magenta's performance_rnn_create_dataset defaults: min 32 and max 512 events, pieces
    of 30 seconds, training-part stretches 0.95 .. 1.05 (transpositions: --transpose_range,
    Magenta's is -3,3)."""

    output_name = 'performances'

    @dataclasses.dataclass
    class Params:
        min_events: int = param(32, 'a shorter performance is dropped (at least 2: one '
                                'training step)', min=2)
        max_events: int = param(512, 'a longer performance is cut to this many events',
                                min=1)
        split_seconds: float = param(30.0, 'sources are cut into pieces this long',
                                     above=0.0, max=86400.0)
        stretch_factors: list[float] = param([0.95, 0.975, 1.0, 1.025, 1.05],
                                             'time stretches of the training part',
                                             above=0.0, max=10.0, min_items=1,
                                             max_items=32)
        sustain: bool = param(True, 'lengthen the notes the sustain pedal holds (CC 64)')

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        if self.max_events < self.min_events:
            raise MusekitError('max_events must be >= min_events (%d), got %d'
                               % (self.min_events, self.max_events))

    def prepare(self, sequence):
        if self.sustain:
            _, sequences_lib = _note_seq()
            sequence = sequences_lib.apply_sustain_control_changes(sequence)
        return [sequence], new_stats()

    def check_augmentation(self, transpositions):
        pass

    def augmentations(self, transpositions, training):
        """Every stretch x every transposition on the training part (Magenta's order);
        no stretch elsewhere."""
        stretches = self.stretch_factors if training else [1.0]
        return [(stretch, amount) for stretch in stretches for amount in transpositions]

    def augment(self, piece, augmentation):
        """`augmentation`: (stretch factor, transposition), or a transposition alone."""
        stretch, amount = ((1.0, augmentation) if isinstance(augmentation, numbers.Integral)
                           else augmentation)
        if stretch != 1.0:
            _, sequences_lib = _note_seq()
            piece = sequences_lib.stretch_note_sequence(piece, stretch)
        return Augmented(piece, amount)

    def longest_sequence(self):
        return self.max_events

    def extract(self, piece, encoder):
        """(event sequences of the encoder, drop statistics) for one augmented source."""
        _, sequences_lib = _note_seq()
        encoder = performance_encoder(encoder)
        if not isinstance(piece, Augmented):
            piece = Augmented(piece, 0)
        stats, sequences = new_stats(), []
        sequence, amount = piece
        steps_per_second = encoder.steps_per_second
        if sequence.total_time * steps_per_second > limits.MAX_QUANTIZED_STEPS.value():
            stats['sequences_discarded_too_long_to_quantize'] += 1
            return [], stats
        for part in sequences_lib.split_note_sequence(sequence, self.split_seconds):
            try:
                quantized = sequences_lib.quantize_note_sequence_absolute(part,
                                                                          steps_per_second)
            except sequences_lib.NegativeTimeError:
                stats['sequences_discarded_negative_time'] += 1
                continue
            quantized = transposed(quantized, amount)
            if quantized is None:
                stats['skipped_due_to_range_exceeded'] += 1
                continue
            stats['transpositions_generated'] += 1
            pairs = self.performance(quantized, encoder, stats)
            if pairs is not None:
                sequences += encoder.training_sequences(pairs)
        return sequences, stats

    def performance(self, quantized, encoder, stats):
        """The (kind, value) events of one quantized piece, cut to max_events, or None
        (counted in `stats`) when Magenta's extractor drops it."""
        if len({note.program for note in quantized.notes}) > 1:
            stats['performances_discarded_more_than_1_program'] += 1
            return None
        if any(not MIN_PITCH <= note.pitch <= MAX_PITCH for note in quantized.notes):
            stats['performances_discarded_pitch_outside_midi'] += 1    # a drum's
            return None
        if encoder.num_velocity_bins and any(not 1 <= note.velocity <= 127
                                             for note in quantized.notes):
            stats['performances_discarded_velocity_outside_midi'] += 1
            return None
        pairs = performance_pairs(quantized, encoder.num_velocity_bins,
                                  encoder.max_shift_steps)
        if len(pairs) > self.max_events:
            pairs = pairs[:self.max_events]
            stats['performances_truncated'] += 1
        if len(pairs) < self.min_events:
            stats['performances_discarded_too_short'] += 1
            return None
        return pairs
