"""Edges of sampling and beam search that the mutation run (setup.cfg) found unpinned:
numerically extreme logits, the inverse-CDF draw at its ends, top-k for k = 1 and odd
class counts, exact lengths when one or no step is left, argument checks, progress calls,
and where beam search prunes."""
import sys

import numpy as np
import pytest

from musekit.encoders.chord_tokens import ChordTokenEncoder
from musekit.generation import beam_search, sample
from musekit.generation.sampling import log_softmax, sample_categorical, sample_classes
from musekit.models.token_rnn import TokenStepModel
from refusals import refusal

VOCABULARY = ['R', 'C4', 'E4', 'G4', 'C4.E4.G4']


class FixedRandom:
    """An rng stand-in whose `random` gives `value` everywhere."""

    def __init__(self, value):
        self.value = value

    def random(self, shape):
        return np.full(shape, self.value)


def token_model(seed=0):
    rng = np.random.default_rng(seed)
    v, e, u = len(VOCABULARY) + 1, 4, 6
    weights = {'embedding': rng.normal(0, 1, (v, e)), 'logits/kernel': rng.normal(0, 1, (u, v)),
               'logits/bias': rng.normal(0, 0.1, v),
               'lstm_0/kernel': rng.normal(0, 0.5, (e, 4 * u)),
               'lstm_0/recurrent_kernel': rng.normal(0, 0.5, (u, 4 * u)),
               'lstm_0/bias': np.zeros(4 * u)}
    return TokenStepModel({k: np.asarray(w, np.float32) for k, w in weights.items()}, 1)


ENCODER = ChordTokenEncoder(vocabulary=VOCABULARY)


def test_log_softmax_is_exact_for_huge_logits_and_rows_of_different_scale():
    logits = np.array([[1000.0, 999.0], [0.0, 1.0], [-1000.0, -1001.0]])
    expected = np.log(np.array([[np.e, 1.0], [1.0, np.e], [np.e, 1.0]]) / (1 + np.e))
    np.testing.assert_allclose(log_softmax(logits, 1.0), expected, rtol=1e-12)
    np.testing.assert_allclose(log_softmax(logits, 2.0)[1],
                               np.log(np.array([1.0, np.e ** 0.5]) / (1 + np.e ** 0.5)))


def test_inverse_cdf_draw_at_both_ends_and_on_unnormalised_weights():
    # a first class of probability zero is never drawn, even by u = 0
    with np.errstate(divide='ignore'):
        log_probs = np.log(np.array([[0.0, 0.5, 0.5]]))
    assert sample_classes(log_probs, FixedRandom(0.0)).tolist() == [1]
    # u at the very top (rounding) still gives a real class, the last one
    assert sample_classes(np.log(np.array([[0.5, 0.5]])), FixedRandom(1.0)).tolist() == [1]
    # weights need not sum to one: [2, 2] splits at half the total
    weights = np.log(np.array([[2.0, 2.0], [2.0, 2.0]]))
    assert sample_classes(weights, FixedRandom(0.6)).tolist() == [1, 1]
    assert sample_classes(weights, FixedRandom(0.4)).tolist() == [0, 0]


def test_top_k_of_one_is_the_argmax_and_odd_class_counts_keep_the_k_likeliest():
    logits = np.log(np.array([[0.1, 0.3, 0.05, 0.4, 0.15]] * 2000))
    classes, log_p = sample_categorical(logits, 1.0, np.random.default_rng(1), top_k=1)
    assert set(classes.tolist()) == {3} and np.allclose(log_p, 0.0)
    classes, _ = sample_categorical(logits, 1.0, np.random.default_rng(1), top_k=2)
    assert set(classes.tolist()) == {1, 3}
    classes, _ = sample_categorical(logits, 1.0, np.random.default_rng(1), top_k=3)
    assert set(classes.tolist()) == {1, 3, 4}
    # whatever the order of the classes, exactly the k likeliest stay possible
    rng = np.random.default_rng(2)
    row = np.log(np.arange(1, 10, dtype=np.float64))
    for _ in range(30):
        order = rng.permutation(9)
        k = int(rng.integers(1, 8))
        classes, _ = sample_categorical(np.tile(row[order], (400, 1)), 1.0, rng, top_k=k)
        assert set(order[classes].tolist()) <= set(range(9 - k, 9))
        assert len(set(classes.tolist())) == k
    # and over a vocabulary's worth of classes (numpy sorts small rows fully anyway)
    order = rng.permutation(1300)
    row = np.linspace(0.0, 1.0, 1300)[order][None]
    classes, _ = sample_categorical(np.repeat(row, 3000, axis=0), 1.0, rng, top_k=10)
    assert set(order[classes].tolist()) <= set(range(1290, 1300))


def beam_of_four(*args, **kwargs):
    return beam_search(*args, beam_size=2, branch_factor=2, steps_per_iteration=1, **kwargs)


@pytest.mark.parametrize('generate', [sample, beam_of_four])
def test_exact_lengths_when_one_or_no_step_is_left(generate):
    primer = [(60,), (64,)]
    one = generate(token_model(), ENCODER, primer, 3, num_outputs=2, seed=0)
    assert [len(e) for e in one.events] == [3, 3] and one.primer_length == 2
    assert np.all(one.log_likelihood < 0)
    none = generate(token_model(), ENCODER, primer, 2, num_outputs=2, seed=0)
    assert none.events == [primer, primer] and none.primer_length == 2
    assert none.log_likelihood.tolist() == [0.0, 0.0]
    if generate is beam_of_four:
        assert one.candidates.shape == (2, 4)
        assert none.candidates.shape == (2, 1)


