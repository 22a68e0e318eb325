"""Name -> plugin registries for encoders, models, extractors and configs.

Built-in plugins register themselves when their module is imported; the registry imports
every module of its built-in package on first use, and third-party packages add plugins
through the setuptools entry-point group ``musekit.plugins`` (each entry point names a
module to import, or a callable to call, that registers what it brings).
"""
import importlib
import importlib.metadata
import pkgutil
import threading

from musekit.errors import UnknownNameError

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


class Registry:
    """Plugins of one kind, by name; `get` on an unknown name lists the known ones."""

    def __init__(self, kind, builtin_package=None):
        self.kind = kind
        self._builtin_package = builtin_package
        self._builtins_loaded = builtin_package is None
        self._items = {}

    def register(self, name, obj=None):
        """Registers `obj` under `name`; used bare as a decorator: `@REG.register('x')`."""
        if obj is None:
            return lambda o: self.register(name, o)
        with _lock:
            if name in self._items and self._items[name] is not obj:
                raise ValueError('%s %r is registered twice' % (self.kind, name))
            self._items[name] = obj
        return obj

    def _ensure_loaded(self):
        with _lock:
            if not self._builtins_loaded:
                self._builtins_loaded = True
                package = importlib.import_module(self._builtin_package)
                for info in pkgutil.iter_modules(package.__path__):
                    if not info.name.startswith('_'):
                        importlib.import_module('%s.%s' % (self._builtin_package, info.name))
        _load_entry_points()

    def get(self, name):
        self._ensure_loaded()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError('unknown %s %r; known: %s' % (
                self.kind, name, ', '.join(self.names()) or '(none)')) from None

    def names(self):
        self._ensure_loaded()
        return sorted(self._items)

    def __contains__(self, name):
        self._ensure_loaded()
        return name in self._items


ENCODERS = Registry('encoder', 'musekit.encoders')
EXTRACTORS = Registry('extractor', 'musekit.extractors')
MODELS = Registry('model', 'musekit.models')
MODELS = Registry('model', 'musekit.models')
