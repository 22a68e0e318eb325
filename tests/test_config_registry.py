"""Registry lookups, named configs as data, and --hparams overrides."""
import json

import numpy as np
import pytest

from musekit import config as config_lib
from musekit.errors import MusekitError, UnknownNameError
from musekit.registry import ENCODERS, EXTRACTORS, Registry
from refusals import refusal

EXPECTED_SIZES = {  # Magenta's melody configs: (inputs, labels)
    'basic_rnn': (38, 38),
    'mono_rnn': (130, 130),
    'lookback_rnn': (121, 40),
    'attention_rnn': (74, 40),
}


def test_builtin_plugins_register_themselves():
    assert {'one_hot_melody', 'lookback_melody', 'key_melody'} <= set(ENCODERS.names())
    assert 'melody' in EXTRACTORS.names()
    assert set(EXPECTED_SIZES) <= set(config_lib.config_names())


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownNameError) as e:
        ENCODERS.get('no_such_encoder')
    assert 'lookback_melody' in str(e.value) and 'no_such_encoder' in str(e.value)
    with pytest.raises(MusekitError, match='basic_rnn'):
        config_lib.get_config('nope_rnn')


def test_registry_refuses_a_second_plugin_under_one_name():
    reg = Registry('thing')
    reg.register('a', int)
    reg.register('a', int)  # the same object again is harmless (re-import)
    with pytest.raises(ValueError):
        reg.register('a', str)
    assert reg.names() == ['a'] and reg.get('a') is int


@pytest.mark.parametrize('name', sorted(EXPECTED_SIZES))
def test_named_configs_have_magentas_sizes(name):
    cfg = config_lib.get_config(name)
    enc = cfg.make_encoder()
    assert (enc.input_size, enc.num_classes) == EXPECTED_SIZES[name]
    assert cfg.hparams['batch_size'] == 128
    assert list(cfg.hparams['rnn_layer_sizes']) == [128, 128]
    assert cfg.hparams['dropout_rate'] == 0.5
    # Magenta's 0.001, but lookback_rnn's recipe: 0.003 reached its eval NLL in about half
    # the steps on Magenta's own chorale dataset, and a lower best (benchmarks/README.md)
    assert cfg.hparams['learning_rate'] == (0.003 if name == 'lookback_rnn' else 0.001)
    assert cfg.hparams['clip_norm'] == (3.0 if name == 'attention_rnn' else 5.0)
    assert cfg.hparams['attn_length'] == (40 if name == 'attention_rnn' else 0)
    data = cfg.data['params']
    assert data['steps_per_quarter'] == 4 and data['min_bars'] == 7
    assert data['max_steps'] == 512 and data['min_unique_pitches'] == 5
    assert data['transpose_to_key'] == (None if name == 'mono_rnn' else 0)


def test_parse_hparams():
    assert config_lib.parse_hparams('batch_size=64,rnn_layer_sizes=[256, 256],'
                                    'learning_rate=1e-3,flag=true,name=x') == {
        'batch_size': 64, 'rnn_layer_sizes': [256, 256], 'learning_rate': 0.001,
        'flag': True, 'name': 'x'}
    assert config_lib.parse_hparams('') == {}
    for bad in ('batch_size', 'batch_size=', '=3', 'a=[1,2', 'a=1,,b=2', 'a=(1)'):
        with pytest.raises(MusekitError):
            config_lib.parse_hparams(bad)


def test_with_hparams_returns_a_new_config_and_checks_names_and_types():
    base = config_lib.get_config('lookback_rnn')
    tuned = base.with_hparams('batch_size=64,rnn_layer_sizes=[256,256],clip_norm=1')
    assert tuned.hparams['batch_size'] == 64 and list(tuned.hparams['rnn_layer_sizes']) == [256, 256]
    assert tuned.hparams['clip_norm'] == 1.0
    assert base.hparams['batch_size'] == 128   # the named config is untouched
    assert config_lib.get_config('lookback_rnn').hparams['batch_size'] == 128
    with pytest.raises(MusekitError, match='unknown hparam'):
        base.with_hparams('batch_sise=3')
    assert refusal(base.with_hparams, 'batch_size=0.5') == (
        "hparam batch_size=0.5 for config 'lookback_rnn': expected int >= 1")
    assert refusal(base.with_hparams, 'rnn_layer_sizes=7') == (
        "hparam rnn_layer_sizes=7 for config 'lookback_rnn': expected list of int "
        "(each >= 1), 1 to 64 items")


