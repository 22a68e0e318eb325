// musekit studio: the page. Plain JavaScript, no build step; everything it needs is served
// by musekit_studio itself. The controls are built from the server's list of each bundle's
// flags (GET /api/bundles); a generation streams as Server-Sent Events.
'use strict';

const NOTE_NAMES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];
const PRIMER_FLAGS = ['primer_melody', 'primer_pitches', 'primer_drums'];  // typed events
const KEY_LOW = 48, KEY_HIGH = 84;         // on-screen keyboard: C3 up to B5
const STEP_SECONDS = 0.125;                // a sixteenth note at 120 qpm, for played phrases
const ANSWER_AFTER_MS = 1500;              // call and response: silence that ends a phrase
const LIVE_WINDOW_S = 32;                  // the live roll shows this much of the newest music
const COLORS = {primer: '#4a78c2', generated: '#e07b28', bar: '#ccc', grid: '#f2f2f2',
                text: '#666', chord: '#3a7d44', wave: '#2a6f97'};

const $ = (id) => document.getElementById(id);
const state = {bundles: [], bundle: null, job: null, source: null, start: null,
               audio: null, live: null, phrase: [], held: {}, answerTimer: null};

// Extremes of column k of a list of notes, in a loop: spreading a long list into
// Math.min/max overflows the call stack (about 130,000 notes in V8).
function smallest(notes, k) {
  let out = Infinity;
  for (const note of notes) if (note[k] < out) out = note[k];
  return out;
}

function largest(notes, k) {
  let out = -Infinity;
  for (const note of notes) if (note[k] > out) out = note[k];
  return out;
}

function noteName(pitch) {
  return NOTE_NAMES[pitch % 12] + (Math.floor(pitch / 12) - 1);
}

// --- errors and status ------------------------------------------------------------------

function showError(message) {
  const box = $('error');
  box.textContent = message || '';
  box.hidden = !message;
}

function setStatus(text) {
  $('status').textContent = text;
}

// --- bundles and controls ---------------------------------------------------------------

async function loadBundles() {
  const response = await fetch('/api/bundles');
  const data = await response.json();
  state.bundles = data.bundles;
  const select = $('bundle-select');
  select.innerHTML = '';
  for (const bundle of state.bundles) {
    const option = document.createElement('option');
    option.value = bundle.id;
    option.textContent = bundle.id + ' (' + bundle.piece_type +
      (bundle.source === 'shipped' ? '' : ', ' + bundle.format + ' file') + ')';
    select.appendChild(option);
  }
  const initial = state.bundles.find((b) => b.id === 'lookback_rnn') || state.bundles[0];
  if (initial) {
    select.value = initial.id;
    showBundle(initial);
  }
}

function showBundle(bundle) {
  state.bundle = bundle;
  const info = $('bundle-info');
  info.innerHTML = '';
  const description = document.createElement('div');
  description.className = 'description';
  description.textContent = bundle.description || '(no description)';
  const facts = document.createElement('div');
  facts.textContent = 'config ' + bundle.name + ' · pieces: ' + bundle.piece_type +
    ' · ' + bundle.source + ' ' + bundle.format + ' bundle';
  const details = document.createElement('details');
  const summary = document.createElement('summary');
  summary.textContent = 'provenance';
  const pre = document.createElement('pre');
  pre.className = 'provenance';
  pre.textContent = JSON.stringify(bundle.provenance, null, 1);
  details.append(summary, pre);
  info.append(description, facts, details);
  buildControls(bundle.controls);
}

function buildControls(controls) {
  const form = $('controls');
  form.innerHTML = '';
  for (const control of controls) {
    const label = document.createElement('label');
    label.title = control.help;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = control.name;
    let input;
    if (control.choices) {
      input = document.createElement('select');
      for (const choice of control.choices) {
        const option = document.createElement('option');
        option.value = option.textContent = choice;
        input.appendChild(option);
      }
      if (control.default !== null) input.value = control.default;
    } else {
      input = document.createElement('input');
      if (control.kind === 'integer' || control.kind === 'float') {
        input.type = 'number';
        input.step = control.kind === 'integer' ? '1' : 'any';
      } else if (control.kind === 'boolean') {
        input.type = 'checkbox';
        input.checked = control.default === true;
        label.className = 'boolean';
      } else if (control.kind === 'file') {
        input.type = 'file';
        if (control.accept) input.accept = control.accept.join(',');
      } else {
        input.type = 'text';
      }
      if (control.kind !== 'boolean' && control.kind !== 'file' && control.default !== null) {
        input.value = String(control.default);
      }
      if (control.default === null && control.kind !== 'file') input.placeholder = 'default';
    }
    input.name = control.name;
    input.dataset.kind = control.kind;
    if (PRIMER_FLAGS.includes(control.name) && !$('primer-events')) input.id = 'primer-events';
    const help = document.createElement('small');
    help.textContent = control.help.length > 90 ? control.help.slice(0, 90) + '…' : control.help;
    if (control.kind === 'boolean') label.append(input, name);
    else label.append(name, input, help);
    form.appendChild(label);
  }
}

