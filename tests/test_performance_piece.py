"""The performance piece type: Magenta's primers and control flags, length in seconds
through the steering hook, expressive MIDI out, and musekit_generate end to end with a
small randomly initialised bundle."""
import os
import random
import re

import note_seq
import numpy as np
import pytest
from note_seq.performance_lib import PerformanceEvent

from musekit.bundle import write_bundle
from musekit.config import get_config
from musekit.errors import MusekitError
from musekit.generation import sample
from musekit.models.base import get_model
from musekit.pieces import performance as piece_module
from musekit.pieces.performance import (LengthSteering, PerformancePiece,
                                        parse_notes_per_second, parse_pitch_class_histogram,
                                        performance_notes, set_length)
from musekit.pieces.base import pitch_list as parse_pitches
from test_generation import run_cli

NOTE_ON, NOTE_OFF, TIME_SHIFT, VELOCITY = 1, 2, 3, 4
FLAT = (1.0,) * 12


def options(**given):
    values = {flag.name: flag.default for flag in PerformancePiece.flags}
    values.update(given)
    return values


def piece(name='performance_with_dynamics'):
    config = get_config(name)
    return PerformancePiece(config.make_encoder(), config.make_extractor())


def magenta_primer(sequence, num_velocity_bins):
    """The primer performance Magenta's generator builds from a primer NoteSequence
    (quantize at 100 steps/s, one performance, padded to the step after its end)."""
    quantized = note_seq.quantize_note_sequence_absolute(sequence, 100)
    performance = note_seq.Performance(quantized, num_velocity_bins=num_velocity_bins)
    performance.set_length(note_seq.quantize_to_step(sequence.total_time, 100,
                                                     quantize_cutoff=0.0))
    return [(e.event_type, e.event_value) for e in performance]


# --- flags ------------------------------------------------------------------------------

def test_flag_parsing_and_refusals():
    assert parse_pitches('[60, 64, 67]') == [60, 64, 67] == parse_pitches('60,64,67')
    assert parse_notes_per_second('5') == 5.0 == parse_notes_per_second('[5]')
    assert parse_pitch_class_histogram('[2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]')[0] == 2.0
    for parse, text, message in (
            (parse_pitches, '[60, 128]', '--primer_pitches: 128 is not a MIDI pitch'),
            (parse_pitches, '[]', 'malformed --primer_pitches'),
            (parse_pitches, 'C major', 'malformed --primer_pitches'),
            (parse_pitches, '[60, 64, 60]', '--primer_pitches lists a pitch twice'),
            (parse_notes_per_second, '-1', 'a note density is a number of notes per second'),
            (parse_notes_per_second, '[1, 2]', 'a list of segments is not supported'),
            (parse_notes_per_second, 'lots', 'malformed --notes_per_second'),
            (parse_pitch_class_histogram, '[1, 2, 3]', 'is 12 numbers'),
            (parse_pitch_class_histogram, '[1,1,1,1,1,1,1,1,1,1,1,-1]', 'numbers >= 0')):
        with pytest.raises(MusekitError, match=message) as caught:
            parse(text)
        assert '\n' not in str(caught.value)


def test_control_flags_become_each_events_control(capsys):
    multi = piece('multiconditioned_performance_with_dynamics')
    histogram = '[2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]'
    primer = multi.primer(options(notes_per_second='5', pitch_class_histogram=histogram))
    control = (5.0, (2.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0))
    assert primer == [(TIME_SHIFT, 100, control)]
    assert capsys.readouterr().err == ''
    primer = multi.primer(options(notes_per_second='2.5'))
    assert primer[0][2] == (2.5, FLAT)
    assert 'pitch_class_histogram not given; conditioning on the default flat' in \
        capsys.readouterr().err
    optional = piece('optional_multiconditioned_performance_with_dynamics')
    assert optional.primer(options(disable_conditioning=True))[0][2] is None
    assert optional.primer(options(notes_per_second='1', pitch_class_histogram=histogram)
                           )[0][2] == (1.0, control[1])


