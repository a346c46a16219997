// The page's wiring: the device list (from the listener WebSocket's `devices`
// messages), Start Listening and Stop, one connection (StreamClient, or a
// RemoteReceiver in a worker) and Player per listened device, the server and
// audio status lines, the refresh and animation loops. Its parts:
// device-card.js (a device's card), audio-output.js (the AudioContext and its
// output buffer), page-stats.js (window.micstreamStats, window.micstream),
// session.js (who listens), prefs.js (what is remembered). See web/README.md.

import { AudioOutput } from './audio-output.js';
import { BackgroundPlayer, BackgroundSession } from './background-player.js';
import { DeviceCard } from './device-card.js';
import { audioStats, createPageStats, installTestHooks, latencyWindow, sampleDevice, STATS_INTERVAL_MS } from './page-stats.js';
import { Player, canShareMemory } from './player.js';
import { backgroundMode, loadPrefs, savePrefs } from './prefs.js';
import { RemoteReceiver } from './remote-receiver.js';
import { Session } from './session.js';
import { StreamClient } from './stream-client.js';
import { webCodecs } from './opus-decoder.js';

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
const backgroundToggle = $('#background');
const opusToggle = $('#opus');

const prefs = loadPrefs(params);

// ------------------------------------------------------------ state

const app = {
  started: false,
  autoSelect: false, // started with nothing selected: take the first device that comes online
  lobby: null, // a connection for the device list while nothing is listened to
  serverName: '',
  devices: new Map(), // id → Device
  background: backgroundMode(params, prefs, navigator), // play through <audio> elements (background-player.js)
  // Ask for Opus (a far or slow link), where this page can decode it (WebCodecs: a secure context);
  // ?codec=opus or ?codec=device decides for this visit (tests, links), without being remembered.
  opus: (params.has('codec') ? params.get('codec') === 'opus' : prefs.opus) && webCodecs() !== null,
};
const output = new AudioOutput(params.get('latency'), updateAudioStatus);
// The lock screen's view of the background players (Media Session).
const nowPlaying = new BackgroundSession({ serverName: () => app.serverName });
const session = new Session({
  form: $('#login'),
  who: $('#who'),
  logoutButton: $('#logout'),
  onAllowed: updateLobby,
  onRefused: (state, text) => {
    closeConnections();
    serverStatus.dataset.state = state;
    serverStatus.textContent = text;
  },
});

/** One device: its card, and while listened to, its connection and player. */
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
    this.bg = null; // background mode: its <audio> player instead of client and player
    this.fresh = true; // the next frame starts a new playback (first, or after a reconnect)
    this.latency = latencyWindow();
    this.error = '';
    this.card = new DeviceCard(template, id, {
      listen: (selected) => this.setSelected(selected),
      toggleMute: () => this.setMuted(!this.muted),
      volume: (volume) => this.setVolume(volume),
      view: (mode) => this.setView(mode),
    });
    this.card.showSelected(this.selected);
    this.card.showVolume(this.volume);
    this.setView(prefs.view);
    this.setMuted(this.muted);
  }

  update(info) {
    this.info = info;
    this.setOnline(info.online);
    this.card.showInfo(info);
  }

  setOnline(online) {
    if (online && !this.online && this.bg) this.bg.retryNow(); // back: its stream need not wait for the backoff
    this.online = Boolean(online);
    this.card.showOnline(this.online);
  }

  setSelected(selected) {
    this.selected = selected;
    this.card.showSelected(selected);
    prefs.selected = [...app.devices.values()].filter((d) => d.selected).map((d) => d.id);
    savePrefs(prefs);
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
    savePrefs(prefs);
    if (this.player) this.player.setVolume(volume);
    if (this.bg) this.bg.setVolume(volume);
  }

  setMuted(muted) {
    this.muted = muted;
    prefs.muted[this.id] = muted;
    savePrefs(prefs);
    this.card.showMuted(muted);
    if (this.player) this.player.setMuted(muted);
    if (this.bg) this.bg.setMuted(muted);
  }

  setView(mode) {
    prefs.view = this.card.setView(mode);
    savePrefs(prefs);
  }

  listen() {
    if (this.client || this.bg) return;
    this.card.showListening(true);
    if (app.background) {
      this.listenInBackground();
      return;
    }
    this.fresh = true;
    const onEvent = (type, data) => this.onEvent(type, data);
    this.client = RECEIVE_IN_WORKER
      ? new RemoteReceiver({ url: WS_URL, device: this.id, codec: app.opus ? 'opus' : 'device', onEvent, onPlayback: (playback) => this.onPlayback(playback) })
      : new StreamClient({ url: WS_URL, device: this.id, codec: app.opus ? 'opus' : 'device', onEvent });
    this.client.start();
    this.syncReceiver();
  }

  /** Background mode: the server's HTTP stream in an <audio> element; no WebSocket, no Web Audio. */
  listenInBackground() {
    this.bg = new BackgroundPlayer(this.id, { onChange: backgroundChanged });
    this.bg.setVolume(this.volume);
    this.bg.setMuted(this.muted);
    this.card.el.append(this.bg.el); // in its card (no controls: not shown), where tests find it
    nowPlaying.add(this.bg);
    this.bg.start();
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
    this.player = new Player(output.ctx, { tap: TAP, shared: SHARED });
    this.player.setVolume(this.volume);
    this.player.setMuted(this.muted);
  }

  /** Ends the player (it belongs to its AudioContext); the next frame starts a new one. */
  dropPlayer() {
    if (this.player) this.player.destroy();
    this.player = null;
    this.fresh = true;
  }

  stopListening() {
    this.card.showListening(false);
    if (this.client) this.client.stop();
    this.client = null;
    if (this.player) this.player.destroy();
    this.player = null;
    if (this.bg) {
      this.bg.destroy();
      nowPlaying.remove(this.bg);
    }
    this.bg = null;
    this.latency.clear();
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
}

