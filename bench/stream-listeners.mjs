#!/usr/bin/env node
// N players of one HTTP stream in one process (bench/stream-fanout.sh's
// listeners): each GETs the URL, reads and throws away the body, for the
// given seconds; then prints the bytes the first and the slowest listener
// received per second and how many listeners failed or ended early, as one
// JSON line. One process for every listener, so that 1,000 of them cost the
// listeners' core far less than 1,000 curl processes would.
//
//   node bench/stream-listeners.mjs URL N SECONDS
import http from 'node:http';

const [url, countText, secondsText] = process.argv.slice(2);
const count = Number(countText);
const seconds = Number(secondsText);
if (!url || !(count >= 1) || !(seconds > 0)) {
  console.error('usage: node bench/stream-listeners.mjs URL N SECONDS');
  process.exit(2);
}
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const listeners = [];
for (let i = 0; i < count; i++) {
  const l = { bytes: 0, failed: '', ended: false };
  listeners.push(l);
  const req = http.get(url, { agent }, (res) => {
    if (res.statusCode !== 200) l.failed = `HTTP ${res.statusCode}`;
    res.on('data', (chunk) => {
      l.bytes += chunk.length;
    });
    res.on('end', () => {
      l.ended = true;
    });
  });
  req.on('error', (e) => {
    l.failed = e.message;
  });
  l.req = req;
}
setTimeout(() => {
  const rates = listeners.map((l) => l.bytes / seconds);
  const failed = listeners.filter((l) => l.failed);
  console.log(JSON.stringify({
    listeners: count,
    first_bytes_per_s: Math.round(rates[0]),
    min_bytes_per_s: Math.round(Math.min(...rates)),
    failed: failed.length,
    first_failure: failed.length ? failed[0].failed : null,
    ended_early: listeners.filter((l) => l.ended).length,
  }));
  for (const l of listeners) l.req.destroy();
  process.exit(0);
}, seconds * 1000);
