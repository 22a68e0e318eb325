"""The `audio` reader: audio files (WAV, FLAC, OGG, MP3) and music to render to audio,
one record per source piece, for the audio extractors."""
import dataclasses
import os

import apache_beam as beam

from musekit.data import audio_files, sources
from musekit.errors import MusekitError
from musekit.pipelines import beam_job, convert
from musekit.pipelines.readers import Reader, record_files
from musekit.pipelines.readers.note_sequences import read_record_files
from musekit.registry import READERS


def _readable(path):
    return audio_files.is_audio(path) or sources.is_supported(path)


@READERS.register('audio')
class AudioReader(Reader):
    """Audio files, music files (MIDI, MusicXML, ABC; a folder, a file, a glob or
    music21:NAME) and NoteSequence TFRecords -> (id, record) per piece: an audio file's
    path and label (audio_files.file_record), or a NoteSequence (sequence_record) whose
    `filename` gives its label. Ids are sha256-based like sources.sequence_id, so the
    split puts every window of a piece in the same part, in every process.

    An audio file travels as its path, not its bytes: ten minutes of CD audio are 100 MB,
    past MUSEKIT_MAX_FILE_BYTES and too much to carry through Beam's shuffle, while the
    extractor decodes it block-wise at its own rate. Workers must therefore see the input
    at the same paths (a local run, or a shared file system), as musekit_convert's do.
    """

    what = 'audio files or music'
    hint = ('give a folder of .wav .flac .ogg .mp3 files (one sub-folder per label), music '
            'files, NoteSequence TFRecords or music21:NAME')

    def read(self, pipeline, input_spec, output_dir, output_prefixes):
        records = record_files(input_spec, _readable)
        if records:
            sequences, dead_letters = read_record_files(pipeline, records, output_dir,
                                                        output_prefixes)
            return (sequences | 'WrapSequences' >> beam.Map(_wrap_sequence),
                    '%d NoteSequence TFRecord files' % len(records), dead_letters)
        # absolute: a worker of another process (a Dask cluster) has its own working folder
        listed = [dataclasses.replace(s, path=os.path.abspath(s.path))
                  for s in sources.list_sources(input_spec)]
        music = [s for s in listed if sources.is_supported(s.path)]
        others = [s for s in listed if not sources.is_supported(s.path)]
        num_audio = sum(audio_files.is_audio(s.path) for s in others)
        if not music and not num_audio:
            raise MusekitError('no audio files (%s) or music files (%s) at %s' % (
                ' '.join(audio_files.AUDIO_EXTENSIONS), ' '.join(sources.SUPPORTED_EXTENSIONS),
                input_spec))
        parts, skipped = [], []
        if others:
            audio, dead = beam_job.split_marked(
                pipeline | 'ListAudioFiles' >> beam.Create(others)
                | 'KeyAudioFiles' >> beam.ParDo(KeyAudioFile()), 'Audio')
            parts.append(audio)
            skipped.append(dead)
        if music:
            parsed = pipeline | 'ReadMusic' >> convert.ReadMusicFiles(input_spec, music)
            parts.append(parsed.sequences | 'WrapSequences' >> beam.Map(_wrap_sequence))
            skipped.append(parsed.dead_letters)
        records = parts[0] if len(parts) == 1 else tuple(parts) | 'Sources' >> beam.Flatten()
        dead_letters = (skipped[0] if len(skipped) == 1
                        else tuple(skipped) | 'Skipped' >> beam.Flatten())
        return (records, '%d audio files and %d music files' % (num_audio, len(music)),
                dead_letters)


def _wrap_sequence(keyed):
    return keyed[0], audio_files.sequence_record(keyed[1])


class KeyAudioFile(beam.DoFn):
    """Source -> (SHARD, (id, file record)) for an audio file; any other file is counted
    (files_skipped_unsupported_extension); a FIFO, device or broken link (never opened),
    an unreadable file, one whose path is not UTF-8 (which soundfile cannot open) or any
    other error is counted and given as (DEAD_LETTER, line)."""

    def process(self, source):
        try:
            sources.check_regular(source.path)
            if not audio_files.is_audio(source.path):
                beam_job.counter('files_skipped_unsupported_extension').inc()
                return
            if sources.printable(source.path) != source.path:
                raise sources.BadInput('name_not_utf8', 'soundfile opens only paths that are '
                                       'UTF-8; rename the file or its folder')
            try:
                record_id = sources.file_id(source, 'audio')
            except OSError as e:
                raise sources.BadInput('unreadable', e.strerror or str(e)) from None
            record = audio_files.file_record(source.path,
                                             audio_files.label_of(source.relpath))
        except Exception as e:      # noqa: BLE001  (one file never stops the job)
            error = convert.as_bad_input(e)
            beam_job.counter('files_%s_%s' % (
                'skipped' if error.reason == 'not_a_regular_file' else 'failed',
                error.reason)).inc()
            yield beam_job.DEAD_LETTER, convert.dead_letter_line(source, error)
            return
        beam_job.counter('audio_files_read').inc()
        yield beam_job.SHARD, (record_id, record)
