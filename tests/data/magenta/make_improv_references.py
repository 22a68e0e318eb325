"""Makes the Improv RNN references (not a test; see README.md here).

Step 1, with musekit's Python (writes improv_pipeline_inputs.npz: serialized
NoteSequences, three music21 Bach chorales as musekit parses them and hand-made lead
sheets with chord symbols):

    python tests/data/magenta/make_improv_references.py inputs

Step 2, with a Python where Magenta 2.1.4 runs (writes improv_pipeline.json: what Magenta's
improv pipeline writes for each input and config, as sha256 digests of the encoded
(inputs, labels), and its counters). Magenta's pipeline reads chords from the sequences;
for an input without chord symbols it is given the pieces note_seq's chord_inference
makes (split at time changes, quantized at 4 steps a quarter, chords inferred with its
defaults, the chord symbols put back on the unquantized piece at their times):

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=3 /tmp/vmag/bin/python \\
        tests/data/magenta/make_improv_references.py magenta

`tfrecord OUT N` (Magenta's Python) writes the first N chorales of music21's corpus/bach
(sorted by file name) as such pieces with inferred chords into a NoteSequence TFRecord,
for improv_rnn_create_dataset; `golden MAG... ` writes NAME.golden.npz beside each .mag
(Magenta's graph's softmax on get_inputs_batch(full_length=True) inputs of two lead sheets).
"""
import glob
import hashlib
import json
import os
import random
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.join(HERE, 'improv_pipeline_inputs.npz')
OUTPUT = os.path.join(HERE, 'improv_pipeline.json')
CONFIGS = ('basic_improv', 'attention_improv', 'chord_pitches_improv')
CHORALES = ('bwv1.6.mxl', 'bwv111.6.mxl', 'bwv10.7.mxl')
# Magenta's LeadSheetExtractor and EncoderPipeline counters (the splitter and quantizer
# name theirs differently from musekit)
STAGES = ('LeadSheetExtractor', 'EncoderPipeline')


def digest(inputs, labels):
    """sha256 of float32 inputs and int64 labels, as the tests compute it."""
    h = hashlib.sha256()
    h.update(np.asarray(inputs, np.float32).tobytes())
    h.update(np.asarray(labels, np.int64).tobytes())
    return h.hexdigest()


def lead_sheet_sequence(melodies, chord_list, numerator=4, denominator=4, qpm=120.0):
    """A NoteSequence of melodies ([(pitch, start step, end step)] per instrument, 16th
    steps) and chord symbols [(step, text)]."""
    from note_seq.protobuf import music_pb2
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=qpm)
    ns.time_signatures.add(numerator=numerator, denominator=denominator)
    step = 60.0 / qpm / 4
    for instrument, notes in enumerate(melodies):
        for pitch, start, end in notes:
            ns.notes.add(pitch=pitch, velocity=80, start_time=start * step,
                         end_time=end * step, instrument=instrument,
                         is_drum=instrument == 9)
    for at, text in chord_list:
        ns.text_annotations.add(time=at * step, text=text, annotation_type=1)
    ns.total_time = max(n.end_time for n in ns.notes)
    return ns


def tune(rng, bars, low=55, high=80, steps_per_bar=16):
    """Random monophonic notes over `bars` bars: (pitch, start, end) in steps."""
    notes, t = [], 0
    while t < bars * steps_per_bar - 1:
        length = rng.choice([1, 2, 2, 4, 4, 6, 8])
        end = min(t + length, bars * steps_per_bar)
        notes.append((rng.randrange(low, high), t, end - (rng.random() < 0.2)))
        t = end + (rng.random() < 0.1) * rng.choice([2, 4])
    return [(p, s, e) for p, s, e in notes if e > s]


def hand_made():
    """(name, NoteSequence): lead sheets with chord symbols, each probing one rule."""
    rng = random.Random(27)
    progression = [(0, 'N.C.'), (4, 'C'), (16, 'Am7'), (24, 'F/A'), (32, 'G7'),
                   (40, 'Bdim'), (48, 'E+'), (56, 'Dm7b5'), (64, 'Ebmaj7'), (80, 'C#m'),
                   (96, 'Ab'), (112, 'N.C.'), (120, 'Gb7')]
    out = [
        ('given', lead_sheet_sequence([tune(rng, 10), tune(rng, 3), tune(rng, 9, 30, 50)],
                                      progression)),
        ('sus', lead_sheet_sequence([tune(rng, 8)], [(0, 'C'), (32, 'Csus4'), (64, 'G')])),
        ('bad_symbol', lead_sheet_sequence([tune(rng, 8)], [(0, 'C'), (32, 'H7')])),
        ('coincident', lead_sheet_sequence([tune(rng, 8), tune(rng, 8)],
                                           [(0, 'C'), (16, 'F'), (16, 'G'), (16, 'F')])),
        ('no_chord_only', lead_sheet_sequence([tune(rng, 8)], [(0, 'N.C.')])),
        ('few_pitches', lead_sheet_sequence([[(60 + 12 * (i % 2), 4 * i, 4 * i + 3)
                                              for i in range(32)], tune(rng, 8)],
                                            [(0, 'C'), (64, 'F')])),
        ('long', lead_sheet_sequence([tune(rng, 40)], [(16 * i, c) for i, c in enumerate(
            ['C', 'G', 'Am', 'Em', 'F', 'C', 'F', 'G'] * 5)])),
        ('high', lead_sheet_sequence([tune(rng, 8, 110, 128), tune(rng, 8, 0, 14)],
                                     [(0, 'D'), (50, 'Bm')])),
        ('waltz', lead_sheet_sequence([tune(rng, 10, steps_per_bar=12)],
                                      [(12 * i, c) for i, c in enumerate(
                                          ['C', 'Dm', 'G7', 'C'] * 3)], numerator=3)),
        ('chords_later', lead_sheet_sequence([[(p, s + 32, e + 32) for p, s, e in
                                               tune(rng, 8)]], [(48, 'A'), (100, 'D')])),
    ]
    poly = tune(rng, 8)
    poly.append((poly[3][0] + 4, poly[3][1], poly[3][2]))
    out.append(('polyphonic', lead_sheet_sequence([poly, tune(rng, 8)], [(0, 'C')])))
    return out


