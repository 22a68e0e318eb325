"""The drums piece type: Magenta's --primer_drums read safely, --primer_midi's drums, drum
tracks written on MIDI channel 10 and read back as themselves, and musekit_generate end to
end with small random drum_kit and one_drum bundles."""
import collections
import os
import subprocess
import sys

import mido
import numpy as np
import pretty_midi
import pytest
from note_seq import midi_io
from note_seq.protobuf import music_pb2

from musekit.bundle import write_bundle
from musekit.config import get_config
from musekit.encoders.drums import NO_HITS
from musekit.errors import MusekitError
from musekit.extractors.drums import DrumExtractor
from musekit.models.base import get_model
from musekit.output.audio import synthesize
from musekit.output.notes import Note
from musekit.pieces.drums import (MAX_PRIMER_CHARACTERS, DrumsPiece, parse_primer_drums,
                                  primer_drums_track, primer_track)
from test_drums_encoders import random_tracks
from test_generation import run_cli

FIRST_PITCHES = {36, 38, 42, 46, 45, 48, 50, 49, 51}


def piece(name='drum_kit'):
    config = get_config(name)
    return DrumsPiece(config.make_encoder(), config.make_extractor())


def options(**given):
    values = {'primer_drums': None, 'primer_midi': None, 'qpm': 120.0, 'render_wav': False,
              'plot': False}
    values.update(given)
    return values


@pytest.mark.parametrize('text, expected', [
    ('[(36, 42), (), (42,)]', [{36, 42}, set(), {42}]),
    ('[(36,42),(),(),(),(42,),(),(),()]', [{36, 42}, set(), set(), set(), {42}, set(),
                                           set(), set()]),
    ('  [36, [38, 42], {46}, ()]  ', [{36}, {38, 42}, {46}, set()]),    # a lone pitch too
    ('((0, 127),)', [{0, 127}]),
    ('[(36, 36)]', [{36}]),
])
def test_primer_drums_by_hand(text, expected):
    assert parse_primer_drums(text) == [frozenset(e) for e in expected]


@pytest.mark.parametrize('text, message', [
    ('', "malformed --primer_drums '': expected a list of hit sets like "
         '"[(36, 42), (), (42,)]"'),
    ('[(36, 42), (', 'malformed --primer_drums'),
    ("__import__('os').system('true')", 'malformed --primer_drums'),
    ('[(36,)] * 4', 'malformed --primer_drums'),
    ('[' * 5000 + ']' * 5000, 'malformed --primer_drums'),
    ('[]', '--primer_drums must be a non-empty list of hit sets'),
    ('36', '--primer_drums must be a non-empty list of hit sets'),
    ('[(36, 128)]', '--primer_drums step 0 holds 128, not a MIDI pitch (0..127)'),
    ('[(), (True,)]', '--primer_drums step 1 holds True, not a MIDI pitch (0..127)'),
    ("[(), ('36',)]", "--primer_drums step 1 holds '36', not a MIDI pitch (0..127)"),
    ('[(), 36.5]', '--primer_drums step 1 is 36.5, not a set of drum pitches'),
    ('[(), -1]', '--primer_drums step 1 is -1, not a set of drum pitches'),
    ('[(), {"a": 1}]', "--primer_drums step 1 is {'a': 1}, not a set of drum pitches"),
])
def test_bad_primer_drums_are_one_line(text, message):
    with pytest.raises(MusekitError) as e:
        parse_primer_drums(text)
    assert str(e.value).startswith(message) and '\n' not in str(e.value)


def test_primer_drums_size_limits():
    with pytest.raises(MusekitError) as e:
        parse_primer_drums(' ' * (MAX_PRIMER_CHARACTERS + 1))
    assert str(e.value) == '--primer_drums is %d characters long (at most %d)' % (
        MAX_PRIMER_CHARACTERS + 1, MAX_PRIMER_CHARACTERS)
    with pytest.raises(MusekitError, match='MUSEKIT_MAX_STEPS'):
        parse_primer_drums('[%s]' % ','.join(['()'] * 100_001))


