"""musekit's chord-symbol reader (musekit.encoders.chord_symbols, no note_seq import) reads
every symbol as note_seq's chord_symbols_lib does: root, quality, pitch classes (order and
repeats) and bass, or an error where any of note_seq's four raises. Checked on every
string literal of note_seq's chord tests, every chord kind on every root with and without
a bass, and thousands of random symbols made from the grammar's parts and then damaged."""
import ast
import os
import random

import note_seq
import pytest
from note_seq import chord_symbols_lib as lib

from musekit.encoders import chord_symbols

TESTS = ('chord_symbols_lib_test.py', 'chords_lib_test.py', 'chords_encoder_decoder_test.py',
         'lead_sheets_lib_test.py', 'chord_inference_test.py')
ROOTS = [letter + accidental for letter in 'ABCDEFG' for accidental in
         ('', '#', 'b', '##', 'bb', '###')]
ABBREVIATIONS = [a for abbrevs, _ in lib._CHORD_KINDS for a in abbrevs]


def note_seqs(symbol):
    try:
        return (lib.chord_symbol_root(symbol), lib.chord_symbol_quality(symbol),
                tuple(lib.chord_symbol_pitches(symbol)), lib.chord_symbol_bass(symbol))
    except lib.ChordSymbolError:
        return 'error'


def musekits(symbol):
    try:
        return chord_symbols.read(symbol)
    except chord_symbols.ChordSymbolError:
        return 'error'


def check(symbols):
    symbols = list(symbols)
    wrong = [(s, musekits(s), note_seqs(s)) for s in symbols if musekits(s) != note_seqs(s)]
    assert not wrong, wrong[:5]
    return symbols


def test_the_kinds_are_note_seqs():
    assert [(list(a), d.split()) for a, d in chord_symbols.KINDS] == lib._CHORD_KINDS


def test_every_string_of_note_seqs_chord_tests():
    folder = os.path.dirname(note_seq.__file__)
    strings = set()
    for name in TESTS:
        with open(os.path.join(folder, name)) as f:
            tree = ast.parse(f.read())
        strings |= {n.value for n in ast.walk(tree)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    symbols = check(sorted(strings))
    read = [s for s in symbols if note_seqs(s) != 'error']
    assert len(symbols) > 100 and len(read) > 60        # the tests do hold chords


def test_every_kind_on_every_root():
    symbols = check(r + a + b for r in ROOTS for a in ABBREVIATIONS
                    for b in ('', '/E', '/Bb', '/F#', '/H', '/'))
    assert sum(note_seqs(s) != 'error' for s in symbols) > 5000


@pytest.mark.parametrize('seed', range(4))
def test_random_symbols(seed):
    rng = random.Random(seed)
    mods = ['add', 'add#', 'addb', 'no', '#', 'b', 'bb', 'sus', 'x', '']
    parts = ABBREVIATIONS + ['', 'maj', 'M', 'm7', '7b5', '(', ')', '/o7', '69']
    symbols = []
    for _ in range(2500):
        s = rng.choice(ROOTS + ['H', 'c', '', 'N.C.'])
        s += rng.choice(parts)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            m = rng.choice(mods) + str(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 15, 99]))
            s += '(%s)' % m if rng.random() < 0.3 else m
        if rng.random() < 0.3:
            s += '/' + rng.choice(ROOTS + ['x'])
        for _ in range(rng.choice([0, 0, 0, 1, 2])):        # damage it
            i = rng.randrange(len(s) + 1)
            s = s[:i] + rng.choice('#b()/m7913 A') + s[i + rng.choice([0, 1]):]
        symbols.append(s)
    check(symbols)
    assert sum(note_seqs(s) != 'error' for s in symbols) > 600
