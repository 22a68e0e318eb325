"""Generation jobs of the studio, each run in a worker process of a pool (one job at a time
per worker, BLAS on one thread as generation sets it; workers start as requests need them),
so the server stays light and requests run side by side. A job streams 'start',
'progress' and one final 'done' / 'error' / 'cancelled' event; cancelling a running job
terminates its worker, which is replaced at once.

What a job does is musekit_generate's: its flags are parsed and checked by
musekit.cli.generate, and each output is written by its piece type's `write`; partial
results are the piece type's own files of the events so far, read back."""
import json
import multiprocessing
import os
import queue
import shutil
import signal
import sys
import threading
import time
import traceback

from musekit.errors import MusekitError

PROGRESS_INTERVAL_S = 0.2       # partial results at most this often (the first at once),
PROGRESS_SHARE = 0.25           # and taking at most this share of a job's time
WAVEFORM_BUCKETS_PER_S = 100    # audio is sent as (min, max) pairs, one per 10 ms
WARM_UP_MODULES = ('matplotlib.pyplot', 'pretty_midi', 'soundfile', 'note_seq',
                   'musekit.cli.generate', 'musekit.generation')
FILE_KINDS = {'.mid': 'midi', '.wav': 'wav', '.png': 'png'}
MAX_OUTPUTS = 64                # a page shows each output (its notes travel in each event)


def prepare(argv, source, bundle=None):
    """musekit_generate's Plan of `argv` (its --bundle_file already loaded as `bundle`, if
    given), every check made; bad input is a MusekitError in the CLI's words. `source`
    names the bundle in messages."""
    from musekit.bundle import load_bundle
    from musekit.cli.generate import parse, plan
    fv = parse(argv)
    if fv.seed is None:
        raise MusekitError('a studio job needs a --seed')     # the server always sets one
    if fv.num_outputs > MAX_OUTPUTS:
        raise MusekitError('num_outputs=%d: the studio shows at most %d outputs of a request; '
                           'musekit_generate writes any number' % (fv.num_outputs, MAX_OUTPUTS))
    return plan(fv, bundle or load_bundle(fv.bundle_file), source)


# --- reading written files back --------------------------------------------------------------

def read_notes(path):
    """{'notes': [[pitch, start_s, end_s], ...] by start (then pitch), 'chords': [[time_s, text], ...]
    (the MIDI's text events: a lead sheet's chord symbols), 'bar_seconds'} of a MIDI file."""
    import pretty_midi
    midi = pretty_midi.PrettyMIDI(path)
    notes = sorted(([note.pitch, round(note.start, 4), round(note.end, 4)]
                    for instrument in midi.instruments for note in instrument.notes),
                   key=lambda note: (note[1], note[0], note[2]))
    _, tempos = midi.get_tempo_changes()
    qpm = float(tempos[0]) if len(tempos) else 120.0
    signature = midi.time_signature_changes[0] if midi.time_signature_changes else None
    beats = signature.numerator * 4.0 / signature.denominator if signature else 4.0
    return {'notes': notes,
            'chords': [[round(t.time, 4), t.text] for t in midi.text_events],
            'bar_seconds': round(60.0 / qpm * beats, 6)}


