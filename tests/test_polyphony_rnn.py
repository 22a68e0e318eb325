"""Polyphony RNN (Magenta's polyphony_rnn): the one-hot encoding, the extractor, event
streams to notes, and generation, each equal to what Magenta 2.1.4's own code gives (the
references in tests/data/magenta/polyphony_*, made as their README says), plus hand-worked
cases, bad primers and musekit_generate end to end."""
import base64
import hashlib
import json
import os

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from musekit.config import get_config
from musekit.encoders.polyphonic_events import (
    END_EVENT, NUM_CLASSES, START_EVENT, STEP_END_EVENT, PolyphonyOneHotEncoder, check_event,
    class_event, continued_note, event_class, events_to_notes, new_note, notes_to_events,
    step_count, with_length)
from musekit.errors import MusekitError
from musekit.extractors.polyphonic_events import length_bucket, polyphonic_events
from musekit.generation import generate
from musekit.models.base import StepModel
from musekit.output.midi import write_midi
from musekit.output.notes import Note
from musekit.pieces.polyphonic_events import PolyphonicEventsPiece
from musekit.testing import check_encoder

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'magenta')
ENCODER = PolyphonyOneHotEncoder()
S, E, X = START_EVENT, END_EVENT, STEP_END_EVENT


def load_json(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


def pairs(events):
    """Events as JSON's [kind, pitch] lists (the references' form)."""
    return [[kind, pitch] for kind, pitch in events]


def digest(events):
    return hashlib.sha256(json.dumps(pairs(events), separators=(',', ':')).encode()).hexdigest()


@pytest.fixture(scope='module')
def extraction():
    return load_json('polyphony_extraction.json')


@pytest.fixture(scope='module')
def config():
    return get_config('polyphony')


# --- the encoding -----------------------------------------------------------------------

def test_classes_are_magentas_layout_by_hand():
    assert NUM_CLASSES == 259
    assert [event_class(e) for e in (S, E, X)] == [0, 1, 2]
    assert event_class(new_note(0)) == 3 and event_class(new_note(127)) == 130
    assert event_class(continued_note(0)) == 131 and event_class(continued_note(60)) == 191
    assert [class_event(c) for c in (0, 2, 63, 258)] == [S, X, new_note(60),
                                                          continued_note(127)]


def test_encoding_equals_magentas_encoder_decoder():
    """Inputs (one-hot) and labels of Magenta's OneHotEventSequenceEncoderDecoder(
    PolyphonyOneHotEncoding()) on two chorale streams and eleven random ones (with START
    and END in the middle, continued notes of silent pitches, a lone START), and its
    decoder's event for every class."""
    ref = np.load(os.path.join(DATA, 'polyphony_encoding.npz'))
    count = 0
    while 'kinds_%02d' % count in ref:
        kinds, pitches = ref['kinds_%02d' % count], ref['pitches_%02d' % count]
        events = [(int(k), None if p < 0 else int(p)) for k, p in zip(kinds, pitches)]
        inputs, labels = ENCODER.encode(events)
        assert inputs.shape == (len(events) - 1, 259) and inputs.dtype == np.float32
        np.testing.assert_array_equal(labels, ref['labels_%02d' % count])
        expected = np.zeros_like(inputs)
        expected[np.arange(len(inputs)), ref['input_classes_%02d' % count]] = 1.0
        np.testing.assert_array_equal(inputs, expected)
        count += 1
    assert count == 13
    decoded = [class_event(c) for c in range(NUM_CLASSES)]
    assert [k for k, _ in decoded] == ref['decoded_kind'].tolist()
    # Magenta's decoder gives pitch 0 to START, END and STEP_END; musekit None
    assert [p or 0 for _, p in decoded] == ref['decoded_pitch'].tolist()


def test_the_encoder_keeps_its_contract_on_chorale_streams(extraction):
    streams = [[tuple(e) for e in piece['transpositions']['0']['events']]
               for record in extraction['results'] for piece in record['pieces']
               if piece['transpositions']['0'].get('events')]
    check_encoder(ENCODER, streams[:4] + [[S], [S, X, E]])


@pytest.mark.parametrize('event, message', [
    ((3, 128), 'NEW_NOTE needs a MIDI pitch 0..127'),
    ((4, None), 'CONTINUED_NOTE needs a MIDI pitch'),
    ((5, None), 'has kind 5; kinds are 0..4'),
    ((2, 60), 'STEP_END carries no pitch'),
    (60, 'must be a (kind, pitch) pair'),
    ((3, 60, 1), 'must be a (kind, pitch) pair'),
    ((True, None), 'must be a (kind, pitch) pair'),
])
def test_bad_events_are_one_line_naming_the_position(event, message):
    with pytest.raises(MusekitError, match='position 1') as info:
        ENCODER.validate_events([S, event])
    assert message in str(info.value) and '\n' not in str(info.value)


def test_events_from_json_and_magentas_decoder_are_normalised():
    assert check_event([3, 60], 0) == (3, 60) and check_event((2, 0), 0) == X
    stepper = ENCODER.stepper([[0, None], [3, 60]])
    assert stepper.events == [S, new_note(60)]


# --- events, notes and lengths ----------------------------------------------------------

def test_notes_to_events_by_hand():
    # C4 held two steps, E4 one step then restarted, G4 doubled by a second note
    notes = [(60, 0, 2), (64, 0, 1), (64, 1, 2), (67, 1, 3), (67, 2, 3)]
    assert notes_to_events(notes, 4) == [
        S, new_note(64), new_note(60), X,
        new_note(67), new_note(64), continued_note(60), X,
        continued_note(67), new_note(67), X,
        X, E]
    assert sorted(events_to_notes(notes_to_events(notes, 4))) == sorted(notes)


def test_set_length_and_notes_equal_magentas():
    """with_length and events_to_notes equal Magenta's PolyphonicSequence.set_length and
    to_sequence on 30 random streams (cut, padded, unfinished last steps, stray START,
    END and continued notes)."""
    cases = load_json('polyphony_notes.json')['cases']
    assert len(cases) == 30
    for case in cases:
        events = [tuple(e) for e in case['events']]
        made = with_length(events, case['num_steps'])
        assert pairs(made) == case['set_length']
        assert step_count(made) == case['total_steps'] == case['num_steps']
        assert sorted(list(n) for n in events_to_notes(made)) == case['notes']


# --- the extractor ----------------------------------------------------------------------

def test_extraction_equals_magentas_pipeline(extraction, config):
    """Magenta's TimeChangeSplitter, Quantizer(4), TranspositionPipeline([amount]) and
    PolyphonicSequenceExtractor(80, 512) on five chorales and 24 random pieces: the same
    pieces, streams (untransposed in full, transposed by -4..4 by digest) and counters."""
    extractor, encoder = config.make_extractor(), config.make_encoder()
    kept = skipped = 0
    for item, record in zip(extraction['inputs'], extraction['results']):
        sequence = music_pb2.NoteSequence.FromString(base64.b64decode(item['note_sequence']))
        pieces, stats = extractor.prepare(sequence)
        assert dict(stats) == record['quantize_stats'], item['name']
        assert [p.total_quantized_steps for p in pieces] == [
            r['total_quantized_steps'] for r in record['pieces']], item['name']
        for piece, ref in zip(pieces, record['pieces']):
            for amount, outcome in ref['transpositions'].items():
                streams, stats = extractor.extract(extractor.augment(piece, int(amount)),
                                                   encoder)
                expected = {}
                for name, count in outcome['stats'].items():
                    name, _, lower = name.partition('@')
                    expected[name + ('_' + length_bucket(int(lower)) if lower else '')] = count
                assert dict(stats) == expected, (item['name'], amount)
                if 'length' not in outcome:         # the transposition left MIDI's range
                    assert streams == []
                    skipped += 1
                    continue
                got = streams[0] if streams else []
                assert len(got) == outcome['length'], (item['name'], amount)
                if 'events' in outcome:
                    assert pairs(got) == outcome['events'], item['name']
                else:
                    assert digest(got) == outcome['sha256'], (item['name'], amount)
                kept += bool(got)
    assert kept == 136 and skipped == 23


def test_extractor_rules_by_hand(config):
    extractor = config.make_extractor()
    sequence = music_pb2.NoteSequence(ticks_per_quarter=220)
    sequence.tempos.add(qpm=120)
    sequence.time_signatures.add(numerator=4, denominator=4)
    for pitch, start, end, program in ((60, 0.0, 0.25, 0), (72, 0.125, 0.25, 0),
                                       (36, 0.0, 12.0, 0)):
        sequence.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=80,
                           program=program)
    sequence.total_time = 12.0
    (piece,), _ = extractor.prepare(sequence)
    (events,), stats = extractor.extract(piece, ENCODER)
    assert events[:8] == [S, new_note(60), new_note(36), X, new_note(72), continued_note(60),
                          continued_note(36), X]
    assert step_count(events) == 96 and events[-1] == E
    assert stats == {'polyphonic_track_lengths_in_bars_1_to_9': 1}
    # a second program drops the piece; a note past MIDI 127 drops the transposition
    sequence.notes[1].program = 5
    (two,), _ = extractor.prepare(sequence)
    assert extractor.extract(two, ENCODER)[1] == {
        'polyphonic_tracks_discarded_more_than_1_program': 1}
    sequence.notes[1].program, sequence.notes[1].pitch = 0, 125
    (high,), _ = extractor.prepare(sequence)
    (up,), stats = extractor.extract(extractor.augment(high, 2), ENCODER)
    assert up[1:3] == [new_note(62), new_note(38)] and up[4] == new_note(127)
    assert stats == {'polyphonic_track_lengths_in_bars_1_to_9': 1}
    assert extractor.extract(extractor.augment(high, 3), ENCODER) == (
        [], {'skipped_due_to_range_exceeded': 1})
    assert 125 in [n.pitch for n in high.notes]     # augment leaves its piece alone


