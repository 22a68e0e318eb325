"""The mu-law encoder's one-sample paths (sample_class, the stepper, label_to_event)."""
import numpy as np
import pytest

from refusals import refusal
from musekit.encoders.mu_law import MuLawEncoder, mu_law_classes, mu_law_samples

# out of range both ways, just past and exactly on the edges, and silence of both signs
SAMPLES = [-7.0, -1.5, -1.0000001, -1.0, -0.5, -0.0, 0.0, 0.01, 0.5, 1.0, 1.0000001, 1.5,
           3.0]
CLASSES = [0, 0, 0, 0, 16, 128, 128, 157, 239, 255, 255, 255, 255]


def test_sample_class_clips_like_mu_law_classes():
    encoder = MuLawEncoder()
    assert [encoder.sample_class(x) for x in SAMPLES] == CLASSES
    assert mu_law_classes(SAMPLES).tolist() == CLASSES
    centres = mu_law_samples(np.arange(256))
    assert [encoder.sample_class(x) for x in centres] == list(range(256))


def test_stepper_pushes_give_the_encoded_inputs():
    for encoder in (MuLawEncoder(), MuLawEncoder(condition=True, labels=['a', 'b'])):
        events = ['b' if encoder.condition else ''] + SAMPLES
        inputs, _ = encoder.encode(events + [0.0])
        stepper = encoder.stepper([])
        pushed = np.stack([stepper.push(e) for e in events])
        assert pushed.tolist() == inputs.tolist() and pushed.dtype == np.int64
        assert stepper.events == events


def test_label_to_event_uses_the_encoders_mu():
    encoder = MuLawEncoder(mu=15)           # 16 classes: class 8's centre is f = 1/15
    samples = [encoder.label_to_event(c, ['']) for c in range(16)]
    assert samples[8] == pytest.approx((16 ** (1 / 15) - 1) / 15, abs=1e-12)   # 0.013535
    assert samples == mu_law_samples(np.arange(16), 15).tolist()
    assert samples[0] == pytest.approx(-1.0) and samples[15] == pytest.approx(1.0)
    assert [encoder.sample_class(x) for x in samples] == list(range(16))


def test_stepper_refuses_a_first_event_that_is_not_a_label():
    encoder = MuLawEncoder()
    message = 'an audio sequence starts with its label (a string), not 0.5'
    assert refusal(encoder.stepper, [0.5, 0.1]) == message
    assert refusal(encoder.validate_events, [0.5, 0.1]) == message
    stepper = encoder.stepper([])
    assert refusal(stepper.push, 0.5) == message
    assert stepper.events == [] and int(stepper.push('')) == 128
