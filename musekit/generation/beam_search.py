"""Beam search with Magenta's semantics, for all outputs in one batch.

Each output keeps `beam_size` sequences. Every iteration each of them branches into
`branch_factor` copies, each copy samples `steps_per_iteration` steps, and the
`beam_size` best of the beam_size * branch_factor candidates (by total log-likelihood)
survive. The first iteration takes (generated steps - 1) % steps_per_iteration + 1 steps
so the others all take the same number. The best final candidate is returned.
"""
import numpy as np

from musekit.errors import MusekitError
from musekit.generation.sampling import Batch, Generated, check_args, check_beam_args


def beam_search(model, encoder, primer, num_steps, num_outputs=1, temperature=1.0, seed=None,
                *, beam_size, branch_factor, steps_per_iteration, progress=None,
                steering=None, on_step=None):
    """Like sampling.sample, keeping the most likely of beam_size * branch_factor branches.

    With beam_size = branch_factor = 1 this is exactly sampling.sample (same seed, same
    output). Rows are output-major: row r belongs to output r // (beam_size*branch_factor).
    With a `steering`, every candidate goes on after its steering says it is finished, so
    candidates are always compared at the same number of events (as Magenta's generators
    compare them, cutting the winner to length afterwards); the search ends when every
    row has finished, or at num_steps. `on_step` is sample's, its events each output's
    likeliest sequence so far.
    """
    primer = check_args(encoder, primer, num_steps, num_outputs, temperature)
    check_beam_args(beam_size, branch_factor, steps_per_iteration)
    if not model.supports_beam_search:
        raise MusekitError('this model samples without comparable likelihoods: beam search '
                           '(--beam_size, --branch_factor) does not apply to it')
    total = num_steps - len(primer)
    if total == 0:
        return Generated([list(primer) for _ in range(num_outputs)], np.zeros(num_outputs),
                         len(primer), np.zeros((num_outputs, 1)))
    rng = np.random.default_rng(seed)
    width = beam_size * branch_factor
    batch = Batch.from_primer(model, encoder, primer, num_outputs * width, steering,
                              freeze=False)
    first = (total - 1) % steps_per_iteration + 1
    done = 0
    while done < total and not batch.all_finished:
        if done:
            batch = batch.select(_branch(_best(batch.log_likelihood, num_outputs, beam_size),
                                         branch_factor))
        for _ in range(first if done == 0 else steps_per_iteration):
            if batch.all_finished:
                break
            batch.step(temperature, rng)
            done += 1
            if progress:
                progress(total if batch.all_finished else done, total)
            if on_step:
                on_step(total if batch.all_finished else done, total,
                        lambda batch=batch: [batch.events(int(r)) for r in _best(
                            batch.log_likelihood, num_outputs, 1)])
    scores = batch.log_likelihood.reshape(num_outputs, width)
    best = _best(batch.log_likelihood, num_outputs, 1)
    return Generated([batch.events(int(r)) for r in best], batch.log_likelihood[best],
                     len(primer), scores)


def _best(log_likelihood, num_outputs, k):
    """Row indices [num_outputs * k] of each output's k best rows, best first."""
    scores = log_likelihood.reshape(num_outputs, -1)
    order = np.argsort(-scores, axis=1, kind='stable')[:, :k]
    return (order + np.arange(num_outputs)[:, None] * scores.shape[1]).ravel()


def _branch(rows, branch_factor):
    """Each row repeated branch_factor times in place, so outputs stay contiguous."""
    return np.repeat(rows, branch_factor)
