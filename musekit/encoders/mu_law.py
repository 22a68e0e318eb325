"""The mu-law encoding of raw audio (WaveNet, van den Oord et al. 2016): each sample in
[-1, 1] is companded, f(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu), and cut into mu + 1
classes (256 for mu = 255), so a model predicts one class per sample.

Events of an audio sequence: item 0 is its label (the sub-folder it came from, e.g. a
composer, or '' when unlabelled), then one float sample per event at the extractor's
sample rate. Input t is the class of event t (the label event reads as silence, plus the
label's index when the encoder is conditioned); label t is the class of event t+1, so a
clip of S samples gives S training steps and its first sample is predicted too.
"""
import collections
import dataclasses
import math

import numpy as np

from musekit.encoders.base import Encoder, StepSpec, Stepper, register
from musekit.errors import MusekitError
from musekit.params import param

LABEL_KEY = 'label:'        # statistics keys: 'label:bach' counts bach's clips


def mu_law_classes(samples, mu=255):
    """int64 classes in [0, mu] of float samples (clipped to [-1, 1] first: 1.0 is class
    mu, -1.0 class 0, 0.0 class (mu + 1) // 2)."""
    x = np.clip(np.asarray(samples, np.float64), -1.0, 1.0)
    companded = np.sign(x) * np.log1p(mu * np.abs(x)) / math.log1p(mu)
    return np.floor((companded + 1.0) / 2.0 * mu + 0.5).astype(np.int64)


def mu_law_samples(classes, mu=255):
    """float samples of classes in [0, mu]: the exact inverse of the companding at each
    class's centre, so mu_law_classes(mu_law_samples(c)) == c."""
    companded = 2.0 * np.asarray(classes, np.float64) / mu - 1.0
    return np.sign(companded) * np.expm1(np.abs(companded) * math.log1p(mu)) / mu


_SAMPLE_TYPES = (int, float, np.floating, np.integer)


def _is_sample_type(t):
    """Whether values of type `t` can be samples (bool is an int, but not a sample)."""
    return t is not bool and issubclass(t, _SAMPLE_TYPES)


def _is_sample(x):
    """Whether `x` is a finite number a sample can hold."""
    if not _is_sample_type(type(x)):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:           # an int too large for a float
        return False


def _sample_class(x, mu, log_mu):
    """mu_law_classes of one Python float, without NumPy's per-call overhead."""
    x = -1.0 if x < -1.0 else 1.0 if x > 1.0 else x
    companded = math.copysign(math.log1p(mu * abs(x)) / log_mu, x)
    return math.floor((companded + 1.0) / 2.0 * mu + 0.5)


@register('mu_law')
class MuLawEncoder(Encoder):
    """mu-law classes of audio samples; `condition`: inputs also carry the clip's label
    (one of `labels`, learnt from the data's sub-folders when not given)."""

    piece_type = 'audio'

    @dataclasses.dataclass
    class Params:
        mu: int = param(255, 'mu-law companding: mu + 1 classes per sample', min=1, max=65535)
        condition: bool = param(False, "inputs also carry the clip's label (its first "
                                'sub-folder)')
        labels: list[str] | None = param(None, 'the label names, distinct (null: learnt from '
                                         'the training data)')

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        labels = self.labels
        if labels is not None and len(set(labels)) != len(labels):
            raise MusekitError('labels is a list of distinct names, not %r' % (labels,))
        self._log_mu = math.log1p(self.mu)
        self._silence = int(mu_law_classes([0.0], self.mu)[0])
        self._index = {name: i for i, name in enumerate(labels or [])}

    @property
    def num_classes(self):
        return self.mu + 1

    @property
    def needs_fitting(self):
        return self.condition and self.labels is None

    @property
    def input_spec(self):
        if not self.condition:
            return StepSpec('int64', (), depth=self.num_classes)
        return StepSpec('int64', (2,), depth=max(self.num_classes, len(self.labels or [1])))

    @property
    def label_spec(self):
        return StepSpec('int64', (), depth=self.num_classes)

    def statistics(self, events):
        return collections.Counter({LABEL_KEY + events[0]: 1}) if self.condition \
            else collections.Counter()

    def fitted(self, counts):
        labels = sorted(key[len(LABEL_KEY):] for key, n in counts.items()
                        if key.startswith(LABEL_KEY) and n)
        if not labels:
            raise MusekitError('the training data has no clips, so no labels to condition on')
        return dict(self.params(), labels=labels)

    def describe_fit(self):
        return '%d labels: %s' % (len(self.labels), ', '.join(self.labels))

    def label_index(self, label):
        """The conditioning index of `label` (0 when the encoder is not conditioned)."""
        if not self.condition:
            return 0
        if label not in self._index:
            raise MusekitError('label %r is not one the model was trained on; it knows %s'
                               % (label, ', '.join(self.labels or [])))
        return self._index[label]

    def validate_events(self, events):
        if isinstance(events, (str, bytes)):
            raise MusekitError('an audio sequence is a list (its label, then samples), not '
                               'the string %r' % (events,))
        if not len(events) or not isinstance(events[0], str):
            raise MusekitError('an audio sequence starts with its label (a string), not %r'
                               % (events[0] if len(events) else 'nothing',))
        self.label_index(events[0])
        try:    # one NumPy pass over a clip's samples; the slow search only names a bad one
            samples = np.asarray(events[1:], np.float64)
        except (TypeError, ValueError, OverflowError):
            samples = None
        # (NumPy reads True and '0.5' as numbers, so the types are checked apart)
        odd_type = not all(map(_is_sample_type, set(map(type, events[1:]))))
        if samples is None or samples.ndim != 1 or not np.isfinite(samples).all() or odd_type:
            bad = next(i for i, x in enumerate(events[1:], 1) if not _is_sample(x))
            raise MusekitError('audio event %d is %r, not a finite sample value'
                               % (bad, events[bad]))

    def encode(self, events):
        """Speed override of the stepper's encoding (one NumPy pass over the clip)."""
        self.validate_events(events)
        classes = mu_law_classes(events[1:], self.mu)
        inputs = np.concatenate([[self._silence], classes])[:-1].astype(np.int64)
        if self.condition:
            inputs = np.stack([inputs, np.full_like(inputs, self.label_index(events[0]))], 1)
        return inputs, classes

    def label_to_event(self, label, events):
        return float(mu_law_samples(int(label), self.mu))

    def sample_class(self, x):
        """The class of one float sample."""
        return _sample_class(float(x), self.mu, self._log_mu)

    def stepper(self, events):
        return MuLawStepper(self, events)


class MuLawStepper(Stepper):
    """Input: the label event's class (silence), then each sample's class, with the
    label's index when conditioned; label: the sample's class."""

    def __init__(self, encoder, events=()):
        self._label = self._class = 0
        super().__init__(encoder, events)

    def check(self, event, position):
        if position == 0:
            if not isinstance(event, str):
                raise MusekitError('an audio sequence starts with its label (a string), '
                                   'not %r' % (event,))
            self.encoder.label_index(event)
        elif not _is_sample(event):
            raise MusekitError('audio event %d is %r, not a finite sample value'
                               % (position, event))
        return event

    def advance(self, event):
        encoder = self.encoder
        if len(self._events) == 1:
            self._label, self._class = encoder.label_index(event), encoder._silence
        else:
            self._class = encoder.sample_class(event)

    def input(self):
        if self.encoder.condition:
            return np.array([self._class, self._label], np.int64)
        return np.array(self._class, np.int64)

    def label(self):
        return self._class
