"""musekit studio over HTTP (Starlette's TestClient, no browser): the bundle list and its
controls, generation as musekit_generate does it (same seed, same MIDI), the event stream,
cancellation, one-line 4xx errors, uploads kept inside the server's temporary folder, a
server without TensorFlow, and the musekit_studio command; and generation's on_step hook."""
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pretty_midi
import pytest
from starlette.testclient import TestClient

from magenta_refs import mag
from musekit.bundle import load_bundle, shipped_bundles
from musekit.cli import generate as cli
from musekit.pieces.base import get_piece_type
from musekit.studio import catalog as catalog_lib
from musekit.studio import jobs as jobs_lib
from musekit.studio.app import create_app
from musekit.studio.catalog import Catalog

STUDIO = os.path.join(os.path.dirname(sys.executable), 'musekit_studio')
COMMON = ['num_steps', 'num_outputs', 'temperature', 'top_k', 'beam_size', 'branch_factor',
          'steps_per_iteration', 'seed']


@pytest.fixture(scope='module')
def bundle_dir(tmp_path_factory):
    """A --bundle_dir: a copy of lookback_rnn named like a shipped bundle, a Magenta .mag,
    and a file that is no bundle."""
    folder = tmp_path_factory.mktemp('bundles')
    shutil.copy(shipped_bundles()['lookback_rnn'], folder / 'lookback_rnn.musekit')
    shutil.copy(mag('attention_rnn_chorales150'), folder)
    (folder / 'broken.musekit').write_bytes(b'not a bundle')
    return folder


@pytest.fixture(scope='module')
def catalog(bundle_dir):
    return Catalog([str(bundle_dir)])


@pytest.fixture(scope='module')
def client(catalog):
    with TestClient(create_app(catalog, workers=2)) as client:
        yield client


def studio_of(client):
    return client.app.state.studio


def events(client, job):
    """[(event, data), ...] of a job's whole event stream."""
    response = client.get('/api/jobs/%s/events' % job)
    assert response.status_code == 200
    assert response.headers['content-type'].startswith('text/event-stream')
    out = []
    for block in response.text.split('\n\n'):
        if block.strip():
            lines = dict(line.split(': ', 1) for line in block.split('\n'))
            out.append((lines['event'], json.loads(lines['data'])))
    return out


def submit(client, files=None, **fields):
    response = client.post('/api/generate', data=fields, files=files)
    assert response.status_code == 200, response.text
    return response.json()['job']


def run(client, files=None, **fields):
    """(the job id, its stream's events), the last one checked to be 'done'."""
    job = submit(client, files, **fields)
    stream = events(client, job)
    assert stream[-1][0] == 'done', stream[-1]
    return job, stream


