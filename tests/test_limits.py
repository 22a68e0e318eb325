"""Bounded memory for every size a user types or a file holds: refused requests (one line,
exit 2, no work started), generation in chunks, and large but legitimate input files."""
import io
import os
import re
import time
import tracemalloc

import numpy as np
import pytest

from musekit import limits
from musekit.config import get_config
from musekit.errors import MusekitError
from musekit.generation import chunk_outputs, generate, generate_in_chunks
from musekit.models.base import ModelFamily
from musekit.progress import ProgressBar
from refusals import refusal
from test_generation import ElmanStep, fake_bundle, run_cli, setup

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'README.md')


# --- the limits themselves --------------------------------------------------------------

@pytest.mark.parametrize('text, value', [
    ('100000', 100_000), ('1_000_000', 1_000_000), ('64M', 64 << 20), ('16g', 16 << 30),
    ('2KiB', 2048), (' 7 ', 7), ('1', 1), ('3t', 3 << 40), ('5 MB', 5 << 20),
])
def test_sizes_parse_with_binary_suffixes(text, value):
    assert limits.parse_size(text, 'X') == value


@pytest.mark.parametrize('text', ['abc', '-5', '1.5G', '12 apples', '', '1__0'])
def test_bad_sizes_are_one_clear_error(text):
    with pytest.raises(MusekitError) as info:
        limits.parse_size(text, 'X')
    assert str(info.value) == ('X must be a positive whole number (suffixes K, M, G, T '
                               'allowed), got %r' % text)


def test_zero_is_not_a_size():
    with pytest.raises(MusekitError) as info:
        limits.parse_size('0K', 'X')
    assert str(info.value) == "X must be a positive whole number, got '0K'"


def test_declaring_a_limit_registers_it_once(monkeypatch):
    monkeypatch.setattr(limits, 'LIMITS', {})
    bound = limits.limit('MUSEKIT_TEST_BOUND', 5, 'things', 'a bound for this test')
    assert limits.LIMITS == {'MUSEKIT_TEST_BOUND': bound}
    assert bound == limits.Limit('MUSEKIT_TEST_BOUND', 5, 'things', 'a bound for this test')
    with pytest.raises(ValueError, match='^limit MUSEKIT_TEST_BOUND is declared twice$'):
        limits.limit('MUSEKIT_TEST_BOUND', 6, 'things', 'again')
    assert limits.LIMITS['MUSEKIT_TEST_BOUND'].default == 5


def test_a_limit_is_read_from_the_environment_at_each_check(monkeypatch):
    monkeypatch.delenv('MUSEKIT_MAX_STEPS', raising=False)
    assert limits.MAX_STEPS.value() == 100_000
    assert limits.MAX_STEPS.check(100_000, 'x') == 100_000          # the bound itself passes
    with pytest.raises(MusekitError) as info:
        limits.MAX_STEPS.check(100_001, '--num_steps=100001')
    assert str(info.value) == (
        "--num_steps=100001 is over musekit's limit of 100,000 steps; set the environment "
        'variable MUSEKIT_MAX_STEPS to a larger number if you mean it')
    monkeypatch.setenv('MUSEKIT_MAX_STEPS', '200000')
    assert limits.MAX_STEPS.check(100_001, 'x') == 100_001


def test_memory_limit_defaults_to_three_quarters_of_the_machine(monkeypatch):
    monkeypatch.delenv('MUSEKIT_MEMORY_LIMIT', raising=False)
    assert limits.MEMORY.value() == limits.physical_memory() * 3 // 4
    assert limits.MEMORY.describe(3 << 30) == '3 GiB'
    assert limits.MEMORY.describe((3 << 30) + 1) == '3.0 GiB (3,221,225,473 bytes)'
    assert limits.MEMORY.describe(1023) == '1023 bytes'
    assert limits.MAX_STEPS.describe(1234567) == '1,234,567 steps'
    # exact multiples stay exact past float precision (a limit set absurdly high)
    assert limits.MEMORY.describe((2 ** 60 + 1) << 40) == '1152921504606846977 TiB'


