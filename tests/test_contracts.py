"""The family contracts' shared code (encoders/base.py, models/base.py, pieces/base.py):
what every encoder, model family and piece type inherits, and the exact one-line refusals
a plugin author or user meets."""
import collections

import numpy as np
import pytest

from musekit.encoders import base as encoders_base
from musekit.encoders.base import StepSpec
from musekit.extractors import base as extractors_base
from musekit.models import base as models_base
from musekit.output.notes import Note
from musekit.pieces import base as pieces_base
from refusals import refusal


def value_error(call, *args, **kwargs):
    with pytest.raises(ValueError) as raised:
        call(*args, **kwargs)
    return str(raised.value)


# --- encoders ------------------------------------------------------------------------------

def test_step_spec_sizes_descriptions_and_refusals():
    spec = StepSpec('float32', [3.0, 4])
    assert spec.shape == (3, 4) and spec.size == 12 and spec.depth is None
    assert spec.describe() == 'float32 [3, 4]'
    assert StepSpec('int64', (), depth=40).describe() == 'int64 [] in [0, 40)'
    assert StepSpec('int64', (), depth=1).describe() == 'int64 [] in [0, 1)'
    assert StepSpec('int64').size == 1
    assert StepSpec('float32', (1, 1)).size == 1       # a size of 1 is a size
    assert value_error(StepSpec, 'float64') == (
        "a StepSpec dtype is one of ('float32', 'int64'), not 'float64'")
    assert value_error(StepSpec, 'float32', (4, 0)) == (
        'a StepSpec shape has positive sizes, not (4, 0)')
    assert value_error(StepSpec, 'float32', (-1,)) == (
        'a StepSpec shape has positive sizes, not (-1,)')
    depth = "depth is a positive count of an int64 feature's values"
    assert value_error(StepSpec, 'float32', (), depth=2) == depth
    assert value_error(StepSpec, 'int64', (), depth=0) == depth


class Letters(encoders_base.Encoder):
    """The smallest encoder: events are the letters 'a'..'c', labels their indices."""
    name = 'letters'
    piece_type = 'melody'
    input_spec = StepSpec('int64', (), depth=3)
    label_spec = StepSpec('int64', (), depth=3)

    def params(self):
        return {'alphabet': 'abc'}

    def encode(self, events):
        ids = np.array(['abc'.index(e) for e in events])
        return ids[:-1], ids[1:]

    def label_to_event(self, label, events):
        return 'abc'[label] + str(len(events))

    def stepper(self, events):
        raise NotImplementedError

    def validate_events(self, events):
        pass


def test_encoder_defaults_for_encoders_that_learn_nothing():
    letters = Letters()
    assert letters.statistics(['a', 'b']) == collections.Counter()
    assert letters.fitted(collections.Counter({'a': 3})) == {'alphabet': 'abc'}
    assert letters.describe_fit() == 'fitted' and not letters.needs_fitting
    assert letters.to_dict() == {'name': 'letters', 'params': {'alphabet': 'abc'}}
    primer = ['x']
    assert letters.decode([2, 0], primer) == ['x', 'c1', 'a2'] and primer == ['x']
    assert letters.decode([1]) == ['b0']


def test_check_contract_refuses_float_labels_and_unknown_piece_types(monkeypatch):
    encoders_base.check_contract(Letters())
    monkeypatch.setattr(Letters, 'label_spec', StepSpec('float32', (2,)))
    assert refusal(encoders_base.check_contract, Letters()) == (
        "encoder 'letters' declares float32 labels; labels are int64 (class ids, 0/1 keys)")
    monkeypatch.setattr(Letters, 'label_spec', StepSpec('int64', ()))
    from musekit.registry import PIECES
    known = ', '.join(PIECES.names())
    for piece_type in ('no_such_piece', None, 3):
        monkeypatch.setattr(Letters, 'piece_type', piece_type)
        assert refusal(encoders_base.check_contract, Letters()) == (
            "encoder 'letters' names piece type %r; known: %s" % (piece_type, known))


