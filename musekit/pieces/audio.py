"""Audio pieces: a generated clip is written as a 16-bit WAV file at the model's sample
rate; a primer is a label (for a conditioned model) and optionally the start of a WAV."""
import os
import sys

import numpy as np

from musekit import limits
from musekit.errors import MusekitError
from musekit.pieces.base import Flag, Labelled, PieceType, SampleRate, register


def positive_seconds(flag, seconds):
    """`seconds` when it is a positive, finite number; otherwise one clear error."""
    if not seconds > 0 or seconds == float('inf'):
        raise MusekitError('--%s must be a positive number, got %r' % (flag, seconds))
    return seconds


@register('audio')
class AudioPiece(PieceType):
    """Events: the clip's label, then its samples (see musekit.encoders.mu_law)."""

    reads_encoder = (Labelled,)
    reads_extractor = (SampleRate,)
    flags = (
        Flag('num_seconds', 'float', 4.0, 'Length of each audio clip in seconds, primer '
             'included (audio bundles take this instead of --num_steps).'),
        Flag('primer_wav', 'string', None, 'An audio file (WAV, FLAC, OGG, MP3) whose start '
             'primes the model; it is resampled to the model\'s rate and mixed to mono.',
             suffixes=('.wav', '.flac', '.ogg', '.mp3', '.aiff', '.aif')),
        Flag('primer_seconds', 'float', 1.0, 'How much of --primer_wav primes the model.'),
        Flag('label', 'string', None, 'For a model conditioned on labels (e.g. composers): '
             'which one to generate; the default is the first it knows.'),
    )
    file_stem = 'audio'
    plural = 'audio clips'
    step_unit = 'samples'
    steps_limit = limits.MAX_AUDIO_SAMPLES

    def __init__(self, encoder, extractor):
        super().__init__(encoder, extractor)
        self.sample_rate = extractor.sample_rate

    def num_steps(self, options, num_steps, given):
        if given:
            raise MusekitError('--num_steps does not apply to audio bundles; give the '
                               'length as --num_seconds')
        seconds = positive_seconds('num_seconds', options['num_seconds'])
        samples = int(round(seconds * self.sample_rate))
        self.steps_limit.check(samples, '--num_seconds=%g (%s samples at %d Hz)' % (
            seconds, '{:,}'.format(samples), self.sample_rate))
        return 1 + max(1, samples)

    def primer(self, options):
        label = options['label']
        if label is None:
            label = self.encoder.labels[0] if self.encoder.condition else ''
        elif not self.encoder.condition:
            raise MusekitError('--label applies to models conditioned on labels; this one '
                               'is not')
        self.encoder.label_index(label)
        if not options['primer_wav']:
            return [label]
        seconds = positive_seconds('primer_seconds', options['primer_seconds'])
        path = options['primer_wav']
        if not os.path.isfile(path):
            raise MusekitError('no such primer audio file: %s' % path)
        from musekit.data.audio_files import read_audio
        from musekit.data.sources import BadInput
        try:
            samples = read_audio(path, self.sample_rate, max_seconds=seconds)
        except BadInput as e:
            raise MusekitError('cannot read primer audio %s: %s (%s)'
                               % (path, e.detail, e.reason)) from None
        if not len(samples):
            raise MusekitError('primer audio %s holds no samples' % path)
        loud = int(np.count_nonzero(np.abs(samples) > 1.0))
        if loud:        # the encoder clips them, as it clipped its training audio
            print('musekit: primer audio %s: %d sample%s beyond full scale (-1..1) clipped'
                  % (path, loud, 's' if loud > 1 else ''), file=sys.stderr)
        return [label] + samples.tolist()

    def write(self, stem, events, primer_length, options):
        from musekit.output.audio import write_wav
        return [write_wav(stem + '.wav', events[1:], self.sample_rate)], []
