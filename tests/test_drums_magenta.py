"""Magenta .mag bundles of Drums RNN (drum_kit with its attention cell, one_drum; made by
Magenta 2.1.4's own tools as tests/data/magenta/README.md says): they load without
TensorFlow, musekit's step model gives the softmax Magenta's own graph gave on Magenta's
encoded inputs, musekit's encoders give exactly those inputs, and musekit_generate and
musekit_import work on them."""
import os

import numpy as np
import pytest

from musekit.bundle import load_bundle
from musekit.magenta.bundle import supported_generators
from tests.test_drums_piece import read_back
from tests.test_generation import run_cli

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'magenta')
# file name -> (generator id, model musekit reads it as, layer sizes, attention length)
BUNDLES = {'drum_kit_drums40': ('drum_kit', 'magenta_attention_rnn', [16, 12], 32),
           'one_drum_drums40': ('one_drum', 'events_rnn', [16, 12], 0)}
CASES = [(name, sequence) for name in BUNDLES for sequence in ('midi', 'random')]


def mag(name):
    return os.path.join(DATA, name + '.mag')


_golden = {}


def golden(name):
    if name not in _golden:
        with np.load(os.path.join(DATA, name + '.golden.npz')) as data:
            _golden[name] = {key: data[key] for key in data.files}
    return _golden[name]


def events_of(data, sequence):
    """The golden's drum events (rows of pitches, -1 padded) as frozensets."""
    return [frozenset(int(p) for p in row if p >= 0) for row in data[sequence + '/pitches']]


def test_musekit_reads_both_drum_generators():
    assert {'drum_kit', 'one_drum'} <= set(supported_generators())


@pytest.mark.parametrize('name', BUNDLES)
def test_what_each_bundle_becomes(name):
    generator, model, sizes, attn_length = BUNDLES[name]
    bundle = load_bundle(mag(name))
    config = bundle.config
    assert (config.name, config.model['name']) == (generator, model)
    assert list(config.hparams['rnn_layer_sizes']) == sizes
    assert config.hparams['attn_length'] == attn_length
    assert bundle.provenance['generator_id'] == generator
    if attn_length:
        assert bundle.provenance['attn_length_from'] == 'metagraph'
    encoder = bundle.make_encoder()
    data = golden(name)
    assert (encoder.input_spec.size, encoder.label_spec.depth) == (
        data['midi/inputs'].shape[1], data['midi/softmax'].shape[1])


@pytest.mark.parametrize('name, sequence', CASES)
def test_musekit_computes_magentas_probabilities(name, sequence):
    """The step model on Magenta's inputs gives its graph's softmax: to 1e-5 in probability,
    1e-4 in log probability."""
    data = golden(name)
    model = load_bundle(mag(name)).step_model()
    state, probabilities = model.initial_state(1), []
    for row in data[sequence + '/inputs']:
        logits, state = model.step(row[None], state)
        exp = np.exp(logits[0].astype(np.float64) - logits[0].max())
        probabilities.append(exp / exp.sum())
    probabilities, theirs = np.array(probabilities), data[sequence + '/softmax']
    assert np.abs(probabilities - theirs).max() < 1e-5
    assert np.abs(np.log(probabilities) - np.log(theirs)).max() < 1e-4


@pytest.mark.parametrize('name, sequence', CASES)
def test_musekits_encoder_gives_magentas_inputs(name, sequence):
    data = golden(name)
    encoder = load_bundle(mag(name)).make_encoder()
    events = events_of(data, sequence)
    assert sum(map(len, events)) > 20 and (sequence == 'midi' or frozenset() in events)
    inputs, labels = encoder.encode(events + events[-1:])
    np.testing.assert_array_equal(inputs, data[sequence + '/inputs'])
    np.testing.assert_array_equal(labels[:-1], data[sequence + '/classes'][1:])
    stepper = encoder.stepper([])
    rows = np.stack([stepper.push(event) for event in events])
    np.testing.assert_array_equal(rows, data[sequence + '/inputs'])


@pytest.mark.parametrize('name', BUNDLES)
def test_generate_from_the_mag_and_its_import_alike(tmp_path, capsys, name):
    """musekit_generate reads the .mag; musekit_import writes a musekit bundle that
    generates the same MIDI bytes with the same seed."""
    from musekit.cli import import_magenta
    generator, _, sizes, _ = BUNDLES[name]
    target = str(tmp_path / (name + '.musekit'))
    try:
        import_magenta.run(['musekit_import', '--magenta_bundle=' + mag(name),
                            '--bundle_file=' + target])
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code == 0, err
    assert 'Magenta %s' % generator in out and 'layers %s' % sizes in out
    primer = '[(36, 42), (), (42,), (), (38, 42), (), (42,), ()]'
    outputs = []
    for source, folder in ((mag(name), tmp_path / 'from_mag'),
                           (target, tmp_path / 'from_import')):
        status, stdout, err = run_cli(capsys, '--bundle_file=' + source,
                                      '--output_dir=%s' % folder, '--num_outputs=2',
                                      '--num_steps=64', '--seed=3', '--primer_drums=' + primer,
                                      # one_drum learnt "a hit every 8th" almost surely
                                      '--temperature=%s' % (4 if generator == 'one_drum' else 1))
        assert status == 0, err
        files = sorted(os.listdir(folder))
        assert files == ['drums_01.mid', 'drums_02.mid']
        outputs.append([(folder / f).read_bytes() for f in files])
    assert outputs[0] == outputs[1] and outputs[0][0] != outputs[0][1]
    spq = load_bundle(mag(name)).config.make_extractor().steps_per_quarter
    track, _ = read_back(str(tmp_path / 'from_mag' / 'drums_01.mid'), spq)
    assert len(track) <= 64 and track[:7] == [frozenset(e) for e in (
        (36, 42), (), (42,), (), (38, 42), (), (42,))]
