// The jitter buffer and drift control (web/playout-controller.js, driven by
// PlayerCore, web/player-core.js), with the page's StreamWriter in front,
// under simulated networks (helpers/sim.js): delay bounds, underrun counts,
// clock skew, loss, bursts, skips, and that no device sample is ever played
// twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlayoutController } from '../../web/playout-controller.js';
import { maxStep, measureFrequency, tonePurityDb } from './helpers/signal.js';
import { quantile, simulate } from './helpers/sim.js';

const summary = (r) => `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms, ` +
  `underruns ${r.underruns}, skips ${r.skips}, drift ${r.driftPpm.toFixed(0)} ppm, spread ${r.spreadMs.toFixed(1)} ms, margin ${r.marginMs.toFixed(1)} ms`;

function assertNothingTwice(r) {
  assert.equal(r.repeats, 0, 'a device sample was played twice (the play position went back)');
  // Every ring frame is played or skipped once: consumed + still queued = written.
  const queued = r.core.ring.availableRead() / r.core.channels;
  assert.equal(r.core.consumed + queued, r.writer.writtenFrames);
}

test('a clean network: low, steady latency, nothing dropped or repeated', () => {
  const r = simulate({ seconds: 60 });
  assert.equal(r.underruns, 0, summary(r));
  assert.equal(r.skips, 0, summary(r));
  // It starts with a 30 ms margin (it knows nothing yet) and shrinks it when calm …
  assert.ok(r.p99 < 60, summary(r));
  // … to 20 ms frame + 5 ms network + buffer (5 ms margin, a quantum or two) + resampler.
  const last10s = quantile(r.latencies.slice(-10 * 375), 0.5);
  assert.ok(last10s > 25 && last10s < 42, `${last10s.toFixed(1)} ms in the last 10 s (${summary(r)})`);
  assertNothingTwice(r);
});

test('jitter (0–40 ms, uniform): holds enough to never run dry, and no more than it needs', () => {
  const r = simulate({ seconds: 90, jitter: (k, random) => random() * 40, seed: 3 });
  assert.ok(r.underruns <= 1, summary(r)); // at most one while it learns the jitter
  // At least the worst transit (20 + 5 + 40 ms), at most that + margin + a frame of slack.
  assert.ok(r.p50 > 65, summary(r));
  assert.ok(r.p99 < 110, summary(r));
  assert.ok(r.spreadMs > 12 && r.spreadMs < 30, summary(r));
  assertNothingTwice(r);
});

test('heavy-tailed jitter (mostly 2 ms, 1 % of frames 150 ms late)', () => {
  const r = simulate({ seconds: 120, jitter: (k, random) => (random() < 0.01 ? 150 : 2 * random()), seed: 5 });
  // A few while it learns that the late frames recur, none after.
  assert.ok(r.underruns <= 5, summary(r));
  assert.deepEqual(r.underrunTimes.filter((t) => t > 15), [], summary(r));
  // They recur, so it holds them: the worst transit (20 + 5 + 152 ms) and a margin.
  assert.ok(r.p50 > 175, summary(r));
  assert.ok(r.p99 < 280, summary(r)); // + the margin its first underruns added, while it shrinks back
  assertNothingTwice(r);
});

for (const skewPpm of [500, -500]) {
  test(`clock skew ${skewPpm > 0 ? '+' : ''}${skewPpm} ppm with 10 ms jitter: the ratio follows the device, the delay stays put`, () => {
    const r = simulate({ seconds: 150, skewPpm, jitter: (k, random) => random() * 10, seed: 9, recordOutput: true });
    assert.equal(r.underruns, 0, summary(r));
    assert.equal(r.skips, 0, summary(r));
    assert.ok(Math.abs(r.driftPpm - skewPpm) < 100, summary(r));
    // No creep: the last 30 s are as late as the 30 s before.
    const perSecond = r.latencies.length / 140;
    const late = quantile(r.latencies.slice(-30 * perSecond), 0.5);
    const earlier = quantile(r.latencies.slice(-60 * perSecond, -30 * perSecond), 0.5);
    assert.ok(Math.abs(late - earlier) < 3, `median ${earlier.toFixed(1)} ms then ${late.toFixed(1)} ms`);
    assert.ok(r.p99 < 70, summary(r));
    // The tone plays at the device's true pitch, 440 × (1 + skew), and clean.
    const rate = 48000;
    const x = r.recorded;
    const from = x.length - 10 * rate;
    const f = measureFrequency(x, rate, 440, from);
    assert.ok(Math.abs(f - 440 * (1 + skewPpm * 1e-6)) < 0.05, `played ${f.toFixed(3)} Hz`);
    const purity = tonePurityDb(x, rate, f, x.length - 65536);
    assert.ok(purity > 70, `tone purity ${purity.toFixed(1)} dB`);
    assertNothingTwice(r);
  });
}

