// The render path between the ring the page fills (decoded device audio at the
// device's rate) and the sound card (the AudioContext's rate and clock): the
// worklet (player-processor.js) calls PlayerCore.render() once per render
// quantum, and the tests drive it with simulated networks. How much to buffer
// and how fast to play is the PlayoutController's (playout-controller.js);
// this side reports the arrivals, starts, skips and underruns, and resamples.
//
// Concealment
//   Running dry, starting, and skipping all go through the Concealer
//   (concealer.js): repeat the last pitch period, fade, cross-fade back.
//
// Allocation: render() allocates nothing. To keep V8 from boxing doubles,
// the hot path passes them through fields and typed arrays, never as
// arguments or return values of calls that might not be inlined
// (tests/web/worklet.test.js checks no garbage collection happens).

import { Concealer } from './concealer.js';
import { PlayoutController } from './playout-controller.js';
import { Stat, State } from './playout-stats.js';
import { Resampler } from './resampler.js';

export class PlayerCore {
  /**
   * @param {object} o
   * @param {import('./ring-buffer.js').RingBuffer} o.ring the consumer end: interleaved frames at inRate
   * @param {number} o.channels device channels (1 or 2)
   * @param {number} o.inRate device sample rate
   * @param {number} o.outRate output (AudioContext) sample rate
   * @param {object} [o.options] PlayoutController options
   * @param {object} [o.resampler] Resampler options
   * @param {number} [o.maxQuantum=1024] largest n render() is called with without splitting
   */
  constructor({ ring, channels, inRate, outRate, options = {}, resampler = {}, maxQuantum = 1024 }) {
    this.ring = ring;
    this.channels = channels;
    this.inRate = inRate;
    this.outRate = outRate;
    this.controller = new PlayoutController(options);
    this.resampler = new Resampler({ inRate, outRate, channels, ...resampler });
    this.concealer = new Concealer({ rate: inRate, channels });
    this.maxQuantum = maxQuantum;
    const maxStep = (inRate / outRate) * (1 + this.controller.o.maxCorrection);
    this.staging = new Float32Array((Math.ceil(maxQuantum * maxStep) + 4) * channels);
    this.scratch = new Float32Array(maxQuantum); // a device channel the output has no room for
    this.outs = new Array(channels).fill(null);
    this.state = State.BUFFERING;
    this.everPlayed = false;
    this.framesOut = 0;
    this.consumed = 0; // ring frames read or discarded
    this.lastWrite = ring.writeCount();
    this.lastTimeline = ring.timelineCount();
    this.timeline = 0; // device frames delivered: written, plus gaps the page did not fill
    this.levelAfter = 0;
    this.underruns = 0;
    this.concealedFrames = 0;
    this.skips = 0;
    this.skippedFrames = 0;
    this.sinceSynthetic = 0; // real frames pushed since the last concealed one
    this.position = NaN;
  }

  /**
   * Renders n output frames into outs (one Float32Array an output channel;
   * a mono device fills every output channel, a stereo device its first two).
   */
  render(outs, n) {
    let done = 0;
    while (done < n) {
      const m = Math.min(this.maxQuantum, n - done);
      this.renderQuantum(outs, done, m);
      done += m;
    }
  }

