// web/stream-writer.js's CaptureTimeline: which capture time a ring frame
// holds, across the wrap, and read from another thread over shared memory
// (as the page reads what the receiver worker writes).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { CaptureTimeline, StreamWriter } from '../../web/stream-writer.js';
import { RingBuffer } from '../../web/ring-buffer.js';

const RATE = 16000;

test('a ring frame maps to its frame capture time plus its offset in the frame; unknown before the first', () => {
  const t = new CaptureTimeline(4);
  assert.ok(Number.isNaN(t.captureUsAt(0, RATE)), 'nothing written yet');
  for (let k = 0; k < 6; k++) t.add(k * 160, 1e9 + k * 10000); // 10 ms frames; the first two wrap away
  assert.equal(t.captureUsAt(5 * 160, RATE), 1e9 + 50000);
  assert.equal(t.captureUsAt(3 * 160 + 80, RATE), 1e9 + 30000 + 5000);
  assert.equal(t.captureUsAt(7 * 160, RATE), 1e9 + 50000 + 20000, 'past the newest: extrapolated from it');
  assert.ok(Number.isNaN(t.captureUsAt(160, RATE)), 'older than what is remembered');
  assert.ok(Number.isNaN(t.captureUsAt(NaN, RATE)));
});

test('the writer records each real frame where it went, after the concealment it wrote for a gap', () => {
  const timeline = new CaptureTimeline(16);
  const w = new StreamWriter({ sink: RingBuffer.create(1 << 14, false), channels: 1, rate: RATE, timeline });
  const frame = new Float32Array(160);
  w.push(0, 1e6, frame, 160);
  w.push(320, 1e6 + 20000, frame, 160); // one frame lost: 160 concealed before it
  assert.equal(w.lostFrames, 1);
  assert.equal(timeline.captureUsAt(0, RATE), 1e6);
  assert.equal(timeline.captureUsAt(320, RATE), 1e6 + 20000);
  assert.equal(w.captureUsAt(330), 1e6 + 20000 + 625);
});

test('another thread reads what is written, over shared memory', async () => {
  const buffer = new SharedArrayBuffer(CaptureTimeline.bytesFor(64));
  const reader = new CaptureTimeline(buffer);
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.url).then(({ CaptureTimeline }) => {
      const t = new CaptureTimeline(workerData.buffer);
      for (let k = 0; k < 1000; k++) t.add(k * 160, k * 10000);
      parentPort.postMessage('done');
    });`;
  const url = new URL('../../web/stream-writer.js', import.meta.url).href;
  const worker = new Worker(source, { eval: true, workerData: { buffer, url } });
  await new Promise((resolve, reject) => {
    worker.on('message', resolve);
    worker.on('error', reject);
  });
  await worker.terminate();
  assert.equal(reader.captureUsAt(999 * 160 + 16, RATE), 999 * 10000 + 1000);
  assert.equal(reader.captureUsAt(950 * 160, RATE), 950 * 10000);
});
