"""Magenta .mag bundles: read as data without TensorFlow, computing what Magenta's own graph
computed (tests/data/magenta: two bundles made by Magenta 2.1.4 and its outputs on two
melodies), generated from directly and imported once as musekit bundles."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from musekit.bundle import load_bundle
from musekit.errors import MusekitError
from musekit.magenta.bundle import GeneratorBundle
from musekit.magenta.checkpoint import read_checkpoint

DATA = os.path.join(os.path.dirname(__file__), 'data', 'magenta')
NAMES = ('basic_rnn_chorales150', 'attention_rnn_chorales150')
MELODIES = ('ode_to_joy', 'random_events')
BIN = os.path.dirname(sys.executable)


def mag(name):
    return os.path.join(DATA, name + '.mag')


def generator_bundle(name):
    return GeneratorBundle.FromString(open(mag(name), 'rb').read())


@pytest.mark.parametrize('name', NAMES)
def test_the_checkpoint_reader_equals_tensorflows(name, tmp_path):
    tf = pytest.importorskip('tensorflow')
    data = generator_bundle(name).checkpoint_file[0]
    (tmp_path / 'model.ckpt').write_bytes(data)
    reader = tf.compat.v1.train.NewCheckpointReader(str(tmp_path / 'model.ckpt'))
    theirs = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}
    mine = read_checkpoint(data)
    assert sorted(mine) == sorted(theirs) and len(mine) >= 6
    for key, value in theirs.items():
        assert mine[key].dtype == value.dtype
        np.testing.assert_array_equal(mine[key], value)


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('melody', MELODIES)
def test_musekit_computes_magentas_inputs_and_probabilities(name, melody):
    golden = np.load(os.path.join(DATA, name + '.golden.npz'))
    events = [int(e) for e in golden[melody + '/events']]
    bundle = load_bundle(mag(name))
    encoder = bundle.make_encoder()
    stepper = encoder.stepper([])
    rows = np.stack([stepper.push(e) for e in events])
    np.testing.assert_array_equal(rows, golden[melody + '/inputs'])
    np.testing.assert_array_equal(encoder.encode(events + [-2])[0], golden[melody + '/inputs'])
    model = bundle.step_model(encoder)          # the step model that generation uses
    state, probabilities = model.initial_state(1), []
    for row in rows:
        logits, state = model.step(row[None], state)
        exp = np.exp(logits[0] - logits[0].max())
        probabilities.append(exp / exp.sum())
    assert np.abs(np.array(probabilities) - golden[melody + '/softmax']).max() < 1e-5


def test_what_the_bundle_becomes():
    basic = load_bundle(mag('basic_rnn_chorales150'))
    assert (basic.config.name, basic.config.model['name']) == ('basic_rnn', 'events_rnn')
    assert list(basic.config.hparams['rnn_layer_sizes']) == [128, 128]
    assert basic.format_version == 1 and basic.path == mag('basic_rnn_chorales150')
    attention = load_bundle(mag('attention_rnn_chorales150'))
    assert attention.config.model['name'] == 'magenta_attention_rnn'
    assert attention.config.hparams['attn_length'] == 40
    assert attention.provenance['attn_length_from'] == 'metagraph'
    data = open(mag('attention_rnn_chorales150'), 'rb').read()
    assert attention.provenance == {
        'magenta_bundle': 'attention_rnn_chorales150.mag',
        'magenta_bundle_sha256': hashlib.sha256(data).hexdigest(),
        'generator_id': 'attention_rnn',
        'generator_description': 'Melody RNN with lookback encoding and attention.',
        'bundle_description': 'magenta attention_rnn, 150 steps on music21 Bach chorale '
                              'melodies',
        'attn_length_from': 'metagraph'}


def test_attn_length_falls_back_to_magentas_default_without_a_graph():
    from musekit.magenta.bundle import convert
    bundle = generator_bundle('attention_rnn_chorales150')
    bundle.metagraph_file = b''
    config, _, provenance = convert(bundle.SerializeToString(), 'x.mag')
    assert config['hparams']['attn_length'] == 40 and provenance['attn_length_from'] == 'default'


def test_tf1_lstm_gates_are_reordered_and_the_forget_bias_stored():
    from musekit.magenta.rnn_cells import keras_lstm
    # input 1, units 1: TF1 columns are gates (i, j, f, o); Keras wants (i, f, c=j, o)
    kernel = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    got = keras_lstm(kernel, np.array([0.1, 0.2, 0.3, 0.4]), input_size=1)
    np.testing.assert_array_equal(got['kernel'], [[1.0, 3.0, 2.0, 4.0]])
    np.testing.assert_array_equal(got['recurrent_kernel'], [[5.0, 7.0, 6.0, 8.0]])
    np.testing.assert_allclose(got['bias'], [0.1, 1.3, 0.2, 0.4])


def test_layer_sizes_come_from_the_weights(monkeypatch):
    from musekit.magenta import bundle as magenta_bundle
    real = magenta_bundle.read_checkpoint

    def one_layer(data, name):
        return {k: v for k, v in real(data, name).items() if '/cell_1/' not in k}
    monkeypatch.setattr(magenta_bundle, 'read_checkpoint', one_layer)
    bundle = load_bundle(mag('basic_rnn_chorales150'))
    assert list(bundle.config.hparams['rnn_layer_sizes']) == [128]
    assert bundle.weights['logits/kernel'].shape == (128, 38)
    bundle.step_model()                     # the weights fit a one-layer events_rnn


def test_generate_from_a_mag_file_without_tensorflow(tmp_path):
    out = tmp_path / 'out'
    code = ('import sys\nfrom musekit.cli.generate import run\ntry:\n    run(sys.argv)\n'
            'except SystemExit as e:\n    assert not e.code, e.code\n'
            'print("TF", "tensorflow" in sys.modules, "note_seq" in sys.modules)')
    proc = subprocess.run([sys.executable, '-c', code,
                           '--bundle_file=' + mag('attention_rnn_chorales150'),
                           '--output_dir=%s' % out, '--num_outputs=10', '--num_steps=128',
                           '--seed=5'], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'TF False False' in proc.stdout
    assert sorted(os.listdir(out)) == ['melody_%02d.mid' % i for i in range(1, 11)]
    proc = subprocess.run([os.path.join(BIN, 'musekit_generate'),
                           '--bundle_file=' + mag('basic_rnn_chorales150'),
                           '--output_dir=%s' % out, '--num_outputs=2', '--num_steps=40',
                           '--primer_melody=[62, -2, 66]', '--beam_size=2', '--branch_factor=2',
                           '--temperature=0.8', '--render_wav', '--plot', '--seed=1'],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert {'melody_01.wav', 'melody_02.png'} <= set(os.listdir(out))


def test_import_writes_a_musekit_bundle_that_generates_the_same(tmp_path):
    from musekit.generation import generate
    target = str(tmp_path / 'att.musekit')
    proc = subprocess.run([os.path.join(BIN, 'musekit_import'),
                           '--magenta_bundle=' + mag('attention_rnn_chorales150'),
                           '--bundle_file=' + target], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'attention over 40 steps' in proc.stdout
    imported, direct = load_bundle(target), load_bundle(mag('attention_rnn_chorales150'))
    assert imported.provenance['magenta_bundle_sha256'] == \
        direct.provenance['magenta_bundle_sha256']
    assert imported.config.to_dict() == direct.config.to_dict()
    results = [generate(b.step_model(), b.make_encoder(), [60, -2, 64], 48, 3, seed=9)
               for b in (imported, direct)]
    assert results[0].events == results[1].events
    again = subprocess.run([os.path.join(BIN, 'musekit_import'), '--magenta_bundle=' + target,
                            '--bundle_file=%s' % (tmp_path / 'x.musekit')],
                           capture_output=True, text=True)
    assert again.returncode == 2 and 'is already a musekit bundle' in again.stderr


def _one_line_error(path):
    with pytest.raises(MusekitError) as e:
        load_bundle(str(path))
    assert '\n' not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize('generator', ['drums_rnn', 'polyphony_rnn', 'performance_rnn',
                                       'improv_rnn', 'pianoroll_rnn_nade'])
def test_other_magenta_generators_are_refused_by_name(tmp_path, generator):
    bundle = generator_bundle('basic_rnn_chorales150')
    bundle.generator_details.id = generator
    path = tmp_path / (generator + '.mag')
    path.write_bytes(bundle.SerializeToString())
    head = "%s is a Magenta %r bundle; musekit reads Magenta bundles of " % (path, generator)
    message = _one_line_error(path)
    assert message.startswith(head)        # the whole list: tests/test_magenta_events.py
    assert {'basic_rnn', 'mono_rnn', 'lookback_rnn', 'attention_rnn'} <= set(
        message[len(head):].split(', '))


def test_truncated_and_altered_mag_files_fail_in_one_line(tmp_path):
    data = open(mag('basic_rnn_chorales150'), 'rb').read()
    path = tmp_path / 'damaged.mag'
    for cut in (10, 1000, len(data) // 2, len(data) - 100, len(data) - 1):
        path.write_bytes(data[:cut])
        message = _one_line_error(path)
        assert 'not a readable' in message, (cut, message)
    bundle = generator_bundle('basic_rnn_chorales150')
    checkpoint = bytearray(bundle.checkpoint_file[0])
    for offset in (100, len(checkpoint) // 3, len(checkpoint) - 60):
        altered = bytearray(checkpoint)
        altered[offset] ^= 0x55
        bundle.checkpoint_file[0] = bytes(altered)
        path.write_bytes(bundle.SerializeToString())
        assert 'not a readable TensorFlow checkpoint' in _one_line_error(path)
    bundle = generator_bundle('basic_rnn_chorales150')
    bundle.ClearField('checkpoint_file')
    path.write_bytes(bundle.SerializeToString())
    assert 'holds 0 checkpoint files' in _one_line_error(path)


def test_a_checkpoint_missing_a_variable_is_named(monkeypatch):
    from musekit.magenta import bundle as magenta_bundle
    real = magenta_bundle.read_checkpoint

    def without_logits(data, name):
        variables = real(data, name)
        del variables['fully_connected/weights']
        return variables
    monkeypatch.setattr(magenta_bundle, 'read_checkpoint', without_logits)
    message = _one_line_error(mag('basic_rnn_chorales150'))
    assert "lacks the basic_rnn variable 'fully_connected/weights'" in message


@pytest.mark.parametrize('argv, message', [
    ([], 'missing required flags: --magenta_bundle, --bundle_file'),
    (['--magenta_bundle=/no/such.mag', '--bundle_file=x'], 'no such bundle file'),
    (['--magenta_bundle=MAG', '--bundle_file=FOLDER'], 'is a folder'),
])
def test_import_bad_input_is_one_line(tmp_path, capsys, argv, message):
    from musekit.cli import import_magenta
    argv = [a.replace('MAG', mag('basic_rnn_chorales150')).replace('FOLDER', str(tmp_path))
            for a in argv]
    with pytest.raises(SystemExit) as e:
        import_magenta.run(['musekit_import'] + argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count('\n') == 1 and message in err


def _tf1_reference_logits(variables, inputs, layers):
    """Magenta's graph for a plain LSTM stack, written out from TF1's BasicLSTMCell: gates
    i, j, f, o; c' = c sigmoid(f + 1) + sigmoid(i) tanh(j); h' = tanh(c') sigmoid(o)."""
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))
    states = [(np.zeros(128), np.zeros(128)) for _ in range(layers)]
    out = []
    for x in inputs:
        for k in range(layers):
            c, h = states[k]
            prefix = 'rnn/multi_rnn_cell/cell_%d/basic_lstm_cell/' % k
            z = np.concatenate([x, h]) @ variables[prefix + 'kernel'] + variables[prefix + 'bias']
            i, j, f, o = np.split(z, 4)
            c = c * sigmoid(f + 1.0) + sigmoid(i) * np.tanh(j)
            h = np.tanh(c) * sigmoid(o)
            states[k] = (c, h)
            x = h
        out.append(x @ variables['fully_connected/weights'] + variables['fully_connected/biases'])
    return np.array(out)