def test_hparams_accept_every_declared_hparam_and_fill_defaults():
    # lookback_rnn's JSON leaves out the learning-rate decay; its family declares it
    base = config_lib.get_config('lookback_rnn')
    assert base.hparams['decay_steps'] is None and base.hparams['decay_rate'] is None
    tuned = base.with_hparams('decay_steps=229,decay_rate=0.9')
    assert (tuned.hparams['decay_steps'], tuned.hparams['decay_rate']) == (229, 0.9)
    # wavenet's declared crop length is its JSON's (they once disagreed: 2048 vs 4096)
    wavenet = config_lib.get_config('wavenet')
    from musekit.models.wavenet import Hparams
    assert Hparams().crop_samples == wavenet.hparams['crop_samples'] == 4096


@pytest.mark.parametrize('name', config_lib.config_names())
def test_every_config_lists_its_hparams_with_values_and_help(name):
    config = config_lib.get_config(name)
    text = '\n'.join(config.describe())
    for key, value in config.hparams.items():
        assert '\n  %s: ' % key in text
    assert text.count('\n  ') >= 2 * len(config.hparams)     # a help line under each


def test_configs_are_immutable_and_round_trip_through_dicts():
    cfg = config_lib.get_config('attention_rnn')
    with pytest.raises(TypeError):
        cfg.hparams['batch_size'] = 1
    d = cfg.to_dict()
    d['hparams']['batch_size'] = 1                      # a copy: the config is unchanged
    assert cfg.hparams['batch_size'] == 128
    again = config_lib.Config.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_config_from_a_json_file(tmp_path):
    d = config_lib.get_config('basic_rnn').to_dict()
    d['name'] = 'my_rnn'
    d['encoder']['params']['max_note'] = 72
    path = tmp_path / 'my_rnn.json'
    path.write_text(json.dumps(d))
    cfg = config_lib.get_config(str(path))
    assert cfg.name == 'my_rnn' and cfg.make_encoder().num_classes == 26
    d['encoder']['name'] = 'bogus'
    path.write_text(json.dumps(d))
    with pytest.raises(MusekitError, match='bogus'):
        config_lib.get_config(str(path))


def test_a_registry_checks_the_base_class_and_names_the_plugin():
    import abc

    class Base(abc.ABC):
        name = None

        @abc.abstractmethod
        def run(self):
            """Abstract."""

    reg = Registry('gadget', base=Base)

    class Good(Base):
        def __init__(self, size=1, colour='red'):
            self.size, self.colour = size, colour

        def run(self):
            return self.size

    class Half(Base):
        pass

    assert reg.register('good')(Good) is Good and Good.name == 'good'
    with pytest.raises(TypeError, match="gadget 'int' must be a subclass of"):
        reg.register('int', int)
    with pytest.raises(TypeError, match='leaves abstract methods unimplemented: run'):
        reg.register('half', Half)
    assert reg.names() == ['good']
    made = reg.create('good', {'size': 3})
    assert (made.size, made.colour) == (3, 'red')
    with pytest.raises(MusekitError, match="bad parameters for gadget 'good': unknown sise; "
                                           'it takes size, colour'):
        reg.create('good', {'sise': 3})
    reg.alias('old_good', 'good')
    assert reg.get('old_good') is Good and 'old_good' in reg and reg.names() == ['good']
    with pytest.raises(ValueError, match='registered twice'):
        reg.alias('good', 'good')


