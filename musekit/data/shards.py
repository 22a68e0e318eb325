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


def shard_records(keyed, to_records=None):
    """The records of one shard, in key order, from its (key, value) pairs; None entries
    (the marker that makes every shard exist) are dropped. Values are the records, or
    `to_records(key, value)` turns each into records."""
    pairs = sorted(kv for kv in keyed if kv is not None)
    if to_records is None:
        return (value for _, value in pairs)
    return (record for key, value in pairs for record in to_records(key, value))


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


def write_shard(path, records, as_text=False):
    """Writes `records` (bytes as TFRecords, or with `as_text` str lines) to `path`.

    The file is written under a hidden temporary name and renamed into place, replacing
    an earlier run's file: a glob over the folder never sees a partial shard.
    """
    folder, name = FileSystems.split(path)
    tmp = FileSystems.join(folder, '.%s.tmp-%d' % (name, os.getpid()))
    with FileSystems.create(tmp) as f:
        if as_text:
            for line in records:
                f.write((line + '\n').encode('utf-8'))
        else:
            tfrecord.write_records(f, records)
    if FileSystems.exists(path):
        delete_files([path])
    FileSystems.rename([tmp], [path])
    return path


def remove_stale_shards(prefix, suffix):
    """Deletes earlier runs' shards of `prefix`, so a glob never mixes two runs."""
    pattern = '%s-?????-of-?????%s' % (escape_glob(absolute(prefix)), escape_glob(suffix))
    stale = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
    if stale:
        delete_files(stale)


def delete_files(paths):
    """Deletes exactly `paths` (Beam's delete would read '[' or '*' in a name as a glob)."""
    FileSystems.delete([escape_glob(absolute(p)) for p in paths])
