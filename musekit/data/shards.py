"""Sharded, deterministic output files: which shard a record goes to, in what order, under
what name, and how a shard replaces an earlier run's file.

The Beam jobs (`pipelines/beam_job.py`) wire these into a pipeline; keeping them here,
free of Beam's pipeline machinery, lets tests (and mutation testing) reach them directly.
"""
import os

from apache_beam.io.filesystems import FileSystems

from musekit.data import tfrecord
from musekit.data.splits import stable_fraction
from musekit.errors import MusekitError


def shard_paths(prefix, num_shards, suffix):
    """The file names of `num_shards` shards: PREFIX-00000-of-00002SUFFIX, ..."""
    return ['%s-%05d-of-%05d%s' % (prefix, i, num_shards, suffix) for i in range(num_shards)]


def shard_index(key, num_shards):
    """The shard of the record with sort key `key`: a sha256 hash of the key, so the same
    key lands in the same shard in every process and run."""
    return int(stable_fraction(key) * num_shards)


class DeadLetter(str):
    """A line that `to_records` yields instead of records for an input it skipped: the
    shard writer passes it on to the job's dead-letter file, never into the shard."""


def shard_records(keyed, to_records=None, dead_letters=None):
    """The records of one shard, in key order, from its (key, value) pairs; None entries
    (the marker that makes every shard exist) are dropped. Values are the records, or
    `to_records(key, value)` turns each into records; DeadLetter lines among them are
    appended to the list `dead_letters`."""
    pairs = sorted(kv for kv in keyed if kv is not None)
    if to_records is None:
        return (value for _, value in pairs)
    return _without_dead_letters(
        (record for key, value in pairs for record in to_records(key, value)),
        dead_letters if dead_letters is not None else [])


def _without_dead_letters(records, dead_letters):
    for record in records:
        if isinstance(record, DeadLetter):
            dead_letters.append(str(record))
        else:
            yield record


def escape_glob(text):
    """`text` as glob pattern text that matches only itself ('[' in a folder name, say)."""
    return ''.join('[%s]' % c if c in '*?[' else c for c in text)


def absolute(path):
    """A local path made absolute (Beam lists the folder above a pattern's first glob
    character, which for a relative path can be ''); other file systems' URLs as is."""
    return path if '://' in path else os.path.abspath(path)


def check_output_location(path, flag):
    """Raises MusekitError when local output `path` (a file prefix) cannot be written:
    it names a folder rather than a prefix, or sits under an existing file."""
    if '://' in path:
        return
    if not os.path.basename(path):
        raise MusekitError('%s %s ends in a slash: give a file prefix such as %sbach'
                           % (flag, path, path))
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise MusekitError('%s %s: %s is a file, not a folder' % (flag, path, parent))


TEMPORARY = '.%s.tmp-%d'        # the hidden name a file is written under: name, pid


def write_shard(path, records, as_text=False):
    """Writes `records` (bytes as TFRecords, or with `as_text` str lines) to `path`.

    The file is written under a hidden temporary name and renamed into place, replacing
    an earlier run's file: a glob over the folder never sees a partial shard. A failed
    write (a full disk) removes the temporary file and raises MusekitError naming `path`.
    """
    folder, name = FileSystems.split(path)
    tmp = FileSystems.join(folder, TEMPORARY % (name, os.getpid()))
    try:
        with FileSystems.create(tmp) as f:
            if as_text:
                for line in records:
                    f.write((line + '\n').encode('utf-8'))
            else:
                tfrecord.write_records(f, records)
        if FileSystems.exists(path):
            delete_files([path])
        FileSystems.rename([tmp], [path])
    except (OSError, IOError) as e:
        _remove_quietly(tmp)
        raise MusekitError('cannot write %s: %s' % (path, _os_reason(e))) from None
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def _os_reason(error):
    """'No space left on device' of an OSError, also when Beam wrapped it in its own."""
    while error is not None:
        if isinstance(error, OSError) and error.strerror:
            return error.strerror
        error = error.__cause__ or error.__context__
    return 'write failed'


def _remove_quietly(path):
    try:
        if FileSystems.exists(path):
            delete_files([path])
    except Exception:       # noqa: BLE001  (cleanup after a failure: the first error counts)
        pass


def remove_stale_shards(prefix, suffix):
    """Deletes earlier runs' shards of `prefix`, and the hidden temporary files of any
    run killed while writing them, so a glob never mixes two runs."""
    prefix = absolute(prefix)
    folder, name = FileSystems.split(prefix)
    pattern = '%s-?????-of-?????%s' % (escape_glob(prefix), escape_glob(suffix))
    leftover = FileSystems.join(escape_glob(folder), '.%s-?????-of-?????%s.tmp-*' % (
        escape_glob(name), escape_glob(suffix)))
    stale = [m.path for r in FileSystems.match([pattern, leftover]) for m in r.metadata_list]
    if stale:
        delete_files(stale)


def delete_if_exists(path):
    """Deletes the file `path` if there is one."""
    if FileSystems.exists(absolute(path)):
        delete_files([path])


def remove_temporary(path):
    """Deletes the hidden temporary files of `path` that killed runs left."""
    folder, name = FileSystems.split(absolute(path))
    pattern = FileSystems.join(escape_glob(folder), escape_glob('.%s.tmp-' % name) + '*')
    stale = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
    if stale:
        delete_files(stale)


def delete_files(paths):
    """Deletes exactly `paths` (Beam's delete would read '[' or '*' in a name as a glob)."""
    FileSystems.delete([escape_glob(absolute(p)) for p in paths])
