"""Magenta .mag bundles of Performance RNN and Polyphony RNN: every performance_rnn config's
and polyphony_rnn's bundle (tests/data/magenta, made by Magenta 2.1.4's own tools as its
README says) loads without TensorFlow, musekit's step model gives the softmax Magenta's own
graph gave on Magenta's encoded inputs, musekit's encoders give exactly those inputs from
the same events, and generation and import work end to end."""
import os

import numpy as np
import pytest

from musekit.bundle import load_bundle
from musekit.errors import MusekitError
from musekit.magenta.bundle import GeneratorBundle, supported_generators
from magenta_refs import DATA, golden, mag, step_probabilities

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')
# file name -> (generator id, layer sizes Magenta trained it with)
BUNDLES = {
    'performance_chorales200': ('performance', [16, 12]),
    'performance_with_dynamics_chorales200': ('performance_with_dynamics', [16, 12]),
    'performance_with_dynamics_3layers_chorales200': ('performance_with_dynamics',
                                                      [24, 16, 8]),
    'performance_with_dynamics_and_modulo_encoding_chorales200': (
        'performance_with_dynamics_and_modulo_encoding', [16, 12]),
    'density_conditioned_performance_with_dynamics_chorales200': (
        'density_conditioned_performance_with_dynamics', [16, 12]),
    'pitch_conditioned_performance_with_dynamics_chorales200': (
        'pitch_conditioned_performance_with_dynamics', [16, 12]),
    'multiconditioned_performance_with_dynamics_chorales200': (
        'multiconditioned_performance_with_dynamics', [16, 12]),
    'optional_multiconditioned_performance_with_dynamics_chorales200': (
        'optional_multiconditioned_performance_with_dynamics', [16, 12]),
    'polyphony_chorales200': ('polyphony', [16, 12]),
}
MELODY = ['attention_rnn', 'basic_rnn', 'lookback_rnn', 'mono_rnn']
PERFORMANCE = 'performance_with_dynamics_chorales200'
CONDITIONED = 'optional_multiconditioned_performance_with_dynamics_chorales200'
POLYPHONY = 'polyphony_chorales200'


def sequences(name):
    return sorted({key.split('/')[0] for key in golden(name)})


CASES = [(name, sequence) for name in BUNDLES for sequence in sequences(name)]


def test_every_generator_musekit_reads_has_a_reference_here():
    # the built-in configs' ids (other tests may have registered configs of their own);
    # the melody generators' references are test_magenta's, the others' every family's
    # own .mag files in tests/data/magenta
    builtin = {name[:-len('.json')] for name in os.listdir(CONFIGS) if name.endswith('.json')}
    referenced = {GeneratorBundle.FromString(open(os.path.join(DATA, name), 'rb').read())
                  .generator_details.id for name in os.listdir(DATA) if name.endswith('.mag')}
    assert sorted(g for g in supported_generators() if g in builtin) == \
        sorted(referenced | set(MELODY))
    for name, (generator, _) in BUNDLES.items():
        bundle = GeneratorBundle.FromString(open(mag(name), 'rb').read())
        assert bundle.generator_details.id == generator


@pytest.mark.parametrize('name', BUNDLES)
def test_what_each_bundle_becomes(name):
    generator, sizes = BUNDLES[name]
    bundle = load_bundle(mag(name))
    config = bundle.config
    assert (config.name, config.model['name']) == (generator, 'events_rnn')
    assert list(config.hparams['rnn_layer_sizes']) == sizes        # from the weights
    assert config.hparams['attn_length'] == 0
    assert bundle.provenance['generator_id'] == generator
    assert 'attn_length_from' not in bundle.provenance
    encoder = bundle.make_encoder()
    inputs = golden(name)[sequences(name)[0] + '/inputs']
    softmax = golden(name)[sequences(name)[0] + '/softmax']
    assert (encoder.input_spec.size, encoder.label_spec.depth) == (inputs.shape[1],
                                                                   softmax.shape[1])


@pytest.mark.parametrize('name, sequence', CASES)
def test_musekit_computes_magentas_probabilities(name, sequence):
    """The step model on Magenta's encoded inputs gives its graph's softmax: to 1e-5 in
    probability and to 1e-4 in log probability (so the unlikely classes count too)."""
    data = golden(name)
    bundle = load_bundle(mag(name))
    model = bundle.step_model()
    probabilities = step_probabilities(model, data[sequence + '/inputs'])
    theirs = data[sequence + '/softmax']
    assert np.abs(probabilities - theirs).max() < 1e-5
    assert np.abs(np.log(probabilities) - np.log(theirs)).max() < 1e-4


