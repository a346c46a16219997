// The page: the device list (from the listener WebSocket's `devices`
// messages), Start Listening, one StreamClient + Player per listened device,
// meters, statistics, and what the tests read (window.micstreamStats,
// window.micstream). See web/README.md.

import { codecName } from './codecs.js';
import { Player, canShareMemory } from './player.js';
import { Stat, State } from './playout.js';
import { RemoteReceiver } from './receiver.js';
import { StreamClient } from './stream-client.js';
import { DeviceVisuals } from './visuals.js';

const params = new URLSearchParams(location.search);
const TAP = params.get('tap') === '1';
const WS_URL = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
const SHARED = canShareMemory();
// Receive in a worker (receiver.js) when the ring can be shared with it; ?receiver=main keeps it on this thread.
const RECEIVE_IN_WORKER = SHARED && typeof Worker === 'function' && params.get('receiver') !== 'main';

const $ = (selector) => document.querySelector(selector);
const startButton = $('#start');
const stopButton = $('#stop');
const resumeButton = $('#resume');
const audioStatus = $('#audio-status');
const serverStatus = $('#server-status');
const list = $('#devices');
const empty = $('#empty');
const template = $('#device-template');
const loginForm = $('#login');
const loginError = loginForm.querySelector('.login-error');
const who = $('#who');

// ------------------------------------------------------------ preferences

const PREFS_KEY = 'micstream.prefs';
const prefs = (() => {
  const fallback = { selected: [], volume: {}, muted: {}, view: 'spectrogram' };
  try {
    return { ...fallback, ...JSON.parse(localStorage.getItem(PREFS_KEY) || '{}') };
  } catch {
    return fallback;
  }
})();
if (params.has('device')) prefs.selected = params.get('device').split(',').filter(Boolean);
function savePrefs() {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    // private browsing: preferences last for the visit
  }
}

// ------------------------------------------------------------ small helpers

class RollingQuantiles {
  constructor(capacity) {
    this.values = new Float64Array(capacity);
    this.count = 0;
    this.next = 0;
  }

  push(v) {
    this.values[this.next] = v;
    this.next = (this.next + 1) % this.values.length;
    if (this.count < this.values.length) this.count++;
  }

  quantile(q) {
    if (this.count === 0) return NaN;
    const sorted = this.values.slice(0, this.count).sort();
    return sorted[Math.min(this.count - 1, Math.floor(q * this.count))];
  }

  clear() {
    this.count = 0;
    this.next = 0;
  }
}

const round = (x, digits = 1) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);
const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : '–');

// ------------------------------------------------------------ state

const app = {
  ctx: null,
  started: false,
  playerLoaded: false, // the player can be made: the worklet module loaded (or no AudioWorklet: the fallback)
  audioError: null,
  latencyHint: null, // what the AudioContext was created with
  outputGlitches: null, // {seen, times}: the output's underrun events (playbackStats)
  outputStepUps: 0, // times the output buffer was enlarged after glitches
  autoSelect: false, // started with nothing selected: take the first device that comes online
  lobby: null, // a connection for the device list while nothing is listened to
  session: null, // GET /api/session: who this page listens as (null until known)
  sessionCheckedAt: -Infinity,
  serverName: '',
  devices: new Map(), // id → Device
};

class Device {
  constructor(id) {
    this.id = id;
    this.info = null; // from `devices`
    this.online = false;
    this.selected = prefs.selected.includes(id);
    this.volume = prefs.volume[id] ?? 0.8;
    this.muted = prefs.muted[id] ?? false;
    this.client = null;
    this.player = null;
    this.fresh = true; // the next frame starts a new playback (first, or after a reconnect)
    this.latency = new RollingQuantiles(300); // 30 s at 10 Hz
    this.lastLatency = NaN;
    this.error = '';
    this.buildView();
  }

