// web/player-worklet.js in an emulated AudioWorkletGlobalScope: configured
// over shared memory or messages, it plays what the page writes, publishes
// its statistics, records the tap, and process() allocates nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RingBuffer } from '../../web/ring-buffer.js';
import { Stat, State } from '../../web/playout-stats.js';
import { StreamWriter } from '../../web/stream-writer.js';
import { measureFrequency, tonePurityDb } from './helpers/signal.js';
import { createProcessor, loadProcessor, renderQuantum } from './helpers/worklet-scope.js';

const RATE = 48000;

// A synchronous stand-in for the processor's MessagePort.
function fakePort() {
  const port = { sent: [], onmessage: null, postMessage(m) { this.sent.push(m); } };
  return port;
}

function tone(frame, samples, f = 440, rate = 16000) {
  const out = new Float32Array(samples);
  for (let i = 0; i < samples; i++) out[i] = 0.5 * Math.sin((2 * Math.PI * f * (frame * samples + i)) / rate);
  return out;
}

test('shared memory: plays a 440 Hz tone written frame by frame, publishes statistics and the tap', async () => {
  const Processor = await loadProcessor(RATE);
  const port = fakePort();
  const p = createProcessor(Processor, port);
  const ring = RingBuffer.create(16000 * 4, true);
  const stats = new SharedArrayBuffer(8 + Stat.COUNT * 8);
  const tapSamples = RingBuffer.capacityFor(RATE * 4);
  const tap = new SharedArrayBuffer(8 + tapSamples * 4);
  port.onmessage({ data: { type: 'configure', generation: 3, channels: 1, sampleRate: 16000, ring: ring.buffer, stats, tap } });
  const writer = new StreamWriter({ sink: ring, channels: 1, rate: 16000 });
  const outputs = [new Float32Array(128), new Float32Array(128)];
  let frame = 0;
  const quanta = (3 * RATE) / 128;
  for (let q = 0; q < quanta; q++) {
    // A 20 ms frame every 7.5 quanta.
    while (frame * 320 * 3 <= q * 128) {
      writer.push(frame * 320, frame * 20000, tone(frame, 320), 320);
      frame++;
    }
    assert.equal(renderQuantum(p, outputs, q * 128, RATE), true);
    assert.deepEqual(outputs[1], outputs[0], 'mono device: the same on both channels');
  }
  const s = new Float64Array(stats, 8, Stat.COUNT);
  assert.equal(Atomics.load(new Int32Array(stats, 0, 1), 0) % 2, 0, 'the sequence lock is released');
  assert.equal(s[Stat.GENERATION], 3);
  assert.equal(s[Stat.STATE], State.PLAYING);
  assert.equal(s[Stat.UNDERRUNS], 0);
  assert.equal(s[Stat.IN_RATE], 16000);
  assert.equal(s[Stat.OUT_RATE], RATE);
  assert.ok(Math.abs(s[Stat.CONTEXT_TIME] - (quanta - 1) * 128 / RATE) < 1e-9);
  assert.ok(Number.isFinite(s[Stat.POSITION]));
  // The tap holds the output.
  const count = Atomics.load(new Int32Array(tap, 0, 1), 0);
  assert.equal(count, quanta * 128);
  const recorded = new Float32Array(tap, 8).slice(RATE, 3 * RATE);
  // (Within the first seconds the loop still trims the start-up delay, playing
  // at most 0.15 % fast: maxSpeedup.)
  const f = measureFrequency(recorded, RATE, 440);
  assert.ok(Math.abs(f - 440) < 440 * 0.0017, `${f} Hz`);
  assert.ok(tonePurityDb(recorded, RATE, 440, 0, 65536) > 80);
  assert.equal(port.sent.length, 0, 'shared memory: nothing posted');

  port.onmessage({ data: { type: 'stop' } });
  assert.equal(renderQuantum(p, outputs, quanta * 128, RATE), false, 'stop ends the processor');
});

test('message transport: audio posted as data messages, statistics posted back', async () => {
  const Processor = await loadProcessor(RATE);
  const port = fakePort();
  const p = createProcessor(Processor, port, {
    processorOptions: { config: { generation: 1, channels: 2, sampleRate: 48000, ringSamples: 65536, tapSamples: 65536 } },
  });
  const outputs = [new Float32Array(128), new Float32Array(128)];
  let frame = 0;
  for (let q = 0; q < 750; q++) {
    while (frame * 480 <= q * 128) {
      const samples = new Float32Array(960);
      for (let i = 0; i < 480; i++) {
        samples[2 * i] = 0.25; // left: DC
        samples[2 * i + 1] = -0.25; // right: the opposite
      }
      port.onmessage({ data: { type: 'data', samples, timeline: 0 } });
      frame++;
    }
    renderQuantum(p, outputs, q * 128, RATE);
  }
  assert.ok(Math.abs(outputs[0][64] - 0.25) < 1e-3 && Math.abs(outputs[1][64] + 0.25) < 1e-3, 'stereo channels in place');
  const statsMessages = port.sent.filter((m) => m.type === 'stats');
  assert.ok(statsMessages.length >= 60, `${statsMessages.length} stats messages`);
  const last = statsMessages.at(-1).stats;
  assert.equal(last[Stat.STATE], State.PLAYING);
  assert.equal(last[Stat.GENERATION], 1);
  port.onmessage({ data: { type: 'tap-read' } });
  const tap = port.sent.at(-1);
  assert.equal(tap.type, 'tap');
  assert.equal(tap.count, 750 * 128);
});

test('message transport: a ring that overflows drops and counts, and tells the timeline', async () => {
  const Processor = await loadProcessor(RATE);
  const port = fakePort();
  const p = createProcessor(Processor, port);
  port.onmessage({ data: { type: 'configure', generation: 1, channels: 1, sampleRate: 16000, ringSamples: 1024 } });
  for (let i = 0; i < 10; i++) port.onmessage({ data: { type: 'data', samples: new Float32Array(320), timeline: 0 } });
  renderQuantum(p, [new Float32Array(128), new Float32Array(128)], 0, RATE);
  assert.equal(p.player.stats[Stat.OVERFLOW_FRAMES], 320 * 7); // 3 frames fit in 1024 samples
});

test('before configuration it outputs silence and keeps running', async () => {
  const Processor = await loadProcessor(RATE);
  const p = createProcessor(Processor, fakePort());
  const outputs = [new Float32Array(128), new Float32Array(128)];
  assert.equal(renderQuantum(p, outputs, 0, RATE), true);
  assert.ok(outputs[0].every((v) => v === 0));
});

test('process() makes no garbage: 300 000 quanta (100 s) with gaps and backlogs allocate nothing steadily', () => {
  const script = fileURLToPath(new URL('./helpers/alloc-check.js', import.meta.url));
  const out = execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=16', script], { encoding: 'utf8' });
  const result = JSON.parse(out);
  assert.ok(result.underruns > 0 && result.skips > 0, `the run exercised concealment and skips: ${out}`);
  // No collection, so the heap's growth is all that was allocated: a boxed
  // double a quantum would be 16 bytes a quantum, 4.8 MB. Allowed: what the
  // JIT keeps and the rare events' slow paths, under 2 bytes a quantum.
  assert.equal(result.gcs, 0, out);
  assert.ok(result.heapDelta / result.quanta < 2, out);
});
