"""The piece-type contract: how `musekit_generate` reads a primer, moves it into the
model's key and range and the result back, and writes each output's files.

A bundle's encoder names its piece type (`Encoder.piece_type`); the piece type is built
from the bundle's encoder and extractor, and brings its own command-line flags.
"""
import abc
import dataclasses
import os
import typing

from musekit import limits
from musekit.errors import MusekitError
from musekit.registry import PIECES

FLAG_KINDS = ('string', 'integer', 'float', 'boolean')
DEFAULT_QPM = 120.0                     # note_seq's DEFAULT_QUARTERS_PER_MINUTE


@dataclasses.dataclass(frozen=True)
class Flag:
    """A command-line flag a piece type offers (`kind` one of FLAG_KINDS). A string flag
    naming an input file lists the file name `suffixes` it reads (a page uploads such a
    file); one that names a sampling mode of the bundle's step model says `modes` (a page
    offers that model's `modes`)."""
    name: str
    kind: str
    default: object
    help: str
    suffixes: tuple = ()
    modes: bool = False

    def __post_init__(self):
        if self.kind not in FLAG_KINDS:
            raise ValueError('flag kind is one of %s, not %r' % (FLAG_KINDS, self.kind))
        if (self.suffixes or self.modes) and self.kind != 'string':
            raise ValueError('flag --%s names a %s, so its kind is string'
                             % (self.name, 'file' if self.suffixes else 'sampling mode'))


# What piece types read from an encoder or an extractor, declared as small protocols: a
# piece type names those it needs (`reads_encoder`, `reads_extractor`) and is refused, in
# one line, with a plugin that lacks them.

@typing.runtime_checkable
class NoteRange(typing.Protocol):
    """An encoder of melodies between two MIDI pitches (max_note exclusive)."""
    min_note: int
    max_note: int


@typing.runtime_checkable
class KeyRange(typing.Protocol):
    """An encoder of a keyboard of MIDI pitches min_pitch .. max_pitch - 1."""
    min_pitch: int
    max_pitch: int


@typing.runtime_checkable
class Labelled(typing.Protocol):
    """An encoder that may condition on named labels (`condition`, `labels`)."""
    condition: bool
    labels: list

    def label_index(self, label):
        ...


@typing.runtime_checkable
class StepGrid(typing.Protocol):
    """An extractor that quantizes to `steps_per_quarter` steps per quarter note."""
    steps_per_quarter: int


@typing.runtime_checkable
class SampleRate(typing.Protocol):
    """An extractor of audio at `sample_rate` samples per second."""
    sample_rate: int


def _names(protocol):
    return ', '.join(sorted(typing.get_type_hints(protocol)) or [
        n for n in vars(protocol) if not n.startswith('_')])


class PieceType(abc.ABC):
    """What generated events are to a user. Built per bundle: `PieceType(encoder,
    extractor)`; `options` are the values of its flags, by name. What it reads of them is
    declared (`reads_encoder`, `reads_extractor`: protocols above) and checked here."""

    name = None                 # set by the registry
    reads_encoder = ()          # protocols its encoder must follow
    reads_extractor = ()        # protocols its extractor must follow
    flags = ()                  # Flag specs offered by musekit_generate
    file_stem = 'piece'         # outputs are written as {file_stem}_01.ext, ...
    plural = 'pieces'
    step_unit = 'steps'         # what one generated event is, for progress output
    steps_limit = limits.MAX_STEPS    # the bound on a generated piece's events

    def __init__(self, encoder, extractor):
        for what, plugin, protocols in (('encoder', encoder, self.reads_encoder),
                                        ('extractor', extractor, self.reads_extractor)):
            for protocol in protocols:
                if not isinstance(plugin, protocol):
                    raise MusekitError('piece type %r reads %s of its %s (%s); %s %r has '
                                       'not' % (self.name, _names(protocol), what,
                                                protocol.__name__, what, plugin.name))
        self.encoder = encoder
        self.extractor = extractor

    def requested_length(self, num_steps, given):
        """Told first, before `primer`: the common --num_steps and whether it was on the
        command line, for a piece type whose primer depends on the length asked (Magenta's
        performance primers do). Nothing by default."""

    @abc.abstractmethod
    def primer(self, options):
        """The primer events the options ask for (or the default primer), at their own
        pitches. Called before anything is generated or written, so it also checks the
        other options (a bad one is a MusekitError)."""

    def num_steps(self, options, num_steps, given):
        """How many events each output has, primer included: --num_steps (`given`: whether
        it was on the command line) by default; a piece type that measures length otherwise
        (seconds of audio) reads its own flags."""
        return num_steps

    def steering(self, options, primer):
        """A musekit.generation.Steering that forces events or ends outputs early, for the
        `primer` in the model's space (None: plain sampling to num_steps)."""
        return None

    def sampling_mode(self, options):
        """How the step model should draw labels (one of its `modes`), as the options ask;
        None for the model's default."""
        return None

    def to_model(self, primer):
        """(primer moved into what the model was trained on, what `from_model` needs to move
        the outputs back); unchanged by default."""
        return primer, None

    def from_model(self, events, moved):
        """Generated `events` moved back the way `to_model` moved their primer."""
        return events

    @abc.abstractmethod
    def write(self, stem, events, primer_length, options):
        """Writes one output's files (stem + '.mid', ...); returns (paths written, names of
        what rendered audio, e.g. ['fluidsynth'], for the summary line)."""