def test_the_readme_lists_every_limit_with_its_default():
    text = open(README, encoding='utf-8').read()
    section = text[text.index('## Limits'):]
    section = section[:section.find('\n## ', 1)]
    for env, bound in limits.LIMITS.items():
        row = next((line for line in section.splitlines() if '`%s`' % env in line), None)
        assert row is not None, '%s is missing from the README Limits section' % env
        if not callable(bound.default):
            assert bound.describe(bound.default) in row, row


# --- musekit_generate refusals ----------------------------------------------------------

def no_loading(monkeypatch):
    """Makes loading a bundle fail the test: a refusal must come before any work."""
    import musekit.bundle

    def load_bundle(*args, **kwargs):
        raise AssertionError('a bundle was loaded before the request was refused')
    monkeypatch.setattr(musekit.bundle, 'load_bundle', load_bundle)


@pytest.mark.parametrize('args, env, message', [
    (['--num_steps=1000000000'], {},
     "--num_steps=1000000000 is over musekit's limit of 100,000 steps; set the environment "
     'variable MUSEKIT_MAX_STEPS to a larger number if you mean it'),
    (['--beam_size=100000', '--branch_factor=1000'], {},
     "--beam_size=100000 x --branch_factor=1000 x --num_outputs=10 = 1000000000 sequences is "
     "over musekit's limit of 65,536 sequences; set the environment variable "
     'MUSEKIT_MAX_BEAM_CANDIDATES to a larger number if you mean it'),
    (['--beam_size=8', '--branch_factor=4', '--num_outputs=3'],
     {'MUSEKIT_MAX_BEAM_CANDIDATES': '95'},
     '--beam_size=8 x --branch_factor=4 x --num_outputs=3 = 96 sequences is over'),
    (['--num_steps=51'], {'MUSEKIT_MAX_STEPS': '50'}, "--num_steps=51 is over musekit's limit"),
    ([], {'MUSEKIT_MAX_STEPS': 'lots'},
     "MUSEKIT_MAX_STEPS must be a positive whole number (suffixes K, M, G, T allowed), got "
     "'lots'"),
    ([], {'MUSEKIT_MAX_FILE_BYTES': '0'}, 'MUSEKIT_MAX_FILE_BYTES must be a positive'),
])
def test_generate_refuses_absurd_sizes_before_any_work(tmp_path, capsys, monkeypatch, args,
                                                      env, message):
    bundle = fake_bundle(tmp_path / 'fake.musekit')
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    no_loading(monkeypatch)
    status, out, err = run_cli(capsys, '--bundle_file=' + bundle,
                               '--output_dir=%s' % (tmp_path / 'out'), *args)
    assert status == 2
    assert err.count('\n') == 1 and err.startswith('musekit_generate: error: '), err
    assert message in err
    assert out == '' and not (tmp_path / 'out').exists()


