"""Piano-roll PNG of a melody, written with zlib + struct (no plotting library).

Time runs left to right, pitch bottom to top; notes are bars, the primer's in orange and
the generated ones in blue; bar lines are grey and each C row is shaded.
"""
import struct
import zlib

import numpy as np

from musekit.generation.midi import melody_notes

PIXELS_PER_STEP = 6
PIXELS_PER_PITCH = 5
MARGIN_PITCHES = 2
MIN_PITCHES = 24
BACKGROUND = (255, 255, 255)
C_ROW = (238, 238, 244)
BAR_LINE = (190, 190, 190)
BEAT_LINE = (228, 228, 228)
PRIMER = (230, 126, 34)
GENERATED = (41, 98, 255)


def piano_roll(events, primer_length=0, steps_per_bar=16, steps_per_quarter=4):
    """uint8 RGB image [height, width, 3] of the melody."""
    notes = melody_notes(events)
    pitches = [n.pitch for n in notes] or [60]
    low, high = min(pitches) - MARGIN_PITCHES, max(pitches) + MARGIN_PITCHES
    if high - low + 1 < MIN_PITCHES:
        low -= (MIN_PITCHES - (high - low + 1)) // 2
        high = low + MIN_PITCHES - 1
    rows = high - low + 1
    steps = max(1, len(events))
    image = np.empty((rows * PIXELS_PER_PITCH, steps * PIXELS_PER_STEP, 3), np.uint8)
    image[:] = BACKGROUND
    for pitch in range(low, high + 1):
        if pitch % 12 == 0:
            image[_rows(pitch, high)] = C_ROW
    for step in range(0, steps, steps_per_quarter):
        image[:, step * PIXELS_PER_STEP] = BAR_LINE if step % steps_per_bar == 0 else BEAT_LINE
    for note in notes:
        colour = PRIMER if note.start_step < primer_length else GENERATED
        x0 = note.start_step * PIXELS_PER_STEP + 1
        x1 = max(x0 + 1, note.end_step * PIXELS_PER_STEP - 1)
        rows_ = _rows(note.pitch, high)
        image[rows_.start + 1:rows_.stop - 1, x0:x1] = colour
    return image


def _rows(pitch, high):
    top = (high - pitch) * PIXELS_PER_PITCH
    return slice(top, top + PIXELS_PER_PITCH)


def png_bytes(image):
    """A PNG (8-bit RGB, no interlace) of a uint8 [height, width, 3] array."""
    height, width, _ = image.shape
    raw = np.concatenate([np.zeros((height, 1), np.uint8),
                          np.ascontiguousarray(image, np.uint8).reshape(height, width * 3)],
                         axis=1).tobytes()         # filter type 0 before each row

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b'\x89PNG\r\n\x1a\n'
            + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw, 6)) + chunk(b'IEND', b''))


def write_piano_roll(path, events, primer_length=0, steps_per_bar=16, steps_per_quarter=4):
    """Writes the melody's piano roll as a PNG file; returns its path."""
    data = png_bytes(piano_roll(events, primer_length, steps_per_bar, steps_per_quarter))
    with open(path, 'wb') as f:
        f.write(data)
    return path
