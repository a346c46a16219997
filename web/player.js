// The page's side of one device's playback: the AudioWorkletNode running
// player-worklet.js (or, without AudioWorklet, script-player-node.js), the
// ring it reads (shared memory when the page is cross-origin isolated,
// messages otherwise), filled by a StreamWriter here or in the receiver
// worker (receiver.js), volume, an analyser for the meters, statistics and
// the measured latency, and the optional output tap for tests.

import { RingBuffer } from './ring-buffer.js';
import { Stat } from './playout-stats.js';
import { ScriptPlayerNode } from './script-player-node.js';
import { createSharedPlayback, ringSamplesFor, TIMELINE_ENTRIES } from './shared-playback.js';
import { CaptureTimeline, StreamWriter } from './stream-writer.js';

/** Whether the worklet can share memory with the page (SharedArrayBuffer needs cross-origin isolation). */
export function canShareMemory() {
  return typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated === true;
}

// Message transport: the ring's producer end as posted copies.
class MessageSink {
  constructor(port) {
    this.port = port;
    this.pendingTimeline = 0;
  }

  availableWrite() {
    return Infinity; // the worklet drops (and counts) what does not fit
  }

  addTimeline(frames) {
    this.pendingTimeline += frames;
  }

  write(src, offset, length) {
    const samples = src.slice(offset, offset + length);
    this.port.postMessage({ type: 'data', samples, timeline: this.pendingTimeline }, [samples.buffer]);
    this.pendingTimeline = 0;
    return true;
  }
}

export class Player {
  /**
   * @param {AudioContext} ctx
   * @param {object} [o]
   * @param {boolean} [o.shared=canShareMemory()]
   * @param {boolean} [o.tap=false] record the output for tests (readTap)
   * @param {number} [o.tapSeconds=12]
   * @param {object} [o.playout] PlayoutController options
   */
  constructor(ctx, { shared = canShareMemory(), tap = false, tapSeconds = 12, playout = {} } = {}) {
    this.ctx = ctx;
    this.shared = shared;
    this.tap = tap;
    this.tapSamples = RingBuffer.capacityFor(Math.ceil(ctx.sampleRate * tapSeconds));
    this.playout = playout;
    this.node = ctx.audioWorklet
      ? new AudioWorkletNode(ctx, 'micstream-player', { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [2] })
      : new ScriptPlayerNode(ctx); // no AudioWorklet (not a secure context): the same player on the main thread
    this.gain = ctx.createGain();
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 2048;
    this.analyser.smoothingTimeConstant = 0;
    this.node.connect(this.gain).connect(ctx.destination);
    this.node.connect(this.analyser);
    this.generation = 0;
    this.writer = null; // when fed from this thread
    this.timeline = null;
    this.rate = 0;
    this.channels = 0;
    this.snap = new Float64Array(Stat.COUNT);
    this.messageStats = null;
    this.statsSeq = null;
    this.statsView = null;
    this.tapWaiters = [];
    this.node.port.onmessage = (e) => this.onMessage(e.data);
    this.volume = 1;
    this.muted = false;
  }

  onMessage(m) {
    if (m.type === 'stats') this.messageStats = m.stats;
    else if (m.type === 'tap') {
      const waiter = this.tapWaiters.shift();
      if (waiter) waiter(m);
    }
  }

  /** (Re)starts playback for a stream of this format, fed from this thread: a fresh ring, a fresh player in the worklet. */
  configure(rate, channels) {
    let sink;
    if (this.shared) {
      const playback = createSharedPlayback({ rate, channels, tapSamples: this.tap ? this.tapSamples : 0 });
      sink = new RingBuffer(playback.ring);
      this.attach(playback);
    } else {
      this.beginPlayback(rate, channels);
      const message = { type: 'configure', generation: this.generation, channels, sampleRate: rate, playout: this.playout };
      message.ringSamples = ringSamplesFor(rate, channels);
      if (this.tap) message.tapSamples = this.tapSamples;
      this.messageStats = null;
      this.node.port.postMessage(message);
      sink = new MessageSink(this.node.port);
    }
    this.writer = new StreamWriter({ sink, channels, rate, timeline: this.timeline });
  }

  /**
   * (Re)starts playback from shared buffers (shared-playback.js) that a
   * writer fills, on this thread or in the receiver worker.
   */
  attach({ rate, channels, ring, stats, tap, timeline }) {
    this.beginPlayback(rate, channels, timeline);
    this.statsSeq = new Int32Array(stats, 0, 2);
    this.statsView = new Float64Array(stats, 8, Stat.COUNT);
    this.tapBuffer = tap || null;
    const message = { type: 'configure', generation: this.generation, channels, sampleRate: rate, playout: this.playout, ring, stats };
    if (tap) message.tap = tap;
    this.node.port.postMessage(message);
  }

