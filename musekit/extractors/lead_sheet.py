"""Lead sheets (a melody with its chords) from NoteSequences, with Magenta's improv_rnn
pipeline rules (improv_rnn_pipeline + lead_sheet_pipelines, note_seq's lead_sheets_lib).

Per source: split where the tempo or time signature changes, quantize; a piece without
CHORD_SYMBOL text annotations gets chords inferred by note_seq's chord_inference
(`infer_chords`, musekit's addition: Magenta's pipeline needs chords in its input; counted
as chords_inferred). Per piece: every instrument's melodies (Magenta's melody rules: a new
melody after `gap_bars` of silence, at least `min_bars`, cut to `max_steps`, at least
`min_unique_pitches`), each with the chords under it (two different chords on one step:
coincident_chords; no chord at all: empty_chord_progressions); each lead sheet in all 12
keys (-6..5 semitones, melody folded by octaves into MIDI, chords renamed) when
`transpose_to_key` is null, as Magenta's improv configs do in every part; then the melody
folded into the encoder's range. A chord symbol note_seq cannot read or transpose drops
the whole piece (chord_symbol_exception), a chord outside the encoder's chord encoding
drops its lead sheet (chord_encoding_exception), as Magenta counts them.
"""
import collections
import copy
import dataclasses
import functools

import numpy as np

from musekit.encoders import chords
from musekit.encoders.lead_sheet import lead_sheet_events
from musekit.errors import MusekitError
from musekit.extractors.base import NoteSequenceExtractor, new_stats, register
from musekit.extractors.melody import magenta_melodies, quantized_or_counted
from musekit.params import param

TRANSPOSITIONS = range(-6, 6)       # Magenta's all_transpositions: every key once


@functools.lru_cache(maxsize=None)
def _note_seq():
    """note_seq's modules, imported on first use: a job's driver process never needs them."""
    import warnings
    with warnings.catch_warnings():     # its audio dependencies warn about a missing ffmpeg
        warnings.simplefilter('ignore')
        from note_seq import (chord_inference, chord_symbols_lib, chords_lib, events_lib,
                              lead_sheets_lib, melodies_lib, sequences_lib)
        from note_seq.protobuf import music_pb2
    _memoise_transitions(chord_inference)
    return dict(chord_inference=chord_inference, chord_symbols_lib=chord_symbols_lib,
                chords_lib=chords_lib, events_lib=events_lib, lead_sheets_lib=lead_sheets_lib,
                melodies_lib=melodies_lib, sequences_lib=sequences_lib, music_pb2=music_pb2)


