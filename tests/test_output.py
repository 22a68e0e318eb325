"""Notes to files: MIDI through mido, WAV through soundfile (or FluidSynth), piano rolls
through matplotlib; each read back with a library's own reader."""
import os
import subprocess
import sys

import numpy as np
import pytest

from musekit.errors import MusekitError
from musekit.output import audio, midi, plot
from musekit.output.notes import Note

# a melody that ends in two silent steps, and a C major chord under a moving voice
MELODY = [Note(60, 0, 3), Note(62, 3, 4), Note(64, 6, 7), Note(64, 7, 9), Note(67, 10, 14),
          Note(72, 14, 17)]
CHORDS = [Note(48, 0, 8, 90), Note(52, 0, 8, 90), Note(55, 0, 8, 90), Note(72, 0, 2),
          Note(74, 2, 4), Note(76, 4, 8, 127)]


@pytest.mark.parametrize('notes, steps', [(MELODY, 20), (CHORDS, 8)])
@pytest.mark.parametrize('qpm', [120, 93.5])
@pytest.mark.parametrize('steps_per_quarter', [4, 3])
def test_midi_reads_back_with_note_seq(tmp_path, notes, steps, qpm, steps_per_quarter):
    import note_seq
    path = midi.write_midi(str(tmp_path / 'm.mid'), notes, steps, qpm, steps_per_quarter)
    seq = note_seq.midi_file_to_note_sequence(path)
    second = 60.0 / qpm / steps_per_quarter
    got = sorted((n.start_time, n.pitch, n.end_time, n.velocity) for n in seq.notes)
    want = sorted((n.start_step * second, n.pitch, n.end_step * second, n.velocity)
                  for n in notes)
    assert [(p, v) for _, p, _, v in got] == [(p, v) for _, p, _, v in want]
    np.testing.assert_allclose([(s, e) for s, _, e, _ in got], [(s, e) for s, _, e, _ in want],
                               atol=1e-6)
    assert seq.tempos[0].qpm == pytest.approx(qpm, rel=1e-4)
    assert (seq.time_signatures[0].numerator, seq.time_signatures[0].denominator) == (4, 4)
    assert seq.total_time == pytest.approx(max(n.end_step for n in notes) * second)


def test_midi_ends_at_the_last_step_and_keeps_four_four(tmp_path):
    import mido
    for steps_per_quarter in (2, 3, 4, 8):
        path = midi.write_midi(str(tmp_path / 'm.mid'), MELODY, 20, 100, steps_per_quarter,
                               program=40)
        track = mido.MidiFile(path).tracks[0]
        assert mido.MidiFile(path).ticks_per_beat == 120 * steps_per_quarter
        assert track[-1].type == 'end_of_track'
        assert sum(m.time for m in track) == 20 * 120          # two silent steps included
        [signature] = [m for m in track if m.type == 'time_signature']
        assert (signature.numerator, signature.denominator) == (4, 4)
        assert [m.program for m in track if m.type == 'program_change'] == [40]
    # a note-off sorts before a note-on at the same tick (64 ends where 64 starts again)
    kinds = [(m.type, m.note) for m in track if m.type.startswith('note')]
    assert kinds[4:7] == [('note_on', 64), ('note_off', 64), ('note_on', 64)]


@pytest.mark.parametrize('note, kwargs, message', [
    (Note(128, 0, 1), {}, 'pitch 128 is outside MIDI 0..127'),
    (Note(-1, 0, 1), {}, 'pitch -1 is outside'),
    (Note(60.5, 0, 1), {}, 'note pitch must be an integer'),
    (Note(60, 0, 1, 0), {}, 'velocity 0 is outside MIDI 1..127'),
    (Note(60, 0, 1, 128), {}, 'velocity 128 is outside'),
    (Note(60, 2, 2), {}, r'start step < end step, got 2\.\.2'),
    (Note(60, -1, 2), {}, 'start step < end step'),
    (Note(60, 0, True), {}, 'note end step must be an integer'),
    (Note(60, 0, 1), {'program': 128}, 'MIDI program must be in'),
    (Note(60, 0, 1), {'steps_per_quarter': 300}, r'steps_per_quarter must be in \[1, 273\]')])
def test_midi_refuses_what_it_cannot_store(tmp_path, note, kwargs, message):
    with pytest.raises(MusekitError, match=message):
        midi.write_midi(str(tmp_path / 'm.mid'), [note], 4, **kwargs)
    assert not os.path.exists(tmp_path / 'm.mid')


