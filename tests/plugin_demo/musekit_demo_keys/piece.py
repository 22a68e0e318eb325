"""Key frames to a user: a primer chord in, MIDI (and a piano roll) out."""
from musekit.errors import MusekitError
from musekit.output.notes import Note
from musekit.pieces.base import Flag, PieceType, register


def frame_notes(frames):
    """Notes of a frame sequence: a pitch held over consecutive frames is one note."""
    notes, start = [], {}
    for step, frame in enumerate(list(frames) + [()]):
        for pitch in [p for p in start if p not in frame]:
            notes.append(Note(pitch, start.pop(pitch), step))
        for pitch in frame:
            start.setdefault(pitch, step)
    return sorted(notes, key=lambda n: (n.start_step, n.pitch))


@register('demo_key_frames')
class KeyFramesPiece(PieceType):
    file_stem = 'frames'
    plural = 'frame pieces'
    flags = (Flag('primer_pitches', 'string', None, 'Pitches of the first frame, e.g. '
                  '"60,64,67" (default: a C major chord).'),
             Flag('qpm', 'float', 120.0, 'Tempo in quarter notes per minute.'),
             Flag('plot', 'boolean', False, 'Also write a PNG piano roll per output.'))

    def primer(self, options):
        text = options['primer_pitches']
        try:
            pitches = tuple(int(p) for p in text.split(',')) if text else (60, 64, 67)
        except ValueError:
            raise MusekitError('malformed --primer_pitches %r' % text) from None
        return [tuple(sorted(pitches))]

    def write(self, stem, events, primer_length, options):
        from musekit.output.midi import write_midi
        spq = self.extractor.steps_per_quarter
        paths = [write_midi(stem + '.mid', frame_notes(events), len(events), options['qpm'],
                            spq)]
        if options['plot']:
            from musekit.output.plot import write_piano_roll
            paths.append(write_piano_roll(stem + '.png', frame_notes(events), len(events),
                                          primer_length, spq, 4 * spq))
        return paths, []
