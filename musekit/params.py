"""Typed, declared parameters: each plugin's parameters are one dataclass whose fields carry
type, default, bounds and a line of help, so validation, listings and refusal messages all
come from one declaration (as fairseq binds a dataclass at `register_model`).

    @dataclasses.dataclass
    class Hparams(TrainingHparams):
        rnn_layer_sizes: list[int] = param([128, 128], 'LSTM widths', min=1, architecture=True)
        dropout_rate: float = param(0.5, 'dropout on each layer output', min=0.0, below=1.0)

`bind(Hparams, {'dropout_rate': 2}, 'hparam')` raises one MusekitError line naming the
field, its type and its bounds; `describe(Hparams, values)` lists them for a user.
"""
import copy
import dataclasses
import math
import numbers
import reprlib
import types
import typing

from musekit.errors import MusekitError

_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxlevel = 40, 40, 8, 2


def param(default, help, *, min=None, max=None, above=None, below=None, min_items=None,
          max_items=None, infinite=False, architecture=False):
    """A declared field: `default` (copied per instance), one line of `help`, inclusive
    bounds `min`/`max` (`above`/`below`: exclusive ones) that apply to a number or to each
    item of a list, `min_items`/`max_items` for a list, `infinite`: a float may be +-inf
    (never NaN), and `architecture`: the value fixes the weights' shapes."""
    metadata = {'help': help, 'min': min, 'max': max, 'above': above, 'below': below,
                'min_items': min_items, 'max_items': max_items, 'infinite': infinite,
                'architecture': architecture}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One declared field, read off a params dataclass."""
    name: str
    type: object
    default: object
    help: str
    min: object = None
    max: object = None
    above: object = None
    below: object = None
    min_items: object = None
    max_items: object = None
    infinite: bool = False
    architecture: bool = False

    def type_text(self):
        return _type_text(self.type)

    def bounds_text(self):
        parts = []
        if self.min is not None:
            parts.append('>= %s' % self.min)
        if self.above is not None:
            parts.append('> %s' % self.above)
        if self.max is not None:
            parts.append('<= %s' % self.max)
        if self.below is not None:
            parts.append('< %s' % self.below)
        return ', '.join(parts)

    def expected(self):
        """'list of int (each >= 1)' or 'float >= 0.0, < 1.0': what a refusal says."""
        choices = _choices(self.type)
        if choices:
            text = 'one of %s' % ', '.join(repr(c) for c in choices)
            return text + ' or null' if _optional_inner(self.type) is not None else text
        bounds = self.bounds_text()
        if _optional_inner(self.type) is not None and _list_item(self.type) is None:
            return '%s or null' % ' '.join(filter(None, (_type_text(_optional_inner(
                self.type)), bounds)))
        if not bounds and not self.min_items and not self.max_items:
            return self.type_text()
        if _list_item(self.type) is None:
            return '%s %s' % (self.type_text(), bounds)
        text = '%s (each %s)' % (self.type_text(), bounds) if bounds else self.type_text()
        if self.min_items and self.max_items:
            text += ', %d to %d items' % (self.min_items, self.max_items)
        elif self.min_items:
            text += ', at least %d item%s' % (self.min_items, 's' if self.min_items > 1 else '')
        elif self.max_items:
            text += ', at most %d items' % self.max_items
        return text


def specs(params_class):
    """[Spec] of every field of the dataclass `params_class`, in declaration order."""
    hints = typing.get_type_hints(params_class)
    out = []
    for field in dataclasses.fields(params_class):
        meta = field.metadata
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = dataclasses.MISSING
        out.append(Spec(field.name, hints[field.name], default, meta.get('help', ''),
                        meta.get('min'), meta.get('max'), meta.get('above'), meta.get('below'),
                        meta.get('min_items'), meta.get('max_items'),
                        bool(meta.get('infinite')), bool(meta.get('architecture'))))
    return out


def architecture_names(params_class):
    """Names of the fields declared with `architecture=True`."""
    return tuple(s.name for s in specs(params_class) if s.architecture)


def bind(params_class, values, what, owner=''):
    """An instance of `params_class` from the dict `values` (missing fields take their
    defaults); any unknown name, wrong type or out-of-bounds value is one MusekitError
    naming the field, its type and bounds. `what` ('hparam') and `owner` ("for config
    'x'") word the message."""
    if not isinstance(values, (dict, types.MappingProxyType)):
        raise MusekitError('%s values%s must be a JSON object of name: value, not %s'
                           % (what, _owner(owner), type(values).__name__))
    known = {s.name: s for s in specs(params_class)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise MusekitError('unknown %s %r%s; known: %s' % (
            what, unknown[0], _owner(owner), ', '.join(sorted(known)) or '(none)'))
    kwargs = {}
    for name, spec in known.items():
        if name in values:
            kwargs[name] = check_value(spec, values[name], what, owner)
        elif spec.default is dataclasses.MISSING:
            raise MusekitError('%s %s%s is required: %s' % (what, name, _owner(owner),
                                                           spec.expected()))
    return params_class(**kwargs)


def check_value(spec, value, what='hparam', owner=''):
    """`value` converted to the field's type (an int for a float field becomes a float,
    a tuple for a list becomes a list), or one MusekitError line."""
    converted = _convert(spec.type, value)
    if converted is _BAD or not _in_bounds(spec, converted):
        raise MusekitError('%s %s=%s%s: expected %s' % (what, spec.name, _REPR.repr(value),
                                                        _owner(owner), spec.expected()))
    return converted


def as_dict(instance):
    """The plain JSON-ready dict of a params instance (lists stay lists)."""
    return {f.name: copy.deepcopy(getattr(instance, f.name))
            for f in dataclasses.fields(instance)}


def describe(params_class, values=None, title=''):
    """Lines listing every field: name, type and bounds, value (and default where the
    value differs), help; for `--hparams=help` and `musekit_config show`."""
    values = values or {}
    rows = []
    for spec in specs(params_class):
        value = values.get(spec.name, spec.default)
        shown = _plain(value)
        if spec.name in values and value != spec.default:
            shown += ' (default %s)' % _plain(spec.default)
        rows.append(('%s: %s' % (spec.name, spec.expected()), shown, spec.help))
    width = max([len(r[0]) for r in rows] + [10])
    lines = [title] if title else []
    for left, shown, help_text in rows:
        lines.append('  %-*s = %s' % (width, left, shown))
        if help_text:
            lines.append('  %-*s   %s' % (width, '', help_text))
    return lines


_BAD = object()


def _plain(value):
    import json
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def _owner(owner):
    return ' ' + owner if owner else ''


def _optional_inner(tp):
    """X for Optional[X] (X | None), else None."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else None
    return None


def _list_item(tp):
    inner = _optional_inner(tp)
    tp = inner if inner is not None else tp
    if typing.get_origin(tp) is list:
        return typing.get_args(tp)[0]
    return None


def _choices(tp):
    inner = _optional_inner(tp)
    tp = inner if inner is not None else tp
    if typing.get_origin(tp) is typing.Literal:
        return typing.get_args(tp)
    return ()


def _type_text(tp):
    inner = _optional_inner(tp)
    if inner is not None:
        return '%s or null' % _type_text(inner)
    if typing.get_origin(tp) is list:
        return 'list of %s' % _type_text(typing.get_args(tp)[0])
    if typing.get_origin(tp) is typing.Literal:
        kinds = {type(c).__name__ for c in typing.get_args(tp)}
        return kinds.pop() if len(kinds) == 1 else 'value'
    return getattr(tp, '__name__', str(tp))


def _convert(tp, value):
    inner = _optional_inner(tp)
    if inner is not None:
        return None if value is None else _convert(inner, value)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        for choice in typing.get_args(tp):
            if type(value) is type(choice) and value == choice:
                return value
        return _BAD
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return _BAD
        item = typing.get_args(tp)[0]
        out = [_convert(item, v) for v in value]
        return _BAD if any(v is _BAD for v in out) else out
    if tp is bool:
        return value if isinstance(value, bool) else _BAD
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return _BAD
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return _BAD
        value = float(value)
        return _BAD if math.isnan(value) else value
    if tp is str:
        return value if isinstance(value, str) else _BAD
    if tp is dict:
        return dict(value) if isinstance(value, (dict, types.MappingProxyType)) else _BAD
    return value if isinstance(value, tp) else _BAD


def _in_bounds(spec, value):
    if value is None:
        return True
    items = value if isinstance(value, list) else [value]
    if not spec.infinite and any(isinstance(v, float) and math.isinf(v) for v in items):
        return False
    if isinstance(value, list) and (len(value) < (spec.min_items or 0) or (
            spec.max_items is not None and len(value) > spec.max_items)):
        return False
    for item in items:
        if not isinstance(item, numbers.Real) or isinstance(item, bool):
            continue
        if spec.min is not None and item < spec.min:
            return False
        if spec.max is not None and item > spec.max:
            return False
        if spec.above is not None and item <= spec.above:
            return False
        if spec.below is not None and item >= spec.below:
            return False
    return True


@dataclasses.dataclass
class NoParams:
    """The parameters of a plugin that takes none."""


class Declared:
    """Base of a plugin whose parameters are its `Params` dataclass: the constructor takes
    the fields (by keyword, or in declaration order; missing ones take their declared
    defaults), checks them, and keeps each as an attribute of the same name; `params()`
    gives them back as a plain dict.

    A subclass with checks across fields or derived attributes extends `__init__`, calling
    `super().__init__(*args, **values)` first.
    """

    Params = NoParams
    parameter_owner = 'plugin'     # how refusals name the plugin kind ('encoder', ...)

    def __init__(self, *args, **values):
        owner = '%s %r' % (self.parameter_owner, getattr(self, 'name', None)
                           or type(self).__name__)
        names = [spec.name for spec in specs(self.Params)]
        if len(args) > len(names):
            raise MusekitError('%s takes %d parameters, not %d'
                               % (owner, len(names), len(args)))
        for name, value in zip(names, args):
            if name in values:
                raise MusekitError('%s: parameter %s given twice' % (owner, name))
            values[name] = value
        bound = bind(self.Params, values, 'parameter', 'of ' + owner)
        for name, value in as_dict(bound).items():
            setattr(self, name, value)

    def params(self):
        """{name: value} of every declared parameter: what rebuilds this plugin."""
        return {spec.name: copy.deepcopy(getattr(self, spec.name))
                for spec in specs(self.Params)}
