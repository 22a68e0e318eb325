"""The piano-roll piece type: frames of sounding pitches, primed by silence or a MIDI file
(all its pitched notes), written as polyphonic MIDI (WAV and a PNG piano roll on request)."""
import sys

from musekit import limits
from musekit.errors import MusekitError
from musekit.output.notes import Note
from musekit.output.plot import note_name
from musekit.pieces.base import (NOTE_FILE_FLAGS, PRIMER_MIDI, Flag, KeyRange, StepGrid, PieceType,
                                 pitch_list, read_midi_sequence, register, write_note_files)

OCTAVE = 12


def frame_notes(frames):
    """Notes of a frame sequence: a pitch sounding in consecutive frames is one note."""
    notes, started = [], {}
    for step, frame in enumerate(list(frames) + [()]):
        for pitch in [p for p in started if p not in frame]:
            notes.append(Note(pitch, started.pop(pitch), step))
        for pitch in frame:
            started.setdefault(pitch, step)
    return sorted(notes, key=lambda n: (n.start_step, n.pitch))


def into_range(pitch, low, high):
    """`pitch` moved by octaves into [low, high) (as close to its own octave as fits)."""
    while pitch < low:
        pitch += OCTAVE
    while pitch >= high:
        pitch -= OCTAVE
    return pitch if low <= pitch < high else None     # a range narrower than an octave


@register('piano_roll')
class PianoRollPiece(PieceType):
    """Polyphonic frames in and out: `--primer_midi` or `--primer_pitches` (default: one
    silent frame)."""

    file_stem = 'piece'
    plural = 'polyphonic pieces'
    reads_encoder = (KeyRange,)
    reads_extractor = (StepGrid,)
    flags = (
        PRIMER_MIDI,
        Flag('primer_pitches', 'string', None, 'Pitches of a primer chord held for a '
             'quarter note, e.g. "[60, 64, 67]" (Magenta\'s pianoroll_rnn_nade flag).'),
        Flag('sampling', 'string', None, 'How each frame is drawn from the key '
             "probabilities: 'sample' (each key on with its probability, sharpened or "
             "flattened by --temperature; the default) or 'threshold' (the keys above 0.5: "
             'the most likely frame, the same for every output; from the default silent '
             'primer that is mostly silence, so give it --primer_midi).',
             modes=True),
    ) + NOTE_FILE_FLAGS

    def __init__(self, encoder, extractor):
        super().__init__(encoder, extractor)
        self.steps_per_quarter = extractor.steps_per_quarter

    def primer(self, options):
        from musekit.output.midi import check_qpm
        check_qpm(options['qpm'])
        self.sampling_mode(options)
        if options['primer_midi'] and options['primer_pitches']:
            raise MusekitError('give one of --primer_midi and --primer_pitches')
        if options['primer_pitches']:
            return self.chord_primer(pitch_list(options['primer_pitches']))
        if not options['primer_midi']:
            return [()]
        return self.read_primer(options['primer_midi'])

    def chord_primer(self, pitches):
        """The frames of `pitches` sounding together for a quarter note."""
        low, high = self.encoder.min_pitch, self.encoder.max_pitch
        for pitch in pitches:
            if not low <= pitch < high:
                raise MusekitError("--primer_pitches: %d is outside the model's keys %d..%d"
                                   % (pitch, low, high - 1))
        return [tuple(sorted(pitches))] * self.steps_per_quarter

    def read_primer(self, path):
        """The frames of every pitched note of a MIDI file, at the model's steps per quarter,
        pitches outside the keyboard moved by octaves into it."""
        from note_seq import sequences_lib
        from musekit.extractors.polyphony import quantized_length
        sequence = read_midi_sequence(path)
        low, high = self.encoder.min_pitch, self.encoder.max_pitch
        outside = 0
        for note in sequence.notes:
            moved = into_range(note.pitch, low, high)
            if moved is None:
                raise MusekitError('primer MIDI %s has pitch %d, which no octave of the '
                                   "model's keys %d..%d holds" % (path, note.pitch, low,
                                                                   high - 1))
            outside += moved != note.pitch and not note.is_drum
            note.pitch = moved
        if outside:
            print('musekit: primer MIDI %s: %d note%s outside the model\'s keys %s..%s moved '
                  'by octaves into them' % (path, outside, 's' if outside > 1 else '',
                                            note_name(low), note_name(high - 1)),
                  file=sys.stderr)
        try:
            quantized = sequences_lib.quantize_note_sequence(sequence, self.steps_per_quarter)
        except Exception as e:     # note_seq's several "cannot quantize" errors
            raise MusekitError('cannot use primer MIDI %s: %s' % (path, e)) from None
        length = quantized_length(quantized)
        limits.MAX_STEPS.check(length, 'primer MIDI %s (%d steps)' % (path, length))
        if all(note.is_drum for note in quantized.notes):
            raise MusekitError('primer MIDI %s holds no pitched notes' % path)
        return self.steps(quantized, length)

    def steps(self, quantized, length):
        """The events of a quantized primer whose pitches all fit the keys."""
        from musekit.extractors.polyphony import note_frames
        return note_frames(quantized, self.encoder.min_pitch, self.encoder.max_pitch,
                           length)[0]

    def sampling_mode(self, options):
        mode = options['sampling']
        if mode not in (None, 'sample', 'threshold'):
            raise MusekitError("--sampling is 'sample' or 'threshold', not %r" % mode)
        return mode

    def write(self, stem, events, primer_length, options):
        return write_note_files(stem, frame_notes(events), len(events), primer_length,
                                options, self.steps_per_quarter)
