"""Name -> plugin registries: encoders, extractors, model families, piece types, splits,
configs.

A plugin registers itself when its module is imported. A registry imports every module
of its built-in package on first lookup, and third-party packages add plugins through the
setuptools entry-point group ``musekit.plugins`` (each entry point names a module to
import, or a callable to call, that registers what it brings).

Each entry point is loaded on its own, once: one that fails (its import or its call raises)
is one line on stderr naming it and its error, and the others still load
(`plugin_failures` keeps what failed).

A registry that names a base class refuses anything else, gives each registered class its
``name``, and builds instances from a params dict checked against the constructor's
signature (the plugin's schema), so a typo in a config is one clear line. It refuses a
class that leaves abstract methods out, or stubs several with one function; a registry's
`capabilities` let a class declare one off (e.g. ``trainable = False``) instead, and the
methods that capability needs then refuse in one line.
"""
import abc
import importlib
import importlib.metadata
import inspect
import pkgutil
import sys
import threading

from musekit.errors import MusekitError, UnknownNameError

ENTRY_POINT_GROUP = 'musekit.plugins'

_entry_points = None            # the group's entry points, listed on the first lookup
_entry_point_outcomes = {}      # 'name = value' -> 'loading', 'loaded' or its error line
_lock = threading.RLock()


def _entry_point_key(ep):
    return '%s = %s' % (ep.name, ep.value)


def _error_line(error):
    lines = str(error).strip().splitlines()
    return '%s: %s' % (type(error).__name__, lines[0]) if lines else type(error).__name__


def _load_entry_points():
    """Imports (or calls) every entry point not tried yet. A plugin that looks a registry up
    while it loads finds the plugins before it and loads those after it."""
    global _entry_points
    with _lock:
        if _entry_points is None:
            _entry_points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        for ep in _entry_points:
            key = _entry_point_key(ep)
            if key in _entry_point_outcomes:
                continue
            _entry_point_outcomes[key] = 'loading'
            try:
                obj = ep.load()
                if callable(obj):
                    obj()
            except Exception as e:      # noqa: BLE001 -- any plugin bug is that plugin's line
                _entry_point_outcomes[key] = _error_line(e)
                print('musekit: plugin %s (entry point %s) failed to load and is skipped: %s'
                      % (ep.name, key, _error_line(e)), file=sys.stderr, flush=True)
            else:
                _entry_point_outcomes[key] = 'loaded'


def plugin_failures():
    """{entry point 'name = module[:attr]': its error line} of the plugins that failed to
    load (after loading every entry point not tried yet)."""
    _load_entry_points()
    return {key: outcome for key, outcome in _entry_point_outcomes.items()
            if outcome not in ('loading', 'loaded')}


def import_package(package_name):
    """Imports `package_name` and every public module in it (plugins register themselves)."""
    package = importlib.import_module(package_name)
    for info in pkgutil.iter_modules(getattr(package, '__path__', [])):
        if not info.name.startswith('_'):
            importlib.import_module('%s.%s' % (package_name, info.name))


def _resolve(path):
    module, _, attr = path.partition(':')
    return getattr(importlib.import_module(module), attr)


def _refuser(kind, capability, method):
    def refuse(self, *args, **kwargs):
        raise MusekitError('%s %s has no %s: it declares %s = False'
                           % (kind, self.name, method, capability))
    refuse.__name__ = refuse.__qualname__ = method
    refuse.refuses_for = capability
    return refuse


