"""The audio dataset job: audio files and music -> mono samples at the config's rate ->
exact windows with overlap -> mu-law SequenceExamples, split by source piece."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from musekit.data import audio_files, example, tfrecord
from musekit.data.sources import BadInput
from musekit.encoders.mu_law import mu_law_classes, mu_law_samples
from musekit.errors import MusekitError
from musekit.extractors.audio import AudioWindowsExtractor
from musekit.pipelines import create_dataset

RATE = 4000                 # the tests' sample rate: window 4,000 samples, hop 3,000
PARAMS = {'sample_rate': RATE, 'window_seconds': 1.0, 'overlap_seconds': 0.25,
          'silence_db': -50.0, 'renderer': 'builtin'}


def write_tone(path, frequency, seconds, rate=44100, amplitude=0.5, channels=1, **kw):
    """A sine wave file (soundfile picks the format from the name)."""
    t = np.arange(int(round(seconds * rate))) / rate
    tone = amplitude * np.sin(2 * np.pi * frequency * t)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    import soundfile
    soundfile.write(path, np.stack([tone] * channels, 1) if channels > 1 else tone, rate, **kw)
    return tone


def peak_hz(samples, rate):
    spectrum = np.abs(np.fft.rfft(np.asarray(samples, np.float64) * np.hanning(len(samples))))
    return np.argmax(spectrum) * rate / len(samples)


def config_file(tmp_path, params=None, condition=False):
    path = tmp_path / 'audio.json'
    path.write_text(json.dumps({
        'name': 'audio_test', 'encoder': {'name': 'mu_law', 'params': {'condition': condition}},
        'model': {'name': 'wavenet'}, 'hparams': {},
        'data': {'extractor': 'audio_windows', 'params': dict(PARAMS, **(params or {}))}}))
    return str(path)


def run_job(tmp_path, capsys, input_spec, eval_ratio=0.5, params=None, condition=False):
    """(counters printed, dataset.json, {part: [(inputs, labels), ...]}) of one job run."""
    out = str(tmp_path / 'ds')
    create_dataset.main(['musekit_create_dataset', '--config=' + config_file(
        tmp_path, params, condition), '--input=' + str(input_spec), '--output_dir=' + out,
        '--eval_ratio=%g' % eval_ratio])
    printed = capsys.readouterr().out
    counters = {}
    for line in printed.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counters[parts[0]] = int(parts[1])
    with open(os.path.join(out, 'dataset.json')) as f:
        description = json.load(f)
    clips = {part: [example.parse_sequence_example(r)
                    for path in sorted(glob.glob(os.path.join(out, '%s_clips-*' % part)))
                    for r in tfrecord.read_record_file(path)]
             for part in ('training', 'eval')}
    return counters, description, clips


def windows_of(samples, extractor=None, label=''):
    """(windows as float arrays, drop counts) of `samples` by the test extractor."""
    extractor = extractor or AudioWindowsExtractor(**PARAMS)
    from musekit.encoders.mu_law import MuLawEncoder
    sequences, stats = extractor.extract((label, np.asarray(samples, np.float32)),
                                         MuLawEncoder())
    assert all(s[0] == label for s in sequences)
    return [np.array(s[1:], np.float32) for s in sequences], stats


# --- windows ----------------------------------------------------------------------------

def test_windows_are_exact_slices_with_overlap_and_the_tail_is_counted():
    ramp = (np.arange(13_500) / 13_500).astype(np.float32) + 0.01
    windows, stats = windows_of(ramp)
    # 4,000-sample windows every 3,000: starts 0, 3000, 6000, 9000 (ends 13,000); 500 left
    assert len(windows) == 4
    for k, window in enumerate(windows):
        np.testing.assert_array_equal(window, ramp[3000 * k:3000 * k + 4000])
    assert stats == {'tail_samples_dropped': 500}
    # a piece that ends where a window does drops nothing
    windows, stats = windows_of(ramp[:13_000])
    assert len(windows) == 4 and not stats
    # without overlap the windows tile the piece
    no_overlap = AudioWindowsExtractor(**dict(PARAMS, overlap_seconds=0.0))
    windows, stats = windows_of(ramp, no_overlap)
    assert [w[0] for w in windows] == [ramp[0], ramp[4000], ramp[8000]]
    assert stats == {'tail_samples_dropped': 1500}


def test_a_piece_shorter_than_a_window_gives_none_counted():
    assert windows_of(np.full(3999, 0.5)) == ([], {'pieces_discarded_shorter_than_a_window': 1})
    windows, stats = windows_of(np.full(4000, 0.5))
    assert len(windows) == 1 and not stats


def test_near_silent_windows_are_dropped_and_counted():
    # constant levels: RMS -6, -60 (below -50: dropped), -40 dBFS, and digital silence
    levels = [0.5, 10 ** (-60 / 20), 10 ** (-40 / 20), 0.0]
    tiled = AudioWindowsExtractor(**dict(PARAMS, overlap_seconds=0.0))
    windows, stats = windows_of(np.repeat(levels, 4000), tiled)
    assert [float(w[0]) for w in windows] == pytest.approx([0.5, 0.01])
    assert stats == {'clips_discarded_silent': 2}


def test_parameters_and_their_refusals():
    extractor = AudioWindowsExtractor(sample_rate=6300, window_seconds=10.0,
                                      overlap_seconds=1.0)
    assert (extractor.window, extractor.hop, extractor.max_steps) == (63_000, 56_700, 63_000)
    assert extractor.reader == 'audio' and extractor.output_name == 'clips'
    for bad, match in [({'overlap_seconds': 1.0}, 'shorter than window_seconds'),
                       ({'overlap_seconds': -0.1}, 'overlap_seconds=-0.1 .*: expected float '
                                                   '>= 0.0$'),
                       ({'window_seconds': 0.0001}, 'at least 2 samples'),
                       ({'window_seconds': '10'}, "window_seconds='10' .*: expected float"),
                       ({'sample_rate': 8000.0}, 'sample_rate=8000.0 .*: expected int'),
                       ({'sample_rate': 0}, 'expected int >= 100, <= 384000'),
                       ({'silence_db': 3}, 'expected float <= 0.0'),
                       ({'renderer': 'timidity'}, "expected one of 'auto', 'builtin', "
                                                  "'fluidsynth'")]:
        with pytest.raises(MusekitError, match=match):
            AudioWindowsExtractor(**dict(PARAMS, **bad))
    from musekit.extractors.base import get_extractor
    with pytest.raises(MusekitError, match="unknown parameter 'window'"):
        get_extractor('audio_windows', {'window': 10})


# --- reading audio ----------------------------------------------------------------------

def test_44k1_resampled_to_6300_keeps_length_and_pitch_and_filters_aliases(tmp_path):
    path = str(tmp_path / 'a.wav')
    write_tone(path, 1000.0, 2.0, subtype='FLOAT')
    samples = audio_files.read_audio(path, 6300)
    assert samples.dtype == np.float32 and len(samples) == 12_600        # 88,200 / 7
    assert peak_hz(samples, 6300) == pytest.approx(1000.0, abs=1.0)
    # 5 kHz lies above 6.3 kHz's Nyquist: filtered out, not folded down to 1.3 kHz
    write_tone(path, 5000.0, 2.0, subtype='FLOAT')
    assert np.sqrt(np.mean(audio_files.read_audio(path, 6300)[500:-500] ** 2)) < 0.005


def test_stereo_is_mixed_to_mono_block_by_block(tmp_path, monkeypatch):
    import soundfile
    rate = 22050
    t = np.arange(rate) / rate
    left, right = 0.6 * np.sin(2 * np.pi * 300 * t), 0.2 * np.sin(2 * np.pi * 700 * t) + 0.1
    path = str(tmp_path / 'stereo.wav')
    soundfile.write(path, np.stack([left, right], 1), rate, subtype='FLOAT')
    monkeypatch.setattr(audio_files, 'BLOCK_FRAMES', 1000)          # 23 blocks
    np.testing.assert_allclose(audio_files.read_audio(path, rate), (left + right) / 2,
                               atol=1e-7)


@pytest.mark.parametrize('name,kw', [('a.flac', {}), ('a.ogg', {'subtype': 'VORBIS'}),
                                     ('a.mp3', {})])
def test_flac_ogg_and_mp3_are_read(tmp_path, name, kw):
    path = str(tmp_path / name)
    write_tone(path, 440.0, 1.5, rate=22050, **kw)
    samples = audio_files.read_audio(path, RATE)
    assert len(samples) == 6000 and peak_hz(samples, RATE) == pytest.approx(440.0, abs=1.0)


def skip_reason(extractor, item):
    """The BadInput reason for which `extractor.prepare` refuses `item`."""
    with pytest.raises(BadInput) as raised:
        extractor.prepare(item)
    return raised.value.reason


def test_corrupt_and_too_long_files_are_refused_with_their_reason(tmp_path, monkeypatch):
    extractor = AudioWindowsExtractor(**PARAMS)
    bad = tmp_path / 'bad.wav'
    bad.write_bytes(b'RIFF\x10\x00\x00\x00WAVEjunk')
    source = audio_files.AudioFileSource(str(bad), '')
    assert skip_reason(extractor, source) == 'unreadable_audio'
    assert extractor.source_name(source) == str(bad)
    good = str(tmp_path / 'good.wav')
    write_tone(good, 440.0, 1.0, rate=8000)
    monkeypatch.setenv('MUSEKIT_MAX_AUDIO_SAMPLES', '7999')
    assert skip_reason(extractor, audio_files.AudioFileSource(good, '')) == 'audio_too_long'


# --- music rendered to audio ------------------------------------------------------------

def sequence(notes, filename='piano/tune.mid'):
    """A NoteSequence of (pitch, start s, end s, is_drum) notes."""
    from note_seq import music_pb2
    ns = music_pb2.NoteSequence(filename=filename, id='/id/midi/x/1')
    for pitch, start, end, drum in notes:
        ns.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=90, is_drum=drum)
    ns.total_time = max(n.end_time for n in ns.notes)
    return ns


def test_music_renders_with_the_builtin_synthesizer_at_its_pitch():
    extractor = AudioWindowsExtractor(**dict(PARAMS, renderer='builtin'))
    # A4 for 2 s, and a drum that must not sound (it would add a broadband hit at 1 s)
    pieces, stats = extractor.prepare(sequence([(69, 0.0, 2.0, False), (36, 1.0, 1.5, True)]))
    [(label, samples)] = pieces
    assert label == 'piano' and len(samples) == 2 * RATE
    assert stats == {'sequences_rendered_builtin': 1}
    assert peak_hz(samples, RATE) == pytest.approx(440.0, abs=1.0)
    drums = sequence([(36, 0.0, 1.0, True)], filename='x.mid')
    assert skip_reason(extractor, drums) == 'no_pitched_notes'
    assert extractor.source_name(drums) == 'x.mid'


def test_too_long_music_is_skipped_before_rendering(monkeypatch):
    monkeypatch.setenv('MUSEKIT_MAX_AUDIO_SAMPLES', '1M')
    extractor = AudioWindowsExtractor(**PARAMS)
    assert skip_reason(extractor, sequence([(60, 0.0, 1.0, False),
                                            (62, 300.0, 301.0, False)])) == 'audio_too_long'


def test_fluidsynth_renders_at_44k1_and_is_resampled(tmp_path, monkeypatch):
    from test_output import _fake_fluidsynth
    # the fake writes 2 s of stereo 440 Hz at the rate it is given and keeps its MIDI
    _fake_fluidsynth(tmp_path, monkeypatch, '\n'.join([
        'import shutil, numpy as np, soundfile', 'rate = int(args[args.index("-r") + 1])',
        'tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate)',
        'soundfile.write(args[args.index("-F") + 1], np.stack([tone, tone], 1), rate)',
        'shutil.copy(args[-1], %r)' % str(tmp_path / 'given.mid')]))
    for renderer in ('auto', 'fluidsynth'):
        extractor = AudioWindowsExtractor(**dict(PARAMS, renderer=renderer))
        extractor.check_runnable()
        pieces, stats = extractor.prepare(sequence([(60, 0.0, 2.0, False),
                                                    (36, 0.0, 1.0, True)]))
        [(_, samples)] = pieces
        assert stats == {'sequences_rendered_fluidsynth': 1} and len(samples) == 2 * RATE
        assert peak_hz(samples, RATE) == pytest.approx(440.0, abs=1.0)
        import pretty_midi
        midi = pretty_midi.PrettyMIDI(str(tmp_path / 'given.mid'))
        assert [n.pitch for i in midi.instruments for n in i.notes] == [60]     # no drums
    # without FluidSynth: 'auto' falls back to builtin, 'fluidsynth' refuses in one line
    monkeypatch.setenv('PATH', '/nonexistent')
    pieces, stats = AudioWindowsExtractor(**dict(PARAMS, renderer='auto')).prepare(
        sequence([(60, 0.0, 2.0, False)]))
    assert stats == {'sequences_rendered_builtin': 1}
    with pytest.raises(MusekitError, match="renderer 'fluidsynth' needs the fluidsynth "):
        AudioWindowsExtractor(**dict(PARAMS, renderer='fluidsynth')).check_runnable()


def test_the_job_refuses_a_missing_fluidsynth_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', os.path.dirname(sys.executable))
    write_tone(str(tmp_path / 'in' / 'a.wav'), 440.0, 1.0)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable),
                                        'musekit_create_dataset'),
                           '--config=' + config_file(tmp_path, {'renderer': 'fluidsynth'}),
                           '--input=' + str(tmp_path / 'in'), '--output_dir=ds'],
                          capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "musekit_create_dataset: error: renderer 'fluidsynth' needs the fluidsynth program "
        'and a General MIDI SoundFont (set MUSEKIT_SOUNDFONT); install them, or use '
        "renderer 'auto' or 'builtin'"]


# --- the job ----------------------------------------------------------------------------

# one constant-frequency tone per piece, so every clip says which piece it came from
TONES = {'bach/a.wav': (250, 3.1), 'bach/b.flac': (375, 2.2), 'bach/c.wav': (500, 4.0),
         'mozart/d.wav': (625, 1.9), 'mozart/e.ogg': (750, 2.5), 'mozart/f.wav': (875, 3.4),
         'g.wav': (1000, 2.05), 'h.wav': (1125, 0.9), 'haydn/i.wav': (1250, 1.6)}


def windows_in(seconds, rate=RATE):
    return max(0, (round(seconds * rate) - 4000) // 3000 + 1)


@pytest.fixture(scope='module')
def tones(tmp_path_factory):
    root = tmp_path_factory.mktemp('audio') / 'tones'
    for i, (name, (hz, seconds)) in enumerate(sorted(TONES.items())):
        write_tone(str(root / name), hz, seconds, rate=(44100, 22050)[i % 2],
                   channels=1 + i % 2)
    (root / 'notes.txt').write_text('not audio')
    (root / 'bach' / 'broken.wav').write_bytes(b'RIFF\x10\x00\x00\x00WAVEjunk')
    return root


def piece_of(labels):
    """The TONES name whose frequency is the clip's (mu-law labels) spectral peak."""
    hz = peak_hz(mu_law_samples(labels), RATE)
    name = min(TONES, key=lambda n: abs(TONES[n][0] - hz))
    assert abs(TONES[name][0] - hz) < 5
    return name