@pytest.mark.parametrize('name, given, message', [
    ('performance_with_dynamics', {'notes_per_second': '3'},
     '--notes_per_second does not apply to this bundle: its model is not conditioned'),
    ('density_conditioned_performance_with_dynamics', {'pitch_class_histogram': '[1]'},
     '--pitch_class_histogram does not apply to this bundle: its model is conditioned on '
     'notes_per_second only'),
    ('multiconditioned_performance_with_dynamics', {'disable_conditioning': True},
     '--disable_conditioning applies to optionally conditioned models; this one is always'),
    ('performance', {'primer_pitches': '[60]', 'primer_melody': '[60]'},
     'give one primer, not --primer_pitches and --primer_melody'),
    ('performance', {'primer_pitches': '[60]', 'num_seconds': 0.5},
     'the primer lasts 0.50 s; the length asked (0.5 s, --num_seconds) must be longer'),
    ('performance', {'num_seconds': -1.0}, '--num_seconds must be a positive number'),
    ('performance', {'num_seconds': 0.001}, 'shorter than one step'),
    ('performance', {'primer_midi': '/no/such.mid'}, 'no such primer MIDI file'),
])
def test_bad_options_are_one_line(name, given, message):
    with pytest.raises(MusekitError, match=re.escape(message)) as caught:
        piece(name).primer(options(**given))
    assert '\n' not in str(caught.value)


# --- primers ----------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['performance', 'performance_with_dynamics'])
def test_primer_pitches_are_magentas_chord(name):
    bins = get_config(name).make_encoder().num_velocity_bins
    primer = piece(name).primer(options(primer_pitches='[60, 64, 67]'))
    chord = ([(VELOCITY, 25)] if bins else []) + [
        (NOTE_ON, 60), (NOTE_ON, 64), (NOTE_ON, 67), (TIME_SHIFT, 50), (NOTE_OFF, 60),
        (NOTE_OFF, 64), (NOTE_OFF, 67), (TIME_SHIFT, 1)]
    assert primer == chord
    sequence = note_seq.NoteSequence(ticks_per_quarter=220)
    for pitch in (60, 64, 67):      # performance_rnn_generate's --primer_pitches
        sequence.notes.add(pitch=pitch, start_time=0, end_time=0.5, velocity=100)
    sequence.total_time = 0.5
    assert primer == magenta_primer(sequence, bins)


def test_primer_melody_and_midi_equal_magentas():
    melody = [60, -2, 62, -1, 64, -2, -2, 67]
    primer = piece().primer(options(primer_melody=str(melody)))
    assert primer == magenta_primer(note_seq.Melody(melody).to_sequence(), 32)
    assert primer[:3] == [(VELOCITY, 25), (NOTE_ON, 60), (TIME_SHIFT, 25)]


def test_primer_midi_equals_magentas_and_refuses_two_programs(tmp_path):
    sequence = note_seq.NoteSequence(ticks_per_quarter=220)
    sequence.tempos.add(qpm=120)
    for i, (pitch, velocity) in enumerate([(60, 30), (64, 90), (67, 127)]):
        sequence.notes.add(pitch=pitch, start_time=0.3 * i, end_time=0.3 * i + 0.45,
                           velocity=velocity)
    sequence.total_time = 1.05
    path = str(tmp_path / 'primer.mid')
    note_seq.sequence_proto_to_midi_file(sequence, path)
    primer = piece().primer(options(primer_midi=path))
    assert primer == magenta_primer(note_seq.midi_file_to_note_sequence(path), 32)
    assert primer[0] == (VELOCITY, 8) and num_steps(primer) == 106
    sequence.notes[1].program, sequence.notes[1].instrument = 40, 1
    note_seq.sequence_proto_to_midi_file(sequence, path)
    with pytest.raises(MusekitError, match='the primer plays 2 MIDI programs'):
        piece().primer(options(primer_midi=path))


def test_default_primer_is_a_second_of_silence():
    assert piece().primer(options()) == [(TIME_SHIFT, 100)]
    assert piece().primer(options(num_seconds=0.3)) == [(TIME_SHIFT, 30)]


def num_steps(events):
    return sum(e[1] for e in events if e[0] == TIME_SHIFT)


# --- length -----------------------------------------------------------------------------

