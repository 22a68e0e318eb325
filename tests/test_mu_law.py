"""The mu-law encoder's one-sample paths (sample_class, the stepper, label_to_event)."""
import collections

import numpy as np
import pytest

from refusals import refusal
from musekit.encoders.mu_law import MuLawEncoder, mu_law_classes, mu_law_samples

# out of range both ways, just past and exactly on the edges, and silence of both signs
SAMPLES = [-7.0, -1.5, -1.0000001, -1.0, -0.5, -0.0, 0.0, 0.01, 0.5, 1.0, 1.0000001, 1.5,
           3.0]
CLASSES = [0, 0, 0, 0, 16, 128, 128, 157, 239, 255, 255, 255, 255]


def test_float32_samples_get_the_classes_of_their_exact_values():
    # float32 arithmetic would put some samples near a class edge in the next class, so
    # float32 audio files would train on other classes than the stepper gives
    samples = np.linspace(-1, 1, 2_000_001).astype(np.float32)
    np.testing.assert_array_equal(mu_law_classes(samples),
                                  mu_law_classes(samples.astype(np.float64)))
    edges = samples[[469_577, 658_030, 672_751, 700_340, 1_102_974]]    # -0.5304229855...
    assert mu_law_classes(edges).tolist() == [15, 24, 26, 28, 203]
    assert [MuLawEncoder().sample_class(x) for x in edges] == [15, 24, 26, 28, 203]


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


def test_mu_law_samples_are_float64_whatever_the_classes_dtype():
    # class 128 of 256 is companded 2 * 128 / 255 - 1 = 1/255, the sample (256^(1/255) - 1) / 255
    want = [-1.0, (256 ** (1 / 255) - 1) / 255, 1.0]
    for classes in ([0, 128, 255], np.array([0, 128, 255], np.float32),
                    np.array([0, 128, 255], np.uint8)):
        samples = mu_law_samples(classes)
        assert samples.dtype == np.float64
        assert samples.tolist() == pytest.approx(want, rel=1e-15, abs=1e-15)
        assert samples.tolist() == mu_law_samples(np.arange(256))[[0, 128, 255]].tolist()


def test_encode_uses_the_encoders_mu_and_gives_int64():
    encoder = MuLawEncoder(mu=15)           # 16 classes, silence (f = 0) is class 8
    inputs, labels = encoder.encode(['', 1.0, 0.0, -1.0, 0.5])
    # 0.5 companded: ln(1 + 7.5) / ln(16) = 0.7718, class floor(1.7718 / 2 * 15 + 0.5) = 13
    assert labels.tolist() == [15, 8, 0, 13] and inputs.tolist() == [8, 15, 8, 0]
    assert inputs.dtype == np.int64 and labels.dtype == np.int64
    conditioned = MuLawEncoder(condition=True, labels=['a', 'b'])
    inputs, labels = conditioned.encode(['b', 1.0])
    assert inputs.tolist() == [[128, 1]] and labels.tolist() == [255]
    assert inputs.dtype == np.int64 and labels.dtype == np.int64


def test_statistics_count_each_clip_once_only_when_conditioned():
    conditioned = MuLawEncoder(condition=True)
    assert conditioned.statistics(['bach', 0.1, 0.2]) == collections.Counter({'label:bach': 1})
    assert conditioned.statistics(['', 0.1]) == collections.Counter({'label:': 1})
    assert MuLawEncoder().statistics(['bach', 0.1]) == collections.Counter()


def test_fitted_labels_are_the_counted_ones_sorted():
    encoder = MuLawEncoder(mu=15, condition=True)
    counts = collections.Counter({'label:schubert': 1, 'label:bach': 3, 'label:chopin': 1})
    counts.subtract({'label:chopin': 1})        # counted, then taken out: a zero count
    assert counts['label:chopin'] == 0
    assert encoder.fitted(counts) == {'mu': 15, 'condition': True,
                                      'labels': ['bach', 'schubert']}
    message = 'the training data has no clips, so no labels to condition on'
    assert refusal(encoder.fitted, collections.Counter()) == message
    assert refusal(encoder.fitted, collections.Counter({'label:bach': 0})) == message


