"""The shipped RNN-NADE bundle (bundles/rnn_nade_jsb.musekit, trained by benchmarks/jsb.py on
the JSB Chorales training split): it records its training, generation's NumPy model scores
the test split as Keras's evaluation did (that it generates chords by name is in
test_shipped_bundles)."""
import os

import numpy as np
import pytest

from musekit.bundle import load_bundle
from test_shipped_bundles import jsb_test_rolls, path_of

NAME = 'rnn_nade_jsb'


def numpy_nll(bundle, rolls):
    """Teacher-forced NLL (nats per frame) of the bundle's NumPy step model."""
    model = bundle.step_model(bundle.make_encoder())
    total, frames = 0.0, 0
    for roll in rolls:
        state = model.initial_state(1)
        for row, label in zip(roll[:-1], roll[1:]):
            outputs, state = model.step(row[None], state)
            total -= model.log_prob(outputs, label[None])[0]
        frames += len(roll) - 1
    return total / frames


def test_bundle_records_its_training_and_beats_the_per_key_models():
    bundle = load_bundle(path_of(NAME))
    assert os.path.getsize(path_of(NAME)) < 2 << 20
    facts = bundle.provenance
    assert bundle.config.name == NAME and bundle.config.model['name'] == 'rnn_nade'
    assert facts['epoch'] >= 1 and 'benchmarks/jsb.py --configs=rnn_nade_jsb' in facts['recipe']
    assert facts['dataset_description']['split'] == 'published'
    test = facts['test']
    assert test['steps'] == 4648 and test['loss'] < 6.0         # per-key models: 8.4-9.1


@pytest.mark.slow
def test_the_numpy_model_reproduces_the_recorded_test_nll():
    bundle = load_bundle(path_of(NAME))
    assert numpy_nll(bundle, jsb_test_rolls()) == pytest.approx(
        bundle.provenance['test']['loss'], abs=2e-3)


def test_a_chorale_is_likelier_than_its_keys_scrambled():
    bundle = load_bundle(path_of(NAME))
    rng = np.random.default_rng(0)
    for roll in jsb_test_rolls()[:3]:
        scrambled = roll[:, rng.permutation(88)]        # same chord sizes, other keys
        assert numpy_nll(bundle, [roll]) < numpy_nll(bundle, [scrambled]) - 5
