// Concealment of missing audio, in the spirit of G.711 Appendix I: repeat the
// last pitch period of what was played, hold it for a short while, fade it to
// silence, and when real audio comes back cross-fade into it ("merge") instead
// of switching, so that neither the loss nor the return clicks.
//
// One class serves every seam in the player:
//   - frames the device or the server lost (a gap in first_sample): the page
//     fills the gap before writing to the ring (stream-writer.js);
//   - audio that is late (the jitter buffer ran dry): the worklet conceals
//     until the buffer has refilled (player-core.js);
//   - the start of playback (concealing "nothing" is silence, so the merge is a
//     fade-in) and a skip to live (conceal, jump, merge).
//
// Every method but the constructor is allocation-free; begin() searches the
// pitch (≈ 0.1 ms of work at 16 kHz), the rest is per-sample arithmetic.

export class Concealer {
  /**
   * @param {object} o
   * @param {number} o.rate sample rate, Hz
   * @param {number} [o.channels=1]
   * @param {number} [o.minPitchMs=2.5] shortest period searched (400 Hz)
   * @param {number} [o.maxPitchMs=15] longest period searched (67 Hz)
   * @param {number} [o.holdMs=10] concealment played at full level
   * @param {number} [o.fadeMs=50] then faded to silence over this long
   * @param {number} [o.mergeMs=5] cross-fade back into real audio
   */
  constructor({ rate, channels = 1, minPitchMs = 2.5, maxPitchMs = 15, holdMs = 10, fadeMs = 50, mergeMs = 5 }) {
    this.channels = channels;
    this.minLag = Math.max(2, Math.round((rate * minPitchMs) / 1000));
    this.maxLag = Math.max(this.minLag + 1, Math.round((rate * maxPitchMs) / 1000));
    this.window = this.maxLag; // samples compared for each lag
    this.holdFrames = Math.round((rate * holdMs) / 1000);
    this.fadeFrames = Math.max(1, Math.round((rate * fadeMs) / 1000));
    this.mergeFrames = Math.max(1, Math.round((rate * mergeMs) / 1000));

    let size = 1;
    while (size < this.maxLag + this.window + 1) size *= 2;
    this.size = size; // history frames, a power of two
    this.mask = size - 1;
    this.history = new Float32Array(size * channels); // interleaved, circular
    this.hw = 0; // next history frame to write
    this.cycle = new Float32Array(this.maxLag * channels); // the period being repeated
    this.mergeTmp = new Float32Array(channels);
    this.decimation = Math.max(1, Math.round(rate / 4000));
    this.decimated = new Float32Array(Math.floor((this.maxLag + this.window) / this.decimation) + 2);

    this.period = this.minLag;
    this.cyclePos = 0;
    this.elapsed = 0; // frames concealed since begin()
    this.concealing = true; // nothing played yet: "concealing" silence
    this.mergeLeft = 0;
    this.concealedFrames = 0; // frames generated (for statistics)
  }

  /** Records frames that are being played (real, merged or concealed). */
  observe(src, offset, frames) {
    const ch = this.channels;
    const h = this.history;
    let w = this.hw;
    for (let f = 0; f < frames; f++) {
      const base = w * ch;
      for (let c = 0; c < ch; c++) h[base + c] = src[offset + f * ch + c];
      w = (w + 1) & this.mask;
    }
    this.hw = w;
  }

