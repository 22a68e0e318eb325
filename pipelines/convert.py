"""musekit_convert: a folder of MIDI / MusicXML / ABC files (or music21:bach, or the
polyphonic benchmark files .mat / .pickle) -> sharded NoteSequence TFRecords, with every
unreadable file listed in a dead-letter file.

    musekit_convert --input=music21:bach --output=/tmp/ns/bach
"""
import dataclasses
import os
import sys
import time

import apache_beam as beam

from musekit.data import shards, sources
from musekit.errors import MusekitError
from musekit.pipelines import beam_job

DEAD_LETTER_SUFFIX = '-dead_letter.tsv'
SHARD_SUFFIX = '.tfrecord'


class ParseMusicFile(beam.DoFn):
    """Source -> (SEQUENCE, (id, serialized NoteSequence)) per piece, or
    (DEAD_LETTER, "path<TAB>reason<TAB>detail") for a file that cannot be read.

    One output marked by kind rather than Beam's tagged outputs, which some runners (Beam's
    Dask runner) do not keep apart.
    """

    SEQUENCE, DEAD_LETTER = 'sequence', 'dead_letter'

    def __init__(self):
        self._read = beam_job.counter('files_read')
        self._unsupported = beam_job.counter('files_skipped_unsupported_extension')
        self._converted = beam_job.counter('sequences_converted')

    def setup(self):
        beam_job.freeze_loaded_modules()

    def process(self, source):
        try:
            sources.check_regular(source.path)
        except Exception as e:      # noqa: BLE001  (one file never stops the job)
            error = as_bad_input(e)
            beam_job.counter('files_skipped_' + error.reason).inc()
            yield self.DEAD_LETTER, dead_letter_line(source, error)
            return
        if not sources.is_supported(source.path):
            self._unsupported.inc()
            return
        self._read.inc()
        try:
            sequences = [(ns.id, ns.SerializeToString(deterministic=True))
                         for ns in sources.parse(source, sources.read_bounded(source.path))]
        except Exception as e:      # noqa: BLE001  (one file never stops the job)
            error = as_bad_input(e)
            beam_job.counter('files_failed_' + error.reason).inc()
            yield self.DEAD_LETTER, dead_letter_line(source, error)
            return
        for item in sequences:
            self._converted.inc()
            yield self.SEQUENCE, item


MAX_DETAIL = 300        # characters of a dead-letter line's reason detail


def as_bad_input(error):
    """`error` as a BadInput: itself, or for an error no reader foresaw (a bug, or a
    library's own limit: RecursionError, MemoryError, ...) reason 'unexpected_error' with
    its type and the start of its message."""
    if isinstance(error, sources.BadInput):
        return error
    try:
        text = str(error)[:MAX_DETAIL]
    except Exception:       # noqa: BLE001  (a message that cannot even be made)
        text = ''
    return sources.BadInput('unexpected_error', '%s: %s' % (type(error).__name__, text)
                            if text else type(error).__name__)


def dead_letter_line(source, error):
    """"path<TAB>reason<TAB>detail" of a Source (or a record's name): one line, its detail
    at most MAX_DETAIL characters."""
    detail = ' '.join(error.detail.split())
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL - 3] + '...'
    where = source.path if isinstance(source, sources.Source) else str(source)
    return '%s\t%s\t%s' % (' '.join(sources.printable(where).split()), error.reason,
                             detail)


class ReadMusicFiles(beam.PTransform):
    """Input spec (folder, file, glob or music21:NAME) -> a `Parsed` of (id, NoteSequence
    bytes) `sequences` and `dead_letters` ("path<TAB>reason<TAB>detail" lines). `listed`:
    the spec's Sources already listed (a reader that takes some of them itself)."""

    def __init__(self, input_spec, listed=None):
        super().__init__()
        # absolute: a worker of another process (a Dask cluster) has its own working folder
        self._sources = [dataclasses.replace(s, path=os.path.abspath(s.path))
                         for s in (sources.list_sources(input_spec) if listed is None
                                   else listed)]
        if not any(sources.is_supported(s.path) for s in self._sources):
            raise MusekitError('no MIDI, MusicXML, ABC or piano-roll benchmark files (%s) at %s'
                               % (' '.join(sources.SUPPORTED_EXTENSIONS), input_spec))

    @property
    def num_files(self):
        return len(self._sources)

    def expand(self, pbegin):
        parsed = (pbegin
                  | 'ListFiles' >> beam.Create(self._sources)  # Create spreads its elements
                  | 'Parse' >> beam.ParDo(ParseMusicFile()))
        return Parsed(*beam_job.split_marked(
            parsed, 'Parsed', (ParseMusicFile.SEQUENCE, ParseMusicFile.DEAD_LETTER)))


