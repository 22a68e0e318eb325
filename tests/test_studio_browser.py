"""musekit studio in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driving the page of one `musekit_studio` server: pick a bundle, generate, see the piano
roll, play the audio, download the MIDI and read it back; errors shown; a live generation
seen growing, then cancelled; the on-screen keyboard as the primer.

Without the browser these tests fail (they never skip): .ci/run installs it. With
MUSEKIT_STUDIO_SCREENSHOT=PATH the lookback_rnn test saves a PNG of the whole page there
(benchmarks/studio.png, the README's picture, is one).
"""
import io
import os
import random
import re
import shutil
import signal

import pytest

from magenta_refs import mag
from studio_browser import (Studio, audio_duration, chromium, control, generate, link,
                            open_page, pick_bundle, results, set_controls, text, upload,
                            visible, wait, wait_error, wait_finished)

SHOT = os.environ.get('MUSEKIT_STUDIO_SCREENSHOT')   # where to save the README's picture
UPLOAD_LIMIT = 1 << 20          # the server's MUSEKIT_MAX_FILE_BYTES here: a small oversize


@pytest.fixture(scope='module')
def bundle_dir(tmp_path_factory):
    """A --bundle_dir with a copy of the lookback bundle and a Magenta .mag."""
    from musekit.bundle import shipped_bundles
    folder = tmp_path_factory.mktemp('bundles')
    shutil.copy(shipped_bundles()['lookback_rnn'], folder / 'my_tune.musekit')
    shutil.copy(mag('attention_rnn_chorales150'), folder)
    return folder


@pytest.fixture(scope='module')
def studio(bundle_dir):
    server = Studio('--bundle_dir=%s' % bundle_dir,
                    env={'MUSEKIT_MAX_FILE_BYTES': str(UPLOAD_LIMIT)})
    yield server
    server.stop()


@pytest.fixture(scope='module')
def browser():
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, studio):
    """The page freshly loaded (no earlier test's choices or results)."""
    open_page(browser, studio)
    return browser


def read_midi(studio, url):
    import pretty_midi
    status, body = studio.get(url)
    assert status == 200, body[:200]
    return pretty_midi.PrettyMIDI(io.BytesIO(body))


def midi_notes(midi):
    return sorted((note for instrument in midi.instruments for note in instrument.notes),
                  key=lambda note: (note.start, note.pitch))


def drawn_notes(result):
    from selenium.webdriver.common.by import By
    roll = result.find_element(By.CSS_SELECTOR, '.pianoroll')
    assert roll.is_displayed()
    return int(roll.get_attribute('data-notes'))


def check_note_result(page, studio, result):
    """A note result: its drawn roll has the downloaded MIDI's notes, its audio loads and
    lasts as long as the music; returns the MIDI's notes."""
    notes = midi_notes(read_midi(studio, link(result, 'midi')))
    assert notes, 'the MIDI has no notes'
    assert drawn_notes(result) == len(notes)
    assert audio_duration(page, result) >= notes[-1].end - 0.05
    status, png = studio.get(link(result, 'png'))
    assert status == 200 and png.startswith(b'\x89PNG')
    return notes


def test_page_lists_bundles_and_builds_controls(page, studio):
    from selenium.webdriver.common.by import By
    from musekit.bundle import shipped_bundles
    options = {o.get_attribute('value'): o.text for o in
               page.find_elements(By.CSS_SELECTOR, '#bundle-select option[value]')}
    assert set(shipped_bundles()) <= set(options)
    assert not visible(page, '#error')
    shown = ' '.join(list(options) + list(options.values()))
    assert 'my_tune' in shown and 'attention_rnn_chorales150' in shown   # the --bundle_dir
    bundle = studio.bundles()['lookback_rnn']
    pick_bundle(page, 'lookback_rnn', 'primer_melody')
    assert bundle['description'][:40] in text(page, '#bundle-info')
    names = {e.get_attribute('name') for e in
             page.find_elements(By.CSS_SELECTOR, '#controls [name]')}
    assert {c['name'] for c in bundle['controls']} <= names
    assert {'num_steps', 'temperature', 'seed', 'num_outputs', 'primer_midi'} <= names
    assert control(page, 'primer_midi').get_attribute('type') == 'file'
    assert not names & {'num_seconds', 'primer_wav', 'primer_pitches'}   # other pieces' flags
    pick_bundle(page, 'wavenet', 'num_seconds')
    names = {e.get_attribute('name') for e in
             page.find_elements(By.CSS_SELECTOR, '#controls [name]')}
    assert 'primer_wav' in names and 'primer_melody' not in names


