"""Pieces every musekit Beam job shares: flags, sharded deterministic output, counters."""
import os
import sys
import typing
import warnings

import apache_beam as beam
from absl import flags
from apache_beam.options.pipeline_options import PipelineOptions

from musekit.cli import command
from musekit.data import shards
from musekit.errors import MusekitError

NAMESPACE = 'musekit'
# Beam turns an escaped '[' ('[[]') into a regex that Python flags as a possible nested set
warnings.filterwarnings('ignore', 'Possible nested set', FutureWarning)
DEFAULT_BEAM_ARGS = ['--runner=DirectRunner', '--default_sdk_harness_log_level=WARNING']
DASK_RUNNER = 'apache_beam.runners.dask.dask_runner.DaskRunner'
# runners the tests exercise, and those Beam documents that need a cluster to try
TESTED_RUNNERS = ('DirectRunner', DASK_RUNNER)
UNTESTED_RUNNERS = ('FlinkRunner', 'SparkRunner', 'DataflowRunner', 'PrismRunner')


def counter(name):
    return beam.metrics.Metrics.counter(NAMESPACE, name)


def freeze_loaded_modules():
    """Imports note-seq, then moves every object alive so far (the large, long-lived heap of
    Beam, note-seq and their dependencies) out of the cyclic garbage collector's sight.

    Parsing a score allocates hundreds of thousands of objects, and each full collection
    would otherwise walk that whole heap again: on the Bach chorales this halves the
    parse time. Objects created afterwards are collected as usual. Called from DoFn
    setup, once per worker process.
    """
    from musekit.cli.launch import gc_paused
    with gc_paused():
        import note_seq  # noqa: F401  (its import-time objects join the frozen heap)


SHARD, DEAD_LETTER = 'shard', 'dead_letter'


class _WriteShard(beam.DoFn):
    """(shard index, pairs) -> (SHARD, path as os.fsencode bytes) of the shard written,
    then (DEAD_LETTER, line) for each input that `to_records` skipped. Bytes: Beam's coders
    refuse a str path that is not UTF-8."""

    def __init__(self, prefix, num_shards, suffix, as_text, to_records):
        self._paths = shards.shard_paths(prefix, num_shards, suffix)
        self._as_text = as_text
        self._to_records = to_records

    def setup(self):
        if hasattr(self._to_records, 'setup'):
            self._to_records.setup()

    def process(self, item):
        index, keyed = item
        dead_letters = []
        yield SHARD, os.fsencode(shards.write_shard(
            self._paths[index], shards.shard_records(keyed, self._to_records, dead_letters),
            self._as_text))
        for line in dead_letters:
            yield DEAD_LETTER, line


def split_marked(marked, label, marks=(SHARD, DEAD_LETTER)):
    """A PCollection per mark of `marks` (in that order) holding the items of the
    (mark, item) pairs in `marked`; a Filter per mark, not tagged outputs, which some
    runners (Beam's Dask runner) mix up."""
    # typed Any: Beam's inference would give both kinds one (wrong) tuple coder
    return tuple(marked | '%s_%s' % (label, mark) >> beam.Filter(
        lambda item, mark=mark: item[0] == mark) | '%s_Unmark_%s' % (label, mark) >> beam.Map(
        lambda item: item[1]).with_output_types(typing.Any) for mark in marks)


class WriteShards(beam.PTransform):
    """Writes (sort_key, value) pairs to `num_shards` files, byte-identical run to run.

    A pair's shard is a hash of its key and each shard is written in key order, so the
    output depends only on the data, never on worker timing. Values are the records
    (bytes for TFRecords or, with `as_text`, lines of text), or, with `to_records` (a
    picklable callable (key, value) -> records, with an optional `setup()`), what the
    shard writer turns into records. Encoding in the writer keeps the shuffle small when
    one input becomes many large records, and gives every worker whole shards to encode.
    Every shard is written, empty ones too. The result is the PCollection of the shards'
    paths (os.fsencode bytes) or, `with_dead_letters`, a pair of it and the DeadLetter
    lines `to_records` gave.
    """

    def __init__(self, prefix, num_shards, suffix='.tfrecord', as_text=False, to_records=None,
                 with_dead_letters=False):
        super().__init__()
        self._prefix, self._num_shards = prefix, num_shards
        self._suffix, self._as_text, self._to_records = suffix, as_text, to_records
        self._with_dead_letters = with_dead_letters

    def expand(self, keyed_records):
        n = self._num_shards
        every_shard = (keyed_records.pipeline
                       | 'AllShards' >> beam.Create([(i, None) for i in range(n)]))
        assigned = keyed_records | 'AssignShard' >> beam.Map(
            lambda kv: (shards.shard_index(kv[0], n), kv))
        marked = ((assigned, every_shard) | 'Flatten' >> beam.Flatten()
                  | 'GroupByShard' >> beam.GroupByKey()
                  | 'WriteShard' >> beam.ParDo(_WriteShard(self._prefix, n, self._suffix,
                                                           self._as_text, self._to_records)))
        written, dead_letters = split_marked(marked, 'Outputs')
        return (written, dead_letters) if self._with_dead_letters else written