def musekit_events(encoder, data, sequence):
    """The golden's events as musekit's encoder takes them, one more at the end (so every
    input row is encoded): polyphony (kind, pitch or None); performance (kind, value) and,
    conditioned, the control its input row reads, which Magenta takes from the next
    position of its control sequence (None where conditioning is disabled)."""
    pairs = [tuple(int(v) for v in pair) for pair in data[sequence + '/events']]
    if encoder.name == 'polyphony_one_hot':
        events = [(kind, None if pitch < 0 else pitch) for kind, pitch in pairs]
        return events + events[-1:]
    if not encoder.control_signals:
        return pairs + pairs[-1:]
    signals = [data['%s/%s' % (sequence, signal)] for signal in encoder.control_signals]
    disable = data.get(sequence + '/disable', np.zeros(len(pairs) + 1, bool))
    controls = [None if disable[i] else tuple(
        float(values[i]) if values.ndim == 1 else tuple(float(v) for v in values[i])
        for values in signals) for i in range(len(pairs) + 1)]
    events = [pair + (control,) for pair, control in zip(pairs, controls[1:])]
    return events + [pairs[-1] + (controls[-1],)]


@pytest.mark.parametrize('name, sequence', CASES)
def test_musekits_encoder_gives_magentas_inputs(name, sequence):
    data = golden(name)
    encoder = load_bundle(mag(name)).make_encoder()
    events = musekit_events(encoder, data, sequence)
    inputs, labels = encoder.encode(events)
    np.testing.assert_array_equal(inputs, data[sequence + '/inputs'])
    np.testing.assert_array_equal(labels[:-1], data[sequence + '/classes'][1:])
    stepper = encoder.stepper([])           # what generation feeds the model, row by row
    rows = np.stack([stepper.push(event) for event in events[:-1]])
    np.testing.assert_array_equal(rows, data[sequence + '/inputs'])


def test_the_references_cover_controls_and_conditioning_switched_off():
    data = golden(CONDITIONED)
    assert sequences(CONDITIONED) == ['chorale', 'chorale_disabled', 'random_toggling']
    assert data['chorale_disabled/disable'].all() and not data['chorale/disable'].any()
    assert 0 < data['random_toggling/disable'].mean() < 1
    # the flag leads the row; a disabled row holds no controls
    inputs = data['random_toggling/inputs']
    off = data['random_toggling/disable'][1:]
    np.testing.assert_array_equal(inputs[:, 0], off)
    assert not inputs[off, 1:21].any() and (inputs[~off, 1:9].sum(axis=1) == 1).all()


