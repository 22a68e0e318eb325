"""The rnn-nade config through the unchanged commands: chorales converted, its dataset made
by the Beam job (Magenta's pianoroll frames, transpositions), trained a few steps, written
as a bundle that generates chords."""
import glob
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

BIN = os.path.dirname(sys.executable)
CHORALES = ('bwv1.6.mxl', 'bwv10.7.mxl', 'bwv66.6.mxl', 'bwv101.7.mxl')

pytestmark = pytest.mark.slow


def run(cwd, program, *args):
    proc = subprocess.run([os.path.join(BIN, program), *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_dataset_train_and_generate(tmp_path):
    from musekit.data import example, sources, tfrecord
    music = tmp_path / 'music'
    music.mkdir()
    for name in CHORALES:
        shutil.copy(os.path.join(sources.music21_corpus_dir('bach'), name), music / name)
    run(tmp_path, 'musekit_convert', '--input=' + str(music), '--output=ns/ch')
    out = run(tmp_path, 'musekit_create_dataset', '--config=rnn-nade', '--input=ns/ch*',
              '--output_dir=ds', '--eval_ratio=0')
    assert 'piano_rolls' in out
    rolls = []
    for path in sorted(glob.glob(str(tmp_path / 'ds' / 'training_*'))):
        with open(path, 'rb') as f:
            rolls += [example.parse_sequence_example(r) for r in tfrecord.read_records(f, path)]
    # each piece long enough (80 steps) in 9 transpositions (-4..4: Magenta's pipeline)
    assert len(rolls) % 9 == 0 and len(rolls) >= 18
    for inputs, labels in rolls:
        assert inputs.shape[1] == labels.shape[1] == 88 and len(inputs) >= 79
        np.testing.assert_array_equal(inputs[1:], labels[:-1])
    run(tmp_path, 'musekit_train', '--config=rnn-nade', '--run_dir=run',
        '--sequence_example_file=ds/training_*', '--num_training_steps=6',
        '--hparams=rnn_layer_sizes=[16],nade_hidden_units=8,batch_size=4',
        '--bundle_file=nade.musekit', '--save_generator_bundle')
    gen = run(tmp_path, 'musekit_generate', '--bundle_file=nade.musekit', '--output_dir=gen',
              '--num_outputs=2', '--num_steps=16', '--seed=5', '--beam_size=2')
    assert 'polyphonic pieces' in gen
    assert sorted(os.listdir(tmp_path / 'gen')) == ['piece_01.mid', 'piece_02.mid']
