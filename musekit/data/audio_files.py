"""Audio files -> mono float samples at a model's sample rate (soundfile reads WAV, FLAC,
OGG and MP3; scipy's polyphase filter resamples), and the records that carry an audio
dataset job's sources from its reader to its extractor.
"""
import dataclasses
import fractions
import os

import numpy as np

from musekit import limits
from musekit.data.sources import BadInput

AUDIO_EXTENSIONS = ('.wav', '.flac', '.ogg', '.mp3')
BLOCK_FRAMES = 1 << 16      # frames read (all channels) at a time before mixing to mono
# resample_poly's filter has 20 max(up, down) + 1 taps: a ratio's terms are kept below this
MAX_RATIO_TERM = 1 << 12


def is_audio(path):
    return path.lower().endswith(AUDIO_EXTENSIONS)


def resample_ratio(rate, target_rate):
    """(up, down) with up / down = target_rate / rate: the exact ratio (44,100 -> 6,300 is
    1/7) when its terms are below MAX_RATIO_TERM, else the nearest ratio with such terms
    when it is within 0.01 % (1/6 of a cent: the pitch moves far less than anyone hears),
    so the polyphase filter stays under 82,000 taps whatever the file's rate (a prime rate
    such as 9,999,991 Hz would otherwise need 2·10^8). Raises BadInput
    (unsupported_sample_rate) when no such ratio exists."""
    exact = fractions.Fraction(int(target_rate), int(rate))
    if max(exact.numerator, exact.denominator) < MAX_RATIO_TERM:
        return exact.numerator, exact.denominator
    near = exact.limit_denominator(MAX_RATIO_TERM - 1)
    if near.numerator and near.numerator < MAX_RATIO_TERM and abs(near / exact - 1) <= 1e-4:
        return near.numerator, near.denominator
    raise BadInput('unsupported_sample_rate', '%d Hz cannot be resampled to %d Hz by a '
                   'filter of bounded length' % (rate, target_rate))


def resample(samples, rate, target_rate):
    """float32 `samples` at `rate` resampled to `target_rate` by `resample_ratio` with
    scipy's polyphase anti-aliasing filter."""
    samples = np.asarray(samples, np.float32)
    if rate == target_rate or not len(samples):
        return samples
    from scipy.signal import resample_poly
    up, down = resample_ratio(rate, target_rate)
    return resample_poly(samples, up, down).astype(np.float32)


def read_audio(path, sample_rate, max_seconds=None):
    """Mono float32 samples of the audio file `path` at `sample_rate` (channels averaged),
    at most `max_seconds` of it from the start (None: all of it).

    Reads BLOCK_FRAMES frames at a time and mixes each block to mono, so a long
    multi-channel file is never held with all its channels. Raises BadInput for a file
    soundfile cannot read (unreadable_audio) or one longer than MUSEKIT_MAX_AUDIO_SAMPLES
    at its own rate or at `sample_rate` (audio_too_long), before decoding it.
    """
    import soundfile
    bound = limits.MAX_AUDIO_SAMPLES.value()
    try:
        with soundfile.SoundFile(path) as f:
            rate = f.samplerate
            wanted = f.frames if max_seconds is None else min(f.frames, int(max_seconds * rate))
            if max(wanted, wanted * sample_rate // rate) > bound:
                raise BadInput('audio_too_long', '%d frames at %d Hz, past the limit of %d '
                               'samples (MUSEKIT_MAX_AUDIO_SAMPLES)' % (wanted, rate, bound))
            mono, filled = np.empty(wanted, np.float32), 0
            while filled < wanted:
                block = f.read(min(BLOCK_FRAMES, wanted - filled), dtype='float32',
                               always_2d=True)
                if not len(block):
                    break
                mono[filled:filled + len(block)] = block.mean(axis=1)
                filled += len(block)
    except (RuntimeError, soundfile.LibsndfileError, OSError, ValueError) as e:
        raise BadInput('unreadable_audio', str(e).splitlines()[0] if str(e) else
                       type(e).__name__) from None
    finite = np.isfinite(mono[:filled])
    if not finite.all():
        raise BadInput('non_finite_audio', 'sample %d of %d is %s' % (
            int(np.argmin(finite)), filled, mono[int(np.argmin(finite))]))
    return resample(mono[:filled], rate, sample_rate)


def label_of(relpath):
    """The conditioning label of a source at `relpath` ('/'-separated, under the input
    root): its first sub-folder ('bach' for bach/prelude.wav), '' for a file in the root."""
    head, sep, _ = relpath.partition('/')
    return head if sep else ''


# --- records of the audio dataset job ---------------------------------------------------
_FILE, _SEQUENCE = b'audio_file', b'note_sequence'


@dataclasses.dataclass(frozen=True)
class AudioFileSource:
    """An audio file to decode: where it is (absolute) and its label."""
    path: str
    label: str


def file_record(path, label):
    """The record bytes of an audio file (its path and label, not its samples)."""
    return b'\0'.join([_FILE, os.fsencode(path), label.encode('utf-8')])


def sequence_record(sequence_bytes):
    """The record bytes of a serialized NoteSequence to render."""
    return _SEQUENCE + b'\0' + sequence_bytes


def parse_record(data):
    """An AudioFileSource, or a NoteSequence (labelled by label_of its `filename`), from a
    record made by file_record or sequence_record."""
    kind, _, rest = data.partition(b'\0')
    if kind == _FILE:
        path, _, label = rest.rpartition(b'\0')
        return AudioFileSource(os.fsdecode(path), label.decode('utf-8'))
    if kind == _SEQUENCE:
        from note_seq import music_pb2
        return music_pb2.NoteSequence.FromString(rest)
    raise ValueError('not an audio dataset record (kind %r)' % kind[:40])
