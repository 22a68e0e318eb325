"""Generation from a bundle's NumPy step model: batched sampling and beam search, for any
model family (pieces/ turns the events into files)."""
from musekit.generation.beam_search import beam_search
from musekit.generation.sampling import Generated, check_args, check_beam_args, sample

__all__ = ['Generated', 'beam_search', 'generate', 'sample']


def generate(model, encoder, primer, num_steps, num_outputs=1, temperature=1.0, seed=None,
             beam_size=1, branch_factor=1, steps_per_iteration=1, progress=None):
    """Sampling, or beam search when beam_size or branch_factor is above 1 (same results
    either way for 1 and 1)."""
    check_args(encoder, primer, num_steps, num_outputs, temperature)
    check_beam_args(beam_size, branch_factor, steps_per_iteration)
    if beam_size == 1 and branch_factor == 1:
        return sample(model, encoder, primer, num_steps, num_outputs, temperature, seed,
                      progress)
    return beam_search(model, encoder, primer, num_steps, num_outputs, temperature, seed,
                       beam_size=beam_size, branch_factor=branch_factor,
                       steps_per_iteration=steps_per_iteration, progress=progress)