BEAM = dict(beam_size=2, branch_factor=2, steps_per_iteration=1)


@pytest.mark.parametrize('kwargs, message', [
    (dict(temperature=0), 'temperature must be a positive number, got 0'),
    (dict(temperature=-1.0), 'temperature must be a positive number, got -1.0'),
    (dict(temperature=True), 'temperature must be a positive number, got True'),
    (dict(temperature='1'), "temperature must be a positive number, got '1'"),
    (dict(temperature=float('inf')), 'temperature must be a positive number, got inf'),
    (dict(temperature=float('nan')), 'temperature must be a positive number, got nan'),
    (dict(num_outputs=0), 'num_outputs must be >= 1, got 0'),
    (dict(num_outputs=2.0), 'num_outputs must be an integer, got 2.0'),
    (dict(num_steps=0), 'num_steps must be >= 1, got 0'),
    (dict(num_steps=2, primer=[(60,), (62,), (64,)]),
     'num_steps (2) is shorter than the primer (3 steps); num_steps counts the primer too'),
    (dict(primer=[]), 'the primer needs at least one event'),
    (dict(primer=[(60,), (200,)]), 'frame 1 (200,) holds something that is not a MIDI pitch'),
])
def test_sampling_and_beam_search_refuse_bad_arguments_in_one_line(kwargs, message):
    args = {'primer': [(60,)], 'num_steps': 4, **kwargs}
    assert refusal(sample, token_model(), ENCODER, **args) == message
    assert refusal(beam_search, token_model(), ENCODER, **args, **BEAM) == message


@pytest.mark.parametrize('name', ['beam_size', 'branch_factor', 'steps_per_iteration'])
def test_beam_search_refuses_bad_beam_arguments_in_one_line(name):
    for value, message in ((0, '%s must be >= 1, got 0'), (-3, '%s must be >= 1, got -3'),
                           (True, '%s must be an integer, got True'),
                           (1.0, '%s must be an integer, got 1.0')):
        args = dict(BEAM, **{name: value})
        assert refusal(beam_search, token_model(), ENCODER, [(60,)], 4, **args) == (
            message % name)


@pytest.mark.parametrize('generate', [sample, beam_of_four])
def test_progress_counts_every_generated_step(generate):
    calls = []
    generate(token_model(), ENCODER, [(60,)], 5, seed=0,
             progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_beam_search_prunes_after_the_short_first_iteration_then_every_iteration(monkeypatch):
    done_at_prune, seen = [], []
    beam_module = sys.modules['musekit.generation.beam_search']     # the package exports
    real_branch = beam_module._branch                               # a function of that name

    def recording_branch(rows, branch_factor):
        done_at_prune.append(seen[-1])
        return real_branch(rows, branch_factor)
    monkeypatch.setattr(beam_module, '_branch', recording_branch)
    # 7 steps to generate, 3 per iteration: the first iteration takes (7 - 1) % 3 + 1 = 1
    beam_search(token_model(), ENCODER, [(60,)], 8, seed=0, beam_size=2, branch_factor=2,
                steps_per_iteration=3, progress=lambda done, total: seen.append(done))
    assert done_at_prune == [1, 4]


def test_a_model_without_comparable_likelihoods_refuses_beam_search_in_words():
    model = token_model()
    model.supports_beam_search = False
    assert refusal(beam_search, model, ENCODER, [(60,)], 4, beam_size=2, branch_factor=1,
                   steps_per_iteration=1) == (
        'this model samples without comparable likelihoods: beam search (--beam_size, '
        '--branch_factor) does not apply to it')


@pytest.mark.parametrize('generate', [sample, beam_of_four])
def test_public_defaults_are_one_output_at_temperature_one(generate):
    """sample and beam_search are public: their defaults are one output at temperature 1.0
    (the same draws as passing those values)."""
    default = generate(token_model(), ENCODER, [(60,)], 6, seed=4)
    explicit = generate(token_model(), ENCODER, [(60,)], 6, num_outputs=1, temperature=1.0,
                        seed=4)
    assert len(default.events) == 1
    assert default.events == explicit.events
    assert default.log_likelihood.tolist() == explicit.log_likelihood.tolist()
    hotter = generate(token_model(), ENCODER, [(60,)], 6, temperature=2.0, seed=4)
    assert hotter.log_likelihood.tolist() != explicit.log_likelihood.tolist()


def test_log_softmax_computes_in_float64_whatever_the_logits_dtype():
    logits32 = np.array([[0.1, 0.2, 0.3], [1e-3, 2e-3, 5.0]], np.float32)
    got = log_softmax(logits32, 0.7)
    assert got.dtype == np.float64
    exact = logits32.astype(np.float64) / 0.7
    exact -= exact.max(axis=1, keepdims=True)
    exact -= np.log(np.exp(exact).sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(got, exact)
    _, log_p = sample_categorical(logits32, 0.7, np.random.default_rng(0), top_k=0)
    assert log_p.dtype == np.float64