def test_get_encoder_builds_registered_encoders_and_names_bad_parameters():
    encoder = encoders_base.get_encoder('one_hot_melody', {'min_note': 60, 'max_note': 72})
    assert encoder.name == 'one_hot_melody' and encoder.min_note == 60
    assert refusal(encoders_base.get_encoder, 'piano_roll', {'num_keys': 88, 'bogus': 1}) \
        .startswith("bad parameters for encoder 'piano_roll': ")


# --- model families --------------------------------------------------------------------------

class Logits(models_base.StepModel):
    """A step model whose logits are a fixed row per batch element; state counts steps."""

    def __init__(self, rows):
        self.rows = np.asarray(rows, np.float64)

    def initial_state(self, batch_size):
        return (np.zeros(batch_size, np.int64), np.arange(batch_size))

    def step(self, inputs, state):
        return self.rows[state[1]], (state[0] + 1, state[1])


def test_step_model_select_sample_and_step_and_sample():
    model = Logits([[0.0, 50.0, 0.0], [50.0, 0.0, 0.0], [0.0, 0.0, 50.0]])
    state = model.initial_state(3)
    picked = model.select(state, np.array([2, 2, 0]))
    assert [s.tolist() for s in picked] == [[0, 0, 0], [2, 2, 0]]
    labels, log_probs, new_state = model.step_and_sample(None, state, 1.0,
                                                         np.random.default_rng(0))
    assert labels.tolist() == [1, 0, 2] and np.all(log_probs > -1e-20)
    assert new_state[0].tolist() == [1, 1, 1]
    labels, _ = model.sample(model.rows, 1.0, np.random.default_rng(0))
    assert labels.tolist() == [1, 0, 2]


def test_with_top_k_and_with_mode_copy_the_model_or_refuse_in_one_line():
    model = Logits(np.log([[0.5, 0.3, 0.2]] * 400))
    top1 = model.with_top_k(1)
    assert top1 is not model and top1.top_k == 1 and model.top_k == 0
    labels, log_probs = top1.sample(top1.rows, 1.0, np.random.default_rng(0))
    assert set(labels.tolist()) == {0} and np.allclose(log_probs, 0.0)
    assert model.with_top_k(0).top_k == 0
    assert refusal(model.with_top_k, -1) == 'top_k must be >= 0, got -1'
    assert refusal(model.with_top_k, 1.5) == 'top_k must be an integer, got 1.5'
    sample_mode = model.with_mode('sample')
    assert sample_mode is not model and sample_mode.mode == 'sample'
    assert refusal(model.with_mode, 'greedy') == (
        "sampling 'greedy' is not offered by this model; it offers sample")

    class TwoModes(Logits):
        modes = ('sample', 'threshold')

        def sample(self, outputs, temperature, rng):
            return outputs > 0, np.zeros(len(outputs))
    two = TwoModes([[1.0]])
    assert two.with_mode('threshold').mode == 'threshold' and two.mode == 'sample'
    assert refusal(two.with_mode, 'argmax') == (
        "sampling 'argmax' is not offered by this model; it offers sample, threshold")
    assert refusal(two.with_top_k, 2) == (
        'top-k sampling applies to models that draw one class per step; this one draws '
        'its labels its own way')


def test_check_weights_names_what_is_missing_unexpected_or_misshapen():
    expected = {'a': (2, 3), 'b': (3,), 'c': ()}
    models_base.check_weights({'a': np.zeros((2, 3)), 'b': np.zeros(3), 'c': 1.0},
                              expected, 'config')
    assert refusal(models_base.check_weights, {'a': 0, 'b': 0}, expected, 'config') == (
        'weights do not fit the config: missing c')
    assert refusal(models_base.check_weights, {'b': 0, 'z': 0, 'y': 0}, expected,
                   'events_rnn model') == (
        'weights do not fit the events_rnn model: missing a, c; unexpected y, z')
    assert refusal(models_base.check_weights, {'a': 0, 'b': 0, 'c': 0, 'd': 0}, expected,
                   'config') == 'weights do not fit the config: unexpected d'
    assert refusal(models_base.check_weights,
                   {'a': np.zeros((3, 2)), 'b': np.zeros(3), 'c': 0}, expected, 'config') \
        == 'weight a has shape (3, 2) but the config needs (2, 3)'


