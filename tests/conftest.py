"""Shared pytest setup: the tests folder on sys.path (for test-data builders), markers,
and quiet third-party warnings."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: takes more than a few seconds')
    for pattern in ("ignore:Couldn't find ffmpeg:RuntimeWarning",
                    "ignore:'audioop' is deprecated:DeprecationWarning",
                    'ignore:Possible nested set:FutureWarning'):   # Beam, escaped '['
        config.addinivalue_line('filterwarnings', pattern)
