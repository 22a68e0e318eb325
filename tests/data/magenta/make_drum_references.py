"""Makes the Drums RNN references (see README.md, "Drums RNN"); no test, nothing imports it.

    python make_drum_references.py midi DIR
        writes drum MIDI files (pretty_midi, a seeded generator) to DIR
    TF_USE_LEGACY_KERAS=1 /tmp/vmag/bin/python make_drum_references.py pipeline DIR
        runs Magenta's drums_rnn pipeline stages on each MIDI file of DIR for drum_kit and
        one_drum and writes drums_pipeline.json beside this script
    TF_USE_LEGACY_KERAS=1 /tmp/vmag/bin/python make_drum_references.py golden NAME.mag ...
        runs Magenta's own graph of each .mag on its encoder's inputs and writes
        NAME.golden.npz beside it
"""
import os
import sys

import numpy as np

# General MIDI drum pitches the generator plays (the first pitches of Magenta's nine classes,
# others of the same classes, and pitches outside every class)
KICKS, SNARES, HATS, OPEN_HATS = (36, 35), (38, 40, 37), (42, 44), (46,)
TOMS, CYMBALS, UNKNOWN = (45, 48, 50, 41, 43, 47), (49, 51, 57, 59), (21, 88, 100)
METERS = ((4, 4), (3, 4), (6, 8), (4, 4), (5, 4))


def drum_midi(rng, index):
    """One pretty_midi.PrettyMIDI: a drum part of patterns with fills and gaps, in one of
    METERS at a tempo of 90-140 qpm, sometimes beside a piano part."""
    import pretty_midi
    qpm = float(rng.choice([90, 100, 120, 120, 140]))
    numerator, denominator = METERS[index % len(METERS)]
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, 0.0))
    step = 60.0 / qpm / 4                   # a 16th note
    steps_per_bar = numerator * 16 // denominator
    drums = pretty_midi.Instrument(program=0, is_drum=True, name='drums')
    bars = int(rng.integers(6, 40))
    pattern = [sorted({int(rng.choice(KICKS))} if s % 4 == 0 else set())
               for s in range(steps_per_bar)]
    for s in range(0, steps_per_bar, 2):
        pattern[s] = sorted(set(pattern[s]) | {int(rng.choice(HATS))})
    for s in range(4, steps_per_bar, 8):
        pattern[s] = sorted(set(pattern[s]) | {int(rng.choice(SNARES))})
    bar = 0
    while bar < bars:
        if rng.random() < 0.04:             # a gap: 1 to 3 silent bars
            bar += int(rng.integers(1, 4))
            continue
        fill = rng.random() < 0.2
        for s in range(steps_per_bar):
            hits = list(pattern[s])
            if fill and s >= steps_per_bar // 2:
                hits = [int(rng.choice(TOMS))] if rng.random() < 0.7 else hits
            if rng.random() < 0.05:
                hits.append(int(rng.choice(CYMBALS + OPEN_HATS)))
            if rng.random() < 0.02:
                hits.append(int(rng.choice(UNKNOWN)))
            if rng.random() < 0.1:          # a ghost note off the grid
                hits.append(int(rng.choice(SNARES)))
            start = (bar * steps_per_bar + s) * step
            for pitch in hits:
                jitter = float(rng.normal(0, step / 8)) if rng.random() < 0.3 else 0.0
                begin = max(0.0, start + jitter)
                drums.notes.append(pretty_midi.Note(int(rng.integers(40, 128)), pitch,
                                                    begin, begin + step / 2))
        bar += 1
    midi.instruments.append(drums)
    if index % 4 == 3:                      # a piano beside the drums
        piano = pretty_midi.Instrument(program=0, name='piano')
        for k in range(bars * 2):
            t = k * steps_per_bar * step / 2
            piano.notes.append(pretty_midi.Note(80, int(rng.integers(48, 72)), t, t + 0.4))
        midi.instruments.append(piano)
    return midi


def write_midi(folder, count=40, seed=27):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for index in range(count):
        drum_midi(rng, index).write(os.path.join(folder, 'drums_%02d.mid' % index))