def test_model_registry_and_default_batching():
    family = models_base.get_model('events_rnn')
    assert family.name == 'events_rnn' and isinstance(family, models_base.ModelFamily)
    from musekit.data.batching import BUCKET_WIDTH, Bucketed
    batching = models_base.ModelFamily.batching(family, {})
    assert isinstance(batching, Bucketed) and batching.width == BUCKET_WIDTH


# --- piece types ---------------------------------------------------------------------------

def test_flag_kinds():
    assert pieces_base.Flag('qpm', 'float', 120.0, 'Tempo.').default == 120.0
    assert value_error(pieces_base.Flag, 'x', 'list', None, 'h') == (
        "flag kind is one of ('string', 'integer', 'float', 'boolean'), not 'list'")
    assert value_error(pieces_base.Flag, 'x', 'integer', None, 'h', suffixes=('.mid',)) == (
        'flag --x names a file, so its kind is string')
    assert pieces_base.Flag('x', 'string', None, 'h', suffixes=('.mid',)).suffixes == ('.mid',)
    assert value_error(pieces_base.Flag, 'x', 'boolean', None, 'h', modes=True) == (
        'flag --x names a sampling mode, so its kind is string')


class Plain(pieces_base.PieceType):
    def primer(self, options):
        return [60]

    def write(self, stem, events, primer_length, options):
        return [], []


def test_piece_type_defaults_move_nothing():
    piece = Plain('the encoder', 'the extractor')
    assert (piece.encoder, piece.extractor) == ('the encoder', 'the extractor')
    assert piece.sampling_mode({'x': 1}) is None
    assert piece.to_model([60, 62]) == ([60, 62], None)
    assert piece.from_model([1, 2], 'moved') == [1, 2]
    assert (Plain.file_stem, Plain.plural) == ('piece', 'pieces')
    assert pieces_base.get_piece_type('melody').name == 'melody'


def test_read_midi_sequence_refusals(tmp_path):
    missing = str(tmp_path / 'missing.mid')
    assert refusal(pieces_base.read_midi_sequence, missing) == (
        'no such primer MIDI file: %s' % missing)
    garbage = tmp_path / 'garbage.mid'
    garbage.write_bytes(b'MThd not really a midi file')
    message = refusal(pieces_base.read_midi_sequence, str(garbage))
    assert message.startswith('cannot read primer MIDI %s: ' % garbage), message
    empty = tmp_path / 'empty.mid'
    empty.write_bytes(b'')
    message = refusal(pieces_base.read_midi_sequence, str(empty))
    assert message.startswith('cannot read primer MIDI %s: ' % empty), message


def test_read_midi_sequence_says_what_went_wrong_in_one_line(monkeypatch, tmp_path):
    import note_seq

    def raising(error):
        def read(content):
            raise error
        return read
    path = tmp_path / 'x.mid'
    path.write_bytes(b'MThd')
    monkeypatch.setattr(note_seq, 'midi_to_note_sequence',
                        raising(ValueError('bad header\nmore detail')))
    assert refusal(pieces_base.read_midi_sequence, str(path)) == (
        'cannot read primer MIDI %s: ValueError: bad header more detail (midi_parse_error)'
        % path)
    monkeypatch.setattr(note_seq, 'midi_to_note_sequence', raising(KeyError()))
    assert refusal(pieces_base.read_midi_sequence, str(path)) == (
        'cannot read primer MIDI %s: KeyError (midi_parse_error)' % path)
    path.write_bytes(b'')
    assert refusal(pieces_base.read_midi_sequence, str(path)) == (
        'cannot read primer MIDI %s: the file has 0 bytes (empty_file)' % path)
    assert refusal(pieces_base.read_midi_sequence, str(tmp_path / 'none.mid')) == (
        'no such primer MIDI file: %s' % (tmp_path / 'none.mid'))


