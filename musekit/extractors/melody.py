"""Monophonic melodies from quantized NoteSequences, with Magenta's melody_rnn rules.

Split at time-signature/tempo changes, quantize, take each instrument's melodies (a new
melody after `gap_bars` of silence), drop short / few-pitch / polyphonic ones, truncate to
`max_steps`, then transpose to a key and fold into the encoder's pitch range.
"""
import functools

import numpy as np

from musekit.errors import MusekitError
from musekit.extractors.base import Extractor, fits_step_limit, new_stats, register


@functools.lru_cache(maxsize=None)
def _note_seq():
    """note_seq's modules, imported on first use: a job's driver process never needs them."""
    from note_seq import events_lib, melodies_lib, sequences_lib
    quantize_errors = {
        sequences_lib.MultipleTimeSignatureError: 'multiple_time_signatures',
        sequences_lib.MultipleTempoError: 'multiple_tempos',
        sequences_lib.BadTimeSignatureError: 'bad_time_signature',
        sequences_lib.NegativeTimeError: 'negative_time',
    }
    return events_lib, melodies_lib, sequences_lib, quantize_errors


@register('melody')
class MelodyExtractor(Extractor):
    """Magenta's MelodyExtractor defaults: min 7 bars, max 512 steps, gap 1 bar, 5 pitches."""

    output_name = 'melodies'

    def __init__(self, steps_per_quarter=4, min_bars=7, max_steps=512, gap_bars=1.0,
                 min_unique_pitches=5, ignore_polyphonic_notes=False, transpose_to_key=0,
                 split_on_time_changes=True, fold_into_range=True):
        if (isinstance(steps_per_quarter, bool) or not isinstance(steps_per_quarter, int)
                or steps_per_quarter <= 0):
            raise MusekitError('melody extractor: steps_per_quarter must be a positive '
                               'integer, got %r' % (steps_per_quarter,))
        if min_bars < 0 or gap_bars <= 0 or max_steps <= 0:
            raise MusekitError('melody extractor: gap_bars and max_steps '
                               'must be positive and min_bars non-negative')
        if transpose_to_key is not None and not 0 <= transpose_to_key < 12:
            raise MusekitError('melody extractor: transpose_to_key must be 0..11 or null, '
                               'got %r' % (transpose_to_key,))
        self.steps_per_quarter = int(steps_per_quarter)
        self.min_bars = min_bars
        self.max_steps = int(max_steps)
        self.gap_bars = gap_bars
        self.min_unique_pitches = int(min_unique_pitches)
        self.ignore_polyphonic_notes = bool(ignore_polyphonic_notes)
        self.transpose_to_key = transpose_to_key
        self.split_on_time_changes = bool(split_on_time_changes)
        # False keeps melodies at their own pitches (primers; generation squashes them)
        self.fold_into_range = bool(fold_into_range)

    def params(self):
        return dict(steps_per_quarter=self.steps_per_quarter, min_bars=self.min_bars,
                    max_steps=self.max_steps, gap_bars=self.gap_bars,
                    min_unique_pitches=self.min_unique_pitches,
                    ignore_polyphonic_notes=self.ignore_polyphonic_notes,
                    transpose_to_key=self.transpose_to_key,
                    split_on_time_changes=self.split_on_time_changes,
                    fold_into_range=self.fold_into_range)

    def decode(self, data):
        from note_seq import music_pb2
        return music_pb2.NoteSequence.FromString(data)

    def augment(self, piece, transposition):
        if not transposition:
            return piece
        _, _, sequences_lib, _ = _note_seq()
        transposed, _ = sequences_lib.transpose_note_sequence(piece, transposition)
        return transposed

    def check_augmentation(self, transpositions):
        pass

    def fingerprint(self, sequence):
        return tuple(sequence)

    def prepare(self, sequence):
        _, _, sequences_lib, quantize_errors = _note_seq()
        stats = new_stats()
        if self.split_on_time_changes:
            pieces = sequences_lib.split_note_sequence_on_time_changes(sequence)
        else:
            pieces = [sequence]
        quantized = []
        for piece in pieces:
            if not piece.notes:
                continue
            try:
                piece = sequences_lib.quantize_note_sequence(piece, self.steps_per_quarter)
            except tuple(quantize_errors) as e:
                stats['sequences_discarded_' + quantize_errors[type(e)]] += 1
                continue
            if fits_step_limit(piece, stats):
                quantized.append(piece)
        if not quantized and 'sequences_discarded_too_long_to_quantize' not in stats:
            stats['sequences_without_notes' if not any(p.notes for p in pieces)
                  else 'sequences_not_quantizable'] += 1
        return quantized, stats

    def extract(self, quantized, encoder):
        """Melody event lists (squashed into the encoder's pitch range) and drop stats."""
        events_lib, melodies_lib, sequences_lib, _ = _note_seq()
        stats = new_stats()
        try:
            steps_per_bar = sequences_lib.steps_per_bar_in_quantized_sequence(quantized)
        except Exception:  # a missing/zero time signature denominator
            stats['sequences_discarded_bad_time_signature'] += 1
            return [], stats
        if steps_per_bar % 1 != 0:
            stats['sequences_discarded_non_integer_steps_per_bar'] += 1
            return [], stats
        steps_per_bar = int(steps_per_bar)
        min_note, max_note = _pitch_range(encoder)
        quantized, tracks = _number_tracks(quantized)
        melodies = []
        for instrument in tracks:
            start = 0
            while True:
                melody = melodies_lib.Melody()
                try:
                    melody.from_quantized_sequence(
                        quantized, search_start_step=start, instrument=instrument,
                        gap_bars=self.gap_bars,
                        ignore_polyphonic_notes=self.ignore_polyphonic_notes)
                except melodies_lib.PolyphonicMelodyError:
                    stats['polyphonic_tracks_discarded'] += 1
                    break
                except events_lib.NonIntegerStepsPerBarError:
                    stats['sequences_discarded_non_integer_steps_per_bar'] += 1
                    break
                # the next search starts on the bar line at or after this melody's end
                start = melody.end_step + (-melody.end_step) % steps_per_bar
                if not melody:
                    break
                if len(melody) < steps_per_bar * self.min_bars:
                    stats['melodies_discarded_too_short'] += 1
                    continue
                if len(melody) > self.max_steps:
                    melody.set_length(self.max_steps)
                    stats['melodies_truncated'] += 1
                if np.count_nonzero(melody.get_note_histogram()) < self.min_unique_pitches:
                    stats['melodies_discarded_too_few_pitches'] += 1
                    continue
                if self.fold_into_range:
                    melody.squash(min_note, max_note, self.transpose_to_key)
                events = [int(e) for e in melody]
                if self.fold_into_range:
                    try:
                        encoder.validate_events(events)
                    except MusekitError:
                        stats['melodies_discarded_out_of_range'] += 1
                        continue
                melodies.append(events)
        return melodies, stats


def _number_tracks(quantized):
    """Gives each (instrument, part) pair its own instrument number.

    MusicXML scores often play every part on one MIDI channel, so by instrument alone the
    four voices of a chorale would look like one polyphonic track.
    """
    pairs = sorted({(n.instrument, n.part) for n in quantized.notes})
    if len(pairs) == len({i for i, _ in pairs}):
        return quantized, [i for i, _ in pairs]
    number = {pair: k for k, pair in enumerate(pairs)}
    renumbered = type(quantized)()
    renumbered.CopyFrom(quantized)
    for note in renumbered.notes:
        note.instrument = number[(note.instrument, note.part)]
    return renumbered, list(range(len(pairs)))


def _pitch_range(encoder):
    params = encoder.params()
    try:
        return params['min_note'], params['max_note']
    except KeyError:
        raise MusekitError('the melody extractor needs an encoder with min_note/max_note, '
                           'not %r' % encoder.name) from None