  buildView() {
    const el = template.content.firstElementChild.cloneNode(true);
    this.el = el;
    el.dataset.deviceId = this.id;
    el.id = `device-${this.id}`;
    el.querySelector('.name').textContent = this.id;
    this.toggle = el.querySelector('.listen-toggle');
    this.toggle.checked = this.selected;
    this.toggle.addEventListener('change', () => this.setSelected(this.toggle.checked));
    this.muteButton = el.querySelector('.mute');
    this.muteButton.addEventListener('click', () => this.setMuted(!this.muted));
    this.volumeInput = el.querySelector('.volume');
    this.volumeInput.value = String(Math.round(this.volume * 100));
    this.volumeInput.addEventListener('input', () => this.setVolume(Number(this.volumeInput.value) / 100));
    this.viewButton = el.querySelector('.view');
    this.viewButton.addEventListener('click', () => this.setView(this.visuals.mode === 'spectrogram' ? 'waveform' : 'spectrogram'));
    this.statusLine = el.querySelector('.status');
    this.formatText = el.querySelector('.format');
    this.badge = el.querySelector('.online-badge');
    this.visuals = new DeviceVisuals(el.querySelector('.meter'), el.querySelector('.scope'));
    this.setView(prefs.view);
    this.setMuted(this.muted);
  }

  update(info) {
    this.info = info;
    this.setOnline(info.online);
    const channels = info.channels === 2 ? 'stereo' : 'mono';
    this.formatText.textContent = `${info.codec} · ${(info.sample_rate / 1000).toFixed(info.sample_rate % 1000 ? 1 : 0)} kHz · ${channels}${info.firmware ? ` · fw ${info.firmware}` : ''}`;
  }

  setOnline(online) {
    this.online = Boolean(online);
    this.el.dataset.online = String(this.online);
    this.badge.textContent = this.online ? 'online' : 'offline';
  }

  setSelected(selected) {
    this.selected = selected;
    this.toggle.checked = selected;
    prefs.selected = [...app.devices.values()].filter((d) => d.selected).map((d) => d.id);
    savePrefs();
    if (selected) app.autoSelect = false;
    if (app.started) {
      if (selected) this.listen();
      else this.stopListening();
    }
    updateLobby();
  }

  setVolume(volume) {
    this.volume = volume;
    prefs.volume[this.id] = volume;
    savePrefs();
    if (this.player) this.player.setVolume(volume);
  }

  setMuted(muted) {
    this.muted = muted;
    prefs.muted[this.id] = muted;
    savePrefs();
    this.muteButton.setAttribute('aria-pressed', String(muted));
    this.muteButton.textContent = muted ? 'Unmute' : 'Mute';
    if (this.player) this.player.setMuted(muted);
  }

  setView(mode) {
    this.visuals.setMode(mode === 'waveform' ? 'waveform' : 'spectrogram');
    this.viewButton.textContent = this.visuals.mode === 'spectrogram' ? 'Waveform' : 'Spectrogram';
    this.el.querySelector('.scope').setAttribute('aria-label', this.visuals.mode === 'spectrogram' ? 'Spectrogram' : 'Waveform');
    prefs.view = this.visuals.mode;
    savePrefs();
  }

  listen() {
    if (this.client) return;
    this.el.dataset.listening = 'true';
    this.fresh = true;
    const onEvent = (type, data) => this.onEvent(type, data);
    this.client = RECEIVE_IN_WORKER
      ? new RemoteReceiver({ url: WS_URL, device: this.id, onEvent, onPlayback: (playback) => this.onPlayback(playback) })
      : new StreamClient({ url: WS_URL, device: this.id, onEvent });
    this.client.start();
    this.syncReceiver();
  }

  /** Receiving in the worker: a player exists while audio can play, and the worker knows whether one waits. */
  syncReceiver() {
    const client = this.client;
    if (!(client instanceof RemoteReceiver)) return;
    const ready = audioReady();
    if (ready && !this.player) this.createPlayer();
    client.setReady(ready, this.player && this.player.tap ? this.player.tapSamples : 0);
  }

  /** The worker started a new playback: its buffers. */
  onPlayback(playback) {
    if (!this.player) return;
    this.player.attach(playback);
    this.latency.clear();
  }

  createPlayer() {
    this.player = new Player(app.ctx, { tap: TAP, shared: SHARED });
    this.player.setVolume(this.volume);
    this.player.setMuted(this.muted);
  }

  stopListening() {
    this.el.dataset.listening = 'false';
    if (this.client) this.client.stop();
    this.client = null;
    if (this.player) this.player.destroy();
    this.player = null;
    this.latency.clear();
    this.lastLatency = NaN;
  }

