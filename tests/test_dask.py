"""The data jobs on Beam's Dask runner, against a local Dask cluster of two worker
processes: the same bytes as the DirectRunner, every branch of the job run (the runner
computes only a pipeline's last step), and a clear line where the runner reports no
counters or the runner's name is wrong."""
import filecmp
import os
import shutil
import subprocess
import sys

import pytest

from musekit.data import sources

distributed = pytest.importorskip('distributed')

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
CHORALES = ['bwv1.6.mxl', 'bwv10.7.mxl', 'bwv101.7.mxl', 'bwv104.6.mxl', 'bwv11.6.mxl',
            'bwv110.7.mxl', 'bwv111.6.mxl', 'bwv113.8.mxl']

pytestmark = pytest.mark.slow


def run(cwd, program, *args, ok=True):
    proc = subprocess.run([os.path.join(BIN, program), *args], capture_output=True,
                          text=True, cwd=cwd)
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope='module')
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local.scheduler_address


@pytest.fixture(scope='module')
def music(tmp_path_factory):
    root = tmp_path_factory.mktemp('dask')
    folder = root / 'music'
    folder.mkdir()
    for name in CHORALES:
        shutil.copy(os.path.join(sources.music21_corpus_dir('bach'), name), folder / name)
    (folder / 'broken.mid').write_bytes(b'MThd not really')
    shutil.copy(os.path.join(HERE, 'data', 'JSB_Chorales.mat'), folder / 'jsb.mat')
    return root


def same_files(a, b, pattern_names):
    names_a = sorted(n for n in os.listdir(a) if any(n.startswith(p) for p in pattern_names))
    names_b = sorted(n for n in os.listdir(b) if any(n.startswith(p) for p in pattern_names))
    assert names_a == names_b and names_a
    match, mismatch, errors = filecmp.cmpfiles(a, b, names_a, shallow=False)
    assert not mismatch and not errors, mismatch


def test_convert_and_create_dataset_on_dask_equal_the_direct_runner(music, cluster):
    dask = ['--runner=DaskRunner', '--dask_client_address=' + cluster]
    run(music, 'musekit_convert', '--input=music', '--output=direct/ns/all')
    out = run(music, 'musekit_convert', '--input=music', '--output=dask/ns/all', *dask).stdout
    assert 'reports no counters' in out and '  files_read' not in out
    same_files(music / 'direct' / 'ns', music / 'dask' / 'ns', ['all-'])
    # the dead-letter branch ran too
    assert 'broken.mid' in (music / 'dask' / 'ns' / 'all-dead_letter.tsv').read_text()
    for config in ('lookback_rnn', 'snu_jsb'):
        direct = run(music, 'musekit_create_dataset', '--config=' + config,
                     '--input=direct/ns/all*', '--output_dir=direct/' + config).stdout
        assert 'eval_sequences' in direct
        run(music, 'musekit_create_dataset', '--config=' + config, '--input=dask/ns/all*',
            '--output_dir=dask/' + config, *dask)
        same_files(music / 'direct' / config, music / 'dask' / config,
                   ['training_', 'eval_', 'test_'])


def test_a_fitted_vocabulary_is_the_same_on_dask(music, cluster):
    import json
    for runner, extra in (('direct', []), ('dask', ['--runner=DaskRunner',
                                                     '--dask_client_address=' + cluster])):
        run(music, 'musekit_create_dataset', '--config=chord_token_lstm',
            '--input=music/jsb.mat', '--output_dir=%s/ct' % runner, *extra)
    vocabularies = [json.loads((music / r / 'ct' / 'dataset.json').read_text())
                    ['encoder']['params']['vocabulary'] for r in ('direct', 'dask')]
    assert vocabularies[0] == vocabularies[1] and len(vocabularies[0]) > 500
    same_files(music / 'direct' / 'ct', music / 'dask' / 'ct', ['training_', 'test_'])


@pytest.mark.parametrize('runner', ['DaskRuner', 'apache_beam.runners.nope.NopeRunner'])
def test_an_unknown_runner_is_one_line_naming_the_runners_that_work(tmp_path, runner):
    proc = run(tmp_path, 'musekit_convert', '--input=music21:bach', '--output=x/ns',
               '--runner=' + runner, ok=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'unknown --runner' in lines[0]
    assert 'apache_beam.runners.dask.dask_runner.DaskRunner' in lines[0]
