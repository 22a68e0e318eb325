"""The studio's web app (Starlette): the page and its assets, the bundle list, generation
requests (checked here with musekit_generate's flags and limits, run by jobs.Pool), their
events as Server-Sent Events, cancellation and result files. Nothing else is served, and
nothing a request names becomes a path: uploads are written under a per-job folder of the
server's temporary folder, under server-chosen names."""
import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from musekit import limits
from musekit.cli.generate import step_model
from musekit.errors import MusekitError
from musekit.studio import catalog as catalog_lib
from musekit.studio import jobs as jobs_lib

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
FIELDS_BYTES = 1 << 20      # what a request may carry besides its upload
MAX_FIELDS = 64
MAX_JOBS_KEPT = 64          # finished jobs (and their files) kept; older ones are removed


class TooLarge(MusekitError):
    """A request or upload over its size cap (HTTP 413)."""


def request_fields():
    """The form fields a request may send besides `bundle`: the controls of every piece type
    (so a flag of another piece type gets musekit_generate's own message). Nothing else
    reaches the flag parser: not the files and folders musekit_generate takes, nor absl's
    own flags (--flagfile would read a file the server names)."""
    from musekit.cli.generate import piece_flags
    return (set(catalog_lib.COMMON_CONTROLS) | set(piece_flags())) - set(
        catalog_lib.ALWAYS_ON)


def error(message, status=400):
    return JSONResponse({'error': str(message)}, status_code=status)


def max_upload_bytes():
    """An upload's cap: the data jobs' input file limit (MUSEKIT_MAX_FILE_BYTES)."""
    return limits.MAX_FILE_BYTES.value()


async def capped_body(request):
    """The request body, refused (MusekitError) past an upload's cap plus FIELDS_BYTES
    whatever its Content-Length says."""
    cap = max_upload_bytes() + FIELDS_BYTES
    declared = request.headers.get('content-length', '')
    if declared.isdigit() and int(declared) > cap:
        raise TooLarge('the request is %s, over the studio\'s limit of %s (uploads are '
                       'capped by MUSEKIT_MAX_FILE_BYTES)' % (
                           limits.format_amount(int(declared), 'bytes'),
                           limits.format_amount(cap, 'bytes')))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise TooLarge('the request is over the studio\'s limit of %s (uploads are '
                           'capped by MUSEKIT_MAX_FILE_BYTES)'
                           % limits.format_amount(cap, 'bytes'))
    return bytes(body)


async def read_form(request):
    """The multipart (or urlencoded) form of a request, its body capped first."""
    body = await capped_body(request)

    async def receive():
        return {'type': 'http.request', 'body': body, 'more_body': False}

    try:
        return await Request(request.scope, receive).form(
            max_files=len(catalog_lib.upload_flags()), max_fields=MAX_FIELDS)
    except HTTPException as e:     # Starlette's word for python-multipart's parse errors
        raise MusekitError('malformed form data: %s' % str(e.detail)[:200]) from None


def plain_file_name(name):
    """`name` when it is a plain file name (no folders, no '..'); else a MusekitError."""
    if not name or '/' in name or '\\' in name or '\x00' in name or name in ('.', '..') \
            or len(name) > 255:
        raise MusekitError('upload file name %r is not a plain file name' % name[:80])
    return name


def save_upload(flag, upload, folder, suffixes):
    """Writes an uploaded file under `folder` as '<flag><suffix>' (suffix kept only when it
    is one of the flag's `suffixes`); returns (path, the user's file name)."""
    name = plain_file_name(upload.filename or '')
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in suffixes:
        suffix = ''
    upload.file.seek(0, os.SEEK_END)
    size = upload.file.tell()
    try:
        limits.MAX_FILE_BYTES.check(size, 'upload %s (%s)' % (name, limits.format_amount(
            size, 'bytes')))
    except MusekitError as e:
        raise TooLarge(str(e)) from None
    upload.file.seek(0)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, flag + suffix)
    with open(path, 'wb') as f:
        shutil.copyfileobj(upload.file, f, length=1 << 20)
    return path, name


def request_argv(entry, form, folder):
    """musekit_generate's argv for a form (see the contract: fields named as flags, uploads
    in file-flag fields); (argv, {upload path: user's file name})."""
    from musekit.studio.catalog import STUDIO_DEFAULTS
    argv = ['musekit_studio', '--bundle_file=' + entry.path,
            '--output_dir=' + os.path.join(folder, 'out')]
    uploads, given, fields = {}, set(), request_fields()
    files = catalog_lib.upload_flags()
    for key, value in form.multi_items():
        if key == 'bundle':
            continue
        if key not in fields:
            raise MusekitError('%r is not a control of the studio' % key[:60])
        if key in given:
            raise MusekitError('control %s is given twice' % key)
        given.add(key)
        if isinstance(value, UploadFile):
            if key not in files:
                raise MusekitError('control %s takes no file' % key)
            if not value.filename and not value.size:
                continue            # an empty file input
            path, name = save_upload(key, value, os.path.join(folder, 'upload'), files[key])
            uploads[path] = name
            argv.append('--%s=%s' % (key, path))
        elif value.strip():
            if key in files:
                raise MusekitError('control %s takes a file upload, not text' % key)
            argv.append('--%s=%s' % (key, value.strip()))

    def has(name):
        return any(a.startswith('--%s=' % name) for a in argv)
    for name, value in STUDIO_DEFAULTS.items():
        if not has(name) and entry.control(name):
            argv.append('--%s=%s' % (name, value))
    if not has('seed'):
        argv.append('--seed=%d' % secrets.randbelow(2 ** 31))
    return argv, uploads


