"""Notes to WAV audio: FluidSynth with a General MIDI SoundFont when both are installed,
else a small built-in synthesizer (additive harmonics, ADSR envelope; drum hits as short
noise bursts); files through soundfile as 16-bit mono PCM."""
import errno
import glob
import os
import shutil
import subprocess
import tempfile

import numpy as np

from musekit import atomic
from musekit.errors import MusekitError
from musekit.output.notes import seconds_per_step

SAMPLE_RATE = 22050
SOUNDFONT_GLOBS = ('/usr/share/sounds/sf2/*.sf2', '/usr/share/soundfonts/*.sf2',
                   '/usr/share/sounds/sf3/*.sf3', '/usr/local/share/soundfonts/*.sf2')
HARMONICS = (1.0, 0.5, 0.25, 0.12, 0.06)      # relative amplitudes of partials 1..5
ATTACK, DECAY, SUSTAIN, RELEASE = 0.01, 0.12, 0.6, 0.06   # seconds, level, seconds
PEAK = 0.8
DRUM_NOISE, DRUM_DECAY = 0.6, 0.04       # a drum hit's share of noise; its decay in seconds


def find_soundfont():
    """A General MIDI SoundFont path ($MUSEKIT_SOUNDFONT first), or None."""
    env = os.environ.get('MUSEKIT_SOUNDFONT')
    if env and os.path.isfile(env):
        return env
    for pattern in SOUNDFONT_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def find_fluidsynth():
    """(the fluidsynth program, a General MIDI SoundFont) when both are installed, else
    None."""
    fluidsynth, soundfont = shutil.which('fluidsynth'), find_soundfont()
    return (fluidsynth, soundfont) if fluidsynth and soundfont else None


def render_wav(path, notes, num_steps, qpm=120.0, steps_per_quarter=4,
               sample_rate=SAMPLE_RATE, use_fluidsynth=True):
    """Writes the notes as a WAV file; returns 'fluidsynth' or 'builtin' (what rendered it).
    A WAV longer than MUSEKIT_MAX_AUDIO_SAMPLES is refused (MusekitError) before any work:
    its samples are held in memory whole."""
    check_length(path, num_steps, qpm, steps_per_quarter, sample_rate)
    found = find_fluidsynth()
    if use_fluidsynth and found:
        from musekit.output.midi import write_midi
        with tempfile.TemporaryDirectory(prefix='musekit_render_') as tmp:
            midi = write_midi(os.path.join(tmp, 'piece.mid'), notes, num_steps, qpm,
                              steps_per_quarter)
            with atomic.replacing(path) as wav:
                fluidsynth_midi(found, midi, wav, sample_rate, shown=path)
        return 'fluidsynth'
    write_wav(path, synthesize(notes, num_steps, qpm, steps_per_quarter, sample_rate),
              sample_rate)
    return 'builtin'


def check_length(path, num_steps, qpm, steps_per_quarter, sample_rate):
    """Refuses (MusekitError naming `path`) a rendering over MUSEKIT_MAX_AUDIO_SAMPLES."""
    from musekit import limits
    samples = int(round(num_steps * seconds_per_step(qpm, steps_per_quarter) * sample_rate))
    limits.MAX_AUDIO_SAMPLES.check(samples, 'the WAV of %s (%s steps at %g qpm: %s samples at '
                                   '%d Hz)' % (path, '{:,}'.format(num_steps), qpm,
                                               '{:,}'.format(samples), sample_rate))


def fluidsynth_midi(found, midi, path, sample_rate, shown=None):
    """Renders the MIDI file `midi` to the WAV file `path` with FluidSynth (`found`: what
    find_fluidsynth returned); raises MusekitError, naming `shown` (default `path`), when it
    fails."""
    binary, soundfont = found
    proc = subprocess.run([binary, '-ni', '-q', '-g', '1.0', '-r', str(sample_rate),
                           '-T', 'wav', '-F', os.path.abspath(path), soundfont, midi],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode or not os.path.isfile(path):
        raise MusekitError('fluidsynth failed to render %s: %s' % (
            shown or path, (proc.stderr.strip().splitlines() or ['exit %d' % proc.returncode])[-1]))


def synthesize(notes, num_steps, qpm=120.0, steps_per_quarter=4, sample_rate=SAMPLE_RATE):
    """float32 mono samples in [-1, 1], exactly `num_steps` steps long; a mix of several
    voices that would exceed full scale is scaled down to PEAK."""
    step = seconds_per_step(qpm, steps_per_quarter)
    total = int(round(num_steps * step * sample_rate))
    out = np.zeros(total, np.float32)
    for note in notes:
        start = int(round(note.start_step * step * sample_rate))
        end = min(total, int(round(note.end_step * step * sample_rate)))
        if end > start:
            voice = _drum_voice if note.is_drum else _voice
            out[start:end] += voice(note.pitch, end - start, sample_rate) * (note.velocity / 100)
    loudest = float(np.abs(out).max()) if total else 0.0
    if loudest > 1.0:
        out *= PEAK / loudest
    return out


def _voice(pitch, length, sample_rate):
    """One note: harmonics of its frequency under an ADSR envelope that ends at zero."""
    t = np.arange(length) / sample_rate
    frequency = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    wave_ = np.zeros(length)
    for k, amplitude in enumerate(HARMONICS, start=1):
        if k * frequency < sample_rate / 2:
            wave_ += amplitude * np.sin(2 * np.pi * k * frequency * t)
    wave_ /= sum(HARMONICS)
    envelope = np.full(length, SUSTAIN)
    attack = min(length, max(1, int(ATTACK * sample_rate)))
    envelope[:attack] = np.linspace(0.0, 1.0, attack, endpoint=False)
    decay = min(length - attack, int(DECAY * sample_rate))
    envelope[attack:attack + decay] = np.linspace(1.0, SUSTAIN, decay, endpoint=False)
    release = min(length, int(RELEASE * sample_rate))
    envelope[length - release:] *= np.linspace(1.0, 0.0, release)
    return (PEAK * wave_ * envelope).astype(np.float32)


def _drum_voice(pitch, length, sample_rate):
    """One drum hit: a burst of noise (its own, seeded by the pitch) over a tone at the
    pitch's frequency (a low thump for a kick), decaying fast; the same for a pitch always."""
    t = np.arange(length) / sample_rate
    frequency = min(440.0 * 2.0 ** ((pitch - 69) / 12.0), sample_rate / 4)
    noise = np.random.default_rng(pitch).uniform(-1.0, 1.0, length)
    tone = np.sin(2 * np.pi * frequency * t)
    mix = DRUM_NOISE * noise + (1.0 - DRUM_NOISE) * tone
    return (PEAK * mix * np.exp(-t / DRUM_DECAY)).astype(np.float32)


def write_wav(path, samples, sample_rate=SAMPLE_RATE):
    """Writes float samples in [-1, 1] (clipped) as 16-bit mono PCM, whole or not at all;
    returns `path`."""
    import soundfile
    samples = np.clip(np.asarray(samples, np.float32), -1.0, 1.0)
    with atomic.replacing(path) as tmp:
        try:
            soundfile.write(tmp, samples, sample_rate, subtype='PCM_16', format='WAV')
        except soundfile.LibsndfileError as e:
            # libsndfile says 'System error.' for a full disk: tell it as the OS would
            free = shutil.disk_usage(os.path.dirname(tmp)).free
            if free < 2 * len(samples) + 44:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from None
            raise OSError(e.code, str(e).splitlines()[-1]) from None
    return path
