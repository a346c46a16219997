// A worker thread writing 0, 1, 2, … into a shared RingBuffer in chunks of
// random sizes, as the page does: the producer of ring-buffer.test.js.
import { workerData } from 'node:worker_threads';
import { RingBuffer } from '../../../web/ring-buffer.js';

const ring = new RingBuffer(workerData.buffer);
const total = workerData.total;
const chunk = new Float32Array(1024);
let next = 0;
let seed = 7;
while (next < total) {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  const n = Math.min(total - next, 1 + (seed % chunk.length));
  for (let i = 0; i < n; i++) chunk[i] = next + i;
  while (!ring.write(chunk, 0, n)) {
    // full: let the consumer drain
  }
  next += n;
}
