"""musekit_create_dataset: source records -> train/eval SequenceExample TFRecords for a config.

    musekit_create_dataset --config=lookback_rnn --input='/tmp/ns/bach*' --output_dir=/tmp/ds

The config chooses the split (a stable hash of each record id by default), the extractor
(what a record becomes, which sequences it yields, how it is transposed, and the output
names) and the encoder. Augmentation touches the training part only; every dropped
record or sequence is counted by reason.
"""
import collections
import json
import os
import shutil
import sys
import time

import apache_beam as beam
import numpy as np

from musekit.cli import command
from musekit.data import shards, sources
from musekit.config import get_config
from musekit.data.dataset import DESCRIPTION_FILE
from musekit.data.example import make_sequence_example
from musekit.errors import MusekitError
from musekit.pipelines import beam_job, convert
from musekit.registry import READERS

DEAD_LETTER_FILE = 'dead_letter.tsv'    # the sources the job skipped, with their reasons

def parse_transpose_range(text):
    """'-3,3' -> [-3, ..., 3] (semitones, inclusive); '' -> [0]."""
    if not text:
        return [0]
    try:
        low, high = (int(v) for v in text.split(','))
    except ValueError:
        raise MusekitError('malformed --transpose_range %r (expected LOW,HIGH like -3,3)'
                           % text) from None
    if low > high or low < -24 or high > 24:
        raise MusekitError('--transpose_range %r must have LOW <= HIGH within -24..24' % text)
    return list(range(low, high + 1))


class EncodePiece:
    """(id, record bytes) -> SequenceExample bytes, one per extracted sequence, in a fixed
    order.

    Runs the config's extractor (decode, prepare, augment by each of `transpositions`: the
    part's augmentations, as the extractor's `augmentations` lists them, extract) and
    encoder. A sequence equal to one already written for the same record (by
    the extractor's `fingerprint`: an instrument doubling a voice, or a transposition that
    the config's key normalisation undid) is dropped. Every drop is counted by reason.
    Called by the shard writer (see `beam_job.WriteShards`), so only the compact source
    records are shuffled.
    """

    def __init__(self, config_dict, split, transpositions):
        self._config_dict = config_dict
        self._split = split
        self._transpositions = transpositions
        self._encoder = self._extractor = None      # built by setup(), in the worker

    def setup(self):
        from musekit.config import Config
        beam_job.freeze_loaded_modules()
        config = Config.from_dict(self._config_dict)
        self._encoder = config.make_encoder()
        self._extractor = config.make_extractor()

    def sequences(self, record_id, data, use=None):
        """The event sequences of one record (extracted, augmented, duplicates dropped), or
        with `use` what `use(events)` makes of each, counting every drop. A record that
        cannot be used, for any reason (in the extractor, the encoder or `use`), yields one
        DeadLetter line instead (and is counted), so it never stops the job; when it fails
        after some of its sequences went out, the line says how many."""
        extractor = self._extractor
        item, done = None, 0
        try:
            item = extractor.decode(data)
            for events in self._sequences(item):
                out = events if use is None else use(events)
                yield out
                done += 1
        except Exception as e:      # noqa: BLE001  (one record never stops the job)
            error = convert.as_bad_input(e)
            if done:
                error = sources.BadInput(error.reason, 'after %d of its sequences: %s'
                                         % (done, error.detail))
            beam_job.counter('sources_skipped_' + error.reason).inc()
            where = (extractor.source_name(item) if item is not None else None) or record_id
            yield shards.DeadLetter(convert.dead_letter_line(where, error))

    def _sequences(self, item):
        extractor, encoder = self._extractor, self._encoder
        output_name = extractor.output_name
        pieces, stats = extractor.prepare(item)
        seen = set()
        for prepared in pieces:
            for amount in self._transpositions:
                sequences, more = extractor.extract(extractor.augment(prepared, amount),
                                                    encoder)
                stats.update(more)
                for events in sequences:
                    key = extractor.fingerprint(events)
                    if key is not None:
                        if key in seen:
                            stats['%s_dropped_duplicate_in_piece' % output_name] += 1
                            continue
                        seen.add(key)
                    yield events
        for reason, n in stats.items():
            beam_job.counter(reason).inc(n)

    def __call__(self, record_id, data):
        beam_job.counter('%s_sequences' % self._split).inc()
        written = beam_job.counter('%s_%s' % (self._split, self._extractor.output_name))
        for record in self.sequences(record_id, data, self._example):
            if not isinstance(record, shards.DeadLetter):
                written.inc()
            yield record

    def _example(self, events):
        encoder = self._encoder
        inputs, labels = encoder.encode(events)
        inputs = np.asarray(inputs, encoder.input_spec.dtype)   # as declared
        return make_sequence_example(inputs, labels)