def test_every_piece_lands_whole_in_one_split(tones, tmp_path, capsys):
    counters, description, clips = run_job(tmp_path, capsys, tones)
    parts = {}
    for part, written in clips.items():
        for inputs, labels in written:
            assert inputs.shape == (4000, 1) and labels.shape == (4000,)
            parts.setdefault(piece_of(labels), []).append(part)
    assert set(parts) == set(TONES) - {'h.wav'}          # h is shorter than a window
    for name, seen in parts.items():
        assert len(seen) == windows_in(TONES[name][1]) and len(set(seen)) == 1, name
    assert {seen[0] for seen in parts.values()} == {'training', 'eval'}
    assert counters['training_clips'] + counters['eval_clips'] == sum(map(len, parts.values()))
    assert counters['audio_files_read'] == 10 and counters['files_skipped_unsupported_extension'] == 1
    assert counters['sources_skipped_unreadable_audio'] == 1
    assert counters['pieces_discarded_shorter_than_a_window'] == 1
    tails = sum(round(s * RATE) - (windows_in(s) - 1) * 3000 - 4000
                for _, s in TONES.values() if windows_in(s))
    assert counters['tail_samples_dropped'] == tails
    output = description['output']
    assert output == {'sample_rate': RATE, 'window_samples': 4000, 'hop_samples': 3000,
                      'clip_seconds': {'training': counters['training_clips'] * 1.0,
                                       'eval': counters['eval_clips'] * 1.0}}
    assert description['data']['params'] == PARAMS


