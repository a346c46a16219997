// web/ring-buffer.js: wrap-around, full/empty, and a real producer thread
// against a consumer over shared memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { RingBuffer } from '../../web/ring-buffer.js';

test('capacity is a power of two; byteLength fits it', () => {
  assert.equal(RingBuffer.capacityFor(1000), 1024);
  assert.equal(RingBuffer.capacityFor(1024), 1024);
  const r = RingBuffer.create(1000, false);
  assert.equal(r.capacity, 1024);
  assert.equal(r.buffer.byteLength, RingBuffer.byteLength(1024));
  assert.throws(() => new RingBuffer(new ArrayBuffer(16 + 4 * 1000)), /power of two/);
});

test('writes and reads across the wrap, full and empty told apart', () => {
  const r = RingBuffer.create(8, false);
  const src = Float32Array.from({ length: 8 }, (_, i) => i + 1);
  const dst = new Float32Array(8);
  assert.equal(r.availableRead(), 0);
  assert.equal(r.availableWrite(), 8);
  assert.ok(r.write(src, 0, 5));
  assert.equal(r.read(dst, 0, 3), 3);
  assert.deepEqual(Array.from(dst.subarray(0, 3)), [1, 2, 3]);
  assert.ok(r.write(src, 0, 6)); // wraps
  assert.equal(r.availableRead(), 8);
  assert.equal(r.availableWrite(), 0);
  assert.equal(r.write(src, 0, 1), false, 'full: refuses, writes nothing');
  assert.equal(r.read(dst, 0, 8), 8);
  assert.deepEqual(Array.from(dst), [4, 5, 1, 2, 3, 4, 5, 6]);
  assert.equal(r.read(dst, 0, 8), 0, 'empty');
  assert.ok(r.write(src, 2, 4));
  assert.equal(r.discard(10), 4);
  assert.equal(r.availableRead(), 0);
});

test('the counters wrap at 2^32 without harm', () => {
  const r = RingBuffer.create(4, false);
  r.header[0] = -2; // 2^32 − 2 samples written …
  r.header[1] = -2; // … and read
  const src = Float32Array.from([1, 2, 3, 4]);
  const dst = new Float32Array(4);
  assert.ok(r.write(src, 0, 4));
  assert.equal(r.availableRead(), 4);
  assert.equal(r.writeCount(), 2);
  assert.equal(r.read(dst, 0, 4), 4);
  assert.deepEqual(Array.from(dst), [1, 2, 3, 4]);
});

test('timeline counter: added by the producer, read by the consumer', () => {
  const r = RingBuffer.create(4, false);
  const before = r.timelineCount();
  r.addTimeline(300);
  r.addTimeline(20);
  assert.equal((r.timelineCount() - before) | 0, 320);
});

test('a producer thread and a consumer thread over shared memory lose, repeat and reorder nothing', async () => {
  const total = 2_000_000;
  const ring = RingBuffer.create(4096, true);
  assert.ok(ring.buffer instanceof SharedArrayBuffer);
  const worker = new Worker(new URL('./helpers/ring-producer.js', import.meta.url), { workerData: { buffer: ring.buffer, total } });
  const exited = new Promise((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', resolve);
  });
  const dst = new Float32Array(777);
  let expected = 0;
  let mismatches = 0;
  const deadline = Date.now() + 20000;
  while (expected < total && Date.now() < deadline) {
    const n = ring.read(dst, 0, dst.length);
    for (let i = 0; i < n; i++) if (dst[i] !== expected + i) mismatches++;
    expected += n;
    if (n === 0) await new Promise((r) => setImmediate(r));
  }
  await exited;
  assert.equal(mismatches, 0);
  assert.equal(expected, total);
});
