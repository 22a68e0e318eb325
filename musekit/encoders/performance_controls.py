"""Magenta's performance control signals (note_seq.performance_controls): note density and
pitch-class histogram, as the data job measures them along a performance and as a model
input reads a control value.

A performance here is a list of (kind, value) pairs with note_seq's PerformanceEvent type
numbers (see musekit.encoders.performance). A control value is a number of notes per
second, or 12 non-negative weights of the pitch classes C .. B (not necessarily summing
to one: the input normalises them).
"""
import math
import numbers

from musekit.errors import MusekitError

NOTE_ON, NOTE_OFF, TIME_SHIFT, VELOCITY = 1, 2, 3, 4     # note_seq's PerformanceEvent types

NOTES_PER_SECOND = 'notes_per_second'
PITCH_CLASS_HISTOGRAM = 'pitch_class_histogram'
CONTROL_SIGNALS = (NOTES_PER_SECOND, PITCH_CLASS_HISTOGRAM)
NOTES_PER_OCTAVE = 12
DEFAULT_NOTE_DENSITY = 15.0                         # what Magenta uses when none is asked
DEFAULT_PITCH_HISTOGRAM = (1.0,) * NOTES_PER_OCTAVE


def window_steps(seconds, steps_per_second):
    """A window of `seconds` in time steps, rounded as note_seq rounds it."""
    return int(round(seconds * steps_per_second))


def note_densities(events, window, steps_per_second):
    """The note density (note-ons per second) at each event: counted over the `window`
    steps that start at the event's time, or over what is left of the performance near
    its end; an event that does not follow a time shift repeats the density before it."""
    densities, previous_kind, density = [], None, 0.0
    n = len(events)
    for i, (kind, _) in enumerate(events):
        if previous_kind is not None and previous_kind != TIME_SHIFT:
            densities.append(density)
            previous_kind = kind
            continue
        j, offset, count = i, 0, 0
        while offset < window and j < n:
            other_kind, value = events[j]
            if other_kind == NOTE_ON:
                count += 1
            elif other_kind == TIME_SHIFT:
                offset += value
            j += 1
        covered = min(offset, window)
        density = count * steps_per_second / covered if covered > 0 else 0.0
        densities.append(density)
        previous_kind = kind
    return densities


def pitch_histograms(events, window, steps_per_second, prior_count):
    """The pitch-class histogram at each event (a tuple of 12 weights): seconds each pitch
    class sounds in the window of time shifts that starts at the event (notes already
    sounding included, every time shift that starts inside the window counted whole),
    plus `prior_count`; an event that does not follow a time shift repeats the one before."""
    histograms, previous_kind, histogram = [], None, DEFAULT_PITCH_HISTOGRAM
    sounding = set()
    n = len(events)
    for i, (kind, value) in enumerate(events):
        if kind == NOTE_ON:
            sounding.add(value)
        elif kind == NOTE_OFF:
            sounding.discard(value)
        if previous_kind is not None and previous_kind != TIME_SHIFT:
            histograms.append(histogram)
            previous_kind = kind
            continue
        active, counts = set(sounding), [prior_count] * NOTES_PER_OCTAVE
        j, offset = i, 0
        while offset < window and j < n:
            other_kind, other_value = events[j]
            if other_kind == NOTE_ON:
                active.add(other_value)
            elif other_kind == NOTE_OFF:
                active.discard(other_value)
            elif other_kind == TIME_SHIFT:
                for pitch in active:
                    counts[pitch % NOTES_PER_OCTAVE] += other_value / steps_per_second
                offset += other_value
            j += 1
        histogram = tuple(counts)
        histograms.append(histogram)
        previous_kind = kind
    return histograms


def density_bin(density, bin_ranges):
    """The one-hot index of a note density: the first bin whose upper bound exceeds it."""
    for index, bound in enumerate(bin_ranges):
        if density < bound:
            return index
    return len(bin_ranges)


def histogram_input(histogram):
    """The 12 inputs of a histogram: its weights over their sum (uniform if they sum to 0)."""
    total = sum(histogram)
    if total > 0:
        return [count / total for count in histogram]
    return [1.0 / NOTES_PER_OCTAVE] * NOTES_PER_OCTAVE


def check_density(value, where):
    """`value` as a float note density (finite, >= 0), or MusekitError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        raise MusekitError('%s: a note density is a number of notes per second >= 0, not %r'
                           % (where, value))
    return float(value)


def check_histogram(value, where):
    """`value` as a tuple of 12 float weights (finite, >= 0), or MusekitError."""
    if isinstance(value, (str, bytes)) or not hasattr(value, '__len__') \
            or len(value) != NOTES_PER_OCTAVE:
        raise MusekitError('%s: a pitch-class histogram is 12 numbers (C, C#, ..., B), not %r'
                           % (where, value))
    out = []
    for weight in value:
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) \
                or not math.isfinite(weight) or weight < 0:
            raise MusekitError('%s: pitch-class weights are numbers >= 0, not %r'
                               % (where, weight))
        out.append(float(weight))
    return tuple(out)


CHECKS = {NOTES_PER_SECOND: check_density, PITCH_CLASS_HISTOGRAM: check_histogram}
DEFAULTS = {NOTES_PER_SECOND: DEFAULT_NOTE_DENSITY,
            PITCH_CLASS_HISTOGRAM: DEFAULT_PITCH_HISTOGRAM}
