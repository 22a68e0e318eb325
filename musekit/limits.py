"""The bounds musekit puts on sizes that come from users or their files, so no flag or file
can take the machine down. Each bound has a default and an environment variable that
raises it, for the user who really means it; the README's "Limits" section lists them all.

A value is read from the environment each time it is checked, so a Beam worker started by
a job sees the same limits as the job.
"""
import dataclasses
import os
import re

from musekit.errors import MusekitError

LIMITS = {}

_SUFFIXES = {'': 1, 'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}


@dataclasses.dataclass(frozen=True)
class Limit:
    """A named upper bound: `default` unless the environment variable `env` says otherwise.
    `default` may be a callable (a bound that depends on the machine)."""
    env: str
    default: object
    unit: str
    what: str

    def value(self):
        text = os.environ.get(self.env, '').strip()
        if not text:
            return self.default() if callable(self.default) else self.default
        return parse_size(text, self.env)

    def describe(self, amount):
        """'100,000 steps' or '32 MiB'."""
        text = format_amount(amount, self.unit)
        return text if self.unit == 'bytes' else '%s %s' % (text, self.unit)

    def check(self, amount, asked):
        """Raises MusekitError when `amount` is over the bound; `asked` names the request
        (e.g. '--num_steps=1000000000') in the message."""
        bound = self.value()
        if amount > bound:
            raise MusekitError(
                "%s is over musekit's limit of %s; set the environment variable %s to a "
                'larger number if you mean it' % (asked, self.describe(bound), self.env))
        return amount


def check_environment():
    """Raises MusekitError for any MUSEKIT_* limit variable set to something not a size,
    so a command refuses a typo at once rather than in a worker."""
    for bound in LIMITS.values():
        bound.value()


def limit(env, default, unit, what):
    """Declares a Limit (once per environment variable) and returns it."""
    if env in LIMITS:
        raise ValueError('limit %s is declared twice' % env)
    LIMITS[env] = Limit(env, default, unit, what)
    return LIMITS[env]


def parse_size(text, name):
    """A positive integer from '100000', '1_000_000', '64M' or '16G' (binary multiples)."""
    match = re.fullmatch(r'([0-9]+(?:_[0-9]+)*)\s*([KMGT]?)(?:i?B)?', text.strip(),
                         re.IGNORECASE)
    if not match:
        raise MusekitError('%s must be a positive whole number (suffixes K, M, G, T allowed), '
                           'got %r' % (name, text))
    number = int(match.group(1)) * _SUFFIXES[match.group(2).upper()]     # int() reads 1_000
    if number < 1:
        raise MusekitError('%s must be a positive whole number, got %r' % (name, text))
    return number


def format_amount(amount, unit):
    """Bytes as '64 MiB' (an exact multiple), '2.9 TiB (3,188,... bytes)' or '900 bytes';
    other units as an integer with thousands separators."""
    if unit != 'bytes':
        return '{:,}'.format(amount)
    for suffix, size in (('TiB', 1 << 40), ('GiB', 1 << 30), ('MiB', 1 << 20), ('KiB', 1 << 10)):
        if amount >= size:
            if amount % size == 0:
                return '%d %s' % (amount // size, suffix)
            return '%.1f %s (%s bytes)' % (amount / size, suffix, '{:,}'.format(amount))
    return '%d bytes' % amount


def physical_memory():
    """Bytes of RAM on this machine (24 GiB if the system cannot say)."""
    try:
        return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    except (ValueError, OSError, AttributeError):
        return 24 << 30


def _three_quarters_of_memory():
    return physical_memory() * 3 // 4


# --- generation -------------------------------------------------------------------------
MAX_STEPS = limit(
    'MUSEKIT_MAX_STEPS', 100_000, 'steps',
    'the length of a generated piece, musekit_generate --num_steps; 100,000 sixteenth notes '
    'are 52 minutes at 120 qpm')
MAX_BEAM_CANDIDATES = limit(
    'MUSEKIT_MAX_BEAM_CANDIDATES', 65_536, 'sequences',
    'beam search keeps --beam_size x --branch_factor x --num_outputs sequences')

MAX_AUDIO_SAMPLES = limit(
    'MUSEKIT_MAX_AUDIO_SAMPLES', 1 << 24, 'samples',
    'one piece of audio: a generated clip (musekit_generate --num_seconds) and one decoded '
    'or rendered audio input of the dataset job (audio_too_long); 2^24 samples are 35 '
    'minutes at 8 kHz')

MAX_BUNDLE_BYTES = limit(
    'MUSEKIT_MAX_BUNDLE_BYTES', 1 << 30, 'bytes',
    'a bundle file (musekit or Magenta .mag) larger than this is refused before it is read; '
    'the shipped ones are 1 to 3 MB')

# --- training ---------------------------------------------------------------------------
MEMORY = limit(
    'MUSEKIT_MEMORY_LIMIT', _three_quarters_of_memory, 'bytes',
    "training's estimated memory: weights, gradients and Adam's two moments, plus one "
    "batch's activations; the default is 3/4 of this machine's memory")

# --- input files ------------------------------------------------------------------------
MAX_FILE_BYTES = limit(
    'MUSEKIT_MAX_FILE_BYTES', 32 << 20, 'bytes',
    'an input file larger than this is skipped (file_too_large), never read into memory; '
    'audio files, decoded block by block, are bounded by MUSEKIT_MAX_AUDIO_SAMPLES instead')
MAX_UNZIPPED_BYTES = limit(
    'MUSEKIT_MAX_UNZIPPED_BYTES', 64 << 20, 'bytes',
    'a compressed MusicXML (.mxl) file inflating past this is skipped (zip_too_large)')
MAX_MIDI_TICKS = limit(
    'MUSEKIT_MAX_MIDI_TICKS', 1 << 26, 'ticks',
    'a MIDI file whose last event lies further in (pretty_midi keeps 8 bytes per tick while '
    'reading it) is skipped (midi_too_long); 2^26 ticks are 19 hours at 480 ticks per '
    'quarter and 120 qpm')
MAX_QUANTIZED_STEPS = limit(
    'MUSEKIT_MAX_QUANTIZED_STEPS', 1 << 22, 'steps',
    'a piece longer than this once quantized is counted and skipped by the dataset job '
    '(sequences_discarded_too_long_to_quantize); 2^22 sixteenth notes are 145 hours at '
    '120 qpm')
MAX_PIANO_ROLL_FRAMES = limit(
    'MUSEKIT_MAX_PIANO_ROLL_FRAMES', 2_000_000, 'frames',
    'all pieces of one piano-roll benchmark file (.mat / .pickle) together; Piano-midi.de '
    'has about 100,000')
