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
from refusals import refusal

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
    assert refusal(bundle_lib.write_bundle, path, config_dict, {'w': np.ones(2)}, PROVENANCE) \
        == "weight 'w' has dtype float64; bundles hold only float32, float16, int32, int64"
    assert os.listdir(tmp_path / 'sub') == ['model.musekit']   # the old bundle survives


def _error(path):
    with pytest.raises(MusekitError) as e:
        bundle_lib.load_bundle(path)
    message = str(e.value)
    assert '\n' not in message
    return message


def test_missing_empty_directory_and_foreign_files(tmp_path, monkeypatch):
    nope = str(tmp_path / 'nope.musekit')
    assert _error(nope) == 'no such bundle file: %s (shipped bundles: %s)' % (
        nope, ', '.join(sorted(bundle_lib.shipped_bundles())))
    assert _error(str(tmp_path)) == 'bundle %s is a directory, not a bundle file' % tmp_path
    long_name = str(tmp_path / ('x' * 300))
    assert _error(long_name) == 'cannot read bundle %s: File name too long' % long_name
    empty = tmp_path / 'empty'
    empty.write_bytes(b'')
    assert _error(str(empty)) == 'bundle %s is an empty file, not a musekit bundle' % empty
    noise = tmp_path / 'noise'
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    assert _error(str(noise)) == (
        '%s is not a musekit bundle (it does not start with MUSEKIT-BUNDLE)' % noise)
    text = tmp_path / 'text'
    text.write_text('hello, I am a text file\n')
    assert _error(str(text)) == (
        '%s is not a musekit bundle (it does not start with MUSEKIT-BUNDLE)' % text)
    mag = tmp_path / 'broken.MAG'
    mag.write_bytes(b'\xff\xff not a protobuf')
    assert _error(str(mag)) == ('%s is not a readable Magenta bundle: it does not parse as a '
                                'GeneratorBundle (truncated or altered?)' % mag)
    monkeypatch.setattr(bundle_lib, 'shipped_bundles', dict)     # none installed
    assert _error(nope) == 'no such bundle file: %s' % nope


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
    header_end = data.index(b'\n', len(bundle_lib.MAGIC)) + 1
    size = len(data) - header_end
    inside_magic = 'bundle %s is truncated (it ends inside the musekit header)' % bundle_path
    damaged_header = ('bundle %s has a damaged header (truncated or altered file)'
                      % bundle_path)
    for cut, message in ((1, inside_magic), (5, inside_magic),
                         (len(bundle_lib.MAGIC) - 1, inside_magic),
                         (len(bundle_lib.MAGIC), damaged_header),
                         (len(bundle_lib.MAGIC) + 10, damaged_header),
                         (header_end - 1, damaged_header)):
        with open(bundle_path, 'wb') as f:
            f.write(data[:cut])
        assert _error(bundle_path) == message, cut
    for cut in (header_end, header_end + 1, len(data) // 2, len(data) - 1):
        with open(bundle_path, 'wb') as f:
            f.write(data[:cut])
        assert _error(bundle_path) == (
            'bundle %s is truncated: its payload has %d bytes, the header says %d'
            % (bundle_path, cut - header_end, size)), cut
    with open(bundle_path, 'wb') as f:
        f.write(data + b'\x00')
    assert _error(bundle_path) == (
        'bundle %s is damaged: its payload has %d bytes, the header says %d'
        % (bundle_path, size + 1, size))


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
            assert message == ('bundle %s is corrupt: its sha256 checksum does not match'
                               % bundle_path), position


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
    assert _error(path) == ('bundle %s has format version 2, newer than the 1 this musekit '
                            'reads: upgrade musekit' % path)
    _write_raw(path, bundle_lib.BundleProto(format_version=3, config_json='{}'), version=1)
    assert _error(path) == ('bundle %s is inconsistent: header format version 1, payload 3'
                            % path)
    _write_raw(path, _proto(config_dict, name='w', dtype='object', shape=[1], data=b'x' * 8))
    assert _error(path) == ("bundle %s: weight 'w' has dtype 'object'; allowed: float32, "
                            "float16, int32, int64" % path)
    _write_raw(path, _proto(config_dict, name='w', dtype='float32', shape=[3], data=b'x' * 8))
    assert _error(path) == ("bundle %s: weight 'w' of shape [3] and dtype float32 needs 12 "
                            "bytes, has 8" % path)
    _write_raw(path, _proto(config_dict, name='w', dtype='int64', shape=[2, 0, 3], data=b''))
    assert bundle_lib.load_bundle(path).weights['w'].shape == (2, 0, 3)
    _write_raw(path, _proto(config_dict, name='w', dtype='float32', shape=[2, -1], data=b''))
    assert _error(path) == ("bundle %s: weight 'w' has a negative dimension in shape [2, -1]"
                            % path)
    proto = _proto(config_dict, name='w', dtype='int32', shape=[], data=b'abcd')
    proto.tensors.add(name='w', dtype='int32', shape=[], data=b'abcd')
    _write_raw(path, proto)
    assert _error(path) == "bundle %s holds weight 'w' twice" % path
    _write_raw(path, bundle_lib.BundleProto(format_version=1, config_json='{"name": "x"}'))
    assert _error(path) == "bundle %s: config 'x' lacks encoder, model, hparams, data" % path
    _write_raw(path, bundle_lib.BundleProto(format_version=1, config_json='[1, 2]'))
    assert _error(path) == 'bundle %s: a config is a JSON object, not list' % path
    _write_raw(path, bundle_lib.BundleProto(format_version=1, config_json='not json'))
    assert _error(path) == ('bundle %s has an unreadable config or provenance: Expecting '
                            'value: line 1 column 1 (char 0)' % path)
    _write_raw(path, bundle_lib.BundleProto(format_version=1, config_json=json.dumps(
        config_dict), provenance_json='{bad'))
    assert _error(path) == ('bundle %s has an unreadable config or provenance: Expecting '
                            'property name enclosed in double quotes: line 1 column 2 (char 1)'
                            % path)


def test_a_payload_that_is_not_a_bundle_message(tmp_path):
    path = str(tmp_path / 'b')
    payload = b'\xff\xff\xff'
    with open(path, 'wb') as f:
        f.write(bundle_lib.MAGIC + b'format_version=1 payload_bytes=3 sha256=%s\n'
                % hashlib.sha256(payload).hexdigest().encode() + payload)
    assert _error(path) == 'bundle %s has an unreadable payload' % path


def test_a_bundle_without_provenance_loads_with_empty_provenance(tmp_path, config_dict):
    path = str(tmp_path / 'b')
    _write_raw(path, bundle_lib.BundleProto(format_version=1,
                                            config_json=json.dumps(config_dict)))
    b = bundle_lib.load_bundle(path)
    assert b.provenance == {} and b.weights == {} and b.format_version == 1


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
    ('encoder', 'params', {'min_note': 'x'}, "parameter min_note='x': expected int >= 0"),
    ('encoder', 'params', {'no_such_param': 1}, 'bad parameters for encoder'),
])
def test_a_config_musekit_cannot_build_fails_at_load(tmp_path, config_dict, section, key,
                                                     value, expected):
    path = str(tmp_path / 'b')
    _write_raw(path, _proto(_with(config_dict, section, value, key)))
    message = _error(path)
    assert message.startswith('bundle %s: ' % path) and expected in message, message


