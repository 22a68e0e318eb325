"""Melody RNN primers and generation as Magenta's melody_rnn_generate makes them
(melody_primers.json, by tests/data/magenta/make_melody_primer_references.py from Magenta
2.1.4's own run_with_flags on basic_rnn_chorales150.mag and attention_rnn_chorales150.mag):
the primer melody musekit's model is given is the one Magenta's generator gives its own
(through the step where it starts generating, in its floating-point rounding: [60, -1, -2]
for [60] at 120 qpm), for --primer_melody at several tempos, the default primer and
--primer_midi files (off-grid note ends, their own tempo, chords, a melody in bar 2); it is
moved into the model's key and range as Magenta's Melody.squash moves it; every input row
the step model is fed equals Magenta's; and at temperature 1e-4 (argmax) musekit_generate
writes the notes and tempo Magenta wrote."""
import json
import os

import pretty_midi
import pytest

from musekit.bundle import load_bundle
from musekit.generation import sample
from musekit.pieces.melody import MelodyPiece
from magenta_refs import RecordingModel, recorded_primer_flags
from test_generation import run_cli

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'magenta')
_cases = []
_bundles = {}


def cases():
    if not _cases:
        with open(os.path.join(DATA, 'melody_primers.json')) as f:
            _cases.extend(json.load(f)['cases'])
    return _cases


def bundle(config):
    if config not in _bundles:
        _bundles[config] = load_bundle(os.path.join(DATA, config + '_chorales150.mag'))
    return _bundles[config]


def case_flags(case, folder):
    """musekit_generate's flags for a case (its primer MIDI written into `folder`)."""
    return recorded_primer_flags(case, folder, 'primer_melody')


def primer(case, folder):
    """(the piece, its primer events) of a case's flags, with the case's bundle."""
    b = bundle(case['config'])
    piece = MelodyPiece(b.make_encoder(), b.config.make_extractor())
    options = {flag.name: flag.default for flag in MelodyPiece.flags}
    for flag in case_flags(case, folder):
        name, _, value = flag[2:].partition('=')
        options[name] = float(value) if name == 'qpm' else value
    return piece, piece.primer(options)


INDICES = range(len(cases()))


def test_magenta_made_every_case():
    assert len(cases()) == 22 and not any('error' in c for c in cases())


@pytest.mark.parametrize('index', INDICES)
def test_primers_are_magentas(tmp_path, index):
    case = cases()[index]
    _, events = primer(case, tmp_path)
    assert events == case['primer']


def test_the_cases_probe_the_rounding():
    """Hand-checked: a note-off and a silent step after the last note at 120 qpm; a step
    fewer at 133 qpm (the float sum falls short); MIDI primers count their notes'
    unquantized ends at the file's tempo; a melody in bar 2 starts on its bar line."""
    by = {(c['config'], c['primer_melody'], c['primer_midi_kind'], c['qpm']): c
          for c in cases()}
    basic = 'basic_rnn'
    assert by[(basic, None, None, None)]['primer'] == [60, -1, -2]
    assert by[(basic, '[60, 62, 64, 65]', None, 133.0)]['primer'] == [60, 62, 64, 65, -1]
    assert by[(basic, '[60, 62, 64, 65]', None, 120.0)]['primer'] == [60, 62, 64, 65, -1, -2]
    assert by[(basic, '[-2, -2]', None, None)]['primer'] == [-2]
    assert by[(basic, None, 'ragged', None)]['primer'] == [64, -2, -2, 62, -2, -2, -1]
    late = by[(basic, None, 'late', None)]
    assert late['primer'] == [-2, 60, -2, -1, 62, -2, -1, -2]
    assert late['primer_start_step'] == 16


@pytest.mark.parametrize('index', INDICES)
def test_the_primer_is_moved_as_magentas(tmp_path, index):
    """Into the model's key and range as note_seq's Melody.squash moves it (the amount
    too: +5 and -6 in two cases here, notes folded by octaves in one)."""
    case = cases()[index]
    piece, events = primer(case, tmp_path)
    moved, amount = piece.to_model(events)
    assert moved == case['squashed'] and amount == case['transpose_amount']
    # back by the same amount (a note folded into the range stays folded, as in Magenta)
    assert piece.from_model(moved, amount) == [e - amount if e >= 0 else e for e in moved]


@pytest.mark.parametrize('index', INDICES)
def test_the_model_is_fed_what_magentas_was(tmp_path, index):
    """Every input row (primer, then each generated step) equals the row Magenta's graph
    was fed, and the argmax continuation is Magenta's, moved back to the primer's key."""
    case = cases()[index]
    b = bundle(case['config'])
    piece, events = primer(case, tmp_path)
    moved, amount = piece.to_model(events)
    model = RecordingModel(b.step_model(piece.encoder))
    result = sample(model, piece.encoder, moved, case['model_num_steps'], num_outputs=1,
                    temperature=1e-4, seed=1)
    assert piece.from_model(list(result.events[0]), amount) == case['generated']
    fed = [[[i, float(v)] for i, v in enumerate(row) if v] for row in model.fed]
    assert fed == case['fed']


def written(path):
    pm = pretty_midi.PrettyMIDI(path)
    notes = sorted([n.pitch, round(n.start, 6), round(n.end, 6), n.velocity]
                   for i in pm.instruments for n in i.notes)
    return notes, pm.get_tempo_changes()[1].tolist()


@pytest.mark.parametrize('index', INDICES)
def test_generate_writes_what_magenta_wrote(tmp_path, capsys, index):
    """Same notes (primer and argmax continuation) and tempo as Magenta's output MIDI, with
    --num_steps as the length Magenta's model was asked for. Differences on purpose: with an
    explicit --qpm and a primer MIDI, Magenta plays the file's tempo, musekit --qpm; a
    melody starting after its first bar is written from its bar (Magenta writes the silent
    bars before it); a primer without notes is one silent step from step 0 (Magenta's
    starts a step later)."""
    case = cases()[index]
    out = tmp_path / 'out'
    status, _, err = run_cli(capsys, '--bundle_file=' + os.path.join(
        DATA, case['config'] + '_chorales150.mag'), '--output_dir=%s' % out,
        '--num_outputs=1', '--temperature=0.0001', '--seed=1',
        '--num_steps=%d' % case['model_num_steps'], *case_flags(case, tmp_path))
    assert status == 0, err
    notes, tempos = written(str(out / 'melody_01.mid'))
    want = case['output']['notes']
    offset = case['primer_start_step'] * 60.0 / case['output']['qpm'][0] / 4
    scale = 1.0
    if case['primer_midi'] and case['qpm']:
        scale = case['output']['qpm'][0] / case['qpm']
        assert tempos == pytest.approx([case['qpm']])
    else:
        assert tempos == pytest.approx(case['output']['qpm'])
    want = [[p, round((s - offset) * scale, 6), round((e - offset) * scale, 6), v]
            for p, s, e, v in want]
    assert [[p, pytest.approx(s, abs=1e-4), pytest.approx(e, abs=1e-4), v]
            for p, s, e, v in notes] == want
