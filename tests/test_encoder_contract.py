"""musekit.testing.check_encoder run for every registered encoder on real events: those the
data job extracts, with the first config naming the encoder, from a few Bach chorales
(music21's MusicXML and the JSB benchmark file), so a new encoder is checked without a test
of its own. Also tests that check_encoder catches the breaks it is there for."""
import os

import numpy as np
import pytest

from musekit.config import config_names, get_config
from musekit.data import audio_files, sources
from musekit.encoders.base import Encoder, StepSpec, Stepper
from musekit.encoders.melody import OneHotMelodyEncoder
from musekit.encoders.piano_roll import PianoRollEncoder
from musekit.pipelines.create_dataset import EncodePiece
from musekit.registry import ENCODERS
from musekit.testing import check_encoder

JSB = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'JSB_Chorales.mat')
CHORALES = ('bwv66.6.mxl', 'bwv10.7.mxl')
SEQUENCES_PER_ENCODER = 6
# how each data-job reader takes a NoteSequence as a record
RECORD_OF_SEQUENCE = {'note_sequences': lambda data: data,
                      'audio': audio_files.sequence_record}


@pytest.fixture(scope='module')
def note_sequences():
    """Serialized NoteSequences: two music21 chorales and three JSB pieces."""
    listed = [s for s in sources.list_sources('music21:bach') if s.relpath in CHORALES]
    found = [ns for s in listed for ns in sources.parse(s, sources.read_bounded(s.path))]
    jsb = sources.parse(sources.Source(JSB, 'JSB_Chorales.mat', 'data'),
                        open(JSB, 'rb').read())
    return [ns.SerializeToString() for ns in found + jsb[:3]] + [drum_sequence()]


def drum_sequence():
    """A serialized NoteSequence of two 8-bar drum parts a 2-bar gap apart, so that the drum
    encoders get events too (the chorales have none)."""
    from note_seq.protobuf import music_pb2
    sequence = music_pb2.NoteSequence(ticks_per_quarter=220)
    sequence.tempos.add(qpm=120)
    sequence.time_signatures.add(numerator=4, denominator=4)
    for step in list(range(0, 128)) + list(range(160, 288)):
        for pitch, every, at in ((36, 8, 0), (38, 8, 4), (42, 2, 0), (49, 32, 0), (45, 16, 14)):
            if step % every == at:
                sequence.notes.add(pitch=pitch, velocity=100, start_time=step / 8,
                                   end_time=step / 8 + 0.1, is_drum=True, instrument=9)
    sequence.total_time = 288 / 8
    return sequence.SerializeToString()


def real_events(config, note_sequences):
    """(encoder, event sequences) the dataset job would encode for `config`, the encoder
    fitted to those sequences when it learns its params from the data."""
    reader = config.make_extractor().reader
    assert reader in RECORD_OF_SEQUENCE, 'no test record for reader %r' % reader
    records = [RECORD_OF_SEQUENCE[reader](data) for data in note_sequences]
    job = EncodePiece(config.to_dict(), 'training', (0,))
    job.setup()
    found = []
    for i, data in enumerate(records):
        found += [events for events in job.sequences(str(i), data) if not isinstance(events, str)]
    encoder = config.make_encoder()
    if encoder.needs_fitting:
        counts = sum((encoder.statistics(events) for events in found), type(encoder.statistics(
            found[0]))())
        encoder = type(encoder)(**encoder.fitted(counts))
        encoder.name = config.make_encoder().name
    return encoder, [list(events) for events in found[:SEQUENCES_PER_ENCODER]]


@pytest.mark.parametrize('name', ENCODERS.names())
def test_every_registered_encoder_keeps_its_contract_on_real_events(name, note_sequences):
    configs = [get_config(c) for c in config_names()]
    config = next((c for c in configs if c.encoder['name'] == name), None)
    if config is None:
        pytest.skip('no config names encoder %r, so no data job gives it events' % name)
    encoder, events_list = real_events(config, note_sequences)
    assert len(events_list) >= 2, 'config %s extracted too little to check' % config.name
    check_encoder(encoder, events_list)


# --- check_encoder catches what it is for ------------------------------------------------

MELODY = [60, -2, 62, -1, 64, 64, -2, 60, 67, -2]
FRAMES = [(60, 64), (62,), (), (60, 64, 67), (65,)]


class _OffByOneOverride(OneHotMelodyEncoder):
    def encode(self, events):
        inputs, labels = super().encode(events)
        return inputs, np.where(labels == 16, 17, labels)   # pitch 62 read as 63


class _FloatLabels(PianoRollEncoder):
    def encode(self, events):
        inputs, labels = super().encode(events)
        return inputs, labels.astype(np.float32)


class _SharedEventsStepper(Stepper):
    """A copy that shares its events list with the original."""

    def check(self, event, position):
        return self.encoder.check_frame(event, position)

    def input(self):
        return self.encoder.frame_input(self._events[-1])

    def label(self):
        return self.encoder.frame_label(self._events[-1])

    def copy(self):
        return self


class _SharedCopies(PianoRollEncoder):
    def stepper(self, events):
        return _SharedEventsStepper(self, events)


class _LossyDecode(OneHotMelodyEncoder):
    def class_to_event(self, class_index, events):
        return -2 if class_index == 1 else super().class_to_event(class_index, events)


class _OutOfRange(OneHotMelodyEncoder):
    @property
    def label_spec(self):           # a depth too small for the labels it gives
        return StepSpec('int64', (), depth=20)


@pytest.mark.parametrize('encoder, events, message', [
    (_OffByOneOverride(), MELODY, "the stepper's labels differ from encode's (first at step 1)"),
    (_FloatLabels(), FRAMES, 'encode gives labels float32, declared int64'),
    (_SharedCopies(), FRAMES, 'pushing to a copy of a stepper changed the original'),
    (_LossyDecode(), MELODY, 'decoding the labels and encoding the result changes label 2'),
    (_OutOfRange(), MELODY, 'labels outside [0, 20): 0..21'),
], ids=['override differs', 'label dtype', 'copy shares state', 'decode loses', 'range'])
def test_check_encoder_names_the_broken_contract(encoder, events, message):
    encoder.name = 'broken'
    encoder.piece_type = 'melody' if isinstance(encoder, OneHotMelodyEncoder) else 'piano_roll'
    with pytest.raises(AssertionError) as caught:
        check_encoder(encoder, [events])
    assert message in str(caught.value) and "'broken', sequence 0" in str(caught.value)


def test_derived_encode_is_the_stepper_on_every_event():
    encoder = OneHotMelodyEncoder(60, 68)
    inputs, labels = Encoder.encode(encoder, [60, -2, 67])
    assert inputs.dtype == np.float32 and inputs.shape == (2, 10)
    assert inputs.argmax(1).tolist() == [2, 0] and labels.tolist() == [0, 9]
    empty_inputs, empty_labels = Encoder.encode(encoder, [60])
    assert empty_inputs.shape == (0, 10) and empty_labels.shape == (0,)
