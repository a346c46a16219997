// Run by worklet.test.js in its own process (node --expose-gc
// --max-semi-space-size=16): renders many quanta through the worklet with
// arrivals, gaps (underruns, concealment) and backlogs (skips to live), and
// reports the garbage collections and the heap growth seen meanwhile (with a
// 16 MB young generation and no collection, the growth is what was allocated).
// Prints JSON.
import { PerformanceObserver } from 'node:perf_hooks';
import { RingBuffer } from '../../../web/ring-buffer.js';
import { Stat } from '../../../web/playout-stats.js';
import { createProcessor, loadProcessor, renderQuantum } from './worklet-scope.js';

const RATE = 48000;
const Processor = await loadProcessor(RATE);
const port = { onmessage: null, postMessage() {} };
const p = createProcessor(Processor, port);
const ring = RingBuffer.create(16000 * 8, true);
const stats = new SharedArrayBuffer(8 + Stat.COUNT * 8);
const tap = new SharedArrayBuffer(8 + 4 * 65536);
port.onmessage({ data: { type: 'configure', generation: 1, channels: 1, sampleRate: 16000, ring: ring.buffer, stats, tap } });

const frame = new Float32Array(320);
for (let i = 0; i < 320; i++) frame[i] = 0.5 * Math.sin((2 * Math.PI * i) / 32);
const outputs = [new Float32Array(128), new Float32Array(128)];
let q = 0;
let sent = 0;

let pending = 0;
function run(quanta) {
  for (let k = 0; k < quanta; k++, q++) {
    const t = q % 30000; // a 80 s cycle: steady; a 0.5 s gap (underrun, concealment); a 3 s backlog (skip to live)
    const gap = t > 10000 && t < 10190;
    const holding = t > 20000 && t < 21125;
    while (sent * 320 * 3 <= q * 128) {
      if (gap) ring.addTimeline(320); // lost on the way
      else if (holding) pending++; // delayed: arrives with the backlog
      else ring.write(frame, 0, 320);
      sent++;
    }
    if (!holding) {
      for (; pending > 0; pending--) ring.write(frame, 0, 320);
    }
    renderQuantum(p, outputs, q * 128, RATE, true);
  }
}

const QUANTA = 300000;
run(150000); // warm up: the JIT settles
globalThis.gc();
run(60000); // and again after the collection (it may drop compiled code)
let gcs = 0;
const observer = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});
observer.observe({ entryTypes: ['gc'] });
await new Promise((r) => setTimeout(r, 50));
gcs = 0;
const before = process.memoryUsage().heapUsed;
run(QUANTA);
const after = process.memoryUsage().heapUsed;
await new Promise((r) => setTimeout(r, 50));
observer.disconnect();
const s = new Float64Array(stats, 8, Stat.COUNT);
process.stdout.write(JSON.stringify({
  gcs,
  heapDelta: after - before,
  underruns: s[Stat.UNDERRUNS],
  skips: s[Stat.SKIPS],
  quanta: QUANTA,
}) + '\n');