def test_qpm_bounds(tmp_path):
    assert midi.check_qpm(120) == 120.0 and isinstance(midi.check_qpm(120), float)
    assert midi.check_qpm(midi.MIN_QPM) == midi.MIN_QPM and midi.check_qpm(10000) == 10000
    for bad in (0, 3.5, -1, True, 'fast', 10001, midi.MIN_QPM * 0.999):
        with pytest.raises(MusekitError, match='qpm must be a positive number .* from 3.58 '):
            midi.check_qpm(bad)
    # the slowest tempo fills MIDI's 3-byte tempo exactly
    import mido
    track = mido.MidiFile(midi.write_midi(str(tmp_path / 'm.mid'), MELODY, 20,
                                          midi.MIN_QPM)).tracks[0]
    assert [m.tempo for m in track if m.type == 'set_tempo'] == [0xFFFFFF]


def test_wav_has_the_pieces_duration_and_sound(tmp_path):
    import soundfile
    path = str(tmp_path / 'm.wav')
    assert audio.render_wav(path, MELODY, 20, qpm=120, use_fluidsynth=False) == 'builtin'
    info = soundfile.info(path)
    assert (info.channels, info.subtype, info.samplerate) == (1, 'PCM_16', 22050)
    samples, rate = soundfile.read(path, dtype='int16')
    assert len(samples) == round(20 * 0.125 * rate)
    samples = samples.astype(np.float64)
    assert np.sqrt(np.mean(samples ** 2)) > 1000
    assert np.all(samples[int(17 * 0.125 * rate) + 10:] == 0)     # silent after the last note


def test_a_chord_is_scaled_to_peak_and_one_voice_keeps_its_level(tmp_path):
    import soundfile
    chord = CHORDS                                  # six notes sounding together
    loud = sum(audio.synthesize([n], 8) for n in chord)
    assert np.abs(loud).max() > 1.0                 # unscaled, the chord would clip
    samples = audio.synthesize(chord, 8)
    assert np.abs(samples).max() == pytest.approx(audio.PEAK)
    np.testing.assert_allclose(samples, loud * (audio.PEAK / np.abs(loud).max()), atol=1e-6)
    pcm, _ = soundfile.read(audio.write_wav(str(tmp_path / 'c.wav'), samples), dtype='int16')
    assert np.abs(pcm.astype(np.int32)).max() < 32767
    # one voice at velocity 100 is the old synth's note as it was; velocity scales it
    length = round(8 * 0.125 * audio.SAMPLE_RATE)
    single = audio.synthesize([Note(60, 0, 8)], 8)
    np.testing.assert_array_equal(single, audio._voice(60, length, audio.SAMPLE_RATE))
    assert 0.5 < np.abs(single).max() < audio.PEAK
    np.testing.assert_allclose(audio.synthesize([Note(60, 0, 8, 50)], 8), single / 2, atol=1e-7)


def _fake_fluidsynth(tmp_path, monkeypatch, body):
    """A `fluidsynth` on PATH running `body` (Python, argv in `args`), and a dummy SoundFont."""
    fake = tmp_path / 'bin' / 'fluidsynth'
    fake.parent.mkdir()
    fake.write_text('#!%s\nimport sys\nargs = sys.argv[1:]\n%s\n' % (sys.executable, body))
    fake.chmod(0o755)
    (tmp_path / 'gm.sf2').write_bytes(b'sf2')
    monkeypatch.setenv('PATH', '%s%s%s' % (fake.parent, os.pathsep, os.environ['PATH']))
    monkeypatch.setenv('MUSEKIT_SOUNDFONT', str(tmp_path / 'gm.sf2'))