@pytest.mark.parametrize('generator, input_size, classes', [('lookback_rnn', 121, 40),
                                                            ('mono_rnn', 130, 130)])
def test_the_other_melody_generators_map_onto_their_encoders(monkeypatch, generator,
                                                             input_size, classes):
    from musekit.magenta import bundle as magenta_bundle
    rng = np.random.default_rng(4)
    variables = {
        'rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel': (input_size + 128, 512),
        'rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias': (512,),
        'rnn/multi_rnn_cell/cell_1/basic_lstm_cell/kernel': (256, 512),
        'rnn/multi_rnn_cell/cell_1/basic_lstm_cell/bias': (512,),
        'fully_connected/weights': (128, classes), 'fully_connected/biases': (classes,)}
    variables = {k: (0.3 * rng.standard_normal(s)).astype(np.float32)
                 for k, s in variables.items()}
    monkeypatch.setattr(magenta_bundle, 'read_checkpoint', lambda data, name: variables)
    source = generator_bundle('basic_rnn_chorales150')
    source.generator_details.id = generator
    config, weights, provenance = magenta_bundle.convert(source.SerializeToString(), 'x.mag')
    assert config['name'] == generator and provenance['generator_id'] == generator
    from musekit.bundle import Bundle
    from musekit.config import Config
    bundle = Bundle(1, Config.from_dict(config), weights, provenance)
    encoder = bundle.make_encoder()
    assert (encoder.input_spec.size, encoder.label_spec.depth) == (input_size, classes)
    events = [60, -2, 62, -2, 64, 65, -1, 67, -2, -2, 72] * 4
    inputs = encoder.encode(events)[0]
    model, got = bundle.step_model(encoder), []
    state = model.initial_state(1)
    for row in inputs:
        logits, state = model.step(row[None], state)
        got.append(logits[0])
    np.testing.assert_allclose(np.array(got), _tf1_reference_logits(variables, inputs, 2),
                               atol=1e-4)