// The form fields of a request: the bundle, every control changed from its default
// (so a request carries the flags a musekit_generate command line would), and uploads.
function requestForm() {
  const form = new FormData();
  form.append('bundle', state.bundle.id);
  for (const control of state.bundle.controls) {
    const input = $('controls').querySelector('[name="' + control.name + '"]');
    if (!input) continue;
    if (control.kind === 'file') {
      if (input.files.length) form.append(control.name, input.files[0]);
    } else if (control.kind === 'boolean') {
      if (input.checked !== (control.default === true)) {
        form.append(control.name, input.checked ? 'true' : 'false');
      }
    } else {
      const value = input.value.trim();
      const fallback = control.default === null ? '' : String(control.default);
      if (value !== '' && value !== fallback) form.append(control.name, value);
    }
  }
  return form;
}

// --- generation -------------------------------------------------------------------------

function audioContext() {
  if (!state.audio) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    state.audio = new Context();
  }
  if (state.audio.state === 'suspended') state.audio.resume();
  return state.audio;
}

async function generate() {
  if (!state.bundle) return;
  showError('');
  stopLive();
  audioContext();
  if (state.source) state.source.close();
  setStatus('sending');
  let response;
  try {
    response = await fetch('/api/generate', {method: 'POST', body: requestForm()});
  } catch (e) {
    setStatus('error');
    showError('cannot reach the studio server: ' + e);
    return;
  }
  const data = await response.json().catch(() => ({error: 'HTTP ' + response.status}));
  if (!response.ok) {
    setStatus('error');
    showError(data.error || 'HTTP ' + response.status);
    return;
  }
  watch(data.job);
}

function watch(job) {
  state.job = job;
  const live = $('live');
  live.dataset.steps = '0';
  delete live.dataset.done;
  clearCanvas(live);
  $('cancel').disabled = false;
  $('results').innerHTML = '';
  setStatus('queued');
  const source = new EventSource('/api/jobs/' + job + '/events');
  state.source = source;
  const finish = (text) => {
    source.close();
    live.dataset.done = '1';
    $('cancel').disabled = true;
    setStatus(text);
  };
  source.addEventListener('start', (e) => {
    state.start = JSON.parse(e.data);
    setStatus('generating ' + state.start.total_steps + ' ' + state.start.step_unit);
    state.live = {t0: null, scheduled: new Set(), nodes: []};
    drawLive({notes: state.start.primer_notes || []});
  });
  source.addEventListener('progress', (e) => {
    const data = JSON.parse(e.data);
    // steps of each output so far (done/total count every output's steps)
    live.dataset.steps = String(data.steps);
    setStatus('generating: ' + data.steps + ' / ' + (data.total / state.start.num_outputs) +
              ' ' + state.start.step_unit + (state.start.num_outputs > 1 ? ' each, ' +
              state.start.num_outputs + ' outputs' : ''));
    // outputs already written show at once (their audio playable), the rest as they come
    const ready = data.outputs.filter((output) => output.files);
    if (ready.length > $('results').querySelectorAll('.result').length) showResults(ready);
    const first = data.outputs[0];
    if (!first) return;
    drawLive(first);
    if (!first.waveform && $('play-live').checked) playLive(first.notes);
  });
  source.addEventListener('done', (e) => {
    const data = JSON.parse(e.data);
    const first = data.outputs[0];
    if (first) drawLive(first);
    showResults(data.outputs);
    const facts = document.createElement('div');
    facts.className = 'facts';
    facts.textContent = 'seed ' + data.seed + ' · ' + data.seconds + ' s' +
      ' (the same seed and controls give the same music)';
    $('results').prepend(facts);
    finish('done');
    // audio plays as soon as it is written (notes played along as they arrived)
    const audio = document.querySelector('#results .result audio');
    if (audio && state.start && state.start.kind === 'audio' && $('play-live').checked) {
      audio.play().catch(() => { /* the browser wants a click first */ });
    }
  });
  source.addEventListener('cancelled', () => {
    stopLive();
    finish('cancelled');
  });
  source.addEventListener('error', (e) => {
    if (e.data) {            // the job's error event (a lost connection has no data)
      showError(JSON.parse(e.data).error);
      finish('error');
    } else if (live.dataset.done !== '1') {
      showError('lost the connection to the studio server');
      finish('error');
    }
  });
}

