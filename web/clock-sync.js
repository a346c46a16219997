// Page ↔ server clock offset from the listener WebSocket's ping/pong, with
// NTP's arithmetic; the exchange with the smallest round trip among the last 8
// is trusted (queueing only ever adds delay). The port of
// core/include/micstream/clock_sync.h.

export const kClockSyncWindow = 8;

export class ClockSync {
  constructor(window = kClockSyncWindow) {
    this.window = window;
    this.offsets = new Float64Array(window);
    this.rtts = new Float64Array(window);
    this.count = 0;
    this.next = 0;
  }

  /**
   * One exchange: t0 local send, t1 remote receive, t2 remote send, t3 local
   * receive, all in microseconds. False (and ignored) when the times are
   * inconsistent: t3 before t0, or t2 before t1.
   */
  add(t0, t1, t2, t3) {
    if (![t0, t1, t2, t3].every(Number.isFinite) || t3 < t0 || t2 < t1) return false;
    const rtt = Math.max(0, (t3 - t0) - (t2 - t1));
    // Differences first: clocks decades apart stay exact in doubles.
    this.offsets[this.next] = Math.trunc(((t1 - t0) + (t2 - t3)) / 2); // C++ integer division
    this.rtts[this.next] = rtt;
    this.next = (this.next + 1) % this.window;
    if (this.count < this.window) this.count++;
    return true;
  }

  get hasEstimate() {
    return this.count > 0;
  }

  best() {
    let best = -1;
    for (let i = 0; i < this.count; i++) if (best < 0 || this.rtts[i] < this.rtts[best]) best = i;
    return best;
  }

  /** Remote clock minus local clock, microseconds (0 before any exchange). */
  get offsetUs() {
    const b = this.best();
    return b < 0 ? 0 : this.offsets[b];
  }

  /** Round trip of the exchange the offset comes from, microseconds. */
  get rttUs() {
    const b = this.best();
    return b < 0 ? 0 : this.rtts[b];
  }

  reset() {
    this.count = 0;
    this.next = 0;
  }
}
