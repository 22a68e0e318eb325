"""A `musekit_studio` server in a subprocess and a headless Chromium driving its page, for
the studio's browser tests and benchmark (benchmarks/studio.py).

The browser is Debian's `chromium` with its `chromium-driver`, run by Selenium with both
paths given, so Selenium Manager never looks for (or downloads) a driver or a browser. The
page's ids and classes are those of the studio contract (musekit/studio).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
# Headless on a machine without a display or network: the background-networking flags stop
# Chromium's own connections (updates, sync, field trials), which a closed network refuses.
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                  '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync',
                  '--autoplay-policy=no-user-gesture-required', '--window-size=1280,1000')
SERVING = re.compile(r'^musekit_studio: serving (http://\S+/)$')
STUDIO = os.path.join(os.path.dirname(sys.executable), 'musekit_studio')


class Studio:
    """A running `musekit_studio --port=0 ARGS...`: `url` (ending in '/'), `process`;
    `stop()` ends it with SIGINT and returns its exit status."""

    def __init__(self, *args, env=None, timeout=120):
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [STUDIO, '--port=0', *args], stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, env=dict(os.environ, **(env or {})))
        self.stdout = []
        ready = threading.Event()
        self.url = None

        def read():              # the address line, then drained so the server never blocks
            for line in self.process.stdout:
                self.stdout.append(line)
                match = SERVING.match(line.rstrip('\n'))
                if match and not self.url:
                    self.url = match.group(1)
                    ready.set()
            ready.set()
        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout) or not self.url:
            self.stop()
            raise RuntimeError('musekit_studio printed no "serving" line; stdout %r, '
                               'stderr:\n%s' % (''.join(self.stdout), self.stderr()))

    def stderr(self):
        self._stderr.seek(0)
        return self._stderr.read().decode(errors='replace')[-4000:]

    def get(self, path_or_url):
        """(status, body bytes) of a GET of a path under the server or a full url."""
        url = path_or_url if '://' in path_or_url else self.url + path_or_url.lstrip('/')
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def bundles(self):
        """{id: bundle} from GET /api/bundles."""
        status, body = self.get('api/bundles')
        assert status == 200, body
        return {bundle['id']: bundle for bundle in json.loads(body)['bundles']}

    def pids(self):
        """The server's process id and those of all its descendants (its workers)."""
        return process_tree(self.process.pid)

    def stop(self, signum=signal.SIGINT, timeout=30):
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def process_tree(root):
    """`root` and the ids of its living descendants, read from /proc."""
    parents = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    # the command name (field 2) may hold spaces; the parent follows it
                    parents[int(entry)] = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, grown = {root}, True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    return sorted(tree)


def chromium(download_dir=None):
    """A headless Chromium WebDriver with a fresh profile (removed by its `quit()`)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        raise RuntimeError('the studio browser tests need Debian\'s chromium and '
                           'chromium-driver (apt-get install chromium chromium-driver); '
                           'missing %s' % ', '.join(missing))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix='musekit-chromium-')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + ('--user-data-dir=' + profile,):
        options.add_argument(flag)
    if download_dir:
        options.add_experimental_option('prefs', {
            'download.default_directory': download_dir, 'download.prompt_for_download': False})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    quit_driver = driver.quit

    def quit():
        try:
            quit_driver()
        finally:
            shutil.rmtree(profile, ignore_errors=True)
    driver.quit = quit
    return driver


# --- the page -----------------------------------------------------------------------------

def wait(driver, condition, timeout=60, message=''):
    """`condition(driver)`'s first true value, polled every 50 ms; fails after `timeout` s
    with `message` and what the page's #status and #error say."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)
    except TimeoutException:
        raise AssertionError('%s (after %s s; #status %r, #error %r)' % (
            message or 'the page did not get there', timeout, text(driver, '#status'),
            text(driver, '#error'))) from None


def text(driver, selector):
    """The text content of the first element matching `selector` ('' if there is none)."""
    return driver.execute_script(
        'const e = document.querySelector(arguments[0]); return e ? e.textContent : "";',
        selector).strip()


def visible(driver, selector):
    from selenium.webdriver.common.by import By
    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return bool(found) and found[0].is_displayed()


def control(driver, name):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.CSS_SELECTOR, '#controls [name="%s"]' % name)


def open_page(driver, studio):
    """Loads the page and waits for its bundle list."""
    from selenium.webdriver.common.by import By
    driver.get(studio.url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '#bundle-select option[value]'),
         message='the bundle list never filled')


def pick_bundle(driver, bundle_id, control_name):
    """Chooses `bundle_id` and waits until its controls (one is `control_name`) are shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    Select(driver.find_element(By.ID, 'bundle-select')).select_by_value(bundle_id)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR,
                                           '#controls [name="%s"]' % control_name),
         message='no %s control for %s' % (control_name, bundle_id))


def set_controls(driver, **values):
    """Types each value into its control (a select: chooses it; a checkbox: sets it)."""
    from selenium.webdriver.support.ui import Select
    for name, value in values.items():
        element = control(driver, name)
        if element.tag_name == 'select':
            Select(element).select_by_value(str(value))
        elif element.get_attribute('type') == 'checkbox':
            if element.is_selected() != bool(value):
                element.click()
        else:
            element.clear()
            element.send_keys(str(value))


def upload(driver, name, path):
    """Gives the file input `name` the file at `path` (shown first if the page hides it)."""
    element = control(driver, name)
    driver.execute_script("arguments[0].style.display = 'block'; "
                          "arguments[0].style.visibility = 'visible';", element)
    element.send_keys(path)


def generate(driver):
    from selenium.webdriver.common.by import By
    driver.find_element(By.ID, 'generate').click()


def wait_finished(driver, timeout=120):
    """Waits for the job to end ('done' in #status); fails at once on a shown error."""
    def finished(d):
        if visible(d, '#error') and text(d, '#error'):
            raise AssertionError('the page shows an error: %s' % text(d, '#error'))
        return text(d, '#status').endswith('done')
    wait(driver, finished, timeout, 'the job did not finish')


def wait_error(driver, timeout=60):
    """The one-line message the page shows in #error."""
    wait(driver, lambda d: visible(d, '#error') and text(d, '#error'), timeout,
         'no error was shown')
    return text(driver, '#error')


def results(driver):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, '#results .result')


def audio_duration(driver, result, timeout=30):
    """The duration in seconds of a result's <audio>, once the browser has loaded it (it
    fails when the browser cannot: an audio error or no duration)."""
    from selenium.webdriver.common.by import By
    audio = result.find_element(By.CSS_SELECTOR, 'audio')
    driver.execute_script('arguments[0].preload = "auto"; arguments[0].load();', audio)
    state = lambda d: d.execute_script(   # noqa: E731
        'const a = arguments[0]; return a.error ? "error " + a.error.code : '
        '(a.readyState >= 1 && isFinite(a.duration) && a.duration > 0 ? a.duration : null);',
        audio)
    value = wait(driver, state, timeout, 'the audio never loaded')
    assert not isinstance(value, str), 'the browser cannot play the audio: %s' % value
    return value


def link(result, kind):
    """The absolute url of a result's download link `kind` ('midi', 'wav', 'png')."""
    from selenium.webdriver.common.by import By
    return result.find_element(By.CSS_SELECTOR, 'a.download-' + kind).get_property('href')