def test_the_length_is_num_seconds_or_magentas_num_steps_and_events_are_capped():
    perf = piece()
    given = options(num_seconds=3.0, primer_pitches='[60]')
    primer = perf.primer(given)
    assert perf.num_steps(given, 128, False) == len(primer) + 600     # 200 events a second
    assert perf.total_steps(given) == 300
    # --num_steps, as in Magenta, is the length in 10 ms steps and overrides --num_seconds;
    # it is told before the primer is made
    perf = piece()
    perf.requested_length(80, True)
    primer = perf.primer(given)
    assert perf.num_steps(given, 80, True) == len(primer) + 160
    assert perf.total_steps(given) == 80
    assert perf.steering(given, primer).total_steps == 80
    # the primer chord lasts 0.5 s and is padded with a silent step, as in Magenta
    perf = piece()
    perf.requested_length(51, True)
    with pytest.raises(MusekitError, match=r'the primer and the step after it take 51 of the '
                       r'51 steps asked; --num_steps must be longer'):
        perf.primer(given)
    # the default primer is a second of silence, or the whole length when shorter
    perf = piece()
    perf.requested_length(50, True)
    assert perf.primer(options()) == [(TIME_SHIFT, 50)]
    for bad in (0, -5):
        with pytest.raises(MusekitError, match='--num_steps must be a positive number'):
            piece().requested_length(bad, True)
    with pytest.raises(MusekitError, match=r'--num_seconds=600 \(up to 120,001 events .* '
                       r"over musekit's limit of 100,000"):
        piece().num_steps(options(num_seconds=600.0), 128, False)


def test_length_steering_finishes_a_row_once_it_lasts_the_length():
    steering = LengthSteering(150)
    events = [(TIME_SHIFT, 100), (NOTE_ON, 60)]
    assert not steering.finished(events)
    branch = steering.copy()
    assert not steering.finished(events + [(TIME_SHIFT, 49)])
    assert steering.finished(events + [(TIME_SHIFT, 49), (TIME_SHIFT, 1)])
    assert branch.finished(events + [(TIME_SHIFT, 70)])      # the copy read its own row


@pytest.mark.parametrize('seed', range(20))
def test_set_length_equals_note_seqs(seed):
    rng = random.Random(seed)
    kinds = [NOTE_ON, NOTE_OFF, TIME_SHIFT, VELOCITY]
    pairs = []
    for _ in range(rng.randrange(0, 30)):
        kind = rng.choice(kinds)
        pairs.append((kind, rng.randrange(1, 101) if kind == TIME_SHIFT else
                      rng.randrange(1, 33) if kind == VELOCITY else rng.randrange(128)))
    steps = rng.randrange(0, 1000)
    performance = note_seq.Performance(steps_per_second=100, num_velocity_bins=32)
    for kind, value in pairs:
        performance.append(PerformanceEvent(kind, value))
    performance.set_length(steps)
    assert set_length(pairs, steps, 100) == [(e.event_type, e.event_value)
                                              for e in performance]


@pytest.mark.parametrize('seed', range(20))
def test_notes_equal_note_seqs_to_sequence(seed):
    rng = random.Random(seed)
    pairs = []
    for _ in range(200):
        kind = rng.choice([NOTE_ON, NOTE_OFF, TIME_SHIFT, TIME_SHIFT, VELOCITY])
        pairs.append((kind, rng.randrange(1, 101) if kind == TIME_SHIFT else
                      rng.randrange(1, 33) if kind == VELOCITY else rng.randrange(60, 64)))
    performance = note_seq.Performance(steps_per_second=100, num_velocity_bins=32)
    for kind, value in pairs:
        performance.append(PerformanceEvent(kind, value))
    expected = sorted((n.pitch, round(n.start_time * 100), round(n.end_time * 100), n.velocity)
                      for n in performance.to_sequence(max_note_duration=5.0).notes)
    got = sorted((n.pitch, n.start_step, n.end_step, n.velocity)
                 for n in performance_notes(pairs, 32, 500))
    assert got == expected and len(got) > 10


# --- output -----------------------------------------------------------------------------

def chorale_performance():
    from musekit.data import sources
    source = [s for s in sources.list_sources('music21:bach') if s.relpath == 'bwv66.6.mxl'][0]
    ns, = sources.parse(source, sources.read_bounded(source.path))
    for i, note in enumerate(ns.notes):       # on the 10 ms grid, velocities of each bin
        note.start_time = round(note.start_time * 100) / 100
        note.end_time = round(note.end_time * 100) / 100
        note.velocity = 1 + 4 * (i % 32)
    # no two voices on one pitch at once: MIDI cannot tell which of them a note-off ends
    kept = [n for n in ns.notes if not any(
        o is not n and o.pitch == n.pitch and o.start_time < n.end_time
        and n.start_time < o.end_time and (o.start_time, o.end_time) <= (
            n.start_time, n.end_time) for o in ns.notes)]
    del ns.notes[:]
    ns.notes.extend(kept)
    quantized = note_seq.quantize_note_sequence_absolute(ns, 100)
    return [(e.event_type, e.event_value)
            for e in note_seq.Performance(quantized, num_velocity_bins=32)]


