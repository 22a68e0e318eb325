"""Makes melody_primers.json (see README.md, "Melody RNN primers"); no test, nothing imports it.

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=3 /tmp/vmag/bin/python \\
        tests/data/magenta/make_melody_primer_references.py

For each case below it runs Magenta 2.1.4's melody_rnn_generate (run_with_flags, with the
NAME_chorales150.mag bundles beside this script, --num_steps=32) and records what Magenta's
MelodyRnnSequenceGenerator hands its model (MelodyRnnModel.generate_melody): the primer
melody's events and start step and the length asked for; the melody after Melody.squash
(what _generate_events gets: the primer in the model's key and range) and the amount it
was moved; the melody generated at temperature 1e-4 (its argmax); the inputs its graph was
fed at each step (batch row 0, as [index, value] of each nonzero entry); and the
NoteSequence it writes as MIDI (notes, tempo). A case Magenta refuses records its error
instead. Primer MIDI files are made as make_improv_primer_references.py makes them (its
primer_midi) and stored in the JSON (base64) so the test writes the same bytes.
"""
import base64
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_improv_primer_references import primer_midi  # noqa: E402

TEMPERATURE = 1e-4
NUM_STEPS = 32
CASES = [
    # (config, --primer_melody or None, primer MIDI kind or None, --qpm or None)
    ('basic_rnn', None, None, None),
    ('basic_rnn', '[60]', None, 100.0),
    ('basic_rnn', '[60]', None, 97.0),
    ('basic_rnn', '[60, -2, 62]', None, 70.0),
    ('basic_rnn', '[60, 62, 64, 65]', None, 133.0),
    ('basic_rnn', '[60, 62, 64, 65]', None, 120.0),
    ('basic_rnn', '[60, -2, -2]', None, None),
    ('basic_rnn', '[60, -1, -2, -2]', None, 150.0),
    ('basic_rnn', '[96, -2, 30, -2, 62]', None, None),
    ('basic_rnn', '[-2, -2]', None, None),
    ('basic_rnn', '[67, 65, -2, 64, -1, 62, 60]', None, 90.0),
    ('basic_rnn', '[66, 68, 70, 71, 73]', None, None),
    ('basic_rnn', None, 'tune', None),
    ('basic_rnn', None, 'tune', 90.0),
    ('basic_rnn', None, 'slow', None),
    ('basic_rnn', None, 'poly', None),
    ('basic_rnn', None, 'fast', None),
    ('basic_rnn', None, 'late', None),
    ('basic_rnn', None, 'ragged', None),
    ('attention_rnn', '[60]', None, None),
    ('attention_rnn', '[74, -2, 72, 71, -1, 69]', None, 110.0),
    ('attention_rnn', None, 'tune', None),
]


def sequence_record(sequence):
    """What a generated NoteSequence holds that its MIDI file keeps."""
    return dict(qpm=[t.qpm for t in sequence.tempos],
                notes=sorted([n.pitch, round(n.start_time, 6), round(n.end_time, 6),
                              n.velocity] for n in sequence.notes))


def main():
    import note_seq
    from absl import flags
    from magenta.models.melody_rnn import melody_rnn_generate, melody_rnn_model
    from magenta.models.melody_rnn import melody_rnn_sequence_generator
    from magenta.models.shared import events_rnn_model, sequence_generator_bundle
    seen = {}
    step_for_batch = events_rnn_model.EventSequenceRnnModel._generate_step_for_batch

    def feed_spy(self, event_sequences, inputs, *args, **kwargs):
        rows = seen.setdefault('fed', [])
        for row in inputs[0]:
            rows.append([[i, float(v)] for i, v in enumerate(row) if v])
        return step_for_batch(self, event_sequences, inputs, *args, **kwargs)
    events_rnn_model.EventSequenceRnnModel._generate_step_for_batch = feed_spy
    generate_events = events_rnn_model.EventSequenceRnnModel._generate_events

    def events_spy(self, num_steps, primer_events, *args, **kwargs):
        seen['squashed'] = [int(e) for e in primer_events]
        return generate_events(self, num_steps, primer_events, *args, **kwargs)
    events_rnn_model.EventSequenceRnnModel._generate_events = events_spy
    generate_melody = melody_rnn_model.MelodyRnnModel.generate_melody

    def spy(self, num_steps, primer, *args, **kwargs):
        seen['primer'] = [int(e) for e in primer]
        seen['primer_start_step'] = int(primer.start_step)
        seen['num_steps'] = int(num_steps)
        out = generate_melody(self, num_steps, primer, *args, **kwargs)
        seen['generated'] = [int(e) for e in out]
        return out
    melody_rnn_model.MelodyRnnModel.generate_melody = spy
    squash = note_seq.Melody.squash

    def squash_spy(self, *args, **kwargs):
        seen['transpose_amount'] = int(squash(self, *args, **kwargs))
        return seen['transpose_amount']
    note_seq.Melody.squash = squash_spy

    FLAGS = flags.FLAGS
    FLAGS(['make_melody_primer_references'])
    generators = {}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (config, melody, midi_kind, qpm) in enumerate(CASES):
            if config not in generators:
                bundle = sequence_generator_bundle.read_bundle_file(
                    os.path.join(HERE, '%s_chorales150.mag' % config))
                generators[config] = melody_rnn_sequence_generator.get_generator_map()[
                    config](checkpoint=None, bundle=bundle)
                generators[config].initialize()
                real = generators[config].generate

                def keep(input_sequence, options, real=real):
                    seen['sequence'] = real(input_sequence, options)
                    return seen['sequence']
                generators[config].generate = keep
            midi_bytes = primer_midi(midi_kind) if midi_kind else None
            FLAGS.primer_melody = melody or ''
            FLAGS.primer_midi = ''
            if midi_bytes:
                FLAGS.primer_midi = os.path.join(tmp, 'p%d.mid' % index)
                with open(FLAGS.primer_midi, 'wb') as f:
                    f.write(midi_bytes)
            FLAGS.qpm = qpm
            FLAGS.num_steps = NUM_STEPS
            FLAGS.num_outputs = 1
            FLAGS.temperature = TEMPERATURE
            FLAGS.output_dir = os.path.join(tmp, 'out%d' % index)
            seen.clear()
            record = dict(config=config, primer_melody=melody, qpm=qpm, num_steps=NUM_STEPS,
                          primer_midi_kind=midi_kind,
                          primer_midi=base64.b64encode(midi_bytes).decode()
                          if midi_bytes else None)
            try:
                melody_rnn_generate.run_with_flags(generators[config])
            except Exception as e:      # Magenta refuses it (an assertion, mostly)
                record['error'] = '%s: %s' % (type(e).__name__, e)
            if 'sequence' in seen:
                record['output'] = sequence_record(seen.pop('sequence'))
            record['model_num_steps'] = seen.pop('num_steps', None)
            record.update(seen)
            results.append(record)
            print(index, config, melody, midi_kind, seen.get('primer'),
                  seen.get('primer_start_step'), record['model_num_steps'],
                  seen.get('transpose_amount'), record.get('error'), file=sys.stderr)
    with open(os.path.join(HERE, 'melody_primers.json'), 'w') as f:
        json.dump({'temperature': TEMPERATURE, 'cases': results}, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
