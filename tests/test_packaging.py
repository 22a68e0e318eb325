"""A non-editable install (a wheel, as from a package index) carries the configs and the
shipped bundles: generation by a bundle's name works outside the repository."""
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_a_wheel_install_generates_from_a_shipped_bundle_by_name(tmp_path):
    source = tmp_path / 'source'
    source.mkdir()
    for name in ('setup.py', 'README.md'):
        shutil.copy(os.path.join(ROOT, name), source / name)
    for name in ('musekit', 'pipelines', 'configs', 'bundles'):
        shutil.copytree(os.path.join(ROOT, name), source / name,
                        ignore=shutil.ignore_patterns('__pycache__'))
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
                    '--no-build-isolation', '--wheel-dir', str(tmp_path / 'wheels'),
                    str(source)], check=True, capture_output=True)
    [wheel] = os.listdir(tmp_path / 'wheels')
    fresh = tmp_path / 'fresh'
    subprocess.run([sys.executable, '-m', 'venv', str(fresh)], check=True)
    python = str(fresh / 'bin' / 'python')
    subprocess.run([python, '-m', 'pip', 'install', '--quiet', '--no-deps',
                    str(tmp_path / 'wheels' / wheel)], check=True, capture_output=True)
    # musekit from the wheel; its dependencies from this environment (not its musekit)
    purelib = subprocess.run([python, '-c', 'import sysconfig; '
                              'print(sysconfig.get_paths()["purelib"])'],
                             capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(purelib, 'dependencies.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    work = tmp_path / 'elsewhere'
    work.mkdir()
    where = subprocess.run([python, '-c', 'import musekit; print(musekit.__file__)'],
                           capture_output=True, text=True, cwd=str(work), check=True).stdout
    assert where.startswith(purelib)
    # pipelines/ installs with its subpackages (the readers, one module each)
    readers = subprocess.run([python, '-c', 'from musekit.registry import READERS; '
                              'print(READERS.names())'], capture_output=True, text=True,
                             cwd=str(work), check=True).stdout
    assert readers.strip() == "['audio', 'note_sequences']"
    proc = subprocess.run([str(fresh / 'bin' / 'musekit_generate'), '--bundle_file=lookback_rnn',
                           '--output_dir=out', '--num_outputs=2', '--seed=1'],
                          capture_output=True, text=True, cwd=str(work))
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(work / 'out')) == ['melody_01.mid', 'melody_02.mid']
    proc = subprocess.run([str(fresh / 'bin' / 'musekit_generate'), '--bundle_file=nope',
                           '--output_dir=out'], capture_output=True, text=True, cwd=str(work))
    assert proc.returncode == 2
    assert 'no such bundle file: nope (shipped bundles: attention_rnn, basic_rnn, ' \
        'biaxial_jsb, chord_token_lstm, lookback_rnn, ssnu_jsb, wavenet)' in proc.stderr