def make_inputs():
    from musekit.data import sources
    listed = sorted((s for s in sources.list_sources('music21:bach') if s.relpath in CHORALES),
                    key=lambda s: CHORALES.index(s.relpath))
    names, data = [], []
    for source in listed:
        (sequence,) = sources.parse(source, sources.read_bounded(source.path))
        names.append(source.relpath[:-len('.mxl')])
        data.append(sequence.SerializeToString())
    for name, sequence in hand_made():
        names.append(name)
        data.append(sequence.SerializeToString())
    lengths = np.array([len(d) for d in data], np.int64)
    np.savez_compressed(INPUTS, names=np.array(names), lengths=lengths,
                        data=np.frombuffer(b''.join(data), np.uint8))
    print('wrote', INPUTS, len(names), 'sequences,', int(lengths.sum()), 'bytes')


def read_inputs():
    from note_seq.protobuf import music_pb2
    with np.load(INPUTS) as f:
        names, lengths, data = list(f['names']), f['lengths'], f['data'].tobytes()
    out, offset = [], 0
    for name, length in zip(names, lengths):
        out.append((str(name), music_pb2.NoteSequence.FromString(data[offset:offset + length])))
        offset += length
    return out


def with_inferred_chords(sequence):
    """The pieces Magenta is given for a sequence without chord symbols: note_seq's
    split at time changes, each quantized (4 steps a quarter) to infer chords, the
    inferred symbols put on the unquantized piece; a piece where inference fails as is."""
    import note_seq
    if any(a.annotation_type == 1 for a in sequence.text_annotations):
        return [sequence]
    pieces = []
    for piece in note_seq.sequences_lib.split_note_sequence_on_time_changes(sequence):
        if not piece.notes:
            continue
        try:
            quantized = note_seq.quantize_note_sequence(piece, 4)
            note_seq.infer_chords_for_sequence(quantized)
        except Exception:       # noqa: BLE001 (musekit keeps such a piece without chords)
            pieces.append(piece)
            continue
        for annotation in quantized.text_annotations:
            if annotation.annotation_type == 1:
                piece.text_annotations.add(time=annotation.time, text=annotation.text,
                                           annotation_type=1)
        pieces.append(piece)
    return pieces


def magenta_results():
    from magenta.models.improv_rnn import improv_rnn_model, improv_rnn_pipeline
    from magenta.pipelines import lead_sheet_pipelines, note_sequence_pipelines, pipeline
    results = {}
    inputs = read_inputs()
    for config_name in CONFIGS:
        config = improv_rnn_model.default_configs[config_name]
        per_input = {}
        for name, sequence in inputs:
            digests, counters = [], {}
            for piece in with_inferred_chords(sequence):
                stages = [note_sequence_pipelines.TimeChangeSplitter(),
                          note_sequence_pipelines.Quantizer(steps_per_quarter=4),
                          lead_sheet_pipelines.LeadSheetExtractor(
                              min_bars=7, max_steps=512, min_unique_pitches=3, gap_bars=1.0,
                              ignore_polyphonic_notes=False, all_transpositions=True),
                          improv_rnn_pipeline.EncoderPipeline(config, 'EncoderPipeline')]
                items = [piece]
                for stage in stages:
                    out = []
                    for item in items:
                        out += stage.transform(item)
                        if type(stage).__name__ in STAGES:
                            # the base class's: EncoderPipeline's own says nothing
                            for stat in pipeline.Pipeline.get_stats(stage):
                                if getattr(stat, 'count', 0):     # counters, not histograms
                                    key = stat.name
                                    for prefix in STAGES:
                                        if key.startswith(prefix + '_'):
                                            key = key[len(prefix) + 1:]
                                    counters[key] = counters.get(key, 0) + stat.count
                    items = out
                for example in items:
                    feats = example.feature_lists.feature_list
                    inputs_ = [f.float_list.value for f in feats['inputs'].feature]
                    labels = [f.int64_list.value[0] for f in feats['labels'].feature]
                    digests.append(digest(inputs_, labels))
            per_input[name] = {'digests': sorted(digests), 'counters': counters}
            print(config_name, name, len(digests), counters)
        results[config_name] = per_input
    with open(OUTPUT, 'w') as f:
        json.dump({'configs': list(CONFIGS), 'results': results}, f, indent=0,
                  sort_keys=True)
    print('wrote', OUTPUT)


