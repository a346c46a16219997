// The page's side of a device received in the receiver worker (receiver.js
// says why, and which messages go each way): starts the worker, and stands in
// for a StreamClient on the main thread.

import { idleStatus } from './receiver.js';

/**
 * The page's side: what app.js uses of a StreamClient (start, stop, state,
 * retryAt, stats, clock) and the writer's counters, kept up to date from the
 * worker; `onPlayback` gets the buffers to attach to the device's player.
 */
export class RemoteReceiver {
  constructor({ url, device, codec = 'device', onEvent, onPlayback }) {
    this.url = url;
    this.device = device;
    this.codec = codec;
    this.onEvent = onEvent;
    this.onPlayback = onPlayback;
    this.worker = null;
    this.epoch = 0;
    this.ready = false;
    this.applyStatus(idleStatus());
  }

  start() {
    if (this.worker) return;
    this.worker = new Worker(new URL('receiver-worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e) => this.onMessage(e.data);
    this.worker.onerror = (e) => this.onEvent('error', { message: `the receiver worker failed: ${e.message}` });
    this.worker.postMessage({ type: 'start', url: this.url, device: this.device, codec: this.codec });
  }

  /** Closes the connection cleanly; the worker then ends itself. */
  stop() {
    if (!this.worker) return;
    this.worker.postMessage({ type: 'stop' });
    this.worker.onmessage = null;
    this.worker = null;
    this.state = 'stopped';
  }

  /** Whether a player waits for audio; each new readiness starts a new playback. */
  setReady(ready, tapSamples = 0) {
    if (ready === this.ready || !this.worker) return;
    this.ready = ready;
    this.epoch++;
    this.worker.postMessage({ type: 'sink', epoch: this.epoch, ready, tapSamples });
  }

  applyStatus(s) {
    this.state = s.state;
    this.retryAt = s.retryAt;
    this.stats = s.stats;
    this.clock = s.clock;
    this.writer = s.writer;
  }

  onMessage(m) {
    switch (m.type) {
      case 'status':
        this.applyStatus(m.status);
        break;
      case 'event':
        this.applyStatus(m.status);
        this.onEvent(m.name, m.data);
        break;
      case 'playback':
        if (m.epoch === this.epoch && this.ready) this.onPlayback(m.playback);
        break;
      default:
        break;
    }
  }
}
