"""Magenta's Pianoroll RNN-NADE bundles (rnn-nade, rnn-nade_attn) read without TensorFlow:
musekit's step model scores given frames as Magenta's own graph does, decides the greedy
frame its generate graph decides, and the .mag generates and imports. References:
tests/data/magenta/README.md."""
import os

import numpy as np
import pytest

from musekit.bundle import load_bundle
from musekit.errors import MusekitError
from musekit.layers import nade
from musekit.magenta.bundle import GeneratorBundle, supported_generators
from magenta_refs import golden, mag

BUNDLES = {'rnn-nade_chorales40': ('rnn-nade', 'rnn_nade', 0),
           'rnn-nade_attn_chorales40': ('rnn-nade_attn', 'magenta_attention_rnn_nade', 6)}
SEQUENCES = ('chorale', 'random')


def frame_events(rows):
    return [tuple(21 + int(k) for k in np.flatnonzero(row)) for row in rows]


def scored(bundle, frames):
    """(log-probabilities [T], conditional key probabilities [T, 88], model, state after
    all frames) of the frames, the first given the zero frame (as Magenta scores them)."""
    encoder = bundle.make_encoder()
    model = bundle.step_model(encoder)
    inputs, labels = encoder.encode([()] + frame_events(frames))
    state, log_probs, probabilities = model.initial_state(1), [], []
    for row, label in zip(inputs, labels):
        outputs, state = model.step(row[None], state)
        log_probs.append(model.log_prob(outputs, label[None])[0])
        logits = nade.conditional_logits(label[None], outputs[:, :model.hidden],
                                         outputs[:, model.hidden:], model.w_enc, model.w_dec)
        probabilities.append(1 / (1 + np.exp(-logits[0])))
    return np.array(log_probs), np.array(probabilities), model, state


@pytest.mark.parametrize('name', BUNDLES)
@pytest.mark.parametrize('sequence', SEQUENCES)
def test_log_probabilities_of_given_frames_equal_magentas_graph(name, sequence):
    ref = golden(name)
    log_probs, probabilities, _, _ = scored(load_bundle(mag(name)), ref[sequence + '/frames'])
    assert np.abs(probabilities - ref[sequence + '/cond_probs']).max() < 1e-5
    # float32 sums of 88 keys on Magenta's side: equal to 1e-5 relative (|log p| 10 to 40)
    np.testing.assert_allclose(log_probs, ref[sequence + '/log_prob'], rtol=1e-5)


@pytest.mark.parametrize('name', BUNDLES)
@pytest.mark.parametrize('sequence', SEQUENCES)
def test_the_threshold_frame_is_the_one_magentas_generate_graph_decides(name, sequence):
    ref = golden(name)
    frames = ref[sequence + '/frames']
    _, _, model, state = scored(load_bundle(mag(name)), frames)
    encoder = load_bundle(mag(name)).make_encoder()
    last = encoder.frame_input(frame_events(frames[-1:])[0])
    outputs, _ = model.step(last[None], state)
    frame, log_prob = model.with_mode('threshold').sample(outputs, 1.0, None)
    np.testing.assert_array_equal(frame[0], ref[sequence + '/greedy_frame'])
    assert log_prob[0] == pytest.approx(float(ref[sequence + '/greedy_log_prob']), rel=1e-5)


def test_what_the_bundles_become():
    for name, (generator, family, attn_length) in BUNDLES.items():
        bundle = load_bundle(mag(name))
        assert (bundle.config.name, bundle.config.model['name']) == (generator, family)
        hparams = bundle.config.hparams
        assert list(hparams['rnn_layer_sizes']) == [32, 24]
        assert hparams['nade_hidden_units'] == 16 and hparams['attn_length'] == attn_length
        assert hparams['nade_log_epsilon'] == 1e-6          # Magenta's _safe_log
        assert bundle.provenance['generator_id'] == generator
        assert bundle.provenance.get('attn_length_from') == (
            'metagraph' if attn_length else None)
    assert {'rnn-nade', 'rnn-nade_attn'} <= set(supported_generators())


