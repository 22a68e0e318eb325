"""The bundles in bundles/: they load, say how they were trained, have learnt something
musical, and the README's generate command works with them."""
import collections
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from musekit.bundle import load_bundle
from musekit.generation.sampling import log_softmax

BUNDLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'bundles')
NAMES = ('basic_rnn', 'lookback_rnn', 'attention_rnn')
MAX_BYTES = 4 << 20
HOLD = -2

# "Ode to Joy" in C, one quarter note (4 steps) per note, ending on a half note.
ODE_TO_JOY = [64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 62, 62]


def path_of(name):
    return os.path.join(BUNDLES, name + '.musekit')


def quarter_notes(pitches):
    events = []
    for pitch in pitches:
        events += [pitch, HOLD, HOLD, HOLD]
    return events + [HOLD] * 4


def mean_log_likelihood(bundle, events):
    """Per-step log-likelihood the bundle's model gives `events` (teacher-forced)."""
    encoder = bundle.make_encoder()
    model = bundle.step_model(encoder)
    inputs, labels = encoder.encode(events)
    state, total = model.initial_state(1), 0.0
    for row, label in zip(inputs, labels):
        logits, state = model.step(row[None], state)
        total += log_softmax(logits, 1.0)[0, label]
    return total / len(labels)


@pytest.mark.parametrize('name', NAMES)
def test_bundle_loads_and_records_its_training(name):
    path = path_of(name)
    assert os.path.getsize(path) < MAX_BYTES
    bundle = load_bundle(path)
    assert bundle.config.name == name
    encoder = bundle.make_encoder()
    facts = bundle.provenance
    assert facts['training_steps'] >= 1000
    description = facts['dataset_description']
    assert description['input'].startswith('music21:bach') or 'bach' in description['input']
    assert description['config'] == name and description['transpose_range']
    assert description['counters']['training_melodies'] > 500
    # the recorded eval loss is far below guessing uniformly among the classes
    assert facts['eval']['loss'] < 0.5 * math.log(encoder.num_classes)


@pytest.mark.parametrize('name', NAMES)
def test_a_real_tune_is_likelier_than_the_same_rhythm_with_random_pitches(name):
    bundle = load_bundle(path_of(name))
    real = mean_log_likelihood(bundle, quarter_notes(ODE_TO_JOY))
    rng = np.random.default_rng(0)
    for _ in range(3):
        scrambled = [int(p) for p in rng.integers(48, 84, size=len(ODE_TO_JOY))]
        assert real > mean_log_likelihood(bundle, quarter_notes(scrambled)) + 0.1


def test_readme_generate_command_writes_128_step_melodies(tmp_path):
    note_seq = pytest.importorskip('note_seq')
    script = os.path.join(os.path.dirname(sys.executable), 'musekit_generate')
    proc = subprocess.run([script, '--bundle_file=' + path_of('lookback_rnn'),
                           '--output_dir=%s' % tmp_path, '--num_outputs=3', '--seed=1'],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    files = sorted(os.listdir(tmp_path))
    assert files == ['melody_01.mid', 'melody_02.mid', 'melody_03.mid']
    for name in files:
        sequence = note_seq.midi_file_to_note_sequence(str(tmp_path / name))
        quantized = note_seq.quantize_note_sequence(sequence, steps_per_quarter=4)
        assert quantized.total_quantized_steps == 128
        notes = sorted(quantized.notes, key=lambda n: n.quantized_start_step)
        assert len(notes) >= 8
        assert all(48 <= n.pitch < 84 for n in notes)
        # a melody: one note at a time
        assert all(a.quantized_end_step <= b.quantized_start_step
                   for a, b in zip(notes, notes[1:]))


def test_a_shipped_bundle_loads_by_name_and_a_path_wins(tmp_path, monkeypatch):
    from musekit.bundle import load_bundle, shipped_bundles
    from musekit.errors import MusekitError
    assert set(shipped_bundles()) == {'basic_rnn', 'lookback_rnn', 'attention_rnn',
                                      'ssnu_jsb', 'chord_token_lstm', 'biaxial_jsb',
                                      'wavenet', 'performance_with_dynamics', 'polyphony',
                                      'rnn_nade_jsb', 'basic_improv'}
    assert load_bundle('attention_rnn').config.name == 'attention_rnn'
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'lookback_rnn').write_bytes(b'not a bundle')
    with pytest.raises(MusekitError, match='lookback_rnn is not a musekit bundle'):
        load_bundle('lookback_rnn')
    with pytest.raises(MusekitError, match=r'no such bundle file: ./basic_rnn \(shipped'):
        load_bundle('./basic_rnn')             # a path, not a name


