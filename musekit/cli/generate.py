"""musekit_generate: pieces from a bundle, as MIDI files (and optionally WAV and PNG).

    musekit_generate --bundle_file=lookback.musekit --output_dir=/tmp/melodies \\
        --num_outputs=10 --num_steps=128 --primer_melody="[60, -2, 62]"

The bundle's piece type (melody, piano_roll, ...) decides what a primer is and which files
an output becomes (melody_01.mid, ... or piece_01.mid, ..., plus .wav / .png with
--render_wav / --plot), written into --output_dir, replacing files of those names. Outputs
are generated --batch_size at a time and each batch is written as soon as it is done, so
memory stays flat however many are asked for and Ctrl-C keeps the finished files. Sizes
past musekit's limits (README, "Limits") are refused before any work. Flags of another
piece type are refused. With --bundle_file it never imports TensorFlow; --run_dir (a
musekit_train run directory, latest checkpoint) reads the checkpoint with TensorFlow.
"""
import dataclasses
import os
import random
import sys
import time

from absl import flags

from musekit.cli import command
from musekit.errors import MusekitError
from musekit.generation import DEFAULT_BATCH_SIZE, check_sizes
from musekit.progress import ProgressBar

PROGRAM = 'musekit_generate'
PIPE_PROGRESS_S = 5.0       # on a pipe, a progress line this often
_DEFINE = {'string': flags.DEFINE_string, 'integer': flags.DEFINE_integer,
           'float': flags.DEFINE_float, 'boolean': flags.DEFINE_boolean}


