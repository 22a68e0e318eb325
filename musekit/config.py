"""Named configs: encoder + model family + hparams + data settings, from JSON data files.

Configs are immutable values: `with_hparams` returns a new one, so nothing shares a
mutable config. Built-in configs are the JSON files packaged as `musekit.configs`; a
plugin adds its own with `CONFIGS.register(name, X)`, X a dict, JSON text or a .json path.
"""
import dataclasses
import json
import os
import re
import types
from importlib import resources

from musekit.errors import MusekitError
from musekit.registry import Registry



def _freeze(value):
    if isinstance(value, dict):
        return types.MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value):
    if isinstance(value, types.MappingProxyType | dict):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class Config:
    """A complete, self-describing recipe: what to extract, how to encode, what to train."""
    name: str
    description: str
    encoder: types.MappingProxyType      # {'name': ..., 'params': {...}}
    model: types.MappingProxyType        # {'name': ...}
    hparams: types.MappingProxyType      # model + training hyperparameters, one namespace,
    #                                      every hparam the model family declares
    data: types.MappingProxyType         # {'extractor': ..., 'params': {...}, 'split': {...}}
    # the hparams the config names (its JSON and overrides): what to_dict writes, so a
    # config (a bundle's, a run's) reads and writes back the same bytes
    named_hparams: tuple = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise MusekitError('a config is a JSON object, not %s' % type(d).__name__)
        missing = [k for k in ('name', 'encoder', 'model', 'hparams', 'data') if k not in d]
        if missing:
            raise MusekitError('config %r lacks %s' % (d.get('name', '?'), ', '.join(missing)))
        _check_shape(d)
        from musekit.models.base import get_model
        hparams = get_model(d['model']['name']).resolve_hparams(
            d['hparams'], 'for config %r' % d['name'])
        return cls(name=d['name'], description=d.get('description', ''),
                   encoder=_freeze(d['encoder']), model=_freeze(d['model']),
                   hparams=_freeze(hparams), data=_freeze(d['data']),
                   named_hparams=tuple(d['hparams']))

    def to_dict(self, all_hparams=False):
        """The config as JSON-ready data: the hparams it names, or with `all_hparams` every
        one its model family declares."""
        hparams = _thaw(self.hparams)
        if self.named_hparams is not None and not all_hparams:
            hparams = {k: v for k, v in hparams.items() if k in self.named_hparams}
        return {'name': self.name, 'description': self.description,
                'encoder': _thaw(self.encoder), 'model': _thaw(self.model),
                'hparams': hparams, 'data': _thaw(self.data)}

    def with_hparams(self, overrides):
        """A new Config with `overrides` (a dict, or a string 'a=1,b=[2,3]') applied: any
        hparam its model family declares, checked against its declaration."""
        if isinstance(overrides, str):
            overrides = parse_hparams(overrides)
        hparams = {**_thaw(self.hparams), **overrides}
        hparams = self.make_model().resolve_hparams(hparams, 'for config %r' % self.name)
        named = None if self.named_hparams is None else tuple(
            dict.fromkeys(self.named_hparams + tuple(overrides)))
        return dataclasses.replace(self, hparams=_freeze(hparams), named_hparams=named)

    def with_encoder_params(self, params):
        """A new Config whose encoder (same name) has `params`: e.g. fitted to data."""
        return dataclasses.replace(self, encoder=_freeze({'name': self.encoder['name'],
                                                          'params': params}))

    def describe(self):
        """Lines listing every declared parameter of the config's plugins and every hparam:
        value, type and bounds, default, help (`musekit_train --config=NAME --hparams=help`)."""
        from musekit import params
        lines = ['config %s: %s' % (self.name, self.description or '(no description)')]
        model = self.make_model()
        lines += params.describe(model.Hparams, _thaw(self.hparams),
                                 'hparams (model family %s; --hparams=name=value,...)'
                                 % model.name)
        for what, section, plugin in (
                ('encoder', 'encoder', self.make_encoder()),
                ('extractor', 'data', self.make_extractor()),
                ('split', 'data.split', self.make_split())):
            if isinstance(plugin, params.Declared):
                lines += params.describe(plugin.Params, plugin.params(), '%s %s (the '
                                         "config's %s)" % (what, plugin.name, section))
        return lines

    def make_encoder(self):
        from musekit.encoders.base import get_encoder
        return get_encoder(self.encoder['name'], _thaw(self.encoder.get('params', {})))

    def make_extractor(self):
        from musekit.extractors.base import get_extractor
        return get_extractor(self.data['extractor'], _thaw(self.data.get('params', {})))

    def make_model(self):
        """The config's model family (musekit.models.base.ModelFamily)."""
        from musekit.models.base import get_model
        return get_model(self.model['name'])

    def transpose_range(self):
        """The training-part transposition the config's model was trained with by default
        (data.transpose_range, [LOW, HIGH] semitones, as Magenta's pipelines do it), as the
        '-3,3' text of musekit_create_dataset's --transpose_range; '' when it names none."""
        value = _thaw(self.data.get('transpose_range'))
        if value is None:
            return ''
        if not (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                and -24 <= value[0] <= value[1] <= 24):
            raise MusekitError('config %r: data.transpose_range must be [LOW, HIGH], '
                               'integers with -24 <= LOW <= HIGH <= 24, not %r'
                               % (self.name, value))
        return '%d,%d' % tuple(value)

    def make_split(self):
        """The train/eval split the dataset job applies (data.split; a hash split of
        eval_ratio 0.1 by default)."""
        from musekit.registry import SPLITS
        spec = _thaw(self.data.get('split', {'name': 'hash'}))
        if not isinstance(spec, dict) or not isinstance(spec.get('name'), str) \
                or not isinstance(spec.get('params', {}), dict):
            raise MusekitError('config %r: data.split must be an object with a "name" and '
                               'optional "params" object' % self.name)
        return SPLITS.create(spec['name'], spec.get('params', {}))