def midi_events(path):
    """A MIDI file read back as note_seq reads it: quantized, one performance, 32 bins."""
    sequence = note_seq.midi_file_to_note_sequence(path)
    quantized = note_seq.quantize_note_sequence_absolute(sequence, 100)
    return sequence, [(e.event_type, e.event_value)
                      for e in note_seq.Performance(quantized, num_velocity_bins=32)]


def midi_seconds(path):
    """The length of a MIDI file to its end-of-track event, in seconds."""
    import mido
    return mido.MidiFile(path).length


def test_events_to_midi_and_back(tmp_path):
    events = chorale_performance()
    seconds = num_steps(events) / 100
    perf = piece()
    stem = str(tmp_path / 'chorale')
    paths, _ = perf.write(stem, events, 0, options(num_seconds=seconds))
    assert paths == [stem + '.mid']
    sequence, again = midi_events(stem + '.mid')
    assert again == events
    assert midi_seconds(stem + '.mid') == pytest.approx(seconds)


def test_written_timing_velocities_length_and_long_notes(tmp_path, capsys):
    events = [(VELOCITY, 1), (NOTE_ON, 60), (TIME_SHIFT, 37), (VELOCITY, 32), (NOTE_ON, 72),
              (TIME_SHIFT, 100), (NOTE_OFF, 60)] + [(TIME_SHIFT, 100)] * 6 + [
              (NOTE_OFF, 72), (TIME_SHIFT, 90)]
    stem = str(tmp_path / 'out')
    piece().write(stem, events, 2, options(num_seconds=7.5))
    sequence = note_seq.midi_file_to_note_sequence(stem + '.mid')
    notes = sorted((n.pitch, n.start_time, n.end_time, n.velocity) for n in sequence.notes)
    # 10 ms steps; velocities the bins' lowest (1, 125); the note held 6.37 s is cut to 5 s;
    # the output is cut to exactly 7.5 s
    assert notes == [(60, 0.0, pytest.approx(1.37), 1), (72, pytest.approx(0.37),
                                                         pytest.approx(5.37), 125)]
    assert midi_seconds(stem + '.mid') == pytest.approx(7.5)
    piece().write(stem, events[:6], 2, options(num_seconds=3.0))
    assert 'its 6 events (at most 200 a second) ended at 1.37 of 3.00 s' in capsys.readouterr().err
    assert midi_seconds(stem + '.mid') == pytest.approx(3.0)


# --- generation end to end ----------------------------------------------------------------