def fetch(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content


def refused(client, status, files=None, **fields):
    """The one-line error of a request refused with `status`."""
    response = client.post('/api/generate', data=fields, files=files)
    assert response.status_code == status, response.text
    message = response.json()['error']
    assert '\n' not in message and 'Traceback' not in message
    return message


# --- the bundle list --------------------------------------------------------------------

def test_bundle_list_has_shipped_and_folder_bundles(client):
    bundles = {b['id']: b for b in client.get('/api/bundles').json()['bundles']}
    assert set(shipped_bundles()) <= set(bundles)
    assert bundles['lookback_rnn']['source'] == 'shipped'
    # the folder's copy of lookback_rnn gets its own id; the file that is no bundle is left out
    assert bundles['lookback_rnn-2']['source'] == 'folder'
    assert bundles['lookback_rnn-2']['format'] == 'musekit'
    assert bundles['attention_rnn_chorales150']['format'] == 'mag'
    assert 'broken' not in bundles
    for id, bundle in bundles.items():
        if bundle['source'] == 'shipped':
            loaded = load_bundle(id)
            assert bundle['description'] == loaded.config.description != ''
            assert bundle['piece_type'] == loaded.make_encoder().piece_type
            assert bundle['provenance']['training_steps'] == \
                loaded.provenance['training_steps']
    # a long provenance list is cut for the page, saying how much was left out
    vocabulary = bundles['chord_token_lstm']['provenance']['dataset_description'][
        'encoder']['params']['vocabulary']
    assert len(vocabulary) == catalog_lib._BRIEF_ITEMS + 1
    assert vocabulary[-1].startswith('... (') and vocabulary[-1].endswith(' more)')


def test_controls_are_the_common_flags_and_the_piece_types_declarations(client):
    bundles = {b['id']: b for b in client.get('/api/bundles').json()['bundles']}
    for id, bundle in bundles.items():
        piece_type = get_piece_type(bundle['piece_type'])
        declared = [f for f in piece_type.flags if f.name not in ('render_wav', 'plot')]
        names = [c['name'] for c in bundle['controls']]
        common = [n for n in COMMON if n != 'num_steps' or n in names]
        assert names == common + [f.name for f in declared], id
        controls = {c['name']: c for c in bundle['controls']}
        for flag in declared:
            kind = 'file' if flag.suffixes else flag.kind
            assert controls[flag.name]['kind'] == kind
            assert controls[flag.name]['help'] == flag.help
            assert controls[flag.name].get('accept', []) == list(flag.suffixes)
            assert ('choices' in controls[flag.name]) == flag.modes
            if kind != 'file':
                assert controls[flag.name]['default'] == flag.default
    melody = {c['name']: c for c in bundles['lookback_rnn']['controls']}
    assert melody['num_steps'] == {'name': 'num_steps', 'kind': 'integer', 'default': 128,
                                   'help': melody['num_steps']['help']}
    assert melody['temperature']['kind'] == 'float' and melody['seed']['default'] is None
    assert melody['num_outputs']['default'] == 1          # the studio's, not the CLI's 10
    # audio measures its length in seconds, a lead sheet by its chords: no num_steps
    assert 'num_steps' not in {c['name'] for c in bundles['wavenet']['controls']}
    assert 'num_steps' not in {c['name'] for c in bundles['basic_improv']['controls']}
    assert {c['name'] for c in bundles['wavenet']['controls']} >= {'num_seconds', 'label',
                                                                   'primer_wav'}
    # the uploads and menus the piece types declare
    wav = {c['name']: c for c in bundles['wavenet']['controls']}['primer_wav']
    assert wav['kind'] == 'file' and '.flac' in wav['accept']
    assert melody['primer_midi']['kind'] == 'file' and melody['primer_midi']['accept'] == [
        '.mid', '.midi', '.kar']
    # a sampling menu offers what the bundle's own step model draws by
    roll = {c['name']: c for c in bundles['ssnu_jsb']['controls']}
    assert roll['sampling']['choices'] == ['sample', 'threshold']
    tokens = {c['name']: c for c in bundles['chord_token_lstm']['controls']}
    assert tokens['sampling']['choices'] == ['sample']


# --- generation -------------------------------------------------------------------------

def test_a_request_makes_the_same_midi_as_musekit_generate(client, tmp_path, capsys):
    args = dict(num_steps='64', num_outputs='2', seed='11', primer_melody='[60, -2, 62]',
                temperature='0.9')
    job, stream = run(client, bundle='lookback_rnn', **args)
    cli.main(['musekit_generate', '--bundle_file=lookback_rnn', '--output_dir=%s' % tmp_path]
             + ['--%s=%s' % item for item in args.items()])
    capsys.readouterr()
    kinds = [kind for kind, _ in stream]
    assert kinds[0] == 'start' and set(kinds[1:-1]) <= {'progress'}
    start, done = stream[0][1], stream[-1][1]
    assert (start['piece_type'], start['kind'], start['total_steps'], start['seed']) == \
        ('melody', 'notes', 64, 11)
    assert [o['index'] for o in done['outputs']] == [1, 2]
    # the outputs could be heard before the end: written with their WAV, the PNGs come last
    [written] = [data for kind, data in stream if kind == 'progress' and data['outputs']
                 and all('files' in o for o in data['outputs'])]
    assert [set(o['files']) for o in written['outputs']] == [{'midi', 'wav'}] * 2
    # the primer: 60 for two steps, 62, a note-off and a silent step (Magenta's gap)
    assert start['primer_steps'] == 5
    assert written['done'] == written['total'] == 2 * (64 - 5)
    assert written['steps'] == 64 - 5
    assert [set(o['files']) for o in done['outputs']] == [{'midi', 'wav', 'png'}] * 2
    for output in done['outputs']:
        body = fetch(client, output['files']['midi'])
        name = 'melody_%02d.mid' % output['index']
        assert output['files']['midi'] == '/api/jobs/%s/files/%s' % (job, name)
        with open(tmp_path / name, 'rb') as f:
            assert body == f.read()           # byte for byte musekit_generate's file
        midi = pretty_midi.PrettyMIDI(io.BytesIO(body))
        notes = sorted(([n.pitch, round(n.start, 4), round(n.end, 4)]
                        for n in midi.instruments[0].notes), key=lambda n: (n[1], n[0]))
        assert [n[:3] for n in output['notes']] == notes
        # the primer's two notes (60, 62 as an eighth note each at 120 qpm) are marked
        assert [n for n in output['notes'] if n[3]] == [[60, 0.0, 0.25, 1],
                                                         [62, 0.25, 0.375, 1]]
        assert output['bar_seconds'] == 2.0
        assert fetch(client, output['files']['png']).startswith(b'\x89PNG')
        assert fetch(client, output['files']['wav'])[:4] == b'RIFF'


def test_polyphonic_bundle_generates_chords(client):
    _, stream = run(client, bundle='ssnu_jsb', num_steps='24', seed='3',
                    primer_pitches='[60, 64, 67]')
    assert stream[0][1]['piece_type'] == 'piano_roll'
    [output] = stream[-1][1]['outputs']
    primer = sorted(n[0] for n in output['notes'] if n[3])
    assert primer == [60, 64, 67]
    midi = pretty_midi.PrettyMIDI(io.BytesIO(fetch(client, output['files']['midi'])))
    assert len(midi.instruments[0].notes) == len(output['notes']) > 3


def test_audio_bundle_streams_a_waveform(client):
    import soundfile
    _, stream = run(client, bundle='wavenet', num_seconds='0.25', seed='5')
    start = stream[0][1]
    assert (start['kind'], start['sample_rate'], start['total_steps']) == ('audio', 8000,
                                                                          2001)
    [output] = stream[-1][1]['outputs']
    assert set(output['files']) == {'wav'}
    samples, rate = soundfile.read(io.BytesIO(fetch(client, output['files']['wav'])))
    assert (rate, len(samples), output['samples']) == (8000, 2000, 2000)
    assert len(output['waveform']) == 25                      # a (min, max) pair per 10 ms
    low, high = output['waveform'][0]
    assert low == pytest.approx(samples[:80].min(), abs=1e-3)
    assert high == pytest.approx(samples[:80].max(), abs=1e-3)


@pytest.mark.parametrize('id', sorted(shipped_bundles()))
def test_every_shipped_bundle_generates_with_its_defaults(client, id):
    controls = {c['name'] for c in studio_of(client).catalog.get(id).controls}
    length = {'num_steps': '48'} if 'num_steps' in controls else {}
    if 'num_seconds' in controls and 'num_steps' not in controls:
        length = {'num_seconds': '0.1'}
    _, stream = run(client, bundle=id, seed='1', **length)
    [output] = stream[-1][1]['outputs']
    if stream[0][1]['kind'] == 'audio':
        assert set(output['files']) == {'wav'} and output['waveform']
    else:
        assert set(output['files']) == {'midi', 'wav', 'png'}
        midi = pretty_midi.PrettyMIDI(io.BytesIO(fetch(client, output['files']['midi'])))
        assert len(output['notes']) == sum(len(i.notes) for i in midi.instruments)


def test_an_uploaded_wav_primes_the_audio_bundle(client):
    import numpy as np
    import soundfile
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    wav = io.BytesIO()
    soundfile.write(wav, tone, 8000, format='WAV', subtype='PCM_16')
    _, stream = run(client, files={'primer_wav': ('a4.wav', wav.getvalue())},
                    bundle='wavenet', num_seconds='0.3', primer_seconds='0.2', seed='1')
    assert stream[0][1]['primer_steps'] == 1 + 1600          # the label, then 0.2 s
    [output] = stream[-1][1]['outputs']
    samples, _ = soundfile.read(io.BytesIO(fetch(client, output['files']['wav'])))
    assert len(samples) == 2400
    # the primer's samples come back through 8-bit mu-law: within a quantization step
    assert np.abs(samples[:1600] - tone[:1600]).max() < 0.02


def test_the_stream_shows_partial_notes_before_it_ends(client):
    job, stream = run(client, bundle='lookback_rnn', num_steps='3000', seed='1')
    partial = [data for kind, data in stream if kind == 'progress' and
               data['done'] < data['total']]
    assert partial, [kind for kind, _ in stream]
    final = stream[-1][1]['outputs'][0]['notes']
    for data in partial:
        assert data['cumulative'] is True and data['total'] == 3000 - 3
        [output] = data['outputs']
        # the notes so far are the final notes that had begun (the last may still grow)
        grown = [n for n in output['notes'] if n[2] < output['notes'][-1][1]]
        assert all(n in final for n in grown)
        assert max(n[1] for n in output['notes']) <= data['done'] * 0.125 + 0.5


def test_cancel_stops_a_long_job_and_frees_its_worker(catalog):
    with TestClient(create_app(catalog, workers=1)) as client:
        studio = studio_of(client)
        job = submit(client, bundle='lookback_rnn', num_steps='100000', num_outputs='4')
        deadline = time.monotonic() + 60
        while studio.jobs[job].progress is None:
            assert time.monotonic() < deadline, 'no progress'
            time.sleep(0.05)
        [slot] = studio.pool.slots
        worker = slot.process
        assert client.post('/api/jobs/%s/cancel' % job).json() == {'cancelled': True}
        stream = events(client, job)
        assert stream[0][0] == 'start' and stream[-1] == ('cancelled', {})
        last = stream[-2][1]
        assert stream[-2][0] == 'progress' and last['done'] < last['total'] == 4 * (100000 - 3)
        assert last['steps'] * 4 == last['done']       # each output's steps so far
        worker.join(10)
        assert not worker.is_alive()
        # the one slot runs the next job at once, in a new worker
        run(client, bundle='lookback_rnn', num_steps='16')
        assert slot.process is not worker and slot.process.is_alive()
        # a finished job stays finished; an unknown one is 404
        assert client.post('/api/jobs/%s/cancel' % job).status_code == 200
        assert events(client, job)[-1] == ('cancelled', {})
        assert client.post('/api/jobs/nope/cancel').status_code == 404


def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_second_worker_starts_only_when_the_first_is_busy(catalog):
    with TestClient(create_app(catalog, workers=3)) as client:
        studio = studio_of(client)
        assert studio.pool.started == 1
        run(client, bundle='lookback_rnn', num_steps='16')
        run(client, bundle='lookback_rnn', num_steps='16')
        assert studio.pool.started == 1             # one after the other: one worker
        jobs = [submit(client, bundle='lookback_rnn', num_steps='100000')]
        wait_for(lambda: studio.jobs[jobs[0]].progress, 'the first job never ran')
        jobs.append(submit(client, bundle='lookback_rnn', num_steps='100000'))
        wait_for(lambda: studio.jobs[jobs[1]].progress, 'the second job waited')
        assert studio.pool.started == 2             # side by side, in a second worker
        for job in jobs:
            client.post('/api/jobs/%s/cancel' % job)
            assert events(client, job)[-1] == ('cancelled', {})


def test_a_worker_that_dies_ends_its_job_with_an_error_and_is_replaced(catalog):
    with TestClient(create_app(catalog, workers=1)) as client:
        studio = studio_of(client)
        job = submit(client, bundle='lookback_rnn', num_steps='100000', num_outputs='4')
        wait_for(lambda: studio.jobs[job].progress, 'the job never ran')
        [slot] = studio.pool.slots
        worker = slot.process
        os.kill(worker.pid, signal.SIGKILL)           # as the kernel's out-of-memory killer
        assert events(client, job)[-1] == (
            'error', {'error': 'the generation worker stopped (killed by signal 9)'})
        run(client, bundle='lookback_rnn', num_steps='16')
        assert slot.process is not worker


def test_old_finished_jobs_and_their_files_are_removed(catalog, monkeypatch):
    from musekit.studio import app as app_lib
    monkeypatch.setattr(app_lib, 'MAX_JOBS_KEPT', 2)
    with TestClient(create_app(catalog, workers=1)) as client:
        studio = studio_of(client)
        jobs = [run(client, bundle='lookback_rnn', num_steps='16')[0] for _ in range(3)]
        assert sorted(studio.jobs) == sorted(jobs[1:])
        assert sorted(os.listdir(studio.root)) == sorted(jobs[1:])
        assert client.get('/api/jobs/%s/files/melody_01.mid' % jobs[0]).status_code == 404
        assert client.get('/api/jobs/%s/files/melody_01.mid' % jobs[2]).status_code == 200
    assert not os.path.exists(studio.root)      # the server's folder goes at shutdown


def test_a_queued_job_cancelled_never_runs(catalog):
    with TestClient(create_app(catalog, workers=1)) as client:
        long = submit(client, bundle='lookback_rnn', num_steps='100000', num_outputs='4')
        queued = submit(client, bundle='lookback_rnn', num_steps='16')
        client.post('/api/jobs/%s/cancel' % queued)
        assert events(client, queued) == [('cancelled', {})]
        client.post('/api/jobs/%s/cancel' % long)
        assert events(client, long)[-1] == ('cancelled', {})


class CancelledAsItEnds(jobs_lib.Job):
    """A job cancelled after its worker sent 'done', before the server took it in (the
    worker is stopped by then)."""
    pool = None

    def publish(self, kind, data):
        if kind == 'done' and self.pool is not None:
            pool, self.pool = self.pool, None
            assert pool.cancel(self)
            self.slot.process.join(10)
        super().publish(kind, data)


def test_a_job_cancelled_as_it_ends_leaves_the_next_job_a_working_worker(tmp_path):
    path = shipped_bundles()['lookback_rnn']

    def job(cls, name):
        argv = ['musekit_studio', '--bundle_file=' + path,
                '--output_dir=%s' % (tmp_path / name / 'out'), '--num_steps=16', '--seed=1']
        return cls(name, str(tmp_path / name), argv, 'lookback_rnn', path)
    pool = jobs_lib.Pool(1)
    pool.start()
    try:
        first, second = job(CancelledAsItEnds, 'first'), job(jobs_lib.Job, 'second')
        first.pool = pool
        pool.submit(first)
        wait_for(lambda: first.final, 'the first job never ended')
        pool.submit(second)
        wait_for(lambda: second.final, 'the second job never ended')
        assert second.final.startswith('event: done\n'), second.final
    finally:
        pool.close()


# --- refusals ---------------------------------------------------------------------------

def test_a_flag_of_another_piece_type_is_the_clis_message(client):
    message = refused(client, 400, bundle='lookback_rnn', primer_pitches='[60]')
    assert message == ('--primer_pitches does not apply to lookback_rnn, whose pieces are '
                       'melody (it is a flag for performance, piano_roll, '
                       'polyphonic_events)')


def test_sizes_over_musekits_limits_are_refused(client):
    assert refused(client, 400, bundle='lookback_rnn', num_steps='1000000000') == (
        "--num_steps=1000000000 is over musekit's limit of 100,000 steps; set the "
        'environment variable MUSEKIT_MAX_STEPS to a larger number if you mean it')
    assert 'MUSEKIT_MAX_AUDIO_SAMPLES' in refused(client, 400, bundle='wavenet',
                                                  num_seconds='100000')
    assert 'MUSEKIT_MAX_BEAM_CANDIDATES' in refused(
        client, 400, bundle='lookback_rnn', beam_size='1000', branch_factor='1000')
    assert refused(client, 400, bundle='lookback_rnn', primer_melody='[60, x]').startswith(
        "malformed --primer_melody '[60, x]'")
    assert 'num_steps' in refused(client, 400, bundle='wavenet', num_steps='10')
    assert refused(client, 400, bundle='lookback_rnn', num_outputs='65') == (
        'num_outputs=65: the studio shows at most 64 outputs of a request; musekit_generate '
        'writes any number')


def test_the_sampling_menus_choices_are_passed_on(client):
    def outputs(mode):
        _, stream = run(client, bundle='ssnu_jsb', num_steps='16', seed='1', num_outputs='2',
                        primer_pitches='[60, 64, 67]', sampling=mode)
        return [output['notes'] for output in stream[-1][1]['outputs']]
    first, second = outputs('threshold')        # the likeliest frames: the same every time
    assert first == second and len(first) > 3
    first, second = outputs('sample')
    assert first != second


def test_sampling_options_a_model_does_not_offer_are_refused(client):
    # known only to the step model, which the server builds once per bundle to ask
    assert refused(client, 400, bundle='ssnu_jsb', top_k='3') == (
        'top-k sampling applies to models that draw one class per step; this one draws its '
        'labels its own way')


@pytest.mark.parametrize('field, value, words', [
    ('output_dir', '/etc', "'output_dir' is not a control of the studio"),
    ('bundle_file', '/etc/passwd', "'bundle_file' is not a control"),
    ('render_wav', 'false', "'render_wav' is not a control"),
    ('../x', '1', "'../x' is not a control"),
    ('no_such_flag', '1', "'no_such_flag' is not a control"),
    ('flagfile', '/etc/passwd', "'flagfile' is not a control"),     # absl's own flags
    ('undefok', 'x', "'undefok' is not a control"),
    ('primer_midi', '/etc/passwd', 'control primer_midi takes a file upload, not text'),
])
def test_fields_that_are_not_controls_are_refused(client, field, value, words):
    assert words in refused(client, 400, bundle='lookback_rnn', **{field: value})


def test_an_unknown_bundle_is_404(client):
    assert refused(client, 404, bundle='../../etc/passwd').startswith(
        "no such bundle: '../../etc/passwd'")
    assert refused(client, 404).startswith("no such bundle: ''")


def test_a_hostile_upload_is_the_readers_message_with_the_users_file_name(client):
    import random
    noise = random.Random(0).randbytes(3000)
    message = refused(client, 400, files={'primer_midi': ('noise.mid', noise)},
                      bundle='lookback_rnn')
    assert message.startswith('cannot read primer MIDI noise.mid: ')
    assert 'MThd' in message and '(midi_parse_error)' in message
    assert studio_of(client).root not in message
    # an audio file that is no audio, for the audio bundle
    assert refused(client, 400, files={'primer_wav': ('x.wav', noise)},
                   bundle='wavenet').startswith('cannot read primer audio x.wav: ')


def test_an_oversize_upload_is_refused_before_it_is_read(client, monkeypatch):
    monkeypatch.setenv('MUSEKIT_MAX_FILE_BYTES', '4K')
    before = set(os.listdir(studio_of(client).root))
    message = refused(client, 413, files={'primer_midi': ('big.mid', b'MThd' + bytes(5000))},
                      bundle='lookback_rnn')
    assert message.startswith('upload big.mid (4.9 KiB (5,004 bytes)) is over musekit\'s '
                              'limit of 4 KiB')
    # a body past the cap plus the fields' allowance is cut off while it arrives
    message = refused(client, 413, files={'primer_midi': ('big.mid', bytes(2 << 20))},
                      bundle='lookback_rnn')
    assert 'over the studio\'s limit' in message and 'MUSEKIT_MAX_FILE_BYTES' in message
    # and so is one that does not say its length (chunked), as its chunks arrive
    chunks = (b'x' * (64 << 10) for _ in range(64))
    response = client.post('/api/generate', content=chunks,
                           headers={'content-type': 'multipart/form-data; boundary=b'})
    assert response.status_code == 413 and 'over the studio\'s limit' in response.text
    assert set(os.listdir(studio_of(client).root)) == before      # nothing kept


def test_a_malformed_form_is_one_line(client):
    response = client.post('/api/generate', content=b'--b\r\nnonsense',
                           headers={'content-type': 'multipart/form-data'})
    assert response.status_code == 400
    assert response.json() == {'error': 'malformed form data: Missing boundary in multipart.'}
    files = [('primer_midi', ('%d.mid' % i, b'1')) for i in range(3)]
    assert refused(client, 400, files=files, bundle='lookback_rnn').startswith(
        'malformed form data: Too many files')
    assert refused(client, 400, files={'primer_melody': ('a.mid', b'1')},
                   bundle='lookback_rnn') == 'control primer_melody takes no file'
    assert refused(client, 400, files=files[:2], bundle='lookback_rnn') == \
        'control primer_midi is given twice'



def write_primer_midi(path, pitches):
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(0)
    for i, pitch in enumerate(pitches):
        piano.notes.append(pretty_midi.Note(90, pitch, i * 0.25, (i + 1) * 0.25))
    midi.instruments.append(piano)
    midi.write(str(path))


def test_uploads_are_written_only_in_the_jobs_folder(client, tmp_path):
    write_primer_midi(tmp_path / 'p.mid', [62, 64, 65])
    body = (tmp_path / 'p.mid').read_bytes()
    studio = studio_of(client)
    assert os.path.dirname(studio.root) == tempfile.gettempdir()
    job, stream = run(client, files={'primer_midi': ('my tune (1).mid', body)},
                      bundle='lookback_rnn', num_steps='32', seed='2')
    folder = os.path.join(studio.root, job)
    written = sorted(os.path.relpath(os.path.join(d, f), folder)
                     for d, _, files in os.walk(folder) for f in files)
    assert written[-1] == 'upload/primer_midi.mid'          # the server's name, not the user's
    assert all(w.startswith('out/') for w in written[:-1])
    with open(os.path.join(folder, 'upload', 'primer_midi.mid'), 'rb') as f:
        assert f.read() == body
    notes = stream[-1][1]['outputs'][0]['notes']
    assert [n[0] for n in notes[:3]] == [62, 64, 65] and all(n[3] for n in notes[:3])


@pytest.mark.parametrize('name', ['../../escape.mid', '/tmp/escape.mid', '..\\escape.mid',
                                  '..'])
def test_upload_file_names_with_folders_are_refused(client, name):
    before = set(os.listdir(studio_of(client).root))
    message = refused(client, 400, files={'primer_midi': (name, b'MThd')},
                      bundle='lookback_rnn')
    assert message.startswith('upload file name ') and 'is not a plain file name' in message
    assert set(os.listdir(studio_of(client).root)) == before
    assert not os.path.exists(os.path.join(os.path.dirname(studio_of(client).root),
                                           'escape.mid'))


def test_only_the_page_its_assets_and_written_results_are_served(client):
    job, stream = run(client, bundle='lookback_rnn', num_steps='16')
    page = client.get('/')
    assert page.status_code == 200 and 'id="bundle-select"' in page.text
    for asset in ('studio.js', 'studio.css'):
        assert client.get('/static/' + asset).status_code == 200
    for path in ('/static/../app.py', '/static/%2e%2e/app.py', '/etc/passwd', '/api',
                 '/api/jobs/%s/files/upload' % job, '/api/jobs/%s/files/..%%2fupload' % job,
                 '/api/jobs/%s/files/.partial' % job, '/api/jobs/nope/files/melody_01.mid',
                 '/api/jobs/nope/events'):
        assert client.get(path).status_code == 404, path
    assert client.get('/api/jobs/%s/files/melody_01.mid' % job).status_code == 200


def test_posts_from_other_sites_pages_are_refused(client):
    for origin in ('http://evil.example', 'null', 'http://testserver.evil.example'):
        response = client.post('/api/generate', data={'bundle': 'lookback_rnn'},
                               headers={'origin': origin})
        assert response.status_code == 403
        assert response.json() == {'error': 'requests from pages of other sites are refused'}
    response = client.post('/api/generate', headers={'origin': 'http://testserver'},
                           data={'bundle': 'lookback_rnn', 'num_steps': '8'})
    assert response.status_code == 200         # the page's own origin


# --- the server process and the command -------------------------------------------------

def test_the_server_process_never_imports_tensorflow():
    script = '''
import json, sys
from starlette.testclient import TestClient
from musekit.studio.app import create_app
from musekit.studio.catalog import Catalog
with TestClient(create_app(Catalog(), workers=1)) as client:
    assert client.get('/api/bundles').status_code == 200
    job = client.post('/api/generate', data={'bundle': 'ssnu_jsb', 'num_steps': '8',
                                             'primer_pitches': '[60]'}).json()['job']
    assert 'event: done' in client.get('/api/jobs/%s/events' % job).text
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))))
'''
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def start_command(*args):
    process = subprocess.Popen([STUDIO, '--port=0', '--workers=1', *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()))
    reader.start()
    reader.join(120)
    return process, line[0] if line else ''


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_the_command_prints_its_address_and_exits_cleanly(signum):
    import urllib.error
    import urllib.request
    process, line = start_command()
    try:
        match = re.fullmatch(r'musekit_studio: serving (http://127\.0\.0\.1:(\d+)/)\n', line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + 'api/bundles', timeout=60) as response:
            assert 'lookback_rnn' in {b['id'] for b in json.load(response)['bundles']}
        # a page of another site reaching 127.0.0.1 under its own name (DNS rebinding)
        port = match.group(2)
        request = urllib.request.Request(match.group(1) + 'api/bundles',
                                         headers={'Host': 'evil.example:' + port})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 403
        request = urllib.request.Request(match.group(1), headers={'Host': 'localhost:' + port})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
    finally:
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out == '' and err == ''


def test_the_command_answers_help():
    result = subprocess.run([STUDIO, '--help'], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stdout.startswith('usage: musekit_studio [--bundle_dir=DIR ...]')
    assert '--workers' in result.stdout and '--host' in result.stdout


@pytest.mark.parametrize('args, message', [
    (['--port=-1'], 'flag --port=-1: -1 is not an integer in the range [0, 65535]'),
    (['--bundle_dir=/no/such/folder'], '--bundle_dir /no/such/folder is not a folder'),
    (['--workers=0'], '--workers=0'),
    (['stray'], "unexpected argument 'stray'"),
])
def test_bad_command_flags_are_one_line_and_exit_2(args, message):
    result = subprocess.run([STUDIO, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == '' and result.stderr.count('\n') == 1
    assert result.stderr.startswith('musekit_studio: error: ') and message in result.stderr


# --- generation's on_step hook ----------------------------------------------------------

def _model():
    bundle = load_bundle('lookback_rnn')
    encoder = bundle.make_encoder()
    return bundle.step_model(encoder), encoder


def test_on_step_sees_each_step_and_leaves_the_results_unchanged():
    from musekit.generation import generate
    model, encoder = _model()
    primer = [60, -2, -1]
    plain = generate(model, encoder, primer, 20, num_outputs=3, seed=4)
    seen = []
    hooked = generate(model, encoder, primer, 20, num_outputs=3, seed=4,
                      on_step=lambda done, total, events: seen.append((done, total, events())))
    assert hooked.events == plain.events
    assert [(done, total) for done, total, _ in seen] == [(d, 17) for d in range(1, 18)]
    for done, _, rows in seen:
        # each row so far: the primer and `done` new events, the last one not yet fed
        assert rows == [events[:3 + done] for events in plain.events]


def test_on_step_in_beam_search_shows_each_outputs_best_sequence_so_far():
    from musekit.generation import generate
    model, encoder = _model()
    plain = generate(model, encoder, [60], 12, num_outputs=2, seed=1, beam_size=2,
                     branch_factor=2, steps_per_iteration=3)
    seen = []
    hooked = generate(model, encoder, [60], 12, num_outputs=2, seed=1, beam_size=2,
                      branch_factor=2, steps_per_iteration=3,
                      on_step=lambda done, total, events: seen.append((done, events())))
    assert hooked.events == plain.events
    assert [done for done, _ in seen] == list(range(1, 12))
    assert all(len(rows) == 2 and all(len(r) == 1 + done for r in rows) for done, rows in seen)
    assert seen[-1][1] == plain.events


def test_on_step_of_chunks_counts_over_all_outputs_and_names_the_first():
    from musekit.generation import generate_in_chunks
    model, encoder = _model()
    seen = []
    chunks = list(generate_in_chunks(
        model, encoder, [60], 5, num_outputs=3, seed=2, batch_size=2,
        on_step=lambda done, total, events, first: seen.append((done, total, first,
                                                                len(events())))))
    assert [first for first, _ in chunks] == [0, 2]
    assert seen == [(2 * d, 12, 0, 2) for d in range(1, 5)] + \
        [(8 + d, 12, 2, 1) for d in range(1, 5)]