def test_sizes_at_the_limits_are_accepted(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('MUSEKIT_MAX_STEPS', '40')
    monkeypatch.setenv('MUSEKIT_MAX_BEAM_CANDIDATES', '16')
    status, out, err = run_cli(capsys, '--bundle_file=' + fake_bundle(tmp_path / 'f.musekit'),
                               '--output_dir=%s' % tmp_path, '--num_steps=40', '--seed=1',
                               '--beam_size=4', '--branch_factor=2', '--num_outputs=2')
    assert status == 0, err
    assert sorted(os.listdir(tmp_path)) == ['f.musekit', 'melody_01.mid', 'melody_02.mid']


def test_library_generation_applies_the_same_limits(monkeypatch):
    model, encoder = setup()
    monkeypatch.setenv('MUSEKIT_MAX_STEPS', '20')
    with pytest.raises(MusekitError, match="num_steps=21 is over musekit's limit of 20 steps"):
        generate(model, encoder, [60], 21, seed=0)
    with pytest.raises(MusekitError, match='num_steps=21 is over'):
        next(generate_in_chunks(model, encoder, [60], 21, seed=0))



def test_generation_takes_its_length_bound_from_the_piece_type(monkeypatch):
    """Audio pieces pass the samples limit: num_steps over MUSEKIT_MAX_STEPS but within
    MUSEKIT_MAX_AUDIO_SAMPLES is generated, in the first check and in every chunk's."""
    model, encoder = setup()
    monkeypatch.setenv('MUSEKIT_MAX_STEPS', '20')
    monkeypatch.setenv('MUSEKIT_MAX_AUDIO_SAMPLES', '30')
    chunks = list(generate_in_chunks(model, encoder, [60], 25, num_outputs=3, seed=0,
                                     batch_size=2, steps_limit=limits.MAX_AUDIO_SAMPLES))
    assert [len(g.events) for _, g in chunks] == [2, 1]
    assert all(len(events) == 25 for _, g in chunks for events in g.events)
    assert len(generate(model, encoder, [60], 25, seed=0,
                        steps_limit=limits.MAX_AUDIO_SAMPLES).events[0]) == 25
    with pytest.raises(MusekitError, match="num_steps=31 is over musekit's limit of 30 samples"):
        next(generate_in_chunks(model, encoder, [60], 31, steps_limit=limits.MAX_AUDIO_SAMPLES))

def test_a_rendered_wav_over_the_audio_samples_limit_is_refused_before_any_work(tmp_path,
                                                                               monkeypatch):
    """A WAV's samples are held whole: its length (steps x the step's seconds x the rate)
    is bounded, whatever --num_steps and --qpm ask (3.6 qpm made a 100,000-step melody's
    WAV 34 GiB)."""
    from musekit.output.audio import render_wav
    from musekit.output.notes import Note
    notes = [Note(60, 0, 4, 100)]
    path = str(tmp_path / 'x.wav')
    with pytest.raises(MusekitError) as e:
        render_wav(path, notes, 100_000, qpm=3.6)
    assert str(e.value).startswith(
        'the WAV of %s (100,000 steps at 3.6 qpm: 9,187,500,000 samples at 22050 Hz) is over '
        "musekit's limit of 16,777,216 samples; set the environment variable "
        'MUSEKIT_MAX_AUDIO_SAMPLES' % path)
    monkeypatch.setenv('MUSEKIT_MAX_AUDIO_SAMPLES', '22050')     # 8 steps at 120 qpm: 1 s
    assert render_wav(path, notes, 8, use_fluidsynth=False) == 'builtin'
    with pytest.raises(MusekitError, match=r'\(9 steps at 120 qpm: 24,806 samples'):
        render_wav(str(tmp_path / 'y.wav'), notes, 9, use_fluidsynth=False)
    assert sorted(os.listdir(tmp_path)) == ['x.wav']


# --- generation in chunks ---------------------------------------------------------------

@pytest.mark.parametrize('num_outputs, num_steps, beam, branch, batch, expected', [
    (1000, 128, 1, 1, 128, 128),        # plain sampling: the batch size
    (10, 128, 1, 1, 128, 10),           # never more than asked for
    (1000, 128, 4, 8, 128, 4),          # 32 rows per output: 4 outputs fill 128 rows
    (1000, 128, 256, 1, 128, 1),        # one output wider than the batch: still one
    (1000, 100_000, 1, 1, 128, 20),     # 2^21 events / 100,000 steps
])
def test_chunk_size_is_bounded_by_rows_and_events(num_outputs, num_steps, beam, branch, batch,
                                                  expected):
    assert chunk_outputs(num_outputs, num_steps, beam, branch, batch) == expected


def test_chunks_cover_every_output_and_the_first_equals_one_batch():
    model, encoder = setup()
    chunks = list(generate_in_chunks(model, encoder, [60], 24, num_outputs=10, seed=5,
                                     batch_size=4))
    assert [first for first, _ in chunks] == [0, 4, 8]
    assert [len(g.events) for _, g in chunks] == [4, 4, 2]
    assert max(len(c) for c in model.calls) == 4            # never more rows than a batch
    whole = generate(setup()[0], encoder, [60], 24, num_outputs=4, seed=5)
    assert chunks[0][1].events == whole.events              # chunk 0 draws from the seed
    again = list(generate_in_chunks(setup()[0], encoder, [60], 24, num_outputs=10, seed=5,
                                    batch_size=4))
    assert [g.events for _, g in again] == [g.events for _, g in chunks]
    # later chunks draw from their own streams: not a replay of the first
    assert chunks[1][1].events != chunks[0][1].events


def test_progress_counts_steps_over_all_chunks():
    model, encoder = setup()
    seen = []
    for _ in generate_in_chunks(model, encoder, [60, -2], 7, num_outputs=5, seed=0,
                                batch_size=2, progress=lambda d, t: seen.append((d, t))):
        pass
    # 5 generated steps per output; chunks of 2, 2, 1 outputs
    assert seen[0] == (2, 25) and seen[4] == (10, 25) and seen[5] == (12, 25)
    assert seen[-1] == (25, 25) and len(seen) == 15


def spy_rows(monkeypatch):
    """The batch sizes the generation steps see, recorded."""
    rows, step = [], ElmanStep.step

    def recording(self, inputs, state):
        rows.append(len(inputs))
        return step(self, inputs, state)
    monkeypatch.setattr(ElmanStep, 'step', recording)
    return rows


def test_cli_writes_many_outputs_a_batch_at_a_time(tmp_path, capsys, monkeypatch):
    rows = spy_rows(monkeypatch)
    out_dir = tmp_path / 'out'
    status, out, err = run_cli(capsys, '--bundle_file=' + fake_bundle(tmp_path / 'f.musekit'),
                               '--output_dir=%s' % out_dir, '--num_outputs=11',
                               '--batch_size=3', '--num_steps=16', '--seed=2')
    assert status == 0, err
    names = ['melody_%02d.mid' % i for i in range(1, 12)]
    assert sorted(os.listdir(out_dir)) == names
    assert out.splitlines()[:11] == [str(out_dir / n) for n in names]
    # 4 chunks, the last of 2 rows, each generating 16 steps less the default primer's 3
    assert max(rows) == 3 and rows.count(2) == 13


def test_cli_interrupted_keeps_the_finished_outputs(tmp_path, capsys, monkeypatch):
    import musekit.generation as generation
    real, calls = generation.generate, []

    def interrupted_on_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(generation, 'generate', interrupted_on_third_chunk)
    out_dir = tmp_path / 'out'
    status, out, err = run_cli(capsys, '--bundle_file=' + fake_bundle(tmp_path / 'f.musekit'),
                               '--output_dir=%s' % out_dir, '--num_outputs=10',
                               '--batch_size=2', '--num_steps=16', '--seed=2')
    assert status == 130
    assert sorted(os.listdir(out_dir)) == ['melody_%02d.mid' % i for i in range(1, 5)]
    assert err == ('musekit_generate: interrupted; the 4 finished melodies of 10 are in %s\n'
                   % out_dir)


def test_progress_on_a_pipe_is_a_line_every_interval(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr('musekit.progress.time.monotonic', lambda: clock[0])
    pipe = io.StringIO()
    bar = ProgressBar('gen', stream=pipe, pipe_interval_s=5.0)
    for done in range(1, 31):
        clock[0] += 1.0                                     # one step a second
        bar(done, 30)
    assert pipe.getvalue().splitlines() == [bar.render(d, 30) for d in (5, 10, 15, 20, 25, 30)]
    silent = io.StringIO()
    ProgressBar('gen', stream=silent)(1, 2)                 # without an interval: silent
    assert silent.getvalue() == ''


# --- training: the model's memory, estimated from the config ----------------------------

def test_training_memory_estimate_is_worked_out_from_the_weight_shapes():
    from musekit.training import check_training_memory
    config = get_config('lstm_jsb')                     # 88 keys, one 150-unit LSTM, batch 1
    params = 4 * 150 * (88 + 150 + 1) + 150 * 88 + 88    # LSTM, then the Dense layer to keys
    per_step = 4 * 150 + 4 * 150 + 88                    # outputs of the three matrices
    expected = 16 * params + 12 * 1 * 1024 * per_step    # max_steps 1024
    assert check_training_memory(config, config.make_encoder(), config.make_model(),
                                 dict(config.hparams)) == (params, expected)


def test_training_memory_counts_the_longest_event_sequence_of_event_extractors():
    """Performances are cut to max_events; a polyphonic stream of max_steps quantized steps
    holds about five events a step (four voices), so that is the length estimated."""
    from musekit.training import check_training_memory

    def length(name):
        config = get_config(name)
        family = config.make_model()
        seen = []
        original = family.training_memory

        def spy(encoder, hparams, batch_size, steps):
            seen.append(steps)
            return original(encoder, hparams, batch_size, steps)
        family.training_memory = spy
        check_training_memory(config, config.make_encoder(), family, dict(config.hparams))
        return seen[0]
    assert length('performance_with_dynamics') == 512
    assert length('polyphony') == 5 * 512 + 2
    assert length('lookback_rnn') == 512


class Shaped(ModelFamily):
    """A family that is nothing but its weight shapes (enough for training_memory)."""

    def __init__(self, shapes):
        self.shapes = shapes

    build = objective = weight_variables = step_model = None

    def weight_shapes(self, encoder, hparams):
        return self.shapes


def test_training_memory_counts_every_weight_and_each_matrix_output_width():
    family = Shaped({'kernel': (3, 8), 'bias': (8,), 'conv': (2, 3, 4)})
    params = 3 * 8 + 8 + 2 * 3 * 4                      # 56
    # per step only the matrix's output width (8): batch 2 x 5 steps x 8 x 12 bytes
    assert family.training_memory(None, {}, 2, 5) == (params, 16 * params + 12 * 2 * 5 * 8)


def test_training_memory_is_exact_past_64_bit_integers(monkeypatch):
    # 3 billion units: 3.6e19 parameters, past int64 (9.2e18), where a numpy product wraps
    # round (once to a negative count that passed the memory check).
    from musekit.training import check_training_memory
    family = Shaped({'kernel': (3_000_000_000, 12_000_000_000)})
    assert family.training_memory(None, {}, 1, 1) == (
        36_000_000_000_000_000_000, 576_000_000_000_000_000_000 + 12 * 12_000_000_000)
    monkeypatch.setenv('MUSEKIT_MEMORY_LIMIT', '1G')
    config = get_config('lookback_rnn').with_hparams({'rnn_layer_sizes': [3_000_000_000]})
    # 121 inputs, 40 classes: 4u(121 + u + 1) + 40u + 40 parameters; per step 4u + 4u + 40
    assert refusal(check_training_memory, config, config.make_encoder(), config.make_model(),
                   dict(config.hparams)) == (
        'training config lookback_rnn (36,000,001,584,000,000,040 parameters, batches of 128 x '
        '512 steps), estimated at 523886137.4 TiB (576,018,899,712,031,457,920 bytes), is over '
        "musekit's limit of 1 GiB; set the environment variable MUSEKIT_MEMORY_LIMIT to a "
        'larger number if you mean it')


def test_random_crops_bound_the_training_length():
    from musekit.data.batching import Bucketed, RandomCrops
    assert Bucketed().training_length(512) == 512
    assert RandomCrops(128).training_length(512) == 128
    assert RandomCrops(128).training_length(64) == 64
    assert RandomCrops(128).training_length(None) == 128


def test_a_config_too_large_to_train_is_refused_before_building(monkeypatch):
    from musekit.training import check_training_memory
    config = get_config('lookback_rnn').with_hparams({'rnn_layer_sizes': [100_000, 100_000]})
    with pytest.raises(MusekitError) as info:
        check_training_memory(config, config.make_encoder(), config.make_model(),
                              dict(config.hparams))
    encoder = config.make_encoder()
    inputs, classes, units = encoder.input_spec.size, encoder.label_spec.depth, 100_000
    params = (4 * units * (inputs + units + 1) + 4 * units * (2 * units + 1)
              + units * classes + classes)
    message = str(info.value)
    assert message.startswith('training config lookback_rnn (%s parameters, batches of 128 x '
                              '512 steps), estimated at ' % '{:,}'.format(params))
    assert message.endswith('set the environment variable MUSEKIT_MEMORY_LIMIT to a larger '
                            'number if you mean it')
    monkeypatch.setenv('MUSEKIT_MEMORY_LIMIT', '4T')
    check_training_memory(config, config.make_encoder(), config.make_model(),
                          dict(config.hparams))


# --- large but legitimate input files ---------------------------------------------------

def midi_bytes(notes, resolution=480):
    """MIDI file bytes (pretty_midi) of (pitch, start, end) notes at 120 qpm."""
    import pretty_midi
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=120)
    piano = pretty_midi.Instrument(0)
    piano.notes.extend(pretty_midi.Note(80, p, s, e) for p, s, e in notes)
    pm.instruments.append(piano)
    out = io.BytesIO()
    pm.write(out)
    return out.getvalue()


SCALE = [(p, i * 0.5, i * 0.5 + 0.5) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72] * 4)]


