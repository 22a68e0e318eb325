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


def _event_times(events):
    """The step at which each event happens (the time shifts before it), and the step at
    which the performance ends."""
    times, now = [], 0
    for kind, value in events:
        times.append(now)
        if kind == TIME_SHIFT:
            now += value
    return times, now


def _window_ends(events, times, window):
    """For each event, the index just past its window (the first later event at least
    `window` steps after it), or None where the event does not follow a time shift and so
    keeps the value measured before it. Time shifts are >= 0, so the end only moves on."""
    end, ends = 0, []
    for i in range(len(events)):
        if i and events[i - 1][0] != TIME_SHIFT:
            ends.append(None)
            continue
        end = max(end, i)
        while end < len(events) and times[end] - times[i] < window:
            end += 1
        ends.append(end)
    return ends


def note_densities(events, window, steps_per_second):
    """The note density (note-ons per second) at each event: the note-ons from it on that
    start less than `window` steps after it, over the window (or over what is left of the
    performance, if less; 0 if nothing is left); an event that does not follow a time
    shift repeats the density before it."""
    times, length = _event_times(events)
    onsets_before = [0]                 # onsets_before[k]: note-ons among events[:k]
    for kind, _ in events:
        onsets_before.append(onsets_before[-1] + (kind == NOTE_ON))
    densities, density = [], 0.0
    for i, end in enumerate(_window_ends(events, times, window)):
        if end is not None:
            count = onsets_before[end] - onsets_before[i]
            covered = min(window, length - times[i])
            density = count * steps_per_second / covered if covered > 0 else 0.0
        densities.append(density)
    return densities


def pitch_histograms(events, window, steps_per_second, prior_count):
    """The pitch-class histogram at each event (a tuple of 12 weights): `prior_count` plus
    the seconds each sounding pitch sounds in the time shifts from the event on that start
    less than `window` steps after it (a shift is counted whole); an event that does not
    follow a time shift repeats the histogram before it.

    Each weight is summed from the prior shift by shift, once per sounding pitch, as
    note_seq sums it, so the floats equal note_seq's to the last bit; that is why each
    window is summed afresh rather than slid (a float sum is not undone by subtracting)."""
    times, _ = _event_times(events)
    # what each time shift adds: its seconds, to the class of each pitch sounding in it
    shifts, sounding = {}, set()
    for index, (kind, value) in enumerate(events):
        if kind == NOTE_ON:
            sounding.add(value)
        elif kind == NOTE_OFF:
            sounding.discard(value)
        elif kind == TIME_SHIFT and sounding:
            shifts[index] = (value / steps_per_second,
                             sorted(pitch % NOTES_PER_OCTAVE for pitch in sounding))
    shift_indices = sorted(shifts)
    histograms, histogram, first = [], DEFAULT_PITCH_HISTOGRAM, 0
    for i, end in enumerate(_window_ends(events, times, window)):
        if end is not None:
            counts = [prior_count] * NOTES_PER_OCTAVE
            while first < len(shift_indices) and shift_indices[first] < i:
                first += 1
            k = first
            while k < len(shift_indices) and shift_indices[k] < end:
                seconds, classes = shifts[shift_indices[k]]
                for pitch_class in classes:
                    counts[pitch_class] += seconds
                k += 1
            histogram = tuple(counts)
        histograms.append(histogram)
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
