"""The audio extractor: a source piece (an audio file, or a NoteSequence rendered to audio)
-> mono samples at the config's rate -> fixed windows with overlap, near-silent ones
dropped, each a sequence [label, sample, ...] for the mu-law encoder."""
import collections.abc
import dataclasses
import os
import tempfile
import typing

import numpy as np

from musekit import limits
from musekit.data import audio_files
from musekit.data.sources import BadInput
from musekit.errors import MusekitError
from musekit.extractors.base import Extractor, new_stats, register
from musekit.params import param

FLUIDSYNTH_RATE = 44100     # FluidSynth renders at CD rate; the result is resampled


@register('audio_windows')
class AudioWindowsExtractor(Extractor):
    """Windows of `window_seconds` (exactly round(window_seconds * sample_rate) samples)
    starting every window minus `overlap_seconds`, from sample 0; a tail shorter than a
    window is dropped, and a window whose RMS is below `silence_db` dBFS (a full-scale
    square wave is 0 dB) too, all counted. Music is rendered by `renderer`: 'fluidsynth'
    (the FluidSynth program with a General MIDI SoundFont), 'builtin' (musekit's small
    synthesizer) or 'auto' (FluidSynth when both are installed, else builtin)."""

    output_name = 'clips'
    reader = 'audio'

    @dataclasses.dataclass
    class Params:
        sample_rate: int = param(8000, 'samples per second of the clips', min=100, max=384000)
        window_seconds: float = param(10.0, 'seconds of one clip', above=0.0)
        overlap_seconds: float = param(1.0, 'seconds two neighbouring clips share '
                                       '(shorter than a window)', min=0.0)
        silence_db: float = param(-50.0, 'a clip quieter than this (dBFS RMS) is dropped',
                                  max=0.0)
        renderer: typing.Literal['auto', 'builtin', 'fluidsynth'] = param(
            'auto', "how music is rendered: FluidSynth, musekit's synthesizer, or "
            'FluidSynth when installed')

    def __init__(self, *args, **values):
        super().__init__(*args, **values)
        self.window = int(round(self.window_seconds * self.sample_rate))
        overlap = int(round(self.overlap_seconds * self.sample_rate))
        if self.window < 2:
            raise MusekitError('window_seconds must give at least 2 samples at %d Hz, got %r'
                               % (self.sample_rate, self.window_seconds))
        if not overlap < self.window:
            raise MusekitError('overlap_seconds must be shorter than window_seconds (%r), '
                               'got %r' % (self.window_seconds, self.overlap_seconds))
        self.hop = self.window - overlap
        self.max_steps = self.window

    def check_runnable(self):
        if self.renderer == 'fluidsynth':
            _fluidsynth_or_refuse()

    def decode(self, data):
        return audio_files.parse_record(data)

    def prepare(self, item):
        """([(label, mono float32 samples at sample_rate)], drops) of a source piece: an
        audio file decoded, or a NoteSequence rendered; raises BadInput for one that
        cannot be."""
        stats = new_stats()
        if isinstance(item, audio_files.AudioFileSource):
            return [(item.label, audio_files.read_audio(item.path, self.sample_rate))], stats
        return [(audio_files.label_of(item.filename), self.render(item, stats))], stats

    def source_name(self, item):
        if isinstance(item, audio_files.AudioFileSource):
            return item.path
        return item.filename or item.id

    def render(self, sequence, stats):
        """Mono samples at sample_rate of a NoteSequence's pitched (non-drum) notes, by
        their times in seconds; the renderer used is counted (sequences_rendered_<it>).
        Raises BadInput when there is nothing to render, or too much."""
        notes = [n for n in sequence.notes if not n.is_drum and n.end_time > n.start_time]
        if not notes:
            raise BadInput('no_pitched_notes', 'only drums, or no notes')
        found = None if self.renderer == 'builtin' else (
            _fluidsynth_or_refuse() if self.renderer == 'fluidsynth' else _find_fluidsynth())
        rate = FLUIDSYNTH_RATE if found else self.sample_rate
        end = max(n.end_time for n in notes)
        bound = limits.MAX_AUDIO_SAMPLES.value()
        if max(end * rate, end * self.sample_rate) > bound:
            raise BadInput('audio_too_long', '%.0f seconds, past the limit of %d samples at '
                           '%d Hz (MUSEKIT_MAX_AUDIO_SAMPLES)' % (end, bound, rate))
        stats['sequences_rendered_%s' % ('fluidsynth' if found else 'builtin')] += 1
        if found:
            return _render_fluidsynth(found, sequence, self.sample_rate)
        from musekit.output.audio import synthesize
        from musekit.output.notes import Note
        # a grid of one step per sample: qpm * steps_per_quarter = 60 * rate
        rate = self.sample_rate
        return synthesize([Note(n.pitch, round(n.start_time * rate), round(n.end_time * rate),
                                n.velocity) for n in notes],
                          round(end * rate), qpm=60.0 * rate, steps_per_quarter=1,
                          sample_rate=rate)

    def extract(self, piece, encoder):
        """The windows of one piece as [label, sample, ...] sequences (see the class)."""
        label, samples = piece
        stats = new_stats()
        if not encoder.needs_fitting and _unknown_label(encoder, label):
            # a conditioned encoder fitted to the training part does not know this label
            stats['pieces_discarded_label_not_in_training'] += 1
            return [], stats
        if len(samples) < self.window:
            stats['pieces_discarded_shorter_than_a_window'] += 1
            return [], stats
        count = (len(samples) - self.window) // self.hop + 1
        tail = len(samples) - ((count - 1) * self.hop + self.window)
        if tail:
            stats['tail_samples_dropped'] += tail
        quietest = 10.0 ** (self.silence_db / 10.0)         # mean square at silence_db
        starts = [start for start in range(0, count * self.hop, self.hop)
                  if np.mean(np.square(samples[start:start + self.window], dtype=np.float64))
                  >= quietest]
        if len(starts) < count:
            stats['%s_discarded_silent' % self.output_name] += count - len(starts)
        return Clips(label, samples, starts, self.window), stats

    def describe(self, written):
        """What dataset.json says of the output: the rate, the window and hop in samples,
        and seconds of audio in each part's clips (overlaps counted in each clip)."""
        out = {'sample_rate': self.sample_rate, 'window_samples': self.window,
               'hop_samples': self.hop}
        if written is not None:
            out['clip_seconds'] = {part: n * self.window / self.sample_rate
                                   for part, n in written.items()}
        return out


