"""The lead_sheet extractor against Magenta's improv pipeline (tests/data/magenta/
improv_pipeline.json, made by make_improv_references.py there): on three music21 chorales
(no chord symbols: musekit infers them, Magenta was given note_seq's inferred chords) and
hand-made lead sheets probing each rule, the same encoded sequences and the same counters
for every improv config; chord inference counted and switchable; refusals."""
import collections
import hashlib
import json
import os

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from musekit.config import get_config
from musekit.errors import MusekitError
from musekit.extractors.base import get_extractor
from musekit.extractors.lead_sheet import has_chords

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'magenta')
INFERENCE_COUNTERS = ('chords_inferred', 'chord_inference_failed')


def inputs():
    with np.load(os.path.join(DATA, 'improv_pipeline_inputs.npz')) as f:
        names, lengths, data = list(f['names']), f['lengths'], f['data'].tobytes()
    out, offset = {}, 0
    for name, length in zip(names, lengths):
        out[str(name)] = music_pb2.NoteSequence.FromString(data[offset:offset + length])
        offset += length
    return out


INPUTS = inputs()
with open(os.path.join(DATA, 'improv_pipeline.json')) as _f:
    REFERENCE = json.load(_f)


def digest(inputs_, labels):
    h = hashlib.sha256()
    h.update(np.asarray(inputs_, np.float32).tobytes())
    h.update(np.asarray(labels, np.int64).tobytes())
    return h.hexdigest()


def run(config, sequence, **params):
    """(event lists, Counter) of the config's extractor (with `params` changed) on one
    NoteSequence."""
    encoder = config.make_encoder()
    extractor = get_extractor('lead_sheet', dict(config.data['params'], **params))
    pieces, stats = extractor.prepare(sequence)
    out = []
    for piece in pieces:
        got, more = extractor.extract(piece, encoder)
        out += got
        stats.update(more)
    return out, stats


_RUNS = {}


def musekit_result(config_name, name):
    if (config_name, name) not in _RUNS:
        config = get_config(config_name)
        events, stats = run(config, INPUTS[name])
        encoder = config.make_encoder()
        _RUNS[config_name, name] = (sorted(digest(*encoder.encode(e)) for e in events),
                                    stats)
    return _RUNS[config_name, name]


CASES = [(c, n) for c in REFERENCE['configs'] for n in INPUTS]


@pytest.mark.parametrize('config_name, name', CASES)
def test_same_lead_sheets_and_counters_as_magenta(config_name, name):
    want = REFERENCE['results'][config_name][name]
    digests, stats = musekit_result(config_name, name)
    assert digests == want['digests']
    counters = {k: v for k, v in stats.items() if k not in INFERENCE_COUNTERS}
    assert counters == want['counters']


def test_the_reference_covers_every_rule():
    counters = collections.Counter()
    for per_input in REFERENCE['results'].values():
        for result in per_input.values():
            counters.update(result['counters'])
    assert set(counters) == {
        'melodies_discarded_too_short', 'polyphonic_tracks_discarded',
        'chord_encoding_exception', 'chord_symbol_exception', 'coincident_chords',
        'empty_chord_progressions', 'melodies_discarded_too_few_pitches',
        'melodies_truncated'}
    kept = REFERENCE['results']['basic_improv']
    assert len(kept['bwv1.6']['digests']) == 60 and len(kept['given']['digests']) == 24


def test_chorales_get_inferred_chords_and_pieces_with_chords_keep_theirs():
    config = get_config('basic_improv')
    extractor = config.make_extractor()
    chorale = INPUTS['bwv1.6']
    assert not has_chords(chorale)
    pieces, stats = extractor.prepare(chorale)
    # its pickup bar (1/4) is a piece of its own: note_seq infers no chords for 1/4
    assert stats == {'chords_inferred': 2, 'chord_inference_failed': 1}
    assert [has_chords(p) for p in pieces] == [False, True, True]
    given = INPUTS['given']
    pieces, stats = extractor.prepare(given)
    assert not stats and len(pieces) == 1
    assert [a.text for a in pieces[0].text_annotations] == [
        a.text for a in given.text_annotations]


def test_chord_inference_can_be_switched_off():
    config = get_config('basic_improv')
    events, stats = run(config, INPUTS['bwv1.6'], infer_chords=False)
    assert events == [] and 'chords_inferred' not in stats
    assert stats['empty_chord_progressions'] == 5       # its five kept melodies


def test_hand_worked_lead_sheet():
    """8 bars of C D E F G (quarters) over C | G7 chords changing every 2 bars: the
    untransposed lead sheet, as events with the next step's chord."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    ns.time_signatures.add(numerator=4, denominator=4)
    for i in range(32):
        ns.notes.add(pitch=[60, 62, 64, 65, 67][i % 5], velocity=80, start_time=i * 0.5,
                     end_time=i * 0.5 + 0.5)
    for bar, chord in ((0, 'C'), (2, 'G7'), (4, 'C'), (6, 'G7')):
        ns.text_annotations.add(time=bar * 2.0, text=chord, annotation_type=1)
    ns.total_time = 16.0
    config = get_config('basic_improv')
    events, stats = run(config, ns, all_transpositions=False)
    assert not stats and len(events) == 1
    (sheet,) = events
    assert len(sheet) == 128
    assert [e[0] for e in sheet[:8]] == [60, -2, -2, -2, 62, -2, -2, -2]
    assert [e[1] for e in sheet[30:34]] == ['C', 'G7', 'G7', 'G7']   # step 31 reads step 32's
    assert sheet[-1] == (-2, 'G7')
    events, _ = run(config, ns)
    assert len(events) == 12
    by_first_pitch = {e[0][0]: e for e in events}
    assert sorted(by_first_pitch) == list(range(54, 66))
    assert by_first_pitch[54][31][1] == 'Db7'           # -6: note_seq names it so
    assert by_first_pitch[65][0][1] == 'F'


def test_refusals():
    extractor = get_extractor('lead_sheet')
    with pytest.raises(MusekitError, match='needs a lead-sheet encoder'):
        extractor.extract(INPUTS['given'], get_config('basic_rnn').make_encoder())
    with pytest.raises(MusekitError, match='transpose'):
        extractor.check_augmentation([-1, 0, 1])


def test_the_kept_transition_matrix_is_note_seqs():
    """chord_inference's transition matrix, kept between calls by the extractor: the same
    values as note_seq's own function gives, read-only, one per set of probabilities."""
    from musekit.extractors.lead_sheet import _note_seq
    inference = _note_seq()['chord_inference']
    kept = inference._key_chord_transition_distribution
    assert kept.musekit_memoised
    distribution = inference._key_chord_distribution(chord_pitch_out_of_key_prob=0.01)
    first = kept(distribution, key_change_prob=0.001, chord_change_prob=0.5)
    assert kept(distribution, key_change_prob=0.001, chord_change_prob=0.5) is first
    assert not first.flags.writeable
    fresh = kept.__wrapped__(distribution, key_change_prob=0.001, chord_change_prob=0.5)
    np.testing.assert_array_equal(first, fresh)
    other = kept(distribution, key_change_prob=0.01, chord_change_prob=0.5)
    assert other is not first and not np.array_equal(other, first)
