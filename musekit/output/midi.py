"""Notes to a Standard MIDI File through mido: one track, a tempo, 4/4, one program (drum
notes on channel 10).

A step is TICKS_PER_STEP ticks, so quantized notes land on exact ticks, and the track ends
at the piece's last step even when the piece ends in silence.
"""
from musekit.errors import MusekitError, check_int

TICKS_PER_STEP = 120
DRUM_CHANNEL = 9        # MIDI channel 10, General MIDI's drums: where is_drum notes go
MAX_STEPS_PER_QUARTER = 0x7FFF // TICKS_PER_STEP    # ticks per beat is a 15-bit field
# A MIDI tempo is microseconds per quarter note in 3 bytes: nothing slower than this fits.
MIN_QPM = 60_000_000 / 0xFFFFFF
MAX_QPM = 10000


def check_qpm(qpm):
    """`qpm` as a float; a MusekitError unless MIDI can store it as a tempo."""
    if (isinstance(qpm, bool) or not isinstance(qpm, (int, float))
            or not MIN_QPM <= qpm <= MAX_QPM):
        raise MusekitError('qpm must be a positive number of quarter notes per minute from '
                           '%.2f (the slowest tempo MIDI stores) to %d, got %r'
                           % (MIN_QPM, MAX_QPM, qpm))
    return float(qpm)


def _check_note(note):
    for name in ('pitch', 'velocity', 'start_step', 'end_step'):
        check_int('note ' + name.replace('_', ' '), getattr(note, name))
    if not 0 <= note.pitch <= 127:
        raise MusekitError('note pitch %d is outside MIDI 0..127' % note.pitch)
    if not 1 <= note.velocity <= 127:
        raise MusekitError('note velocity %d is outside MIDI 1..127' % note.velocity)
    if not 0 <= note.start_step < note.end_step:
        raise MusekitError('a note needs 0 <= start step < end step, got %d..%d'
                           % (note.start_step, note.end_step))


def midi_file(notes, num_steps, qpm=120.0, steps_per_quarter=4, program=0):
    """A mido.MidiFile (type 0) of `notes` in 4/4 at `qpm`, `num_steps` steps long at least."""
    import mido
    qpm = check_qpm(qpm)
    num_steps = check_int('num_steps', num_steps, 0)
    steps_per_quarter = check_int('steps_per_quarter', steps_per_quarter, 1,
                                  MAX_STEPS_PER_QUARTER)
    program = check_int('MIDI program', program, 0, 127)
    timed = []          # (tick, order, message): note-offs sort before note-ons at one tick
    for note in notes:
        _check_note(note)
        channel = DRUM_CHANNEL if note.is_drum else 0
        timed.append((note.start_step * TICKS_PER_STEP, 1, mido.Message(
            'note_on', note=note.pitch, velocity=note.velocity, channel=channel)))
        timed.append((note.end_step * TICKS_PER_STEP, 0, mido.Message(
            'note_off', note=note.pitch, velocity=0, channel=channel)))
    timed.sort(key=lambda t: (t[0], t[1], t[2].note))
    track = mido.MidiTrack([
        mido.MetaMessage('set_tempo', tempo=round(60_000_000 / qpm), time=0),
        mido.MetaMessage('time_signature', numerator=4, denominator=4, clocks_per_click=24,
                         notated_32nd_notes_per_beat=8, time=0),
        mido.Message('program_change', program=program, time=0)])
    tick = 0
    for at, _, message in timed:
        track.append(message.copy(time=at - tick))
        tick = at
    track.append(mido.MetaMessage('end_of_track',
                                  time=max(0, num_steps * TICKS_PER_STEP - tick)))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_STEP * steps_per_quarter)
    midi.tracks.append(track)
    return midi


def write_midi(path, notes, num_steps, qpm=120.0, steps_per_quarter=4, program=0):
    """Writes `notes` as a MIDI file (see midi_file), whole or not at all; returns `path`."""
    from musekit import atomic
    midi = midi_file(notes, num_steps, qpm, steps_per_quarter, program)
    with atomic.replacing(path) as tmp:
        midi.save(tmp)
    return path
