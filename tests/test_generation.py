"""Generation: batched sampling, beam search, the melody piece type and musekit_generate."""
import os
import subprocess
import sys

import numpy as np
import pytest

from musekit.bundle import write_bundle
from musekit.cli import generate as cli
from musekit.config import get_config
from musekit.errors import MusekitError
from musekit.generation import beam_search, generate, sample
from musekit.generation.sampling import log_softmax
from musekit.models.base import ModelFamily, StepModel, register
from musekit.output.midi import write_midi
from musekit.pieces.melody import melody_notes, read_primer_midi, to_note_sequence
from musekit.registry import MODELS

FAKE_MODEL = 'test_elman'
CONFIGS = ('basic_rnn', 'lookback_rnn', 'attention_rnn')


class ElmanStep(StepModel):
    """A tiny NumPy Elman RNN: enough to exercise generation without TensorFlow."""

    def __init__(self, weights):
        self.w = weights
        self.calls = []

    def initial_state(self, batch_size):
        return (np.zeros((batch_size, self.w['u'].shape[0]), np.float32),)

    def step(self, inputs, state):
        self.calls.append(np.array(inputs))
        h = np.tanh(inputs @ self.w['w'] + state[0] @ self.w['u'] + self.w['b'])
        return h @ self.w['v'] + self.w['c'], (h,)


class Elman(ModelFamily):
    def build(self, encoder, hparams):
        raise AssertionError('generation must not build a Keras model')

    def objective(self, encoder, hparams):
        raise AssertionError('generation must not train')

    def weight_variables(self, keras_model):
        raise AssertionError('not a Keras model')

    def weight_shapes(self, encoder, hparams):
        hidden = hparams.get('hidden', 16)
        return {'w': (encoder.input_spec.size, hidden), 'u': (hidden, hidden), 'b': (hidden,),
                'v': (hidden, encoder.label_spec.depth), 'c': (encoder.label_spec.depth,)}

    def step_model(self, weights, encoder, hparams):
        if weights['w'].shape != (encoder.input_spec.size, weights['u'].shape[0]):
            raise ValueError('w has shape %s' % (weights['w'].shape,))
        return ElmanStep(weights)


if FAKE_MODEL not in MODELS:
    register(FAKE_MODEL)(Elman)


