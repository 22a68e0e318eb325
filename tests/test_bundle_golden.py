"""The bundle format, pinned by bytes: tests/data/golden.musekit was written once by
`write_golden()` below (musekit 0.2.0, format version 1) and is committed. Reading it checks
that today's schema (field numbers, wire types, dtype names, header layout) still reads
the files users already have; writing the same content today must give the same bytes.

Regenerate only on a deliberate format change (and then bump FORMAT_VERSION):
    python -c "import sys; sys.path.insert(0, 'tests'); import test_bundle_golden as t; t.write_golden()"
"""
import hashlib
import json
import os

import numpy as np
from google.protobuf.unknown_fields import UnknownFieldSet

from musekit import bundle as bundle_lib

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'golden.musekit')

# basic_rnn's config as a literal: the golden file must not follow later config changes.
CONFIG = {
    'data': {'extractor': 'melody',
             'params': {'gap_bars': 1.0, 'ignore_polyphonic_notes': False, 'max_steps': 512,
                        'min_bars': 7, 'min_unique_pitches': 5, 'steps_per_quarter': 4,
                        'transpose_to_key': 0}},
    'description': 'Golden bundle: a format fixture, not a trained model.',
    'encoder': {'name': 'one_hot_melody', 'params': {'max_note': 84, 'min_note': 48}},
    'hparams': {'attn_length': 0, 'batch_size': 128, 'clip_norm': 5.0, 'dropout_rate': 0.5,
                'learning_rate': 0.001, 'rnn_layer_sizes': [128, 128]},
    'model': {'name': 'events_rnn'},
    'name': 'basic_rnn',
}
WEIGHTS = {                      # one of each allowed dtype, a scalar and an empty tensor
    'lstm_0/kernel': np.array([[0.5, -1.25, 3.0e-8], [np.inf, -0.0, 7.0]], np.float32),
    'half': np.array([0.5, -2.0, 65504.0], np.float16),
    'ids': np.array([[1, -2], [2 ** 31 - 1, -2 ** 31]], np.int32),
    'big': np.array([2 ** 40, -1], np.int64),
    'scalar': np.float32(3.0),
    'empty': np.zeros((0, 2), np.float32),
}
PROVENANCE = {'musekit_version': '0.0.golden', 'created': '2026-01-02T03:04:05+00:00',
              'dataset': 'music21:bach', 'steps': 12, 'eval_loss': np.float32(2.5),
              'losses': np.array([3.0, 2.75])}
LOADED_PROVENANCE = {'musekit_version': '0.0.golden', 'created': '2026-01-02T03:04:05+00:00',
                     'dataset': 'music21:bach', 'steps': 12, 'eval_loss': 2.5,
                     'losses': [3.0, 2.75]}


def write_golden(path=GOLDEN):
    return bundle_lib.write_bundle(path, CONFIG, WEIGHTS, PROVENANCE)


def golden_bytes():
    with open(GOLDEN, 'rb') as f:
        return f.read()


def test_the_golden_file_has_the_documented_layout():
    data = golden_bytes()
    magic, header, payload = data.split(b'\n', 2)
    assert magic + b'\n' == bundle_lib.MAGIC == b'MUSEKIT-BUNDLE\n'
    assert header == b'format_version=1 payload_bytes=%d sha256=%s' % (
        len(payload), hashlib.sha256(payload).hexdigest().encode())


def test_the_golden_file_loads_with_every_field():
    b = bundle_lib.load_bundle(GOLDEN)
    assert b.format_version == 1
    assert b.path == GOLDEN
    assert b.config.to_dict() == CONFIG
    # hparams its model family declares since the file was written take their defaults
    assert b.config.to_dict(all_hparams=True)['hparams'] == {
        **CONFIG['hparams'], 'decay_steps': None, 'decay_rate': None, 'decay_epochs': None}
    assert b.provenance == LOADED_PROVENANCE
    assert list(b.weights) == sorted(WEIGHTS)           # stored in name order
    for name, array in WEIGHTS.items():
        got = b.weights[name]
        assert got.dtype == array.dtype and got.shape == np.shape(array), name
        assert got.tobytes() == np.asarray(array).tobytes(), name
        assert got.dtype.byteorder in '=|<'              # native (little-endian here)
    assert b.weights['ids'].tolist() == [[1, -2], [2147483647, -2147483648]]
    assert b.weights['big'].tolist() == [1099511627776, -1]
    assert b.weights['half'].tolist() == [0.5, -2.0, 65504.0]
    assert b.weights['scalar'].shape == () and float(b.weights['scalar']) == 3.0


def test_writing_the_golden_content_today_gives_the_same_bytes(tmp_path):
    path = str(tmp_path / 'again.musekit')
    provenance = write_golden(path)
    assert provenance == LOADED_PROVENANCE
    with open(path, 'rb') as f:
        assert f.read() == golden_bytes()


def test_a_loaded_bundle_written_again_gives_the_same_bytes(tmp_path):
    b = bundle_lib.load_bundle(GOLDEN)
    path = str(tmp_path / 'again.musekit')
    bundle_lib.write_bundle(path, b.config, b.weights, b.provenance)
    with open(path, 'rb') as f:
        assert f.read() == golden_bytes()


def test_the_config_and_provenance_are_sorted_compact_json_in_the_payload():
    """The payload holds the config and provenance as json.dumps(..., sort_keys=True) text
    (what other tools reading a bundle see)."""
    payload = golden_bytes().split(b'\n', 2)[2]
    assert json.dumps(CONFIG, sort_keys=True).encode() in payload
    assert json.dumps(LOADED_PROVENANCE, sort_keys=True).encode() in payload


def test_the_schema_builder_reads_and_rewrites_the_golden_payload():
    """`_build_messages()` called afresh (BundleProto is built once, at import) defines the
    schema of the golden bytes: every field decodes to the written value, nothing is left
    as an unknown field, and serialising gives the payload back."""
    payload = golden_bytes().split(b'\n', 2)[2]
    proto_class = bundle_lib._build_messages()
    proto = proto_class.FromString(payload)
    assert proto.DESCRIPTOR.full_name == 'musekit.Bundle'
    assert proto.format_version == 1
    assert json.loads(proto.config_json) == CONFIG
    assert json.loads(proto.provenance_json) == LOADED_PROVENANCE
    assert [(t.name, t.dtype, list(t.shape)) for t in proto.tensors] == [
        ('big', 'int64', [2]), ('empty', 'float32', [0, 2]), ('half', 'float16', [3]),
        ('ids', 'int32', [2, 2]), ('lstm_0/kernel', 'float32', [2, 3]),
        ('scalar', 'float32', [])]
    for tensor in proto.tensors:
        expected = np.asarray(WEIGHTS[tensor.name])
        assert tensor.data == expected.astype(expected.dtype.newbyteorder('<')).tobytes()
    assert len(UnknownFieldSet(proto)) == 0
    assert all(len(UnknownFieldSet(t)) == 0 for t in proto.tensors)
    assert proto.SerializeToString(deterministic=True) == payload
