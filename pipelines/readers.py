"""Readers: what a dataset job reads for an extractor (`Extractor.reader` names one),
turned into (record id, record bytes) pairs that the split and the extractor take apart.

Built in: `note_sequences` (NoteSequence TFRecords, or music files converted on the fly).
A family whose sources are not NoteSequences (audio files, benchmark files) adds a reader.
"""
import abc
import hashlib
import logging
import os
import re

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from google.protobuf import message

from musekit.data import sources, tfrecord
from musekit.errors import MusekitError
from musekit.pipelines import beam_job, convert
from musekit.registry import READERS


class Reader(abc.ABC):
    """Reads one kind of input into keyed records; a record's id drives the split."""

    name = None                 # set by the registry
    what = 'records'            # what it reads, for messages
    hint = ''                   # what to try when the input held nothing

    @abc.abstractmethod
    def read(self, pipeline, input_spec, output_dir, output_prefixes):
        """(PCollection of (id, bytes), a description of the input) for `--input`; refuses
        an input that would read the job's own output (files named by `output_prefixes`
        in `output_dir`)."""


@READERS.register('note_sequences')
class NoteSequenceReader(Reader):
    """NoteSequences from NoteSequence TFRecords (a glob, or a folder holding .tfrecord files
    and no music) or straight from music files (a folder, music file or glob of them, or
    music21:NAME), keyed by the NoteSequence id."""

    what = 'NoteSequences'
    hint = "for NoteSequence TFRecords give their glob, e.g. '/tmp/ns/bach*'"

    def read(self, pipeline, input_spec, output_dir, output_prefixes):
        records = _record_files(input_spec)
        if records:
            _check_not_own_output(records, output_dir, output_prefixes)
            pcoll = (pipeline
                     | 'ListRecordFiles' >> beam.Create(records)
                     | 'ReadRecords' >> beam.ParDo(ReadNoteSequences()))
            return pcoll, '%d NoteSequence TFRecord files' % len(records)
        read = convert.ReadMusicFiles(input_spec)
        parsed = pipeline | 'ReadMusic' >> read
        return parsed.sequences, '%d music files' % read.num_files


def _record_files(input_spec):
    """The TFRecord files `input_spec` names, or None where it names music files."""
    if input_spec.startswith(sources.MUSIC21_PREFIX):
        return None
    if os.path.isdir(input_spec):
        paths = [s.path for s in sources.list_sources(input_spec)]
        if any(sources.is_supported(p) for p in paths):
            return None
        return [os.path.abspath(p) for p in paths if p.endswith(convert.SHARD_SUFFIX)] or None
    matches = sorted(m.path for r in FileSystems.match([beam_job.absolute(input_spec)])
                     for m in r.metadata_list
                     if not m.path.endswith(convert.DEAD_LETTER_SUFFIX))
    if not matches:
        raise MusekitError('no input files match %r' % input_spec)
    return None if any(sources.is_supported(p) for p in matches) else matches


def _check_not_own_output(matches, output_dir, prefixes):
    """Refuses an --input glob that matches the shards this job is about to replace."""
    own = re.compile(r'(%s)-\d{5}-of-\d{5}\.tfrecord$' % '|'.join(map(re.escape, prefixes)))
    folder = os.path.abspath(output_dir)
    for path in matches:
        if '://' not in path and os.path.dirname(os.path.abspath(path)) == folder \
                and own.match(os.path.basename(path)):
            raise MusekitError('--input matches this job\'s own output %s; give the '
                               'NoteSequence files (e.g. /tmp/ns/bach*)' % path)


class ReadNoteSequences(beam.DoFn):
    """TFRecord file path -> (id, NoteSequence bytes) per record. A corrupt or truncated
    file keeps the records before the damage and is counted, never failing the job."""

    def process(self, path):
        from note_seq import music_pb2
        with FileSystems.open(path) as f:
            try:
                for data in tfrecord.read_records(f, path):
                    seq_id = music_pb2.NoteSequence.FromString(data).id
                    if not seq_id:      # not from musekit_convert: name it by content
                        beam_job.counter('sequences_without_id').inc()
                        seq_id = 'sha256:' + hashlib.sha256(data).hexdigest()
                    yield seq_id, data
            except (MusekitError, message.DecodeError) as e:
                beam_job.counter('record_files_damaged').inc()
                logging.getLogger('musekit').error(
                    '%s: not a file of NoteSequence records (%s); reading the next file',
                    path, e)