def track_digest(events):
    """sha256 of a drum track as compact JSON: per step its sorted pitches."""
    import hashlib
    import json
    text = json.dumps([sorted(int(p) for p in event) for event in events],
                      separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()


def pipeline(folder):
    """Magenta's drums_rnn_pipeline stages (without its random partition) on each file."""
    import json
    import note_seq
    from magenta.models.drums_rnn import drums_rnn_model
    from magenta.pipelines import drum_pipelines, note_sequence_pipelines
    results = {}
    for config_name in ('drum_kit', 'one_drum'):
        config = drums_rnn_model.default_configs[config_name]
        per_file = []
        for name in sorted(os.listdir(folder)):
            sequence = note_seq.midi_file_to_note_sequence(os.path.join(folder, name))
            stats = {}
            tracks = []
            splitter = note_sequence_pipelines.TimeChangeSplitter()
            quantizer = note_sequence_pipelines.Quantizer(
                steps_per_quarter=config.steps_per_quarter)
            extractor = drum_pipelines.DrumsExtractor(min_bars=7, max_steps=512, gap_bars=1.0)
            for piece in splitter.transform(sequence):
                for quantized in quantizer.transform(piece):
                    tracks += extractor.transform(quantized)
                    for stat in extractor.get_stats():
                        if hasattr(stat, 'count'):
                            stats[stat.name] = stats.get(stat.name, 0) + stat.count
                        else:
                            for bucket, count in stat.counters.items():
                                if count:
                                    key = '%s@%s' % (stat.name, bucket)
                                    stats[key] = stats.get(key, 0) + count
                for stat in quantizer.get_stats():
                    stats[stat.name] = stats.get(stat.name, 0) + stat.count
            per_file.append({'file': name, 'stats': {k: v for k, v in stats.items() if v},
                             'tracks': [track_digest(t) for t in tracks],
                             'lengths': [len(t) for t in tracks]})
        results[config_name] = per_file
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'drums_pipeline.json')
    with open(path, 'w') as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print(path, {k: sum(len(r['tracks']) for r in v) for k, v in results.items()})


def random_track(rng, length):
    """A random drum track: each step empty (half the time) or 1-3 pitches from 0..127."""
    track = []
    for _ in range(length):
        if rng.random() < 0.5:
            track.append(frozenset())
        else:
            track.append(frozenset(int(p) for p in rng.integers(0, 128, rng.integers(1, 4))))
    return track


def golden(path, length=64):
    """Magenta's softmax on `length` events of a drum MIDI track and of a random track."""
    import note_seq
    from magenta.models.drums_rnn import drums_rnn_sequence_generator
    from magenta.models.shared import sequence_generator_bundle
    from magenta.pipelines import drum_pipelines
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    bundle = sequence_generator_bundle.read_bundle_file(path)
    generator_id = bundle.generator_details.id
    generator = drums_rnn_sequence_generator.get_generator_map()[generator_id](
        checkpoint=None, bundle=bundle)
    generator.initialize()
    model = generator._model
    config = model._config
    encoder = config.encoder_decoder
    session = model._session
    graph_inputs = session.graph.get_collection('inputs')[0]
    temperature = session.graph.get_collection('temperature')[0]
    softmax = session.graph.get_collection('softmax')[0]
    initial_state = session.graph.get_collection('initial_state')
    rng = np.random.default_rng(2027)
    # the first file `midi` writes (the same generator, made again)
    ns = note_seq.midi_io.midi_to_note_sequence(drum_midi(np.random.default_rng(27), 0))
    quantized = note_seq.quantize_note_sequence(ns, config.steps_per_quarter)
    tracks, _ = drum_pipelines.extract_drum_tracks(quantized, min_bars=0,
                                                   gap_bars=float('inf'))
    sequences = {'midi': list(tracks[0])[:length], 'random': random_track(rng, length)}
    out = {}
    for name, events in sequences.items():
        track = note_seq.DrumTrack(events, steps_per_quarter=config.steps_per_quarter)
        inputs = encoder.get_inputs_batch([track], full_length=True)
        zero = session.run(initial_state)
        feed = {graph_inputs: inputs, temperature: 1.0}
        feed.update(dict(zip(initial_state, zero)))
        probabilities = session.run(softmax, feed)
        pitches = np.full((length, 8), -1, np.int64)
        for i, event in enumerate(events):
            pitches[i, :len(event)] = sorted(event)
        out[name + '/pitches'] = pitches
        out[name + '/classes'] = np.array([encoder.events_to_label(events, i)
                                           for i in range(length)], np.int64)
        out[name + '/inputs'] = np.asarray(inputs[0], np.float32)
        out[name + '/softmax'] = np.asarray(probabilities[0], np.float32)
    np.savez_compressed(path[:-len('.mag')] + '.golden.npz', **out)
    print(path, generator_id, {k: v.shape for k, v in out.items()})


if __name__ == '__main__':
    if sys.argv[1] == 'midi':
        write_midi(sys.argv[2])
    elif sys.argv[1] == 'pipeline':
        pipeline(sys.argv[2])
    elif sys.argv[1] == 'golden':
        for mag in sys.argv[2:]:
            golden(mag)
    else:
        sys.exit(__doc__)
