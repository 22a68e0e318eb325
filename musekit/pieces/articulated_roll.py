"""The articulated-roll piece type (the biaxial encoding's): steps of (played, articulated)
pitches, so a repeated note stays two notes; primed by silence or a MIDI file, written as
polyphonic MIDI (WAV and a PNG piano roll on request)."""
from musekit.output.notes import Note
from musekit.pieces.base import NOTE_FILE_FLAGS, PRIMER_MIDI, register, write_note_files
from musekit.pieces.piano_roll import PianoRollPiece


def step_notes(steps):
    """Notes of (played, articulated) steps: a note starts where a pitch is articulated or
    starts to be played, and lasts while it is played without being articulated again."""
    notes, started = [], {}
    for index, (played, articulated) in enumerate(list(steps) + [((), ())]):
        for pitch in [p for p in started if p not in played or p in articulated]:
            notes.append(Note(pitch, started.pop(pitch), index))
        for pitch in played:
            started.setdefault(pitch, index)
    return sorted(notes, key=lambda n: (n.start_step, n.pitch))


@register('articulated_roll')
class ArticulatedRollPiece(PianoRollPiece):
    """`--primer_midi` (default: one silent step) in, polyphonic MIDI out."""

    flags = (PRIMER_MIDI,) + NOTE_FILE_FLAGS

    def primer(self, options):
        from musekit.output.midi import check_qpm
        check_qpm(options['qpm'])
        if not options['primer_midi']:
            return [((), ())]
        return self.read_primer(options['primer_midi'])

    def steps(self, quantized, length):
        from musekit.extractors.articulated import note_steps
        return note_steps(quantized, self.encoder.min_pitch, self.encoder.max_pitch,
                          length)[0]

    def sampling_mode(self, options):
        return None

    def write(self, stem, events, primer_length, options):
        return write_note_files(stem, step_notes(events), len(events), primer_length,
                                options, self.steps_per_quarter)
