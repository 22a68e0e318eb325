"""Moving a primer into a model's key and pitch range, and the result back, as Magenta's
melody models do: the configs train on melodies transposed to C and folded into
[min_note, max_note), so a primer in D is shifted down two semitones before generation
and the generated melody shifted up again."""
from musekit.encoders.key import MAJOR_SCALE

OCTAVE = 12


def major_key(events):
    """The major key (0 = C ... 11 = B) whose scale holds the most note-ons; the lowest such
    key on a tie, C when there are no notes."""
    counts = [0] * OCTAVE
    for event in events:
        if event >= 0:
            counts[event % OCTAVE] += 1
    scores = [sum(counts[(key + degree) % OCTAVE] for degree in MAJOR_SCALE)
              for key in range(OCTAVE)]
    return scores.index(max(scores))


def fold(pitch, low, high):
    """`pitch` moved by whole octaves into [low, high) (which spans at least an octave)."""
    if pitch < low:
        return low + (pitch - low) % OCTAVE
    if pitch >= high:
        return high - OCTAVE + (pitch - high) % OCTAVE
    return pitch


def squash_melody(events, min_note, max_note, transpose_to_key=None):
    """(events moved into the key and range, semitones moved).

    With `transpose_to_key`, the melody is transposed so its estimated major key becomes
    that key, by the amount (key difference plus whole octaves) that best centres its
    notes in the range; then every note outside the range is folded in by octaves.
    Hold (-2) and note-off (-1) events are kept.
    """
    pitches = [e for e in events if e >= 0]
    amount = 0
    if transpose_to_key is not None and pitches:
        key_diff = transpose_to_key - major_key(events)
        centre = (min(pitches) + max(pitches)) / 2
        target = (min_note + max_note - 1) / 2
        amount = key_diff + OCTAVE * int(round((target - (centre + key_diff)) / OCTAVE))
    return [fold(e + amount, min_note, max_note) if e >= 0 else e for e in events], amount


def transpose_melody(events, amount, min_note=0, max_note=128):
    """Every pitch moved by `amount` semitones, folded by octaves into [min_note, max_note)."""
    return [fold(e + amount, min_note, max_note) if e >= 0 else e for e in events]