def test_the_config_is_magentas(config):
    assert dict(config.hparams) == dict(config.hparams, batch_size=64, rnn_layer_sizes=(
        256, 256, 256), dropout_rate=0.5, clip_norm=5.0, learning_rate=0.001, attn_length=0)
    assert config.make_extractor().params() == {'steps_per_quarter': 4, 'min_steps': 80,
                                                'max_steps': 512}
    assert config.transpose_range() == '-4,4'          # polyphony_rnn_pipeline's range
    assert config.model['name'] == 'events_rnn' and config.description.startswith(
        'Polyphonic RNN')


def test_length_buckets_are_magentas_histogram():
    assert [length_bucket(b) for b in (0, 1, 9, 10, 49, 50, 999, 1000, 5000)] == [
        '0', '1_to_9', '1_to_9', '10_to_19', '40_to_49', '50_to_99', '500_to_999',
        '1000_up', '1000_up']


# --- the piece type: primers ------------------------------------------------------------

OPTIONS = dict(primer_pitches=None, primer_melody=None, primer_midi=None, qpm=120.0,
               render_wav=False, plot=False, condition_on_primer=False,
               inject_primer_during_generation=True)


def piece_of(config, **options):
    piece = PolyphonicEventsPiece(config.make_encoder(), config.make_extractor())
    return piece, dict(OPTIONS, **options)


