"""Notes to a piano-roll picture with matplotlib (Agg, no pyplot): time in bars left to
right, pitches with their note names bottom to top, primer and generated notes in two
colours; drum hits (one step each) as shorter marks, so a hit on every step reads as
hits, not as one held note."""
PRIMER_COLOUR = '#e67e22'
GENERATED_COLOUR = '#2962ff'
NAMES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')
MARGIN_PITCHES = 2
MIN_PITCHES = 25            # two octaves at least, so a short phrase still reads as music
INCHES_PER_STEP = 0.06
MIN_WIDTH, MAX_WIDTH, HEIGHT = 6.0, 24.0, 4.0
DRUM_HIT_STEPS = 0.6        # how long a drum hit is drawn, in steps


def note_name(pitch):
    """Scientific pitch name: 60 -> 'C4', 61 -> 'C#4', 21 -> 'A0'."""
    return '%s%d' % (NAMES[pitch % 12], pitch // 12 - 1)


def _pitch_span(notes):
    pitches = [n.pitch for n in notes] or [60]
    low, high = min(pitches) - MARGIN_PITCHES, max(pitches) + MARGIN_PITCHES
    if high - low + 1 < MIN_PITCHES:
        low -= (MIN_PITCHES - (high - low + 1)) // 2
        high = low + MIN_PITCHES - 1
    shift = max(0, -low) - max(0, high - 127)     # slide the window back inside MIDI
    return max(0, low + shift), min(127, high + shift)


def piano_roll_figure(notes, num_steps, primer_steps=0, steps_per_quarter=4,
                      steps_per_bar=16, title=None):
    """A matplotlib Figure of the notes (see the module docstring)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    notes = list(notes)
    steps = max(1, num_steps)
    width = min(MAX_WIDTH, max(MIN_WIDTH, INCHES_PER_STEP * steps))
    figure = Figure(figsize=(width, HEIGHT))
    axes = figure.add_subplot()
    low, high = _pitch_span(notes)
    groups = {'primer': [n for n in notes if n.start_step < primer_steps],
              'generated': [n for n in notes if n.start_step >= primer_steps]}
    colours = {'primer': PRIMER_COLOUR, 'generated': GENERATED_COLOUR}
    for group, members in groups.items():
        for note in members:
            length = DRUM_HIT_STEPS if note.is_drum else \
                note.end_step - note.start_step
            axes.broken_barh([(note.start_step, length)],
                             (note.pitch - 0.4, 0.8), facecolors=colours[group])
    for pitch in range(low, high + 1):
        if pitch % 12 in (1, 3, 6, 8, 10):       # black keys shaded, as on a piano roll
            axes.axhspan(pitch - 0.5, pitch + 0.5, color='#f2f2f2', zorder=0)
    bars = list(range(0, steps + 1, steps_per_bar))
    axes.set_xticks(bars[:-1] if len(bars) > 1 and bars[-1] == steps else bars)
    axes.set_xticklabels([str(1 + b // steps_per_bar) for b in axes.get_xticks()])
    axes.set_xticks(range(0, steps + 1, steps_per_quarter), minor=True)
    axes.grid(True, axis='x', which='major', color='#999999', linewidth=0.8)
    axes.grid(True, axis='x', which='minor', color='#dddddd', linewidth=0.5)
    c_rows = [p for p in range(low, high + 1) if p % 12 == 0]
    axes.set_yticks(c_rows or [low])
    axes.set_yticklabels([note_name(p) for p in (c_rows or [low])])
    axes.set_yticks(range(low, high + 1), minor=True)
    axes.set_xlim(0, steps)
    axes.set_ylim(low - 0.5, high + 0.5)
    axes.set_xlabel('bar')
    axes.set_ylabel('pitch')
    axes.set_axisbelow(True)
    handles = [Patch(color=colours[g], label=g) for g in ('primer', 'generated') if groups[g]]
    if handles:
        axes.legend(handles=handles, loc='upper right', fontsize='small')
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return figure


def write_piano_roll(path, notes, num_steps, primer_steps=0, steps_per_quarter=4,
                     steps_per_bar=16, title=None):
    """Saves the piano roll of `notes` as a PNG file; returns `path`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    figure = piano_roll_figure(notes, num_steps, primer_steps, steps_per_quarter,
                               steps_per_bar, title)
    FigureCanvasAgg(figure)
    from musekit import atomic
    with atomic.replacing(path) as tmp:
        figure.savefig(tmp, format='png', dpi=100)
    return path