def test_primer_options():
    drums = piece()
    # Magenta's default, a kick, and the two silent steps before it starts generating
    assert drums.primer(options()) == [frozenset([36]), NO_HITS, NO_HITS]
    assert drums.primer(options(primer_drums='[(36, 42), ()]')) == [frozenset([36, 42]),
                                                                    NO_HITS, NO_HITS]
    # silence after those two steps is dropped, a whole silent bar before the first hit too
    assert drums.primer(options(primer_drums='[(38,), (), (), (), (), (), ()]')) == [
        frozenset([38]), NO_HITS, NO_HITS]
    assert drums.primer(options(primer_drums=repr([()] * 18 + [(38,)]))) == [
        NO_HITS, NO_HITS, frozenset([38]), NO_HITS, NO_HITS]
    assert drums.primer(options(primer_drums='[(), ()]')) == [NO_HITS]
    # one_drum hears --primer_drums' 16th notes on its 8th-note grid, as Magenta's does
    assert piece('one_drum').primer(options(primer_drums='[(36,), (), (38,), (42,)]')) == [
        frozenset([36]), frozenset([38]), frozenset([42]), NO_HITS]
    # the primer and its silent steps must fit in --num_steps
    drums.requested_length(4, True)
    assert len(drums.primer(options(primer_drums='[(36,), (38,)]'))) == 4
    with pytest.raises(MusekitError) as e:
        drums.primer(options(primer_drums='[(36,), (38,), (42,)]'))
    assert str(e.value) == ('--primer_drums takes 5 steps, through the step before the one '
                            'where Magenta starts generating (after its last hit); '
                            '--num_steps=4 must be at least that')
    with pytest.raises(MusekitError, match='give --primer_drums or --primer_midi, not both'):
        drums.primer(options(primer_drums='[(36,)]', primer_midi='x.mid'))
    with pytest.raises(MusekitError, match='qpm must be'):
        drums.primer(options(qpm=0.0))
    with pytest.raises(MusekitError, match='no such primer MIDI file: nowhere.mid'):
        drums.primer(options(primer_midi='nowhere.mid'))
    refusing = DrumsPiece(get_config('drum_kit').make_encoder().__class__(
        ignore_unknown_drums=False), get_config('drum_kit').make_extractor())
    with pytest.raises(MusekitError, match='holds pitch 100, which is in no drum type'):
        refusing.primer(options(primer_drums='[(36,), (100,)]'))


def primer_drums_by_note_seq(events, qpm, steps_per_quarter):
    """The reference for primer_drums_track: the NoteSequence Magenta's drums_rnn_generate
    makes of --primer_drums (DrumTrack.to_sequence at its default 4 steps per quarter: each
    hit a 16th note long, velocity 100, channel 10, at `qpm`) through note_seq's quantization
    and musekit's drum track extraction (primer_track, as for --primer_midi)."""
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add().qpm = qpm
    seconds = 60.0 / qpm / 4
    for step, hits in enumerate(events):
        for pitch in sorted(hits):
            sequence.notes.add(pitch=pitch, velocity=100, instrument=9, is_drum=True,
                               start_time=step * seconds, end_time=(step + 1) * seconds)
    if sequence.notes:
        sequence.total_time = sequence.notes[-1].end_time
    return primer_track(sequence, steps_per_quarter, qpm, '--primer_drums')


def random_primer(rng):
    """Hit sets of random length and density, often after whole silent bars or ending in
    silence, now and then all silent."""
    density = rng.choice([0.0, 0.1, 0.3, 0.7, 1.0])
    events = [frozenset(int(p) for p in rng.choice([35, 36, 38, 42, 46, 49, 51, 60, 100],
                                                  size=rng.integers(1, 4)))
              if rng.random() < density else NO_HITS for _ in range(rng.integers(1, 48))]
    if rng.random() < 0.3:
        events = [NO_HITS] * int(rng.integers(1, 40)) + events
    return events