@pytest.mark.parametrize('flag, value, expected', [
    ('primer_pitches', '[60, 64, 67]', [S, new_note(67), new_note(64), new_note(60), X]
     + [continued_note(67), continued_note(64), continued_note(60), X] * 3),
    ('primer_pitches', '72', [S, new_note(72), X] + [continued_note(72), X] * 3),
    ('primer_melody', '[60, -2, -1, 62, -2]', [S, new_note(60), X, continued_note(60), X, X,
                                               new_note(62), X, continued_note(62), X]),
    ('primer_melody', '[-2, 60, 62]', [S, X, new_note(60), X, new_note(62), X]),
])
def test_primers_by_hand(config, flag, value, expected):
    piece, options = piece_of(config, **{flag: value})
    assert piece.primer(options) == expected


def test_no_primer_is_magentas_empty_one(config):
    piece, options = piece_of(config)
    assert piece.primer(options) == [S]


def test_a_midi_primer_is_every_pitched_note_quantized(config, tmp_path):
    path = str(tmp_path / 'primer.mid')
    write_midi(path, [Note(60, 0, 3), Note(64, 2, 4), Note(55, 2, 3)], 4)
    piece, options = piece_of(config, primer_midi=path)
    assert piece.primer(options) == [
        S, new_note(60), X, continued_note(60), X,
        new_note(64), continued_note(60), new_note(55), X, continued_note(64), X]


