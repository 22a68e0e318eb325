"""musekit_generate on WaveNet bundles: WAV files of --num_seconds at the config's rate,
seeds, primers from audio files, labels of conditioned models, and the refusals (--num_steps,
lengths past MUSEKIT_MAX_AUDIO_SAMPLES, a label the model does not know)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from musekit.config import get_config
from musekit.errors import MusekitError
from musekit.pieces.audio import AudioPiece

TINY = {'stacks': 1, 'layers_per_stack': 4, 'residual_channels': 8, 'dilation_channels': 8,
        'skip_channels': 16}


def random_bundle(path, encoder_params=None, sample_rate=8000, seed=0):
    from musekit.bundle import write_bundle
    config = get_config('wavenet').with_hparams(TINY).to_dict()
    config['encoder']['params'].update(encoder_params or {})
    config['data']['params']['sample_rate'] = sample_rate
    from musekit.config import Config
    config = Config.from_dict(config)
    shapes = config.make_model().weight_shapes(config.make_encoder(), dict(config.hparams))
    rng = np.random.default_rng(seed)
    weights = {name: (0.3 * rng.standard_normal(shape)).astype(np.float32)
               for name, shape in shapes.items()}
    write_bundle(str(path), config.to_dict(), weights, {'dataset': 'none: random weights'})
    return str(path)


def run_generate(capsys, *args):
    from musekit.cli import generate as cli
    try:
        cli.run(['musekit_generate'] + list(args))
    except SystemExit as e:
        captured = capsys.readouterr()
        return e.code, captured.out, captured.err
    captured = capsys.readouterr()
    return 0, captured.out, captured.err


def test_wav_files_of_num_seconds_at_the_configs_rate(tmp_path, capsys):
    bundle = random_bundle(tmp_path / 'w.musekit', sample_rate=6300)
    code, out, err = run_generate(capsys, '--bundle_file=' + bundle, '--num_seconds=0.5',
                                  '--num_outputs=2', '--seed=3', '--output_dir=%s' % tmp_path)
    assert code == 0, err
    assert '2 audio clips of 3151 samples (primer 1)' in out
    first, rate = soundfile.read(str(tmp_path / 'audio_01.wav'))
    info = soundfile.info(str(tmp_path / 'audio_01.wav'))
    assert (rate, info.subtype, info.channels) == (6300, 'PCM_16', 1)
    assert len(first) == 3150 and np.abs(first).max() <= 1.0
    second, _ = soundfile.read(str(tmp_path / 'audio_02.wav'))
    assert not np.array_equal(first, second)
    # the same seed gives the same clips
    again = tmp_path / 'again'
    run_generate(capsys, '--bundle_file=' + bundle, '--num_seconds=0.5', '--num_outputs=2',
                 '--seed=3', '--output_dir=%s' % again)
    assert np.array_equal(soundfile.read(str(again / 'audio_01.wav'))[0], first)


def test_a_primer_wav_starts_every_clip_resampled_and_mixed_to_mono(tmp_path, capsys):
    bundle = random_bundle(tmp_path / 'w.musekit')
    t = np.arange(22050) / 22050
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 440 * t)], 1)
    primer = tmp_path / 'primer.flac'
    soundfile.write(str(primer), stereo, 22050)
    code, out, err = run_generate(
        capsys, '--bundle_file=' + bundle, '--num_seconds=0.5', '--num_outputs=1',
        '--primer_wav=%s' % primer, '--primer_seconds=0.25', '--output_dir=%s' % tmp_path)
    assert code == 0, err
    assert '(primer 2001)' in out           # the label and 0.25 s at 8 kHz
    clip, rate = soundfile.read(str(tmp_path / 'audio_01.wav'))
    expected = 0.4 * np.sin(2 * np.pi * 440 * np.arange(2000) / 8000)
    # resampled and written as 16-bit PCM: close to the mono mix, past the filter's edge
    assert rate == 8000 and len(clip) == 4000
    np.testing.assert_allclose(clip[100:1900], expected[100:1900], atol=3e-3)


def test_conditioned_bundle_generates_each_label_and_refuses_others(tmp_path, capsys):
    bundle = random_bundle(tmp_path / 'w.musekit', {'condition': True,
                                                     'labels': ['bach', 'schubert']})
    clips = {}
    for label in ('bach', 'schubert'):
        out_dir = tmp_path / label
        code, _, err = run_generate(capsys, '--bundle_file=' + bundle, '--num_seconds=0.1',
                                    '--num_outputs=1', '--seed=1', '--label=' + label,
                                    '--output_dir=%s' % out_dir)
        assert code == 0, err
        clips[label] = soundfile.read(str(out_dir / 'audio_01.wav'))[0]
    assert not np.array_equal(clips['bach'], clips['schubert'])
    code, _, err = run_generate(capsys, '--bundle_file=' + bundle, '--label=mozart',
                                '--output_dir=%s' % tmp_path)
    assert code == 2
    assert "label 'mozart' is not one the model was trained on; it knows bach, schubert" in err


@pytest.mark.parametrize('flags, message', [
    (['--num_steps=100'], '--num_steps does not apply to audio bundles; give the length '
                          'as --num_seconds'),
    (['--num_seconds=0'], '--num_seconds must be a positive number, got 0.0'),
    (['--num_seconds=3000'], "--num_seconds=3000 (24,000,000 samples at 8000 Hz) is over "
                             "musekit's limit of 16,777,216 samples; set the environment "
                             'variable MUSEKIT_MAX_AUDIO_SAMPLES'),
    (['--label=bach'], '--label applies to models conditioned on labels'),
    (['--primer_wav=/nonexistent.wav'], 'no such primer audio file: /nonexistent.wav'),
    (['--plot'], '--plot does not apply to'),
])
def test_audio_refusals_are_one_line_before_any_work(tmp_path, capsys, flags, message):
    bundle = random_bundle(tmp_path / 'w.musekit')
    out_dir = tmp_path / 'out'
    code, out, err = run_generate(capsys, '--bundle_file=' + bundle,
                                  '--output_dir=%s' % out_dir, *flags)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out_dir.exists()


def test_a_primer_file_that_is_not_audio_is_one_line(tmp_path, capsys):
    bundle = random_bundle(tmp_path / 'w.musekit')
    bad = tmp_path / 'notes.wav'
    bad.write_bytes(b'RIFF this is not really a wave file at all')
    code, _, err = run_generate(capsys, '--bundle_file=' + bundle, '--primer_wav=%s' % bad,
                                '--output_dir=%s' % tmp_path)
    assert code == 2 and 'cannot read primer audio %s' % bad in err


def test_the_audio_piece_counts_the_label_and_the_samples():
    config = get_config('wavenet')
    piece = AudioPiece(config.make_encoder(), config.make_extractor())
    options = {'num_seconds': 2.0, 'primer_wav': None, 'primer_seconds': 1.0, 'label': None}
    assert piece.num_steps(options, 128, False) == 16001
    assert piece.primer(options) == ['']
    with pytest.raises(MusekitError, match='--num_steps does not apply'):
        piece.num_steps(options, 128, True)


@pytest.mark.slow
def test_generation_never_imports_tensorflow(tmp_path):
    bundle = random_bundle(tmp_path / 'w.musekit')
    code = ('import sys\nfrom musekit.cli import generate\n'
            'try:\n    generate.run(["musekit_generate", "--bundle_file=%s", '
            '"--num_seconds=0.2", "--num_outputs=2", "--output_dir=%s"])\n'
            'except SystemExit as e:\n    assert not e.code, e.code\n'
            'assert "tensorflow" not in sys.modules, "tensorflow was imported"\n'
            % (bundle, tmp_path))
    subprocess.run([sys.executable, '-c', code], check=True, timeout=120)
    assert sorted(os.listdir(tmp_path)) == ['audio_01.wav', 'audio_02.wav', 'w.musekit']


@pytest.mark.slow
def test_wavenet_learns_a_tone_from_the_dataset_job_to_a_wav(tmp_path, capsys):
    """The whole audio path on a 313 Hz tone (its phase at 4 kHz drifts through every value,
    so the held-out pieces hold no unseen patterns): the dataset job's clips, musekit_train's
    eval loss falling far below a uniform guess, its bundle, and generation of that tone."""
    import json
    from musekit.cli import train
    from musekit.pipelines import create_dataset
    rate = 4000
    t = np.arange(3 * 44100) / 44100
    os.makedirs(tmp_path / 'in')
    for phase in range(6):          # six pieces: the hash split puts 2 in eval
        soundfile.write(str(tmp_path / 'in' / ('%d.wav' % phase)),
                        0.6 * np.sin(2 * np.pi * 313 * t + phase), 44100)
    config = get_config('wavenet').with_hparams(dict(TINY, crop_samples=256, batch_size=8,
                                                     learning_rate=0.01)).to_dict()
    config['data']['params'].update(sample_rate=rate, window_seconds=1.0,
                                    overlap_seconds=0.0, renderer='builtin')
    config_path = tmp_path / 'tone.json'
    config_path.write_text(json.dumps(config))
    create_dataset.main(['musekit_create_dataset', '--config=%s' % config_path,
                         '--input=%s' % (tmp_path / 'in'), '--output_dir=%s' % (tmp_path / 'ds'),
                         '--eval_ratio=0.5'])
    bundle = tmp_path / 'tone.musekit'
    try:
        train.run(['musekit_train', '--config=%s' % config_path, '--run_dir=%s' % (tmp_path / 'run'),
                   '--sequence_example_file=%s' % (tmp_path / 'ds' / 'training_clips-*'),
                   '--eval_sequence_example_file=%s' % (tmp_path / 'ds' / 'eval_clips-*'),
                   '--num_training_steps=150', '--save_checkpoint_steps=150',
                   '--summary_frequency=10', '--save_generator_bundle',
                   '--bundle_file=%s' % bundle])
    except SystemExit as e:
        assert not e.code
    out = capsys.readouterr().out
    first = float(out.split('step 10/150  loss ')[1].split()[0])
    final = float(out.split('eval at step 150: loss ')[1].split()[0])
    assert final < 0.5 * np.log(256) and final < first - 1.0, out
    code, _, err = run_generate(capsys, '--bundle_file=%s' % bundle, '--num_seconds=1',
                                '--num_outputs=1', '--temperature=0.5', '--seed=2',
                                '--output_dir=%s' % (tmp_path / 'gen'))
    assert code == 0, err
    clip, got_rate = soundfile.read(str(tmp_path / 'gen' / 'audio_01.wav'))
    spectrum = np.abs(np.fft.rfft(clip[2000:] * np.hanning(len(clip) - 2000)))
    assert got_rate == rate
    assert abs(np.argmax(spectrum) * rate / (len(clip) - 2000) - 313) <= 4