def peak_bytes(function, *args):
    """(result, peak bytes Python allocated while `function` ran)."""
    tracemalloc.start()
    try:
        result = function(*args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_midi_file_past_the_tick_limit_is_refused_before_pretty_midi_allocates(monkeypatch):
    """note_seq lifts pretty_midi's tick guard to 1e10 on import: a 300-byte file with a
    note at 1,000 hours once took 24 GB. Here the same file shape under a small limit (so a
    regression costs megabytes, not the machine)."""
    from musekit.data import sources
    monkeypatch.setenv('MUSEKIT_MAX_MIDI_TICKS', '100000')
    data = midi_bytes(SCALE + [(60, 1000.0, 1001.0)], resolution=220)   # 440,442 ticks
    assert len(data) < 400
    with pytest.raises(sources.BadInput) as info:
        sources.parse_midi(data)
    assert info.value.reason == 'midi_too_long'
    assert info.value.detail == ('its last event is at tick 440442, past the limit of 100000 '
                                 '(MUSEKIT_MAX_MIDI_TICKS)')
    monkeypatch.setenv('MUSEKIT_MAX_MIDI_TICKS', '440443')
    assert sources.parse_midi(data).total_time == 1001.0
    # the bound holds for musekit's reads only: pretty_midi's own guard is as it was (a
    # low bound left behind once made note_seq refuse a 36,000-tick performance elsewhere)
    import pretty_midi
    guard = pretty_midi.pretty_midi.MAX_TICK
    monkeypatch.setenv('MUSEKIT_MAX_MIDI_TICKS', '1000')
    with pytest.raises(sources.BadInput):
        sources.parse_midi(data)
    assert pretty_midi.pretty_midi.MAX_TICK == guard


def test_a_midi_read_ending_on_another_thread_leaves_the_bound_of_one_under_way(monkeypatch):
    """pretty_midi's guard is one global: a read that ends while another thread's is under
    way (the studio checks uploads on several threads) must not put note_seq's 1e10 back
    under it. Here the first read waits (up to 2 s) for the second to begin, and the second
    looks at the guard once the first has ended."""
    import threading
    import note_seq
    import pretty_midi
    from musekit.data import sources
    monkeypatch.setenv('MUSEKIT_MAX_MIDI_TICKS', '100000')
    real = note_seq.midi_to_note_sequence
    second_began, first_ended, calls, seen = threading.Event(), threading.Event(), [], []

    def reading(content):
        calls.append(content)
        if len(calls) == 1:
            second_began.wait(2)
        else:
            second_began.set()
            first_ended.wait(2)
            seen.append(pretty_midi.pretty_midi.MAX_TICK)
        return real(content)
    monkeypatch.setattr(note_seq, 'midi_to_note_sequence', reading)
    data = midi_bytes(SCALE)

    def first():
        sources.parse_midi(data)
        first_ended.set()
    thread = threading.Thread(target=first)
    thread.start()
    while not calls:
        time.sleep(0.01)
    sources.parse_midi(data)
    thread.join()
    assert seen == [100000]


def test_ten_hours_of_silence_converts_and_the_extractors_count_it(monkeypatch):
    from musekit.data import sources
    ns = sources.parse_midi(midi_bytes(SCALE + [(60, 36_000.0, 36_001.0)]))
    assert ns.total_time == 36_001.0 and len(ns.notes) == 33
    melody = get_config('lookback_rnn')
    extractor, encoder = melody.make_extractor(), melody.make_encoder()
    pieces, stats = extractor.prepare(ns)
    assert len(pieces) == 1 and pieces[0].total_quantized_steps == 36_001 * 8
    melodies, stats = extractor.extract(pieces[0], encoder)
    assert [len(m) for m in melodies] == [128]                  # the scale; the lone note is short
    assert stats == {'melodies_discarded_too_short': 1}
    poly = get_config('lstm_jsb')                                # quarter-note frames
    extractor, encoder = poly.make_extractor(), poly.make_encoder()
    [piece], _ = extractor.prepare(ns)
    (frames, stats), peak = peak_bytes(extractor.extract, piece, encoder)
    assert frames == [] and stats == {'piano_rolls_discarded_too_long': 1}
    assert peak < 1 << 20                    # 72,002 frames would be built only to be dropped
    monkeypatch.setattr(extractor, 'truncate', True)
    ([frames], stats), peak = peak_bytes(extractor.extract, piece, encoder)
    assert len(frames) == 1024 and frames[0] == (60,) and stats == {'piano_rolls_truncated': 1}
    assert peak < 1 << 20


def test_pieces_too_long_to_quantize_are_counted(monkeypatch):
    from musekit.data import sources
    ns = sources.parse_midi(midi_bytes(SCALE + [(60, 600.0, 601.0)]))    # 4,808 16th steps
    monkeypatch.setenv('MUSEKIT_MAX_QUANTIZED_STEPS', '4807')
    for name in ('lookback_rnn', 'lstm_jsb'):
        config = get_config(name)
        if name == 'lstm_jsb':
            monkeypatch.setenv('MUSEKIT_MAX_QUANTIZED_STEPS', '1201')   # 1,202 quarter steps
        pieces, stats = config.make_extractor().prepare(ns)
        assert pieces == [] and stats == {'sequences_discarded_too_long_to_quantize': 1}, name
    monkeypatch.setenv('MUSEKIT_MAX_QUANTIZED_STEPS', '1202')
    pieces, _ = get_config('lstm_jsb').make_extractor().prepare(ns)
    assert len(pieces) == 1


@pytest.mark.slow
def test_fifty_thousand_notes_convert_and_are_cut_by_the_extractor():
    from musekit.data import sources
    notes = [(48 + (i * 7) % 36, i * 0.125, i * 0.125 + 0.12) for i in range(50_000)]
    ns, peak = peak_bytes(sources.parse_midi, midi_bytes(notes))
    assert len(ns.notes) == 50_000
    assert peak < 200 << 20
    config = get_config('lookback_rnn')
    extractor = config.make_extractor()
    [piece], _ = extractor.prepare(ns)
    melodies, stats = extractor.extract(piece, config.make_encoder())
    assert [len(m) for m in melodies] == [512] and stats == {'melodies_truncated': 1}


def test_a_primer_midi_past_the_tick_limit_is_one_line(tmp_path, capsys, monkeypatch):
    primer = tmp_path / 'long.mid'
    primer.write_bytes(midi_bytes(SCALE))                # its last event: tick 15,360
    monkeypatch.setenv('MUSEKIT_MAX_MIDI_TICKS', '15000')
    status, _, err = run_cli(capsys, '--bundle_file=' + fake_bundle(tmp_path / 'f.musekit'),
                             '--output_dir=%s' % (tmp_path / 'out'), '--primer_midi=%s' % primer)
    assert status == 2 and err.count('\n') == 1
    assert re.search(r'cannot read primer MIDI .*long\.mid: its last event is at tick \d+, '
                     r'past the limit of 15000 \(MUSEKIT_MAX_MIDI_TICKS\) \(midi_too_long\)', err)
    assert not (tmp_path / 'out').exists()


def test_a_bundle_over_the_size_limit_is_refused_before_it_is_read(tmp_path, capsys,
                                                                   monkeypatch):
    bundle = fake_bundle(tmp_path / 'f.musekit')
    size = os.path.getsize(bundle)
    monkeypatch.setenv('MUSEKIT_MAX_BUNDLE_BYTES', str(size - 1))
    status, out, err = run_cli(capsys, '--bundle_file=' + bundle, '--seed=0',
                               '--output_dir=%s' % (tmp_path / 'out'), '--num_outputs=1')
    assert status == 2
    assert err == ("musekit_generate: error: bundle %s (%s) is over musekit's limit of %s; "
                   'set the environment variable MUSEKIT_MAX_BUNDLE_BYTES to a larger number '
                   'if you mean it\n' % (bundle, limits.format_amount(size, 'bytes'),
                                         limits.format_amount(size - 1, 'bytes')))
    monkeypatch.setenv('MUSEKIT_MAX_BUNDLE_BYTES', str(size))
    status, out, err = run_cli(capsys, '--bundle_file=' + bundle, '--seed=0',
                               '--output_dir=%s' % (tmp_path / 'out'), '--num_outputs=1')
    assert status == 0, err


# --- what the mutation run of limits.py and generation/__init__.py found unpinned -------

def test_generate_dispatches_to_beam_search_when_either_beam_argument_is_above_one():
    from musekit.generation import beam_search, sample
    model, encoder = setup()
    seen = []
    plain = generate(model, encoder, [60], 12, num_outputs=2, seed=4,
                     progress=lambda d, t: seen.append((d, t)))
    assert plain.candidates is None and seen[-1] == (11, 11)
    assert plain.events == sample(setup()[0], encoder, [60], 12, 2, 1.0, 4).events
    for beam, branch in ((2, 1), (1, 2)):
        seen = []
        got = generate(setup()[0], encoder, [60], 12, num_outputs=2, temperature=0.7, seed=4,
                       beam_size=beam, branch_factor=branch,
                       progress=lambda d, t: seen.append((d, t)))
        want = beam_search(setup()[0], encoder, [60], 12, 2, 0.7, 4, beam_size=beam,
                           branch_factor=branch, steps_per_iteration=1)
        assert got.candidates is not None and got.events == want.events
        assert np.array_equal(got.log_likelihood, want.log_likelihood)
        assert seen[-1] == (11, 11)


def test_the_beam_bound_applies_to_beam_search_only(monkeypatch):
    from musekit.generation import check_sizes
    monkeypatch.setenv('MUSEKIT_MAX_BEAM_CANDIDATES', '5')
    check_sizes(12, 10, 1, 1)                            # plain sampling: any count
    check_sizes(12, 2, 2, 1)                             # 4 sequences
    for beam, branch in ((2, 1), (1, 2)):
        with pytest.raises(MusekitError) as info:
            check_sizes(12, 3, beam, branch)
        assert str(info.value) == (
            "beam_size=%d x branch_factor=%d x num_outputs=3 = 6 sequences is over musekit's "
            'limit of 5 sequences; set the environment variable MUSEKIT_MAX_BEAM_CANDIDATES '
            'to a larger number if you mean it' % (beam, branch))


def test_a_batch_size_below_one_is_refused():
    model, encoder = setup()
    with pytest.raises(MusekitError) as info:
        next(generate_in_chunks(model, encoder, [60], 8, batch_size=0))
    assert str(info.value) == 'batch_size must be >= 1, got 0'


def test_physical_memory_asks_the_system_and_falls_back_to_24_gib(monkeypatch):
    pages = {'SC_PAGE_SIZE': 4096, 'SC_PHYS_PAGES': 1000}
    monkeypatch.setattr(os, 'sysconf', pages.__getitem__)
    assert limits.physical_memory() == 4_096_000
    monkeypatch.delenv('MUSEKIT_MEMORY_LIMIT', raising=False)
    assert limits.MEMORY.value() == 3_072_000

    def unknown(name):
        raise ValueError('unrecognized configuration name')
    monkeypatch.setattr(os, 'sysconf', unknown)
    assert limits.physical_memory() == 24 << 30
    monkeypatch.setattr(limits, 'physical_memory', lambda: 10)
    assert limits.MEMORY.value() == 7 and isinstance(limits.MEMORY.value(), int)


def test_kibibytes_are_shown_like_the_larger_units():
    assert limits.MEMORY.describe(2048) == '2 KiB'
    assert limits.MEMORY.describe(1536) == '1.5 KiB (1,536 bytes)'
    assert limits.MEMORY.describe(1024) == '1 KiB'


def test_generation_defaults_one_output_and_one_step_per_beam_iteration():
    model, encoder = setup()
    assert len(generate(model, encoder, [60], 8, seed=0).events) == 1
    assert [len(g.events) for _, g in generate_in_chunks(setup()[0], encoder, [60], 8,
                                                         seed=0)] == [1]
    chunked = next(generate_in_chunks(setup()[0], encoder, [60], 10, num_outputs=2, seed=3,
                                      beam_size=2, branch_factor=2))[1]
    explicit = generate(setup()[0], encoder, [60], 10, num_outputs=2, seed=3, beam_size=2,
                        branch_factor=2, steps_per_iteration=1)
    assert chunked.events == explicit.events


def test_unseeded_chunks_draw_fresh_streams():
    model, encoder = setup()
    chunks = [g.events[0] for _, g in generate_in_chunks(model, encoder, [60], 30,
                                                         num_outputs=3, batch_size=1)]
    assert len(chunks) == 3 and len({tuple(c) for c in chunks}) == 3