def _run(module, argv, capsys):
    """A musekit command's run() in this process: (exit status, stdout, stderr)."""
    try:
        module.run(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize('name, flags, stem', [
    (PERFORMANCE, ['--num_seconds=3', '--primer_pitches=[60, 64, 67]'], 'performance'),
    (CONDITIONED, ['--num_seconds=2', '--primer_pitches=[60, 64, 67]', '--notes_per_second=6',
                   '--pitch_class_histogram=[2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]'],
     'performance'),
    (POLYPHONY, ['--num_steps=48', '--primer_pitches=[60, 64, 67]'], 'polyphony')])
def test_generate_from_the_mag_and_its_import_alike(tmp_path, capsys, name, flags, stem):
    """musekit_generate reads the .mag; musekit_import writes a musekit bundle that
    generates the same MIDI bytes with the same seed."""
    import note_seq
    from musekit.cli import generate, import_magenta
    target = str(tmp_path / (name + '.musekit'))
    code, out, err = _run(import_magenta, ['musekit_import', '--magenta_bundle=' + mag(name),
                                           '--bundle_file=' + target], capsys)
    assert code == 0, err
    generator, sizes = BUNDLES[name]
    assert 'Magenta %s' % generator in out and 'layers %s' % sizes in out
    outputs = []
    for source, folder in ((mag(name), tmp_path / 'from_mag'),
                           (target, tmp_path / 'from_import')):
        code, out, err = _run(generate, ['musekit_generate', '--bundle_file=' + source,
                                         '--output_dir=%s' % folder, '--num_outputs=2',
                                         '--seed=3'] + flags, capsys)
        assert code == 0, err
        files = sorted(os.listdir(folder))
        assert [f for f in files if f.endswith('.mid')] == [
            '%s_%02d.mid' % (stem, i) for i in (1, 2)]
        outputs.append([(folder / f).read_bytes() for f in files if f.endswith('.mid')])
    assert outputs[0] == outputs[1] and outputs[0][0] != outputs[0][1]
    notes = note_seq.midi_to_note_sequence(outputs[0][0]).notes
    assert {60, 64, 67} <= {n.pitch for n in notes if n.start_time == 0}     # the primer


@pytest.mark.parametrize('generator', [
    'drums_rnn', 'improv_rnn', 'pianoroll_rnn_nade', 'performance_with_dynamics_compact',
    'performance_with_dynamics_and_note_encoding', 'polyphony_rnn', 'performance_rnn',
    'biaxial_jsb', 'wavenet',                   # musekit configs, not on events_rnn
    os.path.join('configs', 'performance.json')])       # a name, never a file to read
def test_other_generator_ids_are_refused_by_name(tmp_path, generator):
    bundle = GeneratorBundle.FromString(open(mag(PERFORMANCE), 'rb').read())
    bundle.generator_details.id = generator
    path = tmp_path / 'other.mag'
    path.write_bytes(bundle.SerializeToString())
    with pytest.raises(MusekitError) as e:
        load_bundle(str(path))
    assert str(e.value) == '%s is a Magenta %r bundle; musekit reads Magenta bundles of %s' % (
        path, generator, ', '.join(supported_generators()))


def _with_variables(monkeypatch, change):
    from musekit.magenta import bundle as magenta_bundle
    real = magenta_bundle.read_checkpoint
    monkeypatch.setattr(magenta_bundle, 'read_checkpoint',
                        lambda data, name: change(real(data, name)))


def test_a_graph_with_residual_connections_is_refused_by_what_it_is(monkeypatch):
    """Magenta's residual_connections hparam wraps cells in an input projection (named so
    in the checkpoint); events_rnn has no such layer, so the bundle is refused."""
    cell = 'rnn/multi_rnn_cell/cell_0/'

    def residual(variables):
        variables = {k.replace(cell, cell + 'input_projection_wrapper/'): v
                     for k, v in variables.items()}
        variables[cell + 'input_projection_wrapper/kernel'] = np.zeros((388, 16), np.float32)
        variables[cell + 'input_projection_wrapper/bias'] = np.zeros(16, np.float32)
        return variables
    _with_variables(monkeypatch, residual)
    with pytest.raises(MusekitError) as e:
        load_bundle(mag(PERFORMANCE))
    assert str(e.value) == (
        "%s was trained with residual connections (Magenta's hparam residual_connections; its "
        "variables include rnn/multi_rnn_cell/cell_0/input_projection_wrapper/basic_lstm_cell"
        "/bias); musekit's events_rnn has none" % mag(PERFORMANCE))


def test_variables_events_rnn_has_no_place_for_are_named(monkeypatch):
    def extra(variables):
        variables['rnn/multi_rnn_cell/cell_1/layer_norm/gamma'] = np.ones(12, np.float32)
        variables['global_step'] = np.zeros((), np.int64)      # outside the model: ignored
        return variables
    _with_variables(monkeypatch, extra)
    with pytest.raises(MusekitError) as e:
        load_bundle(mag(PERFORMANCE))
    assert str(e.value) == ("%s: it has variables musekit's events_rnn has no place for: "
                            "rnn/multi_rnn_cell/cell_1/layer_norm/gamma" % mag(PERFORMANCE))


def test_a_third_layer_beyond_the_logits_width_does_not_fit(monkeypatch):
    """Sizes come from the weights, and must agree: a stray third cell whose width the
    logits layer does not read is refused naming the weight."""
    def third(variables):
        variables['rnn/multi_rnn_cell/cell_2/basic_lstm_cell/kernel'] = np.zeros(
            (12 + 20, 80), np.float32)
        variables['rnn/multi_rnn_cell/cell_2/basic_lstm_cell/bias'] = np.zeros(80, np.float32)
        return variables
    _with_variables(monkeypatch, third)
    with pytest.raises(MusekitError) as e:
        load_bundle(mag(PERFORMANCE))
    assert "does not fit Magenta's performance_with_dynamics" in str(e.value)
    assert 'logits/kernel' in str(e.value)
