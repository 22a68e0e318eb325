"""Melody generation from a bundle's NumPy step model: sampling, beam search, MIDI/WAV/PNG."""
from musekit.generation.beam_search import beam_search
from musekit.generation.midi import melody_notes, read_primer_midi, to_note_sequence, write_midi
from musekit.generation.plot import write_piano_roll
from musekit.generation.render import render_wav
from musekit.generation.sampling import Generated, check_args, sample

__all__ = ['Generated', 'beam_search', 'generate', 'melody_notes', 'read_primer_midi',
           'render_wav', 'sample', 'to_note_sequence', 'write_midi', 'write_piano_roll']


def generate(model, encoder, primer, num_steps, num_outputs=1, temperature=1.0, seed=None,
             beam_size=1, branch_factor=1, steps_per_iteration=1, progress=None):
    """Sampling, or beam search when beam_size or branch_factor is above 1 (same results
    either way for 1 and 1)."""
    check_args(encoder, primer, num_steps, num_outputs, temperature, beam_size, branch_factor,
               steps_per_iteration)
    if beam_size == 1 and branch_factor == 1:
        return sample(model, encoder, primer, num_steps, num_outputs, temperature, seed,
                      progress)
    return beam_search(model, encoder, primer, num_steps, num_outputs, temperature, seed,
                       beam_size, branch_factor, steps_per_iteration, progress)