@pytest.mark.parametrize('name', NAMES)
def test_random_damage_to_the_checkpoint_or_graph_is_one_line_or_harmless(name):
    """Flipped bytes, cuts and overwritten runs anywhere in the checkpoint or the graph
    either leave a bundle musekit can build or end in a MusekitError, never another error."""
    from musekit.magenta.bundle import convert
    rng = np.random.default_rng(7)
    source = open(mag(name), 'rb').read()
    outcomes = set()
    for _ in range(60):
        bundle = GeneratorBundle.FromString(source)
        field = 'checkpoint' if rng.random() < 0.7 else 'graph'
        data = bytearray(bundle.checkpoint_file[0] if field == 'checkpoint'
                         else bundle.metagraph_file)
        kind = rng.integers(3)
        if kind == 0:
            data[rng.integers(len(data))] ^= int(rng.integers(1, 256))
        elif kind == 1:
            del data[rng.integers(len(data)):]
        else:
            at = rng.integers(len(data))
            data[at:at + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
        if field == 'checkpoint':
            bundle.checkpoint_file[0] = bytes(data)
        else:
            bundle.metagraph_file = bytes(data)
        try:
            convert(bundle.SerializeToString(), 'damaged.mag')
            outcomes.add('built')
        except MusekitError as e:
            assert '\n' not in str(e)
            outcomes.add('refused')
    assert 'refused' in outcomes


# --- hostile checkpoints and graphs (found in review) -------------------------------------

def _varint(n):
    out = b''
    while True:
        byte, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([byte])
        out += bytes([byte | 0x80])


def _table(entries, index_repeats=1):
    """A LevelDB-format table (valid CRCs) of one data block, which its index lists
    `index_repeats` times."""
    import struct
    from musekit.magenta import checkpoint

    def block(items):
        body = b''.join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v
                        for k, v in items)
        return body + struct.pack('<II', 0, 1)

    def framed(body):
        return body + b'\x00' + struct.pack('<I', checkpoint._masked_crc(body + b'\x00'))
    data_block = block(entries)
    data = framed(data_block)
    index = block([(b'k', _varint(0) + _varint(len(data_block)))] * index_repeats)
    index_at = len(data)
    data += framed(index)
    footer = (_varint(0) + _varint(0) + _varint(index_at) + _varint(len(index))).ljust(40, b'\0')
    return data + footer + struct.pack('<Q', checkpoint.TABLE_MAGIC)


