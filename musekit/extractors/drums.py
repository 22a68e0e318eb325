"""Drum tracks from quantized NoteSequences, with Magenta's drums_rnn pipeline rules.

Split where the tempo or time signature changes, quantize (the config's steps per quarter),
then take drum tracks one after another (note_seq's DrumTrack.from_quantized_sequence, as
Magenta's extract_drum_tracks calls it): a track starts on the bar line before its first
drum hit (notes with is_drum and a velocity), holds per step the set of pitches struck
there, and ends after `gap_bars` bars without a hit; the next search starts on the bar line
after it. Tracks under `min_bars` bars are dropped, longer than `max_steps` cut. Drums are
never transposed. Counted under Magenta's names.
"""
import dataclasses

from musekit.encoders.drums import NO_HITS
from musekit.errors import MusekitError
from musekit.extractors.base import NoteSequenceExtractor, new_stats, register
from musekit.extractors.melody import _note_seq, quantized_or_counted
from musekit.params import param

# Magenta's histogram of kept tracks' lengths in bars; min_bars // 2, min_bars - 1,
# min_bars and min_bars + 1 are bounds too
LENGTH_BUCKETS_BARS = (0, 1, 10, 20, 30, 40, 50, 100, 200, 500)


def length_buckets(min_bars):
    """The sorted lower bounds of the track-length histogram for `min_bars`."""
    return sorted(set(LENGTH_BUCKETS_BARS) | {min_bars // 2, min_bars - 1, min_bars,
                                              min_bars + 1} - {-1})


def length_bucket(bars, bounds):
    """The name of the bucket of `bounds` (sorted lower bounds) holding `bars`: '10_to_19',
    '7', '500_up'."""
    index = max(i for i, b in enumerate(bounds) if b <= bars)
    if index + 1 == len(bounds):
        return '%d_up' % bounds[index]
    lower, upper = bounds[index], bounds[index + 1] - 1
    return str(lower) if upper == lower else '%d_to_%d' % (lower, upper)


def hits_by_step(quantized, ignore_is_drum=False):
    """{step: frozenset of pitches} of the drum notes of a quantized NoteSequence (every
    note with `ignore_is_drum`), zero-velocity notes left out."""
    found = {}
    for note in quantized.notes:
        if (note.is_drum or ignore_is_drum) and note.velocity:
            found.setdefault(note.quantized_start_step, set()).add(note.pitch)
    return {step: frozenset(pitches) for step, pitches in found.items()}


def drum_tracks(hits, steps_per_bar, gap_bars=1.0, pad_end=False, search_start_step=0):
    """[(start step, events)] of the drum tracks in `hits` ({step: pitches}), one after
    another as Magenta's extract_drum_tracks finds them (see the module docstring)."""
    steps = sorted(hits)
    tracks, i = [], 0
    search = search_start_step
    while True:
        while i < len(steps) and steps[i] < search:
            i += 1
        if i == len(steps):
            return tracks
        start = steps[i] - (steps[i] - search) % steps_per_bar
        events, gap_start = [], 0
        while i < len(steps):
            index = steps[i] - start
            if events and index - gap_start >= gap_bars * steps_per_bar:
                break
            events.extend([NO_HITS] * (index + 1 - len(events)))
            events[index] = hits[steps[i]]
            gap_start = index + 1
            i += 1
        if pad_end:
            events.extend([NO_HITS] * (-len(events) % steps_per_bar))
        end = start + len(events)
        search = end + (search - end) % steps_per_bar
        tracks.append((start, events))


def steps_per_bar_or_counted(quantized, stats):
    """The whole steps per bar of a quantized NoteSequence, or None with the reason counted
    (Magenta's non_integer_steps_per_bar; a time signature musekit cannot read)."""
    _, _, sequences_lib, _ = _note_seq()
    try:
        steps_per_bar = sequences_lib.steps_per_bar_in_quantized_sequence(quantized)
    except Exception:       # a time signature without a usable denominator
        stats['sequences_discarded_bad_time_signature'] += 1
        return None
    if not steps_per_bar > 0:
        stats['sequences_discarded_bad_time_signature'] += 1
        return None
    if steps_per_bar % 1:
        stats['non_integer_steps_per_bar'] += 1
        return None
    return int(steps_per_bar)


@register('drums')
class DrumExtractor(NoteSequenceExtractor):
    """Magenta's drums_rnn_create_dataset: DrumsExtractor(min_bars=7, max_steps=512,
    gap_bars=1.0) after splitting at time changes and quantizing."""

    output_name = 'drum_tracks'

    @dataclasses.dataclass
    class Params:
        steps_per_quarter: int = param(4, 'steps per quarter note once quantized', min=1,
                                       max=96)
        min_bars: int = param(7, 'a shorter drum track is dropped', min=0)
        max_steps: int = param(512, 'a longer drum track is cut to this many steps', min=1)
        gap_bars: float = param(1.0, 'bars without a drum hit that end a track (inf: never)',
                                above=0.0, infinite=True)
        pad_end: bool = param(False, 'pad each track with silence to a bar line (and cut '
                              'long ones on one)')
        ignore_is_drum: bool = param(False, "take every note as a drum hit, not only the "
                                     "drum channel's")
        split_on_time_changes: bool = param(True, 'cut pieces where the tempo or time '
                                            'signature changes')

    def fingerprint(self, sequence):
        return None         # Magenta keeps every track, repeats too

    def prepare(self, sequence):
        _, _, sequences_lib, _ = _note_seq()
        stats = new_stats()
        if not any(n.is_drum or self.ignore_is_drum for n in sequence.notes):
            stats['sequences_without_drums'] += 1
            return [], stats
        if self.split_on_time_changes:
            pieces = sequences_lib.split_note_sequence_on_time_changes(sequence)
        else:
            pieces = [sequence]
        quantized = []
        for piece in pieces:
            piece = quantized_or_counted(piece, self.steps_per_quarter, stats)
            if piece is not None:
                quantized.append(piece)
        return quantized, stats

    def tracks(self, quantized, stats):
        """The drum tracks (lists of events) of one quantized piece, the drops counted in
        `stats`."""
        steps_per_bar = steps_per_bar_or_counted(quantized, stats)
        if steps_per_bar is None:
            return []
        bounds = length_buckets(self.min_bars)
        kept = []
        for _, events in drum_tracks(hits_by_step(quantized, self.ignore_is_drum),
                                     steps_per_bar, self.gap_bars, self.pad_end):
            if len(events) < steps_per_bar * self.min_bars:
                stats['drum_tracks_discarded_too_short'] += 1
                continue
            if len(events) > self.max_steps:
                length = self.max_steps
                if self.pad_end:
                    length -= self.max_steps % steps_per_bar
                events = events[:length]
                stats['drum_tracks_truncated'] += 1
            stats['drum_track_lengths_in_bars_' + length_bucket(
                len(events) // steps_per_bar, bounds)] += 1
            kept.append(events)
        return kept

    def extract(self, quantized, encoder):
        """(drum tracks, drop stats) of one quantized piece; each track is checked against
        the encoder (a pitch it refuses drops the track, counted)."""
        stats = new_stats()
        tracks = []
        for events in self.tracks(quantized, stats):
            try:
                encoder.validate_events(events)
            except MusekitError:
                stats['drum_tracks_discarded_unknown_drums'] += 1
                continue
            tracks.append(events)
        return tracks, stats
