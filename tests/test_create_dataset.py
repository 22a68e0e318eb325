"""The dataset job end to end on a handful of real chorales, in-process."""
import glob
import json
import os
import shutil

import numpy as np
import pytest

from musekit.data import example, sources, tfrecord
from musekit.errors import MusekitError
from musekit.pipelines import convert, create_dataset

CHORALES = ['bwv10.7.mxl', 'bwv101.7.mxl', 'bwv102.7.mxl', 'bwv103.6.mxl', 'bwv104.6.mxl',
            'bwv108.6.mxl', 'bwv11.6.mxl', 'bwv110.7.mxl', 'bwv111.6.mxl', 'bwv112.5.mxl']


@pytest.fixture(scope='module')
def chorale_dir(tmp_path_factory):
    # A fixed folder name: it is the collection in every record id, and so decides the
    # split; mktemp's own names (chorales0, chorales1...) count how often this fixture ran,
    # which depends on the order tests run in (mutmut orders them its own way).
    root = tmp_path_factory.mktemp('chorales') / 'chorales'
    root.mkdir()
    corpus = sources.music21_corpus_dir('bach')
    for name in CHORALES:
        shutil.copy(os.path.join(corpus, name), root / name)
    return str(root)


@pytest.fixture(scope='module')
def note_sequences(chorale_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('ns') / 'bach')
    convert.main(['musekit_convert', '--input=' + chorale_dir, '--output=' + out])
    return out


def read_split(output_dir, split):
    files = sorted(glob.glob(os.path.join(output_dir, '%s_melodies-*.tfrecord' % split)))
    return files, [example.parse_sequence_example(r)
                   for f in files for r in tfrecord.read_record_file(f)]


def run_job(args):
    create_dataset.main(['musekit_create_dataset'] + args)


@pytest.mark.parametrize('config,sizes', [('basic_rnn', (38, 38)), ('lookback_rnn', (121, 40)),
                                          ('attention_rnn', (74, 40))])
def test_examples_have_the_configs_shapes(note_sequences, tmp_path, capsys, config, sizes):
    out = str(tmp_path / 'ds')
    run_job(['--config=' + config, '--input=' + note_sequences + '*', '--output_dir=' + out,
             '--eval_ratio=0.3'])
    printed = capsys.readouterr().out
    _, train = read_split(out, 'training')
    _, evals = read_split(out, 'eval')
    assert train and evals
    for inputs, labels in train + evals:
        assert inputs.ndim == 2 and inputs.shape[1] == sizes[0]
        assert labels.shape == (len(inputs),)
        assert labels.min() >= 0 and labels.max() < sizes[1]
        assert len(inputs) >= 7 * 16 - 1 and len(inputs) <= 511
    assert '%d training and %d eval melodies' % (len(train), len(evals)) in printed
    assert 'melodies_discarded_too_short' in printed
    with open(os.path.join(out, 'dataset.json')) as f:
        description = json.load(f)
    assert description['config'] == config and description['eval_ratio'] == 0.3
    assert description['counters']['training_melodies'] == len(train)
    assert description['counters']['eval_melodies'] == len(evals)


def test_split_is_deterministic_and_byte_identical(note_sequences, tmp_path):
    outs = []
    for run in range(2):
        out = str(tmp_path / ('ds%d' % run))
        run_job(['--config=lookback_rnn', '--input=' + note_sequences + '*',
                 '--output_dir=' + out, '--eval_ratio=0.3'])
        outs.append(out)
    for split in ('training', 'eval', 'dataset.json'):
        a, b = (sorted(glob.glob(os.path.join(o, split + '*'))) for o in outs)
        assert a
        assert [os.path.basename(p) for p in a] == [os.path.basename(p) for p in b]
        for pa, pb in zip(a, b):
            with open(pa, 'rb') as fa, open(pb, 'rb') as fb:
                assert fa.read() == fb.read()


