"""Improv RNN primers and generation as Magenta's improv_rnn_generate makes them
(improv_primers.json, by tests/data/magenta/make_improv_primer_references.py from Magenta
2.1.4's own run_with_flags on the improv .mag files here): the primer melody musekit's
model is given is the one Magenta's generator gives its own (through the step where it
starts generating, in its floating-point rounding: [60, -1, -2] for [60] at 120 qpm, one
step fewer where the float sum falls short), for --primer_melody at several tempos and
--primer_midi files; every input row the step model is fed while generating is the row
Magenta's graph was fed; and at temperature 1e-4 (argmax) musekit_generate writes the notes,
rendered chords and tempo Magenta wrote from the same .mag, chords and primer."""
import json
import os

import pretty_midi
import pytest

from musekit.bundle import load_bundle
from musekit.config import get_config
from musekit.generation import sample
from musekit.pieces.lead_sheet import LeadSheetPiece
from magenta_refs import RecordingModel, recorded_primer_flags
from test_generation import run_cli

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'magenta')
_cases = []


def cases():
    if not _cases:
        with open(os.path.join(DATA, 'improv_primers.json')) as f:
            _cases.extend(json.load(f)['cases'])
    return _cases


def case_flags(case, folder):
    """musekit_generate's flags for a case (its primer MIDI written into `folder`)."""
    flags = ['--backing_chords=' + case['backing_chords'],
             '--steps_per_chord=%d' % case['steps_per_chord']]
    flags += recorded_primer_flags(case, folder, 'primer_melody')
    if case['render_chords']:
        flags.append('--render_chords')
    return flags


def piece_options(case, folder):
    values = {flag.name: flag.default for flag in LeadSheetPiece.flags}
    for flag in case_flags(case, folder):
        name, _, value = flag[2:].partition('=')
        values[name] = {'qpm': float, 'steps_per_chord': int}.get(name, str)(value) \
            if value else True
    return values


def primer(case, folder, encoder=None):
    """(the piece, its primer events) of a case's flags."""
    config = get_config(case['config'])
    piece = LeadSheetPiece(encoder or config.make_encoder(), config.make_extractor())
    return piece, piece.primer(piece_options(case, folder))


MAGENTAS = [i for i, case in enumerate(cases()) if 'error' not in case]


@pytest.mark.parametrize('index', MAGENTAS)
def test_primers_are_magentas(tmp_path, index):
    case = cases()[index]
    assert case['primer_start_step'] == 0 and case['backing_start_step'] == 0
    piece, events = primer(case, tmp_path)
    assert [m for m, _ in events] == case['primer']
    assert list(events[0][1].chords) == case['backing']


def test_the_cases_probe_the_rounding():
    """[60, 62, 64, 65] at 133 qpm: Magenta starts a step earlier than at 120 (its float
    sum falls just short of step 5); the MIDI primers count their notes' unquantized ends."""
    by = {(c['primer_melody'], c['qpm']): c['primer'] for c in cases() if 'primer' in c}
    assert by[('[60, 62, 64, 65]', 133.0)] == [60, 62, 64, 65, -1]
    assert by[('[60, 62, 64, 65]', 120.0)] == [60, 62, 64, 65, -1, -2]
    assert by[('[60]', None)] == [60, -1, -2]


def test_where_magenta_fails_musekit_goes_on(tmp_path):
    """Magenta's generator fails an assertion on a primer without notes and on one whose
    melody starts after its first bar; musekit primes with one silent step, and with the
    melody from its first note's bar."""
    failing = {c['primer_melody'] or 'midi': c for c in cases() if 'error' in c}
    assert sorted(failing) == ['[-2, -2]', 'midi']
    assert all(c['error'].startswith('AssertionError') for c in failing.values())
    assert [m for m, _ in primer(failing['[-2, -2]'], tmp_path)[1]] == [-2]
    assert [m for m, _ in primer(failing['midi'], tmp_path)[1]] == [-2, 60, -2, -1, 62, -2,
                                                                   -1, -2]


def written(path):
    pm = pretty_midi.PrettyMIDI(path)
    notes = sorted([n.pitch, round(n.start, 6), round(n.end, 6), n.velocity, i.program]
                   for i in pm.instruments for n in i.notes)
    return notes, pm.get_tempo_changes()[1].tolist()


@pytest.mark.parametrize('index', MAGENTAS)
def test_generate_writes_what_magenta_wrote(tmp_path, capsys, index):
    """Same melody (primer and argmax continuation), rendered chord notes and tempo as
    Magenta's output MIDI. Two differences on purpose: an explicit --qpm with a primer MIDI
    (Magenta plays the file's tempo even then; musekit writes --qpm), and musekit renders
    the chords through the whole piece, where Magenta's BasicChordRenderer stops at its
    sequence's total_time, the last melody note's end (so here, musekit's chord notes cut
    there are Magenta's)."""
    case = cases()[index]
    out = tmp_path / 'out'
    status, _, err = run_cli(capsys, '--bundle_file=' + os.path.join(
        DATA, case['config'] + '_chorales30.mag'), '--output_dir=%s' % out,
        '--num_outputs=1', '--temperature=0.0001', '--seed=1', *case_flags(case, tmp_path))
    assert status == 0, err
    notes, tempos = written(str(out / 'lead_sheet_01.mid'))
    want = [n[:3] + [n[3], n[5]] for n in case['output']['notes']]
    if case['primer_midi'] and case['qpm']:
        scale = case['output']['qpm'][0] / case['qpm']
        want = [[p, round(s * scale, 6), round(e * scale, 6), v, g] for p, s, e, v, g in want]
        assert tempos == pytest.approx([case['qpm']])
    else:
        assert tempos == pytest.approx(case['output']['qpm'])
    melody_end = max(e for p, s, e, v, g in want if g == 0)
    notes = sorted([p, s, min(e, melody_end + 1e-5), v, g] for p, s, e, v, g in notes
                   if s < melody_end - 1e-5)
    assert [[p, pytest.approx(s, abs=1e-4), pytest.approx(e, abs=1e-4), v, g]
            for p, s, e, v, g in notes] == want
    generated = case['generated']
    assert len(generated) == case['steps_per_chord'] * len(case['backing_chords'].split())


@pytest.mark.parametrize('index', MAGENTAS)
def test_the_model_is_fed_what_magentas_was(tmp_path, index):
    """Every input row musekit's step model is fed while generating (primer, then each
    generated step, each with the chord under the next step) equals the row Magenta's graph
    was fed, to the last entry, in all three configs."""
    case = cases()[index]
    bundle = load_bundle(os.path.join(DATA, case['config'] + '_chorales30.mag'))
    encoder = bundle.make_encoder()
    piece, events = primer(case, tmp_path, encoder)
    moved, _ = piece.to_model(events)
    model = RecordingModel(bundle.step_model(encoder))
    total = case['steps_per_chord'] * len(case['backing_chords'].split())
    result = sample(model, encoder, moved, total, num_outputs=1, temperature=1e-4, seed=1)
    assert [e for e, _ in result.events[0]] == case['generated']
    fed = [[[i, float(v)] for i, v in enumerate(row) if v] for row in model.fed]
    assert fed == case['fed']