ODD_QPMS = [70.0, 97.0, 133.0, 150.5, 120.0, 60.0, 90.0, 100.0, 140.0, 83.3, 111.1, 177.7]


@pytest.mark.parametrize('steps_per_quarter', [4, 2, 1, 3, 8])
def test_primer_drums_track_is_the_note_seq_path(steps_per_quarter):
    """Without note_seq, the same primer track as Magenta's sequence quantized by note_seq,
    on random hit sets at odd tempos (a one_drum grid joins two 16ths, rounding as note_seq
    does in floating point) and random ones across MIDI's whole range."""
    rng = np.random.default_rng(steps_per_quarter)
    qpms = ODD_QPMS + [float(q) for q in rng.integers(4, 400, 30)] + \
        [float(q) for q in rng.uniform(3.6, 10000, 20)]
    for case in range(1500):
        events, qpm = random_primer(rng), qpms[case % len(qpms)]
        assert primer_drums_track(events, qpm, steps_per_quarter) == \
            primer_drums_by_note_seq(events, qpm, steps_per_quarter), (events, qpm)


def test_primer_drums_track_by_hand():
    kick, snare = frozenset([36]), frozenset([38])
    # a hit lasts a 16th; generation starts a step after its end, rounded up
    assert primer_drums_track([kick], 120.0, 4) == [kick, NO_HITS, NO_HITS]
    assert primer_drums_track([kick], 120.0, 2) == [kick, NO_HITS]
    # one_drum: 16ths 1 and 2 round half up onto 8th 1, hit sets joined
    assert primer_drums_track([kick, snare, frozenset([42])], 120.0, 2) == [
        kick, frozenset([38, 42]), NO_HITS]
    # the track starts on the bar line before the first hit
    assert primer_drums_track([NO_HITS] * 17 + [kick], 97.0, 4) == [NO_HITS, kick, NO_HITS,
                                                                     NO_HITS]
    assert primer_drums_track([NO_HITS] * 3, 70.0, 4) == [NO_HITS]


@pytest.mark.parametrize('env, hits, qpm, steps_per_quarter', [
    ('MUSEKIT_MAX_STEPS', 40, 133.0, 4),
    ('MUSEKIT_MAX_QUANTIZED_STEPS', 40, 133.0, 4),
    # the last hit starts on step 30 and ends there too, so note_seq makes it end on 31
    ('MUSEKIT_MAX_QUANTIZED_STEPS', 119, 120.0, 1),
])
def test_primer_drums_track_limits_as_the_note_seq_path(monkeypatch, env, hits, qpm,
                                                        steps_per_quarter):
    monkeypatch.setenv(env, '30')
    errors = []
    for compute in (primer_drums_track, primer_drums_by_note_seq):
        with pytest.raises(MusekitError) as e:
            compute([frozenset([36])] * hits, qpm, steps_per_quarter)
        errors.append(str(e.value))
    assert errors[0] == errors[1], errors
    monkeypatch.setenv(env, '31')
    assert primer_drums_track([frozenset([36])] * 119, 120.0, 1) == \
        primer_drums_by_note_seq([frozenset([36])] * 119, 120.0, 1)