def test_the_built_in_registries_hold_their_plugin_kinds():
    from musekit.encoders.base import Encoder
    from musekit.extractors.base import Extractor
    from musekit.models.base import ModelFamily
    from musekit.pieces.base import PieceType
    from musekit.registry import MODELS, PIECES, SPLITS
    assert all(issubclass(ENCODERS.get(n), Encoder) for n in ENCODERS.names())
    assert all(issubclass(EXTRACTORS.get(n), Extractor) for n in EXTRACTORS.names())
    assert 'events_rnn' in MODELS.names() and issubclass(MODELS.get('rnn'), ModelFamily)
    assert 'melody' in PIECES.names() and issubclass(PIECES.get('melody'), PieceType)
    assert 'hash' in SPLITS.names()
    with pytest.raises(TypeError, match='must be a subclass of musekit.encoders.base.Encoder'):
        ENCODERS.register('not_an_encoder', dict)


def test_every_melody_encoder_declares_its_step_specs():
    for name, sizes in EXPECTED_SIZES.items():
        encoder = config_lib.get_config(name).make_encoder()
        assert encoder.piece_type == 'melody'
        assert encoder.input_spec.dtype == 'float32' and encoder.input_spec.shape == (sizes[0],)
        assert (encoder.label_spec.dtype, encoder.label_spec.shape, encoder.label_spec.depth) \
            == ('int64', (), sizes[1])
        inputs, labels = encoder.encode([60, -2, 62, -1, 64])
        assert inputs.shape == (4, *encoder.input_spec.shape) and inputs.dtype == np.float32
        assert labels.shape == (4, *encoder.label_spec.shape) and labels.dtype == np.int64


def test_a_config_from_a_registered_json_path(tmp_path):
    d = json.loads(json.dumps(config_lib.get_config('basic_rnn').to_dict()))
    d['name'] = 'from_a_path'
    path = tmp_path / 'from_a_path.json'
    path.write_text(json.dumps(d))
    config_lib.CONFIGS.register('from_a_path', str(path))
    assert config_lib.get_config('from_a_path').name == 'from_a_path'


def test_configs_that_break_the_contracts_fail_in_one_line(tmp_path, monkeypatch):
    from musekit.encoders.base import StepSpec
    from musekit.encoders.melody import OneHotMelodyEncoder
    base = config_lib.get_config('basic_rnn').to_dict()
    path = tmp_path / 'c.json'

    def error_of(changes):
        d = json.loads(json.dumps(base))
        for section, value in changes.items():
            d['data' if section == 'split' else section].update(
                {'split': value} if section == 'split' else value)
        path.write_text(json.dumps(d))
        with pytest.raises(MusekitError) as e:
            config_lib.get_config(str(path))
        return str(e.value)
    assert 'data.split must be an object' in error_of({'split': {'name': 'hash',
                                                                 'params': [0.2]}})
    with pytest.raises(MusekitError, match='a JSON object of name: value'):
        ENCODERS.create('one_hot_melody', [48, 84])
    monkeypatch.setattr(OneHotMelodyEncoder, 'piece_type', 'no_such_piece')
    assert "encoder 'one_hot_melody' names piece type 'no_such_piece'; known: " \
        in error_of({})
    monkeypatch.setattr(OneHotMelodyEncoder, 'piece_type', 'melody')
    monkeypatch.setattr(OneHotMelodyEncoder, 'label_spec',
                        property(lambda self: StepSpec('float32', (2,))))
    assert "declares float32 labels; labels are int64" in error_of({})


def test_an_extractor_may_not_name_its_output_like_the_read_counter(monkeypatch):
    from musekit.extractors.melody import MelodyExtractor
    monkeypatch.setattr(MelodyExtractor, 'output_name', 'sequences')
    with pytest.raises(MusekitError, match="output_name cannot be 'sequences'"):
        config_lib.get_config('basic_rnn')