@pytest.mark.parametrize('options, message', [
    ({'primer_pitches': '[60, 64,'}, 'malformed --primer_pitches'),
    ({'primer_pitches': '[]'}, 'malformed --primer_pitches'),
    ({'primer_pitches': '[60, 6.5]'}, 'malformed --primer_pitches'),
    ({'primer_pitches': '[60, 128]'}, '128 is not a MIDI pitch'),
    ({'primer_pitches': '[60, 60]'}, 'lists a pitch twice'),
    ({'primer_melody': '[60, -3]'}, 'is not a melody event'),
    ({'primer_melody': 'C D E'}, 'malformed --primer_melody'),
    ({'primer_midi': '/no/such/file.mid'}, 'no such primer MIDI file'),
    ({'primer_pitches': '60', 'primer_melody': '[60]'}, 'give one of --primer_pitches'),
    ({'qpm': 0.0}, 'qpm must be a positive number'),
])
def test_bad_primers_are_one_line(config, options, message):
    piece, options = piece_of(config, **options)
    with pytest.raises(MusekitError, match='^.*$') as info:
        piece.primer(options)
    assert message in str(info.value) and '\n' not in str(info.value)


def test_num_steps_counts_the_primer_and_must_leave_room(config):
    piece, options = piece_of(config, primer_pitches='60')
    primer = piece.primer(options)
    model_primer, _ = piece.to_model(primer)
    assert model_primer == [S]                       # not conditioned: the model starts blank
    assert piece.num_steps(options, 32, True) == 1 + 16 * (32 - 4)
    with pytest.raises(MusekitError, match=r"--num_steps \(4\) must be more than the "
                                           r"primer's 4 steps"):
        piece.num_steps(options, 4, True)


# --- generation -------------------------------------------------------------------------

def policy(classes):
    """The scripted model's pick after events of these classes (polyphony_generation.json's
    stage-3 script: the same function drove Magenta's generator)."""
    n = len(classes)
    x = (n * 37 + classes[-1] * 11 + (classes[-2] if n > 1 else 5) * 3) % 29
    if x < 9:
        return 2
    if x < 17:
        return 3 + 48 + (x * 7 + n) % 24
    if x < 26:
        return 131 + 48 + (x * 5 + n) % 24
    return (0, 1, 3 + 72)[x - 26]


class ScriptedStep(StepModel):
    """A step model that puts all its probability on `policy` of the classes fed so far."""

    def initial_state(self, batch_size):
        return (np.zeros((batch_size, 0), np.int64),)

    def step(self, inputs, state):
        history = np.concatenate([state[0], np.argmax(inputs, 1)[:, None]], 1)
        logits = np.full((len(history), NUM_CLASSES), -1e9)
        for row, classes in enumerate(history):
            logits[row, policy(classes.tolist())] = 0.0
        return logits, (history,)


def generated_notes(piece, options, model, num_steps, num_outputs=2, seed=1, **search):
    """Each output's notes as musekit_generate makes them (primer, to_model, num_steps,
    steering, generation, from_model)."""
    primer, moved = piece.to_model(piece.primer(options))
    cap = piece.num_steps(options, num_steps, True)
    result = generate(model, piece.encoder, primer, cap, num_outputs, seed=seed,
                      steering=piece.steering(options, primer), **search)
    outputs = [piece.from_model(events, moved) for events in result.events]
    return outputs, [piece.notes(events) for events in outputs]


def test_generation_equals_magentas_generator(config, tmp_path):
    """Magenta's PolyphonyRnnSequenceGenerator driven by the scripted model, for every
    setting of --condition_on_primer and --inject_primer_during_generation, writes the
    notes musekit's piece type writes from the same primer (given as a MIDI file)."""
    cases = load_json('polyphony_generation.json')['cases']
    assert len(cases) == 7
    for i, case in enumerate(cases):
        path = str(tmp_path / ('primer%d.mid' % i))
        write_midi(path, [Note(*n) for n in case['primer_notes']], case['primer_steps'])
        piece, options = piece_of(
            config, primer_midi=path, condition_on_primer=case['condition_on_primer'],
            inject_primer_during_generation=case['inject_primer_during_generation'])
        _, outputs = generated_notes(piece, options, ScriptedStep(), case['num_steps'])
        for notes in outputs:
            assert sorted([n.pitch, n.start_step, n.end_step] for n in notes) == \
                case['notes'], i



def random_weights(config, seed=0, step_end_bias=5.0):
    """Small random events_rnn weights for `config`; the STEP_END logit raised so that a
    step takes a few events, as a trained model's do."""
    from musekit.models.events_rnn import weight_shapes
    encoder = config.make_encoder()
    rng = np.random.default_rng(seed)
    weights = {name: (0.3 * rng.standard_normal(shape)).astype(np.float32) for name, shape in
               weight_shapes(encoder.input_spec.size, encoder.label_spec.depth,
                             config.hparams).items()}
    weights['logits/bias'][2] += step_end_bias
    return weights