@pytest.mark.parametrize('value', ['x', 0, -4, 2.5, True])
def test_a_bad_steps_per_quarter_fails_at_load(tmp_path, config_dict, value):
    changed = json.loads(json.dumps(config_dict))
    changed['data']['params']['steps_per_quarter'] = value
    path = str(tmp_path / 'b')
    _write_raw(path, _proto(changed))
    assert _error(path) == ("bundle %s: bad parameters for extractor 'melody': parameter "
                            'steps_per_quarter=%r: expected int >= 1' % (path, value))


def test_loading_imports_neither_tensorflow_nor_pickle_loaders(bundle_path):
    code = ('import sys; from musekit import load_bundle; load_bundle(%r); '
            'print("tensorflow" in sys.modules, "keras" in sys.modules)' % bundle_path)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ['False', 'False']
    source = open(bundle_lib.__file__).read()
    assert 'import pickle' not in source and 'np.load' not in source


class _Family:
    """A model family stand-in whose step_model raises `error` (or returns its inputs)."""
    name = 'stub_family'

    def __init__(self, error=None):
        self.error = error

    def step_model(self, weights, encoder, hparams):
        if self.error:
            raise self.error
        return weights, encoder, hparams


class _Config:
    hparams = {'units': 3}

    def __init__(self, error=None, build_error=None):
        self.family, self.build_error = _Family(error), build_error

    def make_model(self):
        return self.family

    def make_encoder(self):
        return 'the config encoder'

    def make_extractor(self):
        if self.build_error:
            raise self.build_error


