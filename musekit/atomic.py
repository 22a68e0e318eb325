"""Files that appear under their name only when complete: written under a hidden name
beside the target, then renamed over it (a rename within a folder is atomic), so a crash,
a kill or a full disk never leaves a truncated file where a user or a glob would find it."""
import contextlib
import os
import secrets

from musekit.errors import MusekitError


def temporary_name(path):
    """The hidden name `path` is written under: '.NAME.RANDOM.tmp' in the same folder."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, '.%s.%s.tmp' % (name, secrets.token_hex(6)))


@contextlib.contextmanager
def replacing(path):
    """Yields a temporary path to write in full; when the body ends without an error it is
    renamed to `path`, otherwise removed. An OSError (a full disk, a read-only folder)
    becomes one MusekitError line naming `path`."""
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(e, OSError):
            raise MusekitError('cannot write %s: %s' % (path, e.strerror or e)) from None
        raise


def write_bytes(path, data):
    """Writes `data` to `path` whole or not at all (see `replacing`); returns `path`."""
    with replacing(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path


def write_text(path, text):
    """`write_bytes` of UTF-8 text."""
    return write_bytes(path, text.encode('utf-8'))
