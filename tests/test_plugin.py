"""A model family from outside musekit: tests/plugin_demo, a package registered through
the `musekit.plugins` entry point, adds multi-hot key frames (encoder, extractor, model
family with its own loss and per-key sampling, piece type, config). The unchanged
commands create its data, train and evaluate it, write its bundle and generate from it."""
import glob
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from musekit.data import example, sources, tfrecord

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
# five fall in the training part and two in the eval part of a 0.25 hash split
CHORALES = ['bwv1.6.mxl', 'bwv10.7.mxl', 'bwv101.7.mxl', 'bwv104.6.mxl', 'bwv11.6.mxl',
            'bwv110.7.mxl', 'bwv111.6.mxl']
KEYS = 36       # the demo config's pitches [48, 84)

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    """A folder with the plugin pip-installed into site/ and a few real chorales."""
    root = tmp_path_factory.mktemp('plugin')
    source = root / 'plugin_src'
    shutil.copytree(os.path.join(HERE, 'plugin_demo'), source)
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
                    '--no-build-isolation', '--target', str(root / 'site'), str(source)],
                   check=True, capture_output=True)
    chorales = root / 'chorales'
    chorales.mkdir()
    for name in CHORALES:
        shutil.copy(os.path.join(sources.music21_corpus_dir('bach'), name), chorales / name)
    return root


def run(work, program, *args, expect=0):
    """(stdout, stderr) of one musekit command run with the plugin installed."""
    env = dict(os.environ, PYTHONPATH=str(work / 'site'), TF_CPP_MIN_LOG_LEVEL='3')
    proc = subprocess.run([os.path.join(BIN, program), *args], capture_output=True,
                          text=True, env=env, cwd=str(work))
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return proc.stdout, proc.stderr


@pytest.fixture(scope='module')
def trained(work):
    """The plugin's data made, a run trained with eval, and its bundle written."""
    out, _ = run(work, 'musekit_create_dataset', '--config=demo_keys', '--input=chorales',
                 '--output_dir=ds', '--eval_ratio=0.25', '--transpose_range=-1,1')
    train_out, _ = run(work, 'musekit_train', '--config=demo_keys', '--run_dir=run',
                       '--sequence_example_file=ds/training_frames-*',
                       '--eval_sequence_example_file=ds/eval_frames-*',
                       '--num_training_steps=60', '--save_checkpoint_steps=30',
                       '--summary_frequency=10', '--bundle_file=demo.musekit',
                       '--save_generator_bundle')
    return out, train_out


def test_the_dataset_job_writes_the_plugins_multi_hot_frames(work, trained):
    out, _ = trained
    assert 'training and' in out and 'eval frames' in out
    files = sorted(glob.glob(str(work / 'ds' / 'training_frames-*.tfrecord')))
    assert len(files) == 2 and glob.glob(str(work / 'ds' / 'eval_frames-*.tfrecord'))
    records = [example.parse_sequence_example(r) for f in files
               for r in tfrecord.read_record_file(f)]
    assert records
    for inputs, labels in records:
        assert inputs.dtype == np.float32 and inputs.shape[1] == KEYS
        assert labels.shape == inputs.shape and set(np.unique(labels)) <= {0, 1}
        np.testing.assert_array_equal(labels[:-1], inputs[1:])   # label t is frame t + 1
        assert labels.sum(axis=1).max() >= 3                      # chords: several keys on
    with open(work / 'ds' / 'dataset.json') as f:
        counters = json.load(f)['counters']
    assert (counters['training_sequences'], counters['eval_sequences']) == (5, 2)
    assert counters['training_frames'] == len(records)
    # each training piece three times (-1, 0, +1 semitones): the same frames moved by one key
    by_shape = {}
    for inputs, _ in records:
        by_shape.setdefault(inputs.shape, []).append(inputs)
    moved = [group for group in by_shape.values() if len(group) == 3]
    assert moved and all(
        any(np.array_equal(np.roll(a, 1, axis=1)[:, 1:], b[:, 1:]) for a in group
            for b in group) for group in moved)


def test_training_minimises_the_plugins_loss_and_reports_its_metrics(work, trained):
    _, out = trained
    lines = [line for line in out.splitlines() if line.startswith('musekit_train: step ')]
    assert len(lines) == 6 and all('key_accuracy' in line for line in lines)
    first, last = (float(line.split('loss ')[1].split()[0]) for line in (lines[0], lines[-1]))
    assert last < first
    evals = [line for line in out.splitlines() if 'eval at step' in line]
    assert len(evals) == 2 and 'key_accuracy' in evals[0] and 'perplexity' not in evals[0]
    eval_loss = float(evals[-1].split('loss ')[1].split()[0])
    assert eval_loss < 0.5 * KEYS * math.log(2)          # far better than coin flips per key
    assert 'wrote bundle demo.musekit (step 60)' in out
    again, _ = run(work, 'musekit_train', '--eval', '--run_dir=run',
                   '--sequence_example_file=ds/eval_frames-*')
    assert 'eval at step 60: loss %.4f' % eval_loss in again


