// When to try a lost connection again: the policy of
// core/include/micstream/backoff.h, with the same integer arithmetic, so the
// page, the firmware and the virtual device back off alike: 500 ms first, ×2
// after each failure, at most 30 s, each delay shortened by a random share of
// up to 20 % so that pages cut off together do not return together.

export const defaultBackoffPolicy = Object.freeze({
  initialMs: 500,
  maxMs: 30000,
  multiplier: 2,
  jitterPercent: 20,
});

/** A uniformly random unsigned 32-bit value (crypto.getRandomValues when there is one). */
export function random32() {
  const c = globalThis.crypto;
  if (c && typeof c.getRandomValues === 'function') return c.getRandomValues(new Uint32Array(1))[0];
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}

export class Backoff {
  constructor(policy = {}) {
    this.policy = { ...defaultBackoffPolicy, ...policy };
    this.baseMs = this.policy.initialMs;
    this.attempts = 0;
  }

  /**
   * The delay before the next attempt, and grows the one after it.
   * random: a uniformly random unsigned 32-bit value; it picks the jitter.
   * Always in [base × (100 − jitter) / 100, base], base ≤ maxMs.
   */
  nextDelayMs(random = random32()) {
    const { maxMs, multiplier } = this.policy;
    const jitterPercent = Math.min(this.policy.jitterPercent, 100);
    const base = Math.min(this.baseMs, maxMs);
    const maxJitter = Math.floor((base * jitterPercent) / 100);
    // (max_jitter * random) >> 32 in C++'s 64-bit arithmetic: exact in doubles,
    // since max_jitter < 2^21 and random < 2^32.
    const jitter = Math.floor((maxJitter * (random >>> 0)) / 0x100000000);
    this.baseMs = Math.min(base * multiplier, maxMs);
    this.attempts++;
    return base - jitter;
  }

  /** Call once a connection succeeded: the next failure starts again at initialMs. */
  reset() {
    this.baseMs = this.policy.initialMs;
    this.attempts = 0;
  }
}