async function cancel() {
  if (!state.job) return;
  await fetch('/api/jobs/' + state.job + '/cancel', {method: 'POST'});
}

// --- live view and playback -------------------------------------------------------------

function clearCanvas(canvas) {
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
}

// The running job's first output: its waveform, or the last LIVE_WINDOW_S seconds of its
// notes (with its bars and chords), so the newest notes stay large enough to see.
function drawLive(output) {
  const live = $('live');
  if (output.waveform) {
    drawWaveform(live, output.waveform, state.start && state.start.sample_rate,
                 state.start && (state.start.total_steps - 1));
    return;
  }
  const notes = output.notes || [];
  const end = notes.length ? largest(notes, 2) : 0;
  const from = Math.max(0, end - LIVE_WINDOW_S);
  const bar = output.bar_seconds || 0;
  const origin = bar ? Math.floor(from / bar) * bar : from;
  const shift = (t) => t - origin;
  drawRoll(live, notes.filter((n) => n[2] > origin)
                      .map(([p, a, b, primer]) => [p, Math.max(0, shift(a)), shift(b), primer]),
           {barSeconds: bar, chords: (output.chords || []).filter((c) => c[0] >= origin)
                                                          .map(([t, text]) => [shift(t), text])});
  live.dataset.notes = String(notes.length);
}

function tone(pitch, when, duration, velocity) {
  const context = audioContext();
  if (!context) return null;
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  oscillator.type = 'triangle';
  oscillator.frequency.value = 440 * Math.pow(2, (pitch - 69) / 12);
  const level = 0.12 * (velocity || 1);
  gain.gain.setValueAtTime(0, when);
  gain.gain.linearRampToValueAtTime(level, when + 0.01);
  gain.gain.setTargetAtTime(0, when + Math.max(0.02, duration - 0.03), 0.02);
  oscillator.connect(gain).connect(context.destination);
  oscillator.start(when);
  oscillator.stop(when + duration + 0.2);
  return oscillator;
}

// Plays the notes received so far that were not yet scheduled, from the piece's start; in
// call and response, only the answer, from its first note (the player's phrase was heard).
function playLive(notes) {
  const context = audioContext();
  if (!context || !state.live) return;
  const answerOnly = $('call-response').checked;
  const playable = answerOnly ? notes.filter((n) => !n[3]) : notes;
  if (!playable.length) return;
  if (state.live.t0 === null) {
    const offset = answerOnly ? smallest(playable, 1) : 0;
    state.live.t0 = context.currentTime + 0.2 - offset;
  }
  for (const [pitch, start, end] of playable) {
    const key = pitch + '@' + start;
    if (state.live.scheduled.has(key)) continue;
    const when = state.live.t0 + start;
    if (when + (end - start) < context.currentTime) continue;   // already past: skipped
    state.live.scheduled.add(key);
    const node = tone(pitch, Math.max(when, context.currentTime), end - start);
    if (node) state.live.nodes.push(node);
  }
}

function stopLive() {
  if (!state.live) return;
  for (const node of state.live.nodes) {
    try { node.stop(); } catch (e) { /* already stopped */ }
  }
  state.live = null;
}

// --- drawing ----------------------------------------------------------------------------

// A piano roll of [pitch, start_s, end_s, is_primer] notes: note names on the left, bar
// lines every `barSeconds`, chord symbols ([time_s, text]) along the top.
function drawRoll(canvas, notes, {barSeconds, chords, seconds}) {
  const g = canvas.getContext('2d');
  const width = canvas.width, height = canvas.height;
  const left = 36, top = chords && chords.length ? 16 : 4, bottom = height - 4;
  g.clearRect(0, 0, width, height);
  let low = 60, high = 72;
  if (notes.length) {
    low = smallest(notes, 0) - 1;
    high = largest(notes, 0) + 1;
  }
  if (high - low < 12) { const mid = (low + high) >> 1; low = mid - 6; high = mid + 6; }
  const end = Math.max(seconds || 0, ...notes.map((n) => n[2]), 1);
  const x = (t) => left + (width - left - 4) * t / end;
  const rowHeight = (bottom - top) / (high - low + 1);
  const y = (p) => bottom - (p - low + 1) * rowHeight;
  g.font = '10px sans-serif';
  for (let p = low; p <= high; p++) {
    if ([1, 3, 6, 8, 10].includes(p % 12)) {
      g.fillStyle = COLORS.grid;
      g.fillRect(left, y(p), width - left, rowHeight);
    }
    if (p % 12 === 0 || rowHeight >= 10) {
      g.fillStyle = COLORS.text;
      g.fillText(noteName(p), 2, y(p) + rowHeight - 1);
    }
  }
  if (barSeconds > 0) {
    g.strokeStyle = COLORS.bar;
    for (let t = 0; t <= end + 1e-9; t += barSeconds) {
      g.beginPath(); g.moveTo(x(t) + 0.5, top); g.lineTo(x(t) + 0.5, bottom); g.stroke();
    }
  }
  for (const [pitch, start, stop, primer] of notes) {
    g.fillStyle = primer ? COLORS.primer : COLORS.generated;
    g.fillRect(x(start), y(pitch), Math.max(1, x(stop) - x(start) - 1),
               Math.max(1, rowHeight - 1));
  }
  if (chords) {
    g.fillStyle = COLORS.chord;
    for (const [time, text] of chords) g.fillText(text, x(time) + 2, 11);
  }
  canvas.dataset.notes = String(notes.length);
}