def test_generation_samples_keys_and_writes_the_plugins_files(work, trained):
    import note_seq
    out, _ = run(work, 'musekit_generate', '--bundle_file=demo.musekit', '--output_dir=gen',
                 '--num_outputs=3', '--num_steps=16', '--seed=2', '--plot',
                 '--primer_pitches=48,55,64')
    assert '3 frame pieces of 16 steps (primer 1)' in out
    assert sorted(os.listdir(work / 'gen')) == ['frames_%02d.%s' % (i, e) for i in (1, 2, 3)
                                                for e in ('mid', 'png')]
    chords = 0
    for i in (1, 2, 3):
        seq = note_seq.midi_file_to_note_sequence(str(work / 'gen' / ('frames_%02d.mid' % i)))
        first = sorted(n.pitch for n in seq.notes if n.start_time == 0)
        assert first == [48, 55, 64]
        quantized = note_seq.quantize_note_sequence(seq, 1)
        starts = [n.quantized_start_step for n in quantized.notes]
        assert max(n.quantized_end_step for n in quantized.notes) <= 16
        chords += sum(starts.count(s) > 1 for s in set(starts) if s > 0)
    assert chords > 0                       # per-key sampling plays several keys at once
    same, _ = run(work, 'musekit_generate', '--bundle_file=demo.musekit', '--output_dir=gen2',
                  '--num_outputs=3', '--num_steps=16', '--seed=2',
                  '--primer_pitches=48,55,64')
    assert open(work / 'gen2' / 'frames_02.mid', 'rb').read() == \
        open(work / 'gen' / 'frames_02.mid', 'rb').read()
    beam, _ = run(work, 'musekit_generate', '--bundle_file=demo.musekit', '--output_dir=beam',
                  '--num_outputs=2', '--num_steps=8', '--beam_size=2', '--branch_factor=2')
    assert '2 frame pieces of 8 steps' in beam


def test_flags_of_another_piece_type_are_refused_in_one_line(work, trained):
    _, err = run(work, 'musekit_generate', '--bundle_file=demo.musekit', '--output_dir=x',
                 '--primer_melody=[60]', expect=2)
    assert err.count('\n') == 1
    assert "--primer_melody does not apply to demo.musekit, whose pieces are " \
        "demo_key_frames (it is a flag for lead_sheet, melody, performance, polyphonic_events)" in err
    help_text, _ = run(work, 'musekit_generate', '--help')
    assert '--primer_pitches' in help_text and '--primer_melody' in help_text


def test_generating_from_the_run_directory_and_never_importing_tensorflow(work, trained):
    run(work, 'musekit_generate', '--run_dir=run', '--output_dir=from_run', '--num_outputs=1',
        '--num_steps=8', '--seed=4')
    run(work, 'musekit_generate', '--bundle_file=demo.musekit', '--output_dir=from_bundle',
        '--num_outputs=1', '--num_steps=8', '--seed=4')
    assert open(work / 'from_run' / 'frames_01.mid', 'rb').read() == \
        open(work / 'from_bundle' / 'frames_01.mid', 'rb').read()
    code = ('import sys\nfrom musekit.cli.generate import run\ntry:\n    run(sys.argv)\n'
            'except SystemExit as e:\n    assert not e.code\n'
            'print("TF", "tensorflow" in sys.modules, "keras" in sys.modules)')
    env = dict(os.environ, PYTHONPATH=str(work / 'site'))
    proc = subprocess.run([sys.executable, '-c', code, '--bundle_file=demo.musekit',
                           '--output_dir=quiet', '--num_steps=8'], capture_output=True,
                          text=True, env=env, cwd=str(work))
    assert proc.returncode == 0, proc.stderr
    assert 'TF False False' in proc.stdout


def test_no_shared_file_names_the_plugin():
    root = os.path.dirname(HERE)
    for folder in ('musekit', 'pipelines'):
        for path in glob.glob(os.path.join(root, folder, '**', '*.py'), recursive=True):
            text = open(path).read()
            assert 'demo_key' not in text and 'musekit_demo_keys' not in text, path
