"""musekit_studio: a local web page to pick a bundle, prime it, generate, watch, listen and
download.

    musekit_studio [--bundle_dir=DIR ...] [--port=N] [--host=127.0.0.1] [--workers=N]

Serves the shipped bundles and those (.musekit, Magenta .mag) in each --bundle_dir, on
127.0.0.1 unless --host says otherwise (--port=0: a free port), and prints one line with the
address once it is ready. Generation runs in --workers processes (default: one per CPU);
the server itself never imports TensorFlow. Ctrl-C (or SIGTERM) stops it and removes its
temporary files.
"""
import contextlib
import os
import signal
import socket
import sys

from absl import flags

from musekit.cli import command
from musekit.errors import MusekitError

PROGRAM = 'musekit_studio'
SYNOPSIS = '%s [--bundle_dir=DIR ...] [--port=N] [--host=ADDRESS] [--workers=N]' % PROGRAM


def define_flags(fv):
    flags.DEFINE_multi_string('bundle_dir', [], 'A folder whose bundle files (.musekit, '
                              'Magenta .mag) the page offers besides the shipped ones; may '
                              'be repeated.', flag_values=fv)
    flags.DEFINE_integer('port', 8765, 'The port to serve on (0: a free one).', lower_bound=0,
                         upper_bound=65535, flag_values=fv)
    flags.DEFINE_string('host', '127.0.0.1', 'The address to serve on (0.0.0.0 lets other '
                        'machines in: the page has no login).', flag_values=fv)
    flags.DEFINE_integer('workers', None, 'Generation worker processes (default: the CPU '
                         'count); each runs one request at a time.', lower_bound=1,
                         upper_bound=256, flag_values=fv)


def bind(host, port):
    """A listening socket on host:port; one line when the address cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise MusekitError('--host %s: %s' % (host, e.strerror)) from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise MusekitError('cannot serve on %s:%d: %s' % (host, port, e.strerror or e)) \
            from None
    sock.listen(128)
    return sock


def main(argv):
    fv = command.parse_flags(argv, define_flags, SYNOPSIS)
    import uvicorn
    from musekit.studio.app import create_app
    from musekit.studio.catalog import Catalog
    catalog = Catalog(fv.bundle_dir)
    sock = bind(fv.host, fv.port)
    host, port = sock.getsockname()[:2]
    shown = '[%s]' % host if ':' in host else host
    # the names the page may be reached by (any, when serving every address)
    hosts = None if fv.host in ('0.0.0.0', '::', '') else {
        '127.0.0.1', 'localhost', '[::1]', shown, fv.host}
    app = create_app(catalog, fv.workers or os.cpu_count() or 1, hosts=hosts)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            # uvicorn's own re-raises the signal after shutting down; the studio exits 0
            saved = {sig: signal.signal(sig, self.handle_exit)
                     for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in saved.items():
                    signal.signal(sig, handler)

        async def startup(self, sockets=None):
            await super().startup(sockets)
            if not self.should_exit:
                print('%s: serving http://%s:%d/' % (PROGRAM, shown, port), flush=True)

    config = uvicorn.Config(app, log_level='warning', timeout_graceful_shutdown=2,
                            lifespan='on')
    Server(config).run(sockets=[sock])
    sys.stdout.flush()


def run(argv=None):
    """Console entry point: user errors print one line on stderr and exit with status 2."""
    command.run_main(main, argv, PROGRAM)


if __name__ == '__main__':
    run()