  onEvent(type, data) {
    switch (type) {
      case 'audio':
        this.onAudio(data.frame, data.samples);
        break;
      case 'devices':
        updateDevices(data.devices);
        break;
      case 'welcome':
        app.serverName = data.server || '';
        break;
      case 'stream':
        if (data.device === this.id) {
          if (data.online && !this.online) this.fresh = true; // the device is back: start clean
          this.setOnline(data.online);
        }
        break;
      case 'state':
        if (data.state === 'open') {
          this.fresh = true;
          this.error = '';
        }
        updateServerStatus();
        break;
      case 'error':
        this.error = data.message;
        break;
      default:
        break;
    }
  }

  onAudio(frame, samples) {
    if (!audioReady()) {
      this.fresh = true; // audio is paused: when it resumes, start clean rather than count a gap
      return;
    }
    if (!this.player) this.createPlayer();
    if (this.fresh) {
      this.player.configure(frame.sampleRate, frame.channels);
      this.latency.clear();
      this.fresh = false;
    }
    this.player.push(frame, samples);
  }

  /** Measures, and fills this device's part of window.micstreamStats. */
  sample() {
    const client = this.client;
    const player = this.player;
    const s = player ? player.stats() : null;
    const offsetUs = client && client.clock.hasEstimate ? client.clock.offsetUs : NaN;
    let latency = NaN;
    if (player && Number.isFinite(offsetUs)) latency = player.latencyMs(offsetUs);
    if (Number.isFinite(latency)) this.latency.push(latency);
    this.lastLatency = latency;
    const w = client instanceof RemoteReceiver ? client.writer : player && player.writer; // the writer's counters
    const inRate = s ? s[Stat.IN_RATE] : 0;
    let state = 'idle';
    if (!this.selected || !app.started) state = 'idle';
    else if (!client || client.state === 'connecting') state = 'connecting';
    else if (client.state === 'waiting') state = 'waiting';
    else if (!this.online) state = 'offline';
    else if (s) state = s[Stat.STATE] === State.PLAYING ? 'playing' : 'buffering';
    else state = 'buffering';
    this.state = state;
    return {
      id: this.id,
      online: this.online,
      selected: this.selected,
      listening: Boolean(client),
      state,
      connection: client ? client.state : 'closed',
      codec: this.info ? this.info.codec : null,
      sampleRate: this.info ? this.info.sample_rate : null,
      channels: this.info ? this.info.channels : null,
      volume: this.volume,
      muted: this.muted,
      latencyMs: {
        last: round(latency),
        p50: round(this.latency.quantile(0.5)),
        p99: round(this.latency.quantile(0.99)),
        samples: this.latency.count,
      },
      bufferMs: s ? round(s[Stat.LEVEL] * 1000) : null,
      targetMs: s ? round(s[Stat.START_LEVEL] * 1000) : null,
      marginMs: s ? round(s[Stat.MARGIN] * 1000) : null,
      jitterMs: s ? round(s[Stat.SPREAD] * 1000) : null,
      interarrivalJitterMs: client ? round(client.stats.jitterMs, 2) : null,
      underruns: s ? s[Stat.UNDERRUNS] : 0,
      concealedMs: s && inRate ? round((s[Stat.CONCEALED_FRAMES] * 1000) / inRate) : 0,
      skips: s ? s[Stat.SKIPS] : 0,
      skippedMs: s && inRate ? round((s[Stat.SKIPPED_FRAMES] * 1000) / inRate) : 0,
      lostFrames: w ? w.lostFrames : 0,
      filledMs: w && inRate ? round((w.filledFrames * 1000) / inRate) : 0,
      gaps: w ? w.gaps : 0,
      restarts: w ? w.restarts : 0,
      overflowFrames: (w ? w.overflowFrames : 0) + (s ? s[Stat.OVERFLOW_FRAMES] : 0),
      frames: client ? client.stats.frames : 0,
      badFrames: client ? client.stats.badFrames : 0,
      serverSkipped: client ? client.stats.serverSkipped : 0,
      reconnects: client ? Math.max(0, client.stats.connects - 1) : 0,
      driftPpm: s ? round(s[Stat.DRIFT] * 1e6, 0) : null,
      correctionPpm: s ? round(s[Stat.CORRECTION] * 1e6, 0) : null,
      clockOffsetMs: Number.isFinite(offsetUs) ? round(offsetUs / 1000, 3) : null,
      rttMs: client && client.clock.hasEstimate ? round(client.clock.rttUs / 1000, 3) : null,
      error: this.error || null,
    };
  }

