"""Generation from a bundle's NumPy step model: batched sampling and beam search, for any
model family (pieces/ turns the events into files)."""
from musekit import limits
from musekit.errors import check_int
from musekit.generation.beam_search import beam_search
from musekit.generation.sampling import Generated, check_args, check_beam_args, sample
from musekit.generation.steering import Steering
from musekit.generation.threads import one_blas_thread

__all__ = ['Generated', 'Steering', 'beam_search', 'check_sizes', 'chunk_outputs', 'generate',
           'generate_in_chunks', 'one_blas_thread', 'sample']

DEFAULT_BATCH_SIZE = 128
# Events (rows x steps) a chunk may hold: each row keeps its whole history.
MAX_CHUNK_EVENTS = 1 << 21


def generate(model, encoder, primer, num_steps, num_outputs=1, temperature=1.0, seed=None,
             beam_size=1, branch_factor=1, steps_per_iteration=1, progress=None,
             steps_limit=limits.MAX_STEPS, steering=None, on_step=None):
    """Sampling, or beam search when beam_size or branch_factor is above 1 (same results
    either way for 1 and 1), of all outputs in one batch. `steps_limit` bounds num_steps
    (the piece type's: steps, or samples of audio); a `steering` (generation.steering) may
    force events and end rows before num_steps; `on_step(done, total, events)` sees partial
    results (sampling.sample). NumPy's BLAS runs on one thread meanwhile
    (generation.threads)."""
    check_args(encoder, primer, num_steps, num_outputs, temperature)
    check_beam_args(beam_size, branch_factor, steps_per_iteration)
    check_sizes(num_steps, num_outputs, beam_size, branch_factor, steps_limit=steps_limit)
    with one_blas_thread():
        if beam_size == 1 and branch_factor == 1:
            return sample(model, encoder, primer, num_steps, num_outputs, temperature, seed,
                          progress, steering, on_step)
        return beam_search(model, encoder, primer, num_steps, num_outputs, temperature,
                           seed, beam_size=beam_size, branch_factor=branch_factor,
                           steps_per_iteration=steps_per_iteration, progress=progress,
                           steering=steering, on_step=on_step)


def check_sizes(num_steps, num_outputs, beam_size, branch_factor, flags=False,
                steps_limit=limits.MAX_STEPS):
    """Refuses (MusekitError) a length over `steps_limit` (MUSEKIT_MAX_STEPS) and a beam
    search over MUSEKIT_MAX_BEAM_CANDIDATES, before any work; `flags` words the message as
    flags."""
    name = (lambda n: '--' + n) if flags else (lambda n: n)
    steps_limit.check(num_steps, '%s=%d' % (name('num_steps'), num_steps))
    if beam_size > 1 or branch_factor > 1:
        total = beam_size * branch_factor * num_outputs
        limits.MAX_BEAM_CANDIDATES.check(total, '%s=%d x %s=%d x %s=%d = %d sequences' % (
            name('beam_size'), beam_size, name('branch_factor'), branch_factor,
            name('num_outputs'), num_outputs, total))


def chunk_outputs(num_outputs, num_steps, beam_size, branch_factor, batch_size):
    """Outputs generated together: at most `batch_size` rows (an output of a beam search
    takes beam_size x branch_factor rows) and MAX_CHUNK_EVENTS events, at least one."""
    rows = beam_size * branch_factor
    return max(1, min(num_outputs, batch_size // rows, MAX_CHUNK_EVENTS // (rows * num_steps)))


def generate_in_chunks(model, encoder, primer, num_steps, num_outputs=1, temperature=1.0,
                       seed=None, beam_size=1, branch_factor=1, steps_per_iteration=1,
                       batch_size=DEFAULT_BATCH_SIZE, progress=None,
                       steps_limit=limits.MAX_STEPS, steering=None, on_step=None):
    """Yields (index of its first output, Generated) chunk by chunk, so memory depends on
    `batch_size`, not on `num_outputs`. Chunk k draws from [seed, k]; numpy seeds [seed, 0]
    as it seeds `seed`, so up to one chunk of outputs equals `generate`'s. The same seed
    and batch size give the same outputs. `progress(done, total)` counts generated steps
    over all outputs, and so does `on_step(done, total, events, first)`, whose `events()`
    are the running chunk's outputs so far (sampling.sample), the first of them output
    number `first`; `steps_limit` bounds num_steps; each chunk's rows steer with their own
    copies of `steering`."""
    check_int('batch_size', batch_size, 1)
    primer = check_args(encoder, primer, num_steps, num_outputs, temperature)
    check_beam_args(beam_size, branch_factor, steps_per_iteration)
    check_sizes(num_steps, num_outputs, beam_size, branch_factor, steps_limit=steps_limit)
    size = chunk_outputs(num_outputs, num_steps, beam_size, branch_factor, batch_size)
    generated_steps = num_steps - len(primer)
    for k, first in enumerate(range(0, num_outputs, size)):
        count = min(size, num_outputs - first)
        chunk_progress = None
        if progress:
            def chunk_progress(done, total, first=first, count=count):
                progress(first * generated_steps + count * done,
                         num_outputs * generated_steps)
        chunk_on_step = None
        if on_step:
            def chunk_on_step(done, total, events, first=first, count=count):
                on_step(first * generated_steps + count * done, num_outputs * generated_steps,
                        events, first)
        chunk_seed = None if seed is None else [seed, k]
        yield first, generate(model, encoder, primer, num_steps, count, temperature,
                              chunk_seed, beam_size, branch_factor, steps_per_iteration,
                              chunk_progress, steps_limit, steering, chunk_on_step)