def write_primer_midi(path, drums=True, piano=True, qpm=120.0):
    """A MIDI file: drum hits (is_drum) from the second beat of bar 1 on, a piano part."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    step = 60.0 / qpm / 4
    if drums:
        kit = pretty_midi.Instrument(0, is_drum=True)
        for s, pitches in ((20, (36, 42)), (22, (42,)), (24, (38, 42)), (29, (35,))):
            for p in pitches:
                kit.notes.append(pretty_midi.Note(100, p, s * step, s * step + step / 2))
        midi.instruments.append(kit)
    if piano:
        keys = pretty_midi.Instrument(0)
        keys.notes.append(pretty_midi.Note(80, 60, 16 * step, 24 * step))
        keys.notes.append(pretty_midi.Note(80, 64, 40 * step, 44 * step))
        midi.instruments.append(keys)
    midi.write(str(path))
    return str(path)


def test_primer_midi_is_its_drum_track(tmp_path):
    events = piece().primer(options(primer_midi=write_primer_midi(tmp_path / 'p.mid')))
    # from the bar of the first hit (bar 2: step 16) to the last hit, the piano left out;
    # the last hit ends half a step later, so Magenta starts generating at step 16 + 15
    expected = [NO_HITS] * 15
    expected[4], expected[6], expected[8], expected[13] = (
        frozenset([36, 42]), frozenset([42]), frozenset([38, 42]), frozenset([35]))
    assert events == expected
    # one_drum counts 8th notes: the same hits on its coarser grid, no silent step left
    assert piece('one_drum').primer(options(primer_midi=str(tmp_path / 'p.mid'))) == [
        NO_HITS, NO_HITS, frozenset([36, 42]), frozenset([42]), frozenset([38, 42]),
        NO_HITS, NO_HITS, frozenset([35])]             # 14.5 eighths rounds up
    # a file without drum notes: every note is a hit, as Magenta reads a primer; the last
    # note lasts 4 steps, and Magenta starts generating a step after it ends, rounded up
    only_piano = write_primer_midi(tmp_path / 'q.mid', drums=False)
    assert piece().primer(options(primer_midi=only_piano)) == [frozenset([60])] + \
        [NO_HITS] * 23 + [frozenset([64])] + [NO_HITS] * 5
    empty = write_primer_midi(tmp_path / 'e.mid', drums=False, piano=False)
    with pytest.raises(MusekitError, match='primer MIDI .*e.mid holds no notes'):
        piece().primer(options(primer_midi=empty))


def read_back(path, steps_per_quarter):
    """The drum track of a written MIDI file, as the extractor reads it."""
    sequence = midi_io.midi_file_to_note_sequence(path)
    extractor = DrumExtractor(steps_per_quarter=steps_per_quarter, min_bars=0,
                              gap_bars=float('inf'), max_steps=100_000)
    pieces, _ = extractor.prepare(sequence)
    return extractor.tracks(pieces[0], collections.Counter())[0], sequence


@pytest.mark.parametrize('name', ['drum_kit', 'one_drum'])
def test_tracks_round_trip_through_midi_on_channel_10(tmp_path, name):
    drums = piece(name)
    spq = drums.steps_per_quarter
    tracks = [t for t in random_tracks(3, count=12) if len(t) > 2]
    for i, track in enumerate(tracks):
        track = [frozenset([36])] + track + [frozenset([42])]   # first and last step hit
        paths, renderers = drums.write(str(tmp_path / ('t%d' % i)), track, 1, options())
        assert paths == [str(tmp_path / ('t%d.mid' % i))] and renderers == []
        back, sequence = read_back(paths[0], spq)
        assert back == track, i
        assert all(n.is_drum and n.velocity == 100 for n in sequence.notes)
        seconds = 60.0 / 120.0 / spq
        assert all(abs(n.end_time - n.start_time - seconds) < 1e-6 for n in sequence.notes)
        channels = {m.channel for m in mido.MidiFile(paths[0]).tracks[0]
                    if m.type in ('note_on', 'note_off')}
        assert channels == {9}


def test_a_drum_hit_sounds_as_a_noise_burst():
    hit = synthesize([Note(36, 0, 2, is_drum=True)], 4)
    tone = synthesize([Note(36, 0, 2)], 4)
    again = synthesize([Note(36, 0, 2, is_drum=True)], 4)
    half = len(hit) // 2
    assert np.abs(hit[:half]).max() > 0.1 and not hit[half:].any()
    np.testing.assert_array_equal(hit, again)            # the same hit sounds the same
    assert not np.allclose(hit, tone)
    # it decays: the hit's second eighth is much quieter than its first
    eighth = half // 4
    assert np.abs(hit[eighth:2 * eighth]).mean() < 0.5 * np.abs(hit[:eighth]).mean()


def test_drum_hits_plot_as_marks_not_held_notes():
    """A hit on every step draws as separate marks (a held note as one bar)."""
    from musekit.output.plot import piano_roll_figure
    notes = [Note(42, s, s + 1, is_drum=True) for s in range(4)] + [Note(60, 0, 4)]
    axes = piano_roll_figure(notes, 8).axes[0]
    spans = sorted((round(float(v[:, 0].min()), 3), round(float(v[:, 0].max()), 3))
                   for c in axes.collections for v in (c.get_paths()[0].vertices,))
    assert spans == [(0, 0.6), (0, 4), (1, 1.6), (2, 2.6), (3, 3.6)]


@pytest.mark.parametrize('qpm_flag, expected', [([], 100.0), (['--qpm=150'], 150.0)])
def test_a_primer_midi_sets_the_tempo_unless_qpm_is_given(tmp_path, capsys, qpm_flag,
                                                           expected):
    """As in Magenta, output plays at the primer MIDI's tempo; an explicit --qpm wins."""
    bundle = small_bundle(tmp_path / 'd.musekit', 'drum_kit', attn_length=0)
    primer = write_primer_midi(tmp_path / 'p.mid', qpm=100.0)
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--num_outputs=1', '--num_steps=32', '--seed=1',
                             '--primer_midi=' + primer, *qpm_flag)
    assert status == 0, err
    sequence = midi_io.midi_file_to_note_sequence(str(tmp_path / 'drums_01.mid'))
    assert [t.qpm for t in sequence.tempos] == [pytest.approx(expected)]
    assert sequence.notes[0].start_time == pytest.approx(4 * 60.0 / expected / 4)
    # --primer_drums and the default primer play at 120 qpm unless --qpm says
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--num_outputs=1', '--num_steps=32', '--seed=1', *qpm_flag)
    assert status == 0, err
    sequence = midi_io.midi_file_to_note_sequence(str(tmp_path / 'drums_01.mid'))
    assert [t.qpm for t in sequence.tempos] == [pytest.approx(qpm_flag and 150.0 or 120.0)]


