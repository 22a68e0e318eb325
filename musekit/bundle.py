"""Bundles: one self-describing file holding a trained model's config, weights and provenance.

Layout: the magic line ``MUSEKIT-BUNDLE``, a text header line
``format_version=1 payload_bytes=N sha256=HEX``, then N bytes of a protobuf ``Bundle``
message (schema below, in a private descriptor pool). Tensors are raw little-endian bytes
of an allow-listed dtype, so loading never unpickles and never runs code; TensorFlow is
never imported.
"""
import dataclasses
import datetime
import hashlib
import json
import os
import re

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from musekit import limits
from musekit.errors import MusekitError

MAGIC = b'MUSEKIT-BUNDLE\n'
FORMAT_VERSION = 1
DTYPES = {'float32': '<f4', 'float16': '<f2', 'int32': '<i4', 'int64': '<i8'}
_HEADER = re.compile(rb'format_version=(\d{1,9}) payload_bytes=(\d{1,19}) sha256=([0-9a-f]{64})\n')
_MAX_HEADER = 160
_F = descriptor_pb2.FieldDescriptorProto


def _build_messages():
    fd = descriptor_pb2.FileDescriptorProto(
        name='musekit/bundle.proto', package='musekit', syntax='proto3')
    tensor = fd.message_type.add(name='Tensor')
    for name, number, ftype, label in (
            ('name', 1, _F.TYPE_STRING, _F.LABEL_OPTIONAL),
            ('dtype', 2, _F.TYPE_STRING, _F.LABEL_OPTIONAL),
            ('shape', 3, _F.TYPE_INT64, _F.LABEL_REPEATED),
            ('data', 4, _F.TYPE_BYTES, _F.LABEL_OPTIONAL)):
        tensor.field.add(name=name, number=number, type=ftype, label=label)
    bundle = fd.message_type.add(name='Bundle')
    for name, number, ftype in (('format_version', 1, _F.TYPE_UINT32),
                                ('config_json', 2, _F.TYPE_STRING),
                                ('provenance_json', 3, _F.TYPE_STRING)):
        bundle.field.add(name=name, number=number, type=ftype, label=_F.LABEL_OPTIONAL)
    bundle.field.add(name='tensors', number=4, type=_F.TYPE_MESSAGE,
                     label=_F.LABEL_REPEATED, type_name='.musekit.Tensor')
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName('musekit.Bundle'))


BundleProto = _build_messages()


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A loaded bundle: everything generation needs, nothing TensorFlow."""
    format_version: int
    config: object            # musekit.config.Config
    weights: dict             # {name: np.ndarray}
    provenance: dict
    path: str = ''

    def make_encoder(self):
        return self.config.make_encoder()

    def step_model(self, encoder=None):
        """The config's NumPy StepModel built on this bundle's weights."""
        encoder = encoder or self.make_encoder()
        family = self.config.make_model()
        try:
            check_finite(self.weights)      # the format stores any float; a model may not
            return family.step_model(self.weights, encoder, self.config.hparams)
        except MusekitError as e:
            raise MusekitError('bundle %s does not fit its model %r: %s' % (
                self.path or '<memory>', family.name, e)) from None
        except (KeyError, ValueError, TypeError) as e:
            raise MusekitError('bundle %s does not fit its model %r: %s' % (
                self.path or '<memory>', family.name, str(e).strip("'"))) from None


def write_bundle(path, config_dict, weights, provenance=None):
    """Writes a bundle atomically (temp file + rename); returns the provenance stored.

    `config_dict` is a Config's to_dict() (or a Config), `weights` {name: array},
    `provenance` free JSON-able facts (dataset, steps, eval loss...); the musekit version
    and a UTC `created` timestamp are added when absent.
    """
    from musekit.version import __version__
    from musekit.config import Config
    if isinstance(config_dict, Config):
        config_dict = config_dict.to_dict()
    Config.from_dict(config_dict)        # refuse to write a bundle nobody could load
    provenance = dict(provenance or {})
    provenance.setdefault('musekit_version', __version__)
    provenance.setdefault('created', datetime.datetime.now(datetime.timezone.utc)
                          .isoformat(timespec='seconds'))
    proto = BundleProto(format_version=FORMAT_VERSION,
                        config_json=json.dumps(config_dict, sort_keys=True),
                        provenance_json=json.dumps(provenance, sort_keys=True,
                                                   default=_json_value))
    for name in sorted(weights):
        array = np.asarray(weights[name])
        dtype = array.dtype.name
        if dtype not in DTYPES:
            raise MusekitError('weight %r has dtype %s; bundles hold only %s'
                               % (name, dtype, ', '.join(DTYPES)))
        proto.tensors.add(name=name, dtype=dtype, shape=array.shape,
                          data=np.ascontiguousarray(array, DTYPES[dtype]).tobytes())
    payload = proto.SerializeToString(deterministic=True)
    header = b'format_version=%d payload_bytes=%d sha256=%s\n' % (
        FORMAT_VERSION, len(payload), hashlib.sha256(payload).hexdigest().encode())
    from musekit import atomic
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic.write_bytes(path, MAGIC + header + payload)
    return json.loads(proto.provenance_json)


def _json_value(value):
    """numpy scalars and arrays in provenance become plain JSON numbers and lists."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise MusekitError('provenance value %r (%s) is not JSON-able'
                       % (value, type(value).__name__))


