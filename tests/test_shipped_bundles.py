"""The bundles in bundles/: they load, say how they were trained, have learnt something
musical, and the README's generate command works with them."""
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
    assert set(shipped_bundles()) == {'basic_rnn', 'lookback_rnn', 'attention_rnn'}
    assert load_bundle('attention_rnn').config.name == 'attention_rnn'
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'lookback_rnn').write_bytes(b'not a bundle')
    with pytest.raises(MusekitError, match='lookback_rnn is not a musekit bundle'):
        load_bundle('lookback_rnn')
    with pytest.raises(MusekitError, match=r'no such bundle file: ./basic_rnn \(shipped'):
        load_bundle('./basic_rnn')             # a path, not a name
