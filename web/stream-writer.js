// The page's end of the ring: decoded frames in, device audio out to the
// worklet, with the seams smoothed.
//
// A gap in first_sample is audio the device (or the server, skipping a slow
// listener to live) lost: a short gap is filled with concealment of exactly
// its length, so the timeline stays whole; a long one (over maxFillMs) gets a
// short fade-out tail and the stream carries on. Either way the next real
// frame is cross-faded in. A first_sample that goes back (a device that
// restarted) is spliced the same way.
//
// It also remembers where each frame went in the ring (CaptureTimeline), so
// that the page can tell which capture time the worklet is playing.

import { Concealer } from './concealer.js';

/**
 * Where each frame went in the ring and when it was captured: written by the
 * StreamWriter, read by the page (captureUsAt). In a SharedArrayBuffer when
 * the writer runs in the receiver worker, so the page reads it as it grows;
 * each entry is written before the count that publishes it.
 */
export class CaptureTimeline {
  static bytesFor(segments) {
    return 8 + segments * 16;
  }

  /** @param {ArrayBuffer|SharedArrayBuffer|number} buffer a buffer (bytesFor) or a number of segments (a private buffer) */
  constructor(buffer) {
    this.buffer = typeof buffer === 'number' ? new ArrayBuffer(CaptureTimeline.bytesFor(buffer)) : buffer;
    const segments = (this.buffer.byteLength - 8) / 16;
    this.head = new Int32Array(this.buffer, 0, 2); // [entries written, unused]
    this.start = new Float64Array(this.buffer, 8, segments); // ring frame of each entry
    this.capture = new Float64Array(this.buffer, 8 + segments * 8, segments); // its capture time, server µs
  }

  add(ringFrame, captureUs) {
    const written = Atomics.load(this.head, 0);
    const i = written % this.start.length;
    this.start[i] = ringFrame;
    this.capture[i] = captureUs;
    Atomics.store(this.head, 0, written + 1);
  }

  /** Capture time (server clock, µs) of a ring frame, from the newest entry at or before it; NaN if unknown. */
  captureUsAt(ringFrame, rate) {
    if (!Number.isFinite(ringFrame)) return NaN;
    const n = this.start.length;
    const written = Atomics.load(this.head, 0);
    for (let k = 1; k <= Math.min(written, n); k++) {
      const i = (written - k) % n;
      if (this.start[i] <= ringFrame) return this.capture[i] + ((ringFrame - this.start[i]) * 1e6) / rate;
    }
    return NaN;
  }
}

export class StreamWriter {
  /**
   * @param {object} o
   * @param {{write(src, offset, length): boolean, availableWrite(): number}} o.sink the ring (or a message sink)
   * @param {number} o.channels
   * @param {number} o.rate device sample rate
   * @param {number} [o.maxFillMs=120] longest gap filled with concealment
   * @param {number} [o.tailMs=10] concealment written before a longer gap's seam
   * @param {CaptureTimeline} [o.timeline] where frames went (default: a private one of 1024 entries)
   */
  constructor({ sink, channels, rate, maxFillMs = 120, tailMs = 10, timeline = new CaptureTimeline(1024) }) {
    this.sink = sink;
    this.channels = channels;
    this.rate = rate;
    this.maxFill = Math.round((rate * maxFillMs) / 1000);
    this.tail = Math.round((rate * tailMs) / 1000);
    this.concealer = new Concealer({ rate, channels });
    this.concealer.concealing = false; // the ring starts with real audio (the worklet fades it in)
    this.fill = new Float32Array(Math.max(this.maxFill, this.tail) * channels);
    this.expected = null; // first_sample of the next frame
    this.needSplice = false;
    this.unfilled = 0; // device frames of gaps not filled, not yet told to the sink
    this.writtenFrames = 0; // ring frames written (real and concealed)
    this.timeline = timeline;
    this.frames = 0;
    this.lostFrames = 0;
    this.lostSamples = 0;
    this.gaps = 0;
    this.filledFrames = 0;
    this.restarts = 0;
    this.overflowFrames = 0;
    this.lastCaptureUs = NaN;
    this.lastFirstSample = NaN;
  }

  /**
   * One decoded frame: `frames` frames of interleaved float samples (modified
   * in place by the cross-fade), the first one captured at captureUs (server clock).
   */
  push(firstSample, captureUs, samples, frames) {
    this.frames++;
    let fill = 0;
    if (this.expected !== null && firstSample !== this.expected) {
      if (firstSample > this.expected) {
        const gap = firstSample - this.expected;
        this.gaps++;
        this.lostSamples += gap;
        this.lostFrames += Math.ceil(gap / frames);
        fill = gap <= this.maxFill ? gap : this.tail;
        this.unfilled += gap - fill;
      } else {
        this.restarts++;
        fill = this.tail;
      }
    }
    if (this.needSplice && fill === 0) fill = this.tail;
    const ch = this.channels;
    if (this.sink.availableWrite() < (fill + frames) * ch) {
      // The worklet is not draining (a suspended AudioContext): drop, splice later.
      this.overflowFrames += frames;
      this.unfilled += fill + frames;
      this.needSplice = true;
      this.expected = firstSample + frames;
      return false;
    }
    if (this.unfilled > 0 && this.sink.addTimeline) {
      this.sink.addTimeline(this.unfilled);
      this.unfilled = 0;
    }
    if (fill > 0) {
      this.concealer.generate(this.fill, 0, fill);
      this.sink.write(this.fill, 0, fill * ch);
      this.writtenFrames += fill;
      this.filledFrames += fill;
      this.concealer.startMerge();
      this.needSplice = false;
    }
    this.concealer.merge(samples, 0, frames);
    this.sink.write(samples, 0, frames * ch);
    this.timeline.add(this.writtenFrames, captureUs);
    this.writtenFrames += frames;
    this.expected = firstSample + frames;
    this.lastCaptureUs = captureUs;
    this.lastFirstSample = firstSample;
    return true;
  }

  /** Capture time (server clock, µs) of a ring frame; NaN if unknown. */
  captureUsAt(ringFrame) {
    return this.timeline.captureUsAt(ringFrame, this.rate);
  }
}
