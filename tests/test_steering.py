"""Steering: forced events and rows that finish early, in sampling and beam search."""
import numpy as np
import pytest

from musekit.generation import Steering, beam_search, generate_in_chunks, sample
from test_generation import _score, setup


class EveryFourth(Steering):
    """Forces a note-off (-1) at every position 3, 7, 11, ... counting its own calls (one per
    step of its row): a steering copy shared by two rows would be called twice a step and
    force at the wrong places."""

    def __init__(self, primer_length):
        self.position = primer_length

    def forced(self, events):
        position, self.position = self.position, self.position + 1
        return -1 if position % 4 == 3 else None


class UntilNotes(Steering):
    """Ends a row once it holds `notes` note-ons, reading each event once."""

    def __init__(self, notes):
        self.notes, self.read, self.count = notes, 0, 0

    def finished(self, events):
        self.count += sum(e >= 0 for e in events[self.read:])
        self.read = len(events)
        return self.count >= self.notes


def test_the_default_steering_changes_nothing():
    model, encoder = setup('basic_rnn')
    plain = sample(model, encoder, [60, -2], 30, num_outputs=3, seed=4)
    model, encoder = setup('basic_rnn')
    steered = sample(model, encoder, [60, -2], 30, num_outputs=3, seed=4, steering=Steering())
    assert steered.events == plain.events
    np.testing.assert_array_equal(steered.log_likelihood, plain.log_likelihood)


def test_forced_events_take_their_places_unscored():
    model, encoder = setup('basic_rnn')
    primer = [60, -2]
    result = sample(model, encoder, primer, 41, num_outputs=4, seed=3, steering=EveryFourth(len(primer)))
    for events, loglik in zip(result.events, result.log_likelihood):
        assert len(events) == 41 and events[:2] == primer
        # every position 3, 7, 11, ... after the primer is the forced note-off
        assert all(events[i] == -1 for i in range(3, 41, 4))
        assert any(e >= 0 for i, e in enumerate(events[2:], 2) if i % 4 != 3)
        # the log-likelihood counts only the sampled events
        inputs, labels = encoder.encode(events)
        state, total = model.initial_state(1), 0.0
        from musekit.generation.sampling import log_softmax
        for t in range(len(inputs)):
            logits, state = model.step(inputs[t][None], state)
            if t + 1 >= len(primer) and (t + 1) % 4 != 3:
                total += log_softmax(logits, 1.0)[0, labels[t]]
        assert loglik == pytest.approx(total)


def test_rows_finish_early_and_stop_being_stepped():
    model, encoder = setup('basic_rnn')
    result = sample(model, encoder, [60], 400, num_outputs=5, seed=9, steering=UntilNotes(6))
    lengths = [len(e) for e in result.events]
    assert max(lengths) < 400 and len(set(lengths)) > 1
    # the last step fed only what the longest row needed
    assert len(model.calls) == max(lengths) - 1
    for events in result.events:
        # the row ends on the event that made it complete, not one later
        assert sum(e >= 0 for e in events) == 6 and events[-1] >= 0
        assert _score(model, encoder, events, 1, 1.0) == pytest.approx(
            result.log_likelihood[result.events.index(events)])


def test_a_primer_that_is_already_complete_generates_nothing():
    model, encoder = setup('basic_rnn')
    result = sample(model, encoder, [60, 62], 50, num_outputs=2, seed=0,
                    steering=UntilNotes(2))
    assert result.events == [[60, 62], [60, 62]]
    assert not np.any(result.log_likelihood)


def test_every_row_gets_its_own_steering_state():
    model, encoder = setup('basic_rnn')
    steering = UntilNotes(4)
    first = sample(model, encoder, [60], 300, num_outputs=6, seed=1, steering=steering)
    assert all(sum(e >= 0 for e in events) == 4 for events in first.events)
    # the caller's steering is copied, never advanced: the same object again gives the same
    again = sample(model, encoder, [60], 300, num_outputs=6, seed=1, steering=steering)
    assert again.events == first.events and steering.read == 0
    # chunks each start from a copy of it
    chunks = list(generate_in_chunks(model, encoder, [60], 300, num_outputs=6, seed=1,
                                     batch_size=2, steering=steering))
    assert len(chunks) == 3 and steering.read == 0
    for _, result in chunks:
        assert all(sum(e >= 0 for e in events) == 4 for events in result.events)


@pytest.mark.parametrize('beam_size, branch_factor, steps_per_iteration',
                         [(2, 2, 1), (3, 2, 4)])
def test_beam_search_compares_candidates_of_equal_length(beam_size, branch_factor,
                                                         steps_per_iteration):
    """A candidate that finishes early goes on (as in Magenta, whose beam search compares
    sequences of one length and cuts the winner afterwards): a sparse candidate cannot win
    by standing still while the others keep adding negative log-probabilities."""
    model, encoder = setup('basic_rnn')
    result = beam_search(model, encoder, [60], 300, num_outputs=3, seed=5,
                         beam_size=beam_size, branch_factor=branch_factor,
                         steps_per_iteration=steps_per_iteration, steering=UntilNotes(5))
    width = beam_size * branch_factor
    assert result.candidates.shape == (3, width)
    lengths = {len(events) for events in result.events}
    assert len(lengths) == 1 and lengths.pop() < 300
    for events, loglik in zip(result.events, result.log_likelihood):
        assert sum(e >= 0 for e in events) >= 5
        assert _score(model, encoder, events, 1, 1.0) == pytest.approx(loglik)
    forced = beam_search(model, encoder, [60, -2], 30, num_outputs=2, seed=5,
                         beam_size=beam_size, branch_factor=branch_factor,
                         steps_per_iteration=steps_per_iteration, steering=EveryFourth(2))
    for events in forced.events:
        assert len(events) == 30 and all(events[i] == -1 for i in range(3, 30, 4))


def test_the_search_ends_when_the_last_candidate_finishes():
    """Every candidate has finished at the end, and one had not at the step before."""
    model, encoder = setup('basic_rnn')
    result = beam_search(model, encoder, [60], 300, num_outputs=1, seed=3, beam_size=2,
                         branch_factor=2, steps_per_iteration=1, steering=UntilNotes(3))
    events = result.events[0]
    assert sum(e >= 0 for e in events) >= 3
    assert len(events) < 300