  /** Starts concealing after the newest observed frame. */
  begin() {
    const ch = this.channels;
    const h = this.history;
    const mask = this.mask;
    const newest = this.hw - 1; // the newest frame's history index (masked below)
    const D = this.decimation;
    const dec = this.decimated;
    // The pitch period: normalised cross-correlation of the last `window`
    // frames with the frames `lag` earlier (all channels summed), searched
    // coarsely on a decimated copy (≈ 4 kHz), then finely around the best.
    // (Indices are inline: a helper returning a sample would box it.)
    const m = Math.floor((this.maxLag + this.window) / D) + 1;
    for (let j = 0; j < m; j++) {
      let v = 0;
      for (let d = 0; d < D; d++) {
        const a = ((newest - j * D - d) & mask) * ch;
        for (let c = 0; c < ch; c++) v += h[a + c];
      }
      dec[j] = v;
    }
    const W = Math.floor(this.window / D);
    let energyRecent = 0;
    for (let j = 0; j < W; j++) energyRecent += dec[j] * dec[j];
    let coarse = Math.round(this.minLag / D);
    let bestScore = -2;
    if (energyRecent > 1e-9) {
      for (let lag = Math.max(1, Math.floor(this.minLag / D)); lag <= Math.floor(this.maxLag / D); lag++) {
        let dot = 0;
        let energy = 0;
        for (let j = 0; j < W; j++) {
          dot += dec[j] * dec[j + lag];
          energy += dec[j + lag] * dec[j + lag];
        }
        const score = energy > 0 ? dot / Math.sqrt(energy * energyRecent) : -1;
        if (score > bestScore + 1e-6) {
          bestScore = score;
          coarse = lag;
        }
      }
    }
    let bestLag = Math.min(this.maxLag, Math.max(this.minLag, coarse * D));
    if (energyRecent > 1e-9 && D > 1) {
      const from = Math.max(this.minLag, coarse * D - D);
      const to = Math.min(this.maxLag, coarse * D + D);
      bestScore = -2;
      for (let lag = from; lag <= to; lag++) {
        let dot = 0;
        let energy = 0;
        let recent = 0;
        for (let j = 0; j < this.window; j++) {
          const a = ((newest - j) & mask) * ch;
          const b = ((newest - j - lag) & mask) * ch;
          for (let c = 0; c < ch; c++) {
            dot += h[a + c] * h[b + c];
            energy += h[b + c] * h[b + c];
            recent += h[a + c] * h[a + c];
          }
        }
        const score = energy > 0 && recent > 0 ? dot / Math.sqrt(energy * recent) : -1;
        if (score > bestScore + 1e-6) {
          bestScore = score;
          bestLag = lag;
        }
      }
    }
    this.period = bestLag;
    // The last period, oldest first: repeating it continues the waveform.
    for (let j = 0; j < bestLag; j++) {
      const a = ((newest - bestLag + 1 + j) & mask) * ch;
      for (let c = 0; c < ch; c++) this.cycle[j * ch + c] = h[a + c];
    }
    this.cyclePos = 0;
    this.elapsed = 0;
    this.concealing = true;
    this.mergeLeft = 0;
  }

  /** Forgets everything: the next begin()/generate() conceals with silence. */
  reset() {
    this.history.fill(0);
    this.cycle.fill(0);
    this.concealing = true;
    this.mergeLeft = 0;
    this.elapsed = this.holdFrames + this.fadeFrames;
  }

  // Writes the next concealment frame into dst[o…] and advances: the cycle,
  // at full level for holdFrames, then fading linearly to silence.
  nextFrame(dst, o) {
    const ch = this.channels;
    const t = this.elapsed - this.holdFrames;
    const g = t < 0 ? 1 : t >= this.fadeFrames ? 0 : 1 - t / this.fadeFrames;
    const src = this.cyclePos * ch;
    for (let c = 0; c < ch; c++) dst[o + c] = g === 0 ? 0 : this.cycle[src + c] * g;
    this.cyclePos = this.cyclePos + 1 === this.period ? 0 : this.cyclePos + 1;
    this.elapsed++;
  }

  /** True once the concealment has faded to silence. */
  get silent() {
    return this.elapsed >= this.holdFrames + this.fadeFrames;
  }

  /** Writes `frames` frames of concealment into dst[offset…] (interleaved) and observes them. */
  generate(dst, offset, frames) {
    if (!this.concealing) this.begin();
    this.mergeLeft = 0;
    const ch = this.channels;
    for (let f = 0; f < frames; f++) this.nextFrame(dst, offset + f * ch);
    this.concealedFrames += frames;
    this.observe(dst, offset, frames);
  }

  /** Real audio follows: the next mergeFrames frames given to merge() fade from the concealment into it. */
  startMerge() {
    if (this.concealing) this.mergeLeft = this.mergeFrames;
  }

  /**
   * Real frames about to be played: while a merge is under way, cross-fades
   * them in place (raised cosine) from the concealment; then observes them.
   */
  merge(src, offset, frames) {
    const ch = this.channels;
    if (this.concealing && this.mergeLeft === 0) this.mergeLeft = this.mergeFrames;
    const n = Math.min(frames, this.mergeLeft);
    if (n > 0) {
      const tmp = this.mergeTmp;
      for (let f = 0; f < n; f++) {
        const done = this.mergeFrames - this.mergeLeft + f + 0.5;
        const a = 0.5 - 0.5 * Math.cos((Math.PI * done) / this.mergeFrames); // 0 → 1
        this.nextFrame(tmp, 0);
        const o = offset + f * ch;
        for (let c = 0; c < ch; c++) src[o + c] = a * src[o + c] + (1 - a) * tmp[c];
      }
      this.mergeLeft -= n;
      if (this.mergeLeft === 0) this.concealing = false;
    } else {
      this.concealing = false;
    }
    this.observe(src, offset, frames);
  }
}