  renderQuantum(outs, offset, n) {
    const ch = this.channels;
    const ctl = this.controller;
    const inRate = this.inRate;
    const now = this.framesOut / this.outRate;
    ctl.now = now;

    // Arrivals since the last quantum.
    const wc = this.ring.writeCount();
    if (wc !== this.lastWrite) {
      const arrived = ((wc - this.lastWrite) >>> 0) / ch;
      const tl = this.ring.timelineCount();
      this.timeline += (tl - this.lastTimeline) | 0;
      this.lastTimeline = tl;
      this.lastWrite = wc;
      ctl.inTrough = this.levelAfter;
      ctl.inChunk = arrived / inRate;
      ctl.inTimeline = this.timeline / inRate;
      ctl.onArrival(this.state === State.PLAYING);
      this.timeline += arrived;
    }
    const level = this.ring.availableRead() / ch / inRate;
    const startLevel = ctl.margin + ctl.spread + ctl.chunk;
    const skipLevel = startLevel + ctl.skipExcess;

    if (this.state === State.BUFFERING) {
      // Levels move in whole arrivals: a few ms short is close enough (the loop slows down to make it up).
      if (ctl.arrivals > 0 && !ctl.starving && level >= startLevel - Math.min(0.005, 0.25 * ctl.chunk)) {
        // A backlog (a stall, then everything at once) is not played late: start live.
        // At the very start, what piled up before the worklet ran is trimmed too (uncounted).
        if (level > skipLevel) this.skip(true);
        else if (!this.everPlayed && level > startLevel + 0.5 * ctl.chunk) this.skip(false);
        this.state = State.PLAYING;
        this.everPlayed = true;
        this.concealer.startMerge();
      }
    } else if (level > skipLevel && !this.concealer.concealing) {
      // Far behind: cross-fade from where playback is to the newest startLevel of audio.
      this.concealer.begin();
      this.skip(true);
      this.concealer.startMerge();
    }

    const playing = this.state === State.PLAYING;
    ctl.dt = n / this.outRate;
    ctl.update(playing);
    const rs = this.resampler;
    rs.step = rs.nominalStep * (1 + ctl.correction);
    const need = rs.framesNeeded(n);

    // The position of this quantum's first output sample, while it is pure real audio.
    this.position = this.consumed - 1 - (rs.half - rs.frac);
    if (!playing || this.sinceSynthetic < rs.taps) this.position = NaN;

    const staging = this.staging;
    if (playing) {
      const got = this.ring.read(staging, 0, need * ch) / ch;
      this.consumed += got;
      this.concealer.merge(staging, 0, got);
      if (got < need) {
        // Ran dry: conceal the rest; wait to refill before playing again.
        this.underruns++;
        ctl.now = now + got / rs.step / this.outRate;
        ctl.onUnderrun();
        this.state = State.BUFFERING;
        this.concealer.generate(staging, got * ch, need - got);
        this.concealedFrames += need - got;
        this.sinceSynthetic = 0;
      } else {
        this.sinceSynthetic += got;
      }
    } else {
      this.concealer.generate(staging, 0, need);
      if (this.everPlayed) this.concealedFrames += need;
      this.sinceSynthetic = 0;
    }

    // Resample into the output channels.
    const outs2 = this.outs;
    for (let c = 0; c < ch; c++) {
      outs2[c] = c < outs.length ? outs[c] : this.scratch;
    }
    rs.process(staging, 0, outs2, offset, n);
    if (ch === 1) {
      const src = outs[0];
      for (let c = 1; c < outs.length; c++) {
        const dst = outs[c];
        for (let i = offset; i < offset + n; i++) dst[i] = src[i];
      }
    }

    this.levelAfter = this.ring.availableRead() / ch / inRate;
    this.framesOut += n;
  }

  // Drops all but the newest startLevel of the ring (counted as a skip if `counted`).
  skip(counted) {
    const ctl = this.controller;
    const excess = this.ring.availableRead() / this.channels / this.inRate - (ctl.margin + ctl.spread + ctl.chunk);
    const drop = Math.floor(excess * this.inRate);
    if (drop <= 0) return;
    this.ring.discard(drop * this.channels);
    this.consumed += drop;
    if (!counted) return;
    this.skips++;
    this.skippedFrames += drop;
  }

  /** Fills the Stat layout into a Float64Array (all but CONTEXT_TIME, GENERATION and OVERFLOW_FRAMES: the worklet's). */
  writeStats(s) {
    const ctl = this.controller;
    s[Stat.POSITION] = this.position;
    s[Stat.LEVEL] = this.levelAfter;
    s[Stat.START_LEVEL] = ctl.margin + ctl.spread + ctl.chunk;
    s[Stat.MARGIN] = ctl.margin;
    s[Stat.SPREAD] = ctl.spread;
    s[Stat.CHUNK] = ctl.chunk;
    s[Stat.CORRECTION] = ctl.correction;
    s[Stat.DRIFT] = ctl.drift;
    s[Stat.UNDERRUNS] = this.underruns;
    s[Stat.CONCEALED_FRAMES] = this.concealedFrames;
    s[Stat.SKIPS] = this.skips;
    s[Stat.SKIPPED_FRAMES] = this.skippedFrames;
    s[Stat.STATE] = this.state;
    s[Stat.FRAMES_OUT] = this.framesOut;
    s[Stat.CONSUMED] = this.consumed;
    s[Stat.IN_RATE] = this.inRate;
    s[Stat.OUT_RATE] = this.outRate;
    s[Stat.TROUGH_MIN] = ctl.troughMin;
    s[Stat.TROUGH] = ctl.trough;
    s[Stat.LATENESS] = ctl.lateness;
    s[Stat.RESAMPLER_DELAY] = this.resampler.half - this.resampler.frac;
  }
}
