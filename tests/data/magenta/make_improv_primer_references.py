"""Makes improv_primers.json (see README.md, "Improv RNN primers"); no test, nothing imports it.

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=3 /tmp/vmag/bin/python \\
        tests/data/magenta/make_improv_primer_references.py

For each case below it runs Magenta 2.1.4's improv_rnn_generate (run_with_flags, with the
NAME_chorales30.mag bundles beside this script) and records what Magenta's
ImprovRnnSequenceGenerator hands its model (ImprovRnnModel.generate_melody): the primer
melody's events and start step and the backing chords, one symbol a step; the melody it
generated at temperature 1e-4 (its argmax); the inputs its graph was fed at each
step (batch row 0 of each _generate_step_for_batch call, as [index, value] of each nonzero
entry: the primer's rows, then one a generated step); and the NoteSequence it writes as MIDI (notes,
chord-symbol annotations, tempo; with --render_chords, note_seq's BasicChordRenderer's
notes too). A case Magenta refuses records its error instead. Primer MIDI files are made
here with pretty_midi and stored in the JSON (base64) so the test writes the same bytes.
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
    """Bytes of a primer MIDI file (one piano part; times in 16th steps at its tempo):
    'tune' (100 qpm, notes on the grid), 'slow' (70 qpm, notes ending off the grid, the
    last two beats long), 'poly' (120 qpm, chords: Magenta keeps the highest note),
    'late' (120 qpm, the first note in bar 2), 'fast' (150 qpm, last note ends 0.4 step
    past the grid), 'ragged' (80 qpm, the last note ending 0.7 step past the grid)."""
    import pretty_midi
    qpm = {'tune': 100.0, 'slow': 70.0, 'poly': 120.0, 'late': 120.0, 'fast': 150.0,
           'ragged': 80.0}[kind]
    notes = {'tune': ((60, 0, 2), (62, 2, 3), (64, 4, 8), (65, 8, 10)),
             'slow': ((67, 0, 1.7), (64, 2, 3.3), (60, 4, 12.2)),
             'poly': ((60, 0, 4), (64, 0, 4), (67, 0, 3), (62, 4, 6), (59, 6, 7)),
             'late': ((60, 17, 19), (62, 20, 22)),
             'fast': ((72, 0, 1), (71, 1, 2), (69, 2, 5.4)),
             'ragged': ((64, 0, 2.6), (62, 3, 5.7))}[kind]
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    step = 60.0 / qpm / 4
    part = pretty_midi.Instrument(0)
    for pitch, start, end in notes:
        part.notes.append(pretty_midi.Note(90, pitch, start * step, end * step))
    midi.instruments.append(part)
    out = io.BytesIO()
    midi.write(out)
    return out.getvalue()


CHORDS = 'C G Am F'
CASES = [
    # (config, --primer_melody or None, primer MIDI kind or None, --qpm or None,
    #  --backing_chords, --steps_per_chord, --render_chords)
    ('basic_improv', None, None, None, CHORDS, 8, False),
    ('basic_improv', '[60]', None, None, CHORDS, 8, False),
    ('basic_improv', '[60]', None, 100.0, CHORDS, 8, False),
    ('basic_improv', '[60]', None, 97.0, CHORDS, 8, False),
    ('basic_improv', '[60, -2, 62]', None, 70.0, CHORDS, 8, False),
    ('basic_improv', '[60, 62, 64, 65]', None, 133.0, CHORDS, 8, False),
    ('basic_improv', '[60, 62, 64, 65]', None, 120.0, CHORDS, 8, False),
    ('basic_improv', '[60, -2, -2]', None, None, CHORDS, 8, False),
    ('basic_improv', '[60, -1, -2, -2]', None, 150.0, CHORDS, 8, False),
    ('basic_improv', '[96, -2, 30, -2, 62]', None, None, CHORDS, 8, True),
    ('basic_improv', '[-2, -2]', None, None, CHORDS, 8, False),
    ('basic_improv', '[67, 65, -2, 64, -1, 62, 60]', None, 90.0, 'Dm7 G7 Cmaj7 N.C.', 6,
     True),
    ('basic_improv', None, 'tune', None, CHORDS, 8, False),
    ('basic_improv', None, 'tune', 90.0, CHORDS, 8, False),
    ('basic_improv', None, 'slow', None, CHORDS, 8, True),
    ('basic_improv', None, 'poly', None, CHORDS, 8, False),
    ('basic_improv', None, 'fast', None, CHORDS, 8, False),
    ('basic_improv', None, 'late', None, CHORDS, 8, False),
    ('basic_improv', None, 'ragged', None, CHORDS, 8, False),
    ('chord_pitches_improv', '[60, 64, 67]', None, None, 'Csus4 G13 D9/F# N.C.', 4, True),
    ('chord_pitches_improv', '[72, -2, 71, 69]', None, None, 'Am E7 Am E7/G#', 5, False),
    ('attention_improv', '[60]', None, None, CHORDS, 8, False),
    ('attention_improv', None, 'tune', None, 'F Bb C7 F', 6, True),
]


def sequence_record(sequence):
    """What a generated NoteSequence holds that its MIDI file keeps."""
    return dict(
        qpm=[t.qpm for t in sequence.tempos],
        notes=sorted([n.pitch, round(n.start_time, 6), round(n.end_time, 6), n.velocity,
                      n.instrument, n.program] for n in sequence.notes),
        chords=[[round(a.time, 6), a.text] for a in sequence.text_annotations])


def main():
    from absl import flags
    from magenta.models.improv_rnn import improv_rnn_generate, improv_rnn_model
    from magenta.models.improv_rnn import improv_rnn_sequence_generator
    from magenta.models.shared import events_rnn_model, sequence_generator_bundle
    seen = {}
    step_for_batch = events_rnn_model.EventSequenceRnnModel._generate_step_for_batch

    def feed_spy(self, event_sequences, inputs, *args, **kwargs):
        rows = seen.setdefault('fed', [])
        for row in inputs[0]:
            rows.append([[i, float(v)] for i, v in enumerate(row) if v])
        return step_for_batch(self, event_sequences, inputs, *args, **kwargs)
    events_rnn_model.EventSequenceRnnModel._generate_step_for_batch = feed_spy
    generate_melody = improv_rnn_model.ImprovRnnModel.generate_melody

    def spy(self, primer, chords, *args, **kwargs):
        seen['primer'] = list(primer)
        seen['primer_start_step'] = primer.start_step
        seen['backing'] = list(chords)
        seen['backing_start_step'] = chords.start_step
        out = generate_melody(self, primer, chords, *args, **kwargs)
        seen['generated'] = list(out)
        return out
    improv_rnn_model.ImprovRnnModel.generate_melody = spy

    FLAGS = flags.FLAGS
    FLAGS(['make_improv_primer_references'])
    generators = {}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (config, melody, midi_kind, qpm, chords, steps, render) in \
                enumerate(CASES):
            if config not in generators:
                bundle = sequence_generator_bundle.read_bundle_file(
                    os.path.join(HERE, '%s_chorales30.mag' % config))
                generators[config] = improv_rnn_sequence_generator.get_generator_map()[
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
            FLAGS.backing_chords = chords
            FLAGS.steps_per_chord = steps
            FLAGS.render_chords = render
            FLAGS.num_outputs = 1
            FLAGS.temperature = TEMPERATURE
            FLAGS.output_dir = os.path.join(tmp, 'out%d' % index)
            seen.clear()
            record = dict(config=config, primer_melody=melody, qpm=qpm,
                          backing_chords=chords, steps_per_chord=steps,
                          render_chords=render,
                          primer_midi=base64.b64encode(midi_bytes).decode()
                          if midi_bytes else None)
            try:
                improv_rnn_generate.run_with_flags(generators[config])
            except Exception as e:      # Magenta refuses it (an assertion, mostly)
                record['error'] = '%s: %s' % (type(e).__name__, e)
            if 'sequence' in seen:
                record['output'] = sequence_record(seen.pop('sequence'))
            record.update(seen)
            results.append(record)
            print(index, config, melody, midi_kind, seen.get('primer'),
                  record.get('error'), file=sys.stderr)
    with open(os.path.join(HERE, 'improv_primers.json'), 'w') as f:
        json.dump({'temperature': TEMPERATURE, 'cases': results}, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
