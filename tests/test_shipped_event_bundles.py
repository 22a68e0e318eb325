"""The shipped Performance RNN and Polyphony RNN bundles: they load, say how they were
trained, prefer a real chorale to its pitches scrambled, and the README's commands work."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from musekit.bundle import load_bundle
from test_shipped_bundles import mean_log_likelihood

BUNDLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'bundles')
NAMES = {'performance_with_dynamics': 'training_performances',
         'polyphony': 'training_poly_tracks'}
MAX_BYTES = 8 << 20
CHORALE = 'bwv66.6.mxl'


def path_of(name):
    return os.path.join(BUNDLES, name + '.musekit')


@pytest.fixture(scope='module')
def chorale():
    """The first 16 s of a Bach chorale from music21's corpus, as a NoteSequence."""
    import note_seq
    from musekit.data import sources
    path = os.path.join(sources.music21_corpus_dir('bach'), CHORALE)
    sequence = note_seq.musicxml_to_sequence_proto(
        note_seq.musicxml_parser.MusicXMLDocument(path))
    sequence = note_seq.extract_subsequence(sequence, 0.0, 16.0)
    del sequence.time_signatures[1:]        # its pickup bar is 1/4: one metre to quantize
    return sequence


def scrambled(sequence, seed):
    """`sequence` with each pitch mapped to a random one of the chorale range: the same
    rhythm, voices and velocities, other notes."""
    rng = np.random.default_rng(seed)
    pitches = sorted({n.pitch for n in sequence.notes})
    mapping = dict(zip(pitches, (int(p) for p in rng.choice(np.arange(40, 80), len(pitches),
                                                             replace=False))))
    out = type(sequence)()
    out.CopyFrom(sequence)
    for note in out.notes:
        note.pitch = mapping[note.pitch]
    return out


def performance_events(bundle, sequence):
    import note_seq
    from musekit.extractors.performance import performance_pairs
    encoder = bundle.make_encoder()
    quantized = note_seq.quantize_note_sequence_absolute(sequence, encoder.steps_per_second)
    return performance_pairs(quantized, encoder.num_velocity_bins, encoder.max_shift_steps)


def polyphony_events(bundle, sequence):
    import note_seq
    from musekit.encoders.polyphonic_events import notes_to_events
    quantized = note_seq.quantize_note_sequence(sequence, steps_per_quarter=4)
    notes = [(n.pitch, n.quantized_start_step, n.quantized_end_step) for n in quantized.notes]
    return notes_to_events(notes, quantized.total_quantized_steps)


EVENTS = {'performance_with_dynamics': performance_events, 'polyphony': polyphony_events}


@pytest.mark.parametrize('name', sorted(NAMES))
def test_bundle_loads_and_records_its_training(name):
    path = path_of(name)
    assert os.path.getsize(path) < MAX_BYTES
    bundle = load_bundle(path)
    assert bundle.config.name == name and bundle.config.model['name'] == 'events_rnn'
    facts = bundle.provenance
    assert facts['training_steps'] >= 500
    description = facts['dataset_description']
    assert 'bach' in description['input'] and description['config'] == name
    # Magenta's transposition range, from the config
    assert description['transpose_range'] == bundle.config.transpose_range() != ''
    assert description['counters'][NAMES[name]] > 1000
    # the recorded eval loss is far below guessing uniformly among the classes
    assert facts['eval']['loss'] < 0.6 * math.log(bundle.make_encoder().num_classes)


@pytest.mark.parametrize('name', sorted(NAMES))
def test_a_chorale_is_likelier_than_its_pitches_scrambled(name, chorale):
    bundle = load_bundle(path_of(name))
    real = mean_log_likelihood(bundle, EVENTS[name](bundle, chorale))
    for seed in range(3):
        other = mean_log_likelihood(bundle, EVENTS[name](bundle, scrambled(chorale, seed)))
        assert real > other + 0.05, (seed, real, other)


def run_generate(tmp_path, *flags):
    script = os.path.join(os.path.dirname(sys.executable), 'musekit_generate')
    proc = subprocess.run([script, '--output_dir=%s' % tmp_path, '--num_outputs=3',
                           '--seed=1', *flags], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return sorted(os.listdir(tmp_path))


def test_readme_performance_command_writes_expressive_performances(tmp_path):
    import note_seq
    files = run_generate(tmp_path, '--bundle_file=performance_with_dynamics',
                         '--num_seconds=20', '--primer_pitches=[60, 64, 67]')
    assert files == ['performance_01.mid', 'performance_02.mid', 'performance_03.mid']
    for name in files:
        sequence = note_seq.midi_file_to_note_sequence(str(tmp_path / name))
        assert sequence.total_time == pytest.approx(20.0, abs=0.011)
        generated = [n for n in sequence.notes if n.start_time >= 0.51]
        assert len(generated) >= 10
        # the primer chord first, then notes on the 10 ms grid of the model
        assert sorted(n.pitch for n in sequence.notes if n.start_time == 0) == [60, 64, 67]
        assert all(abs(n.start_time * 100 - round(n.start_time * 100)) < 1e-6
                   for n in generated)


def test_readme_polyphony_command_writes_polyphonic_pieces(tmp_path):
    import note_seq
    files = run_generate(tmp_path, '--bundle_file=polyphony', '--num_steps=128',
                         '--primer_melody=[60, -2, 62, -2, 64, -2, 65, -2]')
    assert files == ['polyphony_01.mid', 'polyphony_02.mid', 'polyphony_03.mid']
    for name in files:
        sequence = note_seq.midi_file_to_note_sequence(str(tmp_path / name))
        quantized = note_seq.quantize_note_sequence(sequence, steps_per_quarter=4)
        # 128 steps: notes up to the end (a MIDI file ends with its last note)
        assert 112 <= quantized.total_quantized_steps <= 128
        starts = {}
        for note in quantized.notes:
            starts.setdefault(note.quantized_start_step, set()).add(note.pitch)
        # chords: the model writes several voices at once somewhere after the primer
        assert max(len(p) for step, p in starts.items() if step >= 8) >= 2
