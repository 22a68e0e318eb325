"""The drums piece type (Magenta's drums_rnn_generate): a primer of hit sets or a MIDI file's
drums, the model's continuation, written as MIDI on channel 10 (General MIDI drums).

A step is the model's quantized step (16th notes for drum_kit, 8th notes for one_drum, as
in Magenta); --num_steps counts every step of an output, primer included. Each generated
step is the set of drum types the model chose, each written as its type's first pitch
(36 kick, 38 snare, 42 closed hi-hat, ...) for one step at velocity 100, as note_seq's
decoding and DrumTrack.to_sequence do; primer hits keep their own pitches.

The primer is Magenta's: its NoteSequence (--primer_drums: one hit set per 16th note, at
--qpm, as Magenta's DrumTrack writes it; --primer_midi: the file at its own tempo) quantized
at the model's step, the drum track from the bar of its first hit through the step where
Magenta starts generating, computed as it does (the last note's end plus a step, rounded
up: usually two silent steps after the last hit; silence after that is dropped; a primer
without hits is one silent step). --primer_drums is worked out in plain Python
(primer_drums_track, proven equal to the note_seq path), so generating from it never
imports note_seq, most of a drum bundle's generation time. The model sees what Magenta's
sees, so a bundle gives what Magenta gives. musekit differs on purpose in three ways:
whole silent bars before the first hit are not written (Magenta writes them as time before
its track) and --num_steps counts the steps written; a primer MIDI's drum-channel notes are its hits (Magenta takes
every note; musekit does that only for a file without drums); --qpm, when given, wins over
a primer MIDI's tempo (in Magenta the MIDI's tempo wins).
"""
import ast

from musekit import limits
from musekit.encoders.drums import MAX_PITCH, MIN_PITCH, NO_HITS
from musekit.errors import MusekitError
from musekit.output.notes import Note
from musekit.pieces.base import (DEFAULT_QPM, NOTE_FILE_FLAGS, PRIMER_MIDI, Flag, PieceType,
                                 StepGrid, generation_start_step, primer_midi_qpm,
                                 read_midi_sequence, register, shown, write_note_files)

DEFAULT_PRIMER = [frozenset([36])]      # Magenta's: a single bass drum hit
PRIMER_DRUMS_STEPS_PER_QUARTER = 4      # note_seq's DrumTrack default: --primer_drums steps
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
                           '"[(36, 42), (), (42,)]"' % shown(text)) from None
    if not isinstance(value, (list, tuple)) or not value:
        raise MusekitError('--primer_drums must be a non-empty list of hit sets like '
                           '"[(36, 42), (), (42,)]", got %r' % shown(text))
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


def primer_drums_track(events, qpm, steps_per_quarter):
    """The drum track Magenta's generator hands its model for --primer_drums `events`, worked
    out without note_seq: each hit set starts at its 16th note (`events` steps at 4 per
    quarter, `qpm`), lands on the model's step as note_seq's quantization rounds it (half a
    step up, in its floating-point order: a one_drum model joins two 16ths), the track starts
    on the 4/4 bar line before the first hit and runs up to generation_start_step. Equal to
    primer_track of the NoteSequence Magenta writes for them (tests prove it)."""
    seconds = 60.0 / qpm / PRIMER_DRUMS_STEPS_PER_QUARTER     # a hit's length, as DrumTrack
    steps_per_second = steps_per_quarter * qpm / 60.0         # note_seq's, in its order
    hits, last = {}, None
    for step, pitches in enumerate(events):
        if pitches:
            hits.setdefault(int(step * seconds * steps_per_second + 0.5), set()).update(pitches)
            last = step
    if last is None:                # Magenta: one silent step, the step before it generates
        return [NO_HITS]
    last_end = (last + 1) * seconds
    end_step = int(last_end * steps_per_second + 0.5)
    if max(end_step, max(hits) + 1) > limits.MAX_QUANTIZED_STEPS.value():
        raise MusekitError('--primer_drums holds no drum track musekit can use '
                           '(sequences_discarded_too_long_to_quantize)')
    steps_per_bar = 4 * steps_per_quarter          # no time signature: note_seq's 4/4
    first = min(hits)
    start = first - first % steps_per_bar
    length = generation_start_step(last_end, qpm, steps_per_quarter) - start
    limits.MAX_STEPS.check(length, '--primer_drums (%d steps)' % length)
    return [frozenset(hits.get(step, ())) for step in range(start, start + length)]


