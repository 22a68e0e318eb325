"""The drums piece type (Magenta's drums_rnn_generate): a primer of hit sets or a MIDI file's
drums, the model's continuation, written as MIDI on channel 10 (General MIDI drums).

A step is the model's quantized step (16th notes for drum_kit, 8th notes for one_drum, as
in Magenta); --num_steps counts every step of an output, primer included. Each generated
step is the set of drum types the model chose, each written as its type's first pitch
(36 kick, 38 snare, 42 closed hi-hat, ...) for one step at velocity 100, as note_seq's
decoding and DrumTrack.to_sequence do; primer hits keep their own pitches.

Magenta starts generating one step after the primer's last hit (its primer loses trailing
silent steps and gains one); musekit keeps the primer as given.
"""
import ast

from musekit import limits
from musekit.encoders.drums import MAX_PITCH, MIN_PITCH
from musekit.errors import MusekitError
from musekit.output.notes import Note
from musekit.pieces.base import (NOTE_FILE_FLAGS, PRIMER_MIDI, Flag, PieceType, StepGrid,
                                 read_midi_sequence, register, write_note_files)

DEFAULT_PRIMER = [frozenset([36])]      # Magenta's: a single bass drum hit
MAX_PRIMER_CHARACTERS = 1 << 20         # a --primer_drums longer than this is refused unread
VELOCITY = 100


def parse_primer_drums(text):
    """'[(36, 42), (), (42,)]' (Magenta's --primer_drums: a list of hit sets, one per step;
    a lone pitch may stand for its set) -> [frozenset({36, 42}), frozenset(), ...]. Read as
    a Python literal and nothing more; anything else is one MusekitError line."""
    if len(text) > MAX_PRIMER_CHARACTERS:
        raise MusekitError('--primer_drums is %d characters long (at most %d)'
                           % (len(text), MAX_PRIMER_CHARACTERS))
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise MusekitError('malformed --primer_drums %r: expected a list of hit sets like '
                           '"[(36, 42), (), (42,)]"' % _shown(text)) from None
    if not isinstance(value, (list, tuple)) or not value:
        raise MusekitError('--primer_drums must be a non-empty list of hit sets like '
                           '"[(36, 42), (), (42,)]", got %r' % _shown(text))
    limits.MAX_STEPS.check(len(value), '--primer_drums (%d steps)' % len(value))
    events = []
    for step, hits in enumerate(value):
        if _is_pitch(hits):
            hits = (hits,)
        if not isinstance(hits, (tuple, list, set, frozenset)):
            raise MusekitError('--primer_drums step %d is %r, not a set of drum pitches like '
                               '(36, 42) or ()' % (step, hits))
        for pitch in hits:
            if not _is_pitch(pitch):
                raise MusekitError('--primer_drums step %d holds %r, not a MIDI pitch '
                                   '(%d..%d)' % (step, pitch, MIN_PITCH, MAX_PITCH))
        events.append(frozenset(hits))
    return events


def _is_pitch(value):
    return type(value) is int and MIN_PITCH <= value <= MAX_PITCH


def _shown(text, width=60):
    return text if len(text) <= width else text[:width] + '...'


def read_primer_midi(path, steps_per_quarter):
    """The drum track of a MIDI file: its drum-channel notes (every note when it has none,
    as Magenta reads a primer), quantized, from the bar of the first hit to the last hit,
    no gap splitting it (the first tempo and meter's part of the file)."""
    from musekit.extractors.drums import DrumExtractor
    sequence = read_midi_sequence(path)
    if not sequence.notes:
        raise MusekitError('primer MIDI %s holds no notes' % path)
    extractor = DrumExtractor(steps_per_quarter=steps_per_quarter, min_bars=0,
                              max_steps=limits.MAX_STEPS.value(), gap_bars=float('inf'),
                              ignore_is_drum=not any(n.is_drum for n in sequence.notes))
    pieces, stats = extractor.prepare(sequence)
    for piece in pieces:
        tracks = extractor.tracks(piece, stats)
        if tracks:
            return tracks[0]
    raise MusekitError('primer MIDI %s holds no drum track musekit can use (%s)'
                       % (path, ', '.join(sorted(stats)) or 'no hits'))


def drum_notes(events):
    """A Note (is_drum, one step, velocity 100) per pitch of each step's hit set."""
    return [Note(pitch, step, step + 1, VELOCITY, is_drum=True)
            for step, hits in enumerate(events) for pitch in sorted(hits)]


@register('drums')
class DrumsPiece(PieceType):
    """Drum tracks in and out: `--primer_drums` or `--primer_midi` (default: one kick), the
    generated track written on MIDI channel 10."""

    file_stem = 'drums'
    plural = 'drum tracks'
    reads_extractor = (StepGrid,)
    flags = (
        Flag('primer_drums', 'string', None, 'Primer drum track as a list of hit sets, one '
             'per step, e.g. "[(36, 42), (), (42,)]" (General MIDI drum pitches; () is a '
             "silent step). Default: one bass drum hit, as Magenta's."),
        PRIMER_MIDI,
    ) + NOTE_FILE_FLAGS

    def __init__(self, encoder, extractor):
        super().__init__(encoder, extractor)
        self.steps_per_quarter = extractor.steps_per_quarter

    def primer(self, options):
        from musekit.output.midi import check_qpm
        check_qpm(options['qpm'])
        if options['primer_drums'] is not None and options['primer_midi']:
            raise MusekitError('give --primer_drums or --primer_midi, not both')
        if options['primer_midi']:
            events = read_primer_midi(options['primer_midi'], self.steps_per_quarter)
        elif options['primer_drums'] is not None:
            events = parse_primer_drums(options['primer_drums'])
        else:
            events = list(DEFAULT_PRIMER)
        self.encoder.validate_events(events)    # e.g. a pitch in no type, when refused
        return events

    def write(self, stem, events, primer_length, options):
        return write_note_files(stem, drum_notes(events), len(events), primer_length,
                                options, self.steps_per_quarter)
