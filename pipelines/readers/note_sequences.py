"""The `note_sequences` reader: NoteSequence TFRecords, or music files converted on the fly."""
import hashlib
import logging
import os

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from google.protobuf import message

from musekit.data import sources, tfrecord
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
            sequences, dead_letters = read_record_files(pipeline, records, output_dir,
                                                        output_prefixes)
            return sequences, '%d NoteSequence TFRecord files' % len(records), dead_letters
        read = convert.ReadMusicFiles(input_spec)
        parsed = pipeline | 'ReadMusic' >> read
        return parsed.sequences, '%d music files' % read.num_files, parsed.dead_letters


def read_record_files(pipeline, paths, output_dir, output_prefixes):
    """(PCollection of (id, NoteSequence bytes) of every record of the TFRecord files
    `paths`, PCollection of dead-letter lines of the files it could not read whole),
    refusing the job's own output."""
    check_not_own_output(paths, output_dir, output_prefixes)
    return beam_job.split_marked(pipeline
                                 # as bytes: Beam's str coder refuses a name that is not UTF-8
                                 | 'ListRecordFiles' >> beam.Create([os.fsencode(p)
                                                                     for p in paths])
                                 | 'ReadRecords' >> beam.ParDo(ReadNoteSequences()), 'Records')


class ReadNoteSequences(beam.DoFn):
    """TFRecord file path (bytes) -> (SHARD, (id, NoteSequence bytes)) per record, then
    (DEAD_LETTER, line) for a file that is not a regular file (never opened: a FIFO would
    block), cannot be read, or is damaged or truncated (the records before the damage are
    kept). Every such file is counted; none fails the job."""

    def process(self, path):
        from note_seq import music_pb2
        path = os.fsdecode(path)
        kept = 0
        try:
            if '://' not in path:
                sources.check_regular(path)
            with FileSystems.open(path) as f:
                for data in tfrecord.read_records(f, path):
                    seq_id = music_pb2.NoteSequence.FromString(data).id
                    if not seq_id:      # not from musekit_convert: name it by content
                        beam_job.counter('sequences_without_id').inc()
                        seq_id = 'sha256:' + hashlib.sha256(data).hexdigest()
                    yield beam_job.SHARD, (seq_id, data)
                    kept += 1
        except Exception as e:      # noqa: BLE001  (one file never stops the job)
            if isinstance(e, (MusekitError, message.DecodeError)):
                error = sources.BadInput('damaged_record_file', 'not a file of NoteSequence '
                                         'records: %s' % e)
                beam_job.counter('record_files_damaged').inc()
            else:
                error = convert.as_bad_input(e)
                beam_job.counter('files_%s_%s' % (
                    'skipped' if error.reason == 'not_a_regular_file' else 'failed',
                    error.reason)).inc()
            if kept:
                error = sources.BadInput(error.reason, 'its first %d record%s kept; %s' % (
                    kept, '' if kept == 1 else 's', error.detail))
            logging.getLogger('musekit').error('%s: %s: %s; reading the next file',
                                               sources.printable(path), error.reason,
                                               error.detail[:convert.MAX_DETAIL])
            yield beam_job.DEAD_LETTER, convert.dead_letter_line(path, error)