def test_split_follows_the_id_hash():
    from musekit.data.splits import HashSplit

    def split_of(record_id, ratio):
        return HashSplit(ratio).assign(record_id, b'')
    ids = ['/id/musicxml/bach/%d' % i for i in range(20000)]
    frac = np.mean([split_of(i, 0.1) == 'eval' for i in ids])
    assert 0.09 < frac < 0.11
    assert all(split_of(i, 0.0) == 'training' for i in ids[:100])
    assert all(split_of(i, 1.0) == 'eval' for i in ids[:100])
    assert [split_of(i, 0.5) for i in ids[:50]] == [split_of(i, 0.5) for i in ids[:50]]
    # sha256 of the id: fixed across processes and Python versions
    assert [split_of('/id/midi/x/%d' % i, 0.5) for i in range(8)] == \
        [split_of('/id/midi/x/%d' % i, 0.5) for i in range(8)]


def test_the_split_comes_from_the_config(tmp_path):
    from musekit.config import get_config
    from musekit.data.splits import HashSplit
    config = get_config('basic_rnn').to_dict()
    assert isinstance(get_config('basic_rnn').make_split(), HashSplit)
    config['data']['split'] = {'name': 'hash', 'params': {'eval_ratio': 0.25}}
    path = tmp_path / 'quarter.json'
    path.write_text(json.dumps(config))
    split = get_config(str(path)).make_split()
    assert split.eval_ratio == 0.25 and split.with_options(eval_ratio=None) is split
    assert split.with_options(eval_ratio=0.5).eval_ratio == 0.5
    for bad, message in (({'name': 'nope'}, "unknown split 'nope'; known: hash"),
                         ({'name': 'hash', 'params': {'ratio': 1}},
                          "bad parameters for split 'hash': unknown parameter 'ratio'"),
                         ({'name': 'hash', 'params': {'eval_ratio': 2}},
                          'parameter eval_ratio=2: expected float >= 0.0, <= 1.0'),
                         ('hash', 'data.split must be an object')):
        config['data']['split'] = bad
        path.write_text(json.dumps(config))
        with pytest.raises(MusekitError, match=message):
            get_config(str(path))


def test_transposition_augments_the_training_split_only(chorale_dir, tmp_path):
    counts = {}
    for name, extra in (('plain', []), ('aug', ['--transpose_range=-2,2'])):
        out = str(tmp_path / name)
        # mono_rnn keeps keys as they are, so every transposition is a new example
        run_job(['--config=mono_rnn', '--input=' + chorale_dir, '--output_dir=' + out,
                 '--eval_ratio=0.3'] + extra)
        counts[name] = {s: read_split(out, s)[1] for s in ('training', 'eval')}
    assert len(counts['aug']['training']) == 5 * len(counts['plain']['training'])
    assert len(counts['aug']['eval']) == len(counts['plain']['eval'])
    for (a, _), (b, _) in zip(counts['aug']['eval'], counts['plain']['eval']):
        np.testing.assert_array_equal(a, b)


def test_transpose_range_parsing():
    assert create_dataset.parse_transpose_range('') == [0]
    assert create_dataset.parse_transpose_range('-1,2') == [-1, 0, 1, 2]
    for bad in ('3', 'a,b', '2,-2', '-30,0'):
        with pytest.raises(Exception, match='transpose_range'):
            create_dataset.parse_transpose_range(bad)