def read_waveform(path):
    """{'waveform': [[min, max], ...] per 10 ms, 'samples', 'sample_rate'} of a WAV file."""
    import numpy as np
    import soundfile
    samples, rate = soundfile.read(path, dtype='float32', always_2d=True)
    samples = samples.mean(axis=1)
    size = max(1, rate // WAVEFORM_BUCKETS_PER_S)
    count = len(samples) // size * size
    pairs = []
    if count:
        blocks = samples[:count].reshape(-1, size)
        pairs = np.stack([blocks.min(axis=1), blocks.max(axis=1)],
                         axis=1).astype(np.float64).round(4).tolist()
    if count < len(samples):
        tail = samples[count:]
        pairs.append([round(float(tail.min()), 4), round(float(tail.max()), 4)])
    return {'waveform': pairs, 'samples': int(len(samples)), 'sample_rate': int(rate)}


def read_output(paths, primer_keys=frozenset()):
    """What the page draws of one output's written files: its notes (each with is_primer,
    1 when `primer_keys` holds its (pitch, start)) or its waveform, and the files by kind."""
    files = {FILE_KINDS[os.path.splitext(p)[1]]: p for p in paths
             if os.path.splitext(p)[1] in FILE_KINDS}
    if 'midi' in files:
        out = read_notes(files['midi'])
        out['notes'] = [[p, s, e, int((p, s) in primer_keys)] for p, s, e in out['notes']]
    elif 'wav' in files:
        out = dict(read_waveform(files['wav']), notes=[])
    else:
        out = {'notes': []}
    out['files'] = {kind: os.path.basename(p) for kind, p in files.items()}
    return out


# --- the worker process ----------------------------------------------------------------------

class Run:
    """One job inside a worker: generation as musekit_generate does it, sending events."""

    SCRATCH = '.partial'        # the folder of partial results' files, in the output folder

    def __init__(self, send, argv, source, out_dir, bundle, model):
        self.send, self.out_dir = send, out_dir
        self.plan = prepare(argv, source, bundle)
        from musekit.cli.generate import step_model
        self.model = step_model(self.plan, model)
        self.scratch = os.path.join(out_dir, self.SCRATCH)
        os.makedirs(self.scratch, exist_ok=True)
        options = self.plan.options

        def turned(**values):
            return dict(options, **{k: v for k, v in values.items() if k in options})
        # partial results: the MIDI alone; each output: its MIDI and WAV at once, so it can
        # be heard while the others are made, and its PNG (the slow part) at the end
        self.quiet = turned(render_wav=False, plot=False)
        self.heard = turned(render_wav=True, plot=False)
        self.plotted = turned(render_wav=False, plot=True) if 'plot' in options else None
        self.finished = []
        self.done = 0
        self.next_progress = None       # time.monotonic() of the next partial result

    def partial(self, events, name, primer_keys=frozenset()):
        """What the page draws of `events` (model space), written to scratch files."""
        plan = self.plan
        paths, _ = plan.piece.write(os.path.join(self.scratch, name),
                                    plan.piece.from_model(events, plan.moved),
                                    len(plan.primer), self.quiet)
        out = read_output(paths, primer_keys)
        out.pop('files')
        return out

    def run(self):
        from musekit.generation import generate_in_chunks
        plan, fv = self.plan, self.plan.fv
        started = time.perf_counter()
        model = self.model
        primer_out = self.partial(plan.primer, 'primer')
        self.primer_keys = frozenset((p, s) for p, s, _, _ in primer_out['notes'])
        for note in primer_out['notes']:
            note[3] = 1
        start = {'piece_type': plan.piece.name, 'num_outputs': fv.num_outputs,
                 'total_steps': plan.num_steps, 'primer_steps': len(plan.primer),
                 'kind': 'audio' if 'waveform' in primer_out else 'notes',
                 'seed': plan.seed, 'step_unit': plan.piece.step_unit,
                 'primer_notes': primer_out['notes']}
        if 'sample_rate' in primer_out:
            start['sample_rate'] = primer_out['sample_rate']
        self.send('start', start)
        self.total = plan.fv.num_outputs * (plan.num_steps - len(plan.primer))
        chunks = generate_in_chunks(model, plan.encoder, plan.primer, plan.num_steps,
                                    fv.num_outputs, fv.temperature, plan.seed, fv.beam_size,
                                    fv.branch_factor, fv.steps_per_iteration,
                                    fv.batch_size, steps_limit=plan.piece.steps_limit,
                                    steering=plan.piece.steering(plan.options, plan.primer),
                                    on_step=self.on_step)
        width = max(2, len(str(fv.num_outputs)))
        written = []
        for first, result in chunks:
            for index, events in enumerate(result.events, start=first + 1):
                name = '%s_%0*d' % (plan.piece.file_stem, width, index)
                events = plan.piece.from_model(events, plan.moved)
                paths, _ = plan.piece.write(os.path.join(self.out_dir, name), events,
                                            len(plan.primer), self.heard)
                self.finished.append(dict(read_output(paths, self.primer_keys), index=index))
                written.append((name, events))
            self.send('progress', {'done': self.done, 'total': self.total, 'cumulative': True,
                                   'steps': self.total // fv.num_outputs,
                                   'outputs': self.finished})
        for (name, events), output in zip(written, self.finished):
            if self.plotted is not None:
                output['files'].update(self.plot(name, events))
        self.send('done', {'outputs': self.finished,
                           'seconds': round(time.perf_counter() - started, 3),
                           'seed': plan.seed})

    def plot(self, name, events):
        """{'png': file name} of an output's PNG, drawn by its piece type's writer in the
        scratch folder and moved beside the output's other files."""
        plan = self.plan
        paths, _ = plan.piece.write(os.path.join(self.scratch, name), events,
                                    len(plan.primer), self.plotted)
        out = {}
        for path in paths:
            kind = FILE_KINDS.get(os.path.splitext(path)[1])
            if kind == 'png':
                os.replace(path, os.path.join(self.out_dir, os.path.basename(path)))
                out[kind] = os.path.basename(path)
        return out

    def on_step(self, done, total, events, first):
        """Sends the outputs so far, at most every PROGRESS_INTERVAL_S and, as they grow
        (each is written and read back whole), at most PROGRESS_SHARE of the time."""
        self.done, self.total = done, total
        now = time.monotonic()
        if self.next_progress is not None and done < total and now < self.next_progress:
            return
        outputs, rows = list(self.finished), events()
        for index, row in enumerate(rows, start=first + 1):
            outputs.append(dict(self.partial(row, 'output_%d' % index, self.primer_keys),
                                index=index))
        per_output = total // self.plan.fv.num_outputs
        self.send('progress', {'done': done, 'total': total, 'cumulative': True,
                               'steps': (done - first * per_output) // max(1, len(rows)),
                               'outputs': outputs})
        spent = time.monotonic() - now
        self.next_progress = now + max(PROGRESS_INTERVAL_S, spent / PROGRESS_SHARE)


def _warm_up():
    """Imports what every job needs, so the first job starts as fast as the others."""
    import importlib
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        import matplotlib
        matplotlib.use('Agg')
        for name in WARM_UP_MODULES:
            importlib.import_module(name)


def worker_main(conn):
    """A worker process: runs ('run', argv, source, out_dir) requests one at a time,
    sending (kind, data) events back, until the pipe closes or None arrives. Ctrl-C in a
    terminal reaches the whole process group: the server stops its workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _warm_up()
    from musekit.bundle import load_bundle
    bundles = {}

    def send(kind, data):
        conn.send((kind, data))

    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        _, argv, source, out_dir, path = request
        try:
            if path not in bundles:     # step models keep no state between generations
                bundle = load_bundle(path)
                bundles[path] = bundle, bundle.step_model()
            Run(send, argv, source, out_dir, *bundles[path]).run()
            shutil.rmtree(os.path.join(out_dir, Run.SCRATCH), ignore_errors=True)
        except MusekitError as e:
            send('error', {'error': str(e)})
        except MemoryError as e:
            send('error', {'error': 'out of memory%s' % (': %s' % e if str(e) else '')})
        except Exception as e:     # a bug, not the user's: the traceback goes to the log
            traceback.print_exc()
            send('error', {'error': 'internal error: %s: %s' % (type(e).__name__, e)})


# --- the server side -------------------------------------------------------------------------

def sse(event, data):
    """One Server-Sent Event: its name and JSON data."""
    return 'event: %s\ndata: %s\n\n' % (event, json.dumps(data, separators=(',', ':')))


class Job:
    """A request's state as the server sees it: its start, latest progress and final event
    (each as Server-Sent Events text), updated by a pool thread; `notify` (set by the server) is called after
    each change, from that thread."""

    def __init__(self, id, folder, argv, source, bundle_path):
        self.id, self.folder = id, folder
        self.out_dir = os.path.join(folder, 'out')
        self.argv, self.source, self.bundle_path = argv, source, bundle_path
        self.lock = threading.Lock()
        self.start = self.progress = self.final = None
        self.version = 0
        self.files = set()          # names of result files the server may send
        self.cancelled = False
        self.slot = None
        self.notify = lambda: None

    def publish(self, kind, data):
        """Records an event (its result files' names made urls and allowed), encoded once
        as Server-Sent Events text for every client: 'start' and the latest 'progress' are
        kept, and the first final event ends the job."""
        names = set()
        for output in data.get('outputs', ()):
            if 'files' in output:
                names.update(output['files'].values())
                output['files'] = {kind_: '/api/jobs/%s/files/%s' % (self.id, name)
                                   for kind_, name in output['files'].items()}
        text = sse(kind, data)
        with self.lock:
            if self.final is not None:
                return
            self.files.update(names)
            if kind == 'start':
                self.start = text
            elif kind == 'progress':
                self.progress = text
            else:
                self.final = text
            self.version += 1
        self.notify()

    def snapshot(self):
        with self.lock:
            return self.version, self.start, self.progress, self.final


class Slot:
    """One worker process and the thread that feeds it jobs from the pool's queue."""

    def __init__(self, pool):
        self.pool = pool
        self.process = self.conn = None
        self.lock = threading.Lock()        # over starting and stopping the process
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start_worker(self):
        """A fresh worker process; False once the pool has closed."""
        with self.lock:
            if self.pool.closed:
                return False
            parent, child = self.pool.context.Pipe()
            process = self.pool.context.Process(target=worker_main, args=(child,),
                                                daemon=True)
            process.start()
            child.close()
            self.process, self.conn = process, parent
            return True

    def terminate(self):
        """Stops the worker now (its job ends with the pipe); the loop replaces it."""
        with self.lock:
            if self.process is not None and self.process.is_alive():
                self.process.terminate()

    def stop_worker(self):
        self.terminate()
        with self.lock:
            if self.process is not None:
                self.process.join(5)
                if self.process.is_alive():
                    self.process.kill()
                    self.process.join()
                self.conn.close()

    def loop(self):
        if not self.start_worker():
            return
        while True:
            with self.pool.lock:
                self.pool.idle += 1
            job = self.pool.queue.get()
            with self.pool.lock:
                self.pool.idle -= 1
            if job is None:
                break
            with job.lock:
                if job.cancelled:
                    continue
                job.slot = self
            try:
                self.conn.send(('run', job.argv, job.source, job.out_dir, job.bundle_path))
                while True:
                    kind, data = self.conn.recv()
                    job.publish(kind, data)
                    if kind in ('done', 'error'):
                        break
                if job.cancelled:   # cancelled as it ended: its worker may be stopping
                    self.stop_worker()
                    if not self.start_worker():
                        break
            except (EOFError, OSError):
                self.stop_worker()
                if job.cancelled:
                    job.publish('cancelled', {})
                else:
                    code = self.process.exitcode
                    job.publish('error', {'error': 'the generation worker stopped (%s)' % (
                        'killed by signal %d' % -code if code and code < 0
                        else 'exit status %s' % code)})
                if not self.start_worker():
                    break
            finally:
                with job.lock:
                    job.slot = None
        self.stop_worker()


class Pool:
    """Up to `size` worker processes running queued jobs; `cancel` stops a job wherever it
    is. One worker starts with the pool, another only when a job finds every started one
    busy (each holds some 200 MB once its libraries are loaded)."""

    def __init__(self, size):
        self.context = multiprocessing.get_context('spawn')
        self.queue = queue.Queue()
        self.closed = False
        self.slots = [Slot(self) for _ in range(size)]
        self.lock = threading.Lock()
        self.idle = 0               # slot threads waiting for a job
        self.started = 0

    def start(self):
        self._start_slot()

    def _start_slot(self):
        with self.lock:
            if self.started == len(self.slots):
                return
            slot = self.slots[self.started]
            self.started += 1
        slot.thread.start()

    def submit(self, job):
        with self.lock:
            busy = self.idle <= self.queue.qsize()
        self.queue.put(job)
        if busy:
            self._start_slot()

    def cancel(self, job):
        """Stops `job`: a queued one never runs, a running one's worker is terminated (and
        replaced); one already finished stays as it ended. True unless it had finished."""
        with job.lock:
            if job.final is not None:
                return False
            job.cancelled = True
            slot = job.slot
            if slot is not None:    # under the job's lock: the slot is still on this job
                slot.terminate()
        if slot is None:
            job.publish('cancelled', {})
        return True

    def close(self):
        self.closed = True
        started = self.slots[:self.started]
        for slot in started:
            self.queue.put(None)
        for slot in started:
            slot.terminate()
        for slot in started:
            slot.thread.join(10)


def remove_folder(path):
    shutil.rmtree(path, ignore_errors=True)


def log(message):
    print('musekit_studio: %s' % message, file=sys.stderr, flush=True)