class Studio:
    """The app's state: the catalog, the worker pool and the jobs with their folders."""

    def __init__(self, catalog, workers, root=None):
        self.catalog = catalog
        self.pool = jobs_lib.Pool(workers)
        self.root = root or tempfile.mkdtemp(prefix='musekit-studio-')
        self.jobs = {}
        self.loop = None

    def start(self):
        self.loop = asyncio.get_running_loop()
        self.pool.start()

    def close(self):
        self.pool.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def check(self, entry, form, folder):
        """(argv, uploads) of a request, checked as musekit_generate checks its flags; the
        upload paths in messages are shown as the user's file names."""
        argv, uploads = request_argv(entry, form, folder)
        try:
            step_model(jobs_lib.prepare(argv, entry.id, entry.bundle), entry.step_model())
        except MusekitError as e:
            message = str(e)
            for path, name in uploads.items():
                message = message.replace(path, name)
            raise MusekitError(message) from None
        return argv

    def add(self, job):
        finished = [j for j in self.jobs.values() if j.final is not None]
        for old in finished[:max(0, len(self.jobs) + 1 - MAX_JOBS_KEPT)]:
            del self.jobs[old.id]
            jobs_lib.remove_folder(old.folder)
        self.jobs[job.id] = job
        loop = self.loop
        waiters = job.waiters = []

        def wake():
            for future in waiters:
                if not future.done():
                    future.set_result(None)
            waiters.clear()

        def notify():
            with contextlib.suppress(RuntimeError):     # the loop has closed
                loop.call_soon_threadsafe(wake)
        job.notify = notify

    # --- routes ---

    async def bundles(self, request):
        return JSONResponse(self.catalog.to_json())

    async def generate(self, request):
        try:
            form = await read_form(request)
        except MusekitError as e:
            return error(e, 413 if isinstance(e, TooLarge) else 400)
        id = secrets.token_hex(8)
        folder = os.path.join(self.root, id)
        try:
            entry = self.catalog.get(form.get('bundle') or '')
            argv = await run_in_threadpool(self.check, entry, form, folder)
        except MusekitError as e:
            jobs_lib.remove_folder(folder)
            return error(e, 413 if isinstance(e, TooLarge) else
                         404 if isinstance(e, catalog_lib.UnknownBundle) else 400)
        finally:
            await form.close()
        job = jobs_lib.Job(id, folder, argv, entry.id, entry.path)
        self.add(job)
        self.pool.submit(job)
        return JSONResponse({'job': id})

    def job(self, request):
        return self.jobs.get(request.path_params['id'])

    async def events(self, request):
        job = self.job(request)
        if job is None:
            return error('no such job', 404)
        return StreamingResponse(self.stream(job), media_type='text/event-stream',
                                 headers={'Cache-Control': 'no-cache'})

    async def stream(self, job):
        sent_start, sent_progress = False, None
        while True:
            future = self.loop.create_future()
            job.waiters.append(future)
            _, start, progress, final = job.snapshot()
            if start is not None and not sent_start:
                sent_start = True
                yield start
            if progress is not None and progress is not sent_progress and final is None:
                sent_progress = progress
                yield progress
            if final is not None:
                yield final
                return
            await future

    async def cancel(self, request):
        job = self.job(request)
        if job is None:
            return error('no such job', 404)
        await run_in_threadpool(self.pool.cancel, job)
        return JSONResponse({'cancelled': True})

    async def file(self, request):
        job = self.job(request)
        name = request.path_params['name']
        if job is None or name not in job.files:
            return error('no such file', 404)
        return FileResponse(os.path.join(job.out_dir, name))

    async def page(self, request):
        return FileResponse(os.path.join(STATIC, 'index.html'))


async def not_found(request, exc):
    return error('not found', 404)


def host_name(host):
    """'127.0.0.1' of a Host header '127.0.0.1:8765' ('[::1]' of '[::1]:8765')."""
    if host.startswith('['):
        return host.split(']', 1)[0] + ']'
    return host.rsplit(':', 1)[0]


class SameSite:
    """ASGI middleware refusing (403) a request whose Host the server does not answer to
    (a page elsewhere reaching the local server by DNS rebinding) and a POST from another
    origin's page (a cross-site form); `hosts` None lets any Host in."""

    def __init__(self, app, hosts=None):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope, receive, send):
        if scope['type'] == 'http':
            headers = Headers(scope=scope)
            host = headers.get('host', '')
            problem = None
            if self.hosts is not None and host_name(host) not in self.hosts:
                problem = 'this studio does not answer to host %r' % host[:80]
            elif scope['method'] == 'POST' and headers.get('origin', 'http://' + host) != \
                    'http://' + host:
                problem = 'requests from pages of other sites are refused'
            if problem:
                await error(problem, 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(catalog, workers, root=None, hosts=None):
    """The ASGI app; its lifespan starts the worker pool and, at shutdown, stops it and
    removes the jobs' folders. `hosts`: the Host names it answers to (None: any)."""
    studio = Studio(catalog, workers, root)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        studio.start()
        try:
            yield
        finally:
            await run_in_threadpool(studio.close)

    routes = [
        Route('/', studio.page),
        Route('/api/bundles', studio.bundles),
        Route('/api/generate', studio.generate, methods=['POST']),
        Route('/api/jobs/{id}/events', studio.events),
        Route('/api/jobs/{id}/cancel', studio.cancel, methods=['POST']),
        Route('/api/jobs/{id}/files/{name}', studio.file),
        Mount('/static', StaticFiles(directory=STATIC)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(SameSite, hosts=hosts)],
                    exception_handlers={404: not_found, 405: not_found})
    app.state.studio = studio
    return app
