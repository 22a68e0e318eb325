"""Melody extraction rules on hand-built NoteSequences (Magenta's melody_rnn defaults)."""
from note_seq import music_pb2

from musekit.encoders.melody import OneHotMelodyEncoder
from musekit.extractors.base import get_extractor

ENCODER = OneHotMelodyEncoder(min_note=48, max_note=84)


def sequence(notes, qpm=120.0, numerator=4):
    """notes: (pitch, start_quarter, end_quarter, instrument, part) tuples."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=qpm)
    ns.time_signatures.add(numerator=numerator, denominator=4)
    sec = 60.0 / qpm
    for pitch, start, end, instrument, part in notes:
        ns.notes.add(pitch=pitch, velocity=80, start_time=start * sec, end_time=end * sec,
                     instrument=instrument, part=part)
    ns.total_time = max(n.end_time for n in ns.notes)
    return ns


def scale_notes(n_quarters, instrument=0, part=0, pitches=(60, 62, 64, 65, 67)):
    return [(pitches[i % len(pitches)], i, i + 1, instrument, part) for i in range(n_quarters)]


def extract(ns, **params):
    ext = get_extractor('melody', params)
    quantized, stats = ext.prepare(ns)
    melodies = []
    for q in quantized:
        got, more = ext.extract(q, ENCODER)
        melodies += got
        stats.update(more)
    return melodies, stats


def test_a_seven_bar_melody_is_extracted_with_hand_worked_events():
    # 28 quarter notes C D E F G C D ... in 4/4 = 7 bars = 112 sixteenth steps.
    melodies, stats = extract(sequence(scale_notes(28)))
    assert len(melodies) == 1 and not stats
    events = melodies[0]
    assert len(events) == 112
    # each quarter: note-on then three no-events; the melody is already in C
    assert events[:8] == [60, -2, -2, -2, 62, -2, -2, -2]
    assert set(events[3::4]) == {-2}


def test_too_short_too_few_pitches_and_polyphony_are_counted():
    _, stats = extract(sequence(scale_notes(24)))                       # 6 bars
    assert stats['melodies_discarded_too_short'] == 1
    _, stats = extract(sequence(scale_notes(28, pitches=(60, 62, 64, 65))))
    assert stats['melodies_discarded_too_few_pitches'] == 1
    chord = scale_notes(28) + [(55, 0, 1, 0, 0)]                         # two notes at once
    melodies, stats = extract(sequence(chord))
    assert melodies == [] and stats['polyphonic_tracks_discarded'] == 1
    melodies, _ = extract(sequence(chord), ignore_polyphonic_notes=True)
    assert len(melodies) == 1 and melodies[0][0] == 60                  # highest note kept


def test_long_melodies_are_truncated_to_max_steps():
    melodies, stats = extract(sequence(scale_notes(200)))
    assert [len(m) for m in melodies] == [512] and stats['melodies_truncated'] == 1


def test_parts_sharing_one_instrument_are_separate_tracks():
    # MusicXML voices often share a MIDI channel: two parts, same instrument number.
    ns = sequence(scale_notes(28, part=0) + scale_notes(28, part=1, pitches=(48, 50, 52, 53, 55)))
    melodies, stats = extract(ns)
    assert len(melodies) == 2 and not stats.get('polyphonic_tracks_discarded')


def test_a_gap_of_a_bar_starts_a_new_melody():
    first = scale_notes(28)
    second = [(p, s + 36, e + 36, i, q) for p, s, e, i, q in scale_notes(28)]  # 2-bar rest
    melodies, _ = extract(sequence(first + second))
    assert len(melodies) == 2


def test_squash_transposes_to_c_and_folds_into_the_range():
    d_major = (62, 64, 66, 67, 69, 71, 73)          # D major scale -> C major
    melodies, _ = extract(sequence(scale_notes(28, pitches=d_major)))
    notes = [e for e in melodies[0] if e >= 0]
    assert notes[:7] == [60, 62, 64, 65, 67, 69, 71]
    melodies, _ = extract(sequence(scale_notes(28, pitches=d_major)), transpose_to_key=None)
    assert [e for e in melodies[0] if e >= 0][:7] == list(d_major)


def test_time_signature_changes_split_the_piece():
    ns = sequence(scale_notes(28) + [(p, s + 28, e + 28, i, q) for p, s, e, i, q in
                                     scale_notes(28)])
    ns.time_signatures.add(time=28 * 0.5, numerator=3, denominator=4)
    ext = get_extractor('melody')
    quantized, stats = ext.prepare(ns)
    assert len(quantized) == 2 and not stats
    _, stats = get_extractor('melody', {'split_on_time_changes': False}).prepare(ns)
    assert stats['sequences_discarded_multiple_time_signatures'] == 1


def test_real_chorale_melodies_fit_the_encoder():
    from musekit.data import sources
    src = [s for s in sources.list_sources('music21:bach') if s.relpath == 'bwv66.6.mxl'][0]
    ns, = sources.parse(src, sources.read_bounded(src.path))
    melodies, _ = extract(ns)
    assert len(melodies) >= 3                      # soprano, alto, tenor, bass
    for events in melodies:
        ENCODER.validate_events(events)
        assert len(events) >= 7 * 16
