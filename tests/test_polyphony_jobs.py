"""Polyphony through the unchanged commands: convert the JSB benchmark file, make the
published split, train and evaluate snu_jsb (frame NLL), write a bundle, generate chords;
the chord-token vocabulary fitted by the dataset job and carried by the bundle."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
JSB = os.path.join(HERE, 'data', 'JSB_Chorales.mat')

pytestmark = pytest.mark.slow


def run(cwd, program, *args, ok=True):
    proc = subprocess.run([os.path.join(BIN, program), *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'})
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope='module')
def jsb(tmp_path_factory):
    """The JSB file converted and made into the snu_jsb dataset (published split)."""
    root = tmp_path_factory.mktemp('jsb')
    run(root, 'musekit_convert', '--input=' + JSB, '--output=ns/jsb')
    out = run(root, 'musekit_create_dataset', '--config=snu_jsb', '--input=ns/jsb*',
              '--output_dir=ds').stdout
    assert '229 training and 76 eval and 77 test piano_rolls' in out
    return root


def records(pattern):
    from musekit.data import example, tfrecord
    out = []
    for path in sorted(glob.glob(pattern)):
        with open(path, 'rb') as f:
            out += [example.parse_sequence_example(r) for r in tfrecord.read_records(f, path)]
    return out


def test_dataset_keeps_the_published_split_frame_for_frame(jsb):
    import scipy.io
    test = scipy.io.loadmat(JSB)['testdata'].ravel()
    written = records(str(jsb / 'ds' / 'test_piano_rolls-*'))
    assert len(written) == 77
    # every written test piece is one of the .mat's test rolls, shifted by one frame
    expected = {np.asarray(r)[1:].astype(np.int64).tobytes() for r in test}
    assert all(labels.tobytes() in expected for _, labels in written)
    description = json.loads((jsb / 'ds' / 'dataset.json').read_text())
    assert description['split'] == 'published'


def test_train_eval_bundle_and_generate_chords(jsb):
    run(jsb, 'musekit_train', '--config=snu_jsb', '--run_dir=run',
        '--sequence_example_file=ds/training_*', '--num_training_steps=60',
        '--summary_frequency=20', '--save_checkpoint_steps=30', '--hparams=layer_sizes=[40]',
        '--bundle_file=snu.musekit', '--save_generator_bundle')
    out = run(jsb, 'musekit_train', '--eval', '--run_dir=run',
              '--sequence_example_file=ds/test_*').stdout
    line = [l for l in out.splitlines() if 'eval at step 60' in l][0]
    nll = float(line.split('frame_nll ')[1].split()[0])
    assert 'frame_accuracy' in line and 8.0 < nll < 61.0        # learnt: far from 88 ln 2
    gen = run(jsb, 'musekit_generate', '--bundle_file=snu.musekit', '--output_dir=gen',
              '--num_outputs=2', '--num_steps=24', '--plot', '--seed=5').stdout
    assert 'polyphonic pieces' in gen
    import pretty_midi
    midi = pretty_midi.PrettyMIDI(str(jsb / 'gen' / 'piece_01.mid'))
    starts = [round(n.start, 3) for n in midi.instruments[0].notes]
    assert max(starts.count(t) for t in starts) >= 2        # chords: notes starting together
    assert (jsb / 'gen' / 'piece_02.png').exists()
    # melody flags are refused on this bundle, one line and exit 2
    bad = run(jsb, 'musekit_generate', '--bundle_file=snu.musekit', '--output_dir=x',
              '--primer_melody=60', ok=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    bad = run(jsb, 'musekit_generate', '--bundle_file=snu.musekit', '--output_dir=x',
              '--top_k=3', ok=False)
    assert bad.returncode == 2 and 'top-k' in bad.stderr


def test_primed_threshold_generation_continues_a_midi_file(jsb, tmp_path):
    from musekit.output.midi import write_midi
    from musekit.output.notes import Note
    run(jsb, 'musekit_train', '--config=ssnu_jsb', '--run_dir=run_s',
        '--sequence_example_file=ds/training_*', '--num_training_steps=30',
        '--hparams=layer_sizes=[30]', '--bundle_file=ssnu.musekit', '--save_generator_bundle')
    primer = str(tmp_path / 'primer.mid')
    # a C major chord for two quarters, then G major (120 qpm, 4 steps per quarter)
    write_midi(primer, [Note(p, 0, 8) for p in (48, 64, 67, 72)]
               + [Note(p, 8, 16) for p in (43, 62, 67, 71)], 16)
    out = run(jsb, 'musekit_generate', '--bundle_file=ssnu.musekit', '--output_dir=t',
              '--primer_midi=' + primer, '--sampling=threshold', '--num_outputs=2',
              '--num_steps=8').stdout
    assert '(primer 4)' in out
    import pretty_midi
    first, second = (pretty_midi.PrettyMIDI(str(jsb / 't' / n)) for n in
                     ('piece_01.mid', 'piece_02.mid'))
    notes = lambda m: [(n.pitch, n.start, n.end) for n in m.instruments[0].notes]  # noqa
    assert notes(first) == notes(second)            # thresholding draws nothing at random
    assert {(48, 0.0), (64, 0.0), (43, 1.0)} <= {(p, s) for p, s, _ in notes(first)}
    melody = run(jsb, 'musekit_generate', '--bundle_file=lookback_rnn', '--output_dir=m',
                 '--sampling=threshold', ok=False)
    assert melody.returncode == 2 and 'piano_roll' in melody.stderr


def test_chord_token_vocabulary_is_fitted_by_the_data_job_and_travels_in_the_bundle(jsb):
    out = run(jsb, 'musekit_create_dataset', '--config=chord_token_lstm', '--input=ns/jsb*',
              '--output_dir=ct').stdout
    assert 'vocabulary of' in out
    description = json.loads((jsb / 'ct' / 'dataset.json').read_text())
    vocabulary = description['encoder']['params']['vocabulary']
    # the training split's commonest chord comes first (JSB is transposed to C major / minor)
    assert vocabulary[0] == 'C4.E5.G5.C6' and len(vocabulary) > 500
    inputs, labels = records(str(jsb / 'ct' / 'training_piano_rolls-*'))[0]
    assert inputs.shape[1] == 1 and labels.max() <= len(vocabulary)
    run(jsb, 'musekit_train', '--config=chord_token_lstm', '--run_dir=ctrun',
        '--sequence_example_file=ct/training_*', '--num_training_steps=20',
        '--hparams=layer_sizes=[32],embedding_size=8', '--bundle_file=ct.musekit',
        '--save_generator_bundle')
    from musekit.bundle import load_bundle
    bundle = load_bundle(str(jsb / 'ct.musekit'))
    assert bundle.make_encoder().vocabulary == vocabulary
    gen = run(jsb, 'musekit_generate', '--bundle_file=ct.musekit', '--output_dir=ctgen',
              '--num_outputs=1', '--num_steps=16', '--top_k=5').stdout
    assert 'piece_01.mid' in gen
    # without the dataset's description the config cannot know its vocabulary
    os.remove(jsb / 'ct' / 'dataset.json')
    bad = run(jsb, 'musekit_train', '--config=chord_token_lstm', '--run_dir=ctrun2',
              '--sequence_example_file=ct/training_*', ok=False)
    assert bad.returncode == 2 and 'learns its chord_tokens encoder from the data' in bad.stderr