// A waveform of [min, max] pairs (one per 10 ms), `total` samples wide when known.
function drawWaveform(canvas, pairs, sampleRate, total) {
  const g = canvas.getContext('2d');
  const width = canvas.width, height = canvas.height, mid = height / 2;
  g.clearRect(0, 0, width, height);
  const slots = total && sampleRate ? Math.max(pairs.length, Math.ceil(total / (sampleRate / 100)))
                                    : pairs.length;
  const step = width / Math.max(1, slots);
  g.fillStyle = COLORS.wave;
  pairs.forEach(([low, high], i) => {
    const top = mid - Math.max(0, high) * mid, bottom = mid - Math.min(0, low) * mid;
    g.fillRect(i * step, top, Math.max(1, step), Math.max(1, bottom - top));
  });
  g.fillStyle = COLORS.bar;
  g.fillRect(0, mid, width, 1);
  canvas.dataset.samples = String(pairs.length);
}

function link(className, href, text) {
  const a = document.createElement('a');
  a.className = className;
  a.href = href;
  a.download = '';
  a.textContent = text;
  return a;
}

function showResults(outputs) {
  const results = $('results');
  results.innerHTML = '';
  for (const output of outputs) {
    const div = document.createElement('div');
    div.className = 'result';
    const title = document.createElement('div');
    title.innerHTML = 'output ' + output.index;
    const canvas = document.createElement('canvas');
    canvas.width = 960;
    canvas.height = 200;
    if (output.waveform) {
      canvas.className = 'waveform';
      drawWaveform(canvas, output.waveform, output.sample_rate, output.samples);
      canvas.dataset.samples = String(output.samples);
    } else {
      canvas.className = 'pianoroll';
      drawRoll(canvas, output.notes, {barSeconds: output.bar_seconds, chords: output.chords});
      title.insertAdjacentHTML('beforeend', '<span class="legend"><span style="background:' +
        COLORS.primer + '"></span>primer<span style="background:' + COLORS.generated +
        '"></span>generated</span>');
    }
    div.append(title, canvas);
    if (output.files.wav) {
      const audio = document.createElement('audio');
      audio.controls = true;
      audio.preload = 'auto';
      audio.src = output.files.wav;
      div.appendChild(audio);
    }
    const links = document.createElement('div');
    links.className = 'links';
    if (output.files.midi) links.appendChild(link('download-midi', output.files.midi, 'MIDI'));
    if (output.files.wav) links.appendChild(link('download-wav', output.files.wav, 'WAV'));
    if (output.files.png) links.appendChild(link('download-png', output.files.png, 'PNG'));
    div.appendChild(links);
    results.appendChild(div);
  }
}

// --- primer input: on-screen keyboard, Web MIDI, call and response ---------------------

function primerInput() {
  return $('controls').querySelector(PRIMER_FLAGS.map((n) => '[name="' + n + '"]').join(','));
}

function parseList(text) {
  const body = text.trim();
  if (!body) return [];
  try {
    const list = JSON.parse(body.startsWith('[') ? body : '[' + body + ']');
    return Array.isArray(list) ? list : [];
  } catch (e) {
    return [];
  }
}