def test_read_midi_sequence_reads_notes(tmp_path):
    from musekit.output.midi import write_midi
    path = write_midi(str(tmp_path / 'c.mid'), [Note(60, 0, 4), Note(64, 4, 8)], 8)
    sequence = pieces_base.read_midi_sequence(path)
    assert [(n.pitch, n.start_time, n.end_time) for n in sequence.notes] == [
        (60, 0.0, 0.5), (64, 0.5, 1.0)]


def test_write_note_files_writes_what_the_options_ask(tmp_path):
    import mido
    stem = str(tmp_path / 'melody_01')
    notes = [Note(60, 0, 2), Note(62, 2, 4)]
    options = {'qpm': 60.0, 'render_wav': False, 'plot': False}
    assert pieces_base.write_note_files(stem, notes, 4, 1, options, 2) == (
        [stem + '.mid'], [])
    midi = mido.MidiFile(stem + '.mid')
    tempo = [m.tempo for m in midi.tracks[0] if m.type == 'set_tempo']
    assert tempo == [1_000_000]                             # 60 quarter notes a minute
    assert midi.length == pytest.approx(2.0)                # 4 steps at 2 per quarter


def test_write_note_files_hands_audio_and_plot_the_timing_and_primer(tmp_path, monkeypatch):
    from musekit.output import audio, plot
    calls = []

    def fake_wav(path, notes, num_steps, **timing):
        calls.append(('wav', path, num_steps, timing))
        return 'builtin'

    def fake_plot(path, notes, num_steps, **kwargs):
        calls.append(('png', path, num_steps, kwargs))
        return path
    monkeypatch.setattr(audio, 'render_wav', fake_wav)
    monkeypatch.setattr(plot, 'write_piano_roll', fake_plot)
    stem = str(tmp_path / 'tune_07')
    options = {'qpm': 90.0, 'render_wav': True, 'plot': True}
    paths, renderers = pieces_base.write_note_files(stem, [Note(60, 0, 3)], 12, 5, options, 3)
    assert paths == [stem + '.mid', stem + '.wav', stem + '.png']
    assert renderers == ['builtin']
    assert calls == [
        ('wav', stem + '.wav', 12, {'qpm': 90.0, 'steps_per_quarter': 3}),
        ('png', stem + '.png', 12, {'primer_steps': 5, 'steps_per_quarter': 3,
                                    'steps_per_bar': 12, 'title': 'tune_07'})]
    options = {'qpm': 90.0, 'render_wav': False, 'plot': True}
    assert pieces_base.write_note_files(stem, [], 12, 5, options, 3)[1] == []


class NoModel(models_base.ModelFamily):
    def build(self, encoder, hparams):
        raise NotImplementedError

    def objective(self, encoder, hparams):
        raise NotImplementedError

    def weight_variables(self, keras_model):
        return {}

    def weight_shapes(self, encoder, hparams):
        return {}

    def step_model(self, weights, encoder, hparams):
        return Logits([[0.0]])


@pytest.mark.parametrize('module, registry_name, cls, lookup', [
    (encoders_base, 'ENCODERS', Letters, lambda name: encoders_base.get_encoder(name, {})),
    (models_base, 'MODELS', NoModel, models_base.get_model),
    (pieces_base, 'PIECES', Plain, pieces_base.get_piece_type),
])
def test_register_decorators_name_and_find_a_plugin(monkeypatch, module, registry_name, cls,
                                                    lookup):
    import musekit.registry
    registry = getattr(musekit.registry, registry_name)
    monkeypatch.setattr(registry, '_items', dict(registry._items))     # undone afterwards
    monkeypatch.setattr(cls, 'name', cls.name)
    assert module.register('contract_demo')(cls) is cls
    assert cls.name == 'contract_demo'
    found = lookup('contract_demo')
    assert found is cls or type(found) is cls


