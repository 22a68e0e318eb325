"""musekit studio figures: in headless Chromium (Debian's chromium and chromium-driver), the
time from the Generate click to the first notes shown live and to playable audio, per
bundle; then requests per second of 1, 2 and 4 clients at once against one server (each
client POSTs /api/generate and reads the event stream to `done`, in a bounded loop on
127.0.0.1), with each client's latency median and p95; and the server's peak memory (the
server process and its workers, summed, sampled every 20 ms).

    python benchmarks/studio.py [--runs 3] [--requests 5] [--clients 1 2 4]
        [--skip_browser] [--skip_load]

Medians of --runs; prints the machine's core count.
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))

from studio_browser import (Studio, chromium, generate, open_page,  # noqa: E402
                            pick_bundle, process_tree, set_controls, wait, wait_finished)

# (bundle, a control its page shows, the controls set): what each browser case asks for
CASES = (
    ('lookback_rnn', 'primer_melody', dict(num_outputs=10, num_steps=128)),
    ('ssnu_jsb', 'primer_pitches', dict(num_outputs=10, num_steps=32)),   # quarter notes
    ('wavenet', 'num_seconds', dict(num_outputs=1, num_seconds=2)),
)
LOAD_REQUEST = dict(bundle='lookback_rnn', num_outputs='1', num_steps='128')   # one melody

# Page-clock marks: the click, the first live step (#live data-steps > 0) and the first
# result audio that can play (loaded at once when it appears, as a listener pressing play).
INSTRUMENT = """
const marks = window.__marks = {};
const live = document.getElementById('live');
new MutationObserver(() => {
  if (!marks.first && marks.click && Number(live.getAttribute('data-steps')) > 0)
    marks.first = performance.now();
}).observe(live, {attributes: true});
new MutationObserver(() => {
  for (const audio of document.querySelectorAll('#results audio')) {
    if (audio.__seen) continue;
    audio.__seen = true;
    audio.preload = 'auto';
    audio.load();
  }
}).observe(document.getElementById('results'), {childList: true, subtree: true});
document.addEventListener('canplay', (e) => {
  if (!marks.audio && marks.click && e.target.closest('#results'))
    marks.audio = performance.now();
}, true);
document.getElementById('generate').addEventListener(
  'click', () => { marks.click = performance.now(); }, true);
"""


class MemoryPeak:
    """Samples the summed resident memory of a process tree every `every` s in a thread."""

    def __init__(self, pid, every=0.02):
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(rss_bytes(pid) for pid in process_tree(self.pid)))
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def rss_bytes(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def browser_times(studio, runs):
    """{bundle: (median s to first live notes, median s to playable audio)}."""
    driver = chromium()
    figures = {}
    try:
        for bundle, shown, controls in CASES:
            first, audio = [], []
            for run in range(runs + 1):            # the first run warms the server up
                open_page(driver, studio)
                pick_bundle(driver, bundle, shown)
                set_controls(driver, seed=run + 1, **controls)
                driver.execute_script(INSTRUMENT)
                generate(driver)
                wait_finished(driver, timeout=300)
                marks = wait(driver, lambda d: d.execute_script(    # audio loads after done
                    'const m = window.__marks; return m.audio ? m : null;'), 60,
                    'no result audio became playable')
                if run:
                    first.append((marks.get('first', float('nan')) - marks['click']) / 1000)
                    audio.append((marks.get('audio', float('nan')) - marks['click']) / 1000)
            figures[bundle] = (statistics.median(first), statistics.median(audio))
    finally:
        driver.quit()
    return figures


def one_request(session, url):
    """Seconds from the POST to the stream's `done` event."""
    start = time.perf_counter()
    reply = session.post(url + 'api/generate', files={k: (None, v) for k, v in
                                                      LOAD_REQUEST.items()})
    reply.raise_for_status()
    job = reply.json()['job']
    with session.get(url + 'api/jobs/%s/events' % job, stream=True) as events:
        event = None
        for line in events.iter_lines(decode_unicode=True):
            if line.startswith('event:'):
                event = line.split(':', 1)[1].strip()
            elif line.startswith('data:') and event in ('done', 'error', 'cancelled'):
                if event != 'done':
                    raise RuntimeError('job %s ended with %s: %s' % (job, event, line))
                return time.perf_counter() - start
    raise RuntimeError('job %s: the stream ended without done' % job)


def load(url, clients, requests_each):
    """(requests per second, [each client's latencies]) of `clients` threads at once."""
    import requests
    latencies = [[] for _ in range(clients)]
    errors = []

    def client(i):
        with requests.Session() as session:
            try:
                for _ in range(requests_each):
                    latencies[i].append(one_request(session, url))
            except Exception as e:              # noqa: BLE001 (reported below)
                errors.append(e)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        sys.exit('load run failed: %s' % errors[0])
    return clients * requests_each / seconds, latencies


def p95(values):
    return statistics.quantiles(values, n=20, method='inclusive')[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--requests', type=int, default=5, help='per client per run')
    parser.add_argument('--clients', type=int, nargs='*', default=[1, 2, 4])
    parser.add_argument('--skip_browser', action='store_true')
    parser.add_argument('--skip_load', action='store_true')
    args = parser.parse_args()
    print('musekit studio, %d cores (1-min load %.2f at the start), medians of %d runs' % (
        os.cpu_count(), os.getloadavg()[0], args.runs))
    studio = Studio()
    memory = MemoryPeak(studio.process.pid)
    try:
        if not args.skip_browser:
            print('\nin the browser, from the Generate click (s)')
            print('%-14s %-26s %14s %16s' % ('bundle', 'request', 'first notes', 'playable audio'))
            for bundle, (first, audio) in browser_times(studio, args.runs).items():
                asked = dict(CASES[[c[0] for c in CASES].index(bundle)][2])
                print('%-14s %-26s %14.3f %16.3f' % (
                    bundle, ' '.join('%s=%s' % kv for kv in asked.items()), first, audio))
        if not args.skip_load:
            print('\nup to %d clients at once, each %d requests per run (%s); the server has '
                  'its default workers (one per core)' % (
                      max(args.clients), args.requests, json.dumps(LOAD_REQUEST)))
            print('%-8s %10s   %s' % ('clients', 'req/s', 'each client: latency median / p95 (s)'))
            one_request(__import__('requests').Session(), studio.url)     # warm up
            for clients in args.clients:
                rates, latencies = [], [[] for _ in range(clients)]
                for _ in range(args.runs):
                    rate, each = load(studio.url, clients, args.requests)
                    rates.append(rate)
                    for mine, run in zip(latencies, each):
                        mine.extend(run)
                print('%-8d %10.2f   %s' % (clients, statistics.median(rates), ', '.join(
                    '%.3f / %.3f' % (statistics.median(v), p95(v)) for v in latencies)))
    finally:
        peak = memory.stop()
        studio.stop()
    print('\npeak server memory (server and workers, summed RSS): %.0f MiB' % (peak / 2**20))


if __name__ == '__main__':
    main()