class Clips(collections.abc.Sequence):
    """The kept windows of one piece, each made a sequence [label, sample, ...] only when
    read: a long piece never holds all its windows as Python lists at once."""

    def __init__(self, label, samples, starts, length):
        self._label, self._samples, self._starts, self._length = label, samples, starts, length

    def __len__(self):
        return len(self._starts)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        start = self._starts[index]
        return [self._label] + self._samples[start:start + self._length].tolist()


def _unknown_label(encoder, label):
    try:
        encoder.label_index(label)
    except MusekitError:
        return True
    return False


def _find_fluidsynth():
    from musekit.output.audio import find_fluidsynth
    return find_fluidsynth()


def _fluidsynth_or_refuse():
    found = _find_fluidsynth()
    if not found:
        raise MusekitError("renderer 'fluidsynth' needs the fluidsynth program and a General "
                           'MIDI SoundFont (set MUSEKIT_SOUNDFONT); install them, or use '
                           "renderer 'auto' or 'builtin'")
    return found


def _render_fluidsynth(found, sequence, sample_rate):
    """A NoteSequence's pitched notes rendered by FluidSynth at FLUIDSYNTH_RATE, read back
    mixed to mono at `sample_rate`; a failed render is BadInput (fluidsynth_failed)."""
    import note_seq
    from musekit.output.audio import fluidsynth_midi
    pitched = note_seq.NoteSequence()
    pitched.CopyFrom(sequence)
    del pitched.notes[:]
    pitched.notes.extend(n for n in sequence.notes if not n.is_drum)
    with tempfile.TemporaryDirectory(prefix='musekit_render_') as tmp:
        midi, wav = os.path.join(tmp, 'piece.mid'), os.path.join(tmp, 'piece.wav')
        note_seq.sequence_proto_to_midi_file(pitched, midi)
        try:
            fluidsynth_midi(found, midi, wav, FLUIDSYNTH_RATE)
        except MusekitError as e:
            raise BadInput('fluidsynth_failed', str(e)) from None
        return audio_files.read_audio(wav, sample_rate)
