"""Audio files -> mono float samples at a model's sample rate (soundfile reads WAV, FLAC,
OGG and MP3; scipy's polyphase filter resamples).
"""
import math

import numpy as np

from musekit import limits
from musekit.data.sources import BadInput

AUDIO_EXTENSIONS = ('.wav', '.flac', '.ogg', '.mp3')


def resample(samples, rate, target_rate):
    """float32 `samples` at `rate` resampled to `target_rate` (the exact rational ratio,
    e.g. 44,100 -> 6,300 is 1/7) with scipy's polyphase anti-aliasing filter."""
    samples = np.asarray(samples, np.float32)
    if rate == target_rate:
        return samples
    from scipy.signal import resample_poly
    g = math.gcd(int(rate), int(target_rate))
    return resample_poly(samples, int(target_rate) // g, int(rate) // g).astype(np.float32)


def read_audio(path, sample_rate, max_seconds=None):
    """Mono float32 samples of the audio file `path` at `sample_rate` (channels averaged),
    at most `max_seconds` of it from the start (None: all of it, within
    MUSEKIT_MAX_AUDIO_SAMPLES). Raises BadInput for a file soundfile cannot read."""
    import soundfile
    try:
        with soundfile.SoundFile(path) as f:
            rate, frames = f.samplerate, f.frames
            wanted = frames if max_seconds is None else min(frames, int(max_seconds * rate))
            if max_seconds is None and frames * f.channels > limits.MAX_AUDIO_SAMPLES.value():
                raise BadInput('audio_too_long', '%d frames of %d channels' % (
                    frames, f.channels))
            data = f.read(wanted, dtype='float32', always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, OSError) as e:
        raise BadInput('unreadable_audio', str(e).splitlines()[0] if str(e) else
                       type(e).__name__) from None
    return resample(data.mean(axis=1), rate, sample_rate)