  render(stats) {
    this.el.dataset.state = stats.state;
    this.statusLine.dataset.state = stats.state;
    let text;
    switch (stats.state) {
      case 'idle':
        text = this.selected ? 'selected: press Start Listening' : 'not listening';
        break;
      case 'connecting':
        text = 'connecting…';
        break;
      case 'waiting': {
        const seconds = Math.max(0, (this.client.retryAt - Date.now()) / 1000);
        text = `server unreachable: retrying in ${seconds.toFixed(1)} s`;
        break;
      }
      case 'offline':
        text = 'device offline: waiting for it to come back';
        break;
      default:
        text = [
          stats.state,
          `latency ${ms(stats.latencyMs.p50)} (p99 ${ms(stats.latencyMs.p99)})`,
          `buffer ${ms(stats.bufferMs)} / target ${ms(stats.targetMs)}`,
          `jitter ${ms(stats.jitterMs)}`,
          `underruns ${stats.underruns}`,
          `lost ${stats.lostFrames}`,
          `drift ${stats.driftPpm == null ? '–' : `${stats.driftPpm > 0 ? '+' : ''}${stats.driftPpm} ppm`}`,
          `reconnects ${stats.reconnects}`,
        ].join(' · ');
    }
    if (this.error && stats.state !== 'playing') text += ` (${this.error})`;
    if (this.statusLine.textContent !== text) this.statusLine.textContent = text;
  }
}

/** Whether audio can play: started, the worklet loaded, the context running. */
function audioReady() {
  return app.started && app.playerLoaded && app.ctx !== null && app.ctx.state === 'running';
}

// ------------------------------------------------------------ the device list