@pytest.mark.parametrize('args,message', [
    (['--config=nope_rnn', '--input=x', '--output_dir=y'], 'unknown config'),
    (['--config=basic_rnn', '--output_dir=y'], 'missing required flag: --input'),
    (['--config=basic_rnn', '--input=/no/such/*', '--output_dir=y'], 'no input files'),
    (['--config=basic_rnn', '--input=x', '--output_dir=y', '--eval_ratio=2'], 'eval_ratio'),
    (['--config=basic_rnn', '--input=x', '--output_dir=y', '--transpose_range=9'],
     'transpose_range'),
    (['--config=basic_rnn', '--input=x', '--output_dir=y', '--bogus=1'], 'unknown flag'),
    (['--config=basic_rnn', '--input={ns}*', '--output_dir={file}'],
     'exists and is not a folder'),
])
def test_bad_flags_end_in_one_line_and_exit_2(args, message, note_sequences, tmp_path, capsys):
    (tmp_path / 'a_file').write_text('')
    args = [a.format(ns=note_sequences, file=tmp_path / 'a_file') for a in args]
    with pytest.raises(SystemExit) as e:
        create_dataset.run(['musekit_create_dataset'] + args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('musekit_create_dataset: error:')
    assert message in err[0]


def test_transpositions_undone_by_key_normalisation_are_not_written_twice(chorale_dir, tmp_path,
                                                                          capsys):
    out = str(tmp_path / 'ds')
    run_job(['--config=basic_rnn', '--input=' + chorale_dir, '--output_dir=' + out,
             '--eval_ratio=0', '--transpose_range=-1,1'])
    printed = capsys.readouterr().out
    _, train = read_split(out, 'training')
    keys = {(inputs.tobytes(), labels.tobytes()) for inputs, labels in train}
    assert len(keys) == len(train)      # doubled voices and undone transpositions dropped
    assert 'melodies_dropped_duplicate_in_piece' in printed


def test_a_damaged_record_file_is_counted_and_the_rest_still_used(note_sequences, tmp_path,
                                                                   capsys):
    shards = sorted(glob.glob(note_sequences + '-*.tfrecord'))
    folder = tmp_path / 'ns'
    folder.mkdir()
    for path in shards:
        shutil.copy(path, folder / os.path.basename(path))
    whole = tfrecord.read_record_file(shards[0])
    damaged = folder / os.path.basename(shards[0])
    with open(shards[0], 'rb') as f:
        data = f.read()
    damaged.write_bytes(data[:-100])     # the last record loses its tail
    out = str(tmp_path / 'ds')
    run_job(['--config=basic_rnn', '--input=%s/*.tfrecord' % folder, '--output_dir=' + out,
             '--eval_ratio=0'])
    printed = capsys.readouterr().out
    assert 'record_files_damaged' in printed
    with open(os.path.join(out, 'dataset.json')) as f:
        counters = json.load(f)['counters']
    assert counters['record_files_damaged'] == 1
    total = sum(len(tfrecord.read_record_file(p)) for p in shards)
    assert counters['training_sequences'] == total - 1 and len(whole) >= 2


def test_an_input_glob_over_the_output_is_refused_and_the_output_kept(note_sequences,
                                                                      tmp_path, capsys):
    out = str(tmp_path / 'ds')
    run_job(['--config=basic_rnn', '--input=' + note_sequences + '*', '--output_dir=' + out])
    before = {p: open(p, 'rb').read() for p in glob.glob(out + '/*')}
    with pytest.raises(SystemExit) as e:
        create_dataset.run(['musekit_create_dataset', '--config=basic_rnn',
                            '--input=%s/*' % out, '--output_dir=' + out])
    assert e.value.code == 2
    assert "matches this job's own output" in capsys.readouterr().err
    assert {p: open(p, 'rb').read() for p in glob.glob(out + '/*')} == before


def test_records_that_are_not_note_sequences_end_in_a_clear_error(note_sequences, tmp_path,
                                                                  capsys):
    out = str(tmp_path / 'ds')
    run_job(['--config=basic_rnn', '--input=' + note_sequences + '*', '--output_dir=' + out])
    examples = sorted(glob.glob(out + '/training_melodies-*'))[0]
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        create_dataset.run(['musekit_create_dataset', '--config=basic_rnn',
                            '--input=' + examples, '--output_dir=%s/again' % tmp_path])
    assert e.value.code == 2
    captured = capsys.readouterr()
    assert 'read no NoteSequences from' in captured.err
    assert printed_counter(captured.out, 'record_files_damaged') == 1


def printed_counter(text, name):
    [line] = [l for l in text.splitlines() if l.split()[:1] == [name]]
    return int(line.split()[1])


def test_a_glob_of_music_with_a_stray_file_reads_the_music(chorale_dir, tmp_path, capsys):
    folder = tmp_path / 'music'
    shutil.copytree(chorale_dir, folder)
    (folder / 'README.txt').write_text('ten chorales')
    out = str(tmp_path / 'ds')
    run_job(['--config=basic_rnn', '--input=%s/*' % folder, '--output_dir=' + out,
             '--eval_ratio=0'])
    printed = capsys.readouterr().out
    assert printed_counter(printed, 'files_read') == len(CHORALES)
    assert printed_counter(printed, 'files_skipped_unsupported_extension') == 1
    assert read_split(out, 'training')[1]


def test_a_folder_of_note_sequence_records_is_read_as_records(note_sequences, tmp_path,
                                                              capsys):
    folder = os.path.dirname(note_sequences)
    out_a, out_b = str(tmp_path / 'a'), str(tmp_path / 'b')
    run_job(['--config=basic_rnn', '--input=' + folder, '--output_dir=' + out_a])
    assert 'NoteSequence TFRecord files' in capsys.readouterr().out
    run_job(['--config=basic_rnn', '--input=' + note_sequences + '*', '--output_dir=' + out_b])
    assert read_split(out_a, 'training')[1]
    for split in ('training', 'eval'):
        assert [open(p, 'rb').read() for p in read_split(out_a, split)[0]] == \
            [open(p, 'rb').read() for p in read_split(out_b, split)[0]]


def test_sequences_without_an_id_are_split_by_their_content(note_sequences, tmp_path, capsys):
    from note_seq.protobuf import music_pb2
    records = [r for p in sorted(glob.glob(note_sequences + '-*.tfrecord'))
               for r in tfrecord.read_record_file(p)]
    anonymous = []
    for data in records:
        ns = music_pb2.NoteSequence.FromString(data)
        ns.id = ''
        anonymous.append(ns.SerializeToString())
    path = tmp_path / 'anonymous.tfrecord'
    with open(path, 'wb') as f:
        tfrecord.write_records(f, anonymous)
    out = str(tmp_path / 'ds')
    run_job(['--config=basic_rnn', '--input=%s' % path, '--output_dir=' + out,
             '--eval_ratio=0.5'])
    printed = capsys.readouterr().out
    assert printed_counter(printed, 'sequences_without_id') == len(records)
    assert printed_counter(printed, 'eval_sequences') > 0
    assert printed_counter(printed, 'training_sequences') > 0


# --- a family whose records are not NoteSequences, with a published three-way split ------

def _register_event_lines_family():
    """A reader of lines 'PART/NAME<TAB>60 -2 62 ...', an extractor of their events and a
    split that takes the part from the id, registered as a plugin would."""
    from musekit.data.splits import Split
    from musekit.extractors.base import Extractor, new_stats
    from musekit.pipelines.readers import Reader
    from musekit.registry import EXTRACTORS, READERS, SPLITS
    if 'test_event_lines' in READERS:
        return

    @READERS.register('test_event_lines')
    class LinesReader(Reader):
        what = 'event lines'

        def read(self, pipeline, input_spec, output_dir, output_prefixes):
            import apache_beam as beam
            with open(input_spec, 'rb') as f:
                records = [tuple(line.rstrip(b'\n').split(b'\t')) for line in f if line.strip()]
            return (pipeline | 'Lines' >> beam.Create([(i.decode(), d) for i, d in records]),
                    '%d event lines' % len(records), None)

    @EXTRACTORS.register('test_event_lines')
    class LinesExtractor(Extractor):
        output_name = 'lines'
        reader = 'test_event_lines'

        def params(self):
            return {}

        def decode(self, data):
            return [int(v) for v in data.split()]

        def prepare(self, item):
            return [item], new_stats()

        def check_augmentation(self, transpositions):
            pass

        def augment(self, piece, transposition):
            return [e + transposition if e >= 0 else e for e in piece]

        def extract(self, piece, encoder):
            return [piece], new_stats()

    @SPLITS.register('test_published')
    class PublishedSplit(Split):
        """The part is the id's first path component, as a benchmark publishes it."""
        names = ('train', 'valid', 'test')

        def assign(self, record_id, data):
            return record_id.split('/')[0]


def test_records_other_than_note_sequences_and_a_published_split(tmp_path, capsys):
    from musekit.config import get_config
    _register_event_lines_family()
    lines = {'train/a': [60, -2, 62, 64], 'train/b': [67, -1, 65, -2, 64],
             'valid/c': [60, 62, 64, 65], 'test/d': [72, 71, -2, 69]}
    source = tmp_path / 'events.tsv'
    source.write_text(''.join('%s\t%s\n' % (k, ' '.join(map(str, v))) for k, v in lines.items()))
    config = get_config('basic_rnn').to_dict()
    config['data'] = {'extractor': 'test_event_lines', 'split': {'name': 'test_published'}}
    config_path = tmp_path / 'lines.json'
    config_path.write_text(json.dumps(config))
    out = str(tmp_path / 'ds')
    run_job(['--config=%s' % config_path, '--input=%s' % source, '--output_dir=' + out,
             '--transpose_range=0,1'])
    assert '4 train and 1 valid and 1 test lines' in capsys.readouterr().out
    encoder = get_config(str(config_path)).make_encoder()
    for part, names in (('train', ['a', 'b']), ('valid', ['c']), ('test', ['d'])):
        files = sorted(glob.glob(os.path.join(out, '%s_lines-*.tfrecord' % part)))
        got = sorted(tuple(labels) for f in files for r in tfrecord.read_record_file(f)
                     for _, labels in [example.parse_sequence_example(r)])
        shifts = (0, 1) if part == 'train' else (0,)         # augmentation: first part only
        want = sorted(tuple(encoder.encode([e + s if e >= 0 else e
                                            for e in lines['%s/%s' % (part, n)]])[1])
                      for n in names for s in shifts)
        assert got == want, part
    with open(os.path.join(out, 'dataset.json')) as f:
        assert json.load(f)['split'] == 'test_published'
    with pytest.raises(SystemExit) as e:
        create_dataset.run(['musekit_create_dataset', '--config=%s' % config_path,
                            '--input=%s' % source, '--output_dir=' + out, '--eval_ratio=0.2'])
    assert e.value.code == 2
    assert "split 'test_published' takes no --eval_ratio" in capsys.readouterr().err


def test_num_shards_hparams_and_a_rerun_with_fewer_shards(note_sequences, tmp_path, capsys):
    out = str(tmp_path / 'ds')
    run_job(['--config=basic_rnn', '--input=' + note_sequences + '*', '--output_dir=' + out,
             '--num_shards=4', '--eval_ratio=0.3', '--hparams=batch_size=8'])
    four, records = read_split(out, 'training')
    assert [os.path.basename(p) for p in four] == [
        'training_melodies-%05d-of-00004.tfrecord' % i for i in range(4)]
    run_job(['--config=basic_rnn', '--input=' + note_sequences + '*', '--output_dir=' + out,
             '--num_shards=1', '--eval_ratio=0.3'])
    one, again = read_split(out, 'training')
    assert [os.path.basename(p) for p in one] == ['training_melodies-00000-of-00001.tfrecord']
    assert sorted(l.tobytes() for _, l in again) == sorted(l.tobytes() for _, l in records)


def test_music21_input_directly(tmp_path, capsys):
    out = str(tmp_path / 'ds')
    run_job(['--config=basic_rnn', '--input=music21:schumann_clara', '--output_dir=' + out,
             '--eval_ratio=0'])
    assert 'reading' in capsys.readouterr().out
    with open(os.path.join(out, 'dataset.json')) as f:
        description = json.load(f)
    assert description['input'] == 'music21:schumann_clara'
    assert description['counters']['training_sequences'] >= 1