def test_registry_refusals_are_whole_messages():
    import abc

    class Base(abc.ABC):
        name = None

        @abc.abstractmethod
        def run(self):
            """Abstract."""

        @abc.abstractmethod
        def fit(self):
            """Abstract."""

    class Half(Base):
        pass

    reg = Registry('gadget', base=Base)
    messages = []
    for call, args in ((reg.register, ('', Half)), (reg.register, (5, Half)),
                       (reg.register, ('int', int)), (reg.register, ('half', Half))):
        with pytest.raises((TypeError, ValueError)) as e:
            call(*args)
        messages.append(str(e.value))
    assert messages == [
        "a gadget name is a non-empty string, not ''",
        'a gadget name is a non-empty string, not 5',
        "gadget 'int' must be a subclass of %s.%s, not <class 'int'>" % (
            Base.__module__, Base.__qualname__),
        "gadget 'half' (test_registry_refusals_are_whole_messages.<locals>.Half) leaves "
        'abstract methods unimplemented: fit, run']
    plain = Registry('thing')
    plain.register('a', int)
    with pytest.raises(ValueError) as e:
        plain.register('a', str)
    assert str(e.value) == "thing 'a' is registered twice"
    plain.alias('old', 'a')
    plain.alias('old', 'a')                 # the same alias again is harmless (re-import)
    with pytest.raises(ValueError) as e:
        plain.alias('old', 'b')             # but not one name for two plugins
    assert str(e.value) == "thing 'old' is registered twice"
    assert plain.get('old') is int


def test_builtins_load_on_first_lookup_from_a_callable_or_a_package(tmp_path, monkeypatch):
    calls = []
    reg = Registry('thing', builtins=lambda: calls.append(reg.register('made', dict)))
    assert calls == []                      # nothing is loaded at construction
    assert reg.get('made') is dict and 'made' in reg and reg.names() == ['made']
    assert len(calls) == 1
    package = tmp_path / 'toy_plugins'
    package.mkdir()
    (package / '__init__.py').write_text('')
    (package / 'public.py').write_text(
        "from toy_registry import TOY\nTOY.register('public', list)\n")
    (package / '_private.py').write_text("raise AssertionError('private modules are skipped')\n")
    (tmp_path / 'toy_registry.py').write_text(
        "from musekit.registry import Registry\nTOY = Registry('toy', builtins='toy_plugins')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from toy_registry import TOY
    assert TOY.names() == ['public'] and TOY.get('public') is list


class FakeEntryPoint:
    """What importlib.metadata.entry_points yields: a name, a value and `load`."""

    def __init__(self, name, obj):
        self.name, self.value, self.obj = name, 'plugins_%s' % name, obj

    def load(self):
        if isinstance(self.obj, Exception):
            raise self.obj
        return self.obj


def fake_entry_points(monkeypatch, *entry_points):
    """Makes the `musekit.plugins` group hold `entry_points`, none tried yet; returns the
    keyword arguments of each listing."""
    import importlib.metadata

    from musekit import registry as registry_lib
    groups = []

    def entry_points_of(**kwargs):
        groups.append(kwargs)
        return list(entry_points) if kwargs.get('group') == 'musekit.plugins' else []

    monkeypatch.setattr(importlib.metadata, 'entry_points', entry_points_of)
    monkeypatch.setattr(registry_lib, '_entry_points', None)
    monkeypatch.setattr(registry_lib, '_entry_point_outcomes', {})
    return groups


def test_entry_point_plugins_load_once_and_callables_are_called(monkeypatch, capsys):
    reg = Registry('thing')
    calls = []

    def register_plugin():
        calls.append('called')
        reg.register('plugged', dict)

    not_callable = object()                 # a module-like entry point is imported, not called
    groups = fake_entry_points(monkeypatch, FakeEntryPoint('module', not_callable),
                               FakeEntryPoint('function', register_plugin))
    assert reg.get('plugged') is dict
    assert reg.names() == ['plugged'] and 'plugged' in reg
    assert calls == ['called'] and groups == [{'group': 'musekit.plugins'}]
    from musekit.registry import plugin_failures
    assert plugin_failures() == {} and capsys.readouterr().err == ''


def test_a_plugin_that_fails_to_load_is_one_line_and_the_others_still_load(monkeypatch,
                                                                          capsys):
    from musekit.registry import plugin_failures
    reg = Registry('thing')
    tried = []

    def plugin(name, error=None):
        def register():
            tried.append(name)
            if error:
                raise error
            reg.register(name, dict)
            if name == 'first':             # a lookup while loading meets the later plugins
                tried.append(sorted(reg.names()))
        return register

    fake_entry_points(
        monkeypatch, FakeEntryPoint('first', plugin('first')),
        FakeEntryPoint('missing', ModuleNotFoundError("No module named 'gone'")),
        FakeEntryPoint('raising', plugin('raising', ValueError('bad colour\nsecond line'))),
        FakeEntryPoint('last', plugin('last')))
    assert reg.names() == ['first', 'last']
    assert tried == ['first', 'raising', 'last', ['first', 'last']]
    assert capsys.readouterr().err.splitlines() == [
        'musekit: plugin missing (entry point missing = plugins_missing) failed to load and '
        "is skipped: ModuleNotFoundError: No module named 'gone'",
        'musekit: plugin raising (entry point raising = plugins_raising) failed to load and '
        'is skipped: ValueError: bad colour']
    assert plugin_failures() == {
        'missing = plugins_missing': "ModuleNotFoundError: No module named 'gone'",
        'raising = plugins_raising': 'ValueError: bad colour'}
    with pytest.raises(UnknownNameError) as e:
        reg.get('raising')
    assert str(e.value) == ("unknown thing 'raising'; known: first, last; plugins that failed "
                            'to load: missing = plugins_missing, raising = plugins_raising')
    assert 'x' not in Registry('other') and len(tried) == 4   # each entry point tried once
    assert capsys.readouterr().err == ''


def test_a_broken_installed_plugin_is_one_line_and_the_next_one_loads(tmp_path):
    """Real entry points (a dist-info folder on the path): the broken one comes first."""
    import os
    import subprocess
    import sys
    dist = tmp_path / 'two_plugins-1.0.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text('Metadata-Version: 2.1\nName: two-plugins\nVersion: 1.0\n')
    (dist / 'entry_points.txt').write_text(
        '[musekit.plugins]\nbroken = broken_plugin\nworking = working_plugin:register\n')
    (tmp_path / 'broken_plugin.py').write_text('import no_such_module_for_musekit\n')
    config = dict(config_lib.get_config('basic_rnn').to_dict(), name='plugged_rnn')
    (tmp_path / 'working_plugin.py').write_text(
        'def register():\n    from musekit.config import CONFIGS\n'
        '    CONFIGS.register("plugged_rnn", %r)\n' % json.dumps(config))
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'musekit_train'), '--config=plugged_rnn',
         '--hparams=help'], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert 'rnn_layer_sizes' in proc.stdout
    assert proc.stderr.splitlines() == [
        'musekit: plugin broken (entry point broken = broken_plugin) failed to load and is '
        "skipped: ModuleNotFoundError: No module named 'no_such_module_for_musekit'"]