def test_an_index_that_repeats_a_block_is_refused_at_once():
    import time
    from musekit.magenta import checkpoint
    real = generator_bundle('basic_rnn_chorales150').checkpoint_file[0]
    entries = [(b'%04d' % i, v) for i, v in enumerate(checkpoint._table_values(real))]
    rebuilt = _table(entries)
    assert {k: v.tolist() for k, v in read_checkpoint(rebuilt).items()} == \
        {k: v.tolist() for k, v in read_checkpoint(real).items()}
    started = time.perf_counter()
    with pytest.raises(MusekitError, match='overlapping or repeated blocks'):
        read_checkpoint(_table(entries, index_repeats=3000))
    assert time.perf_counter() - started < 2.0


def test_variables_of_the_wrong_rank_are_one_line(monkeypatch):
    from musekit.magenta import bundle as magenta_bundle
    real = magenta_bundle.read_checkpoint
    for name, shape in (('cell_0/basic_lstm_cell/kernel', (8,)),
                        ('cell_0/basic_lstm_cell/bias', ())):
        def damaged(data, path, name=name, shape=shape):
            variables = real(data, path)
            variables['rnn/multi_rnn_cell/' + name] = np.zeros(shape, np.float32)
            return variables
        monkeypatch.setattr(magenta_bundle, 'read_checkpoint', damaged)
        message = _one_line_error(mag('basic_rnn_chorales150'))
        assert 'an LSTM cell has kernel [8]' in message or 'bias has shape []' in message


