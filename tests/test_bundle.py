"""Bundles: exact round trips, atomic writes, and one clear error for every bad file."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from musekit import bundle as bundle_lib
from musekit.config import get_config
from musekit.errors import MusekitError

WEIGHTS = {
    'rnn/0/kernel': np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    'rnn/0/bias': np.array([1.5, -2.25, np.inf, -0.0], np.float32),
    'half': np.array([[0.5, 1.0]], np.float16),
    'ids': np.array([1, -2, 3], np.int32),
    'big': np.array([2 ** 40, -1], np.int64),
    'scalar': np.float32(3.0),
    'empty': np.zeros((0, 5), np.float32),
}
PROVENANCE = {'dataset': 'music21:bach', 'steps': 1234, 'eval_loss': 2.5,
              'eval_accuracy': np.float32(0.25), 'losses': np.array([3.0, 2.5])}


@pytest.fixture(scope='module')
def config_dict():
    return get_config('lookback_rnn').to_dict()


@pytest.fixture()
def bundle_path(tmp_path, config_dict):
    path = str(tmp_path / 'model.musekit')
    bundle_lib.write_bundle(path, config_dict, WEIGHTS, PROVENANCE)
    return path


def test_round_trip_is_exact(bundle_path, config_dict):
    b = bundle_lib.load_bundle(bundle_path)
    assert b.format_version == bundle_lib.FORMAT_VERSION
    assert b.config.to_dict() == config_dict
    assert sorted(b.weights) == sorted(WEIGHTS)
    for name, array in WEIGHTS.items():
        got = b.weights[name]
        assert got.dtype == array.dtype and got.shape == np.shape(array), name
        assert got.tobytes() == np.asarray(array).tobytes(), name
        assert got.flags.writeable
    assert b.provenance['eval_accuracy'] == 0.25 and b.provenance['losses'] == [3.0, 2.5]
    for key in ('dataset', 'steps', 'eval_loss'):
        assert b.provenance[key] == PROVENANCE[key]
    assert b.provenance['musekit_version']
    assert b.provenance['created'].startswith('20')


def test_same_inputs_give_the_same_bytes_apart_from_the_timestamp(tmp_path, config_dict):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    provenance = dict(PROVENANCE, created='2025-01-01T00:00:00+00:00')
    bundle_lib.write_bundle(a, config_dict, WEIGHTS, provenance)
    bundle_lib.write_bundle(b, config_dict, dict(reversed(list(WEIGHTS.items()))), provenance)
    assert open(a, 'rb').read() == open(b, 'rb').read()


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, config_dict):
    path = str(tmp_path / 'sub' / 'model.musekit')
    bundle_lib.write_bundle(path, config_dict, WEIGHTS, PROVENANCE)
    bundle_lib.write_bundle(path, config_dict, {'w': np.ones(2, np.float32)}, PROVENANCE)
    assert os.listdir(tmp_path / 'sub') == ['model.musekit']
    assert list(bundle_lib.load_bundle(path).weights) == ['w']
    with pytest.raises(MusekitError, match='dtype float64'):
        bundle_lib.write_bundle(path, config_dict, {'w': np.ones(2)}, PROVENANCE)
    assert os.listdir(tmp_path / 'sub') == ['model.musekit']   # the old bundle survives


def _error(path):
    with pytest.raises(MusekitError) as e:
        bundle_lib.load_bundle(path)
    message = str(e.value)
    assert '\n' not in message
    return message


def test_missing_empty_directory_and_foreign_files(tmp_path):
    assert 'no such bundle file' in _error(str(tmp_path / 'nope.musekit'))
    assert 'is a directory' in _error(str(tmp_path))
    empty = tmp_path / 'empty'
    empty.write_bytes(b'')
    assert 'empty file' in _error(str(empty))
    noise = tmp_path / 'noise'
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    assert 'not a musekit bundle' in _error(str(noise))
    text = tmp_path / 'text'
    text.write_text('hello, I am a text file\n')
    assert 'not a musekit bundle' in _error(str(text))


def test_a_magenta_bundle_is_recognised(tmp_path):
    from note_seq.protobuf import generator_pb2
    mag = generator_pb2.GeneratorBundle()
    mag.generator_details.id = 'lookback_rnn'
    mag.generator_details.description = 'Melody RNN with lookback encoding.'
    mag.bundle_details.description = 'A bundle'
    mag.checkpoint_file.append(b'\x00\x01fake checkpoint bytes')
    mag.metagraph_file = b'fake metagraph'
    path = tmp_path / 'lookback_rnn.mag'
    path.write_bytes(mag.SerializeToString())
    assert _error(str(path)) == (
        '%s is not a readable TensorFlow checkpoint: not a TensorFlow V1 checkpoint (no '
        'table footer)' % path)


def test_truncation_anywhere_is_caught(bundle_path):
    data = open(bundle_path, 'rb').read()
    for cut in sorted({1, 5, len(bundle_lib.MAGIC), len(bundle_lib.MAGIC) + 10, 200,
                       len(data) // 2, len(data) - 1}):
        with open(bundle_path, 'wb') as f:
            f.write(data[:cut])
        message = _error(bundle_path)
        assert 'truncated' in message or 'damaged header' in message, (cut, message)


def test_every_single_byte_change_is_caught(bundle_path):
    data = bytearray(open(bundle_path, 'rb').read())
    header_end = data.index(b'\n', len(bundle_lib.MAGIC)) + 1
    for position in range(len(data)):
        changed = bytearray(data)
        changed[position] ^= 0x01 if position < header_end else 0x80
        with open(bundle_path, 'wb') as f:
            f.write(changed)
        message = _error(bundle_path)
        if position >= header_end:
            assert 'checksum' in message, (position, message)


def _write_raw(path, proto, version=None):
    payload = proto.SerializeToString()
    header = b'format_version=%d payload_bytes=%d sha256=%s\n' % (
        version or proto.format_version, len(payload),
        hashlib.sha256(payload).hexdigest().encode())
    with open(path, 'wb') as f:
        f.write(bundle_lib.MAGIC + header + payload)


def _proto(config_dict, **tensor):
    proto = bundle_lib.BundleProto(format_version=1, config_json=json.dumps(config_dict),
                                   provenance_json='{}')
    if tensor:
        proto.tensors.add(**tensor)
    return proto


def test_checksummed_but_invalid_contents(tmp_path, config_dict):
    path = str(tmp_path / 'b')
    _write_raw(path, _proto(config_dict), version=2)
    assert 'format version 2, newer than the 1' in _error(path)
    _write_raw(path, _proto(config_dict, name='w', dtype='object', shape=[1], data=b'x' * 8))
    assert "dtype 'object'" in _error(path)
    _write_raw(path, _proto(config_dict, name='w', dtype='float32', shape=[3], data=b'x' * 8))
    assert 'needs 12 bytes, has 8' in _error(path)
    _write_raw(path, _proto(config_dict, name='w', dtype='float32', shape=[-1], data=b''))
    assert 'negative dimension' in _error(path)
    proto = _proto(config_dict, name='w', dtype='int32', shape=[], data=b'abcd')
    proto.tensors.add(name='w', dtype='int32', shape=[], data=b'abcd')
    _write_raw(path, proto)
    assert "weight 'w' twice" in _error(path)
    _write_raw(path, bundle_lib.BundleProto(format_version=1, config_json='{"name": "x"}'))
    assert 'lacks encoder' in _error(path)
    _write_raw(path, bundle_lib.BundleProto(format_version=1, config_json='[1, 2]'))
    assert 'a config is a JSON object, not list' in _error(path)
    _write_raw(path, bundle_lib.BundleProto(format_version=1, config_json='not json'))
    assert 'unreadable config' in _error(path)


def _with(config_dict, section, value, key=None):
    changed = json.loads(json.dumps(config_dict))
    if key:
        changed[section][key] = value
    else:
        changed[section] = value
    return changed


@pytest.mark.parametrize('section, key, value, expected', [
    ('model', None, {}, "model needs a string 'name'"),
    ('encoder', None, 'one_hot', 'encoder must be a JSON object, not str'),
    ('data', None, [], 'data must be a JSON object, not list'),
    ('encoder', 'params', [1], 'encoder params must be a JSON object'),
    ('model', 'name', 'no_such_model', "unknown model family 'no_such_model'"),
    ('encoder', 'name', 'no_such_encoder', "unknown encoder 'no_such_encoder'"),
    ('encoder', 'params', {'min_note': 'x'}, "min_note must be an integer, got 'x'"),
    ('encoder', 'params', {'no_such_param': 1}, 'bad parameters for encoder'),
])
def test_a_config_musekit_cannot_build_fails_at_load(tmp_path, config_dict, section, key,
                                                     value, expected):
    path = str(tmp_path / 'b')
    _write_raw(path, _proto(_with(config_dict, section, value, key)))
    message = _error(path)
    assert message.startswith('bundle %s' % path) and expected in message, message


@pytest.mark.parametrize('value', ['x', 0, -4, 2.5, True])
def test_a_bad_steps_per_quarter_fails_at_load(tmp_path, config_dict, value):
    changed = json.loads(json.dumps(config_dict))
    changed['data']['params']['steps_per_quarter'] = value
    path = str(tmp_path / 'b')
    _write_raw(path, _proto(changed))
    assert 'steps_per_quarter must be a positive integer' in _error(path)


def test_loading_imports_neither_tensorflow_nor_pickle_loaders(bundle_path):
    code = ('import sys; from musekit import load_bundle; load_bundle(%r); '
            'print("tensorflow" in sys.modules, "keras" in sys.modules)' % bundle_path)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ['False', 'False']
    source = open(bundle_lib.__file__).read()
    assert 'import pickle' not in source and 'np.load' not in source
