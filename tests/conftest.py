"""Shared pytest setup: the tests folder on sys.path (for test-data builders), markers,
quiet third-party warnings, and the cheap-first test order of mutation runs."""
import collections
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: takes more than a few seconds')
    for pattern in ("ignore:Couldn't find ffmpeg:RuntimeWarning",
                    "ignore:'audioop' is deprecated:DeprecationWarning",
                    'ignore:Possible nested set:FutureWarning'):   # Beam, escaped '['
        config.addinivalue_line('filterwarnings', pattern)


def pytest_collection_modifyitems(session, config, items):
    """Under mutmut (MUTANT_UNDER_TEST set), runs the test modules that took least time in
    mutmut's own timing first, each module's tests in their usual order: a killed mutant
    stops at its first failure (-x) sooner. The verdict is the same in any order."""
    if not os.environ.get('MUTANT_UNDER_TEST'):
        return
    try:
        with open('mutmut-stats.json') as f:
            durations = json.load(f)['duration_by_test']
    except (OSError, ValueError, KeyError):
        return
    cost = collections.Counter()
    for test, seconds in durations.items():
        cost[test.split('::')[0]] += seconds
    # mutmut runs in mutants/ and names the tests without that prefix
    module_cost = lambda item: cost[item.nodeid.split('::')[0].removeprefix('mutants/')]  # noqa: E731
    items.sort(key=module_cost)
    # A quick first pass (see setup.cfg): modules costlier than MUSEKIT_MUTATION_QUICK
    # seconds are left out; what survives it is run again with every test.
    # (not in mutmut's stats run: its record of which tests reach which functions is kept
    # for the full rerun too)
    quick = os.environ.get('MUSEKIT_MUTATION_QUICK')
    if quick and os.environ['MUTANT_UNDER_TEST'] != 'stats':
        kept = [item for item in items if module_cost(item) <= float(quick)]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture(autouse=True)
def _fresh_schema_under_mutmut():
    """Under mutmut, builds the SequenceExample schema anew for each test: built once per
    process, its builders would count as reached by the first test only (mutmut's stats),
    and their mutants would run that test alone."""
    if os.environ.get('MUTANT_UNDER_TEST'):
        from musekit.data import example
        example.sequence_example_class.cache_clear()
    yield


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a 256 KiB tmpfs (mounted here, unmounted after): writing past its size
    fails with ENOSPC, as a full disk does. Skips where this process may not mount (not
    root, or a sandbox without CAP_SYS_ADMIN); CI runs as root, where it works."""
    import subprocess
    folder = tmp_path / 'small_disk'
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip('mounting a small tmpfs needs root')
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip('cannot mount a tmpfs here: %s' % done.stderr.strip())
    try:
        yield folder
    finally:
        subprocess.run(['umount', '-l', str(folder)], capture_output=True)
