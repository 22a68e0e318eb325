"""The polyphonic benchmark files of Boulanger-Lewandowski et al. (ICML 2012: JSB Chorales,
Nottingham, Piano-midi.de, MuseData) -> NoteSequences that keep their published split.

Two layouts hold the same data: a MATLAB ``.mat`` with cells ``traindata``, ``validdata``,
``testdata`` of binary piano rolls (T, 88), column k = MIDI pitch 21 + k; and a ``.pickle``
of a dict ``{'train', 'valid', 'test'}`` of pieces, each a list of frames, each a list of
MIDI pitches. The pickle is read by an unpickler that refuses every global, so a hostile
file cannot run code. Each frame becomes one quarter note at 120 qpm (the files carry no
tempo), so quantizing at one step per quarter gives the frames back.
"""
import io
import math
import pickle
import re
import reprlib
import struct
import zlib

import numpy as np

from musekit import limits

PARTS = ('train', 'valid', 'test')
MAT_VARIABLES = {'train': 'traindata', 'valid': 'validdata', 'test': 'testdata'}
EXTENSIONS = ('.mat', '.pickle', '.pkl')
FRAME_SECONDS = 0.5         # one quarter note at 120 qpm
QPM = 120.0
LOWEST_KEY = 21             # column 0 of a .mat piano roll
_ID_PART = re.compile(r'^/id/pianoroll/[^/]+/[0-9a-f]+/(train|valid|test)/\d+$')
MAX_FRAME_ENTRIES = 128     # a frame lists each of the 128 MIDI pitches at most once
_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlevel, _SHORT.maxlist = 30, 30, 2, 4


class BenchmarkFileError(Exception):
    """The file is not a benchmark file of the expected layout; the message says why."""


def part_of(sequence_id):
    """'train', 'valid' or 'test' for the id of a piece read from a benchmark file, else None."""
    match = _ID_PART.match(sequence_id or '')
    return match.group(1) if match else None


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module, name):
        raise BenchmarkFileError('the pickle refers to %s.%s; only plain lists, tuples, '
                                 'dicts and numbers are read' % (module, name))


def read_pickle(content):
    """{part: [piece]} from a benchmark .pickle, each piece a list of pitch tuples."""
    try:
        data = _NoGlobals(io.BytesIO(content), encoding='latin-1').load()
    except BenchmarkFileError:
        raise
    except Exception as e:      # truncated or malformed pickles raise many kinds
        raise BenchmarkFileError('not a readable pickle (%s)' % type(e).__name__) from None
    if not isinstance(data, dict):
        raise BenchmarkFileError('the pickle holds a %s, not a dict of %s'
                                 % (type(data).__name__, '/'.join(PARTS)))
    found = {}
    for part in PARTS:
        pieces = data.get(part, data.get(part.encode('ascii')))
        if pieces is None:
            continue
        if not isinstance(pieces, (list, tuple)):
            raise BenchmarkFileError('%r is a %s, not a list of pieces'
                                     % (part, type(pieces).__name__))
        for i, piece in enumerate(pieces):
            if not isinstance(piece, (list, tuple)):
                raise BenchmarkFileError('%s piece %d is not a list of frames' % (part, i))
        found[part] = pieces
    # a pickle may repeat one list by reference: count frames before building any
    check_frame_count(sum(len(piece) for pieces in found.values() for piece in pieces))
    return {part: [_pitch_frames(piece, part, i) for i, piece in enumerate(pieces)]
            for part, pieces in found.items()}


def _pitch_frames(piece, part, index):
    frames = []
    for frame in piece:
        if not isinstance(frame, (list, tuple)):
            raise BenchmarkFileError('%s piece %d has a frame that is not a list of pitches'
                                     % (part, index))
        if len(frame) > MAX_FRAME_ENTRIES:
            raise BenchmarkFileError('%s piece %d has a frame of %d pitches; a frame lists '
                                     'at most the %d MIDI pitches'
                                     % (part, index, len(frame), MAX_FRAME_ENTRIES))
        pitches = set()
        for pitch in frame:
            if not _is_midi_pitch(pitch):
                raise BenchmarkFileError('%s piece %d has %s, not a MIDI pitch'
                                         % (part, index, _shown(pitch)))
            pitches.add(int(pitch))
        frames.append(tuple(sorted(pitches)))
    return frames


