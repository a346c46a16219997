// Band-limited resampling at any (and continuously variable) ratio: a
// windowed-sinc low-pass (Kaiser window) tabulated in `phases` sub-sample
// phases, linearly interpolated between neighbouring phases. The ratio can be
// changed between calls (the jitter buffer steers it by a few hundred ppm to
// follow the device's clock); nothing is ever repeated or dropped, the read
// position just advances a little faster or slower.
//
// The cut-off sits below the lower of the two Nyquist frequencies, so
// upsampling (16 kHz → 48 kHz) rejects the images and downsampling
// (48 kHz → 44.1 kHz) rejects what would alias. Group delay: `halfTaps` input
// samples. process() allocates nothing.

function besselI0(x) {
  // Power series of the modified Bessel function of the first kind, order 0.
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 64; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

export class Resampler {
  /**
   * @param {object} o
   * @param {number} o.inRate input sample rate, Hz
   * @param {number} o.outRate output sample rate, Hz
   * @param {number} [o.channels=1]
   * @param {number} [o.halfTaps=32] input samples each side of the centre when upsampling
   *   (scaled up by inRate / outRate when downsampling, so the transition band keeps its width at the output)
   * @param {number} [o.phases=256] tabulated sub-sample phases
   * @param {number} [o.beta=8.6] Kaiser window shape: ≈ 87 dB stop band
   */
  constructor({ inRate, outRate, channels = 1, halfTaps = 32, phases = 256, beta = 8.6 }) {
    this.inRate = inRate;
    this.outRate = outRate;
    this.channels = channels;
    const r = Math.min(1, outRate / inRate); // the lower Nyquist frequency, as a share of the input's
    halfTaps = Math.ceil(halfTaps / r);
    this.half = halfTaps;
    this.taps = 2 * halfTaps;
    this.phases = phases;
    this.nominalStep = inRate / outRate;
    this.step = this.nominalStep;
    this.frac = 0;

    // Kaiser's design rules: the window's stop-band attenuation A (dB) from
    // beta, the transition width (cycles per input sample) from A and the
    // length. The stop band starts at the lower Nyquist frequency, so nothing
    // folds back (downsampling) and no image survives (upsampling).
    const attenuation = beta / 0.1102 + 8.7;
    const transition = (attenuation - 7.95) / (14.36 * this.taps);
    const fc = 0.5 * r - transition / 2; // cut-off (−6 dB), cycles per input sample
    this.cutoffHz = fc * inRate;
    this.passbandHz = (fc - transition / 2) * inRate;
    const L = this.taps;
    const table = new Float32Array((phases + 1) * L);
    const i0beta = besselI0(beta);
    for (let p = 0; p <= phases; p++) {
      const frac = p / phases;
      let sum = 0;
      for (let k = 0; k < L; k++) {
        const d = k - halfTaps + 1 - frac; // distance of tap k from the output instant
        const x = 2 * fc * d;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const w = d / halfTaps;
        const window = Math.abs(w) >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - w * w)) / i0beta;
        const h = 2 * fc * sinc * window;
        table[p * L + k] = h;
        sum += h;
      }
      // Unity gain at DC in every phase: no ripple as the phase moves.
      for (let k = 0; k < L; k++) table[p * L + k] /= sum;
    }
    this.table = table;

    // Each channel's last L input samples, written twice (at i and i + L) so
    // that the window is always contiguous.
    this.history = [];
    for (let c = 0; c < channels; c++) this.history.push(new Float32Array(2 * L));
    this.hpos = 0;
  }

  /** Sets the input samples consumed per output sample: nominal × (1 + correction). */
  setCorrection(correction) {
    this.step = this.nominalStep * (1 + correction);
  }

  /** Input frames process(…, n) will consume, from the current state. */
  framesNeeded(n) {
    let f = this.frac;
    const step = this.step;
    let count = 0;
    for (let i = 0; i < n; i++) {
      f += step;
      while (f >= 1) {
        f -= 1;
        count++;
      }
    }
    return count;
  }

  /** Pushes one input frame (channels values at src[offset…]) into the history. */
  push(src, offset) {
    const L = this.taps;
    const h = this.hpos;
    for (let c = 0; c < this.channels; c++) {
      const v = src[offset + c];
      const hist = this.history[c];
      hist[h] = v;
      hist[h + L] = v;
    }
    this.hpos = h + 1 === L ? 0 : h + 1;
  }

  /**
   * Produces n output frames into outs[c][outOffset…] (one array a channel),
   * consuming exactly framesNeeded(n) interleaved input frames from
   * src[srcFrame × channels…]. @returns the input frames consumed.
   */
  process(src, srcFrame, outs, outOffset, n) {
    const L = this.taps;
    const P = this.phases;
    const table = this.table;
    const channels = this.channels;
    const step = this.step;
    let frac = this.frac;
    let read = srcFrame * channels;
    let consumed = 0;
    for (let i = 0; i < n; i++) {
      const pf = frac * P;
      let p = pf | 0;
      let t = pf - p;
      if (p >= P) { p = P - 1; t = 1; } // frac within an ulp of 1
      const c0 = p * L;
      const c1 = c0 + L;
      const start = this.hpos;
      for (let c = 0; c < channels; c++) {
        const hist = this.history[c];
        let y0 = 0;
        let y1 = 0;
        for (let k = 0; k < L; k++) {
          const x = hist[start + k];
          y0 += table[c0 + k] * x;
          y1 += table[c1 + k] * x;
        }
        outs[c][outOffset + i] = y0 + (y1 - y0) * t;
      }
      frac += step;
      while (frac >= 1) {
        frac -= 1;
        this.push(src, read);
        read += channels;
        consumed++;
      }
    }
    this.frac = frac;
    return consumed;
  }

  /**
   * Input frames between the newest one pushed and the instant the next output
   * sample stands for: the resampler's own delay (halfTaps − 1 + 1 − frac).
   */
  delayFrames() {
    return this.half - this.frac;
  }

  /** Forgets the history (silence) and the phase. */
  reset() {
    for (const h of this.history) h.fill(0);
    this.hpos = 0;
    this.frac = 0;
  }
}
