// What the page shows tests, benchmarks and the console (web/README.md, "For
// tests"): window.micstreamStats, refreshed every STATS_INTERVAL_MS, and
// window.micstream (start, stop, listen, volume, mute, the ?tap=1 tap).

import { codecName } from './codecs.js';
import { Stat, State } from './playout-stats.js';
import { RemoteReceiver } from './remote-receiver.js';

export const STATS_INTERVAL_MS = 100;
const LATENCY_WINDOW_MS = 30000; // the latency quantiles' span

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

/** A device's latency measurements: one a refresh, over the last LATENCY_WINDOW_MS. */
export function latencyWindow() {
  return new RollingQuantiles(LATENCY_WINDOW_MS / STATS_INTERVAL_MS);
}

const round = (x, digits = 1) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);

/** window.micstreamStats: what never changes filled in; app.js refreshes the rest. */
export function createPageStats({ tap, shared, receiveInWorker }) {
  const stats = {
    version: 1,
    started: false,
    tap,
    transport: shared ? 'shared-memory' : 'messages',
    receiver: receiveInWorker ? 'worker' : 'main thread',
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    audio: null,
    server: null,
    devices: {},
    updatedAt: 0,
  };
  window.micstreamStats = stats;
  return stats;
}

/** The output's part of window.micstreamStats (null before there is an AudioContext). */
export function audioStats(output) {
  const ctx = output.ctx;
  if (!ctx) return null;
  return {
    state: ctx.state,
    sampleRate: ctx.sampleRate,
    baseLatencyMs: round((ctx.baseLatency || 0) * 1000),
    outputLatencyMs: Number.isFinite(ctx.outputLatency) ? round(ctx.outputLatency * 1000) : null,
    latencyHint: output.latencyHint,
    outputUnderruns: ctx.playbackStats ? ctx.playbackStats.underrunEvents : null,
    outputStepUps: output.stepUps,
    player: ctx.audioWorklet ? 'audio-worklet' : 'script-processor',
    playerLoaded: output.playerLoaded,
    error: output.error,
  };
}

/**
 * Measures a device (app.js's Device: its connection, player, latency
 * window) and returns its part of window.micstreamStats, which its card
 * shows too. `started`: whether the page is listening.
 */
export function sampleDevice(d, started) {
  const client = d.client;
  const player = d.player;
  const bg = d.bg ? d.bg.stats() : null; // background mode (background-player.js): no client, no player
  const s = player ? player.stats() : null;
  const offsetUs = client && client.clock.hasEstimate ? client.clock.offsetUs : NaN;
  let latency = NaN;
  if (player && Number.isFinite(offsetUs)) latency = player.latencyMs(offsetUs);
  if (Number.isFinite(latency)) d.latency.push(latency);
  const w = client instanceof RemoteReceiver ? client.writer : player && player.writer; // the writer's counters
  const inRate = s ? s[Stat.IN_RATE] : 0;
  let state = 'idle';
  if (!d.selected || !started) state = 'idle';
  else if (bg) state = backgroundState(bg.state, d.online);
  else if (!client || client.state === 'connecting') state = 'connecting';
  else if (client.state === 'waiting') state = 'waiting';
  else if (!d.online) state = 'offline';
  else if (s) state = s[Stat.STATE] === State.PLAYING ? 'playing' : 'buffering';
  else state = 'buffering';
  return {
    id: d.id,
    online: d.online,
    selected: d.selected,
    listening: Boolean(client || bg),
    state,
    mode: bg ? 'background' : 'web-audio',
    // background mode: {format, state, bufferAheadMs (the element's buffer ahead of its playing point), …} (background-player.js)
    background: bg,
    connection: client ? client.state : 'closed',
    codec: d.info ? d.info.codec : null,
    // What comes over the WebSocket: the device's codec, or 'opus'.
    received: client && client.stats.codec ? client.stats.codec : null,
    sampleRate: d.info ? d.info.sample_rate : null,
    channels: d.info ? d.info.channels : null,
    volume: d.volume,
    muted: d.muted,
    latencyMs: {
      last: round(latency),
      p50: round(d.latency.quantile(0.5)),
      p99: round(d.latency.quantile(0.99)),
      samples: d.latency.count,
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
    error: d.error || null,
  };
}

/** A background player's state as a card's: its own, but offline says more than buffering. */
function backgroundState(state, online) {
  if (state === 'paused' || state === 'blocked' || state === 'waiting') return state;
  if (!online) return 'offline';
  return state === 'playing' || state === 'connecting' ? state : 'buffering';
}

/**
 * window.micstream, for tests and the console.
 * @param {object} o
 * @param {Map<string, object>} o.devices app.js's devices by id
 * @param {() => void} o.start Start Listening (as the button)
 * @param {() => void} o.stop Stop (as the button)
 * @param {() => AudioContext|null} o.context the AudioContext now
 */
export function installTestHooks({ devices, start, stop, context }) {
  window.micstream = {
    start,
    stop,
    /** Listens to (or stops listening to) a device by id. */
    listen(id, on = true) {
      const d = devices.get(id);
      if (!d) throw new Error(`no device ${id}`);
      d.setSelected(on);
    },
    setVolume(id, volume) {
      devices.get(id)?.setVolume(volume);
    },
    setMuted(id, muted) {
      devices.get(id)?.setMuted(muted);
    },
    /** The last `seconds` of a device's player output (page opened with ?tap=1): {sampleRate, samples}. */
    async readTap(id, seconds = 2) {
      const d = devices.get(id);
      if (!d || !d.player) throw new Error(`device ${id} is not playing`);
      return d.player.readTap(seconds);
    },
    get context() {
      return context();
    },
    codecName,
  };
}