def write_tfrecord(path, count):
    import note_seq
    import tensorflow.compat.v1 as tf
    root = os.path.join(os.path.dirname(__import__('music21').__file__), 'corpus', 'bach')
    files = sorted(glob.glob(os.path.join(root, 'bwv*.mxl')))[:count]
    written = 0
    with tf.io.TFRecordWriter(path) as writer:
        for file_name in files:
            sequence = note_seq.musicxml_file_to_sequence_proto(file_name)
            for piece in with_inferred_chords(sequence):
                writer.write(piece.SerializeToString())
                written += 1
    print('wrote', path, written, 'pieces of', len(files), 'chorales')


def golden(paths):
    """Magenta's graph's softmax on two lead sheets per .mag: the first lead sheet Magenta
    extracts from bwv1.6 (inferred chords), its first 64 steps; and a random one."""
    import note_seq
    from magenta.models.improv_rnn import improv_rnn_model, improv_rnn_sequence_generator
    from magenta.models.shared import sequence_generator_bundle
    from magenta.pipelines import lead_sheet_pipelines
    root = os.path.join(os.path.dirname(__import__('music21').__file__), 'corpus', 'bach')
    chorale = note_seq.musicxml_file_to_sequence_proto(os.path.join(root, 'bwv1.6.mxl'))
    sheets = []
    for piece in with_inferred_chords(chorale):
        quantized = note_seq.quantize_note_sequence(piece, 4)
        found, _ = lead_sheet_pipelines.extract_lead_sheet_fragments(
            quantized, min_bars=7, max_steps_truncate=512, min_unique_pitches=3,
            gap_bars=1.0, ignore_polyphonic_notes=False, require_chords=True)
        sheets += found
    sheet = sheets[0]
    melody, chords = list(sheet.melody)[:64], list(sheet.chords)[:65]
    rng = np.random.default_rng(2027)
    symbols = ['C', 'Am', 'F#', 'Bbm7', 'G7', 'Eaug', 'Bdim', 'Dm7b5', 'Cmaj7', 'E/G#',
               'N.C.']
    random_melody, random_chords = [], []
    for i in range(80):
        r = rng.random()
        random_melody.append(int(rng.integers(48, 84)) if r < 0.45 or i == 0 else
                             -1 if r < 0.55 else -2)
        if i % int(rng.integers(1, 9)) == 0 or not random_chords:
            random_chords.append(str(rng.choice(symbols)))
        else:
            random_chords.append(random_chords[-1])
    random_chords.append(str(rng.choice(symbols)))
    cases = {'chorale': (melody, chords), 'random': (random_melody, random_chords)}
    for path in paths:
        bundle = sequence_generator_bundle.read_bundle_file(path)
        generator_id = bundle.generator_details.id
        generator = improv_rnn_sequence_generator.get_generator_map()[generator_id](
            checkpoint=None, bundle=bundle)
        generator.initialize()
        model = generator._model          # pylint: disable=protected-access
        config = improv_rnn_model.default_configs[generator_id]
        graph_inputs = model._session.graph.get_collection('inputs')[0]
        temperature = model._session.graph.get_collection('temperature')[0]
        softmax = model._session.graph.get_collection('softmax')[0]
        initial_state = model._session.graph.get_collection('initial_state')
        out = {}
        for case, (events, chord_events) in cases.items():
            control = note_seq.ChordProgression(chord_events)
            target = note_seq.Melody(events)
            batch = config.encoder_decoder.get_inputs_batch([control], [target],
                                                            full_length=True)
            feed = {graph_inputs: batch, temperature: 1.0}
            zero = model._session.run(initial_state)
            for tensor, value in zip(initial_state, zero):
                feed[tensor] = value
            probabilities = model._session.run(softmax, feed)
            out[case + '/inputs'] = np.asarray(batch[0], np.float32)
            out[case + '/softmax'] = np.asarray(probabilities[0], np.float32)
            out[case + '/melody'] = np.asarray(list(target), np.int64)
            out[case + '/chords'] = np.array(list(control))
        name = path[:-len('.mag')]
        np.savez_compressed(name + '.golden.npz', **out)
        print('wrote', name + '.golden.npz', generator_id,
              {k: v.shape for k, v in out.items()})


if __name__ == '__main__':
    mode = sys.argv[1]
    if mode == 'inputs':
        make_inputs()
    elif mode == 'magenta':
        magenta_results()
    elif mode == 'tfrecord':
        write_tfrecord(sys.argv[2], int(sys.argv[3]))
    elif mode == 'golden':
        golden(sys.argv[2:])
    else:
        raise SystemExit('mode: inputs, magenta, tfrecord OUT N or golden MAG...')
