"""Train/eval splits for the dataset job, chosen by a config's ``data.split``.

A split names the parts it makes and assigns each source record to one of them from its
id (and, for splits a source publishes, from the record itself). The job writes one set
of shards per part; the first part is the one augmentation applies to.
"""
import abc
import dataclasses
import hashlib

from musekit.errors import MusekitError
from musekit.params import Declared, param
from musekit.registry import SPLITS


def stable_fraction(key):
    """A number in [0, 1) fixed by `key` alone (sha256), used for splits and sharding."""
    return int.from_bytes(hashlib.sha256(key.encode('utf-8')).digest()[:8], 'big') / 2.0**64


class Split(Declared, abc.ABC):
    """Assigns each record to one of `names`; `names[0]` is the training part."""

    name = None                 # set by the registry
    parameter_owner = 'split'
    names = ('training', 'eval')

    @abc.abstractmethod
    def assign(self, record_id, data):
        """The part (one of `names`) of the record `record_id` whose bytes are `data`."""

    def with_options(self, **options):
        """This split with the job's command-line options applied (None: not given); an
        option it has no use for is a MusekitError."""
        given = sorted(name for name, value in options.items() if value is not None)
        if given:
            raise MusekitError('split %r takes no --%s' % (self.name, given[0]))
        return self

    def describe(self):
        """Its settings, for the dataset's description file."""
        return {'split': self.name}


@dataclasses.dataclass
class RatioParams:
    eval_ratio: float = param(0.1, 'the fraction of pieces (by a stable hash of their id) '
                              'in the eval part', min=0.0, max=1.0)


@SPLITS.register('hash')
class HashSplit(Split):
    """'eval' for a stable `eval_ratio` fraction of record ids (sha256), else 'training'."""

    Params = RatioParams

    def assign(self, record_id, data=None):
        return 'eval' if stable_fraction(record_id) < self.eval_ratio else 'training'

    def with_options(self, eval_ratio=None, **options):
        super().with_options(**options)
        return self if eval_ratio is None else HashSplit(eval_ratio)

    def describe(self):
        return {'eval_ratio': self.eval_ratio}      # the default split: named by omission


@SPLITS.register('published')
class PublishedSplit(Split):
    """The split a benchmark file publishes (train -> training, valid -> eval, test -> test);
    a record from anywhere else falls back to the hash split of `eval_ratio` (it never
    lands in 'test', which holds only published test pieces)."""

    names = ('training', 'eval', 'test')
    _PARTS = {'train': 'training', 'valid': 'eval', 'test': 'test'}
    Params = RatioParams

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        self._fallback = HashSplit(self.eval_ratio)

    def assign(self, record_id, data=None):
        from musekit.data.piano_roll_files import part_of
        part = part_of(record_id)
        return self._PARTS[part] if part else self._fallback.assign(record_id)

    def with_options(self, eval_ratio=None, **options):
        super().with_options(**options)
        return self if eval_ratio is None else PublishedSplit(eval_ratio)

    def describe(self):
        return {'split': self.name, 'eval_ratio': self.eval_ratio}