def test_wav_through_fluidsynth_when_installed(tmp_path, monkeypatch):
    import mido
    # the fake copies the MIDI it was given into the "WAV", after its arguments
    _fake_fluidsynth(tmp_path, monkeypatch,
                     'out = open(args[args.index("-F") + 1], "wb")\n'
                     'out.write(repr(args).encode() + b"\\n" + open(args[-1], "rb").read())')
    path = str(tmp_path / 'm.wav')
    assert audio.render_wav(path, MELODY, 20, qpm=100) == 'fluidsynth'
    args, midi_bytes = open(path, 'rb').read().split(b'\n', 1)
    args = eval(args)
    assert args[:6] == ['-ni', '-q', '-g', '1.0', '-r', '22050']
    assert args[-2:-1] == [str(tmp_path / 'gm.sf2')] and args[-1].endswith('piece.mid')
    (tmp_path / 'given.mid').write_bytes(midi_bytes)
    given = mido.MidiFile(str(tmp_path / 'given.mid'))
    assert [m.tempo for m in given.tracks[0] if m.type == 'set_tempo'] == [600000]
    assert [m.note for m in given.tracks[0] if m.type == 'note_on'] == [n.pitch for n in MELODY]
    # asked not to, or without a SoundFont, the built-in synth renders
    assert audio.render_wav(path, MELODY, 20, use_fluidsynth=False) == 'builtin'
    monkeypatch.setenv('MUSEKIT_SOUNDFONT', str(tmp_path / 'missing.sf2'))
    monkeypatch.setattr(audio, 'SOUNDFONT_GLOBS', ())
    assert audio.find_soundfont() is None
    assert audio.render_wav(path, MELODY, 20) == 'builtin'


def test_a_failing_fluidsynth_is_one_line(tmp_path, monkeypatch):
    _fake_fluidsynth(tmp_path, monkeypatch,
                     'sys.stderr.write("warming up\\nno audio driver\\n"); sys.exit(3)')
    path = str(tmp_path / 'm.wav')
    with pytest.raises(MusekitError, match='fluidsynth failed to render .*m.wav: no audio driver$'):
        audio.render_wav(path, MELODY, 20)


def test_note_names():
    assert [plot.note_name(p) for p in (60, 61, 21, 127, 0)] == ['C4', 'C#4', 'A0', 'G9', 'C-1']


def test_piano_roll_axes_name_notes_and_bars():
    figure = plot.piano_roll_figure(MELODY, 40, primer_steps=4, steps_per_bar=16)
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ['1', '2', '3']
    assert 'C4' in [t.get_text() for t in axes.get_yticklabels()]
    assert axes.get_xlabel() == 'bar'
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ['primer', 'generated']
    low, high = axes.get_ylim()
    assert low < 60 and high > 72 and high - low >= 24
    assert axes.get_title() == ''
    generated_only = plot.piano_roll_figure(MELODY, 40, title='melody_01').axes[0]
    assert [t.get_text() for t in generated_only.get_legend().get_texts()] == ['generated']
    assert generated_only.get_title() == 'melody_01'
    # the bar ticks are at bar lines, in steps
    assert list(plot.piano_roll_figure(MELODY, 24, steps_per_bar=6).axes[0].get_xticks()) == \
        [0, 6, 12, 18]


def test_piano_roll_size_and_pitch_range():
    widths = [plot.piano_roll_figure(MELODY, n).get_figwidth() for n in (16, 160, 320, 4000)]
    assert widths[0] == plot.MIN_WIDTH < widths[1] < widths[2] < widths[3] == plot.MAX_WIDTH
    for pitches, low, high in [([0], 0, 24), ([127], 103, 127), ([0, 127], 0, 127)]:
        axes = plot.piano_roll_figure([Note(p, 0, 4) for p in pitches], 16).axes[0]
        assert axes.get_ylim() == (low - 0.5, high + 0.5)


def _has_colour(image, hex_colour):
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return bool((np.abs(image[..., :3] - rgb).max(axis=-1) < 0.02).any())


def test_piano_roll_png_shows_primer_and_generated_colours(tmp_path):
    from matplotlib.image import imread
    path = plot.write_piano_roll(str(tmp_path / 'r.png'), MELODY, 20, primer_steps=4)
    assert open(path, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    image = imread(path)
    assert _has_colour(image, plot.PRIMER_COLOUR) and _has_colour(image, plot.GENERATED_COLOUR)
    plain = imread(plot.write_piano_roll(str(tmp_path / 'g.png'), MELODY, 20))
    assert _has_colour(plain, plot.GENERATED_COLOUR)
    assert not _has_colour(plain, plot.PRIMER_COLOUR)


def test_importing_the_writers_loads_neither_matplotlib_nor_soundfile():
    code = ('import sys, musekit.output.midi, musekit.output.plot, musekit.output.audio\n'
            "print([m for m in ('matplotlib', 'soundfile') if m in sys.modules])")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == '[]'