def test_describe_fit_lists_the_labels():
    encoder = MuLawEncoder(condition=True, labels=['schubert', 'bach', 'chopin'])
    assert encoder.describe_fit() == '3 labels: schubert, bach, chopin'
    assert MuLawEncoder(condition=True, labels=['bach']).describe_fit() == '1 labels: bach'


def test_bad_events_are_refused_with_the_whole_message():
    encoder = MuLawEncoder()
    assert refusal(encoder.validate_events, []) == (
        "an audio sequence starts with its label (a string), not 'nothing'")
    assert refusal(encoder.validate_events, 'b') == (
        "an audio sequence is a list (its label, then samples), not the string 'b'")
    for events, bad in ((['', float('nan'), 0.5], 'audio event 1 is nan'),
                        (['', 'x'], "audio event 1 is 'x'"),
                        (['', 0.5, [0.1]], 'audio event 2 is [0.1]'),
                        (['', 0.5, 0.1, float('-inf')], 'audio event 3 is -inf'),
                        (['', 0.5, True], 'audio event 2 is True'),
                        (['', True, 0.5], 'audio event 1 is True'),
                        (['', 10 ** 400], 'audio event 1 is %d' % 10 ** 400),
                        (['', np.float32(0.5), np.int16(3), -1], None)):
        if bad is None:                     # numpy numbers and ints are samples
            encoder.validate_events(events)
            continue
        assert refusal(encoder.validate_events, events) == bad + ', not a finite sample value'
        assert refusal(encoder.encode, events) == bad + ', not a finite sample value'


def test_pushing_a_bad_sample_is_refused_and_not_recorded():
    stepper = MuLawEncoder().stepper(['', 0.25])
    for bad, text in ((float('nan'), 'nan'), (True, 'True'), ('x', "'x'"),
                      (10 ** 400, '%d' % 10 ** 400)):
        assert refusal(stepper.push, bad) == 'audio event 2 is %s, not a finite sample value' % text
    assert stepper.events == ['', 0.25]
    assert int(stepper.push(np.float32(1.0))) == 255


def test_constructor_refusals_are_whole_messages():
    assert refusal(MuLawEncoder, mu=0) == "parameter mu=0 of encoder 'mu_law': expected int >= 1, <= 65535"
    assert refusal(MuLawEncoder, mu=65536) == "parameter mu=65536 of encoder 'mu_law': expected int >= 1, <= 65535"
    assert refusal(MuLawEncoder, mu=2.0) == "parameter mu=2.0 of encoder 'mu_law': expected int >= 1, <= 65535"
    assert refusal(MuLawEncoder, condition=1) == "parameter condition=1 of encoder 'mu_law': expected bool"
    assert refusal(MuLawEncoder, labels=['a', 'a']) == (
        "labels is a list of distinct names, not ['a', 'a']")
    assert MuLawEncoder(labels=('a',)).labels == ['a']       # a tuple is a list in JSON
    assert refusal(MuLawEncoder, labels=['a', 1]) == (
        "parameter labels=['a', 1] of encoder 'mu_law': expected list of str or null")
    assert MuLawEncoder(mu=1).mu == 1 and MuLawEncoder(mu=65535).num_classes == 65536


def test_label_index_is_zero_unconditioned_and_the_fitted_position_otherwise():
    assert MuLawEncoder().label_index('anything') == 0
    conditioned = MuLawEncoder(condition=True, labels=['bach', 'chopin'])
    assert [conditioned.label_index(x) for x in ('bach', 'chopin')] == [0, 1]
    assert refusal(conditioned.label_index, 'x') == (
        "label 'x' is not one the model was trained on; it knows bach, chopin")
