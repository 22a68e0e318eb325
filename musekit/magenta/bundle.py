"""Magenta `.mag` generator bundles as musekit Bundles: the generator id picks musekit's
config of the same name, the TF1 checkpoint's weights are renamed and re-laid into
musekit's models, and the MetaGraphDef gives what the weights do not (an attention length).
Nothing is executed.

Each Magenta graph has its reader module here (`events_graph`: events_rnn_graph, every
event RNN; `rnn_nade_graph`: pianoroll_rnn_nade_graph), registered with `register_reader`
under the musekit model family its graph maps onto: a generator is read when musekit has a
config of its id on a family with a reader."""
import hashlib
import importlib
import os
import pkgutil

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from musekit.errors import MusekitError
from musekit.magenta.checkpoint import read_checkpoint

_F = descriptor_pb2.FieldDescriptorProto
READERS = {}            # model family -> reader(variables, generator bundle, config, path)
_loaded = False


def register_reader(family, generators=None):
    """Decorator: `reader(variables, generator_bundle, config, path)` reads the Magenta
    graph that maps onto the model family `family`; it returns (config dict, weights,
    their expected shapes, provenance entries; convert makes the weights contiguous
    float32) and raises KeyError (a missing variable),
    IndexError or ValueError where the checkpoint does not fit. `generators`: the Magenta
    generator ids that build this graph, where they are a closed set (None: any config of
    the family is one, as for the event RNNs)."""
    def decorate(reader):
        READERS[family] = reader
        reader.generators = None if generators is None else frozenset(generators)
        return reader
    return decorate


def readers():
    """{model family: reader}, the reader modules (`*_graph` here) imported on first use."""
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]):
            if info.name.endswith('_graph'):
                importlib.import_module('musekit.magenta.' + info.name)
        _loaded = True
    return READERS


def _generator_bundle_class():
    """Magenta's GeneratorBundle message (note_seq's generator.proto, the fields a bundle
    uses), in a private descriptor pool: importing note_seq would cost a second."""
    fd = descriptor_pb2.FileDescriptorProto(name='musekit/magenta_generator.proto',
                                            package='magenta', syntax='proto3')
    details = fd.message_type.add(name='GeneratorDetails')
    details.field.add(name='id', number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    details.field.add(name='description', number=2, type=_F.TYPE_STRING,
                      label=_F.LABEL_OPTIONAL)
    bundle = fd.message_type.add(name='GeneratorBundle')
    bundle.nested_type.add(name='BundleDetails').field.add(
        name='description', number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    for name, number, ftype, label, type_name in (
            ('generator_details', 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL,
             '.magenta.GeneratorDetails'),
            ('checkpoint_file', 2, _F.TYPE_BYTES, _F.LABEL_REPEATED, None),
            ('metagraph_file', 3, _F.TYPE_BYTES, _F.LABEL_OPTIONAL, None),
            ('bundle_details', 4, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL,
             '.magenta.GeneratorBundle.BundleDetails')):
        field = bundle.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName('magenta.GeneratorBundle'))


GeneratorBundle = _generator_bundle_class()


def parse_generator_bundle(data):
    """The Magenta GeneratorBundle in `data`, or None when `data` is not one."""
    try:
        bundle = GeneratorBundle.FromString(data)
    except (message.DecodeError, ValueError, UnicodeDecodeError):
        return None
    return bundle if bundle.generator_details.id else None


def magenta_config(generator):
    """musekit's config named as the Magenta generator id `generator`, when a reader maps a
    Magenta graph onto its model family; else None."""
    from musekit.config import config_names, get_config
    if generator not in config_names():     # a name only: never a path to a .json file
        return None
    config = get_config(generator)
    reader = readers().get(config.model['name'])
    if reader is None or (reader.generators is not None and generator not in reader.generators):
        return None
    return config


def supported_generators():
    """The Magenta generator ids musekit reads, in order: its configs on a family that
    some reader maps a Magenta graph onto."""
    from musekit.config import config_names
    return [name for name in sorted(config_names()) if magenta_config(name)]


def convert(data, path):
    """(config dict, weights, provenance) of a musekit bundle for the Magenta bundle whose
    bytes are `data` (read from `path`)."""
    from musekit.models.base import check_weights
    generator_bundle = parse_generator_bundle(data)
    if generator_bundle is None:
        raise MusekitError('%s is not a Magenta bundle (.mag)' % path)
    generator = generator_bundle.generator_details.id
    config = magenta_config(generator)
    if config is None:
        raise MusekitError('%s is a Magenta %r bundle; musekit reads Magenta bundles of %s'
                           % (path, generator, ', '.join(supported_generators())))
    if len(generator_bundle.checkpoint_file) != 1:
        raise MusekitError('%s holds %d checkpoint files; a Magenta bundle holds one'
                           % (path, len(generator_bundle.checkpoint_file)))
    variables = read_checkpoint(generator_bundle.checkpoint_file[0], path)
    encoder = config.make_encoder()
    try:
        config, weights, shapes, facts = readers()[config.model['name']](
            variables, generator_bundle, config, path)
    except KeyError as e:
        raise MusekitError('%s lacks the %s variable %s' % (path, generator, e)) from None
    except IndexError as e:
        raise MusekitError('%s has variables of the wrong rank: %s' % (path, e)) from None
    except ValueError as e:
        raise MusekitError('%s: %s' % (path, e)) from None
    weights = {k: np.ascontiguousarray(v, np.float32) for k, v in weights.items()}
    try:
        check_weights(weights, shapes, '%s %s model' % (generator, encoder.name))
    except MusekitError as e:
        raise MusekitError('%s does not fit Magenta\'s %s: %s' % (path, generator, e)) from None
    provenance = {
        'magenta_bundle': os.path.basename(path),
        'magenta_bundle_sha256': hashlib.sha256(data).hexdigest(),
        'generator_id': generator,
        'generator_description': generator_bundle.generator_details.description,
        'bundle_description': generator_bundle.bundle_details.description, **facts}
    return config, weights, {k: v for k, v in provenance.items() if v is not None}
