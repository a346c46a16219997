// The jitter buffer and drift control: how much audio to hold between the
// ring the page fills (decoded device audio at the device's rate) and the
// sound card (the AudioContext's rate and clock), and how fast to play it.
// Pure logic: PlayerCore (player-core.js) reports each arrival and underrun
// and calls update() once per render quantum; the tests drive it with
// simulated networks.
//
// Measuring the jitter
//   At each arrival (seen at a render quantum's start: the ring's write count
//   moved) the controller takes the transit: the sound card's time less the
//   device time of the first frame that arrived. Transit does not depend on
//   what playback does, only on the device, the network, the server and the
//   page. Per second it keeps the worst, the mean and the faster half.
//   - Typical jitter: the median, over the last 16 s, of each second's worst
//     transit above the mean transit. The newest two seconds count at once.
//   - Peaks: an arrival far above that (2 × typical + 20 ms) is a peak. One is
//     bad luck; two within 60 s are a pattern, and the buffer then holds the
//     highest peak for as long as they keep coming.
//   - Drift: the faster half's mean (the transit's floor) falls by the clock
//     drift each second; the median of its 20 s slopes over the last 60 s
//     is the device clock's rate against the sound card's, to ~10 ppm.
//
// Holding the smallest delay that keeps underruns away
//   The level (audio waiting in the ring) rises at each arrival and falls as it
//   plays; its low points, just before each arrival ("troughs"), are how close
//   playback came to running dry. The loop steers the smoothed trough to
//   margin + spread (spread: the jitter above), so the lowest trough sits at
//   `margin` (3 ms when calm).
//   - After an underrun the margin grows (5 ms and a quarter of how late the
//     data was, at most 50 ms), and playback waits until the buffer holds the
//     new target before it resumes: the delay grows at once.
//   - When calm (no underrun for 5 s, or twice the time between the last two
//     underruns) the margin decays to its minimum (τ 20 s, at most 1.5 ms a
//     second) and old jitter leaves the window: the delay shrinks slowly.
//   - Far behind (a backlog after a stall, a suspended tab) it skips to live:
//     drops the excess with a cross-fade.
//
// Drift control
//   The resampling ratio is nominal × (1 + drift + kp × trough error), the
//   correction bounded to ±0.4 % (7 cents, and only that far while the delay
//   is far from its target; shortening the delay at most 0.15 %, 2.6 cents,
//   which keeps a tone within 0.15 % of its pitch): the device's
//   clock is followed and the delay moved without ever dropping or repeating
//   a sample.
//
// Allocation: none, on the audio thread's calls (onArrival, onUnderrun,
// update: inputs in fields, see player-core.js).

export const defaultPlayoutOptions = Object.freeze({
  minMarginMs: 3, // the lowest trough aimed at when calm
  initialMarginMs: 15, // before anything is known (no glitch while it learns; it shrinks when calm)
  maxMarginMs: 300,
  maxSpreadMs: 1000, // jitter beyond this is not buffered for: it underruns
  growMs: 5, // margin added at each underrun …
  growLateness: 0.25, // … plus this share of how late the data was …
  maxGrowMs: 50, // … up to this much at once
  calmSec: 5, // no underrun for this long: the margin starts shrinking …
  maxCalmSec: 120, // … or twice the time between the last two underruns, up to this
  shrinkTauSec: 20, // time constant of that shrink …
  maxShrinkMsPerSec: 1.5, // … at most this fast (0.15 % of playback speed, as maxSpeedup)
  bucketSec: 1,
  windowSec: 16, // memory of the typical jitter
  peakWindowSec: 60, // memory of delay peaks; two in this long and the buffer holds them
  driftWindowSec: 60, // drift: the transit floor's slope over this long …
  driftSpanSec: 20, // … the median of its slopes over spans this long
  troughTauSec: 1, // smoothing of the trough fed to the loop
  kp: 0.1, // 1/s: ratio correction per second of trough error
  maxDrift: 0.002, // bound of the drift estimate (±2000 ppm)
  maxCorrection: 0.004, // bound of the whole ratio correction (±0.4 %, 7 cents) …
  maxSpeedup: 0.0015, // … and of the part that shortens the delay (0.15 %, 2.6 cents): it shrinks gently
  skipExcessMs: 150, // level above the start level that triggers a skip to live
});

const MAX_PEAKS = 8;
const PER_BUCKET = 256;