def test_without_a_graph_the_attention_length_is_magentas_rnn_nade_default():
    from musekit.magenta.bundle import convert
    bundle = GeneratorBundle.FromString(open(mag('rnn-nade_attn_chorales40'), 'rb').read())
    bundle.metagraph_file = b''
    config, _, provenance = convert(bundle.SerializeToString(), 'x.mag')
    assert config['hparams']['attn_length'] == 32 and provenance['attn_length_from'] == 'default'


def _with_variables(monkeypatch, change):
    from musekit.magenta import bundle as magenta_bundle
    real = magenta_bundle.read_checkpoint
    monkeypatch.setattr(magenta_bundle, 'read_checkpoint',
                        lambda data, name: change(real(data, name)))


def _refusal(name='rnn-nade_chorales40'):
    with pytest.raises(MusekitError) as e:
        load_bundle(mag(name))
    assert '\n' not in str(e.value)
    return str(e.value)


def test_a_missing_nade_weight_is_named(monkeypatch):
    def drop(variables):
        del variables['nade/w_enc']
        return variables
    _with_variables(monkeypatch, drop)
    assert "lacks the rnn-nade variable 'nade/w_enc'" in _refusal()


def test_nade_weights_of_the_wrong_layout_are_refused(monkeypatch):
    def flat(variables):
        variables['nade/w_dec_t'] = variables['nade/w_dec_t'][:, :, 0]
        return variables
    _with_variables(monkeypatch, flat)
    assert 'its NADE weights have shapes [88, 1, 16] and [88, 16]' in _refusal()


def test_a_dense_layer_of_the_wrong_width_does_not_fit(monkeypatch):
    def narrow(variables):
        variables['decoder/dense/kernel'] = variables['decoder/dense/kernel'][:, :-1]
        return variables
    _with_variables(monkeypatch, narrow)
    message = _refusal()
    assert "does not fit Magenta's rnn-nade" in message and 'nade_bias/kernel' in message


def test_variables_rnn_nade_has_no_place_for_are_named(monkeypatch):
    def extra(variables):
        variables['nade/b_enc'] = np.zeros((1, 16), np.float32)
        return variables
    _with_variables(monkeypatch, extra)
    assert _refusal().endswith("it has variables musekit's rnn_nade has no place for: "
                               "nade/b_enc")


def _run(module, argv, capsys):
    try:
        module.run(argv)
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize('name', BUNDLES)
def test_generate_from_the_mag_and_its_import_alike(tmp_path, capsys, name):
    """musekit_generate reads the .mag; musekit_import writes a musekit bundle that
    generates the same MIDI bytes with the same seed."""
    import note_seq
    from musekit.cli import generate, import_magenta
    target = str(tmp_path / (name + '.musekit'))
    code, out, err = _run(import_magenta, ['musekit_import', '--magenta_bundle=' + mag(name),
                                           '--bundle_file=' + target], capsys)
    assert code == 0, err
    outputs = []
    for source, folder in ((mag(name), tmp_path / 'from_mag'),
                           (target, tmp_path / 'from_import')):
        code, out, err = _run(generate, ['musekit_generate', '--bundle_file=' + source,
                                         '--output_dir=%s' % folder, '--num_outputs=2',
                                         '--num_steps=24', '--seed=3'], capsys)
        assert code == 0, err
        files = sorted(f for f in os.listdir(folder) if f.endswith('.mid'))
        assert files == ['piece_01.mid', 'piece_02.mid']
        outputs.append([(folder / f).read_bytes() for f in files])
    assert outputs[0] == outputs[1] and outputs[0][0] != outputs[0][1]
    notes = note_seq.midi_to_note_sequence(outputs[0][0]).notes
    assert notes and all(21 <= n.pitch <= 108 for n in notes)


def test_musekits_own_rnn_nade_configs_are_no_magenta_generator_ids(tmp_path):
    bundle = GeneratorBundle.FromString(open(mag('rnn-nade_chorales40'), 'rb').read())
    bundle.generator_details.id = 'rnn_nade_jsb'
    path = tmp_path / 'other.mag'
    path.write_bytes(bundle.SerializeToString())
    assert 'rnn_nade_jsb' not in supported_generators()
    with pytest.raises(MusekitError, match="is a Magenta 'rnn_nade_jsb' bundle; musekit reads"):
        load_bundle(str(path))