class FakeVariable:
    def __init__(self, shape):
        self.shape, self.value = shape, None

    def assign(self, value):
        self.value = value

    def numpy(self):
        return self.value


def test_import_weights_checks_names_and_shapes_against_the_model_then_assigns():
    variables = {'a': FakeVariable((2,)), 'b': FakeVariable(())}

    class Holder(NoModel):
        def weight_variables(self, keras_model):
            return variables
    family = Holder()
    family.name = 'demo'
    assert refusal(family.import_weights, None, {'a': np.zeros(2)}) == (
        'weights do not fit the demo model: missing b')
    assert refusal(family.import_weights, None, {'a': np.zeros(3), 'b': 1.0}) == (
        'weight a has shape (3,) but the demo model needs (2,)')
    family.import_weights(None, {'a': np.array([1, 2]), 'b': 0.5})
    assert variables['a'].value.tolist() == [1.0, 2.0] and variables['b'].value == 0.5
    variables['a'].value = np.array([0.5, 0.25])              # a float64 variable
    exported = family.export_weights(None)
    assert exported['a'].dtype == exported['b'].dtype == np.float32
    assert exported['a'].tolist() == [0.5, 0.25] and exported['b'].tolist() == 0.5


def test_an_encoder_constructor_that_rejects_a_type_is_one_line(monkeypatch):
    import musekit.registry
    monkeypatch.setattr(musekit.registry.ENCODERS, '_items',
                        dict(musekit.registry.ENCODERS._items))

    class Typed(Letters):
        def __init__(self, alphabet='abc'):
            if not isinstance(alphabet, str):
                raise TypeError('alphabet must be a string, not %s' % type(alphabet).__name__)
    monkeypatch.setattr(Typed, 'name', None)
    encoders_base.register('typed_letters')(Typed)
    assert refusal(encoders_base.get_encoder, 'typed_letters', {'alphabet': 3}) == (
        "bad parameters for encoder 'typed_letters': alphabet must be a string, not int")


# --- extractors ----------------------------------------------------------------------------

class Whole(extractors_base.Extractor):
    """An extractor that keeps each item whole and cannot transpose (the base default)."""
    name = 'whole'

    def params(self):
        return {}

    def decode(self, data):
        return data

    def prepare(self, item):
        return [item], extractors_base.new_stats()

    def extract(self, piece, encoder):
        return [piece], extractors_base.new_stats()


def test_an_extractor_that_cannot_transpose_refuses_any_transposition_in_one_line():
    extractor, piece = Whole(), object()
    assert extractor.check_augmentation([0, 0]) is None
    assert extractor.augment(piece, 0) is piece
    assert refusal(extractor.check_augmentation, [0, 2]) == (
        "extractor 'whole' cannot transpose its pieces (--transpose_range)")
    assert refusal(extractor.augment, piece, -3) == "extractor 'whole' cannot transpose its pieces"


class Quantized:
    def __init__(self, steps):
        self.total_quantized_steps = steps


def test_fits_step_limit_adds_each_sequence_too_long_to_the_count(monkeypatch):
    monkeypatch.setenv('MUSEKIT_MAX_QUANTIZED_STEPS', '10')
    stats = extractors_base.new_stats()
    stats['sequences_discarded_too_long_to_quantize'] = 2      # counted by earlier pieces
    assert extractors_base.fits_step_limit(Quantized(10), stats)
    assert stats == {'sequences_discarded_too_long_to_quantize': 2}
    assert not extractors_base.fits_step_limit(Quantized(11), stats)
    assert not extractors_base.fits_step_limit(Quantized(12), stats)
    assert stats == {'sequences_discarded_too_long_to_quantize': 4}


def test_an_extractors_mistyped_parameter_is_one_line_naming_its_type_and_bounds():
    assert refusal(extractors_base.get_extractor, 'melody', {'min_bars': '7'}) == (
        "bad parameters for extractor 'melody': parameter min_bars='7': expected int >= 0")
