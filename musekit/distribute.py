"""tf.distribute for training: the strategy --strategy names, the cluster TF_CONFIG
describes, which worker writes, and a watchdog that ends a worker whose peers are gone.

A multi-worker cluster is TensorFlow's own: every worker runs the same musekit_train
command with its own TF_CONFIG (``{"cluster": {"worker": ["host:port", ...]}, "task":
{"type": "worker", "index": i}}``); worker 0 (or the "chief" task) is the chief, the only
one that writes to the run directory.
"""
import json
import os
import sys

from musekit.errors import MusekitError

STRATEGIES = ('default', 'mirrored', 'multi_worker')
DEFAULT_WORKER_TIMEOUT = 300        # seconds a worker waits for its peers before giving up


def read_tf_config(text=None):
    """The TF_CONFIG (environment variable by default) as a checked dict: a cluster of
    'chief' (at most one) and 'worker' tasks, each a list of host:port addresses, and this
    process's task in it. Anything else is one MusekitError line."""
    text = os.environ.get('TF_CONFIG') if text is None else text
    if not text or not text.strip():
        raise MusekitError('--strategy=multi_worker needs TF_CONFIG (the cluster and this '
                           'worker\'s task, e.g. {"cluster": {"worker": ["host1:2222", '
                           '"host2:2222"]}, "task": {"type": "worker", "index": 0}})')
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise MusekitError('TF_CONFIG is not JSON: %s' % e) from None
    if not isinstance(spec, dict) or not isinstance(spec.get('cluster'), dict) \
            or not isinstance(spec.get('task'), dict):
        raise MusekitError('TF_CONFIG needs a "cluster" object and a "task" object')
    cluster, task = spec['cluster'], spec['task']
    unknown = sorted(set(cluster) - {'chief', 'worker'})
    if unknown:
        raise MusekitError('TF_CONFIG cluster has %s tasks; musekit_train runs "chief" and '
                           '"worker" tasks only (no parameter servers or evaluators)'
                           % ', '.join(json.dumps(name) for name in unknown))
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and _is_address(a) for a in addresses):
            raise MusekitError('TF_CONFIG cluster "%s" must be a list of "host:port" '
                               'addresses, got %s' % (job, json.dumps(addresses)))
    if len(cluster.get('chief', [])) > 1:
        raise MusekitError('TF_CONFIG cluster has %d chiefs; give at most one'
                           % len(cluster['chief']))
    everyone = [a for job in ('chief', 'worker') for a in cluster.get(job, [])]
    if len(set(everyone)) != len(everyone):
        raise MusekitError('TF_CONFIG cluster names an address twice: %s'
                           % json.dumps(everyone))
    kind, index = task.get('type'), task.get('index')
    if kind not in cluster:
        raise MusekitError('TF_CONFIG task type %s is not a job of its cluster (%s)'
                           % (json.dumps(kind), ', '.join(sorted(cluster))))
    if isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(cluster[kind]):
        raise MusekitError('TF_CONFIG task index %s is not one of the %d "%s" tasks'
                           % (json.dumps(index), len(cluster[kind]), kind))
    return spec


def _is_address(text):
    host, _, port = text.rpartition(':')
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def is_chief_task(spec):
    """Whether the TF_CONFIG `spec` (read_tf_config) makes this process the chief: the
    "chief" task, or worker 0 of a cluster without one."""
    task = spec['task']
    if 'chief' in spec['cluster']:
        return task['type'] == 'chief'
    return task['index'] == 0


def check_strategy_name(name):
    if name not in STRATEGIES:
        if name == 'parameter_server':
            raise MusekitError('--strategy=parameter_server is not supported; use '
                               'multi_worker (synchronous data-parallel training)')
        raise MusekitError('unknown --strategy %r; one of: %s'
                           % (name, ', '.join(STRATEGIES)))
    return name


def make_strategy(name, devices=None, worker_timeout=DEFAULT_WORKER_TIMEOUT):
    """The tf.distribute strategy `name` (one of STRATEGIES), None for 'default' (one
    device, as without a strategy): 'mirrored' (every local GPU, or `devices`),
    'multi_worker' (the cluster of TF_CONFIG, checked first; its collectives give up after
    `worker_timeout` seconds). Connecting to the other workers may block: guard it with a
    Watchdog."""
    check_strategy_name(name)
    if name == 'default':
        return None
    import tensorflow as tf
    if name == 'mirrored':
        try:
            return tf.distribute.MirroredStrategy(devices or None)
        except (ValueError, tf.errors.OpError) as e:
            raise MusekitError('cannot mirror over devices %s: %s'
                               % (','.join(devices or []), str(e).splitlines()[0])) from None
    spec = read_tf_config()
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=float(worker_timeout))
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except tf.errors.OpError as e:      # this task's own server (its port taken, say)
        task = spec['task']
        raise MusekitError('cannot start TF_CONFIG task %s %d at %s: %s (is another process '
                           'using that port?)' % (
                               task['type'], task['index'],
                               spec['cluster'][task['type']][task['index']],
                               str(e).splitlines()[0])) from None


def is_chief(strategy):
    """Whether this process writes the run directory: without a strategy or with a
    one-machine one always; under multi_worker only the chief."""
    return strategy is None or bool(strategy.extended.should_checkpoint)


def divert_native_stderr(program='musekit_train'):
    """Sends what native code writes to file descriptor 2 (TensorFlow's C++ log: in a
    cluster, every retry and abort of every peer) to a temporary file for the rest of the
    process, so that an error stays one line; sys.stderr (Python's errors and tracebacks)
    still writes where stderr went. Returns the file's path."""
    import tempfile
    fd, path = tempfile.mkstemp(prefix='%s-%d-' % (program, os.getpid()), suffix='.tf.log')
    sys.stderr.flush()
    terminal = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stderr = open(terminal, 'w', buffering=1, errors='backslashreplace')
    return path


_WATCHDOG = """
import os, select, signal, sys
seconds, parent, what = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
while True:
    if not select.select([0], [], [], seconds)[0]:
        sys.stderr.write(sys.argv[4] % (what, seconds))
        sys.stderr.flush()
        os.kill(parent, signal.SIGKILL)
        break
    kicks = os.read(0, 65536)
    if not kicks:               # the parent ended
        break
    what = kicks.decode('utf-8', 'replace').rstrip('\\n').rsplit('\\n', 1)[-1] or what
"""


class Watchdog:
    """Kills this process (SIGKILL, after one line on stderr) when `kick` has not been
    called for `seconds`: a worker whose peers are unreachable or gone would otherwise wait
    in TensorFlow's connection or collective ops forever. The watchdog is a small separate
    process, since TensorFlow may block holding the GIL (no Python thread or signal
    handler of this process runs then); it ends when this process does."""

    def __init__(self, seconds, what, program='musekit_train', note=''):
        import subprocess
        message = ('%s: error: %%s: no progress for %%g s (a worker unreachable, ended or '
                   'killed); run the same commands again to resume from the last '
                   'checkpoint%s\n' % (program, note.replace('%', '%%')))
        self._process = subprocess.Popen(
            [sys.executable, '-c', _WATCHDOG, str(float(seconds)), str(os.getpid()), what,
             message], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=sys.stderr.fileno(), close_fds=True)

    def kick(self, what=None):
        """Starts the wait over; `what` (one line) names what this process is doing."""
        try:
            self._process.stdin.write(((what or '') + '\n').encode('utf-8'))
            self._process.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
