// A single-producer single-consumer ring of float samples.
//
// Over a SharedArrayBuffer it is the lock-free hand-off between the page (the
// producer: WebSocket → decoder) and the audio worklet (the consumer): the
// producer writes samples, then publishes them with one Atomics.store of its
// counter; the consumer reads the counter with Atomics.load, then the samples
// (JS atomics are sequentially consistent, so the samples are visible once the
// counter is). Over a plain ArrayBuffer the same code serves a ring both of
// whose ends live in one thread (the worklet when the page is not
// cross-origin isolated).
//
// The counters are free-running 32-bit sample counts (they wrap; differences
// are taken modulo 2^32), the capacity is a power of two, so the counters never
// need resetting and a full ring is distinguishable from an empty one.
// Nothing here allocates after construction.

const HEADER_BYTES = 16; // Int32 write counter, Int32 read counter, Int32 timeline counter, 1 spare
const WRITE = 0;
const READ = 1;
const TIMELINE = 2;

export class RingBuffer {
  /** Bytes of the backing buffer for `capacity` samples (a power of two). */
  static byteLength(capacity) {
    return HEADER_BYTES + capacity * 4;
  }

  /** The smallest power of two ≥ n. */
  static capacityFor(n) {
    let c = 1;
    while (c < n) c *= 2;
    return c;
  }

  /** A ring of at least `samples` samples, over shared memory when the platform has it and `shared`. */
  static create(samples, shared = typeof SharedArrayBuffer === 'function') {
    const capacity = RingBuffer.capacityFor(samples);
    const bytes = RingBuffer.byteLength(capacity);
    return new RingBuffer(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  }

  /** Wraps a buffer made for byteLength(capacity) (e.g. one posted to the worklet). */
  constructor(buffer) {
    const capacity = (buffer.byteLength - HEADER_BYTES) / 4;
    if (!(capacity >= 1) || (capacity & (capacity - 1)) !== 0) throw new RangeError('ring capacity must be a power of two');
    this.buffer = buffer;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.header = new Int32Array(buffer, 0, 4);
    this.data = new Float32Array(buffer, HEADER_BYTES, capacity);
  }

  /** Samples the consumer may read. */
  availableRead() {
    return (Atomics.load(this.header, WRITE) - Atomics.load(this.header, READ)) >>> 0;
  }

  /** Samples the producer may write. */
  availableWrite() {
    return this.capacity - this.availableRead();
  }

  /** Producer: appends src[offset, offset + length) if it all fits. @returns whether it was written. */
  write(src, offset = 0, length = src.length - offset) {
    const w = Atomics.load(this.header, WRITE);
    const r = Atomics.load(this.header, READ);
    if (length > this.capacity - ((w - r) >>> 0)) return false;
    const start = w & this.mask;
    const first = Math.min(length, this.capacity - start);
    const data = this.data;
    for (let i = 0; i < first; i++) data[start + i] = src[offset + i];
    for (let i = first; i < length; i++) data[i - first] = src[offset + i];
    Atomics.store(this.header, WRITE, (w + length) | 0);
    return true;
  }

  /** Consumer: moves up to `length` samples into dst[offset…). @returns how many. */
  read(dst, offset, length) {
    const r = Atomics.load(this.header, READ);
    const available = (Atomics.load(this.header, WRITE) - r) >>> 0;
    const n = Math.min(length, available);
    const start = r & this.mask;
    const first = Math.min(n, this.capacity - start);
    const data = this.data;
    for (let i = 0; i < first; i++) dst[offset + i] = data[start + i];
    for (let i = first; i < n; i++) dst[offset + i] = data[i - first];
    Atomics.store(this.header, READ, (r + n) | 0);
    return n;
  }

  /** Consumer: drops up to n samples unread. @returns how many. */
  discard(n) {
    const r = Atomics.load(this.header, READ);
    const available = (Atomics.load(this.header, WRITE) - r) >>> 0;
    const k = Math.min(n, available);
    Atomics.store(this.header, READ, (r + k) | 0);
    return k;
  }

  /**
   * Producer: frames of the stream's time that will never be in the ring (a
   * gap not filled): published with the next write, so the consumer can tell
   * late audio from missing audio.
   */
  addTimeline(frames) {
    Atomics.add(this.header, TIMELINE, frames | 0);
  }

  /** The free-running counter addTimeline() adds to (modulo 2^32). */
  timelineCount() {
    return Atomics.load(this.header, TIMELINE);
  }

  /** The producer's free-running counter (samples written, modulo 2^32). */
  writeCount() {
    return Atomics.load(this.header, WRITE) >>> 0;
  }

  /** The consumer's free-running counter (samples read or discarded, modulo 2^32). */
  readCount() {
    return Atomics.load(this.header, READ) >>> 0;
  }
}
