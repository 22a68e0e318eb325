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
import pickle
import re

import numpy as np

from musekit import limits

PARTS = ('train', 'valid', 'test')
MAT_VARIABLES = {'train': 'traindata', 'valid': 'validdata', 'test': 'testdata'}
EXTENSIONS = ('.mat', '.pickle', '.pkl')
FRAME_SECONDS = 0.5         # one quarter note at 120 qpm
QPM = 120.0
LOWEST_KEY = 21             # column 0 of a .mat piano roll
_ID_PART = re.compile(r'^/id/pianoroll/[^/]+/[0-9a-f]+/(train|valid|test)/\d+$')


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
    parts = {}
    for part in PARTS:
        pieces = data.get(part, data.get(part.encode('ascii')))
        if pieces is None:
            continue
        if not isinstance(pieces, (list, tuple)):
            raise BenchmarkFileError('%r is a %s, not a list of pieces'
                                     % (part, type(pieces).__name__))
        parts[part] = [_pitch_frames(piece, part, i) for i, piece in enumerate(pieces)]
    return parts


def _pitch_frames(piece, part, index):
    if not isinstance(piece, (list, tuple)):
        raise BenchmarkFileError('%s piece %d is not a list of frames' % (part, index))
    frames = []
    for frame in piece:
        if not isinstance(frame, (list, tuple)):
            raise BenchmarkFileError('%s piece %d has a frame that is not a list of pitches'
                                     % (part, index))
        pitches = set()
        for pitch in frame:
            if isinstance(pitch, bool) or not isinstance(pitch, (int, float)) \
                    or pitch != int(pitch) or not 0 <= pitch <= 127:
                raise BenchmarkFileError('%s piece %d has %r, not a MIDI pitch'
                                         % (part, index, pitch))
            pitches.add(int(pitch))
        frames.append(tuple(sorted(pitches)))
    return frames


def read_mat(content):
    """{part: [piece]} from a benchmark .mat, each piece a list of pitch tuples."""
    import scipy.io
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
        parts[part] = [_roll_frames(np.asarray(roll), variable, i)
                       for i, roll in enumerate(cells.ravel())]
    return parts


def _roll_frames(roll, variable, index):
    if roll.ndim != 2 or roll.shape[1] != 88 or roll.dtype.kind not in 'biuf':
        raise BenchmarkFileError('%s{%d} is %s %s, not a (frames, 88) piano roll'
                                 % (variable, index + 1, roll.dtype, roll.shape))
    on = roll != 0
    return [tuple(int(k) + LOWEST_KEY for k in np.flatnonzero(row)) for row in on]


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
    total = sum(len(f) for pieces in parts.values() for f in pieces)
    bound = limits.MAX_PIANO_ROLL_FRAMES.value()
    if total > bound:
        raise BenchmarkFileError('%d frames in all, more than the limit %d '
                                 '(MUSEKIT_MAX_PIANO_ROLL_FRAMES)' % (total, bound))
    return [(part, i, to_note_sequence(frames))
            for part in PARTS for i, frames in enumerate(parts.get(part, []))]