def test_a_class_may_not_stub_abstract_methods_but_may_declare_a_capability_off():
    import abc

    class Base(abc.ABC):
        name = None
        trains = True

        @abc.abstractmethod
        def run(self):
            """Abstract."""

        @abc.abstractmethod
        def fit(self):
            """Abstract."""

    reg = Registry('gadget', base=Base, capabilities={'trains': ('fit',)})

    def stub(self):
        raise NotImplementedError

    class Stubbed(Base):
        run = fit = stub

    class RunsOnly(Base):
        trains = False

        def run(self):
            return 'ran'

    class SaysOffButFits(RunsOnly):
        def fit(self):
            return 'fitted'

    class SaysMaybe(RunsOnly):
        trains = 'no'

    class SaysOnButInherits(RunsOnly):
        trains = True

    class Fits(Base):
        def run(self):
            return 'ran'

        def fit(self):
            return 'fitted'

    assert reg.register('runs_only', RunsOnly) is RunsOnly
    assert reg.register('runs_only', RunsOnly) is RunsOnly      # a re-import is harmless
    assert RunsOnly().run() == 'ran'
    assert refusal(RunsOnly().fit) == 'gadget runs_only has no fit: it declares trains = False'
    assert reg.register('fits', Fits)().fit() == 'fitted'
    messages = []
    for name, cls in (('stubbed', Stubbed), ('says_off_but_fits', SaysOffButFits),
                      ('says_maybe', SaysMaybe), ('says_on_but_inherits', SaysOnButInherits)):
        with pytest.raises(TypeError) as e:
            reg.register(name, cls)
        messages.append(str(e.value).split(') ', 1)[1])
    assert messages == [
        'stubs fit, run with one function; a gadget that lacks a capability declares it off '
        '(trains = False)',
        'declares trains = False yet defines fit',
        "declares trains = 'no'; it is True or False",
        'declares trains = True but does not define fit']
    assert reg.names() == ['fits', 'runs_only']
    plain = Registry('gizmo', base=Base)                # no capabilities: stubs refused too
    with pytest.raises(TypeError, match='stubs fit, run with one function.*this registry has '
                                        'none'):
        plain.register('stubbed', Stubbed)