class CountStatistics(EncodePiece):
    """(id, record bytes) -> (key, count) of the encoder's fitting statistics over the
    record's sequences."""

    def __call__(self, record_id, data):
        total = collections.Counter()
        for counts in self.sequences(record_id, data, self._encoder.statistics):
            if not isinstance(counts, shards.DeadLetter):   # listed by the second job
                total.update(counts)
        return sorted(total.items())


def output_prefixes(config, split):
    """{part: file name prefix} of the shards the job writes, e.g. training_melodies."""
    output_name = config.make_extractor().output_name
    return {part: '%s_%s' % (part, output_name) for part in split.names}


def fit_encoder(config, input_spec, output_dir, split, transpositions, options):
    """`config` with its encoder's params fitted to the training part (a first Beam job
    that sums the encoder's `statistics` over the training sequences); unchanged for an
    encoder that learns nothing from the data."""
    if not config.make_encoder().needs_fitting:
        return config
    import tempfile
    pipeline = beam.Pipeline(options=options)
    prefixes = output_prefixes(config, split)
    records, _, _ = READERS.create(config.make_extractor().reader).read(
        pipeline, input_spec, output_dir, prefixes.values())
    training = split.names[0]
    augmentations = config.make_extractor().augmentations(list(transpositions), True)
    count = CountStatistics(config.to_dict(), training, augmentations)
    folder = tempfile.mkdtemp(prefix='musekit-fit-')
    path = os.path.join(folder, 'statistics')
    try:
        (records
         | 'Training' >> beam.Filter(lambda kv: split.assign(kv[0], kv[1]) == training)
         | 'Count' >> beam.ParDo(_CallAfterSetup(count))
         | 'Sum' >> beam.CombinePerKey(sum)
         | 'Lines' >> beam.Map(lambda kv: (kv[0], json.dumps(list(kv))))
         | 'Write' >> beam_job.WriteShards(path, 1, '', as_text=True))
        pipeline.run().wait_until_finish()
        counts = collections.Counter()
        for name in os.listdir(folder):
            with open(os.path.join(folder, name), encoding='utf-8') as f:
                for line in f:
                    key, n = json.loads(line)
                    counts[key] += n
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    encoder = config.make_encoder()
    return config.with_encoder_params(encoder.fitted(counts))


class _CallAfterSetup(beam.DoFn):
    """A DoFn around an EncodePiece-like callable: set up once per worker, then called
    on each (id, bytes) element."""

    def __init__(self, fn):
        self._fn = fn

    def setup(self):
        self._fn.setup()

    def process(self, kv):
        yield from self._fn(kv[0], kv[1])


