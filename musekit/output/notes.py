"""Notes on a grid of quantized time steps: what every piece type hands the output writers."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Note:
    """One note: MIDI pitch and velocity, sounding from start_step up to (not at) end_step;
    a drum hit (`is_drum`: a General MIDI drum pitch, written on MIDI channel 10)."""
    pitch: int
    start_step: int
    end_step: int
    velocity: int = 100
    is_drum: bool = False


def seconds_per_step(qpm, steps_per_quarter):
    """Length of one quantized step at `qpm` quarter notes per minute."""
    return 60.0 / qpm / steps_per_quarter
