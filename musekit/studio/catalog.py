"""The bundles the studio offers (shipped ones, and the .musekit and Magenta .mag files of
--bundle_dir folders), each with its description, provenance and controls. Controls are
musekit_generate's flags, read from its common flag definitions and from the bundle's piece
type's declared flags, so a new piece type brings its controls with it."""
import dataclasses
import os
import sys
import threading

from absl import flags

from musekit.errors import MusekitError

# musekit_generate's common flags a page offers (the rest name files and folders, or
# batching, which the studio decides)
COMMON_CONTROLS = ('num_steps', 'num_outputs', 'temperature', 'top_k', 'beam_size',
                   'branch_factor', 'steps_per_iteration', 'seed')
# defaults the studio uses instead of musekit_generate's (a page shows outputs one by one)
STUDIO_DEFAULTS = {'num_outputs': 1}
# output flags the studio always turns on: every result gets its WAV and PNG
ALWAYS_ON = ('render_wav', 'plot')
BUNDLE_SUFFIXES = ('.musekit', '.mag')
_ABSL_KINDS = {'int': 'integer', 'float': 'float', 'string': 'string', 'bool': 'boolean'}
_BRIEF_ITEMS = 12           # provenance lists longer than this are cut for the page,
_BRIEF_KEYS = 40            # and dicts larger than this
_BRIEF_TEXT = 300


class UnknownBundle(MusekitError):
    """A request names no bundle of the catalog."""


@dataclasses.dataclass
class Entry:
    """One bundle on offer; `bundle` is the loaded musekit.bundle.Bundle."""
    id: str
    name: str
    path: str
    source: str             # 'shipped' or 'folder'
    format: str             # 'musekit' or 'mag'
    bundle: object
    piece_type: str
    controls: list
    _model: object = None
    _lock: object = dataclasses.field(default_factory=threading.Lock)

    def step_model(self):
        """The bundle's step model, built once (the server checks sampling options on it)."""
        with self._lock:
            if self._model is None:
                self._model = self.bundle.step_model()
            return self._model

    def to_json(self):
        return {'id': self.id, 'name': self.name, 'source': self.source,
                'format': self.format, 'piece_type': self.piece_type,
                'description': self.bundle.config.description or '',
                'provenance': brief(self.bundle.provenance), 'controls': self.controls}

    def control(self, name):
        return next((c for c in self.controls if c['name'] == name), None)


def brief(value, depth=0):
    """`value` (JSON) cut to what a page shows: long lists and dicts end in a '... (N more)'
    item, long strings in '...', deep nesting in '...'."""
    if depth > 4:
        return '...'
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k): brief(v, depth + 1) for k, v in items[:_BRIEF_KEYS]}
        if len(items) > _BRIEF_KEYS:
            out['...'] = '%d more' % (len(items) - _BRIEF_KEYS)
        return out
    if isinstance(value, (list, tuple)):
        out = [brief(v, depth + 1) for v in value[:_BRIEF_ITEMS]]
        if len(value) > _BRIEF_ITEMS:
            out.append('... (%d more)' % (len(value) - _BRIEF_ITEMS))
        return out
    if isinstance(value, str) and len(value) > _BRIEF_TEXT:
        return value[:_BRIEF_TEXT] + '...'
    return value


def common_controls():
    """Controls of musekit_generate's common flags, with its kinds, defaults and help."""
    from musekit.cli.generate import define_common_flags
    fv = flags.FlagValues()
    define_common_flags(fv)
    out = []
    for name in COMMON_CONTROLS:
        flag = fv[name]
        out.append({'name': name, 'kind': _ABSL_KINDS[flag.flag_type()],
                    'default': STUDIO_DEFAULTS.get(name, flag.default), 'help': flag.help})
    return out


def upload_flags():
    """{flag name: file suffixes} of the piece types' flags that name an input file (the
    page uploads one; the server keeps only these suffixes)."""
    from musekit.cli.generate import piece_flags
    return {name: owners[0][1].suffixes for name, owners in piece_flags().items()
            if owners[0][1].suffixes}


def piece_controls(piece_type, model_modes=lambda: ('sample',)):
    """Controls of a piece type's declared flags: uploads for those naming input files, a
    menu of `model_modes()` (the bundle's step model's) for those naming a sampling mode."""
    out = []
    for flag in piece_type.flags:
        if flag.name in ALWAYS_ON:
            continue
        control = {'name': flag.name, 'kind': flag.kind, 'default': flag.default,
                   'help': flag.help}
        if flag.suffixes:
            control.update(kind='file', default=None, accept=list(flag.suffixes))
        if flag.modes:
            control['choices'] = list(model_modes())
        out.append(control)
    return out


def takes_num_steps(piece):
    """Whether a piece type reads --num_steps (audio measures length in seconds and refuses
    it): asked of the piece type itself, as musekit_generate asks it, with its defaults."""
    defaults = {flag.name: flag.default for flag in piece.flags}
    try:
        piece.requested_length(1024, True)
        piece.primer(defaults)
        piece.num_steps(defaults, 1024, True)
    except MusekitError:
        return False
    return True


def make_entry(id, path, source):
    """The Entry of the bundle at `path`; a bad bundle is a MusekitError."""
    from musekit.bundle import load_bundle
    from musekit.pieces.base import get_piece_type
    bundle = load_bundle(path)
    encoder = bundle.make_encoder()
    piece_type = get_piece_type(encoder.piece_type)
    piece = piece_type(encoder, bundle.config.make_extractor())
    controls = [c for c in common_controls()
                if c['name'] != 'num_steps' or takes_num_steps(piece)]
    entry = Entry(id=id, name=bundle.config.name, path=path, source=source,
                  format='mag' if path.endswith('.mag') else 'musekit', bundle=bundle,
                  piece_type=piece_type.name, controls=controls)
    entry.controls += piece_controls(piece_type, lambda: entry.step_model().modes)
    return entry


def folder_bundles(folder):
    """Paths of the bundle files directly in `folder`, sorted."""
    if not os.path.isdir(folder):
        raise MusekitError('--bundle_dir %s is not a folder' % folder)
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder))
            if name.endswith(BUNDLE_SUFFIXES) and os.path.isfile(os.path.join(folder, name))]


class Catalog:
    """{id: Entry}: the shipped bundles under their shipped names, then each folder's files
    under their file names without suffix (made unique with '-2', '-3', ...). A file that
    is no bundle is left out with a line on stderr."""

    def __init__(self, bundle_dirs=(), shipped=True):
        from musekit.bundle import shipped_bundles
        self.entries = {}
        if shipped:
            for name, path in sorted(shipped_bundles().items()):
                self._add(name, path, 'shipped')
        for folder in bundle_dirs:
            for path in folder_bundles(folder):
                stem = os.path.splitext(os.path.basename(path))[0]
                id, n = stem, 1
                while id in self.entries:
                    n += 1
                    id = '%s-%d' % (stem, n)
                self._add(id, path, 'folder')

    def _add(self, id, path, source):
        try:
            self.entries[id] = make_entry(id, path, source)
        except MusekitError as e:
            print('musekit_studio: skipping %s: %s' % (path, e), file=sys.stderr)

    def get(self, id):
        entry = self.entries.get(id)
        if entry is None:
            raise UnknownBundle('no such bundle: %r (the studio has %s)' % (
                str(id)[:60], ', '.join(sorted(self.entries)) or 'none'))
        return entry

    def to_json(self):
        return {'bundles': [entry.to_json() for entry in self.entries.values()]}
