"""musekit_generate: melodies from a bundle, as MIDI files (and optionally WAV and PNG).

    musekit_generate --bundle_file=lookback.musekit --output_dir=/tmp/melodies \\
        --num_outputs=10 --num_steps=128 --primer_melody="[60, -2, 62]"

Writes melody_01.mid, melody_02.mid, ... (plus .wav / .png with --render_wav / --plot)
into --output_dir, replacing files of those names. Without a primer, melodies start from a
single middle C, as Magenta's melody_rnn_generate does. With --bundle_file it never imports
TensorFlow; --run_dir (a musekit_train run directory, latest checkpoint) does, and is
seconds slower.
"""
import json
import os
import random
import time

from absl import flags

from musekit.cli import common
from musekit.errors import MusekitError
from musekit.progress import ProgressBar

PROGRAM = 'musekit_generate'
MIDDLE_C = 60


def define_flags(fv):
    flags.DEFINE_string('bundle_file', None, 'The musekit bundle to generate with.',
                        flag_values=fv)
    flags.DEFINE_string('run_dir', None, "Instead of --bundle_file: a musekit_train run "
                        "directory; uses its latest checkpoint (loads TensorFlow, slower).",
                        flag_values=fv)
    flags.DEFINE_string('config', None, 'With --run_dir: the config name or .json path, '
                        "needed only if the run directory has no config.json.", flag_values=fv)
    flags.DEFINE_string('output_dir', None, 'Folder for the generated files.', flag_values=fv)
    flags.DEFINE_integer('num_outputs', 10, 'How many melodies to generate.', flag_values=fv)
    flags.DEFINE_integer('num_steps', 128, 'Length of each melody in steps (16th notes), '
                         'primer included.', flag_values=fv)
    flags.DEFINE_string('primer_melody', None, 'Primer events as a list, e.g. "[60, -2, 62]" '
                        '(-2 = no event, -1 = note-off, 0..127 = note-on). Default: middle C. '
                        "Like every primer it is moved into the model's key and range for "
                        'generation, and the result moved back.', flag_values=fv)
    flags.DEFINE_string('primer_midi', None, 'A MIDI file whose first melody primes the '
                        'model.', flag_values=fv)
    flags.DEFINE_float('temperature', 1.0, 'Softmax temperature: above 1 more random, '
                       'below 1 more conservative.', flag_values=fv)
    flags.DEFINE_integer('beam_size', 1, 'Sequences kept per output by beam search.',
                         flag_values=fv)
    flags.DEFINE_integer('branch_factor', 1, 'Branches per beam sequence and iteration.',
                         flag_values=fv)
    flags.DEFINE_integer('steps_per_iteration', 1, 'Steps sampled per beam iteration.',
                         flag_values=fv)
    flags.DEFINE_float('qpm', 120.0, 'Tempo in quarter notes per minute.', flag_values=fv)
    flags.DEFINE_integer('seed', None, 'Random seed (default: a fresh one, printed).',
                         flag_values=fv)
    flags.DEFINE_boolean('render_wav', False, 'Also write WAV audio (FluidSynth with a '
                         'SoundFont if installed, else a built-in synthesizer).', flag_values=fv)
    flags.DEFINE_boolean('plot', False, 'Also write a PNG piano roll per melody.',
                         flag_values=fv)


SYNOPSIS = ('%s (--bundle_file=FILE | --run_dir=DIR) --output_dir=DIR [flags]' % PROGRAM)


def parse(argv):
    """The parsed flags, checked; --help prints usage and exits 0."""
    fv = common.parse_flags(argv, define_flags, SYNOPSIS)
    missing = ['--bundle_file (or --run_dir)'] if not (fv.bundle_file or fv.run_dir) else []
    missing += ['--output_dir'] if not fv.output_dir else []
    if missing:
        raise MusekitError('missing required flag%s: %s' % (
            's' if len(missing) > 1 else '', ', '.join(missing)))
    if fv.bundle_file and fv.run_dir:
        raise MusekitError('give --bundle_file or --run_dir, not both')
    if fv.config and not fv.run_dir:
        raise MusekitError('--config goes with --run_dir (a bundle carries its own config)')
    if fv.primer_melody is not None and fv.primer_midi:
        raise MusekitError('give --primer_melody or --primer_midi, not both')
    return fv


def parse_primer(text):
    """'[60, -2, 62]' (brackets optional) -> [60, -2, 62]; anything else is a MusekitError."""
    body = text.strip()
    if not body.startswith('['):
        body = '[%s]' % body
    try:
        events = json.loads(body)
    except ValueError:
        events = None
    if not isinstance(events, list) or not events or not all(
            isinstance(e, int) and not isinstance(e, bool) for e in events):
        raise MusekitError('malformed --primer_melody %r: expected a non-empty list of '
                           'integers like "[60, -2, 62]"' % text)
    for position, event in enumerate(events):
        if not -2 <= event <= 127:
            raise MusekitError('--primer_melody event %d at position %d is not a melody event '
                               '(-2 hold, -1 note-off, 0..127 a MIDI pitch)' % (event, position))
    return events