def _shown(value):
    """A short repr of a hostile value (a huge string, a deep list, an int of 10^5 digits)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return 'an int of %d bits' % value.bit_length()
    return _SHORT.repr(value)


def _is_midi_pitch(value):
    """A whole number 0..127 (an int, or a float such as 60.0; never NaN, inf or a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return False
    return 0 <= value <= 127


def check_frame_count(total):
    """Raises BenchmarkFileError when a file's frames, all parts together, pass the limit."""
    bound = limits.MAX_PIANO_ROLL_FRAMES.value()
    if total > bound:
        raise BenchmarkFileError('%d frames in all, more than the limit %d '
                                 '(MUSEKIT_MAX_PIANO_ROLL_FRAMES)' % (total, bound))


def read_mat(content):
    """{part: [piece]} from a benchmark .mat, each piece a list of pitch tuples."""
    import scipy.io
    try:
        declared = declared_frames(content)
    except (struct.error, zlib.error) as e:
        raise BenchmarkFileError('not a readable MATLAB file (%s)' % type(e).__name__) from None
    if declared is not None:
        check_frame_count(declared)
    try:
        data = scipy.io.loadmat(io.BytesIO(content), variable_names=list(
            MAT_VARIABLES.values()))
    except Exception as e:      # scipy raises ValueError, TypeError, zlib errors, ...
        raise BenchmarkFileError('not a readable MATLAB file (%s: %s)' % (
            type(e).__name__, ' '.join(str(e).split())[:120])) from None
    parts = {}
    for part, variable in MAT_VARIABLES.items():
        if variable not in data:
            continue
        cells = np.asarray(data[variable])
        if cells.dtype != object:
            raise BenchmarkFileError('%s is not a cell array of piano rolls' % variable)
        parts[part] = [np.asarray(roll) for roll in cells.ravel()]
        for i, roll in enumerate(parts[part]):
            _check_roll(roll, variable, i)
    check_frame_count(sum(len(roll) for rolls in parts.values() for roll in rolls))
    return {part: [_roll_frames(roll) for roll in rolls] for part, rolls in parts.items()}


def _check_roll(roll, variable, index):
    if roll.ndim != 2 or roll.shape[1] != 88 or roll.dtype.kind not in 'biuf':
        raise BenchmarkFileError('%s{%d} is %s %s, not a (frames, 88) piano roll'
                                 % (variable, index + 1, roll.dtype, roll.shape))
    bad = (roll != 0) & (roll != 1)
    if bad.any():
        frame, key = np.argwhere(bad)[0]
        raise BenchmarkFileError('%s{%d} has %s at frame %d, key %d; a piano roll holds '
                                 'only 0 and 1' % (variable, index + 1,
                                                   _shown(roll[frame, key].item()),
                                                   frame + 1, key + 1))


def _roll_frames(roll):
    return [tuple(int(k) + LOWEST_KEY for k in np.flatnonzero(row)) for row in roll != 0]


_MAT_HEADER = 128
_MI_INT32, _MI_MATRIX, _MI_COMPRESSED = 5, 14, 15
_MX_CELL = 1


class _Stream:
    """Bytes read one after another from a MAT file's body, inflating its compressed
    elements a chunk at a time, so a file is walked in bounded memory."""

    def __init__(self, content, endian, budget, chunk=1 << 16):
        self._content, self._pos, self._endian, self._chunk = content, _MAT_HEADER, endian, chunk
        self._inflater, self._pending, self._buffer = None, b'', b''
        self._budget = budget       # bytes it may inflate in all

    def _more(self):
        """The next bytes of the body (at most a chunk when inflating); b'' at its end."""
        while self._inflater is not None:
            if not (self._pending or self._inflater.unconsumed_tail):
                self._inflater = None
                break
            data = self._inflater.unconsumed_tail + self._pending[:self._chunk]
            self._pending = self._pending[self._chunk:]
            out = self._inflater.decompress(data, self._chunk)
            self._budget -= len(out)
            if self._budget < 0:
                raise BenchmarkFileError(
                    'its data inflate past %s, more than %d frames of 88 keys need '
                    '(MUSEKIT_MAX_PIANO_ROLL_FRAMES)' % (limits.format_amount(
                        _inflate_budget(), 'bytes'), limits.MAX_PIANO_ROLL_FRAMES.value()))
            if out:
                return out
        while self._pos + 8 <= len(self._content):
            start = self._pos
            kind, size = struct.unpack(self._endian + 'II', self._content[start:start + 8])
            if kind == _MI_COMPRESSED:
                self._pos = start + 8 + size
                self._inflater = zlib.decompressobj()
                self._pending = self._content[start + 8:self._pos]
                return self._more()
            self._pos = start + 8 + size + (-size % 8)
            return self._content[start:self._pos]
        return b''

    def read(self, n):
        while len(self._buffer) < n:
            more = self._more()
            if not more:
                raise BenchmarkFileError('a MATLAB element is cut short')
            self._buffer += more
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def skip(self, n):
        while n > len(self._buffer):
            n -= len(self._buffer)
            self._buffer = self._more()
            if not self._buffer:
                raise BenchmarkFileError('a MATLAB element is cut short')
        self._buffer = self._buffer[n:]

    def at_end(self):
        if not self._buffer:
            self._buffer = self._more()
        return not self._buffer

    def tag(self):
        """(type, size, bytes of data in the tag itself or None)."""
        kind, size = struct.unpack(self._endian + 'II', self.read(8))
        if kind >> 16:                          # the small-element format
            small = struct.pack(self._endian + 'I', size)
            return kind & 0xffff, kind >> 16, small[:kind >> 16]
        return kind, size, None


def _subelement(stream, most=4096):
    """(type, data, bytes consumed) of the next sub-element (flags, dimensions or a name:
    at most `most` bytes), its padding skipped."""
    kind, size, small = stream.tag()
    if small is not None:
        return kind, small, 8
    if size > most:
        raise BenchmarkFileError('a MATLAB array header declares %d bytes' % size)
    data = stream.read(size)
    stream.skip(-size % 8)
    return kind, data, 8 + size + (-size % 8)


def _matrix_dims(stream):
    """(class, dims, bytes consumed) of a miMATRIX whose tag was read: its array flags
    and dimensions sub-elements (dimensions of at most a few int32s, read in full)."""
    _, flags, used_flags = _subelement(stream)
    kind, raw, used_dims = _subelement(stream)
    if len(flags) < 4 or kind != _MI_INT32 or len(raw) % 4 or len(raw) > 64:
        raise BenchmarkFileError('a MATLAB array has malformed flags or dimensions')
    array_class = struct.unpack(stream._endian + 'I', flags[:4])[0] & 0xff
    dims = struct.unpack(stream._endian + '%di' % (len(raw) // 4), raw)
    return array_class, dims, used_flags + used_dims


def declared_frames(content):
    """Frames that the cell arrays of a level-5 MAT file declare, summed over every cell
    of every top-level cell array, read from the array headers alone (bounded memory):
    the frame limit is checked before scipy inflates anything. None for a file that is
    not a level-5 MAT file (scipy then says what it is)."""
    if len(content) < _MAT_HEADER + 8 or content[126:128] not in (b'IM', b'MI'):
        return None
    stream = _Stream(content, '<' if content[126:128] == b'IM' else '>', _inflate_budget())
    total = 0
    while not stream.at_end():
        kind, size, small = stream.tag()
        if kind != _MI_MATRIX or small is not None:
            stream.skip(size + (-size % 8) if small is None else 0)
            continue
        array_class, dims, used = _matrix_dims(stream)
        if array_class != _MX_CELL:
            stream.skip(size - used)
            continue
        used += _subelement(stream)[2]          # the variable's name
        for _ in range(math.prod(dims)):
            kind, cell_size, small = stream.tag()
            if kind != _MI_MATRIX or small is not None:
                raise BenchmarkFileError('a MATLAB cell holds something not an array')
            _, cell_dims, cell_used = _matrix_dims(stream)
            total += max(cell_dims[0], 0) if cell_dims else 0
            check_frame_count(total)
            stream.skip(cell_size - cell_used)
    return total


def _inflate_budget():
    """The most a benchmark file's data may inflate to: every allowed frame as 88 doubles,
    plus 1 MiB of headers and names."""
    return limits.MAX_PIANO_ROLL_FRAMES.value() * 88 * 8 + (1 << 20)


def to_note_sequence(frames):
    """A NoteSequence of frames (one quarter note each, 120 qpm, 4/4): a pitch sounding in
    consecutive frames is one note."""
    from note_seq import music_pb2
    ns = music_pb2.NoteSequence()
    ns.ticks_per_quarter = 220
    ns.tempos.add(time=0.0, qpm=QPM)
    ns.time_signatures.add(time=0.0, numerator=4, denominator=4)
    started = {}
    for step, frame in enumerate(list(frames) + [()]):
        for pitch in [p for p in started if p not in frame]:
            start = started.pop(pitch)
            ns.notes.add(pitch=pitch, velocity=80, start_time=start * FRAME_SECONDS,
                         end_time=step * FRAME_SECONDS)
        for pitch in frame:
            started.setdefault(pitch, step)
    ns.total_time = len(frames) * FRAME_SECONDS
    return ns


def read(content, is_pickle):
    """[(part, index, NoteSequence)] of every piece in a benchmark file, in file order."""
    parts = read_pickle(content) if is_pickle else read_mat(content)
    if not parts:
        raise BenchmarkFileError('it holds none of %s' % ', '.join(
            PARTS if is_pickle else MAT_VARIABLES.values()))
    return [(part, i, to_note_sequence(frames))
            for part in PARTS for i, frames in enumerate(parts.get(part, []))]
