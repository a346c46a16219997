// A TCP proxy between a device and the server's ingest port that delays what
// the device sends by a random 0..J ms, in order (as a network does: a late
// packet holds back those behind it, as TCP would), without limiting the
// throughput. The other direction (WELCOME, PONG, CONFIG) passes at once.
//
// micstream-device --send-jitter-ms J gives each frame the same kind of delay
// in the device's sender; this gives it to each chunk TCP delivers on the way,
// PINGs and STATS included.

import net from 'node:net';

/**
 * @param {object} o
 * @param {number} o.target the server's ingest port (on 127.0.0.1)
 * @param {number} o.jitterMs J
 * @param {() => number} [o.random]
 * @returns {Promise<{port: number, close(): Promise<void>, stats: object}>}
 */
export function startJitterProxy({ target, jitterMs, random = Math.random }) {
  const stats = { connections: 0, chunks: 0, bytes: 0, maxDelayMs: 0, sumDelayMs: 0, delaysMs: [], late: [] };
  const t0 = performance.now();
  const sockets = new Set();
  const server = net.createServer((down) => {
    stats.connections++;
    const up = net.connect({ host: '127.0.0.1', port: target });
    down.setNoDelay(true);
    up.setNoDelay(true);
    sockets.add(down);
    sockets.add(up);
    const queue = []; // {at, data}
    let lastRelease = 0;
    let timer = null;
    const pump = () => {
      timer = null;
      const now = performance.now();
      while (queue.length && queue[0].at <= now + 0.25) {
        const { data, arrived, at } = queue.shift();
        const delay = performance.now() - arrived;
        stats.sumDelayMs += delay;
        if (stats.delaysMs.length < 1e6) stats.delaysMs.push(delay);
        // Later than planned by more than 5 ms: this process did not run in time (a loaded machine).
        if (now - at > 5 && stats.late.length < 1000) stats.late.push({ atMs: Math.round(at - t0), lateMs: Number((now - at).toFixed(1)) });
        if (delay > stats.maxDelayMs) stats.maxDelayMs = delay;
        if (!up.destroyed) up.write(data);
      }
      if (queue.length) timer = setTimeout(pump, Math.max(0, queue[0].at - performance.now()));
    };
    down.on('data', (data) => {
      const now = performance.now();
      // In order: never before what the device sent earlier.
      const at = Math.max(lastRelease, now + random() * jitterMs);
      lastRelease = at;
      stats.chunks++;
      stats.bytes += data.length;
      queue.push({ at, data, arrived: now });
      if (!timer) timer = setTimeout(pump, Math.max(0, queue[0].at - now));
    });
    up.on('data', (data) => down.destroyed || down.write(data));
    const closeBoth = () => {
      if (timer) clearTimeout(timer);
      // What is queued still goes, then the close.
      const rest = queue.splice(0).map((q) => q.data);
      if (!up.destroyed) {
        for (const d of rest) up.write(d);
        up.end();
      }
      if (!down.destroyed) down.end();
    };
    down.on('end', closeBoth);
    down.on('error', () => up.destroy());
    up.on('end', () => down.end());
    up.on('error', () => down.destroy());
    down.on('close', () => sockets.delete(down));
    up.on('close', () => sockets.delete(up));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        stats,
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

// As its own process (so that nothing else in the benchmark's process delays it):
//   node jitter-proxy.mjs TARGET_PORT JITTER_MS
// prints {"port": N} once listening; on SIGTERM prints its statistics as JSON and exits.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const [target, jitterMs] = process.argv.slice(2).map(Number);
  const proxy = await startJitterProxy({ target, jitterMs });
  process.stdout.write(`${JSON.stringify({ port: proxy.port })}\n`);
  process.on('SIGTERM', async () => {
    const { delaysMs, ...rest } = proxy.stats;
    const sorted = Float64Array.from(delaysMs).sort();
    const q = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : NaN);
    process.stdout.write(`${JSON.stringify({ ...rest, p50DelayMs: q(0.5), p99DelayMs: q(0.99) })}\n`);
    await proxy.close();
    process.exit(0);
  });
}