SHIPPED_SUFFIX = '.musekit'


def shipped_bundles():
    """{name: path} of the bundles installed with musekit (package musekit.bundles)."""
    from importlib import resources
    try:
        folder = resources.files('musekit.bundles')
    except ModuleNotFoundError:
        return {}
    return {entry.name[:-len(SHIPPED_SUFFIX)]: str(entry) for entry in folder.iterdir()
            if entry.name.endswith(SHIPPED_SUFFIX)}


def resolve_bundle_path(name_or_path):
    """A bundle file path: `name_or_path` itself when it is a file (or has a folder in it),
    else the shipped bundle of that name (e.g. 'lookback_rnn'), else it unchanged."""
    if os.path.isfile(name_or_path) or os.sep in name_or_path:
        return name_or_path
    return shipped_bundles().get(name_or_path, name_or_path)


def load_bundle(path):
    """Reads and checks a bundle (a file path, or the name of a bundle shipped with
    musekit); any problem raises one clear MusekitError line."""
    path = resolve_bundle_path(os.fspath(path))
    if not os.path.isdir(path):
        from musekit.data.sources import BadInput, check_regular
        try:
            check_regular(path)         # opening a FIFO would wait for a writer forever
        except BadInput as e:
            if e.reason == 'not_a_regular_file':
                raise MusekitError('bundle %s is %s, not a bundle file'
                                   % (path, e.detail)) from None
            # anything else (no such file, no permission): open() below says it
    try:
        with open(path, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            limits.MAX_BUNDLE_BYTES.check(size, 'bundle %s (%s)' % (
                path, limits.format_amount(size, 'bytes')))
            data = f.read()
    except FileNotFoundError:
        names = sorted(shipped_bundles())
        raise MusekitError('no such bundle file: %s%s' % (
            path, ' (shipped bundles: %s)' % ', '.join(names) if names else '')) from None
    except IsADirectoryError:
        raise MusekitError('bundle %s is a directory, not a bundle file' % path) from None
    except OSError as e:
        raise MusekitError('cannot read bundle %s: %s' % (path, e.strerror or e)) from None
    return _parse(data, path)


def _parse(data, path):
    if not data.startswith(MAGIC):
        from musekit.magenta.bundle import parse_generator_bundle
        if data and parse_generator_bundle(data) is not None:
            return _from_magenta(data, path)
        raise MusekitError(_foreign_file_message(data, path))
    header_end = data.find(b'\n', len(MAGIC), len(MAGIC) + _MAX_HEADER)
    match = _HEADER.fullmatch(data, len(MAGIC), header_end + 1) if header_end > 0 else None
    if not match:
        raise MusekitError('bundle %s has a damaged header (truncated or altered file)' % path)
    version, size, digest = int(match.group(1)), int(match.group(2)), match.group(3).decode()
    if version > FORMAT_VERSION:
        raise MusekitError('bundle %s has format version %d, newer than the %d this musekit '
                           'reads: upgrade musekit' % (path, version, FORMAT_VERSION))
    payload = data[header_end + 1:]
    if len(payload) != size:
        raise MusekitError('bundle %s is %s: its payload has %d bytes, the header says %d'
                           % (path, 'truncated' if len(payload) < size else 'damaged',
                              len(payload), size))
    if hashlib.sha256(payload).hexdigest() != digest:
        raise MusekitError('bundle %s is corrupt: its sha256 checksum does not match' % path)
    try:
        proto = BundleProto.FromString(payload)
    except message.DecodeError:
        raise MusekitError('bundle %s has an unreadable payload' % path) from None
    if proto.format_version != version:
        raise MusekitError('bundle %s is inconsistent: header format version %d, payload %d'
                           % (path, version, proto.format_version))
    from musekit.config import Config
    try:
        config = Config.from_dict(json.loads(proto.config_json))
        provenance = json.loads(proto.provenance_json or '{}')
    except (ValueError, TypeError, AttributeError) as e:
        raise MusekitError('bundle %s has an unreadable config or provenance: %s'
                           % (path, e)) from None
    except MusekitError as e:
        raise MusekitError('bundle %s: %s' % (path, e)) from None
    weights = {}
    for tensor in proto.tensors:
        if tensor.name in weights:
            raise MusekitError('bundle %s holds weight %r twice' % (path, tensor.name))
        weights[tensor.name] = _tensor_array(tensor, path)
    bundle = Bundle(version, config, weights, provenance, path)
    check_buildable(bundle)
    return bundle


def check_buildable(bundle):
    """Builds the bundle's encoder, extractor and model family once and checks the encoder's
    contract (as get_config does) and its declared architecture's size against the memory
    limit (from the weight shapes its hparams give, bounded by their declarations, before
    anything is built), so a bundle musekit cannot use fails at load time with one line
    (`step_model` checks the weights' names, shapes and values)."""
    from musekit.encoders.base import check_contract
    try:
        from musekit.registry import PIECES
        config = bundle.config
        extractor = config.make_extractor()
        encoder = config.make_encoder()
        check_contract(encoder)
        PIECES.get(encoder.piece_type)(encoder, extractor)    # what it reads is there
        if encoder.needs_fitting:
            raise MusekitError('its encoder %r was never fitted to data (e.g. a conditioned '
                               'model without its labels): it cannot generate'
                               % encoder.name)
        family = config.make_model()
        # the parameters musekit_train's estimate counts (check_training_memory), from the
        # weight shapes alone
        parameters, _ = family.training_memory(encoder, dict(config.hparams), 1, 1)
        limits.MEMORY.check(4 * parameters, 'its architecture of %s parameters (%s as '
                            'float32)' % ('{:,}'.format(parameters), limits.MEMORY.describe(
                                4 * parameters)))
    except MusekitError as e:
        raise MusekitError('bundle %s: %s' % (bundle.path, e)) from None
    except (KeyError, ValueError, TypeError, AttributeError, ZeroDivisionError) as e:
        raise MusekitError('bundle %s has a config musekit cannot build: %s: %s'
                           % (bundle.path, type(e).__name__, e)) from None


def check_finite(weights):
    """Raises MusekitError naming the first weight (by name) holding NaN or infinity: a
    model with one would generate noise, or nothing, without a word."""
    for name in sorted(weights):
        array = weights[name]
        if array.dtype.kind == 'f' and not np.isfinite(array).all():
            where = np.flatnonzero(~np.isfinite(array))[0]
            raise MusekitError('weight %s holds %s (at flat index %d): not a trained model'
                               % (name, array.ravel()[where], where))


def _tensor_array(tensor, path):
    if tensor.dtype not in DTYPES:
        raise MusekitError('bundle %s: weight %r has dtype %r; allowed: %s'
                           % (path, tensor.name, tensor.dtype, ', '.join(DTYPES)))
    shape = tuple(tensor.shape)
    dtype = np.dtype(DTYPES[tensor.dtype])
    count = 1
    for dim in shape:
        if dim < 0:
            raise MusekitError('bundle %s: weight %r has a negative dimension in shape %s'
                               % (path, tensor.name, list(shape)))
        count *= dim
    if count * dtype.itemsize != len(tensor.data):
        raise MusekitError('bundle %s: weight %r of shape %s and dtype %s needs %d bytes, '
                           'has %d' % (path, tensor.name, list(shape), tensor.dtype,
                                       count * dtype.itemsize, len(tensor.data)))
    return np.frombuffer(tensor.data, dtype).astype(tensor.dtype).reshape(shape)


def _from_magenta(data, path):
    """A Magenta .mag bundle converted in memory (musekit.magenta.bundle)."""
    from musekit.config import Config
    from musekit.magenta.bundle import convert
    config, weights, provenance = convert(data, path)
    try:
        check_finite(weights)       # refused at load: nothing gains from importing it
    except MusekitError as e:
        raise MusekitError('%s: %s' % (path, e)) from None
    bundle = Bundle(FORMAT_VERSION, Config.from_dict(config), weights, provenance, path)
    check_buildable(bundle)
    return bundle


def _foreign_file_message(data, path):
    if not data:
        return 'bundle %s is an empty file, not a musekit bundle' % path
    if MAGIC.startswith(data):
        return 'bundle %s is truncated (it ends inside the musekit header)' % path
    if path.lower().endswith('.mag'):
        return ('%s is not a readable Magenta bundle: it does not parse as a GeneratorBundle '
                '(truncated or altered?)' % path)
    return '%s is not a musekit bundle (it does not start with %s)' % (
        path, MAGIC.strip().decode())
