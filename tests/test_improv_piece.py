"""The lead_sheet piece type: --backing_chords parsed by note_seq's chord_symbols_lib and
refused in one line, Magenta's primer (through its last note's end plus a step), the
length from the chords, generation that feeds every step the chord under the next note,
and MIDI out (melody, chord symbols as text events, the rendered chord track equal to
note_seq's BasicChordRenderer), end to end with small random bundles of the three
improv configs."""
import math
import os

import note_seq
import numpy as np
import pretty_midi
import pytest

from musekit.bundle import write_bundle
from musekit.config import get_config
from musekit.encoders import chords
from musekit.errors import MusekitError
from musekit.generation import sample
from musekit.models.base import get_model
from musekit.pieces.lead_sheet import LeadSheetPiece, chord_notes, parse_chords
from musekit.pieces.melody import generation_start_step, melody_primer
from test_generation import run_cli
from magenta_refs import RecordingModel

CONFIGS = ('basic_improv', 'attention_improv', 'chord_pitches_improv')


def options(**given):
    values = {flag.name: flag.default for flag in LeadSheetPiece.flags}
    values.update(given)
    return values


def piece(name='basic_improv'):
    config = get_config(name)
    return LeadSheetPiece(config.make_encoder(), config.make_extractor())


def small_bundle(path, name, seed=0):
    """A bundle of the config with one 16-unit LSTM and random weights."""
    config = get_config(name).with_hparams({'rnn_layer_sizes': [16]})
    encoder = config.make_encoder()
    shapes = get_model('events_rnn').weight_shapes(encoder, config.hparams)
    rng = np.random.default_rng(seed)
    weights = {k: (0.3 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    write_bundle(str(path), config.to_dict(), weights, {'dataset': 'none: random weights'})
    return str(path)


# --- chords and primers --------------------------------------------------------------------

def test_backing_chords_are_parsed_and_refused_in_one_line():
    encoder = get_config('basic_improv').make_encoder()
    assert parse_chords(' C  G7/B Am\tFmaj7 N.C. ', encoder) == ['C', 'G7/B', 'Am', 'Fmaj7',
                                                                  'N.C.']
    for text, message in (('C H7', "chord 2: 'H7' is not a chord symbol"),
                          ('C Csus4', 'chord 2: chord Csus4 is not a major, minor, '
                                      'augmented or diminished triad'),
                          ('   ', 'needs chord symbols separated by spaces')):
        with pytest.raises(MusekitError, match=message) as info:
            parse_chords(text, encoder)
        assert '\n' not in str(info.value)
    # the pitch encoding takes any chord note_seq reads
    pitches = get_config('chord_pitches_improv').make_encoder()
    assert parse_chords('Csus4 G13 D9/F#', pitches) == ['Csus4', 'G13', 'D9/F#']


def test_primer_by_hand():
    """Magenta's primer runs through the step it starts generating at (see
    test_improv_primers for Magenta's own): the last end plus a step, rounded up."""
    assert melody_primer([60], 120.0, 4) == [60, -1, -2]
    assert melody_primer([60, -2, 64], 120.0, 4) == [60, -2, 64, -1, -2]
    assert melody_primer([60, -1, -2, -2], 120.0, 4) == [60, -1, -2]
    assert melody_primer([60, 62, 64, 65], 133.0, 4) == [60, 62, 64, 65, -1]   # float sum
    assert melody_primer([-2, -2], 120.0, 4) == [-2]
    assert generation_start_step(0.5, 120.0, 4) == 6
    assert generation_start_step(0.49, 120.0, 4) == 5


def test_primer_events_carry_the_backing_and_the_length_is_the_chords():
    p = piece()
    primer = p.primer(options(backing_chords='C G', steps_per_chord=4,
                              primer_melody='[60, -2, 62]'))
    assert [m for m, _ in primer] == [60, -2, 62, -1, -2]
    assert [b.index for _, b in primer] == [1, 2, 3, 4, 5]
    assert [b.chord for _, b in primer] == ['C', 'C', 'C', 'G', 'G']  # the next step's
    assert primer[0][1].chords == ('C',) * 4 + ('G',) * 4
    assert p.num_steps(options(backing_chords='C G', steps_per_chord=4), 128, False) == 8
    assert p.num_steps(options(), 128, False) == 8 * 16             # Magenta's defaults


@pytest.mark.parametrize('given, message', [
    (dict(steps_per_chord=0), '--steps_per_chord must be a positive number'),
    (dict(backing_chords='C', steps_per_chord=4, primer_melody='[60, -2]'),
     'the primer melody \\(4 steps, through the step where Magenta starts generating, '
     'after its last note\\) is not shorter than the backing chords \\(4 steps\\)'),
    (dict(primer_melody='[60, 200]'), 'not a melody event'),
    (dict(primer_melody='[60]', primer_midi='x.mid'), 'not both'),
    (dict(backing_chords='C Xyz'), "chord 2: 'Xyz' is not a chord symbol"),
    (dict(backing_chords='C ' * 70000), 'MUSEKIT_MAX_STEPS'),
    (dict(backing_chords='C ' + 'Cmaj7' * 20000), 'chord 2 is 100000 characters long, not a '
     'chord symbol$'),
])
def test_bad_options_are_one_line(given, message):
    with pytest.raises(MusekitError, match=message) as info:
        piece().primer(options(**given))
    assert '\n' not in str(info.value)


def test_num_steps_is_refused_unless_it_is_the_chords_length():
    p = piece()
    with pytest.raises(MusekitError, match='--num_steps does not apply to lead sheets: '
                       "their length is the backing chords' \\(128 steps"):
        p.num_steps(options(), 64, True)
    assert p.num_steps(options(), 128, True) == 128


def test_a_primer_outside_the_range_is_folded_by_octaves():
    p = piece()
    primer = p.primer(options(primer_melody='[96, -2, 30]'))
    moved, amount = p.to_model(primer)
    assert amount == 0 and [m for m, _ in moved] == [72, -2, 54, -1, -2]
    magentas = note_seq.Melody([96, -2, 30, -1, -2])
    assert magentas.squash(48, 84, None) == 0 and list(magentas) == [72, -2, 54, -1, -2]
    assert [b.index for _, b in moved] == [1, 2, 3, 4, 5]


# --- generation ----------------------------------------------------------------------------

@pytest.mark.parametrize('name', CONFIGS)
def test_each_step_reads_the_chord_under_the_next_note(name, tmp_path):
    from musekit.bundle import load_bundle
    bundle = load_bundle(small_bundle(tmp_path / 'b.musekit', name))
    encoder = bundle.make_encoder()
    p = LeadSheetPiece(encoder, bundle.config.make_extractor())
    opts = options(backing_chords='C G7/B Am F#dim', steps_per_chord=5)
    primer, moved = p.to_model(p.primer(opts))
    model = RecordingModel(bundle.step_model(encoder), row=None)
    total = p.num_steps(opts, 128, False)
    result = sample(model, encoder, primer, total, num_outputs=3, seed=2)
    symbols = primer[0][1].chords
    # one batch per fed position: the primer's but its last (batch 1), then 3 rows a step
    assert len(model.fed) == total - 1
    for position, batch in enumerate(model.fed):
        for row in batch:
            np.testing.assert_array_equal(row[:encoder.chord_size],
                                          chords.chord_row(symbols[position + 1],
                                                           encoder.chord_encoding))
    for events in result.events:
        assert len(events) == total
        assert [b.index for _, b in events] == list(range(1, total + 1))
    written = p.from_model(result.events[0], moved)
    assert [s for _, s in written] == list(symbols)


def midi_notes(path, program):
    pm = pretty_midi.PrettyMIDI(path)
    (instrument,) = [i for i in pm.instruments if i.program == program]
    return sorted((n.pitch, round(n.start, 6), round(n.end, 6), n.velocity)
                  for n in instrument.notes)


def test_the_chord_track_equals_note_seqs_renderer(tmp_path):
    symbols = [s for s in 'C C G7/B Am N.C. Fmaj7 Bdim/D'.split() for _ in range(4)]
    progression = note_seq.ChordProgression(symbols)
    sequence = progression.to_sequence(qpm=120.0)
    sequence.total_time = len(symbols) * 0.125
    note_seq.BasicChordRenderer(velocity=50).render(sequence)
    want = sorted((n.pitch, round(n.start_time, 6), round(n.end_time, 6), n.velocity)
                  for n in sequence.notes)
    assert {n.program for n in sequence.notes} == {88}
    p = piece()
    stem = str(tmp_path / 'sheet')
    melody = [60, -2, -2, 62] + [-2] * (len(symbols) - 4)
    paths, _ = p.write(stem, list(zip(melody, symbols)), 2, options(render_chords=True))
    assert paths == [stem + '.mid']
    assert midi_notes(stem + '.mid', 88) == want
    assert midi_notes(stem + '.mid', 0) == [(60, 0.0, 0.375, 100), (62, 0.375, 3.5, 100)]
    pm = pretty_midi.PrettyMIDI(stem + '.mid')
    assert [(t.text, t.time) for t in pm.text_events] == [
        ('C', 0.0), ('G7/B', 1.0), ('Am', 1.5), ('N.C.', 2.0), ('Fmaj7', 2.5),
        ('Bdim/D', 3.0)]
    assert math.isclose(pm.get_end_time(), 3.5)
    # without --render_chords: the melody and the symbols only
    p.write(stem, list(zip(melody, symbols)), 2, options())
    assert [i.program for i in pretty_midi.PrettyMIDI(stem + '.mid').instruments] == [0]
    assert len(chord_notes(symbols, len(symbols))) == len(want)


@pytest.mark.parametrize('name, flags', [
    ('basic_improv', ['--render_chords', '--primer_melody=[60, -2, 64]', '--plot']),
    ('attention_improv', ['--beam_size=2', '--branch_factor=2', '--steps_per_chord=8']),
    ('chord_pitches_improv', ['--backing_chords=Csus4 G13 D9/F# N.C.', '--render_wav']),
])
def test_musekit_generate_writes_lead_sheets(tmp_path, capsys, name, flags):
    bundle = small_bundle(tmp_path / 'b.musekit', name)
    out = tmp_path / 'out'
    status, stdout, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % out,
                                  '--num_outputs=2', '--seed=3', *flags)
    assert status == 0, err
    steps_per_chord = 8 if '--steps_per_chord=8' in flags else 16
    chords_given = 4 if name == 'chord_pitches_improv' else 8
    assert '2 lead sheets of %d steps' % (chords_given * steps_per_chord) in stdout
    files = sorted(os.listdir(out))
    assert [f for f in files if f.endswith('.mid')] == ['lead_sheet_01.mid',
                                                       'lead_sheet_02.mid']
    pm = pretty_midi.PrettyMIDI(str(out / 'lead_sheet_01.mid'))
    assert math.isclose(pm.get_end_time(), chords_given * steps_per_chord * 0.125)
    assert len(pm.text_events) >= 1
    assert ('--render_chords' in flags) == (len(pm.instruments) == 2)
    if '--plot' in flags:
        assert 'lead_sheet_02.png' in files
    if '--render_wav' in flags:
        assert 'lead_sheet_02.wav' in files


def test_musekit_generate_refuses_bad_chords_in_one_line(tmp_path, capsys):
    bundle = small_bundle(tmp_path / 'b.musekit', 'basic_improv')
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle,
                             '--output_dir=%s' % (tmp_path / 'out'),
                             '--backing_chords=C G Hm7')
    assert status == 2
    assert err.strip().count('\n') == 0 and "chord 3: 'Hm7' is not a chord symbol" in err
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle,
                             '--output_dir=%s' % (tmp_path / 'out'), '--num_steps=10')
    assert status == 2 and '--num_steps does not apply to lead sheets' in err