def _check_shape(d):
    """Raises MusekitError unless `d` has the sections and name fields a Config needs."""
    name = d['name']
    if not isinstance(name, str) or not name:
        raise MusekitError('a config name is a non-empty string, not %r' % (name,))
    for section, key in (('encoder', 'name'), ('model', 'name'), ('hparams', None),
                         ('data', 'extractor')):
        value = d[section]
        if not isinstance(value, dict):
            raise MusekitError('config %r: %s must be a JSON object, not %s'
                               % (name, section, type(value).__name__))
        if key and not isinstance(value.get(key), str):
            raise MusekitError('config %r: %s needs a string %r' % (name, section, key))
        if not isinstance(value.get('params', {}), dict):
            raise MusekitError('config %r: %s params must be a JSON object' % (name, section))


_ITEM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\[[^\]]*\]|[^,\[\]]*)\s*(?:,|$)')


def parse_hparams(text):
    """'a=1,b=[2,3],c=0.5,d=true,e=name' -> dict; malformed text raises MusekitError."""
    text = text.strip()
    out, pos = {}, 0
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if not m or m.end() == pos:
            raise MusekitError('malformed --hparams %r near %r (expected name=value,...)'
                               % (text, text[pos:pos + 20]))
        out[m.group(1)] = _parse_value(m.group(2).strip(), text)
        pos = m.end()
    return out


def _parse_value(raw, text):
    if raw.lower() in ('true', 'false'):
        return raw.lower() == 'true'
    try:
        return json.loads(raw)
    except ValueError:
        if raw and re.fullmatch(r'[A-Za-z_][A-Za-z0-9_.-]*', raw):
            return raw
        raise MusekitError('malformed value %r in --hparams %r' % (raw, text)) from None


def _register_builtins():
    for entry in sorted(resources.files('musekit.configs').iterdir(), key=lambda e: e.name):
        if entry.name.endswith('.json'):
            CONFIGS.register(entry.name[:-len('.json')], entry.read_text())


CONFIGS = Registry('config', builtins=_register_builtins)


def config_names():
    return CONFIGS.names()


def get_config(name_or_path, hparams=None):
    """The config called `name_or_path` (or read from a .json path), with hparam overrides."""
    if name_or_path.endswith('.json') and os.path.isfile(name_or_path):
        with open(name_or_path) as f:
            raw = f.read()
    else:
        raw = CONFIGS.get(name_or_path)
        if isinstance(raw, str) and raw.endswith('.json') and os.path.isfile(raw):
            with open(raw) as f:        # a plugin registered the path of its JSON file
                raw = f.read()
    try:
        d = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except ValueError as e:
        raise MusekitError('config %r is not valid JSON: %s' % (name_or_path, e)) from None
    config = Config.from_dict(d)
    from musekit.encoders.base import check_contract
    check_contract(config.make_encoder())   # unknown plugins, bad parameters: one clear line
    if config.make_extractor().output_name == 'sequences':
        raise MusekitError("config %r: an extractor's output_name cannot be 'sequences' (the "
                           "dataset job counts records read as SPLIT_sequences)" % config.name)
    config.make_model()
    config.make_split()
    return config.with_hparams(hparams) if hparams else config
