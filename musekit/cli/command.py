"""What every musekit command shares: flag parsing and usage, one-line errors, quiet TF."""
import contextlib
import os
import sys
import tempfile

from absl import flags

from musekit.errors import MusekitError

HELP_ARGS = ('-h', '--help', '-help', '--helpfull')


def usage(fv, synopsis, footer=(), skip=('helpfull',)):
    """'usage: SYNOPSIS' then one line per flag (help and default), then `footer` lines."""
    lines = ['usage: %s' % synopsis, '']
    for name in sorted(fv):  # iterating FlagValues gives flag names
        f = fv[name]
        if f.name in skip:
            continue
        default = '' if f.default is None else ' (default: %r)' % (f.default,)
        lines.append('  --%s: %s%s' % (f.name, f.help, default))
    return '\n'.join(lines + (['', *footer] if footer else []))


def parse_flags(argv, define_flags, synopsis):
    """A fresh FlagValues with `define_flags(fv)` applied, parsed from argv.

    --help prints the usage and exits 0; malformed flags and stray arguments raise
    MusekitError. Nothing is defined at import time, so each call starts clean.
    """
    fv = flags.FlagValues()
    define_flags(fv)
    if any(a in HELP_ARGS for a in argv[1:]):
        print(usage(fv, synopsis))
        sys.exit(0)
    try:
        rest = fv(argv)[1:]
    except flags.Error as e:
        raise MusekitError(str(e)) from None
    if rest:
        raise MusekitError('unexpected argument %r (flags look like --name=value)' % rest[0])
    return fv


def require(fv, names):
    """Raises MusekitError naming every flag of `names` left empty."""
    missing = ['--' + name for name in names if fv[name].value in (None, '')]
    if missing:
        raise MusekitError('missing required flag%s: %s' % (
            's' if len(missing) > 1 else '', ', '.join(missing)))


def run_main(main, argv, program):
    """Runs `main(argv)`; user errors end as one line on stderr and exit status 2."""
    from musekit import limits
    try:
        limits.check_environment()
        main(sys.argv if argv is None else argv)
    except MusekitError as e:
        print('%s: error: %s' % (program, e), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print('%s: interrupted' % program, file=sys.stderr)
        sys.exit(130)
    except MemoryError as e:        # an allocation past what the machine gives: no traceback
        print('%s: error: out of memory%s' % (program, ': %s' % e if str(e) else ''),
              file=sys.stderr)
        sys.exit(2)


@contextlib.contextmanager
def native_stderr_captured():
    """Holds back what native code (TensorFlow's C++ start-up logs) writes to fd 2.

    TF_CPP_MIN_LOG_LEVEL does not silence the lines logged before absl initialises, so the
    file descriptor itself is redirected; the text is shown only if something unexpected
    (not a MusekitError) goes wrong.
    """
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except MusekitError:
            raise
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode('utf-8', 'replace'))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def check_folder(path, flag):
    """Raises MusekitError when local `path` (given as `flag`) exists but is not a folder."""
    if '://' not in path and os.path.exists(path) and not os.path.isdir(path):
        raise MusekitError('%s %s exists and is not a folder' % (flag, path))


def import_tensorflow_quietly():
    """Imports TensorFlow (and probes its devices) without its C++ start-up log lines."""
    if 'tensorflow' in sys.modules:
        return
    from musekit.cli.launch import gc_paused
    with native_stderr_captured(), gc_paused():
        import tensorflow as tf
        tf.config.list_physical_devices()      # device probing logs too (no CUDA, ...)
