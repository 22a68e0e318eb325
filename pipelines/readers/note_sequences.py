"""The `note_sequences` reader: NoteSequence TFRecords, or music files converted on the fly."""
import hashlib
import logging

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from google.protobuf import message

from musekit.data import tfrecord
from musekit.errors import MusekitError
from musekit.pipelines import beam_job, convert
from musekit.pipelines.readers import Reader, check_not_own_output, record_files
from musekit.registry import READERS


@READERS.register('note_sequences')
class NoteSequenceReader(Reader):
    """NoteSequences from NoteSequence TFRecords (a glob, or a folder holding .tfrecord files
    and no music) or straight from music files (a folder, music file or glob of them, or
    music21:NAME), keyed by the NoteSequence id."""

    what = 'NoteSequences'
    hint = "for NoteSequence TFRecords give their glob, e.g. '/tmp/ns/bach*'"

    def read(self, pipeline, input_spec, output_dir, output_prefixes):
        records = record_files(input_spec)
        if records:
            return (read_record_files(pipeline, records, output_dir, output_prefixes),
                    '%d NoteSequence TFRecord files' % len(records), None)
        read = convert.ReadMusicFiles(input_spec)
        parsed = pipeline | 'ReadMusic' >> read
        return parsed.sequences, '%d music files' % read.num_files, parsed.dead_letters


def read_record_files(pipeline, paths, output_dir, output_prefixes):
    """(id, NoteSequence bytes) of every record of the TFRecord files `paths`, refusing
    the job's own output."""
    check_not_own_output(paths, output_dir, output_prefixes)
    return (pipeline
            | 'ListRecordFiles' >> beam.Create(paths)
            | 'ReadRecords' >> beam.ParDo(ReadNoteSequences()))


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
