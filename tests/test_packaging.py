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
    assert 'no such bundle file: nope (shipped bundles: attention_rnn, basic_improv, ' \
        'basic_rnn, biaxial_jsb, chord_token_lstm, lookback_rnn, performance_with_dynamics, polyphony, ' \
        'rnn_nade_jsb, ssnu_jsb, wavenet)' in proc.stderr


def test_no_submodule_imports_back_up_into_the_package_init():
    """Submodules take only submodules from `musekit` (the version from musekit.version), so
    none depends on the package's __init__ having run to its end."""
    import ast
    import glob
    package = os.path.join(ROOT, 'musekit')
    submodules = {os.path.splitext(name)[0] for name in os.listdir(package)
                  if not name.startswith('_')}
    back_up = []
    for folder in ('musekit', 'pipelines'):
        for path in glob.glob(os.path.join(ROOT, folder, '**', '*.py'), recursive=True):
            if path == os.path.join(package, '__init__.py'):
                continue
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.ImportFrom) and node.module == 'musekit':
                    back_up += ['%s: from musekit import %s' % (path, a.name)
                                for a in node.names if a.name not in submodules]
                elif isinstance(node, ast.Import):
                    back_up += ['%s: import musekit' % path
                                for a in node.names if a.name == 'musekit']
    assert back_up == []


def test_setup_and_the_package_read_one_version():
    import musekit
    from musekit import version
    proc = subprocess.run([sys.executable, 'setup.py', '--version'], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    assert proc.stdout.split()[-1] == version.__version__ == musekit.__version__
