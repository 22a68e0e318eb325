"""The shipped Improv RNN bundle (bundles/basic_improv.musekit): it loads, says how it was
trained, prefers a chorale melody over its own (inferred) chords to the same melody over
chords a tritone away, and the README's command writes lead sheets over the chords given."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from musekit.bundle import load_bundle
from musekit.config import get_config
from test_shipped_bundles import mean_log_likelihood

BUNDLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'bundles',
                      'basic_improv.musekit')
MAX_BYTES = 2 << 20


@pytest.fixture(scope='module')
def lead_sheets():
    """The untransposed lead sheets of two chorales (bwv1.6 and bwv111.6), with
    the chords note_seq infers, as the data job extracts them."""
    from musekit.data import sources
    from musekit.extractors.base import get_extractor
    config = get_config('basic_improv')
    encoder = config.make_encoder()
    extractor = get_extractor('lead_sheet', dict(config.data['params'],
                                                 all_transpositions=False))
    out = []
    for name in ('bwv1.6.mxl', 'bwv111.6.mxl'):
        path = os.path.join(sources.music21_corpus_dir('bach'), name)
        source = [s for s in sources.list_sources('music21:bach') if s.relpath == name][0]
        (sequence,) = sources.parse(source, sources.read_bounded(path))
        pieces, _ = extractor.prepare(sequence)
        for piece in pieces:
            out += extractor.extract(piece, encoder)[0]
    return out


def test_bundle_loads_and_records_its_training():
    assert os.path.getsize(BUNDLE) < MAX_BYTES
    bundle = load_bundle(BUNDLE)
    assert bundle.config.name == 'basic_improv'
    assert bundle.config.model['name'] == 'events_rnn'
    facts = bundle.provenance
    assert facts['training_steps'] >= 1000
    description = facts['dataset_description']
    assert 'bach' in description['input'] and description['config'] == 'basic_improv'
    assert description['counters']['chords_inferred'] > 1000
    assert description['counters']['training_lead_sheets'] > 1000
    # the recorded eval loss is far below guessing uniformly among the 38 classes
    assert facts['eval']['loss'] < 0.5 * math.log(bundle.make_encoder().label_spec.depth)


def note_log_likelihoods(bundle, events):
    """(per-step log-likelihoods the bundle's model gives `events`, teacher-forced; which
    steps' labels are notes)."""
    from musekit.generation.sampling import log_softmax
    encoder = bundle.make_encoder()
    model = bundle.step_model(encoder)
    inputs, labels = encoder.encode(events)
    state, out = model.initial_state(1), []
    for row, label in zip(inputs, labels):
        logits, state = model.step(row[None], state)
        out.append(log_softmax(logits, 1.0)[0, label])
    return np.array(out), labels >= 2


def test_a_melody_is_likelier_over_its_own_chords(lead_sheets):
    """Over its own chords a melody is likelier than over the chords a tritone away, at
    every step on average and more so at its notes (most steps hold a note, where the
    chord says little)."""
    from musekit.encoders.chords import transpose_chord
    bundle = load_bundle(BUNDLE)
    assert len(lead_sheets) >= 5
    gains = []
    for events in lead_sheets[:5]:
        real, notes = note_log_likelihoods(bundle, events)
        other, _ = note_log_likelihoods(bundle, [(m, transpose_chord(c, 6))
                                                 for m, c in events])
        assert real.mean() > other.mean()
        assert mean_log_likelihood(bundle, events) == pytest.approx(real.mean())
        gains.append(real[notes].mean() - other[notes].mean())
    assert min(gains) > 0.02 and np.mean(gains) > 0.08, gains


def test_readme_command_writes_lead_sheets_over_the_chords(tmp_path):
    import pretty_midi
    script = os.path.join(os.path.dirname(sys.executable), 'musekit_generate')
    proc = subprocess.run([script, '--bundle_file=basic_improv', '--output_dir=%s' % tmp_path,
                           '--num_outputs=3', '--seed=1', '--backing_chords=C G Am F',
                           '--render_chords'], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    files = sorted(os.listdir(tmp_path))
    assert files == ['lead_sheet_01.mid', 'lead_sheet_02.mid', 'lead_sheet_03.mid']
    for name in files:
        pm = pretty_midi.PrettyMIDI(str(tmp_path / name))
        assert [t.text for t in pm.text_events] == ['C', 'G', 'Am', 'F']
        melody, backing = pm.instruments
        assert pm.get_end_time() == pytest.approx(8.0)      # 64 16ths at 120 qpm
        assert len(melody.notes) >= 8
        assert {n.pitch % 12 for n in backing.notes if n.start < 2.0} == {0, 4, 7}
