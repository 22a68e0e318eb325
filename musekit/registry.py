"""Name -> plugin registries: encoders, extractors, model families, piece types, splits,
configs.

A plugin registers itself when its module is imported. A registry imports every module
of its built-in package on first lookup, and third-party packages add plugins through the
setuptools entry-point group ``musekit.plugins`` (each entry point names a module to
import, or a callable to call, that registers what it brings).

A registry that names a base class refuses anything else, gives each registered class its
``name``, and builds instances from a params dict checked against the constructor's
signature (the plugin's schema), so a typo in a config is one clear line.
"""
import importlib
import importlib.metadata
import inspect
import pkgutil
import threading

from musekit.errors import MusekitError, UnknownNameError

ENTRY_POINT_GROUP = 'musekit.plugins'

_entry_points_loaded = False
_lock = threading.RLock()


def _load_entry_points():
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            obj = ep.load()
            if callable(obj):
                obj()


def import_package(package_name):
    """Imports `package_name` and every public module in it (plugins register themselves)."""
    package = importlib.import_module(package_name)
    for info in pkgutil.iter_modules(getattr(package, '__path__', [])):
        if not info.name.startswith('_'):
            importlib.import_module('%s.%s' % (package_name, info.name))


def _resolve(path):
    module, _, attr = path.partition(':')
    return getattr(importlib.import_module(module), attr)


class Registry:
    """Plugins of one kind, by name; `get` on an unknown name lists the known ones.

    `base` ('module:Class', resolved on first registration) is the class every plugin
    must subclass; `builtins` is a package whose modules are imported on first lookup,
    or a callable that registers the built-in plugins.
    """

    def __init__(self, kind, base=None, builtins=None):
        self.kind = kind
        self._base = base
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
            if inspect.isabstract(obj):
                raise TypeError('%s %r (%s) leaves abstract methods unimplemented: %s'
                                % (self.kind, name, obj.__qualname__,
                                   ', '.join(sorted(obj.__abstractmethods__))))
        with _lock:
            if name in self._items and self._items[name] is not obj:
                raise ValueError('%s %r is registered twice' % (self.kind, name))
            self._items[name] = obj
            if base is not None:
                obj.name = name
        return obj

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
            raise UnknownNameError('unknown %s %r; known: %s' % (
                self.kind, name, ', '.join(self.names()) or '(none)')) from None

    def create(self, name, params=None):
        """An instance of the plugin `name` built from `params` (a dict of its constructor's
        keyword arguments); unknown or missing parameters are one MusekitError line."""
        cls = self.get(name)
        if not isinstance(params or {}, dict):
            raise MusekitError('bad parameters for %s %r: a JSON object of name: value, not %r'
                               % (self.kind, name, params))
        params = dict(params or {})
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
MODELS = Registry('model family', 'musekit.models.base:ModelFamily', 'musekit.models')
PIECES = Registry('piece type', 'musekit.pieces.base:PieceType', 'musekit.pieces')
SPLITS = Registry('split', 'musekit.data.splits:Split', 'musekit.data.splits')
READERS = Registry('reader', 'musekit.pipelines.readers:Reader', 'musekit.pipelines.readers')
