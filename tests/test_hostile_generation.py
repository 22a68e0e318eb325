"""Generation and bundles against hostile input: a bundle's declared architecture is
bounded before anything is built from it, broken weights and FIFOs are refused in one
line, and every output file appears whole or not at all."""
import hashlib
import json
import os
import subprocess
import sys
import threading
import tracemalloc

import numpy as np
import pytest

from musekit import atomic, bundle as bundle_lib
from refusals import refusal


def rehashed(path, out, edit_config=None, edit_weights=None):
    """A copy of bundle `path` with its config or weights edited and a valid checksum: what
    someone who means harm can make (write_bundle itself refuses such configs)."""
    with open(path, 'rb') as f:
        data = f.read()
    payload = data[data.index(b'\n', len(bundle_lib.MAGIC)) + 1:]
    proto = bundle_lib.BundleProto.FromString(payload)
    if edit_config:
        config = json.loads(proto.config_json)
        edit_config(config)
        proto.config_json = json.dumps(config)
    if edit_weights:
        edit_weights(proto.tensors)
    payload = proto.SerializeToString()
    header = b'format_version=%d payload_bytes=%d sha256=%s\n' % (
        bundle_lib.FORMAT_VERSION, len(payload), hashlib.sha256(payload).hexdigest().encode())
    with open(out, 'wb') as f:
        f.write(bundle_lib.MAGIC + header + payload)
    return str(out)


WAVENET = bundle_lib.resolve_bundle_path('wavenet')


def test_a_bundle_declaring_a_million_stacks_is_refused_before_building(tmp_path):
    path = rehashed(WAVENET, tmp_path / 'deep.musekit',
                    lambda c: c['hparams'].update(stacks=10 ** 6))
    tracemalloc.start()
    try:
        message = refusal(bundle_lib.load_bundle, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == ("bundle %s: hparam stacks=1000000 for config 'wavenet': expected "
                       "int >= 1, <= 64" % path)
    assert peak < 32 << 20


def test_a_bundle_whose_architecture_would_not_fit_in_memory_is_refused(tmp_path,
                                                                        monkeypatch):
    path = rehashed(WAVENET, tmp_path / 'wide.musekit',
                    lambda c: c['hparams'].update(residual_channels=10 ** 7))
    message = refusal(bundle_lib.load_bundle, path)
    assert message.startswith('bundle %s: its architecture of 37,000,135,296 parameters'
                              % path)
    assert 'MUSEKIT_MEMORY_LIMIT' in message


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_non_finite_weights_are_refused_naming_the_weight(tmp_path, bad):
    def poison(tensors):
        tensor = sorted(tensors, key=lambda t: t.name)[3]
        values = np.frombuffer(tensor.data, np.float32).copy()
        values[5] = bad
        tensor.data = values.tobytes()
    path = rehashed(WAVENET, tmp_path / 'nan.musekit', edit_weights=poison)
    name = sorted(bundle_lib.load_bundle(WAVENET).weights)[3]
    loaded = bundle_lib.load_bundle(path)       # the file format stores any float exactly
    assert refusal(loaded.step_model) == (
        "bundle %s does not fit its model 'wavenet': weight %s holds %s (at flat index 5): "
        'not a trained model' % (path, name, bad))
    done = generate(['--bundle_file=' + path, '--output_dir=%s' % tmp_path,
                     '--num_seconds=0.01'])
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].endswith(
        'not a trained model')


def test_a_conditioned_bundle_without_labels_is_one_line(tmp_path):
    def unlabelled(config):
        config['encoder']['params'].update(condition=True, labels=None)
    path = rehashed(WAVENET, tmp_path / 'unlabelled.musekit', unlabelled)
    assert refusal(bundle_lib.load_bundle, path) == (
        "bundle %s: its encoder 'mu_law' was never fitted to data (e.g. a conditioned model "
        'without its labels): it cannot generate' % path)


def test_a_fifo_as_bundle_file_is_refused_at_once(tmp_path):
    fifo = tmp_path / 'pipe.musekit'
    os.mkfifo(fifo)
    result = []
    worker = threading.Thread(target=lambda: result.append(
        refusal(bundle_lib.load_bundle, str(fifo))), daemon=True)
    worker.start()
    worker.join(30)
    assert result == ['bundle %s is a FIFO, not a bundle file' % fifo]


