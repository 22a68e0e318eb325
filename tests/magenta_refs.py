"""The Magenta references in tests/data/magenta (made by Magenta 2.1.4, README there): where
they are, and their golden outputs, read once per run."""
import os

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'magenta')
_golden = {}


def mag(name):
    """The path of the reference bundle `name`.mag."""
    return os.path.join(DATA, name + '.mag')


def golden(name):
    """{key: array} of `name`.golden.npz: what Magenta's own graph gave."""
    if name not in _golden:
        with np.load(os.path.join(DATA, name + '.golden.npz')) as data:
            _golden[name] = {key: data[key] for key in data.files}
    return _golden[name]