def fake_weights(encoder, hidden=16, seed=0):
    rng = np.random.default_rng(seed)

    def normal(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(np.float32)
    return {'w': normal(encoder.input_size, hidden, scale=0.5),
            'u': normal(hidden, hidden, scale=0.3), 'b': normal(hidden, scale=0.1),
            'v': normal(hidden, encoder.num_classes, scale=0.5),
            'c': normal(encoder.num_classes, scale=0.1)}


def setup(name='lookback_rnn', seed=0):
    encoder = get_config(name).make_encoder()
    return ElmanStep(fake_weights(encoder, seed=seed)), encoder


def fake_bundle(path, name='lookback_rnn'):
    config = get_config(name).to_dict()
    config['model'] = {'name': FAKE_MODEL}
    config['hparams'] = {'batch_size': 8}        # the fake family declares no others
    write_bundle(str(path), config, fake_weights(get_config(name).make_encoder()),
                 {'dataset': 'none: random weights'})
    return str(path)


# --- sampling ---------------------------------------------------------------------------

@pytest.mark.parametrize('name', CONFIGS)
def test_sampling_is_valid_reproducible_and_keeps_the_primer(name):
    model, encoder = setup(name)
    primer = [60, -2, 62, -1]
    a = sample(model, encoder, primer, 50, num_outputs=4, seed=7)
    b = sample(model, encoder, primer, 50, num_outputs=4, seed=7)
    c = sample(model, encoder, primer, 50, num_outputs=4, seed=8)
    assert a.events == b.events and np.array_equal(a.log_likelihood, b.log_likelihood)
    assert a.events != c.events
    assert len(set(map(tuple, a.events))) > 1          # outputs differ from each other
    assert a.primer_length == len(primer)
    for events in a.events:
        assert len(events) == 50 and events[:4] == primer
        encoder.validate_events(events)
    assert a.log_likelihood.shape == (4,) and np.all(a.log_likelihood < 0)


def test_each_event_is_fed_once_with_the_encoders_inputs():
    model, encoder = setup('attention_rnn')
    primer = [60, -2, 64, 67, -1]
    result = sample(model, encoder, primer, 40, num_outputs=3, seed=1)
    calls = model.calls
    assert len(calls) == 40 - 1                          # one step per event but the last
    assert [len(c) for c in calls] == [1] * (len(primer) - 1) + [3] * (40 - len(primer))
    for row, events in enumerate(result.events):
        expected = encoder.encode(events)[0]
        fed = np.stack([c[0 if len(c) == 1 else row] for c in calls])
        np.testing.assert_array_equal(fed, expected)


def test_primer_of_full_length_and_single_event():
    model, encoder = setup()
    assert sample(model, encoder, [60, 62, 64], 3, num_outputs=2, seed=0).events == \
        [[60, 62, 64]] * 2
    result = sample(model, encoder, [60], 17, num_outputs=2, seed=0)
    assert [len(e) for e in result.events] == [17, 17]


def test_temperature_changes_the_spread():
    model, encoder = setup()
    cold = sample(model, encoder, [60], 64, num_outputs=8, temperature=0.05, seed=3)
    hot = sample(model, encoder, [60], 64, num_outputs=8, temperature=5.0, seed=3)
    assert len(set(map(tuple, cold.events))) < len(set(map(tuple, hot.events)))
    assert cold.log_likelihood.mean() > hot.log_likelihood.mean()


@pytest.mark.parametrize('kwargs, message', [
    (dict(primer=[]), 'at least one event'),
    (dict(primer=[60, 200]), 'outside'),
    (dict(primer=[60, -3]), 'not a melody event'),
    (dict(num_steps=2), 'shorter than the primer'),
    (dict(temperature=0), 'temperature'),
    (dict(temperature=float('nan')), 'temperature'),
    (dict(num_outputs=0), 'num_outputs'),
    (dict(beam_size=0), 'beam_size'),
    (dict(branch_factor=0), 'branch_factor'),
    (dict(steps_per_iteration=0), 'steps_per_iteration'),
])
def test_bad_generation_arguments(kwargs, message):
    model, encoder = setup()
    args = dict(primer=[60, -2, 62], num_steps=16)
    args.update(kwargs)
    with pytest.raises(MusekitError, match=message):
        generate(model, encoder, **args)


# --- beam search ------------------------------------------------------------------------

def test_beam_of_one_equals_sampling():
    model, encoder = setup()
    plain = sample(model, encoder, [60, -2], 33, num_outputs=5, temperature=1.3, seed=11)
    beam = beam_search(model, encoder, [60, -2], 33, num_outputs=5, temperature=1.3, seed=11,
                       beam_size=1, branch_factor=1, steps_per_iteration=4)
    assert beam.events == plain.events
    np.testing.assert_allclose(beam.log_likelihood, plain.log_likelihood)


def _score(model, encoder, events, primer_length, temperature):
    """Log-likelihood of events[primer_length:] under the one-hot encoder (one class each)."""
    inputs, labels = encoder.encode(events)
    state, total = model.initial_state(1), 0.0
    for t in range(len(inputs)):
        logits, state = model.step(inputs[t][None], state)
        if t + 1 >= primer_length:
            total += log_softmax(logits, temperature)[0, labels[t]]
    return total


@pytest.mark.parametrize('beam_size, branch_factor, steps_per_iteration',
                         [(2, 2, 1), (3, 2, 5), (1, 4, 3), (4, 1, 2)])
def test_beam_search_returns_its_best_candidate(beam_size, branch_factor,
                                                steps_per_iteration):
    model, encoder = setup('basic_rnn')
    primer = [60, -2, 62]
    result = beam_search(model, encoder, primer, 30, num_outputs=3, temperature=1.0, seed=5,
                         beam_size=beam_size, branch_factor=branch_factor,
                         steps_per_iteration=steps_per_iteration)
    assert result.candidates.shape == (3, beam_size * branch_factor)
    np.testing.assert_array_equal(result.log_likelihood, result.candidates.max(axis=1))
    for events, loglik in zip(result.events, result.log_likelihood):
        assert len(events) == 30 and events[:3] == primer
        encoder.validate_events(events)
        assert _score(model, encoder, events, len(primer), 1.0) == pytest.approx(loglik)


def test_beam_search_finds_likelier_melodies_than_sampling():
    model, encoder = setup()
    plain = sample(model, encoder, [60], 32, num_outputs=8, seed=2)
    beam = beam_search(model, encoder, [60], 32, num_outputs=8, seed=2, beam_size=4,
                       branch_factor=4, steps_per_iteration=2)
    assert beam.log_likelihood.mean() > plain.log_likelihood.mean()
    again = beam_search(model, encoder, [60], 32, num_outputs=8, seed=2, beam_size=4,
                        branch_factor=4, steps_per_iteration=2)
    assert again.events == beam.events


# --- the melody piece type --------------------------------------------------------------

MELODY = [60, -2, -2, 62, -1, -2, 64, 64, -2, -1, 67, -2, -2, -2, 72, -2, -2, -1, -2, -2]


@pytest.mark.parametrize('qpm', [120, 93.5])
def test_midi_matches_note_seq_melody_to_sequence(tmp_path, qpm):
    import mido
    import note_seq
    path = write_midi(str(tmp_path / 'm.mid'), melody_notes(MELODY), len(MELODY), qpm=qpm)
    got = note_seq.midi_file_to_note_sequence(path)
    expected = to_note_sequence(MELODY, qpm=qpm)
    assert [(n.pitch, n.velocity) for n in got.notes] == \
        [(n.pitch, n.velocity) for n in expected.notes]
    for a, b in zip(got.notes, expected.notes):
        assert a.start_time == pytest.approx(b.start_time, abs=1e-3)
        assert a.end_time == pytest.approx(b.end_time, abs=1e-3)
    assert got.tempos[0].qpm == pytest.approx(qpm, rel=1e-4)
    quantized = note_seq.quantize_note_sequence(got, 4)
    assert [(n.quantized_start_step, n.quantized_end_step) for n in quantized.notes] == \
        [(n.start_step, n.end_step) for n in melody_notes(MELODY)]
    midi = mido.MidiFile(path)
    assert midi.tracks[0][-1].type == 'end_of_track'
    assert sum(m.time for m in midi.tracks[0]) == len(MELODY) * midi.ticks_per_beat // 4


def test_primer_midi_keeps_its_own_pitches(tmp_path):
    _, encoder = setup()
    high = [96, -2, 98, -1, 100, -2, -2, 91]             # above lookback_rnn's [48, 84)
    path = write_midi(str(tmp_path / 'p.mid'), melody_notes(high), len(high))
    events = read_primer_midi(path, encoder)
    assert [e for e in events if e >= 0] == [96, 98, 100, 91]   # generation squashes them
    bad = tmp_path / 'bad.mid'
    bad.write_bytes(b'MThd\x00\x00\x00\x06garbage')
    with pytest.raises(MusekitError, match='cannot read primer MIDI'):
        read_primer_midi(str(bad), encoder)
    with pytest.raises(MusekitError, match='no such primer MIDI'):
        read_primer_midi(str(tmp_path / 'none.mid'), encoder)


# --- musekit_generate -------------------------------------------------------------------

def run_cli(capsys, *args):
    """(exit status, stdout, stderr) of musekit_generate run in this process."""
    try:
        cli.run(['musekit_generate'] + list(args))
        status = 0
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_writes_midi_wav_and_png(tmp_path, capsys):
    bundle = fake_bundle(tmp_path / 'fake.musekit')
    out_dir = tmp_path / 'out'
    status, out, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % out_dir,
                               '--num_outputs=3', '--num_steps=32', '--seed=4',
                               '--primer_melody=[60, -2, 62]', '--render_wav', '--plot')
    assert status == 0, err
    assert sorted(os.listdir(out_dir)) == ['melody_%02d.%s' % (i, ext) for i in (1, 2, 3)
                                           for ext in ('mid', 'png', 'wav')]
    assert 'seed 4' in out and str(out_dir / 'melody_03.mid') in out
    first = open(out_dir / 'melody_01.mid', 'rb').read()
    status, _, _ = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % out_dir,
                           '--num_outputs=3', '--num_steps=32', '--seed=4',
                           '--primer_melody=60,-2,62')
    assert status == 0 and open(out_dir / 'melody_01.mid', 'rb').read() == first