test('bursts: the network stalls 300 ms every 20 s; from the second on it holds enough', () => {
  const stalls = [20, 40, 60, 80, 100].map((at) => ({ at, ms: 300 }));
  const r = simulate({ seconds: 120, stalls, recordOutput: true });
  // The first is a one-off for all it knows (it skips back to live after it); the second makes a pattern.
  assert.equal(r.underruns, 2, summary(r));
  assert.ok(r.skips <= 1, summary(r));
  assert.ok(r.core.controller.peak > 0.25, `peak held: ${r.core.controller.peak}`);
  assert.ok(r.p99 < 450, summary(r)); // the worst transit (325 ms), the margin, a frame
  // The underrun was concealed without a click: no step above the tone's own.
  assert.ok(maxStep(r.recorded, 48000) < 0.03, `largest step ${maxStep(r.recorded, 48000)}`);
  assertNothingTwice(r);
});

test('a single burst: one underrun, a little more margin, which shrinks again slowly when calm', () => {
  const r = simulate({ seconds: 200, stalls: [{ at: 15, ms: 250 }], warmupSec: 16 });
  assert.equal(r.underruns, 1, summary(r));
  const perSecond = r.latencies.length / 184;
  const before = simulate({ seconds: 15 }).p50;
  const justAfter = quantile(r.latencies.slice(2 * perSecond, 4 * perSecond), 0.5);
  const tenAfter = quantile(r.latencies.slice(9 * perSecond, 10 * perSecond), 0.5);
  const atEnd = quantile(r.latencies.slice(-5 * perSecond), 0.5);
  // Grown by a share of the lateness (not all of it: a one-off is not a pattern) …
  assert.ok(justAfter > before + 40 && justAfter < before + 120, `before ${before.toFixed(1)} ms, after ${justAfter.toFixed(1)} ms`);
  // … kept through the calm period, then shrunk back.
  assert.ok(tenAfter > before + 30, `10 s after: ${tenAfter.toFixed(1)} ms`);
  assert.ok(atEnd < before + 8, `at the end: ${atEnd.toFixed(1)} ms (${summary(r)})`);
  assertNothingTwice(r);
});

test('lost frames (5 %) are counted and filled; the timeline stays whole', () => {
  const r = simulate({ seconds: 60, lose: (k, random) => k > 10 && random() < 0.05, seed: 11, recordOutput: true });
  assert.ok(r.writer.lostFrames > 100 && r.writer.lostFrames < 200, `lost ${r.writer.lostFrames}`);
  assert.equal(r.writer.filledFrames, r.writer.lostSamples, 'every lost sample concealed');
  assert.ok(r.underruns <= 4, summary(r));
  assert.ok(r.p99 < 150, summary(r));
  // Concealment repeats the tone's period: the output stays a 440 Hz tone, without clicks.
  assert.ok(maxStep(r.recorded, 48000) < 0.035, `largest step ${maxStep(r.recorded, 48000)}`);
  assertNothingTwice(r);
});

test('far behind (a 2 s stall, then everything at once): skips to live with a cross-fade', () => {
  const r = simulate({ seconds: 40, stalls: [{ at: 10, ms: 2000 }], warmupSec: 0, recordOutput: true });
  assert.ok(r.skips >= 1, summary(r));
  // Right after, it plays near live again rather than 2 s late.
  assert.ok(quantile(r.latencies.slice(-5 * 375), 0.99) < 800, summary(r));
  assert.ok(maxStep(r.recorded, 48000) < 0.035, `largest step ${maxStep(r.recorded, 48000)}`);
  assertNothingTwice(r);
});

test('a sound card that asks for 8 quanta at a time (1024 frames)', () => {
  const r = simulate({ seconds: 60, callbackQuanta: 8, jitter: (k, random) => random() * 5 });
  assert.equal(r.underruns, 0, summary(r));
  assert.ok(r.p99 < 80, summary(r));
  assertNothingTwice(r);
});

test('stereo 48 kHz device into a 44.1 kHz sound card, 10 ms frames', () => {
  const r = simulate({ seconds: 40, inRate: 48000, outRate: 44100, channels: 2, frameMs: 10, jitter: (k, random) => random() * 8, skewPpm: 200 });
  assert.equal(r.underruns, 0, summary(r));
  assert.ok(r.p99 < 60, summary(r));
  assertNothingTwice(r);
});

test('the controller alone: grows on underrun, calm needs grow with repeated underruns', () => {
  const c = new PlayoutController();
  c.arrive(0, 0, 0.02, 0, false);
  const m0 = c.margin;
  c.underrun(1);
  c.arrive(1.1, 0, 0.02, 1, false); // 100 ms late
  assert.ok(Math.abs(c.margin - (m0 + 0.005 + 0.025)) < 1e-9, `margin ${c.margin}`);
  c.underrun(21);
  assert.equal(c.calm, 40, 'twice the interval between underruns');
  c.underrun(200);
  assert.equal(c.calm, 120, 'bounded');
});