def test_a_primer_midi_tempo_musekit_cannot_write_is_one_line(tmp_path):
    midi = pretty_midi.PrettyMIDI(initial_tempo=20000.0)
    kit = pretty_midi.Instrument(0, is_drum=True)
    kit.notes.append(pretty_midi.Note(100, 36, 0.0, 0.001))
    midi.instruments.append(kit)
    midi.write(str(tmp_path / 'fast.mid'))
    with pytest.raises(MusekitError) as e:
        piece().primer(options(qpm=None, primer_midi=str(tmp_path / 'fast.mid')))
    assert str(e.value) == ('the primer MIDI plays at 20000 qpm, a tempo musekit does not '
                            'write; give --qpm')
    assert piece().primer(options(qpm=120.0, primer_midi=str(tmp_path / 'fast.mid')))


# --- musekit_generate end to end -----------------------------------------------------------

def small_bundle(path, name, attn_length=None, seed=0):
    """A bundle of `name` with one 16-unit LSTM (attention as the config has it, unless
    `attn_length`) and random weights."""
    hparams = {'rnn_layer_sizes': [16]}
    if attn_length is not None:
        hparams['attn_length'] = attn_length
    config = get_config(name).with_hparams(hparams)
    encoder = config.make_encoder()
    shapes = get_model('events_rnn').weight_shapes(encoder, config.hparams)
    rng = np.random.default_rng(seed)
    weights = {k: (0.5 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    write_bundle(str(path), config.to_dict(), weights, {'dataset': 'none: random weights'})
    return str(path)


@pytest.mark.parametrize('name, flags, first_pitches', [
    ('drum_kit', ['--primer_drums=[(36, 42), (), (42,), (), (38, 42)]', '--render_wav',
                  '--plot'], FIRST_PITCHES),
    ('one_drum', ['--primer_drums=[(36, 42), (), (42,), (), (38, 42)]'], {39}),
    ('drum_kit', ['--beam_size=2', '--branch_factor=2'], FIRST_PITCHES),
])
def test_musekit_generate_writes_drum_tracks(tmp_path, capsys, name, flags, first_pitches):
    bundle = small_bundle(tmp_path / 'd.musekit', name)
    out = tmp_path / 'out'
    status, stdout, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % out,
                                  '--num_outputs=3', '--num_steps=40', '--seed=5', *flags)
    assert status == 0, err
    files = sorted(os.listdir(out))
    mids = ['drums_%02d.mid' % i for i in (1, 2, 3)]
    assert [f for f in files if f.endswith('.mid')] == mids
    if '--render_wav' in flags:
        assert {'drums_01.wav', 'drums_01.png'} <= set(files)
    assert '3 drum tracks of 40 steps' in stdout and 'seed 5' in stdout
    spq = piece(name).steps_per_quarter
    primer = piece(name).primer(options(primer_drums=flags[0][len('--primer_drums='):])) \
        if flags[0].startswith('--primer_drums') else [frozenset([36]), NO_HITS, NO_HITS]
    outputs = []
    for mid in mids:
        track, sequence = read_back(str(out / mid), spq)
        assert track[:len(primer)] == primer
        generated = track[len(primer):]
        assert {p for hits in generated for p in hits} <= first_pitches
        assert any(generated)                       # random weights do hit something
        assert max(n.end_time for n in sequence.notes) <= 40 * 60.0 / 120 / spq + 1e-6
        outputs.append(track)
    assert len({tuple(t) for t in outputs}) > 1
    status, again, _ = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % out,
                               '--num_outputs=3', '--num_steps=40', '--seed=5', *flags)
    assert status == 0 and [read_back(str(out / m), spq)[0] for m in mids] == outputs