class Parsed(tuple):
    """(sequences, dead_letters) PCollections of ReadMusicFiles."""

    def __new__(cls, sequences, dead_letters):
        return super().__new__(cls, (sequences, dead_letters))

    sequences = property(lambda self: self[0])
    dead_letters = property(lambda self: self[1])


def build_pipeline(pipeline, input_spec, output, num_shards):
    """Adds the convert job to `pipeline`; returns the number of input files listed."""
    read = ReadMusicFiles(input_spec)  # a bad --input fails before old output is removed
    shards.check_output_location(output, '--output')
    output = shards.absolute(output)
    shards.remove_stale_shards(output, SHARD_SUFFIX)
    parsed = pipeline | 'Read' >> read
    written = parsed.sequences | 'WriteSequences' >> beam_job.WriteShards(
        output, num_shards, SHARD_SUFFIX)
    dead_letters = write_dead_letters(parsed.dead_letters, output + DEAD_LETTER_SUFFIX)
    beam_job.finish([written, dead_letters])
    return read.num_files


def write_dead_letters(lines, path):
    """Writes the PCollection of dead-letter `lines` to the one file `path`, sorted (the
    same bytes every run; an empty file when no input was skipped)."""
    _remove_dead_letter_leftovers(path)
    return (lines
            | 'KeyDeadLetters' >> beam.Map(lambda line: (line, line))
            | 'WriteDeadLetters' >> _WriteDeadLetters(path))


class _WriteDeadLetters(beam.PTransform):
    def __init__(self, path):
        super().__init__()
        self._path = path

    def expand(self, keyed_lines):
        return (keyed_lines
                | 'Write' >> beam_job.WriteShards(self._path + '.part', 1, '', as_text=True)
                | 'Rename' >> beam.Map(_rename_single, self._path))


def _rename_single(written, final):
    from apache_beam.io.filesystems import FileSystems
    written = os.fsdecode(written)
    if FileSystems.exists(final):
        shards.delete_files([final])
    FileSystems.rename([written], [final])
    return os.fsencode(final)


def _remove_dead_letter_leftovers(path):
    """Deletes what a killed run writing the dead-letter file `path` left: its part file
    and hidden temporary files."""
    path = shards.absolute(path)
    shards.remove_stale_shards(path + '.part', '')
    shards.remove_temporary(path)


def remove_dead_letters(path):
    """Deletes the dead-letter file `path` and any leftovers of writing it."""
    _remove_dead_letter_leftovers(path)
    shards.delete_if_exists(path)


def remove_outputs(output):
    """Deletes every file a run with output prefix `output` writes, temporary ones too."""
    output = shards.absolute(output)
    shards.remove_stale_shards(output, SHARD_SUFFIX)
    remove_dead_letters(output + DEAD_LETTER_SUFFIX)


def define_flags(fv):
    from absl import flags
    flags.DEFINE_string('input', None, 'Folder of MIDI/MusicXML/ABC files (searched '
                        'recursively), a file, a glob, or music21:NAME for a collection '
                        "of music21's built-in corpus (music21:bach). Also reads the "
                        'polyphonic benchmark files (JSB_Chorales.mat, Nottingham.pickle, '
                        '...), keeping each piece\'s published train/valid/test part.',
                        flag_values=fv)
    flags.DEFINE_string('output', None, 'Output prefix: writes PREFIX-00000-of-0000N.tfrecord '
                        'shards and PREFIX%s.' % DEAD_LETTER_SUFFIX, flag_values=fv)
    flags.DEFINE_integer('num_shards', 2, 'Number of output shards.', lower_bound=1,
                         flag_values=fv)


def main(argv):
    fv = beam_job.make_flags()
    define_flags(fv)
    options = beam_job.parse_args(fv, argv, 'musekit_convert', required=('input', 'output'))
    start = time.time()
    pipeline = beam.Pipeline(options=options)
    n = build_pipeline(pipeline, fv.input, fv.output, fv.num_shards)
    print('musekit_convert: converting %d files from %s' % (n, sources.printable(fv.input)),
          flush=True)
    result = beam_job.run_or_remove(pipeline, lambda: remove_outputs(fv.output))
    output = sources.printable(fv.output)      # a name that is not UTF-8 prints as U+FFFD
    print('musekit_convert: done in %.1f s; wrote %s-*%s and %s%s' % (
        time.time() - start, output, SHARD_SUFFIX, output, DEAD_LETTER_SUFFIX))
    beam_job.print_counters(result)


def run(argv=None):
    beam_job.run_main(main, argv if argv is not None else sys.argv, 'musekit_convert')


if __name__ == '__main__':
    run()
