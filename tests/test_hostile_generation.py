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
from musekit.errors import MusekitError
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