def _graph_with(old, new):
    bundle = generator_bundle('attention_rnn_chorales150')
    graph = bundle.metagraph_file
    assert old in graph and len(old) == len(new)
    bundle.metagraph_file = graph.replace(old, new)
    return bundle


def test_an_absurd_attention_length_in_the_graph_is_refused(tmp_path):
    from musekit.magenta.checkpoint import MetaGraphDef
    bundle = generator_bundle('attention_rnn_chorales150')
    graph = MetaGraphDef.FromString(bundle.metagraph_file)   # unknown fields are kept
    [size] = [n for n in graph.graph_def.node if n.name.endswith(
        'AttentionCellWrapperZeroState/Const_13')]
    assert list(size.attr['value'].tensor.int_val) == [40 * 128]
    size.attr['value'].tensor.int_val[0] = 100000 * 128
    bundle.metagraph_file = graph.SerializeToString()
    path = tmp_path / 'huge.mag'
    path.write_bytes(bundle.SerializeToString())
    assert 'asks for attention over 100000 steps (at most 4096)' in _one_line_error(path)


def test_a_damaged_state_name_in_the_graph_falls_back_to_the_default_length(tmp_path):
    bundle = _graph_with(b'AttentionCellWrapperZeroState/zeros_3:0',
                         b'AttentionCellWrapperZeroState/zeros_3\xff0')
    path = tmp_path / 'renamed.mag'
    path.write_bytes(bundle.SerializeToString())
    loaded = load_bundle(str(path))
    assert loaded.config.hparams['attn_length'] == 40
    assert loaded.provenance['attn_length_from'] == 'default'


def test_import_resolves_names_and_never_overwrites_its_source(tmp_path, capsys):
    import shutil
    from musekit.cli import import_magenta
    source = tmp_path / 'copy.mag'
    shutil.copy(mag('basic_rnn_chorales150'), source)
    for argv, message in ((['--magenta_bundle=lookback_rnn', '--bundle_file=x.musekit'],
                           'is already a musekit bundle'),
                          (['--magenta_bundle=%s' % source, '--bundle_file=%s' % source],
                           'is the .mag being read')):
        with pytest.raises(SystemExit) as e:
            import_magenta.run(['musekit_import'] + argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count('\n') == 1 and message in err, err
    assert open(source, 'rb').read() == open(mag('basic_rnn_chorales150'), 'rb').read()


def test_a_folder_named_like_a_shipped_bundle_does_not_hide_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'lookback_rnn').mkdir()                 # e.g. a run directory
    assert load_bundle('lookback_rnn').config.name == 'lookback_rnn'