def test_step_model_hands_the_family_its_weights_encoder_and_hparams():
    weights = {'w': np.ones(2, np.float32)}
    b = bundle_lib.Bundle(1, _Config(), weights, {}, 'x.musekit')
    assert b.step_model() == (weights, 'the config encoder', {'units': 3})
    assert b.step_model('my encoder') == (weights, 'my encoder', {'units': 3})
    assert b.make_encoder() == 'the config encoder'


@pytest.mark.parametrize('error, detail', [
    (MusekitError('weight w has shape (2,), the config needs (3,)'),
     'weight w has shape (2,), the config needs (3,)'),
    (KeyError('lstm_0/kernel'), 'lstm_0/kernel'),
    (KeyError('lstm_0/X'), 'lstm_0/X'),             # only the quotes KeyError adds go
    (ValueError("can't reshape"), "can't reshape"),
    (TypeError('bad operand'), 'bad operand'),
])
def test_weights_that_do_not_fit_the_model_are_one_line(error, detail):
    b = bundle_lib.Bundle(1, _Config(error), {}, {}, 'x.musekit')
    assert refusal(b.step_model) == (
        "bundle x.musekit does not fit its model 'stub_family': %s" % detail)
    in_memory = bundle_lib.Bundle(1, _Config(error), {}, {})
    assert refusal(in_memory.step_model) == (
        "bundle <memory> does not fit its model 'stub_family': %s" % detail)


@pytest.mark.parametrize('error, message', [
    (MusekitError('no melody here'), 'bundle x.musekit: no melody here'),
    (KeyError('steps'), "bundle x.musekit has a config musekit cannot build: KeyError: 'steps'"),
    (ZeroDivisionError('division by zero'), 'bundle x.musekit has a config musekit cannot '
                                            'build: ZeroDivisionError: division by zero'),
    (AttributeError('no .x'), 'bundle x.musekit has a config musekit cannot build: '
                              'AttributeError: no .x'),
])
def test_a_config_that_cannot_be_built_is_one_line(error, message):
    b = bundle_lib.Bundle(1, _Config(build_error=error), {}, {}, 'x.musekit')
    assert refusal(bundle_lib.check_buildable, b) == message


def test_write_stamps_version_and_utc_time_and_honours_the_umask(tmp_path, config_dict):
    import re

    import musekit
    path = str(tmp_path / 'new' / 'deeper' / 'model.musekit')
    old_umask = os.umask(0o022)
    try:
        stored = bundle_lib.write_bundle(path, config_dict, {}, {'steps': 3})
    finally:
        os.umask(old_umask)
    assert stored['musekit_version'] == musekit.__version__ and stored['steps'] == 3
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00', stored['created'])
    assert bundle_lib.load_bundle(path).provenance == stored
    assert os.stat(path).st_mode & 0o777 == 0o644             # 0o666 less the umask


