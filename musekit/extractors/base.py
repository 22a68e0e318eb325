"""The extractor contract: decode a source record, prepare it (quantize, split), augment
the training split, then pull training sequences out of it.

Each step returns its drop statistics (reason -> count) rather than raising, so a batch
job counts every drop by reason and goes on.
"""
import abc
import collections

from musekit import limits
from musekit.errors import MusekitError
from musekit.params import Declared
from musekit.registry import EXTRACTORS


class Extractor(Declared, abc.ABC):
    """Base class of the extractors; the dataset job calls, per source record,
    `decode` -> `prepare` -> `augment` (training split) -> `extract`. Its parameters are
    its `Params` dataclass (see musekit.params.Declared); `params()` rebuilds it."""

    name = None                 # set by the registry
    parameter_owner = 'extractor'
    output_name = 'examples'    # the job writes {split}_{output_name}-*.tfrecord
    reader = 'note_sequences'   # the registered pipelines Reader that gives its records
    max_steps = None            # the longest sequence it extracts, in events (None: no bound)
    transpose_to_key = None     # the key its pieces are moved to (None: not moved)

    @abc.abstractmethod
    def decode(self, data):
        """The source item (e.g. a NoteSequence) held in one record's bytes."""

    @abc.abstractmethod
    def prepare(self, item):
        """(list of pieces ready to extract from, Counter of drops) for one source item;
        raises musekit.data.sources.BadInput for a source it cannot use at all (the job
        counts it as sources_skipped_<reason> and lists it in its dead-letter file)."""

    def source_name(self, item):
        """Where a decoded source item came from, for a dead-letter line (None: the
        dataset job names it by its record id)."""
        return None

    @abc.abstractmethod
    def extract(self, piece, encoder):
        """(list of event sequences, Counter of drops) for one prepared piece."""

    def longest_sequence(self):
        """The most events a sequence it extracts may hold (None: unbounded), for the training
        memory estimate: `max_steps` by default, for extractors that count events in steps."""
        return self.max_steps

    def check_augmentation(self, transpositions):
        """Raises MusekitError unless this extractor can transpose by every amount given."""
        if any(transpositions):
            raise MusekitError('extractor %r cannot transpose its pieces (--transpose_range)'
                               % self.name)

    def augmentations(self, transpositions, training):
        """The arguments `augment` is called with for each prepared piece of a part: the
        part's transpositions (the training part's --transpose_range, [0] elsewhere) by
        default; `training` says whether the part is the training part, so an extractor
        may add augmentations of its own there (e.g. time stretches)."""
        return list(transpositions)

    def augment(self, piece, transposition):
        """`piece` transposed by `transposition` semitones (training-split augmentation)."""
        if transposition:
            raise MusekitError('extractor %r cannot transpose its pieces' % self.name)
        return piece

    def check_runnable(self):
        """Raises MusekitError when this machine lacks something the extractor was asked
        to use (a program it runs); the dataset job calls it before it starts."""

    def describe(self, written):
        """Facts about the output for the dataset's description file (e.g. a sample rate),
        given `written` ({part: sequences written}; None where the runner counted
        nothing); {} says nothing more."""
        return {}

    def fingerprint(self, sequence):
        """A hashable key equal for equal sequences, so the job writes a piece's duplicate
        sequences once; None (the default) keeps every sequence."""
        return None


class NoteSequenceExtractor(Extractor):
    """An extractor whose records hold note_seq NoteSequences (every symbolic family's)."""

    def decode(self, data):
        from note_seq import music_pb2
        return music_pb2.NoteSequence.FromString(data)


def register(name):
    """Class decorator: registers an Extractor subclass under `name`."""
    return EXTRACTORS.register(name)


def get_extractor(name, params=None):
    try:
        return EXTRACTORS.create(name, params)
    except TypeError as e:
        raise MusekitError('bad parameters for extractor %r: %s' % (name, e)) from None


def new_stats():
    return collections.Counter()


def transposed(quantized, amount):
    """A copy of the NoteSequence `quantized` with every pitched note moved by `amount`
    semitones, or None when one leaves MIDI's range (Magenta's TranspositionPipeline skips
    the piece; it checks even for 0, so a piece with a pitch outside MIDI is skipped too)."""
    notes = [n for n in quantized.notes if not n.is_drum]
    if any(not 0 <= n.pitch + amount <= 127 for n in notes):
        return None
    if not amount:
        return quantized
    moved = type(quantized)()
    moved.CopyFrom(quantized)
    for note in moved.notes:
        if not note.is_drum:
            note.pitch += amount
    return moved


def fits_step_limit(quantized, stats):
    """Whether a quantized NoteSequence is within MUSEKIT_MAX_QUANTIZED_STEPS; one that is
    not is counted in `stats` (sequences_discarded_too_long_to_quantize), so no extractor
    builds per-step structures for, say, a note held for a thousand hours."""
    if quantized.total_quantized_steps <= limits.MAX_QUANTIZED_STEPS.value():
        return True
    stats['sequences_discarded_too_long_to_quantize'] += 1
    return False