function updateDevices(devices) {
  if (!Array.isArray(devices)) return;
  for (const info of devices) {
    let d = app.devices.get(info.id);
    if (!d) {
      d = new Device(info.id);
      app.devices.set(info.id, d);
    }
    d.update(info);
  }
  // Keep the cards in id order (the server's order), moving only what moved.
  const ordered = [...app.devices.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  ordered.forEach((d, i) => {
    if (list.children[i] !== d.el) list.insertBefore(d.el, list.children[i] || null);
  });
  empty.hidden = app.devices.size > 0;
  if (app.started && app.autoSelect) {
    const first = ordered.find((d) => d.online);
    if (first) first.setSelected(true);
  }
  // A device that was selected before it first appeared.
  if (app.started) for (const d of ordered) if (d.selected && !d.client) d.listen();
}

// The lobby: a connection that only reads the device list, open while no
// device is listened to (each listening connection brings the list too).
function updateLobby() {
  if (app.session === null) return; // not allowed in (yet): checkSession() decides
  const listening = [...app.devices.values()].some((d) => d.client);
  if (!listening && !app.lobby) {
    app.lobby = new StreamClient({
      url: WS_URL,
      device: null,
      decode: false,
      onEvent: (type, data) => {
        if (type === 'devices') updateDevices(data.devices);
        else if (type === 'welcome') app.serverName = data.server || '';
        else if (type === 'state') updateServerStatus();
      },
    });
    app.lobby.start();
  } else if (listening && app.lobby) {
    app.lobby.stop();
    app.lobby = null;
  }
  updateServerStatus();
}

function serverState() {
  const clients = [app.lobby, ...[...app.devices.values()].map((d) => d.client)].filter(Boolean);
  if (clients.some((c) => c.state === 'open')) return { state: 'open' };
  const waiting = clients.find((c) => c.state === 'waiting');
  if (waiting) return { state: 'waiting', retryAt: waiting.retryAt };
  return { state: 'connecting' };
}

function updateServerStatus() {
  if (app.session === null) return; // checkSession() says what is wrong
  const s = serverState();
  // A connection that keeps failing may mean the session ended: ask.
  if (s.state === 'waiting') recheckSession();
  serverStatus.dataset.state = s.state;
  if (s.state === 'open') serverStatus.textContent = `connected${app.serverName ? ` to ${app.serverName}` : ''}`;
  else if (s.state === 'waiting') {
    serverStatus.textContent = `server unreachable: retrying in ${Math.max(0, (s.retryAt - Date.now()) / 1000).toFixed(1)} s`;
  } else serverStatus.textContent = 'connecting to the server…';
}

// ------------------------------------------------------------ who is listening

// Asks the server who this page is (docs/server.md, "Accounts"): logged in
// (or on a server without accounts, this machine) → connect; 401 → the
// login form; anything else → what the server said.
async function checkSession() {
  app.sessionCheckedAt = performance.now();
  let res;
  let body = {};
  try {
    res = await fetch('/api/session', { cache: 'no-store' });
    body = await res.json().catch(() => ({}));
  } catch (e) {
    // The server is unreachable: the connections' own retries report it.
    if (app.session === null) app.session = { accounts: false };
    updateLobby();
    return;
  }
  if (res.ok) {
    app.session = body;
    loginForm.hidden = true;
    who.hidden = !body.accounts;
    who.querySelector('.user').textContent = body.user || '';
    updateLobby();
    return;
  }
  app.session = null;
  for (const d of app.devices.values()) d.stopListening();
  if (app.lobby) app.lobby.stop();
  app.lobby = null;
  if (res.status === 401) {
    loginForm.hidden = false;
    serverStatus.dataset.state = 'login';
    serverStatus.textContent = 'log in to listen';
    loginForm.elements.user.focus();
  } else {
    serverStatus.dataset.state = 'refused';
    serverStatus.textContent = body.error || `the server refused: HTTP ${res.status}`;
  }
}

function recheckSession() {
  if (performance.now() - app.sessionCheckedAt > 5000) checkSession();
}

loginForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const button = loginForm.querySelector('button');
  button.disabled = true;
  loginError.textContent = '';
  try {
    const res = await fetch('/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: loginForm.elements.user.value, password: loginForm.elements.password.value }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      loginError.textContent = body.error || `login failed: HTTP ${res.status}`;
      return;
    }
    loginForm.elements.password.value = '';
    await checkSession();
  } catch (err) {
    loginError.textContent = `cannot reach the server: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});

$('#logout').addEventListener('click', async () => {
  await fetch('/api/logout', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }).catch(() => {});
  checkSession();
});

// ------------------------------------------------------------ audio

function updateAudioStatus() {
  const ctx = app.ctx;
  let text;
  let state = 'off';
  if (app.audioError) {
    state = 'error';
    text = `audio unavailable: ${app.audioError}`;
  } else if (!ctx || !app.started) {
    text = 'Pick the microphones to hear, then press Start Listening.';
  } else if (ctx.state !== 'running') {
    state = 'suspended';
    text = 'Audio is paused by the browser: tap to resume.';
  } else {
    state = 'running';
    const out = Number.isFinite(ctx.outputLatency) ? ` · output latency ${Math.round(ctx.outputLatency * 1000)} ms` : '';
    text = `Playing at ${ctx.sampleRate} Hz${out} · ${SHARED ? 'shared memory' : 'message'} transport`;
    if (!ctx.audioWorklet) text += ' · compatibility player: open the page over https (or on localhost) for the lowest latency';
  }
  audioStatus.dataset.state = state;
  audioStatus.textContent = text;
  resumeButton.hidden = !(app.started && ctx && ctx.state !== 'running' && !app.audioError);
}

// ------------------------------------------------------------ the audio output

// The sound card's own delay is part of what a listener hears. Where the
// browser reports output glitches (AudioContext.playbackStats, Chromium), the
// page asks for the smallest output buffer (latencyHint 0: 128 frames) and
// steps up to the platform's 'interactive' buffer if the output glitches
// (OUTPUT_GLITCHES within OUTPUT_GLITCH_WINDOW_MS, once past the first
// OUTPUT_SETTLE_MS of playing, when code is still being compiled and the
// page's first frames decoded); elsewhere it cannot tell,
// so it asks for 'interactive'. ?latency=lowest|interactive|balanced|playback
// or a number of seconds fixes the choice.
const OUTPUT_GLITCHES = 3;
const OUTPUT_GLITCH_WINDOW_MS = 60000;
const OUTPUT_SETTLE_MS = 5000;
const LATENCY_PARAM = params.get('latency') || 'auto';

function chosenLatencyHint() {
  if (LATENCY_PARAM === 'auto') return 'playbackStats' in (globalThis.AudioContext?.prototype || {}) ? 0 : 'interactive';
  if (LATENCY_PARAM === 'lowest') return 0;
  const seconds = Number(LATENCY_PARAM);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : LATENCY_PARAM;
}

function createAudioContext(latencyHint) {
  const AudioContextClass = globalThis.AudioContext || globalThis.webkitAudioContext;
  if (!AudioContextClass) {
    app.audioError = 'this browser has no Web Audio';
    return;
  }
  try {
    app.ctx = new AudioContextClass({ latencyHint });
  } catch (e) {
    app.audioError = `no audio output: ${e.message}`;
    return;
  }
  app.latencyHint = latencyHint;
  app.outputGlitches = { seen: 0, times: [], runningSince: NaN };
  app.playerLoaded = false;
  app.ctx.addEventListener('statechange', updateAudioStatus);
  if (!app.ctx.audioWorklet) {
    // Not a secure context (plain http to another machine): the main-thread player (script-player-node.js).
    app.playerLoaded = true;
    return;
  }
  const ctx = app.ctx;
  ctx.audioWorklet.addModule(new URL('player-worklet.js', import.meta.url)).then(
    () => {
      if (app.ctx !== ctx) return;
      app.playerLoaded = true;
      updateAudioStatus();
    },
    (e) => {
      if (app.ctx !== ctx) return;
      app.audioError = `the audio worklet did not load: ${e.message}`;
      updateAudioStatus();
    },
  );
}

/** Counts the output's glitches; too many with the smallest buffer: a bigger one. */
function watchOutput(now) {
  const ctx = app.ctx;
  const stats = ctx && ctx.state === 'running' && LATENCY_PARAM === 'auto' && app.latencyHint === 0 ? ctx.playbackStats : null;
  if (!stats) return;
  const g = app.outputGlitches;
  const events = stats.underrunEvents;
  const playing = [...app.devices.values()].some((d) => d.player);
  if (!playing) g.runningSince = NaN;
  else if (Number.isNaN(g.runningSince)) g.runningSince = now;
  if (!playing || now - g.runningSince < OUTPUT_SETTLE_MS) {
    g.seen = events; // not counted: nothing plays, or it is starting
    return;
  }
  for (; g.seen < events; g.seen++) g.times.push(now);
  while (g.times.length && now - g.times[0] > OUTPUT_GLITCH_WINDOW_MS) g.times.shift();
  if (g.times.length < OUTPUT_GLITCHES) return;
  console.info(`micstream: the audio output glitched ${g.times.length} times in ${OUTPUT_GLITCH_WINDOW_MS / 1000} s with a ${Math.round(ctx.baseLatency * 1000)} ms buffer; switching to the 'interactive' buffer`);
  // The streams go on; each player starts afresh on the new context.
  for (const d of app.devices.values()) {
    if (d.player) d.player.destroy();
    d.player = null;
    d.fresh = true;
  }
  app.ctx = null;
  ctx.close();
  createAudioContext('interactive');
  if (app.ctx) app.ctx.resume().then(updateAudioStatus, updateAudioStatus);
  app.outputStepUps++;
}

// Everything that must happen inside the click (iOS only lets a user gesture
// start audio): create or resume the AudioContext, synchronously.
function start() {
  if (app.started) return;
  if (!app.ctx && !app.audioError) {
    createAudioContext(chosenLatencyHint());
    if (!app.ctx) {
      updateAudioStatus();
      return;
    }
    // iOS: play through the ring/silent switch like a media player.
    if (navigator.audioSession) {
      try {
        navigator.audioSession.type = 'playback';
      } catch {
        // older Safari
      }
    }
    // Older iOS wants a sound started in the gesture to unlock output.
    const silence = app.ctx.createBufferSource();
    silence.buffer = app.ctx.createBuffer(1, 1, app.ctx.sampleRate);
    silence.connect(app.ctx.destination);
    silence.start();
  }
  if (!app.ctx) return;
  app.ctx.resume();
  app.started = true;
  startButton.hidden = true;
  stopButton.hidden = false;
  const selected = [...app.devices.values()].filter((d) => d.selected);
  if (selected.length === 0) {
    app.autoSelect = true;
    const first = [...app.devices.values()].filter((d) => d.online).sort((a, b) => (a.id < b.id ? -1 : 1))[0];
    if (first) first.setSelected(true);
  }
  for (const d of app.devices.values()) if (d.selected) d.listen();
  updateLobby();
  updateAudioStatus();
}

function stop() {
  if (!app.started) return;
  app.started = false;
  app.autoSelect = false;
  for (const d of app.devices.values()) d.stopListening();
  if (app.ctx) app.ctx.suspend();
  startButton.hidden = false;
  stopButton.hidden = true;
  updateLobby();
  updateAudioStatus();
}

startButton.addEventListener('click', start);
stopButton.addEventListener('click', stop);
resumeButton.addEventListener('click', () => {
  if (app.ctx) app.ctx.resume().then(updateAudioStatus, updateAudioStatus);
});
// Leaving the page (or entering the back/forward cache): close every
// connection cleanly; coming back from the cache: reconnect.
window.addEventListener('pagehide', () => {
  for (const d of app.devices.values()) d.stopListening();
  if (app.lobby) app.lobby.stop();
  app.lobby = null;
});
window.addEventListener('pageshow', (e) => {
  if (!e.persisted) return;
  if (app.started) for (const d of app.devices.values()) if (d.selected) d.listen();
  updateLobby();
});
document.addEventListener('visibilitychange', () => {
  // Back from the background (phones suspend audio there): try to carry on.
  if (document.visibilityState === 'visible' && app.started && app.ctx && app.ctx.state !== 'running') {
    app.ctx.resume().then(updateAudioStatus, updateAudioStatus);
  }
});

// ------------------------------------------------------------ statistics, meters

const stats = {
  version: 1,
  started: false,
  tap: TAP,
  transport: SHARED ? 'shared-memory' : 'messages',
  receiver: RECEIVE_IN_WORKER ? 'worker' : 'main thread',
  crossOriginIsolated: globalThis.crossOriginIsolated === true,
  audio: null,
  server: null,
  devices: {},
  updatedAt: 0,
};
window.micstreamStats = stats;

function tick() {
  watchOutput(performance.now());
  const ctx = app.ctx;
  stats.started = app.started;
  stats.audio = ctx
    ? {
        state: ctx.state,
        sampleRate: ctx.sampleRate,
        baseLatencyMs: round((ctx.baseLatency || 0) * 1000),
        outputLatencyMs: Number.isFinite(ctx.outputLatency) ? round(ctx.outputLatency * 1000) : null,
        latencyHint: app.latencyHint,
        outputUnderruns: ctx.playbackStats ? ctx.playbackStats.underrunEvents : null,
        outputStepUps: app.outputStepUps,
        player: ctx.audioWorklet ? 'audio-worklet' : 'script-processor',
        playerLoaded: app.playerLoaded,
        error: app.audioError,
      }
    : null;
  stats.server = { ...serverState(), name: app.serverName };
  const devices = {};
  for (const d of app.devices.values()) {
    d.syncReceiver();
    const s = d.sample();
    devices[d.id] = s;
    d.render(s);
  }
  stats.devices = devices;
  stats.updatedAt = Date.now();
  if (serverStatus.dataset.state === 'waiting') updateServerStatus();
}
setInterval(tick, 100);

function frame(now) {
  for (const d of app.devices.values()) {
    const playing = d.player && d.client && app.ctx && app.ctx.state === 'running';
    d.visuals.draw(playing ? d.player.analyser : null, d.player ? d.player.rate : 0, now);
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

// ------------------------------------------------------------ for tests and the console

window.micstream = {
  start,
  stop,
  /** Listens to (or stops listening to) a device by id. */
  listen(id, on = true) {
    const d = app.devices.get(id);
    if (!d) throw new Error(`no device ${id}`);
    d.setSelected(on);
  },
  setVolume(id, volume) {
    app.devices.get(id)?.setVolume(volume);
  },
  setMuted(id, muted) {
    app.devices.get(id)?.setMuted(muted);
  },
  /** The last `seconds` of a device's player output (page opened with ?tap=1): {sampleRate, samples}. */
  async readTap(id, seconds = 2) {
    const d = app.devices.get(id);
    if (!d || !d.player) throw new Error(`device ${id} is not playing`);
    return d.player.readTap(seconds);
  },
  get context() {
    return app.ctx;
  },
  codecName,
};

checkSession();
updateAudioStatus();