def _memoise_transitions(chord_inference):
    """Keeps chord_inference's key-chord transition matrix between calls: it depends only
    on the inference's probabilities, and building it (1164 x 1164 in Python loops) takes
    93% of an inference, about 1.5 s per piece. The matrix is the one note_seq computes,
    kept read-only (note_seq only takes its log). A note_seq without that private function
    is left as it is."""
    build = getattr(chord_inference, '_key_chord_transition_distribution', None)
    if build is None or getattr(build, 'musekit_memoised', False):
        return
    cache = {}

    @functools.wraps(build)
    def memoised(*args, **kwargs):
        key = tuple(a.tobytes() if isinstance(a, np.ndarray) else a
                    for a in args + tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = build(*args, **kwargs)
            cache[key].setflags(write=False)
        return cache[key]

    memoised.musekit_memoised = True
    chord_inference._key_chord_transition_distribution = memoised


def has_chords(sequence):
    """Whether a NoteSequence holds CHORD_SYMBOL text annotations."""
    chord_symbol = _note_seq()['music_pb2'].NoteSequence.TextAnnotation.CHORD_SYMBOL
    return any(a.annotation_type == chord_symbol for a in sequence.text_annotations)


def with_inferred_chords(quantized):
    """A copy of a quantized NoteSequence with chords inferred by note_seq's chord_inference
    (its defaults: 2 chords a bar in 4/4 and 6/8, 1 in 2/2, 2/4 and 3/4), or None where it
    cannot (an uncommon time signature, a piece too long)."""
    lib = _note_seq()
    inferred = type(quantized)()
    inferred.CopyFrom(quantized)
    try:
        lib['chord_inference'].infer_chords_for_sequence(inferred)
    except lib['chord_inference'].ChordInferenceError:
        return None
    return inferred


@register('lead_sheet')
class LeadSheetExtractor(NoteSequenceExtractor):
    """Magenta's improv_rnn_create_dataset: lead sheets of at least 7 bars (cut to 512
    steps, 3 distinct pitches), in all 12 keys."""

    output_name = 'lead_sheets'

    @dataclasses.dataclass
    class Params:
        steps_per_quarter: int = param(4, 'steps per quarter note once quantized', min=1,
                                       max=96)
        min_bars: int = param(7, 'a shorter melody is dropped', min=0)
        max_steps: int = param(512, 'a longer melody is cut to this many steps', min=1)
        gap_bars: float = param(1.0, 'bars of silence that end a melody (inf: never)',
                                above=0.0, infinite=True)
        min_unique_pitches: int = param(3, 'a melody of fewer distinct pitch classes is '
                                        'dropped', min=0)
        ignore_polyphonic_notes: bool = param(False, 'keep the highest note of a chord '
                                              'instead of dropping the track')
        require_chords: bool = param(True, 'drop a lead sheet whose chords are all "no '
                                     'chord"')
        all_transpositions: bool = param(True, 'each lead sheet in all 12 keys (-6..5 '
                                         "semitones), every part, as Magenta's improv "
                                         'configs')
        transpose_to_key: int | None = param(None, 'pitch class of the key melodies and '
                                             'chords are moved to (null: not moved)',
                                             min=0, max=11)
        infer_chords: bool = param(True, 'infer chords (note_seq chord_inference) for a '
                                   'piece that has no chord symbols')

    def longest_sequence(self):
        return self.max_steps

    def prepare(self, sequence):
        """Quantized pieces (split at time changes), chords inferred where none are given."""
        sequences_lib = _note_seq()['sequences_lib']
        stats, quantized = new_stats(), []
        for piece in sequences_lib.split_note_sequence_on_time_changes(sequence):
            if not piece.notes:
                continue
            piece = quantized_or_counted(piece, self.steps_per_quarter, stats)
            if piece is None:
                continue
            if self.infer_chords and not has_chords(piece):
                inferred = with_inferred_chords(piece)
                if inferred is None:
                    stats['chord_inference_failed'] += 1
                else:
                    stats['chords_inferred'] += 1
                    piece = inferred
            quantized.append(piece)
        if not quantized and not stats:
            stats['sequences_without_notes'] += 1
        return quantized, stats

    def extract(self, quantized, encoder):
        """(lead-sheet event lists for `encoder`, drop statistics) of one quantized piece."""
        lib = _note_seq()
        if not hasattr(encoder, 'chord_encoding'):
            raise MusekitError('the lead_sheet extractor needs a lead-sheet encoder, not %r'
                               % encoder.name)
        stats = new_stats()
        try:
            sheets = self.lead_sheets(quantized, stats)
        except lib['events_lib'].NonIntegerStepsPerBarError:
            return [], collections.Counter(non_integer_steps_per_bar=1)
        except lib['chord_symbols_lib'].ChordSymbolError:
            return [], collections.Counter({chords.SYMBOL_ERROR: 1})
        out = []
        for sheet in sheets:
            try:
                sheet.squash(encoder.min_note, encoder.max_note, self.transpose_to_key)
            except lib['chord_symbols_lib'].ChordSymbolError:
                stats[chords.SYMBOL_ERROR] += 1
                continue
            events = lead_sheet_events(list(sheet.melody), list(sheet.chords))
            try:
                encoder.validate_events(events)
            except chords.ChordError as e:
                stats[e.reason] += 1
                continue
            out.append(events)
        return out, stats

    def lead_sheets(self, quantized, stats):
        """note_seq LeadSheets of a quantized piece (Magenta's extract_lead_sheet_fragments:
        melodies, the chords under each, the transpositions), counting drops in `stats`."""
        lib = _note_seq()
        chords_lib = lib['chords_lib']
        steps_per_bar = int(lib['sequences_lib'].steps_per_bar_in_quantized_sequence(quantized))
        instruments = sorted({n.instrument for n in quantized.notes})
        melodies = list(magenta_melodies(quantized, instruments, steps_per_bar, self, stats))
        sheets = []
        for melody in melodies:
            progression = chords_lib.ChordProgression()
            try:
                progression.from_quantized_sequence(quantized, melody.start_step,
                                                    melody.end_step)
            except chords_lib.CoincidentChordsError:
                stats['coincident_chords'] += 1
                continue
            if self.require_chords and all(c == chords.NO_CHORD for c in progression):
                stats['empty_chord_progressions'] += 1
                continue
            sheet = lib['lead_sheets_lib'].LeadSheet(melody, progression)
            if not (self.all_transpositions and self.transpose_to_key is None):
                sheets.append(sheet)
                continue
            for amount in TRANSPOSITIONS:
                moved = copy.deepcopy(sheet)
                moved.transpose(amount)
                sheets.append(moved)
        return sheets
