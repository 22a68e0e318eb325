"""Makes the Performance RNN pipeline references (not a test; see README.md here).

Step 1, with musekit's Python (writes performance_pipeline_inputs.npz: serialized
NoteSequences, two music21 Bach chorales and four hand-made ones):

    python tests/data/magenta/make_performance_references.py inputs

Step 2, with a Python where Magenta 2.1.4 runs (see README.md here; writes
performance_pipeline.json: what Magenta's performance pipeline writes for each input,
each config and each part, as sha256 digests of the encoded (inputs, labels), and its
counters):

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=3 /tmp/vmag/bin/python \\
        tests/data/magenta/make_performance_references.py magenta
"""
import hashlib
import json
import os
import random
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.join(HERE, 'performance_pipeline_inputs.npz')
OUTPUT = os.path.join(HERE, 'performance_pipeline.json')
CONFIGS = ('performance', 'performance_with_dynamics',
           'performance_with_dynamics_and_modulo_encoding',
           'optional_multiconditioned_performance_with_dynamics')
CHORALES = ('bwv66.6.mxl', 'bwv10.7.mxl')
STRETCHES = [0.95, 0.975, 1.0, 1.025, 1.05]
TRANSPOSITIONS = list(range(-3, 4))


def digest(inputs, labels):
    """sha256 of float32 inputs and int64 labels, as the tests compute it."""
    h = hashlib.sha256()
    h.update(np.asarray(inputs, np.float32).tobytes())
    h.update(np.asarray(labels, np.int64).tobytes())
    return h.hexdigest()


def hand_made():
    """(name, NoteSequence): a 70 s piano piece with pedal and velocities, one with two
    programs, one too short, one with drums and a pitch near the top of MIDI."""
    from note_seq.protobuf import music_pb2
    rng = random.Random(26)
    pedal = music_pb2.NoteSequence(ticks_per_quarter=220)
    t = 0.0
    while t < 69.0:
        pitch = rng.randrange(36, 96)
        length = rng.choice([0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
        pedal.notes.add(pitch=pitch, velocity=rng.randrange(1, 128), start_time=t,
                        end_time=t + length, program=0)
        if rng.random() < 0.3:   # a chord tone
            pedal.notes.add(pitch=pitch + 4, velocity=rng.randrange(1, 128), start_time=t,
                            end_time=t + length / 2, program=0)
        t += rng.choice([0.0, 0.03, 0.1, 0.2, 0.37, 0.5])
    for on, off in ((2.0, 6.0), (20.0, 33.5), (50.0, 51.0), (60.2, 68.0)):
        pedal.control_changes.add(time=on, control_number=64, control_value=100)
        pedal.control_changes.add(time=off, control_number=64, control_value=0)
    pedal.total_time = max(n.end_time for n in pedal.notes)

    programs = music_pb2.NoteSequence(ticks_per_quarter=220)
    for i in range(40):
        programs.notes.add(pitch=60 + i % 12, velocity=90, start_time=i * 0.25,
                           end_time=i * 0.25 + 0.2, program=0 if i % 2 else 40)
    programs.total_time = 10.0

    short = music_pb2.NoteSequence(ticks_per_quarter=220)
    for i in range(5):
        short.notes.add(pitch=60 + i, velocity=80, start_time=i * 0.5, end_time=i * 0.5 + 0.4)
    short.total_time = 2.5

    high = music_pb2.NoteSequence(ticks_per_quarter=220)
    for i in range(30):
        high.notes.add(pitch=40 + i * 3 if i != 7 else 126, velocity=20 + 3 * i,
                       start_time=i * 0.3, end_time=i * 0.3 + 0.6)
        high.notes.add(pitch=36, velocity=110, start_time=i * 0.3, end_time=i * 0.3 + 0.1,
                       is_drum=True, instrument=9)
    high.total_time = 9.6
    return [('pedal', pedal), ('programs', programs), ('short', short), ('high', high)]


def make_inputs():
    from musekit.data import sources
    listed = [s for s in sources.list_sources('music21:bach') if s.relpath in CHORALES]
    named = [(s.relpath, ns) for s in listed
             for ns in sources.parse(s, sources.read_bounded(s.path))]
    named += hand_made()
    blobs = [ns.SerializeToString() for _, ns in named]
    np.savez_compressed(INPUTS, names=np.array([n for n, _ in named]),
                        data=np.frombuffer(b''.join(blobs), np.uint8),
                        lengths=np.array([len(b) for b in blobs], np.int64))


def read_inputs():
    from note_seq.protobuf import music_pb2
    loaded = np.load(INPUTS)
    data, out, start = loaded['data'].tobytes(), [], 0
    for name, length in zip(loaded['names'], loaded['lengths']):
        out.append((str(name), music_pb2.NoteSequence.FromString(data[start:start + length])))
        start += length
    return out


def run_magenta():
    from magenta.models.performance_rnn import performance_model
    from magenta.pipelines import note_sequence_pipelines as nsp
    from magenta.pipelines import performance_pipeline as pp
    from magenta.pipelines import statistics
    results = {}
    inputs = read_inputs()
    for config_name in CONFIGS:
        config = performance_model.default_configs[config_name]
        for mode in ('training', 'eval'):
            chain = [nsp.SustainPipeline(name='s'),
                     nsp.StretchPipeline(STRETCHES if mode == 'training' else [1.0], name='t'),
                     nsp.Splitter(hop_size_seconds=30.0, name='p'),
                     nsp.Quantizer(steps_per_second=config.steps_per_second, name='q'),
                     nsp.TranspositionPipeline(TRANSPOSITIONS if mode == 'training' else [0],
                                               name='r'),
                     pp.PerformanceExtractor(min_events=32, max_events=512,
                                             num_velocity_bins=config.num_velocity_bins,
                                             note_performance=False, name='x')]
            encoder = config.encoder_decoder
            for name, ns in inputs:
                items, counters = [ns], {}
                for stage in chain:
                    out = []
                    for item in items:
                        out += stage.transform(item)
                        for stat in stage.get_stats():
                            if isinstance(stat, statistics.Counter) and stat.count:
                                key = stat.name.split('_', 1)[1]     # without the stage's name
                                counters[key] = counters.get(key, 0) + stat.count
                    items = out
                digests = []
                for performance in items:
                    if config.control_signals:
                        control = list(zip(*[c.extract(performance)
                                             for c in config.control_signals]))
                        if config.optional_conditioning:
                            encoded = [encoder.encode(list(zip([d] * len(control), control)),
                                                      performance) for d in (False, True)]
                        else:
                            encoded = [encoder.encode(control, performance)]
                    else:
                        encoded = [encoder.encode(performance)]
                    digests += [digest(i, l) for i, l in encoded]
                results['%s/%s/%s' % (config_name, mode, name)] = {
                    'digests': sorted(digests), 'counters': counters}
    with open(OUTPUT, 'w') as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write('\n')


if __name__ == '__main__':
    {'inputs': make_inputs, 'magenta': run_magenta}[sys.argv[1]]()
