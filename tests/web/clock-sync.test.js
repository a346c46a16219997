// web/clock-sync.js: NTP arithmetic, the smallest round trip of the last 8
// (core/include/micstream/clock_sync.h).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClockSync } from '../../web/clock-sync.js';

test('no exchange: offset 0', () => {
  const c = new ClockSync();
  assert.equal(c.hasEstimate, false);
  assert.equal(c.offsetUs, 0);
  assert.equal(c.rttUs, 0);
});

test('the pong vector: t0 5 s, t1/t2 on the Unix clock', () => {
  // docs/protocol.md: PONG for PING 42 at t0 = 5 000 000 µs of device uptime.
  const c = new ClockSync();
  const t0 = 5_000_000;
  const t1 = 1_763_999_995_001_000 + 5_000_000 + 20; // arrival, 20 µs after sending
  const t2 = t1 + 20;
  const t3 = t0 + 60; // 60 µs round trip on the device clock
  assert.ok(c.add(t0, t1, t2, t3));
  assert.equal(c.rttUs, 40);
  assert.equal(c.offsetUs, Math.trunc(((t1 - t0) + (t2 - t3)) / 2));
});

test('symmetric paths give the exact offset; the smallest round trip wins', () => {
  const c = new ClockSync();
  const offset = 1_700_000_000_000_000;
  const exchange = (t0, up, hold, down) => c.add(t0, t0 + offset + up, t0 + offset + up + hold, t0 + up + hold + down);
  exchange(1000, 5000, 10, 1000); // asymmetric: offset estimate off by 2 ms
  assert.equal(c.offsetUs, offset + 2000);
  exchange(2000, 300, 10, 300); // fast and symmetric
  assert.equal(c.offsetUs, offset);
  assert.equal(c.rttUs, 600);
  exchange(3000, 9000, 10, 100); // slow again: ignored while the fast one is in the window
  assert.equal(c.offsetUs, offset);
});

test('the window is the last 8 exchanges', () => {
  const c = new ClockSync();
  c.add(0, 100, 100, 10); // rtt 10, offset (100 + 90) / 2 = 95
  assert.equal(c.offsetUs, 95);
  for (let i = 1; i <= 7; i++) c.add(i * 1000, i * 1000 + 500, i * 1000 + 500, i * 1000 + 100); // rtt 100, offset 450
  assert.equal(c.rttUs, 10);
  c.add(9000, 9500, 9500, 9100); // the 9th pushes the first out
  assert.equal(c.rttUs, 100);
  assert.equal(c.offsetUs, 450);
});

test('inconsistent exchanges are refused', () => {
  const c = new ClockSync();
  assert.equal(c.add(100, 0, 0, 50), false); // t3 before t0
  assert.equal(c.add(0, 10, 5, 50), false); // t2 before t1
  assert.equal(c.add(0, NaN, 5, 50), false);
  assert.equal(c.hasEstimate, false);
  c.add(0, 10, 20, 5); // the remote held it longer than the round trip: rtt clamps to 0
  assert.equal(c.rttUs, 0);
  c.reset();
  assert.equal(c.hasEstimate, false);
});
