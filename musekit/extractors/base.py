"""The extractor contract: quantize a NoteSequence, then pull training sequences out of it.

Both steps return their drop statistics (reason -> count) rather than raising, so a batch
job counts every drop by reason and goes on.
"""
import abc
import collections

from musekit.errors import MusekitError
from musekit.registry import EXTRACTORS


class Extractor(abc.ABC):
    """Base class: `prepare` quantizes, `extract` yields event sequences for an encoder."""

    name = None

    @abc.abstractmethod
    def params(self):
        """Plain JSON-able dict that rebuilds this extractor."""

    @abc.abstractmethod
    def prepare(self, sequence):
        """(list of quantized NoteSequences, Counter of drops) for one NoteSequence."""

    @abc.abstractmethod
    def extract(self, quantized, encoder):
        """(list of event sequences, Counter of drops and notes) for one quantized piece."""


def register(name):
    def wrap(cls):
        cls.name = name
        return EXTRACTORS.register(name, cls)
    return wrap


def get_extractor(name, params=None):
    cls = EXTRACTORS.get(name)
    try:
        return cls(**(params or {}))
    except TypeError as e:
        raise MusekitError('bad parameters for extractor %r: %s' % (name, e)) from None


def new_stats():
    return collections.Counter()
