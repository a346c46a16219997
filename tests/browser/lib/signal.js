// What the page played, measured: the dominant frequency of a tap capture
// (a Hann-windowed FFT for the peak, refined by a golden-section search of the
// windowed spectrum between the neighbouring bins, so well under 0.1 Hz over
// a second), its level, how much of it is that one tone, and its dropouts.

import { fft } from '../../web/helpers/signal.js';

/** |windowed DTFT|² of x at frequency f. */
function powerAt(xw, rate, f) {
  const w = (2 * Math.PI * f) / rate;
  const c = Math.cos(w);
  const s = Math.sin(w);
  // Goertzel at a real-valued frequency.
  let s1 = 0;
  let s2 = 0;
  const k = 2 * c;
  for (let i = 0; i < xw.length; i++) {
    const s0 = xw[i] + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const re = s1 - s2 * c;
  const im = s2 * s;
  return re * re + im * im;
}

/**
 * Analyses a capture.
 * @param {Float32Array|number[]} x samples
 * @param {number} rate Hz
 * @param {object} [o]
 * @param {number} [o.minHz=50] ignore the spectrum below this (DC, hum)
 * @param {number} [o.windowMs=20] window of the dropout scan
 * @returns {{frequency, peak, rms, purity, seconds, minWindowRms, dropouts}}
 *   purity: the share of the power within ±20 Hz of the peak (1 for a pure tone);
 *   dropouts: windowMs windows whose RMS is under a third of the whole's.
 */
export function analyseTone(x, rate, { minHz = 50, windowMs = 20 } = {}) {
  const n = x.length;
  if (n < rate / 10) throw new Error(`too short to analyse: ${n} samples`);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;
  const xw = new Float64Array(n);
  let power = 0;
  let peak = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i] - mean;
    power += v * v;
    if (Math.abs(v) > peak) peak = Math.abs(v);
    xw[i] = v * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  }
  const rms = Math.sqrt(power / n);

  let size = 1;
  while (size < n) size <<= 1;
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  re.set(xw);
  fft(re, im);
  const binHz = rate / size;
  let best = -1;
  let bestPower = -1;
  let total = 0;
  const mags = new Float64Array(size / 2);
  for (let k = 1; k < size / 2; k++) {
    const p = re[k] * re[k] + im[k] * im[k];
    mags[k] = p;
    total += p;
    if (k * binHz >= minHz && p > bestPower) {
      bestPower = p;
      best = k;
    }
  }
  // Refine between the neighbouring bins: the windowed spectrum is unimodal there.
  let lo = (best - 1) * binHz;
  let hi = (best + 1) * binHz;
  const g = (Math.sqrt(5) - 1) / 2;
  let a = hi - g * (hi - lo);
  let b = lo + g * (hi - lo);
  let pa = powerAt(xw, rate, a);
  let pb = powerAt(xw, rate, b);
  while (hi - lo > 1e-4) {
    if (pa > pb) {
      hi = b;
      b = a;
      pb = pa;
      a = hi - g * (hi - lo);
      pa = powerAt(xw, rate, a);
    } else {
      lo = a;
      a = b;
      pa = pb;
      b = lo + g * (hi - lo);
      pb = powerAt(xw, rate, b);
    }
  }
  const frequency = (lo + hi) / 2;
  let near = 0;
  for (let k = 1; k < size / 2; k++) if (Math.abs(k * binHz - frequency) <= 20) near += mags[k];
  const purity = total > 0 ? near / total : 0;

  const win = Math.max(1, Math.round((rate * windowMs) / 1000));
  let minWindowRms = Infinity;
  let dropouts = 0;
  for (let start = 0; start + win <= n; start += win) {
    let p = 0;
    for (let i = start; i < start + win; i++) p += (x[i] - mean) ** 2;
    const r = Math.sqrt(p / win);
    if (r < minWindowRms) minWindowRms = r;
    if (r < rms / 3) dropouts++;
  }
  return { frequency, peak, rms, purity, seconds: n / rate, minWindowRms, dropouts };
}

/** Quantile q of numbers (nearest rank). */
export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