def primer_track(sequence, steps_per_quarter, qpm, source):
    """The drum track of a primer NoteSequence as Magenta's DrumsRnnSequenceGenerator hands
    it to its model (see the module docstring): only its drum-channel notes when it has any,
    from the first tempo and meter's part of it; `qpm` when it has no tempo."""
    from musekit.extractors.drums import (DrumExtractor, drum_tracks, hits_by_step,
                                          steps_per_bar_or_counted)
    if not sequence.notes:          # Magenta: one silent step, the step before it generates
        return [NO_HITS]
    every_note = not any(n.is_drum for n in sequence.notes)
    extractor = DrumExtractor(steps_per_quarter=steps_per_quarter, min_bars=0,
                              max_steps=limits.MAX_STEPS.value(), gap_bars=float('inf'),
                              ignore_is_drum=every_note)
    pieces, stats = extractor.prepare(sequence)
    for piece in pieces:
        steps_per_bar = steps_per_bar_or_counted(piece, stats)
        tracks = drum_tracks(hits_by_step(piece, every_note), steps_per_bar,
                             gap_bars=float('inf')) if steps_per_bar else []
        if not tracks:
            continue
        start, events = tracks[0]
        piece_qpm = piece.tempos[0].qpm if piece.tempos and piece.tempos[0].qpm else qpm
        last_end = max(n.end_time for n in piece.notes if n.is_drum or every_note)
        length = generation_start_step(last_end, piece_qpm, steps_per_quarter) - start
        limits.MAX_STEPS.check(length, '%s (%d steps)' % (source, length))
        return (events + [NO_HITS] * length)[:length]
    raise MusekitError('%s holds no drum track musekit can use (%s)'
                       % (source, ', '.join(sorted(stats)) or 'no hits'))


def read_primer_midi(path, steps_per_quarter):
    """(the primer drum track of a MIDI file (see primer_track): its drum-channel notes, or
    every note when it has none; the file's first tempo, as Magenta reads it)."""
    sequence = read_midi_sequence(path)
    if not sequence.notes:
        raise MusekitError('primer MIDI %s holds no notes' % path)
    tempo = sequence.tempos[0].qpm if sequence.tempos and sequence.tempos[0].qpm \
        else DEFAULT_QPM
    return primer_track(sequence, steps_per_quarter, tempo, 'primer MIDI %s' % path), tempo


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
             'per 16th note as in Magenta (a one_drum model hears them on its 8th-note grid), '
             'e.g. "[(36, 42), (), (42,)]" (General MIDI drum pitches; () is a silent '
             "step). Default: one bass drum hit, as Magenta's. As in Magenta, generation "
             'starts two steps after the last hit (silence beyond is dropped).'),
        PRIMER_MIDI,
        Flag('qpm', 'float', None, "Tempo in quarter notes per minute. Default: a primer "
             "MIDI's first tempo (Magenta's, where it overrides even --qpm), else 120."),
    ) + tuple(flag for flag in NOTE_FILE_FLAGS if flag.name != 'qpm')

    def __init__(self, encoder, extractor):
        super().__init__(encoder, extractor)
        self.steps_per_quarter = extractor.steps_per_quarter
        self._requested = None      # --num_steps, told before the primer
        self._qpm = DEFAULT_QPM     # the tempo the primer's options give (see primer)

    def requested_length(self, num_steps, given):
        self._requested = num_steps

    def primer(self, options):
        """Magenta's primer drum track of --primer_midi, --primer_drums or its default (one
        kick): see the module docstring."""
        from musekit.output.midi import check_qpm
        qpm = options['qpm'] if options['qpm'] is None else check_qpm(options['qpm'])
        if options['primer_drums'] is not None and options['primer_midi']:
            raise MusekitError('give --primer_drums or --primer_midi, not both')
        if options['primer_midi']:
            what = 'the primer MIDI'
            events, tempo = read_primer_midi(options['primer_midi'], self.steps_per_quarter)
            qpm = primer_midi_qpm(tempo) if qpm is None else qpm
        else:
            qpm = DEFAULT_QPM if qpm is None else qpm
            what = '--primer_drums' if options['primer_drums'] is not None else \
                'the default primer (one kick)'
            given = parse_primer_drums(options['primer_drums']) \
                if options['primer_drums'] is not None else list(DEFAULT_PRIMER)
            events = primer_drums_track(given, qpm, self.steps_per_quarter)
        self.encoder.validate_events(events)    # e.g. a pitch in no type, when refused
        if self._requested is not None and len(events) > self._requested:
            raise MusekitError(
                '%s takes %d steps, through the step before the one where Magenta starts '
                'generating (after its last hit); --num_steps=%d must be at least that'
                % (what, len(events), self._requested))
        self._qpm = qpm
        return events

    def write(self, stem, events, primer_length, options):
        """MIDI (WAV, PNG) at --qpm, else the tempo `primer` found."""
        if options['qpm'] is None:
            options = dict(options, qpm=self._qpm)
        return write_note_files(stem, drum_notes(events), len(events), primer_length,
                                options, self.steps_per_quarter)
