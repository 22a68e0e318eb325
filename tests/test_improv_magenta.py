"""Magenta .mag bundles of the three improv configs (tests/data/magenta, made by Magenta
2.1.4's own tools as its README says): they load without TensorFlow, musekit's step model
gives the softmax Magenta's graph gave on Magenta's encoded inputs of two lead sheets,
musekit's encoder gives exactly those inputs, and musekit_generate and musekit_import work
end to end on them."""
import os

import numpy as np
import pretty_midi
import pytest

from musekit.bundle import load_bundle
from musekit.magenta.bundle import GeneratorBundle
from magenta_refs import golden, mag, step_probabilities

# file name -> (generator id, musekit model, layer sizes Magenta trained it with)
BUNDLES = {
    'basic_improv_chorales30': ('basic_improv', 'events_rnn', [16, 12]),
    'attention_improv_chorales30': ('attention_improv', 'magenta_attention_rnn', [16, 12]),
    'chord_pitches_improv_chorales30': ('chord_pitches_improv', 'events_rnn', [16, 12]),
}
CASES = [(name, case) for name in BUNDLES for case in ('chorale', 'random')]


@pytest.mark.parametrize('name', BUNDLES)
def test_what_each_bundle_becomes(name):
    generator, model, sizes = BUNDLES[name]
    assert GeneratorBundle.FromString(open(mag(name), 'rb').read()) \
        .generator_details.id == generator
    bundle = load_bundle(mag(name))
    config = bundle.config
    assert (config.name, config.model['name']) == (generator, model)
    assert list(config.hparams['rnn_layer_sizes']) == sizes
    assert config.hparams['attn_length'] == (40 if generator == 'attention_improv' else 0)
    assert bundle.provenance['generator_id'] == generator
    encoder = bundle.make_encoder()
    data = golden(name)
    assert (encoder.input_spec.size, encoder.label_spec.depth) == (
        data['chorale/inputs'].shape[1], data['chorale/softmax'].shape[1])


@pytest.mark.parametrize('name, case', CASES)
def test_musekit_computes_magentas_probabilities(name, case):
    """The step model on Magenta's encoded inputs gives its graph's softmax: to 1e-5 in
    probability and 1e-4 in log probability."""
    data = golden(name)
    model = load_bundle(mag(name)).step_model()
    probabilities = step_probabilities(model, data[case + '/inputs'])
    theirs = data[case + '/softmax']
    assert np.abs(probabilities - theirs).max() < 1e-5
    assert np.abs(np.log(probabilities) - np.log(theirs)).max() < 1e-4


@pytest.mark.parametrize('name, case', CASES)
def test_musekits_encoder_gives_magentas_inputs(name, case):
    """Magenta's input row i reads melody event i and chord i + 1 (its control sequence is
    one longer than the melody): musekit's events carry that chord."""
    data = golden(name)
    melody = [int(m) for m in data[case + '/melody']]
    chord_list = [str(c) for c in data[case + '/chords']]
    assert len(chord_list) == len(melody) + 1
    events = [(m, chord_list[i + 1]) for i, m in enumerate(melody)]
    events.append((melody[-1], chord_list[-1]))     # one more, so every row is encoded
    encoder = load_bundle(mag(name)).make_encoder()
    inputs, _ = encoder.encode(events)
    np.testing.assert_array_equal(inputs, data[case + '/inputs'])
    stepper = encoder.stepper([])
    rows = np.stack([stepper.push(event) for event in events[:-1]])
    np.testing.assert_array_equal(rows, data[case + '/inputs'])


def test_the_references_hold_chords_of_every_kind():
    chords_seen = set()
    for name in BUNDLES:
        for case in ('chorale', 'random'):
            chords_seen.update(str(c) for c in golden(name)[case + '/chords'])
    assert {'N.C.', 'Bdim', 'Eaug', 'E/G#', 'Dm7b5'} <= chords_seen
    assert len(golden('basic_improv_chorales30')['chorale/melody']) == 64


def _run(module, argv, capsys):
    try:
        module.run(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize('name', BUNDLES)
def test_generate_from_the_mag_and_its_import_alike(tmp_path, capsys, name):
    """musekit_generate reads the .mag; musekit_import writes a musekit bundle that
    generates the same MIDI bytes with the same seed, over the chords given."""
    from musekit.cli import generate, import_magenta
    target = str(tmp_path / (name + '.musekit'))
    code, out, err = _run(import_magenta, ['musekit_import', '--magenta_bundle=' + mag(name),
                                           '--bundle_file=' + target], capsys)
    assert code == 0, err
    generator, _, sizes = BUNDLES[name]
    assert 'Magenta %s' % generator in out and 'layers %s' % sizes in out
    outputs = []
    for source, folder in ((mag(name), tmp_path / 'from_mag'),
                           (target, tmp_path / 'from_import')):
        code, out, err = _run(generate, [
            'musekit_generate', '--bundle_file=' + source, '--output_dir=%s' % folder,
            '--num_outputs=2', '--seed=3', '--backing_chords=C G Am F', '--render_chords',
            '--steps_per_chord=8'], capsys)
        assert code == 0, err
        files = sorted(os.listdir(folder))
        assert files == ['lead_sheet_01.mid', 'lead_sheet_02.mid']
        outputs.append([(folder / f).read_bytes() for f in files])
    assert outputs[0] == outputs[1] and outputs[0][0] != outputs[0][1]
    pm = pretty_midi.PrettyMIDI(str(tmp_path / 'from_mag' / 'lead_sheet_01.mid'))
    assert [t.text for t in pm.text_events] == ['C', 'G', 'Am', 'F']
    assert pm.get_end_time() == pytest.approx(4.0)