@pytest.fixture(scope='module')
def small_config():
    return get_config('polyphony').with_hparams({'rnn_layer_sizes': [16, 16]})


def steps_of(events):
    """The note events of each step of a stream (START and END left out)."""
    steps, current = [], []
    for event in events:
        if event == X:
            steps.append(current)
            current = []
        elif event not in (S, E):
            current.append(event)
    return steps


@pytest.mark.parametrize('condition, search, primer_flag', [
    (False, {}, {'primer_melody': '[60, -2, 64, -1, -2, 67, 72, -2]'}),
    (True, {}, {'primer_melody': '[60, -2, 64, -1, -2, 67, 72, -2]'}),
    (False, {'beam_size': 2, 'branch_factor': 2}, {'primer_pitches': '[60, 64, 67, 72]'}),
    (True, {'beam_size': 3, 'branch_factor': 2}, {'primer_pitches': '[60, 64, 67, 72]'})])
def test_injection_keeps_the_primers_notes_at_their_steps_in_every_output(
        small_config, condition, search, primer_flag):
    from musekit.models.base import get_model
    model = get_model('events_rnn').step_model(
        random_weights(small_config), small_config.make_encoder(), small_config.hparams)
    piece, options = piece_of(small_config, condition_on_primer=condition, **primer_flag)
    primer = piece.primer(options)
    length = step_count(primer)
    primer_notes = events_to_notes(primer + [E])
    outputs, notes = generated_notes(piece, options, model, 40, num_outputs=5, seed=3,
                                     **search)
    assert len({tuple(o) for o in outputs}) > 1
    for events, output_notes in zip(outputs, notes):
        assert events[:len(primer)] == primer                   # the primer, then ...
        assert events[len(primer)] == primer[1]                 # at once its first note
        steps = steps_of(events)
        # ... generated to the end (beam search goes on until its last candidate is done,
        # so candidates compare at one length; the writer cuts to --num_steps)
        assert len(steps) == 40 if not search else len(steps) >= 40
        for k, injected in enumerate(steps_of(primer)):         # the primer's step k
            assert steps[length + k][:len(injected)] == injected    # opens step P + k
        found = {(n.pitch, n.start_step): n.end_step for n in output_notes}
        for pitch, start, end in primer_notes:
            assert found[(pitch, start)] >= end
            assert found[(pitch, length + start)] >= length + end


def test_without_injection_the_model_continues_the_primer(small_config):
    from musekit.models.base import get_model
    model = get_model('events_rnn').step_model(
        random_weights(small_config), small_config.make_encoder(), small_config.hparams)
    piece, options = piece_of(small_config, primer_pitches='[60, 64]', condition_on_primer=True,
                              inject_primer_during_generation=False)
    primer, moved = piece.to_model(piece.primer(options))
    assert primer == piece.primer(options)                      # conditioned on it
    assert piece.num_steps(options, 31, True) == len(primer) + 16 * 27
    steering = piece.steering(options, primer)
    assert steering.forced(primer) is None and not steering.finished(primer)
    # a steering reads its row's events once, as they grow: a copy for each row
    assert steering.copy().finished(primer + [X] * 27)
    assert not steering.copy().finished(primer + [X] * 26)
    outputs, _ = generated_notes(piece, options, model, 31, num_outputs=3, seed=0)
    assert all(step_count(o) == 31 and o[:len(primer)] == primer for o in outputs)


def test_events_midi_events_round_trip(config, extraction, tmp_path):
    """Written as MIDI, read back and quantized, a stream is extracted as itself (a pitch
    sounding twice at once is the exception: one MIDI channel cannot hold that)."""
    import note_seq
    from note_seq import sequences_lib
    rng = np.random.default_rng(5)
    streams = [[tuple(e) for e in extraction['results'][3]['pieces'][0]['transpositions'][
        '0']['events']]]                                        # bwv153.9
    for _ in range(4):
        notes = []
        for pitch in rng.choice(np.arange(30, 100), 12, replace=False):
            t = int(rng.integers(0, 4))
            while t < 60:
                length = int(rng.integers(1, 8))
                notes.append((int(pitch), t, t + length))
                t += length + int(rng.integers(0, 3))
        streams.append(notes_to_events(notes, max(e for _, _, e in notes)))
    for i, events in enumerate(streams):
        piece, options = piece_of(config)
        piece.primer(options)
        piece.total_steps = step_count(events)
        paths, _ = piece.write(str(tmp_path / ('out%d' % i)), events, 1, options)
        sequence = note_seq.midi_file_to_note_sequence(paths[0])
        back = polyphonic_events(sequences_lib.quantize_note_sequence(sequence, 4))
        assert back == events, i


