"""The piano-roll piece type's --primer_pitches (Magenta's pianoroll_rnn_nade flag): a chord
held for a quarter note at the model's grid, refused in one line when it does not fit."""
import pretty_midi
import pytest

from musekit.config import get_config
from musekit.errors import MusekitError
from musekit.pieces.piano_roll import PianoRollPiece
from test_generation import run_cli

OPTIONS = dict(primer_midi=None, primer_pitches=None, sampling=None, qpm=120.0,
               render_wav=False, plot=False)


def piece_of(config_name, **options):
    config = get_config(config_name)
    return (PianoRollPiece(config.make_encoder(), config.make_extractor()),
            dict(OPTIONS, **options))


@pytest.mark.parametrize('config_name, frames', [('rnn-nade', 4), ('ssnu_jsb', 1)])
def test_a_chord_held_for_a_quarter_note_on_the_models_grid(config_name, frames):
    piece, options = piece_of(config_name, primer_pitches='[67, 60, 64]')
    assert piece.primer(options) == [(60, 64, 67)] * frames
    piece, options = piece_of(config_name)
    assert piece.primer(options) == [()]           # no primer: one silent frame


@pytest.mark.parametrize('options, message', [
    ({'primer_pitches': '[60, 64,'}, 'malformed --primer_pitches'),
    ({'primer_pitches': '[' * 50000}, 'malformed --primer_pitches'),
    ({'primer_pitches': '[60, 200]'}, '--primer_pitches: 200 is not a MIDI pitch (0..127)'),
    ({'primer_pitches': '[60, 60]'}, '--primer_pitches lists a pitch twice'),
    ({'primer_pitches': '[20, 60]'}, "--primer_pitches: 20 is outside the model's keys 21..108"),
    ({'primer_pitches': '[60]', 'primer_midi': 'x.mid'},
     'give one of --primer_midi and --primer_pitches'),
])
def test_refusals_are_one_line(options, message):
    piece, options = piece_of('rnn-nade', **options)
    with pytest.raises(MusekitError) as info:
        piece.primer(options)
    assert message in str(info.value) and '\n' not in str(info.value)
    assert len(str(info.value)) < 200


def test_generation_from_the_shipped_rnn_nade_keeps_the_chord(tmp_path, capsys):
    status, out, err = run_cli(capsys, '--bundle_file=rnn_nade_jsb', '--output_dir=%s' % tmp_path,
                               '--num_outputs=2', '--num_steps=8', '--seed=3',
                               '--primer_pitches=[55, 62, 71]')
    assert status == 0, err
    for name in ('piece_01.mid', 'piece_02.mid'):
        midi = pretty_midi.PrettyMIDI(str(tmp_path / name))
        notes = [n for i in midi.instruments for n in i.notes]
        # one frame per quarter note at 120 qpm: the chord sounds from 0 for at least 0.5 s
        opening = sorted(n.pitch for n in notes if n.start == 0)
        assert opening == [55, 62, 71]
        assert all(n.end >= 0.5 - 1e-6 for n in notes if n.start == 0)