def test_a_generate_only_family_is_declared_and_musekit_train_refuses_it(tmp_path, capsys):
    from musekit.cli import train as cli
    from musekit.registry import MODELS
    family = MODELS.create('magenta_attention_rnn')
    assert family.trainable is False and MODELS.create('events_rnn').trainable is True
    assert refusal(family.build, None, {}) == (
        'model family magenta_attention_rnn has no build: it declares trainable = False')
    config = config_lib.get_config('attention_rnn').to_dict()
    config['model'] = {'name': 'magenta_attention_rnn'}
    path = tmp_path / 'imported.json'
    path.write_text(json.dumps(config))
    with pytest.raises(SystemExit) as exit_info:
        cli.run(['musekit_train', '--config=%s' % path, '--run_dir=%s' % (tmp_path / 'run'),
                 '--sequence_example_file=%s' % (tmp_path / 'none-*')])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        'musekit_train: error: config attention_rnn: model family magenta_attention_rnn '
        'generates only (it declares trainable = False) and cannot be trained\n')
    assert not (tmp_path / 'run').exists()


def test_registry_lookup_and_create_refusals_are_whole_messages():
    class Good:
        def __init__(self, size, colour='red'):
            self.size, self.colour = size, colour

    class Bare:
        pass

    class Open:
        def __init__(self, size=1, **extra):
            self.size, self.extra = size, extra

    reg = Registry('gadget')
    reg.register('good', Good)
    reg.register('bare', Bare)
    reg.register('open', Open)
    with pytest.raises(UnknownNameError) as e:
        reg.get('nope')
    assert str(e.value) == "unknown gadget 'nope'; known: bare, good, open"
    with pytest.raises(UnknownNameError) as e:
        Registry('widget').get('nope')
    assert str(e.value) == "unknown widget 'nope'; known: (none)"
    assert refusal(reg.create, 'good', [1]) == (
        "bad parameters for gadget 'good': a JSON object of name: value, not [1]")
    assert refusal(reg.create, 'good', {'size': 1, 'sise': 3, 'color': 'b'}) == (
        "bad parameters for gadget 'good': unknown color, sise; it takes size, colour")
    assert refusal(reg.create, 'bare', {'size': 1}) == (
        "bad parameters for gadget 'bare': unknown size; it takes no parameters")
    assert refusal(reg.create, 'good', {'colour': 'blue'}) == (
        "bad parameters for gadget 'good': missing a required argument: 'size'")
    made = reg.create('open', {'size': 2, 'anything': 3})
    assert (made.size, made.extra) == (2, {'anything': 3})


def test_a_config_names_its_default_transposition_augmentation():
    assert config_lib.get_config('performance_with_dynamics').transpose_range() == '-3,3'
    assert config_lib.get_config('lookback_rnn').transpose_range() == ''
    d = config_lib.get_config('basic_rnn').to_dict()
    for bad in ([3, -3], [-25, 0], [0], [0.5, 1], '-3,3', [True, 2]):
        d['data']['transpose_range'] = bad
        with pytest.raises(MusekitError, match=r'data.transpose_range must be \[LOW, HIGH\]'):
            config_lib.Config.from_dict(d).transpose_range()
    d['data']['transpose_range'] = [-2, 0]
    assert config_lib.Config.from_dict(d).transpose_range() == '-2,0'