# Polyphonic bundles, trained on the JSB Chorales training split (benchmarks/jsb.py)

def jsb_test_rolls():
    import scipy.io
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'JSB_Chorales.mat')
    return [np.asarray(r, np.float32) for r in scipy.io.loadmat(path)['testdata'].ravel()]


def numpy_frame_nll(bundle, rolls):
    """Teacher-forced frame NLL (nats per frame) of the bundle's NumPy step model."""
    from musekit.testing import frame_nll
    model = bundle.step_model(bundle.make_encoder())
    total, frames = 0.0, 0
    for roll in rolls:
        state, logits = model.initial_state(1), []
        for row in roll[:-1]:
            out, state = model.step(row[None], state)
            logits.append(out[0])
        total += frame_nll(np.array(logits), roll[1:]) * (len(roll) - 1)
        frames += len(roll) - 1
    return total / frames


def test_ssnu_bundle_records_its_test_nll_and_the_numpy_model_reproduces_it():
    bundle = load_bundle(path_of('ssnu_jsb'))
    facts = bundle.provenance
    assert bundle.config.name == 'ssnu_jsb' and facts['epoch'] >= 1
    assert facts['dataset_description']['split'] == 'published'
    test = facts['test']
    assert test['steps'] == 4648 and test['loss'] < 9.0         # key frequencies: ~11.1
    # generation's NumPy model scores the test split as Keras's evaluation did
    assert numpy_frame_nll(bundle, jsb_test_rolls()) == pytest.approx(test['loss'], abs=2e-3)


def test_ssnu_bundle_prefers_a_chorale_to_its_keys_scrambled():
    bundle = load_bundle(path_of('ssnu_jsb'))
    rng = np.random.default_rng(0)
    for roll in jsb_test_rolls()[:5]:
        scrambled = roll[:, rng.permutation(88)]        # same chord sizes, other keys
        assert numpy_frame_nll(bundle, [roll]) < numpy_frame_nll(bundle, [scrambled]) - 5


def test_chord_token_bundle_carries_its_vocabulary_and_test_loss():
    bundle = load_bundle(path_of('chord_token_lstm'))
    encoder = bundle.make_encoder()
    assert len(encoder.vocabulary) > 500 and encoder.vocabulary[0] == 'C4.E5.G5.C6'
    # uniform guessing among the 1284 ids would score ln 1284 = 7.2 nats per token
    assert bundle.provenance['test']['loss'] < 0.7 * math.log(encoder.depth)


def roll_steps(roll):
    """(played, articulated) steps of a benchmark piano roll: a key is articulated where it
    starts to sound (the benchmark files do not tell repeated notes apart)."""
    steps, previous = [], set()
    for row in roll:
        played = {21 + int(k) for k in np.flatnonzero(row)}
        steps.append((tuple(sorted(played)), tuple(sorted(played - previous))))
        previous = played
    return steps


@pytest.mark.slow
def test_biaxial_bundle_meets_the_goal_and_the_numpy_model_reproduces_its_test_nll():
    from musekit.models.biaxial_rnn import log_bernoulli
    bundle = load_bundle(path_of('biaxial_jsb'))
    facts = bundle.provenance
    assert bundle.config.name == 'biaxial_jsb' and facts['epoch'] >= 1
    test = facts['test']
    assert test['steps'] == 4648 and test['frame_nll'] <= 5.6    # per-key models: 8.4-9.1
    encoder = bundle.make_encoder()
    model = bundle.step_model(encoder)
    total, frames = 0.0, 0
    for roll in jsb_test_rolls():
        inputs, labels = encoder.encode(roll_steps(roll))
        state = model.initial_state(1)
        for row, label in zip(inputs, labels):
            time_outputs, state = model.step(row[None], state)
            _, _, logits = model.decide(time_outputs, 1.0, None,
                                        choose=lambda n, _, label=label: label[n][None])
            total -= log_bernoulli(label[:, 0] == 1, logits[0, :, 0]).sum()
        frames += len(labels)
    assert total / frames == pytest.approx(test['frame_nll'], abs=2e-3)