def test_lookback_rnn_generates_draws_plays_and_downloads(page, studio):
    pick_bundle(page, 'lookback_rnn', 'primer_melody')
    set_controls(page, num_steps=64, num_outputs=2, seed=7, primer_melody='[60, -2, 62]')
    generate(page)
    wait_finished(page)
    shown = results(page)
    assert len(shown) == 2
    for result in shown:
        notes = check_note_result(page, studio, result)
        assert [n.pitch for n in notes[:2]] == [60, 62]       # the primer comes first
    if SHOT:
        height = page.execute_script('return document.documentElement.scrollHeight + '
                                     'window.outerHeight - window.innerHeight')
        page.set_window_size(1280, min(height, 2400))       # the whole page, in one picture
        page.save_screenshot(SHOT)
        page.set_window_size(1280, 1000)


def test_polyphonic_bundle(page, studio):
    pick_bundle(page, 'ssnu_jsb', 'primer_pitches')
    set_controls(page, num_steps=32, num_outputs=1, seed=3, primer_pitches='[60, 64, 67]')
    generate(page)
    wait_finished(page)
    [result] = results(page)
    notes = check_note_result(page, studio, result)
    assert {n.pitch for n in notes if n.start == 0} >= {60, 64, 67}   # the primer chord


def test_audio_bundle(page, studio):
    import soundfile
    from selenium.webdriver.common.by import By
    pick_bundle(page, 'wavenet', 'num_seconds')
    set_controls(page, num_seconds=1, num_outputs=1, seed=5)
    generate(page)
    wait_finished(page)
    [result] = results(page)
    assert int(result.find_element(By.CSS_SELECTOR, 'canvas.waveform')
               .get_attribute('data-samples')) > 0
    status, wav = studio.get(link(result, 'wav'))
    assert status == 200
    samples, rate = soundfile.read(io.BytesIO(wav))
    assert len(samples) == pytest.approx(rate, abs=rate // 50)      # one second
    assert audio_duration(page, result) == pytest.approx(len(samples) / rate, abs=0.01)


def test_hostile_upload_is_refused_on_the_page(page, tmp_path):
    pick_bundle(page, 'lookback_rnn', 'primer_midi')
    noise = tmp_path / 'noise.mid'
    noise.write_bytes(random.Random(0).randbytes(3000))
    upload(page, 'primer_midi', str(noise))
    generate(page)
    message = wait_error(page)
    # the CLI's words, naming the user's file (not where the server keeps it)
    assert message.startswith('cannot read primer MIDI noise.mid: ')
    assert message.endswith('(midi_parse_error)') and '\n' not in message
    assert not results(page)


def test_oversized_upload_is_refused_on_the_page(page, tmp_path):
    pick_bundle(page, 'lookback_rnn', 'primer_midi')
    big = tmp_path / 'big.mid'
    big.write_bytes(b'MThd' + bytes(UPLOAD_LIMIT))
    upload(page, 'primer_midi', str(big))
    generate(page)
    message = wait_error(page)
    assert message.startswith('upload big.mid ') and "over musekit's limit of 1 MiB" in message
    assert '\n' not in message and not results(page)


def test_absurd_length_is_refused_with_the_cli_words(page):
    pick_bundle(page, 'lookback_rnn', 'num_steps')
    set_controls(page, num_steps=10_000_000)
    generate(page)
    assert "--num_steps=10000000 is over musekit's limit of 100,000 steps" in wait_error(page)
    assert not results(page)
    set_controls(page, num_steps=32, primer_melody='[60, x]')
    generate(page)
    assert 'malformed --primer_melody' in wait_error(page)


def test_generation_streams_partial_results_and_cancels(page):
    from selenium.webdriver.common.by import By
    pick_bundle(page, 'lookback_rnn', 'num_steps')
    set_controls(page, num_steps=100_000, num_outputs=4)   # tens of seconds if left to run
    generate(page)
    live = lambda d: d.find_element(By.ID, 'live')          # noqa: E731
    steps = lambda d: int(live(d).get_attribute('data-steps') or 0)   # noqa: E731
    done = lambda d: live(d).get_attribute('data-done')     # noqa: E731
    first = wait(page, lambda d: not done(d) and steps(d), 60, 'no partial result arrived')
    wait(page, lambda d: not done(d) and steps(d) > first, 60, 'the live roll did not grow')
    page.find_element(By.ID, 'cancel').click()
    wait(page, lambda d: text(d, '#status').endswith('cancelled'), 30, 'not cancelled')
    assert done(page) == '1' and steps(page) >= first
    assert len(results(page)) < 4          # outputs finished before the cancel may show
    assert not (visible(page, '#error') and text(page, '#error'))


def press_keys(page, pitches):
    """Clicks the on-screen keys of `pitches` in one go (no pause a phrase could end at)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    actions = ActionChains(page)
    for pitch in pitches:
        actions.click(page.find_element(By.CSS_SELECTOR,
                                        '#keyboard .key[data-pitch="%d"]' % pitch))
    actions.perform()


def test_on_screen_keyboard_plays_the_primer(page, studio):
    pick_bundle(page, 'lookback_rnn', 'primer_melody')
    set_controls(page, num_steps=48, num_outputs=1, primer_melody='')
    press_keys(page, [60, 64, 67])
    typed = [int(v) for v in re.findall(r'-?\d+', control(page, 'primer_melody')
                                        .get_attribute('value'))]
    assert [v for v in typed if v >= 0] == [60, 64, 67]
    generate(page)
    wait_finished(page)
    [result] = results(page)
    notes = midi_notes(read_midi(studio, link(result, 'midi')))
    assert [n.pitch for n in notes[:3]] == [60, 64, 67]


# A MIDI keyboard for the page's Web MIDI input: one input whose messages the test sends.
FAKE_MIDI = """
const input = {onmidimessage: null};
window.__midi = (...bytes) => input.onmidimessage({data: Uint8Array.from(bytes)});
Object.defineProperty(navigator, 'requestMIDIAccess', {value: () => Promise.resolve(
    {inputs: new Map([['keyboard', input]]), onstatechange: null})});
"""


def test_midi_keyboard_plays_the_primer(browser, studio):
    script = browser.execute_cdp_cmd('Page.addScriptToEvaluateOnNewDocument',
                                     {'source': FAKE_MIDI})['identifier']
    try:
        open_page(browser, studio)
        pick_bundle(browser, 'lookback_rnn', 'primer_melody')
        set_controls(browser, primer_melody='')
        for pitch in (67, 72):
            browser.execute_script('__midi(0x90, %d, 100); __midi(0x80, %d, 0);'
                                   % (pitch, pitch))
        typed = [int(v) for v in re.findall(r'-?\d+', control(browser, 'primer_melody')
                                            .get_attribute('value'))]
        assert [v for v in typed if v >= 0] == [67, 72]
    finally:
        browser.execute_cdp_cmd('Page.removeScriptToEvaluateOnNewDocument',
                                {'identifier': script})


def test_call_and_response_answers_a_played_phrase(page, studio):
    pick_bundle(page, 'lookback_rnn', 'primer_melody')
    set_controls(page, num_steps=48, num_outputs=1, primer_melody='')
    from selenium.webdriver.common.by import By
    checkbox = page.find_element(By.ID, 'call-response')
    if not checkbox.is_selected():
        checkbox.click()
    press_keys(page, [62, 65])
    wait_finished(page, timeout=60)           # sent by itself after the player's pause
    [result] = results(page)
    notes = midi_notes(read_midi(studio, link(result, 'midi')))
    assert [n.pitch for n in notes[:2]] == [62, 65] and len(notes) > 2


def test_a_magenta_bundle_from_the_folder_generates(page, studio):
    from selenium.webdriver.common.by import By
    [value] = [o.get_attribute('value') for o in
               page.find_elements(By.CSS_SELECTOR, '#bundle-select option[value]')
               if 'attention_rnn_chorales150' in o.get_attribute('value') + o.text]
    pick_bundle(page, value, 'primer_melody')
    set_controls(page, num_steps=32, num_outputs=1)
    generate(page)
    wait_finished(page)
    [result] = results(page)
    check_note_result(page, studio, result)


def test_server_never_loads_tensorflow(page, studio):
    pick_bundle(page, 'lookback_rnn', 'num_steps')
    set_controls(page, num_steps=32, num_outputs=1)
    generate(page)
    wait_finished(page)
    for pid in studio.pids():
        try:
            with open('/proc/%d/maps' % pid) as f:
                assert 'tensorflow' not in f.read(), 'process %d loaded TensorFlow' % pid
        except FileNotFoundError:       # a worker that has since exited
            pass


def test_serving_line_and_clean_exit():
    server = Studio()
    try:
        assert re.fullmatch(r'http://127\.0\.0\.1:\d+/', server.url)
        status, body = server.get('')
        assert status == 200 and b'generate' in body
        assert server.get('static/../../setup.py')[0] == 404
        assert server.get('api/jobs/nope/files/x.mid')[0] == 404
    finally:
        assert server.stop(signal.SIGTERM) == 0


def test_the_page_finds_the_extremes_of_a_long_note_list(page):
    # spreading 300,000 notes into Math.min/max would overflow the call stack
    assert page.execute_script(
        'const notes = Array.from({length: 300000}, (_, i) => [i % 88, i / 10, i / 10 + 1]);'
        'return [smallest(notes, 0), largest(notes, 0), smallest(notes, 1), '
        'largest(notes, 2)];') == [0, 87, 0, 30000.9]