export class PlayoutController {
  constructor(options = {}) {
    const o = { ...defaultPlayoutOptions, ...options };
    this.o = o;
    this.minMargin = o.minMarginMs / 1000;
    this.maxMargin = o.maxMarginMs / 1000;
    this.skipExcess = o.skipExcessMs / 1000;
    this.buckets = Math.max(3, Math.round(o.driftWindowSec / o.bucketSec));
    this.windowBuckets = Math.max(2, Math.min(this.buckets, Math.round(o.windowSec / o.bucketSec)));
    this.span = Math.max(1, Math.min(this.buckets - 2, Math.round(o.driftSpanSec / o.bucketSec)));
    // Each bucket's transits (up to PER_BUCKET), and, once the bucket is
    // complete, their floor: the mean of the lower half (robust to late
    // outliers, and finer than the render quantum the arrivals are seen at).
    this.transits = new Float64Array(this.buckets * PER_BUCKET);
    this.floor = new Float64Array(this.buckets);
    this.sortScratch = new Float64Array(PER_BUCKET);
    this.transitMax = new Float64Array(this.buckets);
    this.transitMaxTime = new Float64Array(this.buckets);
    this.transitSum = new Float64Array(this.buckets);
    this.timeSum = new Float64Array(this.buckets);
    this.transitCount = new Int32Array(this.buckets);
    this.troughLow = new Float64Array(this.buckets);
    this.scratch = new Float64Array(this.buckets); // sorting, without allocating
    this.peakTime = new Float64Array(MAX_PEAKS);
    this.peakHeight = new Float64Array(MAX_PEAKS);
    this.reset();
  }

  reset() {
    // Inputs (see onArrival, update).
    this.now = 0;
    this.dt = 0;
    this.inTrough = 0;
    this.inChunk = 0;
    this.inTimeline = 0;
    this.margin = this.o.initialMarginMs / 1000;
    for (let i = 0; i < this.buckets; i++) this.clearBucket(i);
    this.bucket = 0;
    this.bucketStart = 0;
    this.meanTransit = NaN;
    this.typical = 0; // the typical jitter: median over the window of each second's worst transit
    this.peak = 0; // the delay peaks being held (0 unless two came within peakWindowSec)
    this.peakTime.fill(-Infinity);
    this.peakHeight.fill(0);
    this.peakNext = 0;
    this.spread = 0; // the jitter the buffer absorbs, seconds
    this.drift = 0; // device clock rate against the sound card's, − 1
    this.troughMin = NaN; // lowest trough of the window (for display)
    this.trough = NaN; // smoothed trough
    this.lastArrival = NaN;
    this.chunk = 0; // typical arrival, seconds
    this.arrivals = 0;
    this.correction = 0;
    this.starving = false;
    this.starveStart = 0;
    this.lastUnderrun = -Infinity;
    this.lateness = 0; // of the last underrun, seconds
    this.calm = this.o.calmSec;
  }

  clearBucket(i) {
    this.floor[i] = NaN;
    this.transitMax[i] = -Infinity;
    this.transitMaxTime[i] = 0;
    this.transitSum[i] = 0;
    this.timeSum[i] = 0;
    this.transitCount[i] = 0;
    this.troughLow[i] = Infinity;
  }

  /** The level playback (re)starts at, and the level a skip to live leaves (not for the audio thread: a getter's double is boxed). */
  get startLevel() {
    return this.margin + this.spread + this.chunk;
  }

  /** Above this level playback is too far behind: skip to live. */
  get skipLevel() {
    return this.startLevel + this.skipExcess;
  }

  /** What the smoothed trough is steered to. */
  get targetTrough() {
    return this.margin + this.spread;
  }