def define_common_flags(fv):
    """The flags every piece type takes."""
    from musekit.bundle import shipped_bundles
    flags.DEFINE_string('bundle_file', None, 'The bundle to generate with: a musekit bundle '
                        "file, a Magenta .mag file, or a shipped bundle's name (%s)."
                        % ', '.join(sorted(shipped_bundles())), flag_values=fv)
    flags.DEFINE_string('run_dir', None, "Instead of --bundle_file: a musekit_train run "
                        "directory; uses its latest checkpoint (loads TensorFlow, slower).",
                        flag_values=fv)
    flags.DEFINE_string('config', None, 'With --run_dir: the config name or .json path, '
                        "needed only if the run directory has no config.json.", flag_values=fv)
    flags.DEFINE_string('output_dir', None, 'Folder for the generated files.', flag_values=fv)
    flags.DEFINE_integer('num_outputs', 10, 'How many pieces to generate.', flag_values=fv)
    flags.DEFINE_integer('num_steps', 128, 'Length of each piece in steps, primer included '
                         '(as in Magenta: 16th notes for the melody and polyphony configs, '
                         '10 ms for performances, which also take --num_seconds); audio '
                         'bundles take --num_seconds instead.', flag_values=fv)
    flags.DEFINE_float('temperature', 1.0, 'Sampling temperature: above 1 more random, '
                       'below 1 more conservative.', flag_values=fv)
    flags.DEFINE_integer('top_k', 0, 'Sample each step from the k likeliest classes only '
                         '(0: from all); for models that draw one class per step.',
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_integer('beam_size', 1, 'Sequences kept per output by beam search.',
                         flag_values=fv)
    flags.DEFINE_integer('branch_factor', 1, 'Branches per beam sequence and iteration.',
                         flag_values=fv)
    flags.DEFINE_integer('steps_per_iteration', 1, 'Steps sampled per beam iteration.',
                         flag_values=fv)
    flags.DEFINE_integer('seed', None, 'Random seed (default: a fresh one, printed); the '
                         'same seed and --batch_size give the same outputs.', flag_values=fv)
    flags.DEFINE_integer('batch_size', DEFAULT_BATCH_SIZE, 'Outputs generated together, '
                         'each batch written as soon as it is done: memory grows with this, '
                         'not with --num_outputs (a beam search output counts beam_size x '
                         'branch_factor).', lower_bound=1, flag_values=fv)


def piece_flags():
    """{flag name: [(piece type name, its Flag), ...]} over every registered piece type. Piece
    types may share a flag name with the same kind, each with its own default and help."""
    from musekit.pieces.base import get_piece_type
    from musekit.registry import PIECES
    out = {}
    for name in PIECES.names():
        for flag in get_piece_type(name).flags:
            owners = out.setdefault(flag.name, [])
            if owners and owners[0][1].kind != flag.kind:
                raise MusekitError('piece types %s and %s define --%s as different kinds '
                                   '(%s, %s)' % (owners[0][0], name, flag.name,
                                                 owners[0][1].kind, flag.kind))
            owners.append((name, flag))
    return out


def _flag_help(owners):
    """One help text for a flag that several piece types may own: each owner's own help
    (and default, where the owners' defaults differ) with its name."""
    defaults = {repr(flag.default) for _, flag in owners}
    helps = {}
    for name, flag in owners:
        text = flag.help if len(defaults) == 1 else '%s (default %s)' % (
            flag.help.rstrip('.') + '.', flag.default)
        helps.setdefault(text, []).append(name)
    return ' '.join('%s [%s]' % (text, ', '.join(names)) for text, names in helps.items())


def define_flags(fv):
    define_common_flags(fv)
    common_names = set(fv)
    for name, owners in piece_flags().items():
        if name in common_names:
            raise MusekitError('piece type %s redefines the common flag --%s'
                               % (owners[0][0], name))
        flag = owners[0][1]
        same_default = len({repr(f.default) for _, f in owners}) == 1
        _DEFINE[flag.kind](name, flag.default if same_default else None, _flag_help(owners),
                           flag_values=fv)


SYNOPSIS = ('%s (--bundle_file=FILE | --run_dir=DIR) --output_dir=DIR [flags]\n'
            '  (a flag marked [TYPE] fits only bundles whose piece type is TYPE)' % PROGRAM)


def parse(argv):
    """The parsed flags, checked; --help prints usage and exits 0."""
    fv = command.parse_flags(argv, define_flags, SYNOPSIS)
    missing = ['--bundle_file (or --run_dir)'] if not (fv.bundle_file or fv.run_dir) else []
    missing += ['--output_dir'] if not fv.output_dir else []
    if missing:
        raise MusekitError('missing required flag%s: %s' % (
            's' if len(missing) > 1 else '', ', '.join(missing)))
    if fv.bundle_file and fv.run_dir:
        raise MusekitError('give --bundle_file or --run_dir, not both')
    if fv.config and not fv.run_dir:
        raise MusekitError('--config goes with --run_dir (a bundle carries its own config)')
    if min(fv.num_steps, fv.num_outputs, fv.beam_size, fv.branch_factor) >= 1:
        check_sizes(fv.num_steps, fv.num_outputs, fv.beam_size, fv.branch_factor, flags=True)
    return fv


def piece_options(fv, piece_type, source):
    """{flag: value} of `piece_type`'s flags; a flag set on the command line that belongs
    only to other piece types is a MusekitError."""
    own = {flag.name: flag for flag in piece_type.flags}
    for name, owners in piece_flags().items():
        if fv[name].present and name not in own:
            raise MusekitError('--%s does not apply to %s, whose pieces are %s (it is a flag '
                               'for %s)' % (name, source, piece_type.name,
                                            ', '.join(owner for owner, _ in owners)))
    # a flag not given takes this piece type's own default
    return {name: fv[name].value if fv[name].present else flag.default
            for name, flag in own.items()}


def bundle_from_run_dir(run_dir, config_name=None):
    """An in-memory Bundle of a training run's latest checkpoint, its weights read from the
    checkpoint file as data (imports TensorFlow, builds no model)."""
    if not os.path.isdir(run_dir):
        raise MusekitError('no such run directory: %s' % run_dir)
    from musekit.bundle import FORMAT_VERSION, Bundle, check_buildable
    from musekit.config import get_config
    from musekit.training import _check_same_model, checkpoint_weights, load_run_config
    saved = load_run_config(run_dir)
    if config_name:
        config = get_config(config_name)
        if saved is not None:
            _check_same_model(saved, config, run_dir)
    elif saved is None:
        raise MusekitError('run directory %s has no config.json: name its --config' % run_dir)
    else:
        config = saved
    with command.native_stderr_captured():
        command.import_tensorflow_quietly()
        weights, path, step = checkpoint_weights(run_dir, config)
    provenance = {'run_dir': run_dir, 'checkpoint': os.path.basename(path),
                  'training_steps': step}
    bundle = Bundle(FORMAT_VERSION, config, weights, provenance, run_dir)
    check_buildable(bundle)
    return bundle


@dataclasses.dataclass
class Plan:
    """A checked request: what generation needs, worked out from the flags before any model
    is built (musekit_generate's and the studio's jobs')."""
    fv: object
    bundle: object
    encoder: object
    piece: object
    options: dict
    primer: list            # in the model's space
    moved: object
    num_steps: int
    seed: int


def plan(fv, bundle, source):
    """The Plan of parsed flags `fv` for `bundle` (named `source` in messages), with every
    check generation makes done first: bad input is a MusekitError in the CLI's words. No
    --seed: a fresh one."""
    from musekit.errors import check_int
    from musekit.generation import check_sizes
    from musekit.generation.sampling import check_args, check_beam_args
    from musekit.pieces.base import get_piece_type
    encoder = bundle.make_encoder()
    piece_type = get_piece_type(encoder.piece_type)
    options = piece_options(fv, piece_type, source)
    piece = piece_type(encoder, bundle.config.make_extractor())
    piece.requested_length(fv.num_steps, fv['num_steps'].present)
    primer, moved = piece.to_model(piece.primer(options))
    num_steps = piece.num_steps(options, fv.num_steps, fv['num_steps'].present)
    seed = (check_int('seed', fv.seed, 0) if fv.seed is not None
            else random.SystemRandom().randrange(2 ** 31))
    check_args(encoder, primer, num_steps, fv.num_outputs, fv.temperature)
    check_beam_args(fv.beam_size, fv.branch_factor, fv.steps_per_iteration)
    check_sizes(num_steps, fv.num_outputs, fv.beam_size, fv.branch_factor,
                steps_limit=piece.steps_limit)
    return Plan(fv, bundle, encoder, piece, options, primer, moved, num_steps, seed)


def step_model(work, model=None):
    """The step model of a Plan (`model`: its bundle's, already built) with the sampling
    mode and top-k its flags ask for; one the model does not offer is a MusekitError."""
    model = model or work.bundle.step_model(work.encoder)
    mode = work.piece.sampling_mode(work.options)
    if mode:
        model = model.with_mode(mode)
    if work.fv.top_k:
        model = model.with_top_k(work.fv.top_k)
    return model


def main(argv):
    from musekit.bundle import load_bundle
    fv = parse(argv)
    started = time.perf_counter()
    bundle = load_bundle(fv.bundle_file) if fv.bundle_file else bundle_from_run_dir(
        fv.run_dir, fv.config)
    from musekit.generation import generate_in_chunks

    work = plan(fv, bundle, fv.bundle_file or fv.run_dir)
    model = step_model(work)
    encoder, piece, primer, moved = work.encoder, work.piece, work.primer, work.moved
    options, num_steps, seed = work.options, work.num_steps, work.seed
    output_dir = fv.output_dir
    command.check_folder(output_dir, '--output_dir')

    label = 'generating %d x %s %s' % (fv.num_outputs, '{:,}'.format(num_steps),
                                        piece.step_unit)
    bar = ProgressBar(label, pipe_interval_s=PIPE_PROGRESS_S)
    chunks = generate_in_chunks(model, encoder, primer, num_steps, fv.num_outputs,
                                fv.temperature, seed, fv.beam_size, fv.branch_factor,
                                fv.steps_per_iteration, fv.batch_size, progress=bar,
                                steps_limit=piece.steps_limit,
                                steering=piece.steering(options, primer))
    width = max(2, len(str(fv.num_outputs)))
    renderers, written = set(), 0
    try:
        for first, result in chunks:
            os.makedirs(output_dir, exist_ok=True)
            for index, events in enumerate(result.events, start=first + 1):
                stem = os.path.join(output_dir, '%s_%0*d' % (piece.file_stem, width, index))
                paths, used = piece.write(stem, piece.from_model(events, moved), len(primer),
                                          options)
                renderers.update(used)
                bar.clear()
                print('  '.join(paths), flush=True)
                written += 1
    except OSError as e:
        raise MusekitError('cannot write to --output_dir %s: %s' % (
            output_dir, e.strerror or e)) from None
    except KeyboardInterrupt:
        bar.clear()
        print('%s: interrupted; the %d finished %s of %d are in %s' % (
            PROGRAM, written, piece.plural, fv.num_outputs, output_dir), file=sys.stderr)
        sys.exit(130)
    print('%s: %d %s of %d %s (primer %d) in %s, seed %d, %.2f s%s' % (
        PROGRAM, fv.num_outputs, piece.plural, num_steps, piece.step_unit, len(primer),
        output_dir, seed,
        time.perf_counter() - started,
        ', audio by ' + '/'.join(sorted(renderers)) if renderers else ''))


def run(argv=None):
    """Console entry point: user errors print one line on stderr and exit with status 2."""
    command.run_main(main, argv, PROGRAM)


if __name__ == '__main__':
    run()
