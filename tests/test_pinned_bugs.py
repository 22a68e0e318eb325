"""Behaviours that small deliberate bugs slipped past before (issue "Tests that catch
bugs"): each test here fails when its bug is planted."""
import io
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from musekit.data import tfrecord
from musekit.encoders.melody import OneHotMelodyEncoder
from musekit.generation import beam_search
from musekit.generation.sampling import log_softmax
from musekit.models.base import StepModel
from test_generation import fed_primers  # noqa: F401  (a fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- 1. beam search ---------------------------------------------------------------------

class HistoryFreeModel(StepModel):
    """Logits that depend only on the step count: the most likely sequence is the most
    likely class at every step, and every sequence's likelihood is a sum of known terms."""

    def __init__(self, table):
        self.table = np.asarray(table, np.float64)      # [steps, classes]

    def initial_state(self, batch_size):
        return (np.zeros(batch_size, np.int64),)

    def step(self, inputs, state):
        return self.table[state[0]], (state[0] + 1,)


def test_beam_search_finds_the_best_sequence_of_a_model_enumerated_by_hand():
    """Every 6-step sequence of a 4-class model is scored by hand; beam search keeps 2 of
    32 branches every 2 steps and must end on the single best sequence and its score (an
    arbitrary choice of the 2 would miss it most of the time)."""
    encoder = OneHotMelodyEncoder(min_note=60, max_note=62)  # 4 classes: -2, -1, 60, 61
    rng = np.random.default_rng(0)
    table = rng.normal(scale=0.3, size=(6, 4))
    table[np.arange(6), rng.integers(0, 4, 6)] += 1.5          # each step's likely class
    model = HistoryFreeModel(table)
    log_probs = log_softmax(table, 1.0)
    candidates = {seq: sum(log_probs[t, c] for t, c in enumerate(seq))
                  for seq in itertools.product(range(4), repeat=6)}
    best = max(candidates, key=candidates.get)
    events = {0: -2, 1: -1, 2: 60, 3: 61}
    for beam_size, branch_factor, per_iteration, seed in ((2, 16, 2, 1), (3, 12, 3, 2)):
        result = beam_search(model, encoder, [60], 7, num_outputs=4, seed=seed,
                             beam_size=beam_size, branch_factor=branch_factor,
                             steps_per_iteration=per_iteration)
        for got, loglik in zip(result.events, result.log_likelihood):
            assert got == [60] + [events[c] for c in best]
            assert loglik == pytest.approx(candidates[best], abs=1e-9)


class TaggedModel(StepModel):
    """Each output's rows carry their output's tag in the state; a row tagged r makes class
    r + 2 likely, and higher tags more sharply, so a row that strayed into another output's
    beams would win there and show up in that output's events."""

    def __init__(self, width):
        self.width = width

    def initial_state(self, batch_size):
        return (np.full(batch_size, -1, np.int64),)

    def step(self, inputs, state):
        tag = state[0]
        if (tag < 0).all():                                # the first generated step
            tag = np.arange(len(tag)) // self.width
        logits = np.zeros((len(tag), 4))
        logits[np.arange(len(tag)), tag + 2] = 2.0 + 3.0 * tag
        return logits, (tag,)


def test_each_outputs_beams_descend_from_that_outputs_rows_only():
    encoder = OneHotMelodyEncoder(min_note=60, max_note=62)
    for beam_size, branch_factor in ((2, 3), (3, 2)):
        model = TaggedModel(beam_size * branch_factor)
        result = beam_search(model, encoder, [60], 12, num_outputs=2, seed=3,
                             beam_size=beam_size, branch_factor=branch_factor,
                             steps_per_iteration=2)
        for output, events in enumerate(result.events):
            generated = events[1:]
            # output r's rows make class r + 2 (event 60 + r) likely; never the other's
            assert generated.count(60 + output) > len(generated) // 2, (output, events)
            assert 60 + (1 - output) not in generated[2:], (output, events)


# --- 2. the split and the shards are the same in every process --------------------------

@pytest.mark.slow
def test_split_and_shard_assignment_do_not_depend_on_the_process():
    code = ('from musekit.data.splits import HashSplit\n'
            'from musekit.data.shards import shard_index\n'
            "ids = ['/id/midi/bach/%d' % i for i in range(300)]\n"
            "print(''.join(HashSplit(0.3).assign(i, b'')[0] for i in ids))\n"
            "print(''.join(str(shard_index(i, 4)) for i in ids))\n")
    outputs = [subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                              check=True, env=dict(os.environ, PYTHONHASHSEED=seed)).stdout
               for seed in ('1', '2', 'random')]
    assert outputs[0] == outputs[1] == outputs[2]
    splits, shards = outputs[0].split()
    assert 60 < splits.count('e') < 120 and len(set(shards)) == 4


# --- 3. the bundle checksum covers a real-size payload -----------------------------------

@pytest.mark.parametrize('offset', [70_000, 500_000, -5000])
def test_a_flipped_byte_deep_inside_a_shipped_bundle_is_caught(tmp_path, offset):
    from musekit.bundle import load_bundle
    from musekit.errors import MusekitError
    data = bytearray(open(os.path.join(ROOT, 'bundles', 'lookback_rnn.musekit'), 'rb').read())
    assert len(data) > 1_000_000
    data[offset] ^= 0x01
    path = tmp_path / 'flipped.musekit'
    path.write_bytes(bytes(data))
    with pytest.raises(MusekitError, match='checksum does not match'):
        load_bundle(str(path))


