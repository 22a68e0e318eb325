"""Notes on a grid of quantized time steps: what every piece type hands the output writers."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Note:
    pitch: int
    start_step: int
    end_step: int
    velocity: int = 100


def seconds_per_step(qpm, steps_per_quarter):
    return 60.0 / qpm / steps_per_quarter
