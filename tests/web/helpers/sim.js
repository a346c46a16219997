// A simulated device → network → page → worklet → sound card chain, in
// simulated time, for the jitter buffer and drift tests. The device captures
// at its own clock (skewPpm fast or slow against the sound card's), each frame
// is delivered after a network delay (in order, as TCP does), frames may be
// lost, the network may stall and then deliver a burst, and the sound card
// asks for audio in callbacks of one or more render quanta. The page's real
// StreamWriter and the worklet's real PlayerCore do the work.
import { RingBuffer } from '../../../web/ring-buffer.js';
import { PlayerCore } from '../../../web/player-core.js';
import { StreamWriter } from '../../../web/stream-writer.js';

/** A small deterministic PRNG (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function quantile(values, q) {
  const v = Float64Array.from(values).sort();
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.floor(q * v.length))];
}

/**
 * @param {object} o
 * @returns statistics of the run
 */
export function simulate({
  inRate = 16000,
  outRate = 48000,
  channels = 1,
  frameMs = 20,
  seconds = 60,
  skewPpm = 0, // device clock fast (+) or slow (−) against the sound card
  baseDelayMs = 5,
  jitter = () => 0, // extra delay of frame k, ms: (k, random) => ms
  lose = () => false, // (k, random) => whether frame k is lost
  stalls = [], // [{ at: s, ms }]: nothing arrives for ms from time `at`, then all at once
  callbackQuanta = 1, // quanta the sound card asks for at once
  tone = 440,
  amplitude = 0.5,
  seed = 1,
  warmupSec = 10,
  options = {},
  recordOutput = false,
} = {}) {
  const random = rng(seed);
  const ring = RingBuffer.create(inRate * channels * 4, false);
  const core = new PlayerCore({ ring, channels, inRate, outRate, options });
  const writer = new StreamWriter({ sink: ring, channels, rate: inRate });
  const frame = Math.round((inRate * frameMs) / 1000);
  const deviceRate = inRate * (1 + skewPpm * 1e-6); // samples per sound-card second
  const quantum = 128;
  const totalQuanta = Math.floor((seconds * outRate) / quantum);
  const out = [new Float32Array(quantum), new Float32Array(quantum)];
  const recorded = recordOutput ? new Float32Array(totalQuanta * quantum) : null;
  const samples = new Float32Array(frame * channels);

  // Every frame's arrival time, in order.
  const frames = Math.ceil(seconds * deviceRate / frame) + 2;
  const arrival = new Float64Array(frames);
  const lost = new Uint8Array(frames);
  let previous = 0;
  for (let k = 0; k < frames; k++) {
    const sent = ((k + 1) * frame) / deviceRate;
    let t = sent + (baseDelayMs + jitter(k, random)) / 1000;
    for (const s of stalls) if (t >= s.at && t < s.at + s.ms / 1000) t = s.at + s.ms / 1000;
    t = Math.max(t, previous);
    arrival[k] = previous = t;
    lost[k] = lose(k, random) ? 1 : 0;
  }

  let next = 0;
  const latencies = [];
  const positions = [];
  let lastPosition = -Infinity;
  let repeats = 0;
  const underrunTimes = [];
  for (let q = 0; q < totalQuanta; q++) {
    // The sound card asks for callbackQuanta quanta at once, at the time of the first.
    const callTime = (Math.floor(q / callbackQuanta) * callbackQuanta * quantum) / outRate;
    while (next < frames && arrival[next] <= callTime) {
      if (!lost[next]) {
        const first = next * frame;
        for (let i = 0; i < frame; i++) {
          const v = amplitude * Math.sin((2 * Math.PI * tone * (first + i)) / inRate);
          for (let c = 0; c < channels; c++) samples[i * channels + c] = v;
        }
        const captureUs = (first / deviceRate) * 1e6;
        writer.push(first, captureUs, samples, frame);
      }
      next++;
    }
    const underrunsBefore = core.underruns;
    core.render(out, quantum);
    if (core.underruns !== underrunsBefore) underrunTimes.push((q * quantum) / outRate);
    if (recorded) recorded.set(out[0], q * quantum);
    const t = (q * quantum) / outRate; // when this quantum's first sample plays
    const pos = core.position;
    if (Number.isFinite(pos)) {
      if (pos <= lastPosition) repeats++;
      lastPosition = pos;
      if (t >= warmupSec) {
        latencies.push((t - writer.captureUsAt(pos) / 1e6) * 1000);
        positions.push(pos);
      }
    }
  }
  const c = core.controller;
  return {
    core,
    writer,
    latencies,
    positions,
    repeats,
    recorded,
    underruns: core.underruns,
    underrunTimes,
    skips: core.skips,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies.length ? Math.max(...latencies) : NaN,
    driftPpm: c.drift * 1e6,
    correctionPpm: c.correction * 1e6,
    marginMs: c.margin * 1000,
    spreadMs: c.spread * 1000,
    startLevelMs: c.startLevel * 1000,
  };
}