def test_transpose_to_key_moves_the_chords_with_the_melody():
    """With an extractor's transpose_to_key (no improv config of Magenta's sets one), the
    model hears melody and chords moved together as Magenta's generate_melody moves them
    (Melody.squash, ChordProgression.transpose); the output is back in the given key."""
    from types import SimpleNamespace
    p = LeadSheetPiece(get_config('basic_improv').make_encoder(),
                       SimpleNamespace(steps_per_quarter=4, transpose_to_key=0))
    primer = p.primer(options(backing_chords='D A7/C# Bm G', steps_per_chord=4,
                              primer_melody='[62, -2, 66, -2, 69, 73]'))
    given = list(primer[0][1].chords)
    moved, amount = p.to_model(primer)
    magentas = note_seq.Melody([m for m, _ in primer])
    want = magentas.squash(48, 84, 0)
    progression = note_seq.ChordProgression(given)
    progression.transpose(want)
    assert amount == want != 0
    assert [m for m, _ in moved] == list(magentas)
    assert list(moved[0][1].chords) == list(progression)
    written = p.from_model(moved, amount)
    assert [m for m, _ in written] == [m for m, _ in primer]
    assert [s for _, s in written] == given[:len(primer)]


def test_a_primer_midi_whose_tempo_changes_primes_with_its_first_part(tmp_path):
    """Magenta's generator fails on such a file (quantizing it); musekit takes the melody
    before the change, through the step generation starts at counted in that part (not the
    whole file's last note end on the first part's grid: silence to the file's end)."""
    import mido
    song = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    song.tracks.append(track)
    track.append(mido.MetaMessage('set_tempo', tempo=500000, time=0))        # 120 qpm
    for pitch in (60, 62, 64, 65, 'tempo', 67, 69):
        if pitch == 'tempo':
            track.append(mido.MetaMessage('set_tempo', tempo=1000000, time=0))  # 60 qpm
            continue
        track.append(mido.Message('note_on', note=pitch, velocity=90, time=0))
        track.append(mido.Message('note_off', note=pitch, velocity=0, time=480))
    song.save(str(tmp_path / 'p.mid'))
    p = piece()
    primer = p.primer(options(primer_midi=str(tmp_path / 'p.mid')))
    quarter = [-2, -2, -2]
    assert [m for m, _ in primer] == [60] + quarter + [62] + quarter + [64] + quarter + [
        65] + quarter + [-1, -2]
    assert p._qpm == 120.0