def int_list(text):
    """'[60, -2, 62]' or '60, -2, 62' -> [60, -2, 62]; None unless it is a non-empty list of
    integers (the primer flags' format: each caller says what is wrong in its own words)."""
    import json
    body = text.strip()
    if not body.startswith('['):
        body = '[%s]' % body
    try:
        values = json.loads(body)
    except (ValueError, RecursionError):     # RecursionError: thousands of nested brackets
        return None
    if not isinstance(values, list) or not values or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return values


def shown(text, width=60):
    """`text` for an error message: at most `width` characters, then '...'."""
    return text if len(text) <= width else text[:width] + '...'


def generation_start_step(last_end_seconds, qpm, steps_per_quarter):
    """The step where Magenta's generators (melody, improv, drums) start generating after a
    primer whose last note ends at `last_end_seconds`: a step later, then rounded up to the
    next step even when it lands on one (note_seq's quantize_to_step with cutoff 0), in
    Magenta's floating-point order: usually two steps past the last note's end, one where
    the float sum falls just short of a step."""
    seconds_per_step = 60.0 / qpm / steps_per_quarter
    steps_per_second = steps_per_quarter * qpm / 60.0
    return int((last_end_seconds + seconds_per_step) * steps_per_second + 1.0)


def primer_midi_qpm(tempo):
    """A primer MIDI's tempo as the tempo to write at (Magenta's choice when --qpm is not
    given); one line when musekit cannot write it."""
    from musekit.output.midi import check_qpm
    try:
        return check_qpm(tempo)
    except MusekitError:
        raise MusekitError('the primer MIDI plays at %g qpm, a tempo musekit does not write; '
                           'give --qpm' % tempo) from None


def pitch_list(text, flag='primer_pitches'):
    """'[60, 64, 67]' (brackets optional) -> [60, 64, 67]: distinct MIDI pitches, at least
    one (Magenta's --primer_pitches); MusekitError otherwise."""
    pitches = int_list(text)
    if pitches is None:
        raise MusekitError('malformed --%s %r: expected a non-empty list of MIDI pitches '
                           'like "[60, 64, 67]"' % (flag, shown(text, 40)))
    for pitch in pitches:
        if not 0 <= pitch <= 127:
            raise MusekitError('--%s: %d is not a MIDI pitch (0..127)' % (flag, pitch))
    if len(set(pitches)) < len(pitches):
        raise MusekitError('--%s lists a pitch twice: %s' % (flag, text))
    return pitches


def read_midi_sequence(path):
    """The NoteSequence of a primer MIDI file, read with the same bounds as the data jobs'
    inputs (file size, MIDI length); a missing or unreadable file is one line."""
    import warnings
    from musekit.data import sources
    if not os.path.isfile(path):
        raise MusekitError('no such primer MIDI file: %s' % path)
    with warnings.catch_warnings():   # note_seq's audio dependencies warn about ffmpeg
        warnings.simplefilter('ignore')
        try:
            return sources.parse_midi(sources.read_bounded(path))
        except sources.BadInput as e:
            raise MusekitError('cannot read primer MIDI %s: %s (%s)'
                               % (path, e.detail, e.reason)) from None


PRIMER_MIDI = Flag('primer_midi', 'string', None, 'A MIDI file whose music primes the '
                   'model (for melodies: its first melody).', suffixes=('.mid', '.midi', '.kar'))
NOTE_FILE_FLAGS = (
    Flag('qpm', 'float', 120.0, 'Tempo in quarter notes per minute.'),
    Flag('render_wav', 'boolean', False, 'Also write WAV audio (FluidSynth with a '
         'SoundFont if installed, else a built-in synthesizer).'),
    Flag('plot', 'boolean', False, 'Also write a PNG piano roll per output.'),
)


def write_note_files(stem, notes, num_steps, primer_length, options, steps_per_quarter):
    """MIDI (always), WAV and PNG (as `options` of NOTE_FILE_FLAGS ask) of `notes`:
    (paths written, what rendered the audio)."""
    from musekit.output import midi
    timing = dict(qpm=options['qpm'], steps_per_quarter=steps_per_quarter)
    paths, renderers = [midi.write_midi(stem + '.mid', notes, num_steps, **timing)], []
    if options['render_wav']:
        from musekit.output.audio import render_wav
        renderers.append(render_wav(stem + '.wav', notes, num_steps, **timing))
        paths.append(stem + '.wav')
    if options['plot']:
        from musekit.output.plot import write_piano_roll
        paths.append(write_piano_roll(
            stem + '.png', notes, num_steps, primer_steps=primer_length,
            steps_per_quarter=steps_per_quarter, steps_per_bar=4 * steps_per_quarter,
            title=os.path.basename(stem)))
    return paths, renderers


def register(name):
    """Class decorator: registers a PieceType subclass under `name`."""
    return PIECES.register(name)


def get_piece_type(name):
    """The PieceType class registered as `name`."""
    return PIECES.get(name)