def build_pipeline(pipeline, config, input_spec, output_dir, split=None, transpositions=(0,),
                   num_shards=2):
    """Adds the dataset job to `pipeline`; returns a description of the input.

    `split` defaults to the config's; transpositions apply to its first (training) part.
    """
    split = split or config.make_split()
    output_dir = shards.absolute(output_dir)     # workers may run in other folders
    extractor = config.make_extractor()
    extractor.check_augmentation(transpositions)
    extractor.check_runnable()
    prefixes = output_prefixes(config, split)
    reader = READERS.create(extractor.reader)
    records, description, dead_letters = reader.read(pipeline, input_spec, output_dir,
                                                     prefixes.values())
    command.check_folder(output_dir, '--output_dir')
    # a folder without dataset.json is incomplete: the old one goes until this run ends
    description_path = '%s/%s' % (output_dir.rstrip('/'), DESCRIPTION_FILE)
    shards.delete_if_exists(description_path)
    shards.remove_temporary(description_path)
    config_dict = config.to_dict()
    written, skipped = [], [dead_letters] if dead_letters is not None else []
    for index, name in enumerate(split.names):
        # a Filter per part, not beam.Partition: some runners (Beam's Dask runner) do not
        # keep a multi-output step's outputs apart
        part = records | 'Select_%s' % name >> beam.Filter(
            lambda kv, name=name: split.assign(kv[0], kv[1]) == name)
        shifts = extractor.augmentations(list(transpositions) if index == 0 else [0],
                                         index == 0)
        prefix = '%s/%s' % (output_dir.rstrip('/'), prefixes[name])
        shards.remove_stale_shards(prefix, '.tfrecord')
        shard_paths, dead = part | 'Write_%s' % name >> beam_job.WriteShards(
            prefix, num_shards, to_records=EncodePiece(config_dict, name, shifts),
            with_dead_letters=True)
        written.append(shard_paths)
        skipped.append(dead)
    dead_letter_path = '%s/%s' % (output_dir.rstrip('/'), DEAD_LETTER_FILE)
    written.append(convert.write_dead_letters(tuple(skipped) | 'AllDeadLetters' >> beam.Flatten(),
                                              dead_letter_path))
    beam_job.finish(written)
    return description


def remove_outputs(output_dir, prefixes):
    """Deletes every file a run into `output_dir` writes (shards of `prefixes`, the
    dead-letter file, dataset.json), temporary ones too."""
    folder = shards.absolute(output_dir).rstrip('/')
    for prefix in prefixes:
        shards.remove_stale_shards('%s/%s' % (folder, prefix), '.tfrecord')
    convert.remove_dead_letters('%s/%s' % (folder, DEAD_LETTER_FILE))
    shards.remove_temporary('%s/%s' % (folder, DESCRIPTION_FILE))
    shards.delete_if_exists('%s/%s' % (folder, DESCRIPTION_FILE))


def define_flags(fv):
    from absl import flags
    flags.DEFINE_string('config', None, 'Name of the config (e.g. lookback_rnn) or path '
                        'of a config .json file.', flag_values=fv)
    flags.DEFINE_string('input', None, "What the config's reader takes; for the built-in "
                        "configs NoteSequence TFRecords (a glob, e.g. '/tmp/ns/bach*'), or a "
                        'folder / file of music, or music21:bach.', flag_values=fv)
    flags.DEFINE_string('output_dir', None, 'Where the shards are written, one set per '
                        'part of the split: training_melodies-*.tfrecord and '
                        'eval_melodies-*.tfrecord for the melody configs.', flag_values=fv)
    flags.DEFINE_float('eval_ratio', None, 'Fraction of pieces (by id hash) for the eval '
                       "split (default: the config's, 0.1 for the built-in configs).",
                       lower_bound=0.0, upper_bound=1.0, flag_values=fv)
    flags.DEFINE_string('transpose_range', None, 'Training-part transposition augmentation, '
                        "semitones LOW,HIGH inclusive (e.g. '-3,3'); empty for none. "
                        "Default: the config's (Magenta's: -3,3 for the performance "
                        'configs, -4,4 for polyphony; none for the others). Configs that '
                        'transpose melodies to C undo most of it; such duplicates are '
                        'dropped.', flag_values=fv)
    flags.DEFINE_integer('num_shards', 2, 'Shards per split.', lower_bound=1, flag_values=fv)
    flags.DEFINE_string('hparams', '', 'Config overrides (unused by the data job; accepted '
                        'so one command line can serve both jobs).', flag_values=fv)


