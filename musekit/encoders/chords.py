"""Chord symbols ("C", "Am7", "G/B", "N.C.") and their input encodings (note_seq's
chords_encoder_decoder), for the lead-sheet encoders of Magenta's Improv RNN.

Symbols are read as note_seq's chord_symbols_lib reads them (root, quality, pitch classes,
bass) by musekit.encoders.chord_symbols, without importing note_seq (transposing one
still uses note_seq); each symbol is read once per process and its input row kept. Encodings:

- ``triad`` (note_seq's TriadChordOneHotEncoding, 49 classes): 0 no chord, 1 + root for a
  major triad, 13 + root minor, 25 + root augmented, 37 + root diminished;
- ``major_minor`` (MajorMinorChordOneHotEncoding, 25 classes): the first 25 of those;
- ``pitches`` (PitchChordsEncoderDecoder, 37 numbers): [0] no chord, [1 + root] the root,
  [13 + pc] each pitch class of the chord, [25 + bass] the bass.
"""
import functools

import numpy as np

from musekit.encoders import chord_symbols
from musekit.errors import MusekitError

NO_CHORD = 'N.C.'                   # note_seq's constants.NO_CHORD
NOTES_PER_OCTAVE = 12
CHORD_ENCODINGS = ('triad', 'major_minor', 'pitches')
QUALITY_NAMES = ('major', 'minor', 'augmented', 'diminished')
# what each one-hot encoding takes: qualities (note_seq's CHORD_QUALITY_* numbers 0..3)
_QUALITIES = {'triad': 4, 'major_minor': 2}

# why a chord cannot be encoded, in Magenta's statistics names
SYMBOL_ERROR = 'chord_symbol_exception'         # not a chord symbol note_seq reads
ENCODING_ERROR = 'chord_encoding_exception'     # read, but outside the encoding


class ChordError(MusekitError):
    """A chord symbol the encoding cannot take; `reason` is SYMBOL_ERROR or ENCODING_ERROR."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


@functools.lru_cache(maxsize=None)
def symbols_lib():
    """note_seq's chord_symbols_lib, for transposing (importing note_seq costs about
    1.5 s, once)."""
    import warnings
    with warnings.catch_warnings():     # its audio dependencies warn about a missing ffmpeg
        warnings.simplefilter('ignore')
        from note_seq import chord_symbols_lib
    return chord_symbols_lib


def input_size(encoding):
    """Width of a chord's input row in `encoding`."""
    if encoding == 'pitches':
        return 3 * NOTES_PER_OCTAVE + 1
    return _QUALITIES[encoding] * NOTES_PER_OCTAVE + 1


@functools.lru_cache(maxsize=4096)
def chord_facts(symbol):
    """(root, quality, pitch classes, bass) of a chord symbol, note_seq's reading (quality:
    0..3 as QUALITY_NAMES, 4 other; read by musekit.encoders.chord_symbols, proven equal,
    without importing note_seq); ChordError(SYMBOL_ERROR) for what it cannot read."""
    try:
        return chord_symbols.read(symbol)
    except chord_symbols.ChordSymbolError as e:
        raise ChordError('%r is not a chord symbol (%s)' % (symbol, e), SYMBOL_ERROR) from None


def chord_class(symbol, encoding):
    """The one-hot class of `symbol` in the `triad` or `major_minor` encoding."""
    if symbol == NO_CHORD:
        return 0
    root, quality, _, _ = chord_facts(symbol)
    if quality >= _QUALITIES[encoding]:
        names = QUALITY_NAMES[:_QUALITIES[encoding]]
        raise ChordError('chord %s is not a %s or %s triad (the %s chord encoding)' % (
            symbol, ', '.join(names[:-1]), names[-1], encoding), ENCODING_ERROR)
    return 1 + quality * NOTES_PER_OCTAVE + root


@functools.lru_cache(maxsize=4096)
def _row(symbol, encoding):
    row = np.zeros(input_size(encoding), np.float32)
    if encoding != 'pitches':
        row[chord_class(symbol, encoding)] = 1.0
    elif symbol == NO_CHORD:
        row[0] = 1.0
    else:
        root, _, pitches, bass = chord_facts(symbol)
        row[1 + root] = 1.0
        row[[1 + NOTES_PER_OCTAVE + p for p in pitches]] = 1.0
        row[1 + 2 * NOTES_PER_OCTAVE + bass] = 1.0
    row.setflags(write=False)
    return row


def chord_row(symbol, encoding):
    """The (read-only) float32 input row of `symbol` in `encoding`; ChordError if the
    symbol is unreadable or outside the encoding."""
    if not isinstance(symbol, str):
        raise MusekitError('a chord is a chord symbol string like "Am7" or %r, got %r'
                           % (NO_CHORD, symbol))
    return _row(symbol, encoding)


def transpose_chord(symbol, amount):
    """`symbol` moved by `amount` semitones, as note_seq writes it (NO_CHORD stays)."""
    if symbol == NO_CHORD:
        return symbol
    lib = symbols_lib()
    try:
        return lib.transpose_chord_symbol(symbol, amount % NOTES_PER_OCTAVE)
    except lib.ChordSymbolError as e:
        raise ChordError('%r is not a chord symbol (%s)' % (symbol, e), SYMBOL_ERROR) from None


class Backing:
    """A position in a backing chord progression (one chord symbol per step): what a
    generated lead-sheet event carries as its chord, so the event after it reads the next
    step's chord. Immutable; past the end it reads the last chord."""

    __slots__ = ('chords', 'index')

    def __init__(self, chords, index):
        self.chords = chords        # a tuple of chord symbols, shared by every position
        self.index = index

    @property
    def chord(self):
        return self.chords[min(self.index, len(self.chords) - 1)]

    def advanced(self):
        return Backing(self.chords, self.index + 1)

    def __eq__(self, other):
        return (isinstance(other, Backing) and self.index == other.index
                and (self.chords is other.chords or self.chords == other.chords))

    def __hash__(self):
        return hash((len(self.chords), self.index))

    def __repr__(self):
        return 'Backing(%s at step %d of %d)' % (self.chord, self.index, len(self.chords))


def chord_of(control):
    """The chord symbol a lead-sheet event's chord part stands for (a symbol or Backing)."""
    return control.chord if isinstance(control, Backing) else control