def generate(args):
    return subprocess.run([sys.executable, '-m', 'musekit.cli.generate'] + args,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('extra, kind', [([], '.mid'), (['--render_wav'], '.wav'),
                                         (['--plot'], '.png')])
def test_a_full_disk_is_one_line_and_leaves_no_partial_file(small_disk, extra, kind):
    done = generate(['--bundle_file=lookback_rnn', '--output_dir=%s' % small_disk,
                     '--num_outputs=300', '--seed=1'] + extra)
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith('musekit_generate: error: cannot write %s/melody_' % small_disk)
    assert line.endswith(': No space left on device')
    names = os.listdir(small_disk)
    assert not [n for n in names if n.startswith('.')]      # no temporary file left
    import mido
    for name in names:                                      # every file left is whole
        if name.endswith('.mid'):
            mido.MidiFile(os.path.join(small_disk, name))
        if name.endswith('.wav'):
            import soundfile
            assert soundfile.info(os.path.join(small_disk, name)).frames > 0


def test_atomic_writes_leave_the_old_file_when_the_write_fails(tmp_path):
    path = tmp_path / 'out.txt'
    path.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic.replacing(str(path)) as tmp:
            with open(tmp, 'w') as f:
                f.write('half')
            raise RuntimeError('killed mid-write')
    assert path.read_text() == 'old' and os.listdir(tmp_path) == ['out.txt']


def test_write_bundle_on_a_full_disk_is_one_line(small_disk):
    b = bundle_lib.load_bundle('lookback_rnn')
    message = refusal(bundle_lib.write_bundle, str(small_disk / 'b.musekit'),
                      b.config, b.weights)
    assert message == 'cannot write %s/b.musekit: No space left on device' % small_disk
    assert os.listdir(small_disk) == []


def test_a_primer_outside_the_keys_is_said_in_one_line(tmp_path):
    import pretty_midi
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    for i, pitch in enumerate([5, 60, 120]):
        piano.notes.append(pretty_midi.Note(90, pitch, 0.5 * i, 0.5 * i + 0.5))
    midi.instruments.append(piano)
    primer = str(tmp_path / 'primer.mid')
    midi.write(primer)
    done = generate(['--bundle_file=ssnu_jsb', '--output_dir=%s' % tmp_path,
                     '--num_outputs=1', '--num_steps=6', '--primer_midi=' + primer])
    assert done.returncode == 0, done.stderr
    assert ("primer MIDI %s: 2 notes outside the model's keys A0..C8 moved by octaves into "
            'them' % primer) in done.stderr


def test_a_broken_link_as_bundle_file_is_named(tmp_path):
    link = tmp_path / 'gone.musekit'
    os.symlink(tmp_path / 'nowhere', link)
    assert refusal(bundle_lib.load_bundle, str(link)) == (
        'bundle %s is a broken link, not a bundle file' % link)


def test_weights_of_another_architecture_are_refused_before_building_it(tmp_path,
                                                                        monkeypatch):
    """A declared architecture that fits memory (about 1 GB here) but not the weights the
    bundle holds is refused by comparing shapes, before anything of its size is built."""
    monkeypatch.setenv('MUSEKIT_MEMORY_LIMIT', '8G')
    path = rehashed(WAVENET, tmp_path / 'wider.musekit',
                    lambda c: c['hparams'].update(residual_channels=10 ** 5))
    loaded = bundle_lib.load_bundle(path)
    tracemalloc.start()
    try:
        message = refusal(loaded.step_model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == ("bundle %s does not fit its model 'wavenet': weight input/current "
                       'has shape (256, 32) but the config needs (256, 100000)' % path)
    assert peak < 8 << 20


def melody_piece(name='lookback_rnn'):
    from musekit.registry import PIECES
    b = bundle_lib.load_bundle(name)
    encoder = b.make_encoder()
    return PIECES.get(encoder.piece_type)(encoder, b.config.make_extractor())


def test_a_melody_primer_outside_the_range_is_said_in_one_line(capsys):
    piece = melody_piece()                      # range 48..83, transposed to C major
    moved, amount = piece.to_model([60, -2, 62])
    assert capsys.readouterr().err == ''        # in range once transposed: nothing to say
    moved, amount = piece.to_model([30, -2, 100, -1, 127])
    assert all(48 <= e < 84 for e in moved if e >= 0)
    assert capsys.readouterr().err == (
        "musekit: primer: 3 notes outside the model's range C3..B5 (once transposed by "
        '%+d) moved by octaves into it\n' % amount)
    piece.transpose_to_key = None
    piece.to_model([60, 90])
    assert capsys.readouterr().err == (
        "musekit: primer: 1 note outside the model's range C3..B5 moved by octaves into it\n")


# --- Magenta .mag files: what a structural check catches -----------------------------------

MAG = os.path.join(os.path.dirname(__file__), 'data', 'magenta', 'basic_rnn_chorales150.mag')


def mag_with_checkpoint(out, edit):
    """A copy of the basic_rnn .mag whose checkpoint bytes `edit(bytearray)` changed."""
    from musekit.magenta.bundle import GeneratorBundle
    bundle = GeneratorBundle.FromString(open(MAG, 'rb').read())
    data = bytearray(bundle.checkpoint_file[0])
    edit(data)
    bundle.checkpoint_file[0] = bytes(data)
    out.write_bytes(bundle.SerializeToString())
    return str(out)


def value_offset(data, name):
    """Where the float32 bytes of checkpoint variable `name` start in the table."""
    from musekit.magenta.checkpoint import read_checkpoint
    values = read_checkpoint(bytes(data))[name].astype('<f4').tobytes()
    assert data.count(values) == 1
    return data.index(values)


def reseal(data, at):
    """Recomputes the CRC32C of the table block holding byte `at`, as a writer that means
    harm (or a bug before the checksum) would: the checkpoint then reads as whole."""
    from musekit.magenta import checkpoint as ck
    footer = bytes(data[-ck.FOOTER_BYTES:])
    _, pos = ck._varint(footer, 0)
    _, pos = ck._varint(footer, pos)
    index_offset, pos = ck._varint(footer, pos)
    index_size, _ = ck._varint(footer, pos)
    for _, handle in ck._entries(ck._block(bytes(data), index_offset, index_size)):
        offset, pos = ck._varint(handle, 0)
        size, _ = ck._varint(handle, pos)
        if offset <= at < offset + size:
            end = offset + size
            data[end + 1:end + 5] = ck._masked_crc(bytes(data[offset:end + 1])).to_bytes(
                4, 'little')
            return
    raise AssertionError('no block holds byte %d' % at)


def test_a_flipped_bit_in_a_mag_weight_fails_the_checkpoint_checksum(tmp_path):
    def flip(data):
        data[value_offset(data, 'fully_connected/biases') + 2] ^= 0x10   # a mantissa bit
    path = mag_with_checkpoint(tmp_path / 'flipped.mag', flip)
    assert refusal(bundle_lib.load_bundle, path) == (
        '%s is not a readable TensorFlow checkpoint: a block fails its checksum' % path)


def test_nan_in_a_mag_weight_is_refused_naming_it(tmp_path):
    def poison(data):
        at = value_offset(data, 'fully_connected/biases') + 4 * 3
        data[at:at + 4] = np.array([np.nan], '<f4').tobytes()
        reseal(data, at)
    path = mag_with_checkpoint(tmp_path / 'nan.mag', poison)
    assert refusal(bundle_lib.load_bundle, path) == (
        '%s: weight logits/bias holds nan (at flat index 3): not a trained model' % path)


def test_a_mag_graph_that_hides_the_attention_length_is_said(tmp_path, capfd):
    from musekit.magenta.bundle import GeneratorBundle
    source = os.path.join(os.path.dirname(MAG), 'attention_rnn_chorales150.mag')
    bundle = GeneratorBundle.FromString(open(source, 'rb').read())
    bundle.metagraph_file = bundle.metagraph_file.replace(     # one damaged byte
        b'AttentionCellWrapperZeroState/zeros_3:0', b'AttentionCellWrapperZeroState/zeros_3\xff0')
    path = tmp_path / 'damaged_graph.mag'
    path.write_bytes(bundle.SerializeToString())
    assert bundle_lib.load_bundle(str(path)).config.hparams['attn_length'] == 40
    assert capfd.readouterr().err == (
        "musekit: %s: its graph gives no attention length; Magenta's default 40 is used\n"
        % path)
    bundle_lib.load_bundle(source)
    assert capfd.readouterr().err == ''


def test_running_out_of_memory_is_one_line(capsys):
    from musekit.cli.command import run_main

    def main(argv):
        raise MemoryError('Unable to allocate 47.7 GiB for an array with shape '
                          '(1, 100000000, 128) and data type float32')
    with pytest.raises(SystemExit) as exit:
        run_main(main, ['x'], 'musekit_generate')
    assert exit.value.code == 2
    assert capsys.readouterr().err == (
        'musekit_generate: error: out of memory: Unable to allocate 47.7 GiB for an array '
        'with shape (1, 100000000, 128) and data type float32\n')


def test_a_primer_wav_beyond_full_scale_is_said_in_one_line(tmp_path, capsys):
    import soundfile
    from musekit.registry import PIECES
    b = bundle_lib.load_bundle(WAVENET)
    encoder = b.make_encoder()
    piece = PIECES.get(encoder.piece_type)(encoder, b.config.make_extractor())
    samples = np.linspace(-0.5, 0.5, 400).astype(np.float32)
    samples[[10, 20, 30]] = [1.5, -2.0, 1.0]           # 1.0 itself is full scale, kept
    path = str(tmp_path / 'loud.wav')
    soundfile.write(path, samples, 8000, subtype='FLOAT')
    options = {'label': None, 'primer_wav': path, 'primer_seconds': 1.0}
    primer = piece.primer(options)
    assert len(primer) == 401 and capsys.readouterr().err == (
        'musekit: primer audio %s: 2 samples beyond full scale (-1..1) clipped\n' % path)
    soundfile.write(path, np.clip(samples, -1, 1), 8000, subtype='FLOAT')
    piece.primer(options)
    assert capsys.readouterr().err == ''


@pytest.mark.parametrize('node, value, state, cell', [
    ('AttentionCellWrapperZeroState/Const_13', [41 * 128], 41, 40),    # one bit of 5120
    ('attention_cell_wrapper/Reshape/shape', [-1, 104, 128], 40, 104),
])
def test_a_flipped_attention_length_in_a_mag_graph_is_refused(tmp_path, node, value, state,
                                                              cell):
    """The graph has no checksum, but says the attention length twice; a single-bit flip
    in either place used to change the model silently."""
    from musekit.magenta.bundle import GeneratorBundle
    from musekit.magenta.checkpoint import MetaGraphDef
    source = os.path.join(os.path.dirname(MAG), 'attention_rnn_chorales150.mag')
    bundle = GeneratorBundle.FromString(open(source, 'rb').read())
    graph = MetaGraphDef.FromString(bundle.metagraph_file)
    [found] = [n for n in graph.graph_def.node if n.name.endswith(node)]
    tensor = found.attr['value'].tensor
    if tensor.tensor_content:
        tensor.tensor_content = np.array(value, '<i4').tobytes()
    else:
        tensor.int_val[:] = value
    bundle.metagraph_file = graph.SerializeToString()
    path = tmp_path / 'flipped_graph.mag'
    path.write_bytes(bundle.SerializeToString())
    assert refusal(bundle_lib.load_bundle, str(path)) == (
        '%s: its graph is damaged: its initial state holds attention over %d steps, its '
        'attention cell over %d' % (path, state, cell))


def test_a_bundle_declaring_a_huge_attention_window_is_refused_at_load(tmp_path):
    path = rehashed(bundle_lib.resolve_bundle_path('attention_rnn'), tmp_path / 'a.musekit',
                    lambda c: c['hparams'].update(attn_length=10 ** 8))
    assert refusal(bundle_lib.load_bundle, path) == (
        "bundle %s: hparam attn_length=100000000 for config 'attention_rnn': expected int "
        '>= 0, <= 4096' % path)