def test_cli_default_primer_and_primer_midi(tmp_path, capsys):
    import note_seq
    bundle = fake_bundle(tmp_path / 'fake.musekit')
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--num_outputs=2', '--num_steps=20', '--beam_size=2',
                             '--branch_factor=2', '--steps_per_iteration=3')
    assert status == 0, err
    seq = note_seq.midi_file_to_note_sequence(str(tmp_path / 'melody_01.mid'))
    assert seq.notes[0].pitch == 60 and seq.notes[0].start_time == 0
    primer = write_midi(str(tmp_path / 'primer.mid'), melody_notes([72, -2, 74, -2, 76, -1]),
                        6)
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--num_outputs=1', '--num_steps=20', '--primer_midi=' + primer)
    assert status == 0, err
    seq = note_seq.midi_file_to_note_sequence(str(tmp_path / 'melody_01.mid'))
    assert [n.pitch for n in seq.notes[:3]] == [72, 74, 76]


@pytest.fixture
def fed_primers(monkeypatch):
    """The primers that musekit_generate hands to generation, recorded as it runs."""
    import musekit.generation as generation
    fed, real = [], generation.generate

    def spy(model, encoder, primer, *args, **kwargs):
        fed.append(list(primer))
        return real(model, encoder, primer, *args, **kwargs)

    monkeypatch.setattr(generation, 'generate', spy)
    return fed


