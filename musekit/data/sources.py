"""Music files -> NoteSequences: finding inputs, bounded-size parsing, stable ids.

Every failure is a `BadInput` with a short reason, so a batch job can count it, list it in
its dead-letter file and go on.
"""
import dataclasses
import errno
import functools
import glob
import hashlib
import importlib.util
import io
import os
import re
import stat
import threading
import xml.etree.ElementTree as ET
import zipfile

from musekit import limits

MIDI_EXTENSIONS = ('.mid', '.midi')
MUSICXML_EXTENSIONS = ('.xml', '.musicxml', '.mxl')
ABC_EXTENSIONS = ('.abc',)
PIANO_ROLL_EXTENSIONS = ('.mat', '.pickle', '.pkl')   # the polyphonic benchmark files
SUPPORTED_EXTENSIONS = (MIDI_EXTENSIONS + MUSICXML_EXTENSIONS + ABC_EXTENSIONS
                        + PIANO_ROLL_EXTENSIONS)

_MUSICXML_MIME = 'application/vnd.recordare.musicxml+xml'
MUSIC21_PREFIX = 'music21:'


class BadInput(Exception):
    """A file that cannot become a NoteSequence; `reason` is a counter-friendly slug."""

    def __init__(self, reason, detail=''):
        super().__init__('%s: %s' % (reason, detail) if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Source:
    """One input file: where it is, its path relative to the input root, its collection."""
    path: str
    relpath: str
    collection: str


def music21_corpus_dir(name):
    """The folder of a music21 built-in corpus collection (e.g. 'bach'), found without
    importing music21 (which is slow to import)."""
    spec = importlib.util.find_spec('music21')
    if spec is None or not spec.origin:
        from musekit.errors import MusekitError
        raise MusekitError('music21 is not installed, so %s%s is unavailable'
                           % (MUSIC21_PREFIX, name))
    root = os.path.join(os.path.dirname(spec.origin), 'corpus')
    path = os.path.join(root, name)
    if not name or os.sep in name or not os.path.isdir(path):
        from musekit.errors import MusekitError
        known = sorted(d for d in os.listdir(root)
                       if os.path.isdir(os.path.join(root, d)) and not d.startswith('_'))
        raise MusekitError('unknown music21 corpus collection %r; known: %s'
                           % (name, ', '.join(known)))
    return path


def list_sources(spec):
    """Input files for `spec`: a folder (walked recursively), a file, a glob of files, or
    ``music21:NAME`` (a collection of music21's built-in corpus, e.g. music21:bach).

    Every entry that is not a folder is listed (sorted), supported or not, regular file
    or not (FIFOs, sockets, devices, broken or looping links, links to folders, which are
    not followed), so the jobs can count each one they skip. Raises MusekitError when
    nothing matches.
    """
    from musekit.errors import MusekitError
    if spec.startswith(MUSIC21_PREFIX):
        name = spec[len(MUSIC21_PREFIX):]
        root = music21_corpus_dir(name)
        return _walk(root, collection=name)
    if os.path.isdir(spec):
        return _walk(spec, collection=os.path.basename(os.path.normpath(spec)))
    if os.path.isfile(spec):
        return [Source(spec, os.path.basename(spec), os.path.basename(os.path.dirname(
            os.path.abspath(spec))))]
    matches = sorted(p for p in glob.glob(spec, recursive=True) if not os.path.isdir(p)
                     or os.path.islink(p))
    if not matches:
        raise MusekitError('no input files found at %r' % spec)
    return [Source(p, os.path.basename(p), os.path.basename(os.path.dirname(
        os.path.abspath(p)))) for p in matches]


def _walk(root, collection):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        linked = [name for name in dirnames if os.path.islink(os.path.join(dirpath, name))]
        for name in sorted(filenames + linked):
            path = os.path.join(dirpath, name)
            out.append(Source(path, os.path.relpath(path, root).replace(os.sep, '/'),
                              collection))
    return out


def check_regular(path):
    """Raises BadInput (not_a_regular_file) unless `path` is a regular file (or a link to
    one), without opening it: opening a FIFO would wait for a writer forever."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        what = ('a link that loops' if e.errno == errno.ELOOP else 'a broken link'
                if os.path.islink(path) else None)
        if what:
            raise BadInput('not_a_regular_file', what) from None
        raise BadInput('unreadable', e.strerror or str(e)) from None
    if not stat.S_ISREG(mode):
        what = ('a folder behind a link, not followed' if stat.S_ISDIR(mode) else
                'a FIFO' if stat.S_ISFIFO(mode) else 'a socket' if stat.S_ISSOCK(mode) else
                'a device' if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else 'not a file')
        raise BadInput('not_a_regular_file', what)


def printable(path):
    """`path` as text that any file or message can hold: bytes of a name that are not
    UTF-8 (kept by Python as surrogate escapes) shown as U+FFFD."""
    return os.fsencode(path).decode('utf-8', 'replace')


def is_supported(path):
    return path.lower().endswith(SUPPORTED_EXTENSIONS)


def sequence_id(source, content, index=None):
    """Stable id from the file's relative path and its bytes (and a tune index for ABC)."""
    return _piece_id(source, _kind(source.path), [content], index)


def file_id(source, kind, chunk_bytes=1 << 20):
    """The id sequence_id gives a file of `kind` (e.g. 'audio'), its bytes read in chunks
    so a large file is never held whole; raises OSError when it cannot be read."""
    with open(source.path, 'rb') as f:
        return _piece_id(source, kind, iter(lambda: f.read(chunk_bytes), b''))


def _piece_id(source, kind, chunks, index=None):
    # the name's own bytes: the UTF-8 of a UTF-8 name, the raw bytes of any other
    digest = hashlib.sha256(os.fsencode(source.relpath) + b'\0')
    for chunk in chunks:
        digest.update(chunk)
    # the collection (the input folder's name) as printable text: an id is a proto string
    base = '/id/%s/%s/%s' % (kind, printable(source.collection), digest.hexdigest()[:32])
    return base if index is None else '%s/%s' % (base, index)


def _kind(path):
    lower = path.lower()
    if lower.endswith(MIDI_EXTENSIONS):
        return 'midi'
    if lower.endswith(MUSICXML_EXTENSIONS):
        return 'musicxml'
    if lower.endswith(PIANO_ROLL_EXTENSIONS):
        return 'pianoroll'
    return 'abc'


def read_bounded(path, limit=None):
    """The bytes of `path`, or BadInput when it is empty, larger than `limit` (default: the
    MUSEKIT_MAX_FILE_BYTES limit, read at call time) or unreadable."""
    if limit is None:
        limit = limits.MAX_FILE_BYTES.value()
    check_regular(path)
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise BadInput('file_too_large', '%d bytes > limit %d' % (size, limit))
        with open(path, 'rb') as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise BadInput('unreadable', e.strerror or str(e)) from None
    if not data:
        raise BadInput('empty_file', 'the file has 0 bytes')
    if len(data) > limit:  # grew after the size check
        raise BadInput('file_too_large', 'more than limit %d bytes' % limit)
    return data


def parse(source, content):
    """List of NoteSequences in `content` (the bytes of `source`); raises BadInput.

    A file of several pieces (ABC tunes, a benchmark file's pieces) gives each an index in
    its id; a benchmark file's piece is indexed by its published part too
    (.../train/0), which the 'published' split reads.
    """
    kind = _kind(source.path)
    indices = None
    if kind == 'midi':
        sequences = [parse_midi(content)]
    elif kind == 'musicxml':
        sequences = [_parse_musicxml(content, source.path.lower().endswith('.mxl'))]
    elif kind == 'pianoroll':
        pieces = _parse_piano_rolls(content, source.path.lower().endswith('.mat'))
        indices = ['%s/%d' % (part, i) for part, i, _ in pieces]
        sequences = [ns for _, _, ns in pieces]
    else:
        sequences = _parse_abc(content)
        indices = list(range(len(sequences)))
    if not any(ns.notes for ns in sequences):
        raise BadInput('no_notes', 'parsed, but holds no notes')
    for i, ns in enumerate(sequences):
        ns.id = sequence_id(source, content, None if indices is None else indices[i])
        ns.filename = printable(source.relpath)
        ns.collection_name = printable(source.collection)
    return sequences


_TICK_GUARD = threading.Lock()


def parse_midi(content):
    """The NoteSequence of MIDI file bytes; BadInput if it cannot be read or is too long."""
    import note_seq
    import pretty_midi
    # pretty_midi allocates a time table of 8 bytes per tick up to the file's last event and
    # refuses files past its MAX_TICK; note_seq raises that guard to 1e10 (80 GB) on import,
    # so a 300-byte file could take the machine. Put a bound back, read at call time, for
    # this call only (a lower bound left behind would refuse other readers' long files).
    # The guard is one global: reads on several threads (the studio's request checks) take
    # turns, or one ending would put 1e10 back under another's feet.
    bound = limits.MAX_MIDI_TICKS.value()
    with _TICK_GUARD:
        before, pretty_midi.pretty_midi.MAX_TICK = pretty_midi.pretty_midi.MAX_TICK, bound
        try:
            return note_seq.midi_to_note_sequence(content)
        except Exception as e:  # pretty_midi/mido raise many kinds (ZeroDivisionError too)
            ticks = re.search(r'largest tick of (\d+)', str(e))
            if ticks and int(ticks.group(1)) > bound:
                raise BadInput('midi_too_long', 'its last event is at tick %s, past the limit '
                               'of %d (MUSEKIT_MAX_MIDI_TICKS)' % (ticks.group(1), bound)) \
                    from None
            raise BadInput('midi_parse_error', _describe(e)) from None
        finally:
            pretty_midi.pretty_midi.MAX_TICK = before


def _parse_piano_rolls(content, is_mat):
    from musekit.data import piano_roll_files
    try:
        return piano_roll_files.read(content, is_pickle=not is_mat)
    except piano_roll_files.BenchmarkFileError as e:
        raise BadInput('piano_roll_file_error', str(e)) from None


def _unzip_score(content):
    """The MusicXML bytes inside a compressed .mxl, refusing archives that inflate too far."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise BadInput('bad_zip', _describe(e)) from None
    total = sum(i.file_size for i in infos)
    if total > limits.MAX_UNZIPPED_BYTES.value():
        raise BadInput('zip_too_large', 'inflates to %d bytes' % total)
    by_name = {i.filename: i for i in infos}
    name = None
    if 'META-INF/container.xml' in by_name:
        try:
            container = ET.fromstring(_read_member(archive, by_name['META-INF/container.xml']))
        except ET.ParseError as e:
            raise BadInput('bad_zip', 'container.xml: %s' % e) from None
        for rootfile in container.iter('rootfile'):
            if rootfile.get('media-type', _MUSICXML_MIME) == _MUSICXML_MIME:
                name = rootfile.get('full-path')
                break
    else:
        candidates = [n for n in by_name if n.lower().endswith(('.xml', '.musicxml'))
                      and not n.startswith('META-INF/')]
        name = candidates[0] if len(candidates) == 1 else None
    if not name or name not in by_name:
        raise BadInput('zip_without_score', 'no MusicXML score in the archive')
    return _read_member(archive, by_name[name])


def _read_member(archive, info):
    # file_size is the archive's claim; read at most the limit plus one byte to be sure.
    limit = limits.MAX_UNZIPPED_BYTES.value()
    try:
        with archive.open(info) as f:
            data = f.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError) as e:
        raise BadInput('bad_zip', _describe(e)) from None
    if len(data) > limit:
        raise BadInput('zip_too_large', '%s inflates past %d bytes' % (info.filename, limit))
    return data


def _parse_musicxml(content, compressed):
    from note_seq import musicxml_reader
    xml_bytes = _unzip_score(content) if compressed else content
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as e:
        raise BadInput('musicxml_parse_error', 'not XML: %s' % e) from None
    try:
        return musicxml_reader.musicxml_to_sequence_proto(_parsed_document_class()(root))
    except Exception as e:  # the parser raises several kinds on malformed scores
        raise BadInput('musicxml_parse_error', _describe(e)) from None


def _parse_abc(content):
    from note_seq import abc_parser
    try:
        text = content.decode('utf-8')
    except UnicodeDecodeError:
        text = content.decode('latin-1')
    try:
        tunes, errors = abc_parser.parse_abc_tunebook(text)
    except Exception as e:
        raise BadInput('abc_parse_error', _describe(e)) from None
    if not tunes:
        detail = _describe(errors[0]) if errors else 'no tunes in the file'
        raise BadInput('abc_parse_error', detail)
    return [tunes[k] for k in sorted(tunes)]


def _describe(exc):
    text = ' '.join(str(exc).split())[:200]
    return '%s: %s' % (type(exc).__name__, text) if text else type(exc).__name__


@functools.lru_cache(maxsize=None)
def _parsed_document_class():
    from note_seq import musicxml_parser

    class ParsedDocument(musicxml_parser.MusicXMLDocument):
        """note_seq's MusicXML document, fed an already-parsed (and size-checked) tree."""

        @staticmethod
        def _get_score(score):
            return score

    return ParsedDocument