  beginPlayback(rate, channels, timeline) {
    this.generation++;
    this.rate = rate;
    this.channels = channels;
    this.writer = null;
    this.timeline = new CaptureTimeline(timeline || TIMELINE_ENTRIES);
  }

  /** One decoded frame (see StreamClient's audio event), when fed from this thread. */
  push(frame, samples) {
    if (frame.sampleRate !== this.rate || frame.channels !== this.channels || !this.writer) this.configure(frame.sampleRate, frame.channels);
    this.writer.push(frame.firstSample, frame.captureUs, samples, frame.sampleCount);
  }

  /** The worklet's latest figures (Stat layout), or null before it has any for this configuration. */
  stats() {
    const s = this.snap;
    if (this.shared) {
      if (!this.statsView) return null;
      for (let attempt = 0; attempt < 8; attempt++) {
        const before = Atomics.load(this.statsSeq, 0);
        if (before & 1) continue;
        s.set(this.statsView);
        if (Atomics.load(this.statsSeq, 0) === before) break;
      }
    } else {
      if (!this.messageStats) return null;
      s.set(this.messageStats);
    }
    return s[Stat.GENERATION] === this.generation && s[Stat.FRAMES_OUT] > 0 ? s : null;
  }

  /**
   * Capture-to-speaker latency of what is playing, ms: when the sample
   * the worklet rendered at CONTEXT_TIME reaches the speaker (the output
   * timestamp, or currentTime + base + output latency), on the server's clock
   * (offsetUs = server − page), less its capture time. NaN when unknown.
   */
  latencyMs(offsetUs) {
    const s = this.stats();
    if (!s || !this.timeline || !Number.isFinite(s[Stat.POSITION])) return NaN;
    const captureUs = this.timeline.captureUsAt(s[Stat.POSITION], this.rate);
    if (!Number.isFinite(captureUs)) return NaN;
    const speakerPerfMs = this.speakerTimeMs(s[Stat.CONTEXT_TIME]);
    return ((performance.timeOrigin + speakerPerfMs) * 1000 + offsetUs - captureUs) / 1000;
  }

  /** performance.now() time at which the sample rendered at contextTime is heard. */
  speakerTimeMs(contextTime) {
    const ctx = this.ctx;
    const ts = typeof ctx.getOutputTimestamp === 'function' ? ctx.getOutputTimestamp() : null;
    if (ts && ts.contextTime > 0 && ts.performanceTime > 0) {
      return ts.performanceTime + (contextTime - ts.contextTime) * 1000;
    }
    const base = ctx.baseLatency || 0;
    const output = ctx.outputLatency || 0;
    return performance.now() + (contextTime - ctx.currentTime + base + output) * 1000;
  }

  setVolume(volume) {
    this.volume = volume;
    this.applyGain();
  }

  setMuted(muted) {
    this.muted = muted;
    this.applyGain();
  }

  applyGain() {
    const target = this.muted ? 0 : this.volume * this.volume; // a perceptual (square-law) slider
    this.gain.gain.setTargetAtTime(target, this.ctx.currentTime, 0.015); // no zipper, no click
  }

  /** The last `seconds` of the player's output (before the volume): {sampleRate, samples}. */
  async readTap(seconds) {
    if (!this.tap) throw new Error('the tap is off: open the page with ?tap=1');
    let samples;
    let count;
    if (this.shared) {
      if (!this.tapBuffer) return { sampleRate: this.ctx.sampleRate, samples: new Float32Array(0) };
      const data = new Float32Array(this.tapBuffer, 8);
      samples = data;
      count = Atomics.load(new Int32Array(this.tapBuffer, 0, 1), 0) >>> 0;
    } else {
      const m = await new Promise((resolve) => {
        this.tapWaiters.push(resolve);
        this.node.port.postMessage({ type: 'tap-read' });
      });
      samples = m.samples;
      count = m.count;
    }
    const mask = samples.length - 1;
    const n = Math.min(Math.round(seconds * this.ctx.sampleRate), count, samples.length);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = samples[(count - n + i) & mask];
    return { sampleRate: this.ctx.sampleRate, samples: out };
  }

  destroy() {
    this.node.port.postMessage({ type: 'stop' });
    this.node.disconnect();
    this.gain.disconnect();
    this.tapWaiters.splice(0).forEach((w) => w({ samples: new Float32Array(0), count: 0 }));
  }
}