def test_a_failed_write_leaves_no_temp_file(tmp_path, config_dict):
    target = tmp_path / 'model.musekit'
    target.mkdir()                              # os.replace cannot put a file there
    assert refusal(bundle_lib.write_bundle, str(target), config_dict, {}, {}) == (
        'cannot write %s: Is a directory' % target)
    assert os.listdir(tmp_path) == ['model.musekit'] and os.listdir(target) == []


def test_provenance_that_is_not_json_is_refused_in_one_line(tmp_path, config_dict):
    path = str(tmp_path / 'b.musekit')
    assert refusal(bundle_lib.write_bundle, path, config_dict, {}, {'a': {1, 2}}) == (
        'provenance value {1, 2} (set) is not JSON-able')
    assert refusal(bundle_lib.write_bundle, path, config_dict, {}, {'a': object}) == (
        "provenance value <class 'object'> (type) is not JSON-able")
    assert not os.path.exists(path)


def test_a_config_nobody_could_load_is_not_written(tmp_path):
    path = str(tmp_path / 'b.musekit')
    assert refusal(bundle_lib.write_bundle, path, {'name': 'x'}, {}) == (
        "config 'x' lacks encoder, model, hparams, data")
    assert os.listdir(tmp_path) == []


def test_a_newline_early_in_the_payload_is_not_taken_for_the_header_end(tmp_path,
                                                                         config_dict):
    """The header ends at the first newline after the magic line: a config of 1280..1407
    bytes puts a newline byte (its length's second varint byte) right after the header."""
    config = dict(config_dict, description='')
    config['description'] = 'x' * (1300 - len(json.dumps(config, sort_keys=True)))
    path = str(tmp_path / 'b.musekit')
    bundle_lib.write_bundle(path, config, {}, {})
    data = open(path, 'rb').read()
    header_end = data.index(b'\n', len(bundle_lib.MAGIC)) + 1
    assert data[header_end:header_end + 5] == b'\x08\x01\x12\x94\x0a'  # 1300 = 0x0a94
    assert bundle_lib.load_bundle(path).config.to_dict() == config


def test_big_endian_weights_are_stored_little_endian(tmp_path, config_dict):
    path = str(tmp_path / 'b.musekit')
    weights = {'f': np.array([1.5, -2.0], '>f4'), 'i': np.array([1, -300], '>i8'),
               'h': np.array([0.25], '>f2'), 'j': np.array([7], '>i4')}
    bundle_lib.write_bundle(path, config_dict, weights, {})
    loaded = bundle_lib.load_bundle(path).weights
    assert loaded['f'].tolist() == [1.5, -2.0] and loaded['i'].tolist() == [1, -300]
    assert loaded['h'].tolist() == [0.25] and loaded['j'].tolist() == [7]
    assert b'\x00\x00\xc0\x3f\x00\x00\x00\xc0' in open(path, 'rb').read()  # <f4 1.5, -2


def test_the_temp_file_is_hidden_beside_the_bundle(tmp_path, config_dict, monkeypatch):
    """Written beside the target (so the rename is atomic, on one filesystem), hidden and
    named after the bundle with a random part: .NAME.<12 hex digits>.tmp"""
    import re
    renames, real_replace = [], os.replace

    def recording_replace(src, dst):
        renames.append((src, dst))
        real_replace(src, dst)
    monkeypatch.setattr(bundle_lib.os, 'replace', recording_replace)
    monkeypatch.chdir(tmp_path)
    os.mkdir('out')
    target = str(tmp_path / 'out' / 'model.musekit')
    bundle_lib.write_bundle(target, config_dict, {}, {})
    [(tmp, dst)] = renames
    assert dst == target and os.path.dirname(tmp) == str(tmp_path / 'out')
    assert re.fullmatch(r'\.model\.musekit\.[0-9a-f]{12}\.tmp', os.path.basename(tmp))


def test_a_bare_name_that_is_no_file_and_no_shipped_bundle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert bundle_lib.resolve_bundle_path('nope') == 'nope'
    assert _error('nope') == 'no such bundle file: nope (shipped bundles: %s)' % (
        ', '.join(sorted(bundle_lib.shipped_bundles())))