# --- 4. a restarted run sees new batches; the same seed and step see the same ones -------

@pytest.mark.slow
def test_resumed_training_reads_other_batches_than_the_first_run(tmp_path, monkeypatch):
    from test_training import TINY, write_dataset

    from musekit.config import get_config
    from musekit.data import dataset
    from musekit.training import Trainer
    pattern = write_dataset(str(tmp_path / 'data'))
    seen = []
    real = dataset.make_dataset

    def spy(pattern, encoder, batch_size, training, seed=0, batching=None):
        ds = real(pattern, encoder, batch_size, training, seed, batching)
        if training:
            seen.append([b[1].numpy().tobytes() for b in ds.take(3)])
        return ds
    monkeypatch.setattr(dataset, 'make_dataset', spy)
    config = get_config('basic_rnn', TINY)
    run_dir = str(tmp_path / 'run')
    Trainer(config, run_dir, seed=4, log=lambda line: None).train(pattern, 3,
                                                                 save_checkpoint_steps=3)
    Trainer(config, run_dir, seed=4, log=lambda line: None).train(pattern, 6,
                                                                 save_checkpoint_steps=3)
    first, resumed = seen
    assert first != resumed                         # not the first batches again
    again = str(tmp_path / 'again')
    Trainer(config, again, seed=4, log=lambda line: None).train(pattern, 3,
                                                               save_checkpoint_steps=3)
    assert seen[2] == first                         # same seed, same step: same batches


# --- 5. a MIDI primer is moved into the model's key and range ---------------------------

def test_an_out_of_range_out_of_key_midi_primer_is_squashed_and_moved_back(tmp_path, capsys,
                                                                          fed_primers):
    import note_seq
    from test_generation import fake_bundle, run_cli

    from musekit.output.midi import write_midi
    from musekit.pieces.melody import melody_notes
    fed = fed_primers
    e_major = [88, -2, 90, -2, 92, -2, 93, -2, 95, -2, 97, -2, 99, 100]   # E major, high
    primer = write_midi(str(tmp_path / 'e.mid'), melody_notes(e_major), len(e_major))
    bundle = fake_bundle(tmp_path / 'fake.musekit')
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--num_outputs=1', '--num_steps=32', '--seed=1',
                             '--primer_midi=' + primer)
    assert status == 0, err
    # E major -> C major is 4 semitones down, then 2 octaves down into [48, 84)
    assert [e for e in fed[0] if e >= 0] == [e - 28 for e in e_major if e >= 0]
    seq = note_seq.midi_file_to_note_sequence(str(tmp_path / 'melody_01.mid'))
    assert [n.pitch for n in seq.notes[:8]] == [e for e in e_major if e >= 0]


# --- 6. TFRecord framing equals TensorFlow's for real records ---------------------------

def test_tfrecord_bytes_equal_tensorflows_writer(tmp_path):
    tf = pytest.importorskip('tensorflow')
    records = [b'a', b'musekit', bytes(range(256)), b'\x00' * 1000, b'x' * 70000]
    path = str(tmp_path / 'tf.tfrecord')
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    buf = io.BytesIO()
    tfrecord.write_records(buf, records)
    assert buf.getvalue() == open(path, 'rb').read()
    # the masked CRC32C values TensorFlow writes, pinned (record b'a': its length, its data)
    written = open(path, 'rb').read()
    assert int.from_bytes(written[8:12], 'little') == tfrecord._masked_crc(
        (1).to_bytes(8, 'little')) == 0x41DE7501
    assert int.from_bytes(written[13:17], 'little') == tfrecord._masked_crc(b'a') == 0x28E46E78
    assert tfrecord._masked_crc(b'musekit') == 0x1DA11396
    assert list(tfrecord.read_records(io.BytesIO(buf.getvalue()))) == records


# --- 7. training batches are shuffled ---------------------------------------------------

def test_training_batches_are_shuffled_not_in_file_order(tmp_path):
    from test_training import write_dataset

    from musekit.config import get_config
    from musekit.data import dataset
    from musekit.data.batching import Bucketed
    pattern = write_dataset(str(tmp_path / 'data'), count=40, shards=1)
    encoder = get_config('basic_rnn').make_encoder()
    file_order = [b[1].numpy() for b in dataset.make_dataset(
        pattern, encoder, 1, training=False, batching=Bucketed(0))]
    orders = []
    for seed in (1, 2):
        batches = dataset.make_dataset(pattern, encoder, 1, training=True, seed=seed,
                                       batching=Bucketed(0)).take(40)
        orders.append([b[1].numpy() for b in batches])
    assert not all(np.array_equal(a, b) for a, b in zip(orders[0], file_order))
    assert not all(np.array_equal(a, b) for a, b in zip(orders[0], orders[1]))
    # a shuffle of every record, repeated: all of them come. The buffer (512) mixes
    # passes, so a record is missed in n draws with probability (39/40)**n: 1000 draws miss
    # one of the 40 with probability 40 * (39/40)**1000 < 1e-9 whatever TensorFlow's global
    # seed (which earlier tests may set; 160 draws missed one after some of them).
    many = dataset.make_dataset(pattern, encoder, 1, training=True, seed=1,
                                batching=Bucketed(0)).take(1000)
    assert {b[1].numpy().tobytes() for b in many} == {a.tobytes() for a in file_order}