def test_clips_are_the_resampled_source_sample_for_sample(tmp_path, capsys):
    import soundfile
    ramp = np.linspace(-0.9, 0.9, 22050 * 2 + 123)
    soundfile.write(str(tmp_path / 'ramp.wav'), ramp, 22050, subtype='FLOAT')
    _, _, clips = run_job(tmp_path, capsys, tmp_path / 'ramp.wav', eval_ratio=0.0)
    source = audio_files.resample(ramp, 22050, RATE)
    assert len(source) == 8023                      # ceil(44,223 * 160 / 882)
    expected = [mu_law_classes(source[k * 3000:k * 3000 + 4000]) for k in range(2)]
    written = sorted(clips['training'], key=lambda clip: clip[1][0])
    assert len(written) == 2
    for (inputs, labels), want in zip(written, expected):
        np.testing.assert_array_equal(labels, want)
        np.testing.assert_array_equal(inputs[1:, 0], want[:-1])


def test_labels_from_sub_folders_condition_a_fitted_encoder(tones, tmp_path, capsys):
    from musekit.data import sources
    from musekit.data.splits import HashSplit
    from musekit.pipelines.readers.audio import KeyAudioFile
    counters, description, clips = run_job(tmp_path, capsys, tones, eval_ratio=0.4,
                                           condition=True)
    part = {s.relpath: HashSplit(0.4).assign(i) for s in sources.list_sources(str(tones))
            for _, (i, _) in KeyAudioFile().process(s)}
    kept = [name for name in TONES if windows_in(TONES[name][1])]
    labels = description['encoder']['params']['labels']
    # fitted to the labels of the training part's clips: '' for files in the root
    assert labels == sorted({audio_files.label_of(n) for n in kept if part[n] == 'training'})
    for written in clips.values():
        for inputs, lab in written:
            assert set(inputs[:, 1]) == {labels.index(audio_files.label_of(piece_of(lab)))}
    # an eval piece whose label no training clip had is counted, not encoded
    unknown = [n for n in kept if part[n] == 'eval' and audio_files.label_of(n) not in labels]
    assert unknown and counters['pieces_discarded_label_not_in_training'] == len(unknown)


