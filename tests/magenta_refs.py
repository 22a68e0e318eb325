"""The Magenta references in tests/data/magenta (made by Magenta 2.1.4, README there): where
they are, their golden outputs (read once per run), and what the tests compare them with."""
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


def step_probabilities(model, inputs):
    """[T, classes] float64 softmax of a step model's logits, fed `inputs` row by row."""
    state, probabilities = model.initial_state(1), []
    for row in inputs:
        logits, state = model.step(row[None], state)
        exp = np.exp(logits[0].astype(np.float64) - logits[0].max())
        probabilities.append(exp / exp.sum())
    return np.array(probabilities)


class RecordingModel:
    """A step model that records batch row 0 of the inputs it is fed."""

    def __init__(self, model):
        self.model, self.fed = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def step(self, inputs, state):
        self.fed.append(np.array(inputs[0]))
        return self.model.step(inputs, state)

    def step_and_sample(self, inputs, state, temperature, rng):
        self.fed.append(np.array(inputs[0]))
        return self.model.step_and_sample(inputs, state, temperature, rng)