  /**
   * Audio arrived. Inputs in fields (set them first; see "Allocation" above):
   *   now: sound-card time, s;  inTrough: the level just before it, s;
   *   inChunk: how much arrived, s;  inTimeline: device time delivered before
   *   it (audio, plus gaps the page did not fill), s.
   * @param {boolean} playing whether playback was consuming meanwhile
   */
  onArrival(playing) {
    const now = this.now;
    const trough = this.inTrough;
    const chunk = this.inChunk;
    const timeline = this.inTimeline;
    // The typical arrival: robust to bursts (a burst counts as at most twice the estimate).
    if (this.arrivals === 0) this.chunk = chunk;
    else this.chunk += (Math.min(chunk, 2 * this.chunk) - this.chunk) * 0.05;
    this.arrivals++;

    // Transit: arrival time less the device time of the first frame that
    // arrived (a burst is as late as its first frame). Its floor's slope is the
    // clock drift; its spread the arrival jitter, whatever playback does.
    const transit = now - (timeline + Math.min(chunk, this.chunk));
    const b = this.bucket;
    if (this.transitCount[b] < PER_BUCKET) this.transits[b * PER_BUCKET + this.transitCount[b]] = transit;
    if (transit > this.transitMax[b]) {
      this.transitMax[b] = transit;
      this.transitMaxTime[b] = now;
    }
    this.transitSum[b] += transit;
    this.timeSum[b] += now;
    this.transitCount[b]++;

    // A delay peak: far above the typical jitter. One is bad luck (it
    // underruns, and the margin grows a little); two within peakWindowSec are
    // a pattern, and the buffer holds the highest for as long as they recur.
    if (Number.isFinite(this.meanTransit)) {
      const height = transit + this.drift * now - this.meanTransit;
      // (While peaks are held, one of similar height renews them.)
      if (height > 2 * this.typical + 0.02 || (this.peak > 0 && height > 0.5 * this.peak)) {
        const last = this.peakTime[(this.peakNext + MAX_PEAKS - 1) % MAX_PEAKS];
        const i = now - last < 1 ? (this.peakNext + MAX_PEAKS - 1) % MAX_PEAKS : this.peakNext;
        if (i === this.peakNext) this.peakNext = (this.peakNext + 1) % MAX_PEAKS;
        this.peakTime[i] = now;
        this.peakHeight[i] = Math.max(height, now - last < 1 ? this.peakHeight[i] : 0);
      }
    }

    if (this.starving) {
      // The data that ran the buffer dry arrives only now: it was this late.
      this.starving = false;
      this.lateness = now - this.starveStart;
      const grow = Math.min(this.o.maxGrowMs / 1000, this.o.growLateness * this.lateness);
      this.margin = Math.min(this.maxMargin, this.margin + grow);
    } else if (playing) {
      if (trough < this.troughLow[b]) this.troughLow[b] = trough;
      if (Number.isNaN(this.trough)) this.trough = trough;
      else {
        const dt = Math.max(0, now - this.lastArrival);
        this.trough += (trough - this.trough) * (1 - Math.exp(-dt / this.o.troughTauSec));
      }
    }
    this.lastArrival = now;
    this.recompute();
  }

  /** Playback ran dry at this.now. */
  onUnderrun() {
    const now = this.now;
    this.starving = true;
    this.starveStart = now;
    // Underruns in a row stretch the calm needed before the margin shrinks.
    const interval = now - this.lastUnderrun;
    this.calm = Math.min(this.o.maxCalmSec, Math.max(this.o.calmSec, Number.isFinite(interval) ? 2 * interval : 0));
    this.lastUnderrun = now;
    this.margin = Math.min(this.maxMargin, this.margin + this.o.growMs / 1000);
    this.trough = NaN; // the loop restarts from the rebuffered level
  }

  // The spread (the jitter to absorb) from the window: the typical jitter is
  // the median, over its seconds, of each second's worst transit above the
  // mean; the newest two seconds count at once unless they are a peak; held
  // peaks on top.
  recompute() {
    const now = this.now;
    const B = this.buckets;
    let sum = 0;
    let count = 0;
    let low = Infinity;
    for (let k = 0; k < this.windowBuckets; k++) {
      const i = (this.bucket - k + B) % B;
      const n = this.transitCount[i];
      if (n === 0) continue;
      sum += this.transitSum[i] + this.drift * this.timeSum[i];
      count += n;
      if (this.troughLow[i] < low) low = this.troughLow[i];
    }
    // (Two stores, not `low === Infinity ? NaN : low`: a phi with a NaN constant is boxed.)
    this.troughMin = low;
    if (low === Infinity) this.troughMin = NaN;
    if (count === 0) {
      this.spread = 0;
      return;
    }
    const mean = sum / count;
    this.meanTransit = mean;
    let n = 0;
    let recent = 0;
    for (let k = 0; k < this.windowBuckets; k++) {
      const i = (this.bucket - k + B) % B;
      if (this.transitCount[i] === 0) continue;
      const worst = this.transitMax[i] + this.drift * this.transitMaxTime[i] - mean; // detrended
      if (k < 2) recent = Math.max(recent, worst);
      if (k > 0 || this.windowBuckets < 3) this.scratch[n++] = worst;
    }
    if (n > 0) median(this.scratch, n);
    this.typical = n > 0 ? Math.max(0, result[0]) : Math.max(0, recent);
    // Peaks: held while at least two lie within the peak window.
    let peaks = 0;
    let highest = 0;
    for (let i = 0; i < MAX_PEAKS; i++) {
      if (now - this.peakTime[i] <= this.o.peakWindowSec) {
        peaks++;
        highest = Math.max(highest, this.peakHeight[i]);
      }
    }
    this.peak = peaks >= 2 ? highest : 0;
    const quick = Math.min(recent, 2 * this.typical + 0.02);
    this.spread = Math.min(this.o.maxSpreadMs / 1000, Math.max(this.typical, quick, this.peak));
  }

