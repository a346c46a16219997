// web/backoff.js against the arithmetic of core/src/backoff.cpp.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, random32 } from '../../web/backoff.js';

test('no jitter (random 0): 500 ms, doubling, capped at 30 s', () => {
  const b = new Backoff();
  const delays = Array.from({ length: 10 }, () => b.nextDelayMs(0));
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  assert.equal(b.attempts, 10);
});

test('the largest jitter shortens by just under 20 %', () => {
  const b = new Backoff();
  // max_jitter = base * 20 / 100; jitter = (max_jitter * 0xFFFFFFFF) >> 32 = max_jitter − 1.
  assert.equal(b.nextDelayMs(0xffffffff), 500 - 99);
  assert.equal(b.nextDelayMs(0xffffffff), 1000 - 199);
  assert.equal(b.nextDelayMs(0x80000000), 2000 - 200);
});

test('every delay lies in [0.8 base, base], with the platform random source', () => {
  const b = new Backoff();
  let base = 500;
  for (let i = 0; i < 40; i++) {
    const d = b.nextDelayMs(random32());
    assert.ok(d <= base && d >= base * 0.8, `${d} vs base ${base}`);
    base = Math.min(base * 2, 30000);
  }
});

test('reset starts again at 500 ms', () => {
  const b = new Backoff();
  b.nextDelayMs(0);
  b.nextDelayMs(0);
  b.reset();
  assert.equal(b.attempts, 0);
  assert.equal(b.nextDelayMs(0), 500);
});

test('a custom policy', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 250, multiplier: 3, jitterPercent: 150 });
  assert.deepEqual([b.nextDelayMs(0), b.nextDelayMs(0), b.nextDelayMs(0)], [100, 250, 250]);
  assert.equal(new Backoff({ jitterPercent: 150 }).nextDelayMs(0xffffffff), 1); // jitter clamps at 100 %
});
