// One device's playback on the audio thread: PlayerCore (player-core.js) fed from
// the ring, its statistics and the optional output tap, driven one render
// quantum at a time. Hosted by the AudioWorkletProcessor (player-worklet.js)
// and, where AudioWorklet is unavailable (a page served over plain http to
// another machine is not a secure context), by a ScriptProcessorNode
// (script-player-node.js).
//
// Transport: when the page is cross-origin isolated the ring, the statistics
// and the optional output tap live in SharedArrayBuffers; process() then
// allocates nothing and posts nothing. Otherwise the page posts decoded audio
// as messages into a ring local to this scope, and the processor posts its
// statistics (and tap) back every few quanta: the one place that allocates,
// and only in that fallback.
//
// Messages in:  {type: 'configure', generation, channels, sampleRate, ring?, ringSamples?, stats?, tap?, tapSamples?, playout?}
//               {type: 'data', samples: Float32Array, timeline: frames}      (message transport)
//               {type: 'tap-read'}                                           (message transport)
//               {type: 'stop'}
// Messages out: {type: 'stats', stats: Float64Array}                         (message transport)
//               {type: 'tap', samples: Float32Array, count}                  (answer to tap-read)

import { PlayerCore } from './player-core.js';
import { Stat } from './playout-stats.js';
import { RingBuffer } from './ring-buffer.js';

const POST_EVERY_QUANTA = 12; // ≈ 32 ms at 48 kHz (message transport only)

export class PlayerProcessor {
  /**
   * @param {(message: object) => void} post sends a message to the page
   * @param {number} outRate the AudioContext's sample rate
   */
  constructor(post, outRate) {
    this.post = post;
    this.outRate = outRate;
    this.core = null;
    this.alive = true;
    this.shared = false;
    this.seq = null;
    this.stats = new Float64Array(Stat.COUNT);
    this.tapCount = null;
    this.tapData = null;
    this.tapMask = 0;
    this.quanta = 0;
    this.overflowFrames = 0;
    this.generation = 0;
  }

  configure(c) {
    this.shared = Boolean(c.ring);
    const ring = this.shared ? new RingBuffer(c.ring) : RingBuffer.create(c.ringSamples, false);
    this.core = new PlayerCore({ ring, channels: c.channels, inRate: c.sampleRate, outRate: this.outRate, options: c.playout || {} });
    this.generation = c.generation || 0;
    this.overflowFrames = 0;
    if (c.stats) {
      this.seq = new Int32Array(c.stats, 0, 2);
      this.stats = new Float64Array(c.stats, 8, Stat.COUNT);
    } else {
      this.seq = null;
      this.stats = new Float64Array(Stat.COUNT);
    }
    if (c.tap) {
      this.tapCount = new Int32Array(c.tap, 0, 2);
      this.tapData = new Float32Array(c.tap, 8);
    } else if (c.tapSamples) {
      this.tapCount = new Int32Array(2);
      this.tapData = new Float32Array(c.tapSamples);
    } else {
      this.tapCount = null;
      this.tapData = null;
    }
    this.tapMask = this.tapData ? this.tapData.length - 1 : 0;
  }

  onMessage(m) {
    switch (m && m.type) {
      case 'configure':
        this.configure(m);
        break;
      case 'data': {
        const core = this.core;
        if (!core) break;
        if (m.timeline) core.ring.addTimeline(m.timeline);
        if (!core.ring.write(m.samples, 0, m.samples.length)) {
          const frames = m.samples.length / core.channels;
          this.overflowFrames += frames;
          core.ring.addTimeline(frames);
        }
        break;
      }
      case 'tap-read':
        if (this.tapData) {
          this.post({ type: 'tap', samples: this.tapData.slice(), count: Atomics.load(this.tapCount, 0) >>> 0 });
        } else {
          this.post({ type: 'tap', samples: new Float32Array(0), count: 0 });
        }
        break;
      case 'stop':
        this.alive = false;
        break;
      default:
        break;
    }
  }

  /**
   * Renders one quantum into `out` (one Float32Array a channel), whose first
   * sample is context frame `frame` (an integer: reading currentFrame
   * allocates nothing, where currentTime's double may be boxed). Returns
   * false once stopped.
   */
  process(out, frame) {
    if (!this.alive) return false;
    const core = this.core;
    if (!core || out.length === 0) return true; // outputs start zeroed: silence
    const n = out[0].length;
    core.render(out, n);

    // Statistics, under a sequence lock (odd while writing) when shared.
    const seq = this.seq;
    if (seq) Atomics.add(seq, 0, 1);
    core.writeStats(this.stats);
    this.stats[Stat.CONTEXT_TIME] = frame / this.outRate;
    this.stats[Stat.OVERFLOW_FRAMES] = this.overflowFrames;
    this.stats[Stat.GENERATION] = this.generation;
    if (seq) Atomics.add(seq, 0, 1);

    // The tap: the player's output (channel 0, before the volume), for tests.
    const tap = this.tapData;
    if (tap) {
      const w = Atomics.load(this.tapCount, 0);
      const src = out[0];
      const mask = this.tapMask;
      for (let i = 0; i < n; i++) tap[(w + i) & mask] = src[i];
      Atomics.store(this.tapCount, 0, (w + n) | 0);
    }

    if (!this.shared && ++this.quanta % POST_EVERY_QUANTA === 0) {
      this.post({ type: 'stats', stats: this.stats.slice() });
    }
    return true;
  }
}