# --- musekit_generate and musekit_create_dataset ----------------------------------------

def test_musekit_generate_with_a_small_random_bundle(small_config, tmp_path, capsys):
    import note_seq
    from musekit.bundle import write_bundle
    from musekit.cli import generate as cli
    bundle = str(tmp_path / 'poly.musekit')
    write_bundle(bundle, small_config.to_dict(), random_weights(small_config),
                 {'dataset': 'none: random weights'})
    out = tmp_path / 'out'
    cli.run(['musekit_generate', '--bundle_file=' + bundle, '--output_dir=%s' % out,
             '--num_outputs=3', '--num_steps=24', '--primer_pitches=[60, 64, 67]',
             '--seed=2'])
    printed = capsys.readouterr()
    files = sorted(os.listdir(out))
    assert files == ['polyphony_01.mid', 'polyphony_02.mid', 'polyphony_03.mid']
    assert 'the rest is silence' not in printed.err        # every output reached step 24
    for name in files:
        sequence = note_seq.midi_file_to_note_sequence(str(out / name))
        notes = {(n.pitch, round(n.start_time / 0.125)): round(n.end_time / 0.125)
                 for n in sequence.notes}
        # the primer chord for a quarter note, then again at step 4 (injected)
        assert all(notes[(p, 0)] == 4 and notes[(p, 4)] >= 8 for p in (60, 64, 67))
        assert max(notes.values()) <= 24
    status = None
    try:
        cli.run(['musekit_generate', '--bundle_file=' + bundle, '--output_dir=%s' % out,
                 '--primer_pitches=[60, 60]'])
    except SystemExit as e:
        status = e.code
    err = capsys.readouterr().err
    assert status == 2 and err.count('\n') == 1 and 'lists a pitch twice' in err


def test_musekit_create_dataset_writes_magentas_streams(extraction, tmp_path, capsys):
    """musekit_create_dataset --config=polyphony --transpose_range=-1,1 on three chorales
    writes exactly the streams Magenta's pipeline extracts from them (by digest), each
    encoded as the encoder says."""
    import glob
    import shutil
    from musekit.data import example, sources, tfrecord
    from musekit.pipelines import create_dataset
    folder = tmp_path / 'chorales'
    folder.mkdir()
    corpus = sources.music21_corpus_dir('bach')
    names = ('bwv66.6.mxl', 'bwv101.7.mxl', 'bwv153.9.mxl')
    for name in names:
        shutil.copy(os.path.join(corpus, name), folder / name)
    out = str(tmp_path / 'ds')
    create_dataset.main(['musekit_create_dataset', '--config=polyphony', '--input=%s' % folder,
                         '--output_dir=' + out, '--eval_ratio=0', '--transpose_range=-1,1'])
    printed = capsys.readouterr().out
    records = [example.parse_sequence_example(r) for f in sorted(glob.glob(
        os.path.join(out, 'training_poly_tracks-*.tfrecord'))) for r in
        tfrecord.read_record_file(f)]
    written = []
    for inputs, labels in records:
        classes = np.concatenate([inputs.argmax(1)[:1], labels])
        assert np.array_equal(inputs.argmax(1), classes[:-1]) and np.all(inputs.sum(1) == 1)
        written.append(digest([class_event(int(c)) for c in classes]))
    expected = []
    for record in extraction['results']:
        if record['name'] in ['music21:bach/' + n for n in names]:
            for piece in record['pieces']:
                for amount in ('-1', '0', '1'):
                    outcome = piece['transpositions'][amount]
                    if outcome.get('length'):
                        expected.append(outcome.get('sha256') or digest(
                            [tuple(e) for e in outcome['events']]))
    assert sorted(written) == sorted(expected) and len(expected) == 6
    assert '6 training and 0 eval poly_tracks' in printed
    with open(os.path.join(out, 'dataset.json')) as f:
        counters = json.load(f)['counters']
    assert counters['polyphonic_tracks_discarded_too_short'] == 3 * (2 + 8)
