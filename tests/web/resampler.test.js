// web/resampler.js: frequency kept, images and aliases rejected, any ratio,
// steerable without a glitch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Resampler } from '../../web/resampler.js';
import { fitSine, maxStep, measureFrequency, toneLevelDb } from './helpers/signal.js';

// Runs `seconds` of a tone (or any function of the input index) through a resampler, in 128-frame quanta.
function run({ inRate, outRate, seconds = 1, signal, correction = () => 0, channels = 1 }) {
  const r = new Resampler({ inRate, outRate, channels });
  const n = Math.round(seconds * outRate);
  const out = Array.from({ length: channels }, () => new Float32Array(n));
  const src = new Float32Array(8192 * channels);
  let inIndex = 0;
  for (let done = 0; done < n; done += 128) {
    const m = Math.min(128, n - done);
    r.setCorrection(correction(done / outRate));
    const need = r.framesNeeded(m);
    for (let i = 0; i < need; i++) for (let c = 0; c < channels; c++) src[i * channels + c] = signal(inIndex + i, c);
    assert.equal(r.process(src, 0, out, done, m), need);
    inIndex += need;
  }
  return { out, r, inIndex };
}

const tone = (f, rate, a = 0.5) => (i) => a * Math.sin((2 * Math.PI * f * i) / rate);
const settle = (r, outRate) => Math.ceil((r.taps * outRate) / r.inRate) + 16; // skip the filter's start

test('16 kHz → 48 kHz: a 1 kHz tone comes out at 1 kHz, clean', () => {
  const { out, r } = run({ inRate: 16000, outRate: 48000, signal: tone(1000, 16000) });
  const s = settle(r, 48000);
  const f = measureFrequency(out[0], 48000, 1000, s);
  assert.ok(Math.abs(f - 1000) < 0.01, `${f} Hz`);
  const fit = fitSine(out[0], 48000, 1000, s);
  assert.ok(Math.abs(fit.amplitude - 0.5) < 0.5 * 0.001, `amplitude ${fit.amplitude}`);
  const snr = 20 * Math.log10(fit.amplitude / Math.SQRT2 / fit.residualRms);
  assert.ok(snr > 90, `SNR ${snr.toFixed(1)} dB`);
});

test('16 kHz → 48 kHz: flat to 6 kHz, images of the passband rejected by more than 80 dB', () => {
  const { out, r } = run({ inRate: 16000, outRate: 48000, signal: tone(6000, 16000) });
  assert.ok(r.passbandHz > 6000 && r.cutoffHz < 8000, `passband ${r.passbandHz}, cut-off ${r.cutoffHz}`);
  const s = settle(r, 48000);
  const fit = fitSine(out[0], 48000, 6000, s);
  assert.ok(Math.abs(20 * Math.log10(fit.amplitude / 0.5)) < 0.05, `gain ${fit.amplitude / 0.5}`);
  for (const image of [10000, 22000, 26000]) {
    const level = toneLevelDb(out[0], 48000, image, s) - toneLevelDb(out[0], 48000, 6000, s);
    assert.ok(level < -80, `image at ${image} Hz: ${level.toFixed(1)} dB`);
  }
});

test('48 kHz → 44.1 kHz: 17 kHz passes, 23 kHz (above the new Nyquist) does not fold back', () => {
  const pass = run({ inRate: 48000, outRate: 44100, signal: tone(17000, 48000) });
  const s = settle(pass.r, 44100);
  const gain = fitSine(pass.out[0], 44100, 17000, s).amplitude / 0.5;
  assert.ok(Math.abs(20 * Math.log10(gain)) < 0.05, `17 kHz gain ${gain}`);
  const stop = run({ inRate: 48000, outRate: 44100, signal: tone(23000, 48000) });
  const alias = toneLevelDb(stop.out[0], 44100, 44100 - 23000, s) - 20 * Math.log10(0.5);
  assert.ok(alias < -80, `alias at 21.1 kHz: ${alias.toFixed(1)} dB`);
});

test('odd rates both ways (8 kHz → 44.1 kHz, 44.1 kHz → 16 kHz, 48 kHz → 48 kHz)', () => {
  for (const [inRate, outRate, f] of [[8000, 44100, 440], [44100, 16000, 1000], [48000, 48000, 997]]) {
    const { out, r } = run({ inRate, outRate, signal: tone(f, inRate) });
    const s = settle(r, outRate);
    const fit = fitSine(out[0], outRate, f, s);
    const snr = 20 * Math.log10(fit.amplitude / Math.SQRT2 / fit.residualRms);
    assert.ok(Math.abs(measureFrequency(out[0], outRate, f, s) - f) < 0.01, `${inRate}→${outRate}`);
    assert.ok(snr > 85, `${inRate}→${outRate}: SNR ${snr.toFixed(1)} dB`);
  }
});

test('steering the ratio (±500 ppm, changing every quantum) bends the pitch smoothly: no glitch, no sample twice', () => {
  const inRate = 16000;
  const outRate = 48000;
  // The correction wanders as the drift controller's would, far faster.
  const correction = (t) => 500e-6 * Math.sin(2 * Math.PI * 0.5 * t);
  const { out, r, inIndex } = run({ inRate, outRate, seconds: 2, signal: tone(440, inRate), correction });
  // Consumed input = ∫ (1 + correction) dt × inRate, to a sample.
  const expected = 2 * inRate; // the sine's integral over whole periods is 0
  assert.ok(Math.abs(inIndex - expected) <= 2, `consumed ${inIndex}, expected ${expected}`);
  // A click would be a step far above the tone's own largest step (2π·440/48000·0.5 ≈ 0.029).
  const s = settle(r, outRate);
  assert.ok(maxStep(out[0], s) < 0.03, `largest step ${maxStep(out[0], s)}`);
});

test('a ramp in comes out a ramp, delayed by halfTaps − frac', () => {
  const r = new Resampler({ inRate: 16000, outRate: 48000 });
  const src = Float32Array.from({ length: 4096 }, (_, i) => i / 4096);
  const out = [new Float32Array(3000)];
  const need = r.framesNeeded(3000);
  r.process(src, 0, out, 0, 3000);
  // Output k stands for input position (newest pushed) − (halfTaps − frac) = k·step − 1 − halfTaps;
  // for a ramp that is its value × 4096.
  for (let k = 400; k < 3000; k += 97) {
    const position = (k * 16000) / 48000 - 1 - r.half;
    assert.ok(Math.abs(out[0][k] * 4096 - position) < 0.01, `output ${k}: ${out[0][k] * 4096} vs ${position}`);
  }
  assert.equal(need, 1000);
});

test('stereo channels stay apart', () => {
  const { out, r } = run({
    inRate: 16000, outRate: 48000, channels: 2,
    signal: (i, c) => (c === 0 ? tone(500, 16000)(i) : tone(3000, 16000)(i)),
  });
  const s = settle(r, 48000);
  assert.ok(toneLevelDb(out[0], 48000, 3000, s) < -90);
  assert.ok(toneLevelDb(out[1], 48000, 500, s) < -90);
  assert.ok(Math.abs(fitSine(out[1], 48000, 3000, s).amplitude - 0.5) < 0.001);
});
