"""Melody events <-> notes and MIDI files.

Writing a Standard MIDI File is done here with struct (note_seq's import alone costs about
a second, a third of generation's budget); the notes follow note_seq's
Melody.to_sequence exactly. note_seq is imported only to read primer MIDI files or to
build NoteSequence protos.
"""
import dataclasses
import struct
import warnings

from musekit.encoders.melody import NOTE_OFF
from musekit.errors import MusekitError

TICKS_PER_STEP = 120
VELOCITY = 100


@dataclasses.dataclass(frozen=True)
class Note:
    pitch: int
    start_step: int
    end_step: int


def melody_notes(events):
    """Notes of a melody: a note-on lasts until the next note-on, note-off or the end."""
    notes, pitch, start = [], None, 0
    for step, event in enumerate(events):
        if event >= 0 or event == NOTE_OFF:
            if pitch is not None:
                notes.append(Note(pitch, start, step))
            pitch, start = (event, step) if event >= 0 else (None, 0)
    if pitch is not None:
        notes.append(Note(pitch, start, len(events)))
    return notes


def seconds_per_step(qpm, steps_per_quarter):
    return 60.0 / qpm / steps_per_quarter


# A MIDI tempo is microseconds per quarter note in 3 bytes: nothing slower than this fits.
MIN_QPM = 60_000_000 / 0xFFFFFF


def check_qpm(qpm):
    if (isinstance(qpm, bool) or not isinstance(qpm, (int, float))
            or not MIN_QPM <= qpm <= 10000):
        raise MusekitError('qpm must be a positive number of quarter notes per minute from '
                           '%.2f (the slowest tempo MIDI stores) to 10000, got %r'
                           % (MIN_QPM, qpm))
    return float(qpm)


def _varint(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_bytes(events, qpm=120.0, steps_per_quarter=4, program=0, quarters_per_bar=4):
    """A one-track Standard MIDI File of the melody in QUARTERS_PER_BAR/4 time; its
    end-of-track marks the last step."""
    qpm = check_qpm(qpm)
    timed = []        # (tick, order, bytes): note-offs sort before note-ons at one tick
    for note in melody_notes(events):
        timed.append((note.start_step * TICKS_PER_STEP, 1, bytes((0x90, note.pitch, VELOCITY))))
        timed.append((note.end_step * TICKS_PER_STEP, 0, bytes((0x80, note.pitch, 0))))
    timed.sort(key=lambda t: (t[0], t[1]))
    tempo = round(60_000_000 / qpm)
    numerator = max(1, min(255, int(quarters_per_bar)))
    track = [b'\x00\xff\x51\x03' + tempo.to_bytes(3, 'big'),
             b'\x00\xff\x58\x04' + bytes((numerator, 2, 24, 8)),
             b'\x00' + bytes((0xC0, program & 0x7F))]
    tick = 0
    for at, _, data in timed:
        track.append(_varint(at - tick) + data)
        tick = at
    end = max(tick, len(events) * TICKS_PER_STEP)
    track.append(_varint(end - tick) + b'\xff\x2f\x00')
    body = b''.join(track)
    header = b'MThd' + struct.pack('>IHHH', 6, 0, 1, TICKS_PER_STEP * steps_per_quarter)
    return header + b'MTrk' + struct.pack('>I', len(body)) + body


def write_midi(path, events, qpm=120.0, steps_per_quarter=4, program=0):
    """Writes the melody as a MIDI file at `qpm` quarter notes per minute."""
    data = midi_bytes(events, qpm, steps_per_quarter, program)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def _note_seq():
    with warnings.catch_warnings():   # its audio dependencies warn about a missing ffmpeg
        warnings.simplefilter('ignore')
        import note_seq
    return note_seq


def to_note_sequence(events, qpm=120.0, steps_per_quarter=4):
    """A NoteSequence of the melody (note_seq.Melody.to_sequence)."""
    note_seq = _note_seq()
    return note_seq.Melody(list(events), steps_per_quarter=steps_per_quarter).to_sequence(
        qpm=check_qpm(qpm))


def read_primer_midi(path, encoder, steps_per_quarter=4):
    """The first monophonic melody of a MIDI file, at its own pitches (generation moves
    it into the model's key and range: see musekit.generation.squash).

    Uses musekit's melody extractor with Magenta's primer settings: no minimum length or
    pitch count, no gap splitting, polyphony resolved by keeping the highest note.
    """
    note_seq = _note_seq()
    from musekit.extractors.melody import MelodyExtractor
    try:
        sequence = note_seq.midi_file_to_note_sequence(path)
    except FileNotFoundError:
        raise MusekitError('no such primer MIDI file: %s' % path) from None
    except Exception as e:  # noqa: BLE001 - mido/pretty_midi raise many types on bad files
        raise MusekitError('cannot read primer MIDI %s: %s' % (
            path, str(e).splitlines()[0] if str(e) else type(e).__name__)) from None
    extractor = MelodyExtractor(steps_per_quarter=steps_per_quarter, min_bars=0,
                                max_steps=1 << 30, gap_bars=float('inf'),
                                min_unique_pitches=1, ignore_polyphonic_notes=True,
                                transpose_to_key=None, fold_into_range=False)
    pieces, _ = extractor.prepare(sequence)
    for piece in pieces:
        melodies, _ = extractor.extract(piece, encoder)
        if melodies:
            return melodies[0]
    raise MusekitError('primer MIDI %s holds no melody musekit can use' % path)
