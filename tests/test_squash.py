"""Primers move into a model's key and range and the results move back, as in Magenta."""
import random

import pytest

from musekit.pieces.melody import major_key, squash_melody, transpose_melody

D_MAJOR_SCALE = [62, 64, 66, 67, 69, 71, 73, 74]


def test_major_key_counts_note_ons_and_breaks_ties_low():
    assert major_key(D_MAJOR_SCALE) == 2
    assert major_key([60, -2, 62, -1, 64, 67]) == 0      # C, G and F major tie: C wins
    assert major_key([-2, -1]) == 0                       # no notes: C


def test_a_d_major_primer_moves_to_c_and_by_octaves_towards_the_middle():
    # key C - D = -2; centre 68 -> 66 vs the range's 65.5: no octave move
    assert squash_melody(D_MAJOR_SCALE, 48, 84, 0) == ([60, 62, 64, 65, 67, 69, 71, 72], -2)
    # C major (tied with F and G) centred at 95.5: -30 semitones is -2.5 octaves, which
    # rounds half to even: -2 octaves
    high = [96, -2, 98, -1, 100, -2, -2, 91]
    assert squash_melody(high, 48, 84, 0) == ([72, -2, 74, -1, 76, -2, -2, 67], -24)


def test_without_a_key_notes_are_only_folded_into_the_range():
    assert squash_melody([96, -2, 98, -1, 100, 91, 30], 48, 84, None) == \
        ([72, -2, 74, -1, 76, 79, 54], 0)
    assert squash_melody([-2, -1], 48, 84, 0) == ([-2, -1], 0)


def test_transposing_back_folds_into_midi_range():
    assert transpose_melody([60, -2, -1, 120], 10) == [70, -2, -1, 118]
    assert transpose_melody([5, 64], -10) == [7, 54]


def test_agrees_with_note_seq_melody_squash_and_transpose():
    melodies_lib = pytest.importorskip('note_seq.melodies_lib')
    rng = random.Random(0)
    for _ in range(500):
        raw = [rng.choice([-2, -1, -2, rng.randint(0, 127), rng.randint(40, 80)])
               for _ in range(rng.randint(1, 40))]
        events = [int(e) for e in melodies_lib.Melody(raw)]    # its own leading-event rule
        low, high = rng.choice([(48, 84), (0, 128), (60, 72), (36, 100)])
        key = rng.choice([None, 0, 5, 11])
        melody = melodies_lib.Melody(list(events))
        amount = melody.squash(low, high, key)
        assert squash_melody(events, low, high, key) == ([int(e) for e in melody], amount)
        shift = rng.randint(-30, 30)
        melody = melodies_lib.Melody(list(events))
        melody.transpose(shift)
        assert transpose_melody(events, shift) == [int(e) for e in melody]