def test_musekit_generate_refusals_are_one_line(tmp_path, capsys):
    bundle = small_bundle(tmp_path / 'd.musekit', 'drum_kit', attn_length=0)
    for flag, message in (
            ('--primer_melody=[60]', '--primer_melody does not apply to'),
            ('--primer_drums=[(36,), (300,)]', '--primer_drums step 1 holds 300'),
            ('--primer_drums=[(36,)] * 200', 'malformed --primer_drums'),
            ('--num_steps=4', '--primer_drums takes 5 steps, through the step before')):
        extra = ['--primer_drums=[(36,), (), (38,)]'] if flag == '--num_steps=4' else []
        status, _, err = run_cli(capsys, '--bundle_file=' + bundle,
                                 '--output_dir=%s' % tmp_path, flag, *extra)
        assert status == 2 and err.count('\n') == 1 and message in err, (flag, err)


def test_generating_drums_from_primer_drums_never_imports_note_seq(tmp_path):
    """--primer_drums and the default primer are worked out without note_seq (whose import
    is most of a drum bundle's generation time), and without TensorFlow."""
    bundle = small_bundle(tmp_path / 'd.musekit', 'one_drum')
    code = ('import sys\nfrom musekit.cli.generate import run\ntry:\n    run(sys.argv)\n'
            'except SystemExit as e:\n    assert not e.code, e.code\n'
            'print("TF", "tensorflow" in sys.modules, "note_seq" in sys.modules)')
    for flags in (['--primer_drums=[(36, 42), (), (42,), (), (38, 42)]'], []):
        out = tmp_path / ('out%d' % len(flags))
        proc = subprocess.run([sys.executable, '-c', code, '--bundle_file=' + bundle,
                               '--output_dir=%s' % out, '--num_outputs=2', '--num_steps=32',
                               '--seed=1', '--qpm=97', *flags], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert 'TF False False' in proc.stdout, flags
        assert sorted(os.listdir(out)) == ['drums_01.mid', 'drums_02.mid']
