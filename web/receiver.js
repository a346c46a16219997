// Receiving off the main thread: a device's WebSocket, decoding and the ring
// writer run in a dedicated worker (receiver-worker.js), so that whatever
// holds up the page's main thread (layout, drawing, garbage collection) never
// delays audio on its way to the worklet. Used when the page is cross-origin
// isolated (the ring is shared memory); otherwise the page receives on its
// main thread with StreamClient directly. This is the worker's side (no DOM:
// nothing here or in its imports is page-side code); the page's is
// RemoteReceiver (remote-receiver.js).
//
// Page → worker: {type: 'start', url, device, codec}
//                {type: 'sink', epoch, ready, tapSamples}  a player is (or is no longer) waiting for audio
//                {type: 'stop'}
// Worker → page: {type: 'event', name, data}   StreamClient's events but audio
//                {type: 'playback', epoch, playback}  buffers for Player.attach (shared-playback.js)
//                {type: 'status', …}           counters and the clock estimate, every 100 ms

import { RingBuffer } from './ring-buffer.js';
import { createSharedPlayback } from './shared-playback.js';
import { StreamClient } from './stream-client.js';
import { CaptureTimeline, StreamWriter } from './stream-writer.js';

const STATUS_INTERVAL_MS = 100;

const writerCounters = (w) => ({
  lostFrames: w ? w.lostFrames : 0,
  filledFrames: w ? w.filledFrames : 0,
  gaps: w ? w.gaps : 0,
  restarts: w ? w.restarts : 0,
  overflowFrames: w ? w.overflowFrames : 0,
});

/** What the page knows before the worker's first status: the shape of Receiver.status(). */
export function idleStatus() {
  return {
    state: 'idle',
    retryAt: 0,
    stats: { connects: 0, failures: 0, frames: 0, bytes: 0, badFrames: 0, serverSkipped: 0, jitterMs: 0, codec: '' },
    clock: { hasEstimate: false, offsetUs: NaN, rttUs: NaN },
    writer: writerCounters(null),
  };
}

/** The worker's side: one StreamClient, writing decoded audio straight into the ring the page's player reads. */
export class Receiver {
  constructor(post, { url, device, codec }) {
    this.post = post;
    this.device = device;
    this.sink = { epoch: 0, ready: false, tapSamples: 0 };
    this.fresh = true; // the next frame starts a new playback
    this.online = false;
    this.writer = null;
    this.client = new StreamClient({ url, device, codec, onEvent: (type, data) => this.onEvent(type, data) });
    this.timer = setInterval(() => this.postStatus(), STATUS_INTERVAL_MS);
  }

  start() {
    this.client.start();
  }

  stop() {
    clearInterval(this.timer);
    this.client.stop();
  }

  setSink(epoch, ready, tapSamples) {
    this.sink = { epoch, ready, tapSamples };
    this.fresh = true;
  }

  onEvent(type, data) {
    if (type === 'audio') {
      this.onAudio(data.frame, data.samples);
      return;
    }
    if (type === 'state' && data.state === 'open') this.fresh = true;
    if (type === 'stream' && data.device === this.device) {
      if (data.online && !this.online) this.fresh = true; // the device is back: start clean
      this.online = Boolean(data.online);
    }
    this.post({ type: 'event', name: type, data, status: this.status() });
  }

  onAudio(frame, samples) {
    if (!this.sink.ready) {
      this.fresh = true; // nobody plays: when a player is ready, start clean rather than count a gap
      return;
    }
    const w = this.writer;
    if (this.fresh || !w || frame.sampleRate !== w.rate || frame.channels !== w.channels) {
      const playback = createSharedPlayback({ rate: frame.sampleRate, channels: frame.channels, tapSamples: this.sink.tapSamples });
      this.writer = new StreamWriter({
        sink: new RingBuffer(playback.ring),
        channels: frame.channels,
        rate: frame.sampleRate,
        timeline: new CaptureTimeline(playback.timeline),
      });
      this.fresh = false;
      this.post({ type: 'playback', epoch: this.sink.epoch, playback });
    }
    this.writer.push(frame.firstSample, frame.captureUs, samples, frame.sampleCount);
  }

  status() {
    const c = this.client;
    return {
      state: c.state,
      retryAt: c.retryAt,
      stats: { ...c.stats },
      clock: { hasEstimate: c.clock.hasEstimate, offsetUs: c.clock.offsetUs, rttUs: c.clock.rttUs },
      writer: writerCounters(this.writer),
    };
  }

  postStatus() {
    this.post({ type: 'status', status: this.status() });
  }
}
