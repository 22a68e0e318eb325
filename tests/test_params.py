"""Typed, declared parameters (musekit.params): binding, conversion, bounds and the one-line
refusals that name a field's type and bounds."""
import dataclasses
import typing

import pytest

from musekit import params
from musekit.params import param
from refusals import refusal


@dataclasses.dataclass
class Demo:
    sizes: list[int] = param([128, 128], 'LSTM widths', min=1, min_items=1,
                             architecture=True)
    dropout_rate: float = param(0.5, 'dropout', min=0.0, below=1.0)
    mode: typing.Literal['step', 'sigmoid'] = param('step', 'output')
    decay_steps: int | None = param(None, 'decay every N steps', min=1)
    recurrent: bool = param(False, 'recurrent weights', architecture=True)


def test_defaults_fill_what_values_leave_out_and_are_not_shared():
    a = params.bind(Demo, {}, 'hparam')
    b = params.bind(Demo, {'dropout_rate': 0}, 'hparam')
    assert params.as_dict(a) == {'sizes': [128, 128], 'dropout_rate': 0.5, 'mode': 'step',
                                 'decay_steps': None, 'recurrent': False}
    a.sizes.append(1)
    assert b.sizes == [128, 128]
    assert b.dropout_rate == 0.0 and isinstance(b.dropout_rate, float)


def test_tuples_become_lists_and_ints_stay_ints():
    bound = params.bind(Demo, {'sizes': (3, 4), 'decay_steps': 229}, 'hparam')
    assert bound.sizes == [3, 4] and type(bound.sizes) is list
    assert bound.decay_steps == 229


@pytest.mark.parametrize('values, message', [
    ({'sizes': []}, "hparam sizes=[] for config 'c': expected list of int (each >= 1), "
                    "at least 1 item"),
    ({'sizes': [64, 0]}, "hparam sizes=[64, 0] for config 'c': expected list of int "
                         "(each >= 1), at least 1 item"),
    ({'sizes': [1.5]}, "hparam sizes=[1.5] for config 'c': expected list of int (each >= 1), "
                       "at least 1 item"),
    ({'dropout_rate': 1.0}, "hparam dropout_rate=1.0 for config 'c': expected float >= 0.0, "
                            "< 1.0"),
    ({'dropout_rate': -0.1}, "hparam dropout_rate=-0.1 for config 'c': expected float >= 0.0, "
                             "< 1.0"),
    ({'dropout_rate': float('nan')}, "hparam dropout_rate=nan for config 'c': expected float "
                                     ">= 0.0, < 1.0"),
    ({'dropout_rate': True}, "hparam dropout_rate=True for config 'c': expected float >= 0.0, "
                             "< 1.0"),
    ({'mode': 'spike'}, "hparam mode='spike' for config 'c': expected one of 'step', "
                        "'sigmoid'"),
    ({'decay_steps': 0}, "hparam decay_steps=0 for config 'c': expected int >= 1 or null"),
    ({'recurrent': 1}, "hparam recurrent=1 for config 'c': expected bool"),
    ({'sizez': [1]}, "unknown hparam 'sizez' for config 'c'; known: decay_steps, "
                     "dropout_rate, mode, recurrent, sizes"),
])
def test_refusals_name_the_field_its_type_and_bounds(values, message):
    assert refusal(params.bind, Demo, values, 'hparam', "for config 'c'") == message


def test_a_huge_value_is_shown_short():
    message = refusal(params.bind, Demo, {'sizes': 'x' * 1_000_000}, 'hparam')
    assert len(message) < 200


def test_architecture_names_and_listing():
    assert params.architecture_names(Demo) == ('sizes', 'recurrent')
    lines = params.describe(Demo, {'dropout_rate': 0.25}, 'hparams of demo')
    assert lines[0] == 'hparams of demo'
    text = '\n'.join(lines)
    assert '= 0.25 (default 0.5)' in text
    assert '= [128, 128]\n' in text and 'LSTM widths' in text
    assert "mode: one of 'step', 'sigmoid'" in text


def test_infinity_only_where_declared_and_nan_never():
    @dataclasses.dataclass
    class Gaps:
        gap: float = param(1.0, 'bars of silence (inf: never)', above=0.0, infinite=True)
        rate: float = param(0.1, 'a rate', above=0.0)
    assert params.bind(Gaps, {'gap': float('inf')}, 'parameter').gap == float('inf')
    assert refusal(params.bind, Gaps, {'rate': float('inf')}, 'parameter') == (
        'parameter rate=inf: expected float > 0.0')
    assert refusal(params.bind, Gaps, {'gap': float('nan')}, 'parameter') == (
        'parameter gap=nan: expected float > 0.0')
