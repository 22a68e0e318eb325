"""The NumPy cell protocol of generation, split as Keras splits LSTMCell from the RNN layer
that runs it: a cell computes one step, ``output, state = cell(x, state)``, on batch-first
arrays and declares the per-row shapes of its state; `CellStack` runs cells in order and
is itself a cell, so a step model holds one stack and never indexes state arrays by hand.
"""
import abc

import numpy as np


class Cell(abc.ABC):
    """One recurrent step in NumPy.

    `state_size`: one entry per state array, its per-row shape (an int for a vector), as
    Keras's `state_size`; `output_size`: the output's width. A state is a tuple of arrays
    [B, *size]. Calling a cell follows `StepModel.step`'s state rule (models/base.py): it
    may update the state's arrays in place, and the caller keeps only the state returned.
    """

    state_size = ()
    output_size = None

    def zero_state(self, batch_size):
        """The state before the first step: float32 zeros of the declared sizes."""
        return tuple(np.zeros((batch_size,) + _shape(size), np.float32)
                     for size in self.state_size)

    @abc.abstractmethod
    def __call__(self, x, state):
        """(output [B, output_size], new state) for inputs x [B, D] and `state`."""


def _shape(size):
    return (size,) if isinstance(size, int) else tuple(size)


class CellStack(Cell):
    """Cells run in order, each one's output the next one's input (Keras's
    StackedRNNCells); its state is the cells' states joined in order."""

    def __init__(self, cells):
        self.cells = tuple(cells)
        self.state_size = tuple(size for cell in self.cells for size in cell.state_size)
        self.output_size = self.cells[-1].output_size if self.cells else None
        ends = np.cumsum([len(cell.state_size) for cell in self.cells]).tolist()
        self._parts = [slice(end - len(cell.state_size), end)
                       for cell, end in zip(self.cells, ends)]

    def zero_state(self, batch_size):
        return tuple(s for cell in self.cells for s in cell.zero_state(batch_size))

    def __call__(self, x, state):
        new_state = []
        for cell, part in zip(self.cells, self._parts):
            x, cell_state = cell(x, state[part])
            new_state += cell_state
        return x, tuple(new_state)