def make_flags():
    """A fresh FlagValues per run: no flags are defined at import time."""
    return flags.FlagValues()


def parse_args(fv, argv, program, required=()):
    """Parses musekit flags from argv into `fv`; returns the rest as Beam PipelineOptions.

    Flags that are neither musekit's nor Beam's are an error, not silently dropped.
    """
    flags.DEFINE_boolean('helpfull', False, 'Show this help.', flag_values=fv)
    try:
        rest = fv(argv, known_only=True)[1:]
    except flags.Error as e:
        raise MusekitError(str(e)) from None
    if fv['helpfull'].value or any(a in ('-h', '--help', '-help') for a in rest):
        print(_usage(fv, program))
        sys.exit(0)
    missing = [name for name in required if fv[name].value in (None, '')]
    if missing:
        raise MusekitError('missing required flag%s: %s' % (
            's' if len(missing) > 1 else '', ', '.join('--' + m for m in missing)))
    positional = [a for a in rest if not a.startswith('-')]
    if positional:
        raise MusekitError('unexpected argument %r (flags look like --name=value)'
                           % positional[0])
    rest = check_runner(rest)
    options = PipelineOptions(DEFAULT_BEAM_ARGS + rest)
    known = options.get_all_options(retain_unknown_options=False)
    everything = options.get_all_options(retain_unknown_options=True)
    unknown = sorted(set(everything) - set(known))
    if unknown:
        raise MusekitError('unknown flag --%s (see --help)' % unknown[0])
    return options


def check_runner(args):
    """`args` with --runner resolved: 'DaskRunner' means Beam's Dask runner (its options,
    e.g. --dask_client_address, are registered by importing it); a runner Beam cannot
    build is one line listing the runners that work."""
    out, runner, i = [], None, 0
    while i < len(args):
        arg = args[i]
        if arg == '--runner' and i + 1 < len(args):
            arg, i = '--runner=' + args[i + 1], i + 1
        if arg.startswith('--runner='):
            runner = arg.split('=', 1)[1]
            runner = DASK_RUNNER if runner == 'DaskRunner' else runner
            arg = '--runner=' + runner
        out.append(arg)
        i += 1
    if runner is None:
        return out
    listing = ('runners that work here: %s (pip install "musekit[dask]"); on a cluster, '
               'not exercised by the tests: %s' % (', '.join(TESTED_RUNNERS),
                                                   ', '.join(UNTESTED_RUNNERS)))
    if runner == DASK_RUNNER:
        try:
            import apache_beam.runners.dask.dask_runner  # noqa: F401  (registers its options)
            import dask.distributed  # noqa: F401
        except ImportError:
            raise MusekitError('the Dask runner needs dask[distributed]: pip install '
                               '"musekit[dask]"') from None
        return out
    from apache_beam.runners.runner import create_runner
    try:
        create_runner(runner)
    except (ValueError, ImportError, AttributeError, TypeError):
        raise MusekitError('unknown --runner %r; %s' % (runner, listing)) from None
    return out


def run_or_remove(pipeline, remove_outputs):
    """Runs `pipeline` to the end; if it fails (a full disk, a bug), `remove_outputs()`
    deletes what this run wrote, so no set of shards is left half-written, and the error
    goes on (a MusekitError: one line naming the path)."""
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except BaseException:
        remove_outputs()
        raise
    return result


def finish(pcollections):
    """The job's last step, reading every output branch: some runners (Beam's Dask runner)
    compute only the last step of a pipeline and what it depends on."""
    return (tuple(pcollections) | 'AllOutputs' >> beam.Flatten()
            | 'Finished' >> beam.combiners.Count.Globally())


def _usage(fv, program):
    return command.usage(
        fv, '%s [flags] [Beam pipeline options]' % program,
        footer=['Beam options pass through, e.g. --direct_num_workers=2 '
                '--direct_running_mode=multi_processing, or --runner=DaskRunner '
                '[--dask_client_address=HOST:8786] (pip install "musekit[dask]"), '
                '--runner=FlinkRunner, ...'])


def print_counters(result, out=None):
    """Prints every musekit counter of a finished pipeline, sorted by name; returns them,
    or None (saying so in one line) when the runner reports no metrics."""
    out = out or sys.stdout
    counts = {}
    try:
        counters = result.metrics().query()['counters']
    except NotImplementedError:
        print('  (this runner reports no counters: nothing is counted here; the '
              'DirectRunner counts every record and drop)', file=out)
        return None
    for c in counters:
        if c.key.metric.namespace != NAMESPACE:
            continue
        value = c.committed if c.committed is not None else c.attempted
        counts[c.key.metric.name] = counts.get(c.key.metric.name, 0) + (value or 0)
    width = max([len(k) for k in counts] + [10])
    for name in sorted(counts):
        print('  %-*s %d' % (width, name, counts[name]), file=out)
    return counts


def run_main(main, argv, program):
    """Runs `main(argv)`; user errors become one line on stderr and exit status 2."""
    import logging
    # a failing step's error reaches us raised (one line for a MusekitError, a traceback
    # for a bug); Beam's own log of it would print that traceback every time
    logging.getLogger('apache_beam').setLevel(logging.CRITICAL)
    command.run_main(main, argv, program)