def main(argv):
    fv = beam_job.make_flags()
    define_flags(fv)
    options = beam_job.parse_args(fv, argv, 'musekit_create_dataset',
                                required=('config', 'input', 'output_dir'))
    config = get_config(fv.config)
    split = config.make_split().with_options(eval_ratio=fv.eval_ratio)
    transpose_range = (config.transpose_range() if fv.transpose_range is None
                       else fv.transpose_range)
    transpositions = parse_transpose_range(transpose_range)
    start = time.time()
    fitted = fit_encoder(config, fv.input, fv.output_dir, split, transpositions, options)
    if fitted is not config:
        print('musekit_create_dataset: fitted encoder %s to the training part (%s)' % (
            config.encoder['name'], fitted.make_encoder().describe_fit()), flush=True)
        config = fitted
    pipeline = beam.Pipeline(options=options)
    description = build_pipeline(pipeline, config, fv.input, fv.output_dir, split,
                                 transpositions, fv.num_shards)
    print('musekit_create_dataset: config %s, reading %s' % (config.name, description),
          flush=True)
    prefixes = output_prefixes(config, split)
    result = beam_job.run_or_remove(
        pipeline, lambda: remove_outputs(fv.output_dir, prefixes.values()))
    print('musekit_create_dataset: done in %.1f s; wrote %s/{%s}-*.tfrecord' % (
        time.time() - start, sources.printable(fv.output_dir.rstrip('/')),
        ','.join(prefixes.values())))
    counts = beam_job.print_counters(result)
    extractor = config.make_extractor()
    def describe(counts):
        try:
            write_description(fv.output_dir, config, fv.input, split, transpose_range,
                              counts)
        except BaseException:
            remove_outputs(fv.output_dir, prefixes.values())
            raise
    if counts is None:          # a runner without metrics: the shards say what was written
        describe(None)
        return
    if not any(counts.get('%s_sequences' % name) for name in split.names):
        reader = READERS.create(extractor.reader)
        raise MusekitError('read no %s from %s%s' % (
            reader.what, fv.input, ' (%s)' % reader.hint if reader.hint else ''))
    describe(counts)
    print('musekit_create_dataset: %s %s' % (' and '.join(
        '%d %s' % (counts.get(prefix, 0), part) for part, prefix in prefixes.items()),
        extractor.output_name))


def write_description(output_dir, config, input_spec, split, transpose_range, counts):
    """Writes DIR/dataset.json: how the data was made and what was kept or dropped
    (`counts` None: the runner reported no counters).

    Training copies it into a bundle's provenance, so a bundle says what it learned from.
    Deterministic (no timestamps), like the shards beside it.
    """
    from musekit.version import __version__
    extractor = config.make_extractor()
    written = None if counts is None else {
        part: counts.get('%s_%s' % (part, extractor.output_name), 0) for part in split.names}
    description = {'config': config.name, 'encoder': config.to_dict()['encoder'],
                   'data': dict(config.to_dict()['data'], params=extractor.params()),
                   'input': input_spec,
                   'transpose_range': transpose_range or None, 'counters': counts,
                   'musekit_version': __version__, **split.describe()}
    output = extractor.describe(written)
    if output:
        description['output'] = output
    path = '%s/%s' % (output_dir.rstrip('/'), DESCRIPTION_FILE)
    text = json.dumps(description, indent=2, sort_keys=True) + '\n'
    shards.write_shard(path, [text.rstrip('\n')], as_text=True)      # whole or not at all
    return path


def run(argv=None):
    beam_job.run_main(main, argv if argv is not None else sys.argv, 'musekit_create_dataset')


if __name__ == '__main__':
    run()
