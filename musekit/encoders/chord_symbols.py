"""Chord symbols read as note_seq's chord_symbols_lib reads them ("C", "Am7", "G7(b9)/B",
"Bb6/9"), without importing note_seq (about 1.5 s a process: generation reads every
--backing_chords symbol). Proven equal to note_seq's reading on every symbol of its tests
and chord kinds and on thousands of random ones (tests/test_improv_chord_symbols.py).

A symbol is a root (a letter, then sharps or flats), a chord kind (the first of KINDS, in
order, after which the rest of the symbol reads), scale-degree modifications ("add9",
"no3", "#11", "b9", optionally in parentheses) and an optional "/bass".
"""
import re

QUALITY_OTHER = 4           # note_seq's CHORD_QUALITY_OTHER; 0..3 major, minor, aug, dim
_LETTERS = {'C': 0, 'D': 2, 'E': 4, 'F': 5, 'G': 7, 'A': 9, 'B': 11}
_OFFSETS = (0, 2, 4, 5, 7, 9, 11)      # semitones above the root of degrees 1..7
# note_seq's chord kinds, in its order: abbreviations, then the scale degrees each holds
KINDS = (
    (('', 'maj', 'M'), '1 3 5'),
    (('m', 'min', '-'), '1 b3 5'),
    (('+', 'aug'), '1 3 #5'),
    (('o', 'dim'), '1 b3 b5'),
    (('7',), '1 3 5 b7'),
    (('maj7', 'M7'), '1 3 5 7'),
    (('m7', 'min7', '-7'), '1 b3 5 b7'),
    (('o7', 'dim7'), '1 b3 b5 bb7'),
    (('+7', 'aug7'), '1 3 #5 b7'),
    (('m7b5', '-7b5', '/o', '/o7'), '1 b3 b5 b7'),
    (('mmaj7', 'mM7', 'minmaj7', 'minM7', '-maj7', '-M7', 'm(maj7)', 'm(M7)', 'min(maj7)',
      'min(M7)', '-(maj7)', '-(M7)'), '1 b3 5 7'),
    (('6',), '1 3 5 6'),
    (('m6', 'min6', '-6'), '1 b3 5 6'),
    (('9',), '1 3 5 b7 9'),
    (('maj9', 'M9'), '1 3 5 7 9'),
    (('m9', 'min9', '-9'), '1 b3 5 b7 9'),
    (('+9', 'aug9'), '1 3 #5 b7 9'),
    (('6/9',), '1 3 5 6 9'),
    (('11',), '1 3 5 b7 9 11'),
    (('maj11', 'M11'), '1 3 5 7 9 11'),
    (('m11', 'min11', '-11'), '1 b3 5 b7 9 11'),
    (('13',), '1 3 5 b7 9 11 13'),
    (('maj13', 'M13'), '1 3 5 7 9 11 13'),
    (('m13', 'min13', '-13'), '1 b3 5 b7 9 11 13'),
    (('sus2',), '1 2 5'),
    (('sus', 'sus4'), '1 4 5'),
    (('sus7', '7sus'), '1 4 5 b7'),
    (('ped',), '1'),
    (('5',), '1 5'),
)
_DEGREES = {abbrev: degrees for abbrevs, degrees in KINDS for abbrev in abbrevs}
# modification prefixes, in the order note_seq's pattern tries them
_MODS = ('add', 'add#', 'addb', 'no', '#', 'b')
_ROOT = r'[A-G](?:#*|b*)(?![#b])'
_MOD = r'\(?(%s)([0-9]+)\)?' % '|'.join(map(re.escape, _MODS))
_SYMBOL = re.compile(r'(%s)(%s)((?:\(?(?:%s)[0-9]+\)?)*)(|/%s)$' % (
    _ROOT, '|'.join(map(re.escape, _DEGREES)), '|'.join(map(re.escape, _MODS)), _ROOT))
_MOD_RE = re.compile(_MOD)


class ChordSymbolError(ValueError):
    """A string note_seq's chord_symbols_lib does not read as a chord symbol."""


def _pitch_class(text):
    return (_LETTERS[text[0]] + text.count('#') - text.count('b')) % 12


def _degree(text):
    """'b7' -> (7, -1)."""
    digits = text.lstrip('#b')
    return int(digits), text.count('#') - text.count('b')


def read(symbol):
    """(root, quality, pitch classes, bass) of a chord symbol, as note_seq's
    chord_symbol_root, _quality, _pitches (its order, repeats kept) and _bass give them;
    ChordSymbolError where any of them raises."""
    match = _SYMBOL.match(symbol)
    if not match:
        raise ChordSymbolError('Unable to parse chord symbol: %s' % symbol)
    root_text, kind, mods, bass_text = match.groups()
    degrees = dict(_degree(d) for d in _DEGREES[kind].split())   # degree -> alteration
    while mods:
        mod = _MOD_RE.match(mods)
        how, number = mod.group(1), int(mod.group(2))
        if how.startswith('add'):
            if number in degrees:
                raise ChordSymbolError('Scale degree already in chord: %d' % number)
            degrees[number] = how.count('#') - how.count('b') - (number == 7)
        elif how == 'no':
            if number not in degrees:
                raise ChordSymbolError('Scale degree not in chord: %d' % number)
            del degrees[number]
        else:
            degrees[number] = degrees.get(number, 0) + (1 if how == '#' else -1)
        mods = mods[mod.end():]
    root = _pitch_class(root_text)
    pitches = tuple((root + _OFFSETS[(d - 1) % 7] + alter) % 12
                    for d, alter in degrees.items())
    triad = tuple(degrees.get(d) for d in (1, 3, 5))
    quality = {(0, 0, 0): 0, (0, -1, 0): 1, (0, 0, 1): 2, (0, -1, -1): 3}.get(
        triad, QUALITY_OTHER)
    bass = _pitch_class(bass_text[1:]) if bass_text else root
    return root, quality, pitches, bass
