"""Key frames: a piece is one frame per time step, each the sorted tuple of the pitches
sounding then; encoded as multi-hot rows over [min_pitch, max_pitch)."""
import numpy as np

from musekit.encoders.base import Encoder, StepSpec, Stepper, register
from musekit.errors import MusekitError
from musekit.extractors.base import Extractor, new_stats
from musekit.extractors.base import register as register_extractor


@register('demo_key_frames')
class KeyFramesEncoder(Encoder):
    """Input t: the multi-hot of frame t (floats); label t: the multi-hot of frame t + 1."""

    piece_type = 'demo_key_frames'

    def __init__(self, min_pitch=48, max_pitch=84):
        if not 0 <= min_pitch < max_pitch <= 128:
            raise MusekitError('need 0 <= min_pitch < max_pitch <= 128')
        self.min_pitch, self.max_pitch = min_pitch, max_pitch

    @property
    def keys(self):
        return self.max_pitch - self.min_pitch

    @property
    def input_spec(self):
        return StepSpec('float32', (self.keys,))

    @property
    def label_spec(self):
        return StepSpec('int64', (self.keys,), depth=2)

    def params(self):
        return {'min_pitch': self.min_pitch, 'max_pitch': self.max_pitch}

    def check_frame(self, frame, position):
        """The frame, sorted, if its pitches are keys of the range."""
        if not all(isinstance(p, (int, np.integer)) and self.min_pitch <= p < self.max_pitch
                   for p in frame):
            raise MusekitError('frame %d %r has pitches outside [%d, %d)'
                               % (position, tuple(frame), self.min_pitch, self.max_pitch))
        return tuple(sorted(frame))

    def validate_events(self, events):
        for position, frame in enumerate(events):
            self.check_frame(frame, position)

    def multi_hot(self, frame):
        row = np.zeros(self.keys, np.int64)
        row[[p - self.min_pitch for p in frame]] = 1
        return row

    def label_to_event(self, label, events):
        return tuple(int(p) + self.min_pitch for p in np.flatnonzero(label))

    def stepper(self, events):
        return _FrameStepper(self, events)


class _FrameStepper(Stepper):
    """Defines the encoding (Encoder.encode derives from it): a frame's multi-hot row is
    both its input and its label."""

    def check(self, frame, position):
        return self.encoder.check_frame(frame, position)

    def input(self):
        return self.label().astype(np.float32)

    def label(self):
        return self.encoder.multi_hot(self._events[-1])


@register_extractor('demo_key_frames')
class KeyFramesExtractor(Extractor):
    """NoteSequence -> quantized -> one sequence of key frames (notes outside the
    encoder's pitch range left out and counted)."""

    output_name = 'frames'

    def __init__(self, steps_per_quarter=1, min_steps=8, max_steps=256):
        self.steps_per_quarter, self.min_steps, self.max_steps = (
            steps_per_quarter, min_steps, max_steps)

    def params(self):
        return {'steps_per_quarter': self.steps_per_quarter, 'min_steps': self.min_steps,
                'max_steps': self.max_steps}

    def decode(self, data):
        from note_seq import music_pb2
        return music_pb2.NoteSequence.FromString(data)

    def prepare(self, sequence):
        from note_seq import sequences_lib
        stats, pieces = new_stats(), []
        for part in sequences_lib.split_note_sequence_on_time_changes(sequence):
            try:
                pieces.append(sequences_lib.quantize_note_sequence(part, self.steps_per_quarter))
            except Exception:       # note_seq's several "cannot quantize" errors
                stats['sequences_not_quantizable'] += 1
        return pieces, stats

    def check_augmentation(self, transpositions):
        pass

    def augment(self, piece, transposition):
        from note_seq import sequences_lib
        return sequences_lib.transpose_note_sequence(piece, transposition)[0] \
            if transposition else piece

    def extract(self, piece, encoder):
        stats = new_stats()
        length = min(self.max_steps, max((n.quantized_end_step for n in piece.notes),
                                         default=0))
        if length < self.min_steps:
            stats['frames_discarded_too_short'] += 1
            return [], stats
        frames = [set() for _ in range(length)]
        for note in piece.notes:
            if not encoder.min_pitch <= note.pitch < encoder.max_pitch:
                stats['notes_outside_pitch_range'] += 1
                continue
            for step in range(note.quantized_start_step, min(note.quantized_end_step, length)):
                frames[step].add(note.pitch)
        return [[tuple(sorted(f)) for f in frames]], stats

    def fingerprint(self, sequence):
        return tuple(sequence)