def pitch_range(encoder):
    """[low, high) of the pitches the encoder takes (all of MIDI when it names none)."""
    params = encoder.params()
    return params.get('min_note', 0), params.get('max_note', 128)


def default_primer(encoder):
    """Middle C, or the middle of the encoder's pitch range when C4 is outside it."""
    low, high = pitch_range(encoder)
    return [MIDDLE_C if low <= MIDDLE_C < high else (low + high) // 2]


def bundle_from_run_dir(run_dir, config_name=None):
    """An in-memory Bundle of a training run's latest checkpoint (imports TensorFlow)."""
    if not os.path.isdir(run_dir):
        raise MusekitError('no such run directory: %s' % run_dir)
    from musekit.bundle import FORMAT_VERSION, Bundle
    from musekit.config import Config, get_config
    from musekit.training import load_run_config
    if config_name:
        config = get_config(config_name)   # Trainer refuses it if the run's model differs
    else:
        config = load_run_config(run_dir)
        if config is None:
            raise MusekitError('run directory %s has no config.json: name its --config'
                               % run_dir)
    with common.native_stderr_captured():
        from musekit.training import Trainer
        trainer = Trainer(config, run_dir, log=lambda line: None)
        if trainer.restored_from is None:
            raise MusekitError('run directory %s has no checkpoint yet' % run_dir)
        config_dict, weights, provenance = trainer.bundle_parts()
    return Bundle(FORMAT_VERSION, Config.from_dict(config_dict), weights, provenance, run_dir)


def main(argv):
    from musekit.bundle import load_bundle
    from musekit.encoders.melody import check_int
    from musekit.generation import (generate, read_primer_midi, render_wav, write_midi,
                                    write_piano_roll)
    from musekit.generation.midi import check_qpm
    from musekit.generation.squash import squash_melody, transpose_melody

    fv = parse(argv)
    qpm = check_qpm(fv.qpm)
    started = time.perf_counter()
    bundle = load_bundle(fv.bundle_file) if fv.bundle_file else bundle_from_run_dir(
        fv.run_dir, fv.config)
    encoder = bundle.make_encoder()
    model = bundle.step_model(encoder)
    steps_per_quarter = bundle.config.steps_per_quarter
    if fv.primer_midi:
        primer = read_primer_midi(fv.primer_midi, encoder, steps_per_quarter)
    elif fv.primer_melody is not None:
        primer = parse_primer(fv.primer_melody)
    else:
        primer = default_primer(encoder)
    # as in Magenta: the primer moves into the key and range the model was trained on, and
    # the melodies generated from it move back
    key = getattr(bundle.config.make_extractor(), 'transpose_to_key', None)
    primer, shift = squash_melody(primer, *pitch_range(encoder), key)
    seed = (check_int('seed', fv.seed, 0) if fv.seed is not None
            else random.SystemRandom().randrange(2 ** 31))
    output_dir = fv.output_dir
    common.check_folder(output_dir, '--output_dir')

    label = 'generating %d x %d steps' % (fv.num_outputs, fv.num_steps)
    result = generate(model, encoder, primer, fv.num_steps, fv.num_outputs, fv.temperature,
                      seed, fv.beam_size, fv.branch_factor, fv.steps_per_iteration,
                      progress=ProgressBar(label))
    width = max(2, len(str(fv.num_outputs)))
    renderers = set()
    try:
        os.makedirs(output_dir, exist_ok=True)
        for index, events in enumerate(result.events, start=1):
            events = transpose_melody(events, -shift)
            stem = os.path.join(output_dir, 'melody_%0*d' % (width, index))
            paths = [write_midi(stem + '.mid', events, qpm, steps_per_quarter)]
            if fv.render_wav:
                renderers.add(render_wav(stem + '.wav', events, qpm, steps_per_quarter))
                paths.append(stem + '.wav')
            if fv.plot:
                paths.append(write_piano_roll(stem + '.png', events, len(primer),
                                              4 * steps_per_quarter, steps_per_quarter))
            print('  '.join(paths))
    except OSError as e:
        raise MusekitError('cannot write to --output_dir %s: %s' % (
            output_dir, e.strerror or e)) from None
    print('%s: %d melodies of %d steps (primer %d) in %s, seed %d, %.2f s%s' % (
        PROGRAM, fv.num_outputs, fv.num_steps, len(primer), output_dir, seed,
        time.perf_counter() - started,
        ', audio by ' + '/'.join(sorted(renderers)) if renderers else ''))


def run(argv=None):
    """Console entry point: user errors print one line on stderr and exit with status 2."""
    common.run_main(main, argv, PROGRAM)


if __name__ == '__main__':
    run()
