// Measurements on sampled signals for the tests.

/** Least-squares fit of a·sin + b·cos + c at frequency f: {amplitude, phase, residualRms, rms}. */
export function fitSine(x, rate, f, start = 0, end = x.length) {
  // Normal equations of [sin, cos, 1].
  let ss = 0, cc = 0, sc = 0, s1 = 0, c1 = 0, n = 0, xs = 0, xc = 0, x1 = 0;
  for (let i = start; i < end; i++) {
    const w = (2 * Math.PI * f * i) / rate;
    const s = Math.sin(w);
    const c = Math.cos(w);
    ss += s * s; cc += c * c; sc += s * c; s1 += s; c1 += c; n++;
    xs += x[i] * s; xc += x[i] * c; x1 += x[i];
  }
  const [a, b, k] = solve3([[ss, sc, s1], [sc, cc, c1], [s1, c1, n]], [xs, xc, x1]);
  let residual = 0;
  let power = 0;
  for (let i = start; i < end; i++) {
    const w = (2 * Math.PI * f * i) / rate;
    const e = x[i] - (a * Math.sin(w) + b * Math.cos(w) + k);
    residual += e * e;
    power += x[i] * x[i];
  }
  return { amplitude: Math.hypot(a, b), phase: Math.atan2(b, a), residualRms: Math.sqrt(residual / n), rms: Math.sqrt(power / n) };
}

function solve3(m, v) {
  const a = m.map((row, i) => [...row, v[i]]);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const k = a[r][c] / a[c][c];
      for (let j = c; j < 4; j++) a[r][j] -= k * a[c][j];
    }
  }
  return [a[0][3] / a[0][0], a[1][3] / a[1][1], a[2][3] / a[2][2]];
}

/**
 * Frequency of a tone near f: the phase drift between successive fits, first
 * over short spans (no phase wrap for errors up to ±2 Hz), then refined over [start, end).
 */
export function measureFrequency(x, rate, f, start = 0, end = x.length) {
  const drift = (guess, from, to) => {
    const mid = Math.floor((from + to) / 2);
    const a = fitSine(x, rate, guess, from, mid);
    const b = fitSine(x, rate, guess, mid, to);
    let dphi = b.phase - a.phase;
    while (dphi > Math.PI) dphi -= 2 * Math.PI;
    while (dphi < -Math.PI) dphi += 2 * Math.PI;
    // a·sin + b·cos = A sin(wt + φ): φ grows by 2π Δf Δt.
    return guess + dphi / (2 * Math.PI * ((mid - from) / rate));
  };
  const coarse = drift(f, start, Math.min(end, start + Math.round(0.5 * rate)));
  return drift(coarse, start, end);
}

/** Power (dB relative to full-scale sine) at frequency f, by a Hann-windowed DFT bin. */
export function toneLevelDb(x, rate, f, start = 0, end = x.length) {
  const n = end - start;
  let re = 0;
  let im = 0;
  let wsum = 0;
  for (let i = 0; i < n; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    const ph = (2 * Math.PI * f * i) / rate;
    re += w * x[start + i] * Math.cos(ph);
    im += w * x[start + i] * Math.sin(ph);
    wsum += w;
  }
  const amplitude = (2 * Math.hypot(re, im)) / wsum;
  return 20 * Math.log10(Math.max(amplitude, 1e-12));
}

export function rms(x, start = 0, end = x.length) {
  let s = 0;
  for (let i = start; i < end; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, end - start));
}

/** The largest sample-to-sample step (a click shows as an outlier). */
export function maxStep(x, start = 1, end = x.length) {
  let m = 0;
  for (let i = Math.max(1, start); i < end; i++) m = Math.max(m, Math.abs(x[i] - x[i - 1]));
  return m;
}

/** In-place radix-2 FFT of (re, im), length a power of two. */
export function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(ang * k);
        const wi = Math.sin(ang * k);
        const ar = re[i + k + len / 2];
        const ai = im[i + k + len / 2];
        const tr = ar * wr - ai * wi;
        const ti = ar * wi + ai * wr;
        re[i + k + len / 2] = re[i + k] - tr;
        im[i + k + len / 2] = im[i + k] - ti;
        re[i + k] += tr;
        im[i + k] += ti;
      }
    }
  }
}

/**
 * Spectral purity of a tone, dB: its power (within ±widthHz of f) over the
 * power of everything else (DC excluded), in a Blackman-Harris windowed FFT of
 * the n samples from start. Clicks, distortion, images and aliases all lower it;
 * a slow pitch bend of a few ppm does not.
 */
export function tonePurityDb(x, rate, f, start, n = 65536, widthHz = 10) {
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * i) / (n - 1);
    const w = 0.35875 - 0.48829 * Math.cos(t) + 0.14128 * Math.cos(2 * t) - 0.01168 * Math.cos(3 * t);
    re[i] = x[start + i] * w;
  }
  fft(re, im);
  let tone = 0;
  let rest = 0;
  for (let k = 4; k < n / 2; k++) {
    const p = re[k] * re[k] + im[k] * im[k];
    if (Math.abs((k * rate) / n - f) <= widthHz) tone += p;
    else rest += p;
  }
  return 10 * Math.log10(tone / Math.max(rest, 1e-30));
}