/** Whether audio can play: started, the worklet loaded, the context running. */
function audioReady() {
  return app.started && output.canPlay();
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
    if (list.children[i] !== d.card.el) list.insertBefore(d.card.el, list.children[i] || null);
  });
  empty.hidden = app.devices.size > 0;
  if (app.started && app.autoSelect) {
    const first = ordered.find((d) => d.online);
    if (first) first.setSelected(true);
  }
  // A device that was selected before it first appeared.
  if (app.started) for (const d of ordered) if (d.selected && !d.client) d.listen();
}

// The lobby: a connection that only reads the device list (it asks for no
// audio), open while no device is listened to over a WebSocket (each such
// connection brings the list too; background mode's streams do not).
function updateLobby() {
  if (session.info === null) return; // not allowed in (yet): session.check() decides
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

/** Closes every connection: the devices' and the lobby. */
function closeConnections() {
  for (const d of app.devices.values()) d.stopListening();
  if (app.lobby) app.lobby.stop();
  app.lobby = null;
}

function serverState() {
  const clients = [app.lobby, ...[...app.devices.values()].map((d) => d.client)].filter(Boolean);
  if (clients.some((c) => c.state === 'open')) return { state: 'open' };
  const waiting = clients.find((c) => c.state === 'waiting');
  if (waiting) return { state: 'waiting', retryAt: waiting.retryAt };
  return { state: 'connecting' };
}

function updateServerStatus() {
  if (session.info === null) return; // the session says what is wrong
  const s = serverState();
  // A connection that keeps failing may mean the session ended: ask.
  if (s.state === 'waiting') session.recheck();
  serverStatus.dataset.state = s.state;
  if (s.state === 'open') serverStatus.textContent = `connected${app.serverName ? ` to ${app.serverName}` : ''}`;
  else if (s.state === 'waiting') {
    serverStatus.textContent = `server unreachable: retrying in ${Math.max(0, (s.retryAt - Date.now()) / 1000).toFixed(1)} s`;
  } else serverStatus.textContent = 'connecting to the server…';
}

// ------------------------------------------------------------ audio

function updateAudioStatus() {
  const ctx = output.ctx;
  let text;
  let state = 'off';
  const blocked = [...app.devices.values()].some((d) => d.bg && d.bg.state === 'blocked');
  if (app.started && app.background) {
    state = 'background';
    text = 'Background mode: each device plays through the browser\'s media player, which keeps playing with the screen locked; ' +
      'a few seconds behind live, and no level meter';
  } else if (output.error) {
    state = 'error';
    text = `audio unavailable: ${output.error}`;
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
  resumeButton.hidden = !(blocked || (app.started && !app.background && ctx && ctx.state !== 'running' && !output.error));
}

// Everything that must happen inside the click (iOS only lets a user gesture
// start audio): create or resume the AudioContext, synchronously; or, in
// background mode, start the <audio> elements (in d.listen()).
function start() {
  if (app.started) return;
  if (!app.background && !openAudio()) return;
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

/** Creates or resumes the AudioContext (inside a user gesture); false when there is none. */
function openAudio() {
  if (!output.ctx && !output.error && !output.open()) {
    updateAudioStatus();
    return false;
  }
  if (!output.ctx) return false;
  output.ctx.resume();
  return true;
}

// Opus or the device's codec: the listened devices reconnect asking for the other.
function setOpus(on) {
  if (on === app.opus) return;
  app.opus = on;
  prefs.opus = on;
  savePrefs(prefs);
  for (const d of app.devices.values()) {
    if (!d.client) continue;
    d.stopListening();
    d.listen();
  }
}

// The background mode switch, in its click (a user gesture: both paths may start audio there).
function setBackground(on) {
  if (on === app.background) return;
  const listening = [...app.devices.values()].filter((d) => d.client || d.bg);
  for (const d of listening) d.stopListening();
  app.background = on;
  prefs.background = on;
  savePrefs(prefs);
  if (app.started) {
    if (on && output.ctx) output.ctx.suspend(); // nothing plays through it in background mode
    if (!on) openAudio();
    for (const d of listening) d.listen();
  }
  updateLobby();
  updateAudioStatus();
}

/** A background player changed state: the lock screen's state, and the resume button for a blocked one. */
function backgroundChanged() {
  nowPlaying.refresh();
  updateAudioStatus();
}

function stop() {
  if (!app.started) return;
  app.started = false;
  app.autoSelect = false;
  for (const d of app.devices.values()) d.stopListening();
  if (output.ctx) output.ctx.suspend();
  startButton.hidden = false;
  stopButton.hidden = true;
  updateLobby();
  updateAudioStatus();
}

startButton.addEventListener('click', start);
stopButton.addEventListener('click', stop);
resumeButton.addEventListener('click', () => {
  nowPlaying.play(); // background players the browser blocked
  if (output.ctx && !app.background) output.ctx.resume().then(updateAudioStatus, updateAudioStatus);
});
backgroundToggle.checked = app.background;
opusToggle.checked = app.opus;
opusToggle.disabled = webCodecs() === null;
if (opusToggle.disabled) opusToggle.parentElement.title = 'Opus needs WebCodecs, which this browser gives only over https (or on localhost)';
opusToggle.addEventListener('change', () => setOpus(opusToggle.checked));
backgroundToggle.addEventListener('change', () => setBackground(backgroundToggle.checked));
// Leaving the page (or entering the back/forward cache): close every
// connection cleanly; coming back from the cache: reconnect.
window.addEventListener('pagehide', closeConnections);
window.addEventListener('pageshow', (e) => {
  if (!e.persisted) return;
  if (app.started) for (const d of app.devices.values()) if (d.selected) d.listen();
  updateLobby();
});
document.addEventListener('visibilitychange', () => {
  // Back from the background (phones suspend audio there): try to carry on.
  if (document.visibilityState === 'visible' && app.started && !app.background && output.ctx && output.ctx.state !== 'running') {
    output.ctx.resume().then(updateAudioStatus, updateAudioStatus);
  }
});

// ------------------------------------------------------------ statistics, meters

const stats = createPageStats({ tap: TAP, shared: SHARED, receiveInWorker: RECEIVE_IN_WORKER });

function tick() {
  const playing = [...app.devices.values()].some((d) => d.player);
  output.watch(performance.now(), playing, () => {
    for (const d of app.devices.values()) d.dropPlayer();
  });
  stats.started = app.started;
  stats.audio = audioStats(output);
  stats.server = { ...serverState(), name: app.serverName };
  const devices = {};
  for (const d of app.devices.values()) {
    d.syncReceiver();
    const s = sampleDevice(d, app.started);
    devices[d.id] = s;
    const retrying = d.client || d.bg;
    d.card.render(s, retrying ? retrying.retryAt : 0);
  }
  nowPlaying.refresh(); // the server's name may have come
  stats.devices = devices;
  stats.updatedAt = Date.now();
  if (serverStatus.dataset.state === 'waiting') updateServerStatus();
}
setInterval(tick, STATS_INTERVAL_MS);

function frame(now) {
  for (const d of app.devices.values()) {
    const playing = d.player && d.client && output.ctx && output.ctx.state === 'running';
    d.card.draw(playing ? d.player.analyser : null, d.player ? d.player.rate : 0, now);
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

installTestHooks({ devices: app.devices, start, stop, context: () => output.ctx });

session.check();
updateAudioStatus();