def test_cli_moves_the_primer_into_the_models_key_and_the_melodies_back(tmp_path, capsys,
                                                                        fed_primers):
    note_seq = pytest.importorskip('note_seq')
    fed = fed_primers
    bundle = fake_bundle(tmp_path / 'fake.musekit')
    d_major = [86, -2, 88, -2, 90, -2, 91, -2, 93, -2, 95, -2, 97, 98]   # above [48, 84)
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--num_outputs=1', '--num_steps=32', '--seed=1',
                             '--primer_melody=%s' % d_major)
    assert status == 0, err
    # the model was trained in C within [48, 84): D major moves down 2, then 2 octaves;
    # primed as Magenta primes it, through a note-off and a silent step after the last note
    assert fed == [[e - 26 if e >= 0 else e for e in d_major] + [-1, -2]]
    seq = note_seq.midi_file_to_note_sequence(str(tmp_path / 'melody_01.mid'))
    assert [n.pitch for n in seq.notes[:8]] == [e for e in d_major if e >= 0]


@pytest.mark.parametrize('args, message', [
    ([], 'missing required flags: --bundle_file (or --run_dir), --output_dir'),
    (['--run_dir=/tmp'], 'give --bundle_file or --run_dir, not both'),
    (['--config=lookback_rnn'], '--config goes with --run_dir'),
    (['--bundle_file=/no/such.musekit'], 'no such bundle file'),
    (['--bundle_file=CORRUPT'], 'checksum'),
    (['--bundle_file=NOT_A_BUNDLE'], 'not a musekit bundle'),
    (['--primer_melody=[60, x]'], "malformed --primer_melody '[60, x]'"),
    (['--primer_melody=[]'], 'malformed --primer_melody'),
    (['--primer_melody=[60, 130]'], 'event 130 at position 1 is not a melody event'),
    (['--primer_melody=[-3]'], 'event -3 at position 0 is not a melody event'),
    (['--primer_melody=[60, 62, 64]', '--num_steps=2'], 'shorter than the primer'),
    (['--temperature=0'], 'temperature must be a positive number'),
    (['--temperature=-1.5'], 'temperature must be a positive number'),
    (['--beam_size=0'], 'beam_size must be >= 1'),
    (['--branch_factor=-1'], 'branch_factor must be >= 1'),
    (['--steps_per_iteration=0'], 'steps_per_iteration must be >= 1'),
    (['--num_outputs=0'], 'num_outputs must be >= 1'),
    (['--num_steps=abc'], 'num_steps'),
    (['--qpm=0'], 'qpm must be a positive number'),
    (['--qpm=3'], 'from 3.58 (the slowest tempo MIDI stores)'),
    (['--primer_midi=NOT_A_BUNDLE'], 'cannot read primer MIDI'),
    (['--primer_midi=/no/such.mid'], 'no such primer MIDI'),
    (['--primer_midi=x.mid', '--primer_melody=[60]'], 'not both'),
    (['--no_such_flag=1'], 'no_such_flag'),
    (['--seed=-1'], 'seed must be >= 0'),
    (['--output_dir=NOT_A_BUNDLE'], 'exists and is not a folder'),
    (['stray'], "unexpected argument 'stray'"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    bundle = fake_bundle(tmp_path / 'fake.musekit')
    corrupt = tmp_path / 'corrupt.musekit'
    data = bytearray(open(bundle, 'rb').read())
    data[-3] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    (tmp_path / 'junk').write_bytes(b'\x00junk bytes\xff' * 10)
    substitutions = {'CORRUPT': str(corrupt), 'NOT_A_BUNDLE': str(tmp_path / 'junk')}
    defaults = ['--bundle_file=' + bundle, '--output_dir=%s' % (tmp_path / 'out')] if args \
        else []
    argv = defaults + [a.split('=')[0] + '=' + substitutions.get(a.split('=', 1)[1], a.split(
        '=', 1)[1]) if '=' in a else a for a in args]
    status, out, err = run_cli(capsys, *argv)
    assert status == 2
    assert err.count('\n') == 1 and err.startswith('musekit_generate: error: '), err
    assert message in err
    assert not (tmp_path / 'out').exists()


def test_cli_help(capsys):
    status, out, _ = run_cli(capsys, '--help')
    assert status == 0 and '--primer_melody' in out and '--beam_size' in out


def test_cli_process_never_imports_tensorflow(tmp_path):
    bundle = fake_bundle(tmp_path / 'fake.musekit')
    code = ('import sys; sys.path.insert(0, %r); import test_generation; '
            'from musekit.cli import generate\n'
            'try:\n    generate.run(sys.argv)\nexcept SystemExit as e:\n    assert not e.code\n'
            'print("TF", "tensorflow" in sys.modules, "keras" in sys.modules)'
            % os.path.dirname(__file__))
    proc = subprocess.run([sys.executable, '-c', code, '--bundle_file=' + bundle,
                           '--output_dir=%s' % tmp_path, '--num_outputs=2', '--num_steps=16',
                           '--render_wav', '--plot'], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'TF False False' in proc.stdout


# --- the real 'rnn' model ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize('name, attn_length', [('lookback_rnn', 0), ('attention_rnn', 4)])
def test_real_rnn_bundle_generates_keras_logits_without_tensorflow(tmp_path, name,
                                                                   attn_length):
    from musekit.bundle import load_bundle
    from musekit.models.base import get_model
    config = get_config(name).with_hparams({'rnn_layer_sizes': [8],
                                            'attn_length': attn_length})
    encoder = config.make_encoder()
    spec = get_model('events_rnn')
    keras_model = spec.build(encoder, config.hparams)
    path = str(tmp_path / 'tiny.musekit')
    write_bundle(path, config.to_dict(), spec.export_weights(keras_model),
                 {'dataset': 'none', 'steps': 0})
    bundle = load_bundle(path)
    step_model = bundle.step_model()
    result = sample(step_model, encoder, [60, -2, 62], 24, num_outputs=3, seed=0)
    for events in result.events:
        encoder.validate_events(events)
    inputs = encoder.encode(result.events[1])[0]
    expected = np.asarray(keras_model(inputs[None]))[0]
    state, got = step_model.initial_state(1), []
    for row in inputs:
        logits, state = step_model.step(row[None], state)
        got.append(logits[0])
    np.testing.assert_allclose(np.array(got), expected, rtol=1e-4, atol=1e-5)

    out_dir = tmp_path / 'out'
    script = os.path.join(os.path.dirname(sys.executable), 'musekit_generate')
    args = ['--bundle_file=' + path, '--output_dir=%s' % out_dir, '--num_outputs=3',
            '--num_steps=32', '--seed=3', '--render_wav', '--plot']
    proc = subprocess.run([script] + args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(os.listdir(out_dir)) == 9
    code = ('import sys\nfrom musekit.cli.generate import run\ntry:\n    run(sys.argv)\n'
            'except SystemExit as e:\n    assert not e.code\n'
            'print("TF", "tensorflow" in sys.modules, "keras" in sys.modules)')
    proc = subprocess.run([sys.executable, '-c', code] + args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'TF False False' in proc.stdout


def test_cli_generates_from_a_training_run_directory(tmp_path, capsys):
    from musekit.training import Trainer
    config = get_config('basic_rnn').with_hparams({'rnn_layer_sizes': [8]})
    run_dir = str(tmp_path / 'run')
    status, _, err = run_cli(capsys, '--run_dir=' + run_dir, '--output_dir=%s' % tmp_path)
    assert status == 2 and 'no such run directory' in err
    os.makedirs(run_dir)
    status, _, err = run_cli(capsys, '--run_dir=' + run_dir, '--output_dir=%s' % tmp_path)
    assert status == 2 and 'has no config.json' in err
    with open(os.path.join(run_dir, 'config.json'), 'w') as f:
        f.write('{"name": "basic_rnn", ')      # cut short
    status, _, err = run_cli(capsys, '--run_dir=' + run_dir, '--output_dir=%s' % tmp_path)
    assert status == 2 and 'has an unreadable config.json' in err
    os.remove(os.path.join(run_dir, 'config.json'))
    trainer = Trainer(config, run_dir, log=lambda line: None)
    trainer.save_config()
    status, _, err = run_cli(capsys, '--run_dir=' + run_dir, '--output_dir=%s' % tmp_path)
    assert status == 2 and 'has no checkpoint yet' in err
    trainer.save_checkpoint()
    bundle = str(tmp_path / 'run.musekit')
    write_bundle(bundle, *trainer.bundle_parts())
    common = ['--output_dir=%s' % tmp_path, '--num_outputs=2', '--num_steps=24', '--seed=9']
    assert run_cli(capsys, '--run_dir=' + run_dir, *common)[0] == 0
    from_run = open(tmp_path / 'melody_02.mid', 'rb').read()
    assert run_cli(capsys, '--bundle_file=' + bundle, *common)[0] == 0
    assert open(tmp_path / 'melody_02.mid', 'rb').read() == from_run
    status, _, err = run_cli(capsys, '--run_dir=' + run_dir, '--config=lookback_rnn', *common)
    assert status == 2 and 'holds a different model' in err


# --- command-line paths a user reaches -----------------------------------------------------

def test_a_hundred_outputs_get_three_digit_names(tmp_path, capsys):
    bundle = fake_bundle(tmp_path / 'fake.musekit')
    status, out, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % (
        tmp_path / 'out'), '--num_outputs=101', '--num_steps=4', '--seed=1')
    assert status == 0, err
    names = sorted(os.listdir(tmp_path / 'out'))
    assert len(names) == 101 and names[0] == 'melody_001.mid' and names[-1] == 'melody_101.mid'


def test_qpm_sets_the_tempo_and_the_note_times(tmp_path, capsys):
    import note_seq
    bundle = fake_bundle(tmp_path / 'fake.musekit')
    times = {}
    for qpm in (60, 150):
        out = tmp_path / str(qpm)
        assert run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % out,
                       '--num_outputs=1', '--num_steps=32', '--seed=2', '--qpm=%d' % qpm,
                       '--primer_melody=[60, -2, -2, -2, 62]')[0] == 0
        seq = note_seq.midi_file_to_note_sequence(str(out / 'melody_01.mid'))
        assert seq.tempos[0].qpm == pytest.approx(qpm)
        times[qpm] = (seq.notes[1].start_time, seq.total_time)
    assert times[60][0] == pytest.approx(1.0)            # 4 sixteenths at 60 qpm: 1 s
    assert times[150][0] == pytest.approx(0.4)
    assert times[60][1] == pytest.approx(2.5 * times[150][1])


def test_the_default_primer_fits_a_model_whose_range_lacks_middle_c(tmp_path, capsys,
                                                                    fed_primers):
    import json
    from musekit.config import get_config
    config = get_config('basic_rnn').to_dict()
    config['name'] = 'high_rnn'
    config['encoder']['params'] = {'min_note': 72, 'max_note': 96}
    config['data']['params']['transpose_to_key'] = None
    path = tmp_path / 'high.json'
    path.write_text(json.dumps(config))
    high = get_config(str(path))
    config['model'] = {'name': FAKE_MODEL}
    config['hparams'] = {'batch_size': 8}        # the fake family declares no others
    bundle = str(tmp_path / 'high.musekit')
    write_bundle(bundle, config, fake_weights(high.make_encoder()), {})
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--num_outputs=1', '--num_steps=8', '--seed=1')
    assert status == 0, err
    assert fed_primers == [[84, -1, -2]]                # the middle of [72, 96)


def test_an_unwritable_output_folder_is_one_line(tmp_path, capsys):
    if os.geteuid() == 0:
        blocked = tmp_path / 'file'
        blocked.write_text('')
        target = blocked / 'out'                      # root may write anywhere but here
    else:
        blocked = tmp_path / 'locked'
        blocked.mkdir(mode=0o500)
        target = blocked / 'out'
    bundle = fake_bundle(tmp_path / 'fake.musekit')
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % target,
                             '--num_outputs=1', '--num_steps=4')
    assert status == 2 and err.count('\n') == 1
    assert 'cannot write to --output_dir' in err or 'is a file, not a folder' in err


def test_a_bundle_whose_weights_do_not_fit_its_model_is_one_line(tmp_path, capsys):
    from musekit.models.events_rnn import weight_shapes
    config = get_config('lookback_rnn').with_hparams({'rnn_layer_sizes': [8]})
    encoder = config.make_encoder()
    weights = {k: np.zeros(s, np.float32) for k, s in weight_shapes(
        encoder.input_spec.size, encoder.label_spec.depth, config.hparams).items()}
    weights['lstm_0/kernel'] = np.zeros((5, 32), np.float32)
    bundle = str(tmp_path / 'bad.musekit')
    write_bundle(bundle, config.to_dict(), weights, {})
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path)
    assert status == 2 and err.count('\n') == 1
    assert "does not fit its model 'events_rnn': weight lstm_0/kernel has shape (5, 32)" in err
