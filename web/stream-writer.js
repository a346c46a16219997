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
// It also remembers where each frame went in the ring, so that the page can
// tell which capture time the worklet is playing: captureUsAt(ringFrame).

import { Concealer } from './concealer.js';

export class StreamWriter {
  /**
   * @param {object} o
   * @param {{write(src, offset, length): boolean, availableWrite(): number}} o.sink the ring (or a message sink)
   * @param {number} o.channels
   * @param {number} o.rate device sample rate
   * @param {number} [o.maxFillMs=120] longest gap filled with concealment
   * @param {number} [o.tailMs=10] concealment written before a longer gap's seam
   * @param {number} [o.segments=1024] frames remembered for captureUsAt()
   */
  constructor({ sink, channels, rate, maxFillMs = 120, tailMs = 10, segments = 1024 }) {
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
    this.segStart = new Float64Array(segments);
    this.segCapture = new Float64Array(segments);
    this.segCount = 0;
    this.segNext = 0;
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
    const i = this.segNext;
    this.segStart[i] = this.writtenFrames;
    this.segCapture[i] = captureUs;
    this.segNext = (i + 1) % this.segStart.length;
    if (this.segCount < this.segStart.length) this.segCount++;
    this.writtenFrames += frames;
    this.expected = firstSample + frames;
    this.lastCaptureUs = captureUs;
    this.lastFirstSample = firstSample;
    return true;
  }

  /** Capture time (server clock, µs) of a ring frame, from the newest frame written at or before it; NaN if unknown. */
  captureUsAt(ringFrame) {
    if (!Number.isFinite(ringFrame)) return NaN;
    const n = this.segStart.length;
    for (let k = 1; k <= this.segCount; k++) {
      const i = (this.segNext - k + n) % n;
      if (this.segStart[i] <= ringFrame) return this.segCapture[i] + ((ringFrame - this.segStart[i]) * 1e6) / this.rate;
    }
    return NaN;
  }
}