def small_bundle(path, name, seed=0):
    """A bundle of the config with one 16-unit LSTM and random weights."""
    config = get_config(name).with_hparams({'rnn_layer_sizes': [16]})
    encoder = config.make_encoder()
    shapes = get_model('events_rnn').weight_shapes(encoder, config.hparams)
    rng = np.random.default_rng(seed)
    weights = {k: (0.3 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    write_bundle(str(path), config.to_dict(), weights, {'dataset': 'none: random weights'})
    return str(path)


def test_generation_stops_each_row_at_the_length():
    config = get_config('density_conditioned_performance_with_dynamics').with_hparams(
        {'rnn_layer_sizes': [16]})
    encoder = config.make_encoder()
    shapes = get_model('events_rnn').weight_shapes(encoder, config.hparams)
    rng = np.random.default_rng(1)
    weights = {k: (0.3 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    model = get_model('events_rnn').step_model(weights, encoder, config.hparams)
    primer = encoder.with_control([(TIME_SHIFT, 100)], (4.0,))
    result = sample(model, encoder, primer, 2000, num_outputs=4, seed=0,
                    steering=LengthSteering(400))
    for events in result.events:
        assert num_steps(events) >= 400 and num_steps(events[:-1]) < 400
        assert events[-1][0] == TIME_SHIFT and {e[2] for e in events} == {(4.0,)}
        assert len(events) < 2000


@pytest.mark.parametrize('name, flags', [
    ('performance_with_dynamics', ['--primer_pitches=[60, 64, 67]']),
    ('optional_multiconditioned_performance_with_dynamics',
     ['--notes_per_second=4', '--pitch_class_histogram=[1,0,1,0,1,1,0,1,0,1,0,1]',
      '--beam_size=2', '--branch_factor=2']),
    ('performance_with_dynamics_and_modulo_encoding', ['--primer_melody=[60, -2, 64]']),
])
def test_musekit_generate_writes_performances(tmp_path, capsys, name, flags):
    bundle = small_bundle(tmp_path / 'b.musekit', name)
    out = tmp_path / 'out'
    status, stdout, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % out,
                                  '--num_outputs=2', '--num_seconds=2.5', '--seed=3', *flags)
    assert status == 0, err
    assert sorted(os.listdir(out)) == ['performance_01.mid', 'performance_02.mid']
    assert '2 performances of' in stdout and 'seed 3' in stdout
    for index in (1, 2):
        sequence, events = midi_events(str(out / ('performance_%02d.mid' % index)))
        assert midi_seconds(str(out / ('performance_%02d.mid' % index))) == pytest.approx(2.5)
        # a bin's lowest velocity, or 100 before the first VELOCITY event (as note_seq)
        assert {n.velocity for n in sequence.notes} <= {1 + 4 * k for k in range(32)} | {100}
        for note in sequence.notes:
            assert round(note.start_time * 100) == pytest.approx(note.start_time * 100)
            assert note.end_time - note.start_time <= 5.0 + 1e-9
    if '--primer_pitches=[60, 64, 67]' in flags:
        first = sorted((n.pitch, n.start_time, n.end_time, n.velocity)
                       for n in sequence.notes if n.start_time == 0)
        assert first[:3] == [(p, 0.0, 0.5, 97) for p in (60, 64, 67)]
    status, again, _ = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % out,
                               '--num_outputs=2', '--num_seconds=2.5', '--seed=3', *flags)
    assert status == 0 and again.splitlines()[:2] == stdout.splitlines()[:2]


def test_musekit_generate_refuses_other_piece_types_flags(tmp_path, capsys):
    bundle = small_bundle(tmp_path / 'b.musekit', 'performance')
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--qpm=100')
    assert status == 2 and err.count('\n') == 1 and '--qpm does not apply' in err
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--notes_per_second=3')
    assert status == 2 and err.count('\n') == 1 and 'not conditioned' in err


def test_the_piece_type_reads_a_performance_encoder():
    from musekit.encoders.base import get_encoder
    with pytest.raises(MusekitError, match="piece type 'performance' reads"):
        PerformancePiece(get_encoder('one_hot_melody', {}), None)
    assert piece_module.EVENTS_PER_SECOND == 200


def test_a_flag_shared_with_audio_keeps_each_piece_types_own_default(tmp_path, capsys,
                                                                      monkeypatch):
    """--num_seconds is audio's (default 4 s) and performance's (default 30 s, Magenta's
    3000 steps): not given, a performance bundle gets its own default; --help says both."""
    from musekit.cli import generate as cli
    from musekit.pieces.base import get_piece_type
    seen = {}
    real = cli.piece_options

    def spy(fv, piece_type, source):
        seen.update(real(fv, piece_type, source))
        return seen
    monkeypatch.setattr(cli, 'piece_options', spy)
    bundle = small_bundle(tmp_path / 'b.musekit', 'performance')
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--num_outputs=1', '--seed=1')
    assert status == 0, err
    assert seen['num_seconds'] == 30.0
    assert midi_seconds(str(tmp_path / 'performance_01.mid')) == pytest.approx(30.0)
    assert {f.name: f.default for f in get_piece_type('audio').flags}['num_seconds'] == 4.0
    status, out, _ = run_cli(capsys, '--help')
    assert status == 0
    help_text = ' '.join(out.split())
    assert '(default 4.0) [audio]' in help_text and '(default 30.0) [performance]' in help_text


def test_musekit_generate_reads_num_steps_as_magentas_10_ms_steps(tmp_path, capsys):
    bundle = small_bundle(tmp_path / 'b.musekit', 'performance')
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--num_outputs=1', '--num_steps=250', '--num_seconds=9',
                             '--seed=2')
    assert status == 0, err
    assert midi_seconds(str(tmp_path / 'performance_01.mid')) == pytest.approx(2.5)
    # shorter than the default primer's second of silence, as Magenta allows
    status, _, err = run_cli(capsys, '--bundle_file=' + bundle, '--output_dir=%s' % tmp_path,
                             '--num_outputs=1', '--num_steps=50', '--seed=2')
    assert status == 0, err
    assert midi_seconds(str(tmp_path / 'performance_01.mid')) == pytest.approx(0.5)