// Played notes ({pitch, on, off} in seconds) as the primer flag's events: a melody gets a
// note-on per note, holds for its length and silence between notes, on a sixteenth-note
// grid at 120 qpm; a pitch list gets each pitch once.
function phraseEvents(flag, notes, existing) {
  if (flag === 'primer_melody') {
    const events = existing.slice();
    const t0 = notes[0].on;
    const offset = events.length;
    for (const note of notes) {
      const at = offset + Math.round((note.on - t0) / STEP_SECONDS);
      const steps = Math.max(1, Math.round((note.off - note.on) / STEP_SECONDS));
      while (events.length < at) events.push(-2);
      events.length = Math.min(events.length, at);
      events.push(note.pitch);
      for (let i = 1; i < steps; i++) events.push(-2);
    }
    return events;
  }
  const pitches = existing.slice();
  for (const note of notes) if (!pitches.includes(note.pitch)) pitches.push(note.pitch);
  return pitches;
}

function noteOn(pitch, velocity) {
  const key = document.querySelector('#keyboard .key[data-pitch="' + pitch + '"]');
  if (key) key.classList.add('down');
  const context = audioContext();
  state.held[pitch] = {pitch, on: performance.now() / 1000,
                       node: context ? tone(pitch, context.currentTime, 4, velocity) : null};
  clearTimeout(state.answerTimer);
}

function noteOff(pitch) {
  const key = document.querySelector('#keyboard .key[data-pitch="' + pitch + '"]');
  if (key) key.classList.remove('down');
  const held = state.held[pitch];
  if (!held) return;
  delete state.held[pitch];
  if (held.node) { try { held.node.stop(); } catch (e) { /* stopped */ } }
  const note = {pitch, on: held.on, off: performance.now() / 1000};
  const input = primerInput();
  if (!input) return;
  if ($('call-response').checked) {
    state.phrase.push(note);
    clearTimeout(state.answerTimer);
    state.answerTimer = setTimeout(answer, ANSWER_AFTER_MS);
  } else {
    input.value = JSON.stringify(phraseEvents(input.name, [note], parseList(input.value)));
  }
}

// Call and response: the phrase just played becomes the primer, and the model answers it.
function answer() {
  const input = primerInput();
  const phrase = state.phrase;
  state.phrase = [];
  if (!input || !phrase.length || Object.keys(state.held).length) return;
  input.value = JSON.stringify(phraseEvents(input.name, phrase, []));
  const play = $('play-live');
  play.checked = true;
  generate();
}

function buildKeyboard() {
  const keyboard = $('keyboard');
  const whiteWidth = 24;
  let whites = 0;
  for (let pitch = KEY_LOW; pitch < KEY_HIGH; pitch++) {
    const black = [1, 3, 6, 8, 10].includes(pitch % 12);
    const key = document.createElement('div');
    key.className = 'key ' + (black ? 'black' : 'white');
    key.dataset.pitch = String(pitch);
    key.title = noteName(pitch);
    if (black) {
      key.style.left = (whites * whiteWidth - 7) + 'px';
      key.style.width = '14px';
    } else {
      key.style.left = (whites * whiteWidth) + 'px';
      key.style.width = whiteWidth + 'px';
      if (pitch % 12 === 0) key.innerHTML = '<span>' + noteName(pitch) + '</span>';
      whites++;
    }
    key.addEventListener('pointerdown', (e) => { e.preventDefault(); noteOn(pitch, 1); });
    key.addEventListener('pointerup', () => noteOff(pitch));
    key.addEventListener('pointerleave', () => { if (state.held[pitch]) noteOff(pitch); });
    keyboard.appendChild(key);
  }
  keyboard.style.width = (whites * whiteWidth) + 'px';
}

function connectMidi() {
  if (!navigator.requestMIDIAccess) return;
  navigator.requestMIDIAccess().then((access) => {
    const attach = () => {
      let count = 0;
      for (const input of access.inputs.values()) {
        input.onmidimessage = (message) => {
          const [status, pitch, velocity] = message.data;
          const kind = status & 0xf0;
          if (kind === 0x90 && velocity > 0) noteOn(pitch, velocity / 127);
          else if (kind === 0x80 || (kind === 0x90 && velocity === 0)) noteOff(pitch);
        };
        count++;
      }
      $('midi-status').textContent = count ? 'MIDI input: ' + count + ' device(s)' : '';
    };
    attach();
    access.onstatechange = attach;
  }).catch(() => { /* no permission: the on-screen keyboard still works */ });
}

// --- start ------------------------------------------------------------------------------

function init() {
  $('bundle-select').addEventListener('change', (e) => {
    const bundle = state.bundles.find((b) => b.id === e.target.value);
    if (bundle) showBundle(bundle);
  });
  $('generate').addEventListener('click', generate);
  $('cancel').addEventListener('click', cancel);
  $('clear-primer').addEventListener('click', () => {
    const input = primerInput();
    if (input) input.value = '';
  });
  buildKeyboard();
  connectMidi();
  loadBundles().catch((e) => showError('cannot load the bundle list: ' + e));
}

init();