  closeBucket(b) {
    const n = Math.min(this.transitCount[b], PER_BUCKET);
    if (n === 0) return;
    const a = this.sortScratch;
    for (let i = 0; i < n; i++) a[i] = this.transits[b * PER_BUCKET + i];
    median(a, n); // sorts a[0, n)
    const half = Math.max(1, n >> 1);
    let sum = 0;
    for (let i = 0; i < half; i++) sum += a[i];
    this.floor[b] = sum / half;
  }

  // Drift: the transit's floor (the faster half of each bucket's arrivals)
  // falls by the drift each second. The median of its slopes over driftSpanSec spans
  // ignores jitter and the odd step (a route change, a device restart).
  estimateDrift() {
    const B = this.buckets;
    const K = this.span;
    let n = 0;
    for (let k = 1; k + K < B; k++) {
      // k = 1: the newest complete bucket.
      const i = (this.bucket - k + B) % B;
      const j = (i - K + B) % B;
      if (Number.isNaN(this.floor[i]) || Number.isNaN(this.floor[j])) continue;
      this.scratch[n++] = -(this.floor[i] - this.floor[j]) / (K * this.o.bucketSec);
    }
    if (n < 5) return;
    median(this.scratch, n);
    this.drift = Math.max(-this.o.maxDrift, Math.min(this.o.maxDrift, result[0]));
  }

  /**
   * Once a render quantum (this.now and this.dt set): advances the window,
   * lets the margin relax, runs the loop; this.correction is the result (0
   * while not playing).
   */
  update(playing) {
    const o = this.o;
    const now = this.now;
    const dt = this.dt;
    if (now - this.bucketStart >= o.bucketSec) {
      let steps = 0;
      while (now - this.bucketStart >= o.bucketSec && steps < this.buckets) {
        this.closeBucket(this.bucket);
        this.bucket = (this.bucket + 1) % this.buckets;
        this.clearBucket(this.bucket);
        this.bucketStart += o.bucketSec;
        steps++;
      }
      if (now - this.bucketStart >= o.bucketSec) this.bucketStart = now;
      this.estimateDrift();
      this.recompute();
    }
    if (now - this.lastUnderrun > this.calm && this.margin > this.minMargin) {
      const shrink = Math.min((this.margin - this.minMargin) * (dt / o.shrinkTauSec), (o.maxShrinkMsPerSec / 1000) * dt);
      this.margin -= shrink;
    }
    if (!playing || Number.isNaN(this.trough)) {
      this.correction = 0;
      return;
    }
    // Follow the device's clock, and move the delay to its target: e > 0 is
    // more delay than needed (play a little faster).
    const e = this.trough - this.targetTrough;
    const move = Math.max(-o.maxCorrection, Math.min(o.maxSpeedup, o.kp * e));
    this.correction = Math.max(-o.maxCorrection, Math.min(o.maxCorrection, this.drift + move));
  }

  // Allocating conveniences for tests and tools.
  arrive(now, trough, chunk, timeline, playing) {
    this.now = now;
    this.inTrough = trough;
    this.inChunk = chunk;
    this.inTimeline = timeline;
    this.onArrival(playing);
  }

  underrun(now) {
    this.now = now;
    this.onUnderrun();
  }
}

// The median of a[0, n) into result[0] (not returned: a returned double is
// boxed), sorting that part in place (insertion sort: n ≤ 256, no allocation).
const result = new Float64Array(1);
function median(a, n) {
  for (let x = 1; x < n; x++) {
    const v = a[x];
    let y = x - 1;
    while (y >= 0 && a[y] > v) {
      a[y + 1] = a[y];
      y--;
    }
    a[y + 1] = v;
  }
  result[0] = n % 2 ? a[(n - 1) / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}
