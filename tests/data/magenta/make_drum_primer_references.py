"""Makes drums_primers.json (see README.md, "Drums RNN primers"); no test, nothing imports it.

    TF_USE_LEGACY_KERAS=1 /tmp/vmag/bin/python make_drum_primer_references.py

For each case below it runs Magenta 2.1.4's drums_rnn_generate (run_with_flags, with the
drum_kit_drums40.mag or one_drum_drums40.mag bundle beside this script) and records what
Magenta's DrumsRnnSequenceGenerator hands its model: the primer drum track (its events and
start step) and the number of steps it asks of the model (model_num_steps); and the track it generated at temperature 1e-4
(its argmax). Primer MIDI files are made here with pretty_midi and stored in the JSON
(base64) so the test writes the same bytes.
"""
import base64
import io
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPERATURE = 1e-4


def primer_midi(kind):
    """Bytes of a primer MIDI file: 'drums' (hits from bar 2, notes half a step long, 100
    qpm), 'long' (drums at 70 qpm whose last note, a crash, lasts two beats), 'piano' (no
    drum notes at all, 120 qpm)."""
    import pretty_midi
    qpm = {'drums': 100.0, 'long': 70.0, 'piano': 120.0}[kind]
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    step = 60.0 / qpm / 4
    part = pretty_midi.Instrument(0, is_drum=kind != 'piano')
    hits = {'drums': ((20, (36, 42)), (22, (42,)), (24, (38, 42)), (29, (35,))),
            'long': ((0, (36,)), (4, (38,)), (6, (36, 46))),
            'piano': ((2, (60,)), (9, (64, 67)))}[kind]
    for s, pitches in hits:
        for p in pitches:
            length = step / 2 if kind == 'drums' else step
            part.notes.append(pretty_midi.Note(100, p, s * step, s * step + length))
    if kind == 'long':
        part.notes.append(pretty_midi.Note(100, 49, 7 * step, 15 * step))
    midi.instruments.append(part)
    out = io.BytesIO()
    midi.write(out)
    return out.getvalue()


CASES = [
    # (config, --primer_drums or None, primer MIDI kind or None, --qpm or None, --num_steps)
    ('drum_kit', None, None, None, 32),
    ('drum_kit', '[(36, 42), (), (42,), (), (), ()]', None, None, 32),
    ('drum_kit', '[(), (), (36,)]', None, None, 32),
    ('drum_kit', '[(), ()]', None, None, 32),
    ('drum_kit', repr([()] * 17 + [(36,)]), None, None, 40),
    ('drum_kit', '[(36,), (), (), (), (), (38,)]', None, 70.0, 32),
    ('drum_kit', '[(36,), (38,)]', None, 97.0, 24),
    ('drum_kit', None, 'drums', None, 48),
    ('drum_kit', None, 'long', None, 32),
    ('drum_kit', None, 'piano', None, 32),
    ('one_drum', None, None, None, 32),
    ('one_drum', '[(36, 42), (), (42,), (), (38, 42)]', None, None, 32),
    ('one_drum', '[(), (), (), (36,), (38,)]', None, None, 32),
    ('one_drum', None, 'drums', None, 40),
]


def main():
    from absl import flags
    from magenta.models.drums_rnn import drums_rnn_generate, drums_rnn_model
    from magenta.models.drums_rnn import drums_rnn_sequence_generator
    from magenta.models.shared import sequence_generator_bundle
    seen = {}
    generate = drums_rnn_model.DrumsRnnModel.generate_drum_track

    def spy(self, num_steps, primer, *args, **kwargs):
        seen['model_num_steps'] = num_steps
        seen['primer'] = [sorted(e) for e in primer]
        seen['primer_start_step'] = primer.start_step
        out = generate(self, num_steps, primer, *args, **kwargs)
        seen['generated'] = [sorted(e) for e in out]
        return out
    drums_rnn_model.DrumsRnnModel.generate_drum_track = spy

    FLAGS = flags.FLAGS
    FLAGS(['make_drum_primer_references'])
    generators = {}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (config, drums, midi_kind, qpm, num_steps) in enumerate(CASES):
            if config not in generators:
                bundle = sequence_generator_bundle.read_bundle_file(
                    os.path.join(HERE, '%s_drums40.mag' % config))
                generators[config] = drums_rnn_sequence_generator.get_generator_map()[
                    config](checkpoint=None, bundle=bundle)
                generators[config].initialize()
            midi_bytes = primer_midi(midi_kind) if midi_kind else None
            FLAGS.primer_drums = drums or ''
            FLAGS.primer_midi = ''
            if midi_bytes:
                FLAGS.primer_midi = os.path.join(tmp, 'p%d.mid' % index)
                with open(FLAGS.primer_midi, 'wb') as f:
                    f.write(midi_bytes)
            FLAGS.qpm = qpm
            FLAGS.num_steps = num_steps
            FLAGS.num_outputs = 1
            FLAGS.temperature = TEMPERATURE
            FLAGS.output_dir = os.path.join(tmp, 'out%d' % index)
            seen.clear()
            drums_rnn_generate.run_with_flags(generators[config])
            results.append(dict(
                config=config, primer_drums=drums, qpm=qpm, num_steps=num_steps,
                primer_midi=base64.b64encode(midi_bytes).decode() if midi_bytes else None,
                **seen))
            print(index, config, drums, midi_kind, seen['primer'], file=sys.stderr)
    with open(os.path.join(HERE, 'drums_primers.json'), 'w') as f:
        json.dump({'temperature': TEMPERATURE, 'cases': results}, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
