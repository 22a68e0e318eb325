"""The piece-type contract: how `musekit_generate` reads a primer, moves it into the
model's key and range and the result back, and writes each output's files.

A bundle's encoder names its piece type (`Encoder.piece_type`); the piece type is built
from the bundle's encoder and extractor, and brings its own command-line flags.
"""
import abc
import dataclasses

from musekit.registry import PIECES

FLAG_KINDS = ('string', 'integer', 'float', 'boolean')


@dataclasses.dataclass(frozen=True)
class Flag:
    """A command-line flag a piece type offers (`kind` one of FLAG_KINDS)."""
    name: str
    kind: str
    default: object
    help: str

    def __post_init__(self):
        if self.kind not in FLAG_KINDS:
            raise ValueError('flag kind is one of %s, not %r' % (FLAG_KINDS, self.kind))


class PieceType(abc.ABC):
    """What generated events are to a user. Built per bundle: `PieceType(encoder,
    extractor)`; `options` are the values of its flags, by name."""

    name = None                 # set by the registry
    flags = ()                  # Flag specs offered by musekit_generate
    file_stem = 'piece'         # outputs are written as {file_stem}_01.ext, ...
    plural = 'pieces'

    def __init__(self, encoder, extractor):
        self.encoder = encoder
        self.extractor = extractor

    @abc.abstractmethod
    def primer(self, options):
        """The primer events the options ask for (or the default primer), at their own
        pitches. Called before anything is generated or written, so it also checks the
        other options (a bad one is a MusekitError)."""

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


def register(name):
    """Class decorator: registers a PieceType subclass under `name`."""
    return PIECES.register(name)


def get_piece_type(name):
    """The PieceType class registered as `name`."""
    return PIECES.get(name)