def test_music_files_and_note_sequence_records_are_rendered(tmp_path, capsys):
    import pretty_midi
    from musekit.pipelines import convert
    for folder, pitch in (('organ', 57), ('flute', 81)):      # A3 220 Hz, A5 880 Hz
        midi = pretty_midi.PrettyMIDI()
        piano = pretty_midi.Instrument(program=0)
        piano.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=0.0, end=2.5))
        midi.instruments.append(piano)
        os.makedirs(tmp_path / 'music' / folder)
        midi.write(str(tmp_path / 'music' / folder / 'tune.mid'))
    convert.main(['musekit_convert', '--input=' + str(tmp_path / 'music'),
                  '--output=' + str(tmp_path / 'ns' / 'music')])
    capsys.readouterr()
    for spec in (tmp_path / 'music', str(tmp_path / 'ns' / 'music*')):
        counters, _, clips = run_job(tmp_path, capsys, spec, eval_ratio=0.0, condition=True)
        assert counters['sequences_rendered_builtin'] == 2
        heard = {}
        labels = json.loads((tmp_path / 'ds' / 'dataset.json').read_text())[
            'encoder']['params']['labels']
        assert labels == ['flute', 'organ']
        for inputs, lab in clips['training']:
            heard[labels[inputs[0, 1]]] = round(peak_hz(mu_law_samples(lab), RATE))
        assert heard == {'organ': 220, 'flute': 880}


STABLE_IDS = '''
import json, os, sys
from musekit.data import sources
from musekit.data.splits import HashSplit
from musekit.pipelines.readers.audio import KeyAudioFile
ids = [i for s in sources.list_sources(sys.argv[1]) for _, (i, _) in KeyAudioFile().process(s)]
print(json.dumps([(i, HashSplit(0.5).assign(i)) for i in ids]))
'''


def test_ids_and_split_are_the_same_in_every_process(tones):
    runs = [subprocess.run([sys.executable, '-c', STABLE_IDS, str(tones)], check=True,
                           capture_output=True, text=True,
                           env=dict(os.environ, PYTHONHASHSEED=seed)).stdout
            for seed in ('1', '2')]
    assert runs[0] == runs[1]
    assigned = json.loads(runs[0])
    assert len(assigned) == 10 and {part for _, part in assigned} == {'training', 'eval'}