class Registry:
    """Plugins of one kind, by name; `get` on an unknown name lists the known ones.

    `base` ('module:Class', resolved on first registration) is the class every plugin
    must subclass; `builtins` is a package whose modules are imported on first lookup,
    or a callable that registers the built-in plugins. `capabilities` maps a boolean class
    attribute of the base (e.g. 'trainable') to the methods only that capability needs: a
    plugin that sets it False leaves those out.
    """

    def __init__(self, kind, base=None, builtins=None, capabilities=None):
        self.kind = kind
        self._base = base
        self._capabilities = dict(capabilities or {})
        self._builtins = builtins
        self._builtins_loaded = builtins is None
        self._items = {}
        self._aliases = {}

    @property
    def base(self):
        if isinstance(self._base, str):
            self._base = _resolve(self._base)
        return self._base

    def register(self, name, obj=None):
        """Registers `obj` under `name`; used bare as a decorator: `@REG.register('x')`."""
        if obj is None:
            return lambda o: self.register(name, o)
        if not isinstance(name, str) or not name:
            raise ValueError('a %s name is a non-empty string, not %r' % (self.kind, name))
        base = self.base
        if base is not None:
            if not (inspect.isclass(obj) and issubclass(obj, base)):
                raise TypeError('%s %r must be a subclass of %s.%s, not %r'
                                % (self.kind, name, base.__module__, base.__qualname__, obj))
            self._check_methods(name, obj, base)
        with _lock:
            if name in self._items and self._items[name] is not obj:
                raise ValueError('%s %r is registered twice' % (self.kind, name))
            self._items[name] = obj
            if base is not None:
                obj.name = name
        return obj

    def _check_methods(self, name, obj, base):
        """Refuses a plugin class that leaves an abstract method out or stubs several with
        one function; methods of a capability it declares off become one-line refusals."""
        label = '%s %r (%s)' % (self.kind, name, obj.__qualname__)
        abstract = set(getattr(obj, '__abstractmethods__', ()))
        excused = {}
        for capability, methods in self._capabilities.items():
            value = getattr(obj, capability, True)
            if not isinstance(value, bool):
                raise TypeError('%s declares %s = %r; it is True or False'
                                % (label, capability, value))
            own = {m for m in methods if getattr(obj, m) is not getattr(base, m)
                   and not hasattr(getattr(obj, m), 'refuses_for')}
            if value:
                inherited = sorted(m for m in methods
                                   if hasattr(getattr(obj, m), 'refuses_for'))
                if inherited:       # from a class that declared the capability off
                    raise TypeError('%s declares %s = True but does not define %s'
                                    % (label, capability, ', '.join(inherited)))
                continue
            defined = sorted(own)
            if defined:
                raise TypeError('%s declares %s = False yet defines %s'
                                % (label, capability, ', '.join(defined)))
            excused.update((m, capability) for m in methods)
        missing = sorted(abstract - set(excused))
        if missing:
            raise TypeError('%s leaves abstract methods unimplemented: %s'
                            % (label, ', '.join(missing)))
        required = set(getattr(base, '__abstractmethods__', ())) \
            | {m for methods in self._capabilities.values() for m in methods}
        by_function = {}
        for method in sorted(required - set(excused)):
            function = inspect.getattr_static(obj, method)
            by_function.setdefault(id(function), []).append(method)
        stubbed = [methods for methods in by_function.values() if len(methods) > 1]
        if stubbed:
            raise TypeError('%s stubs %s with one function; a %s that lacks a capability '
                            'declares it off (%s)'
                            % (label, ' and '.join(', '.join(m) for m in stubbed), self.kind,
                               ', '.join('%s = False' % c for c in self._capabilities)
                               or 'this registry has none'))
        for method, capability in excused.items():
            if method in abstract:
                setattr(obj, method, _refuser(self.kind, capability, method))
        abc.update_abstractmethods(obj)

    def alias(self, old_name, name):
        """Makes `old_name` (a name that files written earlier may hold) find `name`."""
        with _lock:
            if old_name in self._items or self._aliases.get(old_name, name) != name:
                raise ValueError('%s %r is registered twice' % (self.kind, old_name))
            self._aliases[old_name] = name

    def _ensure_loaded(self):
        with _lock:
            if not self._builtins_loaded:
                self._builtins_loaded = True
                if callable(self._builtins):
                    self._builtins()
                else:
                    import_package(self._builtins)
        _load_entry_points()

    def get(self, name):
        self._ensure_loaded()
        try:
            return self._items[self._aliases.get(name, name)]
        except KeyError:
            failed = plugin_failures()
            raise UnknownNameError('unknown %s %r; known: %s%s' % (
                self.kind, name, ', '.join(self.names()) or '(none)',
                '; plugins that failed to load: %s' % ', '.join(sorted(failed))
                if failed else '')) from None

    def create(self, name, params=None):
        """An instance of the plugin `name` built from `params` (a dict of its constructor's
        keyword arguments); unknown or missing parameters are one MusekitError line."""
        cls = self.get(name)
        if not isinstance(params or {}, dict):
            raise MusekitError('bad parameters for %s %r: a JSON object of name: value, not %r'
                               % (self.kind, name, params))
        params = dict(params or {})
        from musekit import params as declared
        if inspect.isclass(cls) and issubclass(cls, declared.Declared) \
                and cls.Params is not declared.NoParams:
            # checked against its declaration: each field's type, bounds and help
            try:
                bound = declared.bind(cls.Params, params, 'parameter')
            except MusekitError as e:
                raise MusekitError('bad parameters for %s %r: %s' % (self.kind, name, e)) \
                    from None
            return cls(**declared.as_dict(bound))
        signature = inspect.signature(cls)
        accepts_any = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
        unknown = sorted(set(params) - set(signature.parameters))
        if unknown and not accepts_any:
            raise MusekitError('bad parameters for %s %r: unknown %s; it takes %s' % (
                self.kind, name, ', '.join(unknown),
                ', '.join(signature.parameters) or 'no parameters'))
        try:
            signature.bind(**params)
        except TypeError as e:
            raise MusekitError('bad parameters for %s %r: %s' % (self.kind, name, e)) from None
        return cls(**params)

    def names(self):
        self._ensure_loaded()
        return sorted(self._items)

    def __contains__(self, name):
        self._ensure_loaded()
        return self._aliases.get(name, name) in self._items


ENCODERS = Registry('encoder', 'musekit.encoders.base:Encoder', 'musekit.encoders')
EXTRACTORS = Registry('extractor', 'musekit.extractors.base:Extractor', 'musekit.extractors')
MODELS = Registry('model family', 'musekit.models.base:ModelFamily', 'musekit.models',
                  capabilities={'trainable': ('build', 'objective', 'weight_variables')})
PIECES = Registry('piece type', 'musekit.pieces.base:PieceType', 'musekit.pieces')
SPLITS = Registry('split', 'musekit.data.splits:Split', 'musekit.data.splits')
READERS = Registry('reader', 'musekit.pipelines.readers:Reader', 'musekit.pipelines.readers')
