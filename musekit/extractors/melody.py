"""Monophonic melodies from quantized NoteSequences, with Magenta's melody_rnn rules.

Split at time-signature/tempo changes, quantize, take each instrument's melodies (a new
melody after `gap_bars` of silence), drop short / few-pitch / polyphonic ones, truncate to
`max_steps`, then transpose to a key and fold into the encoder's pitch range.
"""
import dataclasses
import functools

import numpy as np

from musekit.errors import MusekitError
from musekit.extractors.base import NoteSequenceExtractor, fits_step_limit, new_stats, register
from musekit.params import param


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


def quantized_or_counted(piece, steps_per_quarter, stats):
    """`piece` quantized at `steps_per_quarter`, or None with the reason counted in `stats`
    (note_seq's quantization errors, Magenta's names; MUSEKIT_MAX_QUANTIZED_STEPS)."""
    _, _, sequences_lib, quantize_errors = _note_seq()
    try:
        piece = sequences_lib.quantize_note_sequence(piece, steps_per_quarter)
    except tuple(quantize_errors) as e:
        stats['sequences_discarded_' + quantize_errors[type(e)]] += 1
        return None
    return piece if fits_step_limit(piece, stats) else None


def magenta_melodies(quantized, instruments, steps_per_bar, rules, stats):
    """Yields the note_seq Melodies of each of `instruments` in a quantized piece, found one
    after another as Magenta's extract_melodies finds them, by the extractor `rules`'
    gap_bars, ignore_polyphonic_notes, min_bars, max_steps and min_unique_pitches; drops
    are counted in `stats` under Magenta's names."""
    _, melodies_lib, _, _ = _note_seq()
    for instrument in instruments:
        start = 0
        while True:
            melody = melodies_lib.Melody()
            try:
                melody.from_quantized_sequence(
                    quantized, search_start_step=start, instrument=instrument,
                    gap_bars=rules.gap_bars, ignore_polyphonic_notes=rules.ignore_polyphonic_notes)
            except melodies_lib.PolyphonicMelodyError:
                stats['polyphonic_tracks_discarded'] += 1
                break
            # the next search starts on the bar line at or after this melody's end
            start = melody.end_step + (-melody.end_step) % steps_per_bar
            if not melody:
                break
            if len(melody) < steps_per_bar * rules.min_bars:
                stats['melodies_discarded_too_short'] += 1
                continue
            if len(melody) > rules.max_steps:
                melody.set_length(rules.max_steps)
                stats['melodies_truncated'] += 1
            if np.count_nonzero(melody.get_note_histogram()) < rules.min_unique_pitches:
                stats['melodies_discarded_too_few_pitches'] += 1
                continue
            yield melody


@register('melody')
class MelodyExtractor(NoteSequenceExtractor):
    """Magenta's MelodyExtractor defaults: min 7 bars, max 512 steps, gap 1 bar, 5 pitches."""

    output_name = 'melodies'

    @dataclasses.dataclass
    class Params:
        steps_per_quarter: int = param(4, 'steps per quarter note once quantized', min=1)
        min_bars: int = param(7, 'a shorter melody is dropped', min=0)
        max_steps: int = param(512, 'a longer melody is cut to this many steps', min=1)
        gap_bars: float = param(1.0, 'bars of silence that end a melody (inf: never)',
                                above=0.0, infinite=True)
        min_unique_pitches: int = param(5, 'a melody of fewer distinct pitches is dropped',
                                        min=0)
        ignore_polyphonic_notes: bool = param(False, 'keep the highest note of a chord '
                                              'instead of dropping the melody')
        transpose_to_key: int | None = param(0, 'pitch class of the key melodies are moved '
                                             'to (0: C major; null: not moved)', min=0,
                                             max=11)
        split_on_time_changes: bool = param(True, 'cut pieces where the tempo or time '
                                            'signature changes')
        fold_into_range: bool = param(True, "fold melodies into the encoder's pitch range "
                                      '(false: keep their pitches, for primers)')

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
            piece = quantized_or_counted(piece, self.steps_per_quarter, stats)
            if piece is not None:
                quantized.append(piece)
        if not quantized and 'sequences_discarded_too_long_to_quantize' not in stats:
            stats['sequences_without_notes' if not any(p.notes for p in pieces)
                  else 'sequences_not_quantizable'] += 1
        return quantized, stats

    def extract(self, quantized, encoder):
        """Melody event lists (squashed into the encoder's pitch range) and drop stats."""
        _, _, sequences_lib, _ = _note_seq()
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
        for melody in magenta_melodies(quantized, tracks, steps_per_bar, self, stats):
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
