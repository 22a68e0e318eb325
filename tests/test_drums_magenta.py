"""Magenta .mag bundles of Drums RNN (drum_kit with its attention cell, one_drum; made by
Magenta 2.1.4's own tools as tests/data/magenta/README.md says): they load without
TensorFlow, musekit's step model gives the softmax Magenta's own graph gave on Magenta's
encoded inputs, musekit's encoders give exactly those inputs, musekit_generate and
musekit_import work on them, and musekit's primers and argmax generations are Magenta's."""
import json
import os

import numpy as np
import pytest

from musekit.bundle import load_bundle
from musekit.config import get_config
from musekit.magenta.bundle import supported_generators
from musekit.pieces.drums import DrumsPiece
from test_drums_piece import read_back
from test_generation import run_cli
from magenta_refs import DATA, golden, mag, recorded_primer_flags, step_probabilities

# file name -> (generator id, model musekit reads it as, layer sizes, attention length)
BUNDLES = {'drum_kit_drums40': ('drum_kit', 'magenta_attention_rnn', [16, 12], 32),
           'one_drum_drums40': ('one_drum', 'events_rnn', [16, 12], 0)}
CASES = [(name, sequence) for name in BUNDLES for sequence in ('midi', 'random')]


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
    probabilities = step_probabilities(model, data[sequence + '/inputs'])
    theirs = data[sequence + '/softmax']
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
    hits = [(36, 42), (), (42,), (), (38, 42), (), (42,)] if spq == 4 else \
        [(36, 42), (42,), (38, 42), (42,)]         # one_drum: the 16ths on its 8th grid
    assert len(track) <= 64 and track[:len(hits)] == [frozenset(e) for e in hits]


_primers = {}


def primer_cases():
    """The cases of drums_primers.json (by make_drum_primer_references.py): what Magenta's
    drums_rnn_generate handed its model for a primer, and what it generated at temperature
    1e-4."""
    if not _primers:
        with open(os.path.join(DATA, 'drums_primers.json')) as f:
            _primers.update(json.load(f))
    return _primers['cases']


def primer_flags(case, folder):
    """musekit_generate's flags for a case (its primer MIDI written into `folder`)."""
    return recorded_primer_flags(case, folder, 'primer_drums')


@pytest.mark.parametrize('index', range(14))
def test_primers_are_magentas(tmp_path, index):
    """The primer musekit's model is given is the drum track Magenta's generator gives its
    own: two silent steps after the last hit (one at 70 qpm after step 5: Magenta's float
    rounding), silence beyond dropped, leading silent bars unseen, --primer_drums in 16ths
    whatever the model's step, a MIDI's last note end counted, no hits one silent step."""
    case = primer_cases()[index]
    config = get_config(case['config'])
    drums = DrumsPiece(config.make_encoder(), config.make_extractor())
    drums.requested_length(case['num_steps'], True)
    values = dict(primer_drums=None, primer_midi=None, qpm=120.0, render_wav=False,
                  plot=False)
    for flag in primer_flags(case, tmp_path):
        name, value = flag[2:].split('=', 1)
        values[name] = float(value) if name == 'qpm' else value
    assert [sorted(e) for e in drums.primer(values)] == case['primer']


@pytest.mark.parametrize('index', [10, 11, 12, 13])
def test_generate_continues_as_magenta(tmp_path, capsys, index):
    """At temperature 1e-4 (argmax) musekit_generate writes the track Magenta generated
    from the same .mag and primer (after any leading silent bars, which musekit does not
    write). one_drum's argmax hits every step, so a silent step too many or too few after
    the primer shows (drum_kit's is silence: its primers are checked above)."""
    case = primer_cases()[index]
    name = case['config'] + '_drums40'
    out = tmp_path / 'out'
    status, _, err = run_cli(capsys, '--bundle_file=' + mag(name), '--output_dir=%s' % out,
                             '--num_outputs=1', '--num_steps=%d' % case['num_steps'],
                             '--temperature=0.0001', '--seed=1',
                             *primer_flags(case, tmp_path))
    assert status == 0, err
    spq = load_bundle(mag(name)).config.make_extractor().steps_per_quarter
    track, _ = read_back(str(out / 'drums_01.mid'), spq)
    generated = [frozenset(e) for e in case['generated']]
    assert sum(map(bool, generated[len(case['primer']):])) > 20
    while not generated[-1]:
        generated.pop()         # read_back's track ends on its last hit
    assert track[:len(generated)] == generated
