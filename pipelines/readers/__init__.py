"""Readers: what a dataset job reads for an extractor (`Extractor.reader` names one),
turned into (record id, record bytes) pairs that the split and the extractor take apart.

Built in, one module each: `note_sequences` (NoteSequence TFRecords, or music files
converted on the fly) and `audio` (audio files, or music to be rendered). A family whose
sources are neither adds a reader.
"""
import abc
import os
import re

from apache_beam.io.filesystems import FileSystems

from musekit.data import shards, sources
from musekit.errors import MusekitError
from musekit.pipelines import convert


class Reader(abc.ABC):
    """Reads one kind of input into keyed records; a record's id drives the split."""

    name = None                 # set by the registry
    what = 'records'            # what it reads, for messages
    hint = ''                   # what to try when the input held nothing

    @abc.abstractmethod
    def read(self, pipeline, input_spec, output_dir, output_prefixes):
        """(PCollection of (id, bytes), a description of the input, PCollection of
        dead-letter lines of the inputs it skipped or None) for `--input`; refuses an
        input that would read the job's own output (files named by `output_prefixes` in
        `output_dir`)."""


def record_files(input_spec, readable=sources.is_supported):
    """The TFRecord files `input_spec` names, or None where it names files `readable`
    (a path -> bool test: music files, by default) or music21:NAME."""
    if input_spec.startswith(sources.MUSIC21_PREFIX):
        return None
    if os.path.isdir(input_spec):
        paths = [s.path for s in sources.list_sources(input_spec)]
        if any(readable(p) for p in paths):
            return None
        return [os.path.abspath(p) for p in paths if p.endswith(convert.SHARD_SUFFIX)] or None
    matches = sorted(m.path for r in FileSystems.match([shards.absolute(input_spec)])
                     for m in r.metadata_list
                     if not m.path.endswith(convert.DEAD_LETTER_SUFFIX))
    if not matches:
        raise MusekitError('no input files match %r' % input_spec)
    return None if any(readable(p) for p in matches) else matches


def check_not_own_output(matches, output_dir, prefixes):
    """Refuses an --input glob that matches the shards this job is about to replace."""
    own = re.compile(r'(%s)-\d{5}-of-\d{5}\.tfrecord$' % '|'.join(map(re.escape, prefixes)))
    folder = os.path.abspath(output_dir)
    for path in matches:
        if '://' not in path and os.path.dirname(os.path.abspath(path)) == folder \
                and own.match(os.path.basename(path)):
            raise MusekitError('--input matches this job\'s own output %s; give the '
                               'NoteSequence files (e.g. /tmp/ns/bach*)' % path)
