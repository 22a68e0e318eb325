"""The Magenta references in tests/data/magenta (made by Magenta 2.1.4, README there): where
they are, their golden outputs (read once per run), and what the tests compare them with."""
import base64
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


def recorded_primer_flags(case, folder, primer_flag):
    """musekit_generate's primer flags of a recorded Magenta case: its `primer_flag`
    (primer_melody, primer_drums), --qpm, and --primer_midi (its MIDI written into
    `folder`)."""
    flags = []
    if case[primer_flag] is not None:
        flags.append('--%s=%s' % (primer_flag, case[primer_flag]))
    if case['qpm']:
        flags.append('--qpm=%r' % case['qpm'])
    if case['primer_midi']:
        path = folder / 'primer.mid'
        path.write_bytes(base64.b64decode(case['primer_midi']))
        flags.append('--primer_midi=%s' % path)
    return flags


class RecordingModel:
    """A step model that records the inputs it is fed: batch row `row`, or with row=None
    the whole batch."""

    def __init__(self, model, row=0):
        self.model, self.row, self.fed = model, row, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def _record(self, inputs):
        self.fed.append(np.array(inputs if self.row is None else inputs[self.row]))

    def step(self, inputs, state):
        self._record(inputs)
        return self.model.step(inputs, state)

    def step_and_sample(self, inputs, state, temperature, rng):
        self._record(inputs)
        return self.model.step_and_sample(inputs, state, temperature, rng)