@pytest.mark.parametrize('name, flags', [('ssnu_jsb', []), ('chord_token_lstm', ['--top_k=20']),
                                         ('biaxial_jsb', []), ('rnn_nade_jsb', [])])
def test_polyphonic_bundles_generate_chords_by_name(tmp_path, name, flags):
    import pretty_midi
    script = os.path.join(os.path.dirname(sys.executable), 'musekit_generate')
    proc = subprocess.run([script, '--bundle_file=' + name, '--output_dir=%s' % tmp_path,
                           '--num_outputs=2', '--num_steps=32', '--seed=3'] + flags,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for file in ('piece_01.mid', 'piece_02.mid'):
        notes = pretty_midi.PrettyMIDI(str(tmp_path / file)).instruments[0].notes
        starts = [round(n.start, 3) for n in notes]
        assert sum(starts.count(t) >= 3 for t in set(starts)) >= 4    # several chords


# The WaveNet bundle, trained on chorales BWV 2xx rendered by the built-in synthesizer

def rendered_chorale(name, seconds, rate=8000):
    """The first `seconds` of a music21 chorale rendered as the audio dataset job does."""
    from musekit.data import sources
    from musekit.extractors.audio import AudioWindowsExtractor
    path = os.path.join(sources.music21_corpus_dir('bach'), name)
    source = sources.Source(path, name, 'bach')
    [sequence] = sources.parse(source, sources.read_bounded(path))
    samples = AudioWindowsExtractor(sample_rate=rate, renderer='builtin').render(sequence, collections.Counter())
    return samples[:int(seconds * rate)]


@pytest.mark.slow
def test_wavenet_bundle_predicts_an_unseen_chorale_far_better_than_its_class_frequencies():
    from musekit import testing
    from musekit.models import wavenet
    bundle = load_bundle(path_of('wavenet'))
    facts = bundle.provenance
    assert bundle.config.name == 'wavenet' and facts['training_steps'] >= 1000
    assert facts['dataset_description']['counters']['sequences_rendered_builtin'] > 0
    encoder = bundle.make_encoder()
    arch = wavenet.Architecture(encoder, dict(bundle.config.hparams))
    # BWV 346 is not among the training chorales (BWV 2xx)
    clip = rendered_chorale('bwv346.mxl', 2.0)
    inputs, labels = encoder.encode([''] + clip.tolist())
    logits = testing.wavenet_forward(bundle.weights, arch, inputs[None])
    logits = logits[0, arch.receptive_field - 1:]
    labels = labels[arch.receptive_field - 1:]
    bits = -log_softmax(logits, 1.0)[np.arange(len(labels)), labels].mean() / math.log(2)
    counts = np.bincount(labels, minlength=256)
    p = counts[counts > 0] / counts.sum()
    entropy = -(p * np.log2(p)).sum()      # the best any model of class frequencies does
    assert bits < entropy - 2.0, (bits, entropy)


def test_wavenet_bundle_writes_the_readme_wav(tmp_path):
    import soundfile
    script = os.path.join(os.path.dirname(sys.executable), 'musekit_generate')
    proc = subprocess.run([script, '--bundle_file=wavenet', '--num_seconds=2',
                           '--num_outputs=2', '--seed=1', '--output_dir=%s' % tmp_path],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in ('audio_01.wav', 'audio_02.wav'):
        samples, rate = soundfile.read(str(tmp_path / name))
        assert rate == 8000 and len(samples) == 16000
        assert np.sqrt(np.mean(samples ** 2)) > 1e-3        # not silence
