// One listener WebSocket (docs/protocol.md, "The listener WebSocket"):
// connects to /ws?device=<id> (and &codec=opus when asked and this engine can
// decode Opus; codec=none when it is kept for the device list only), keeps the page ↔ server clock offset with ping/pong, parses
// and decodes the audio messages, and reconnects with the shared backoff
// policy (backoff.js) whenever the server goes away, until stop(). No DOM and
// no Web Audio: the page and the Node tests use it alike.

import { Backoff, random32 } from './backoff.js';
import { ClockSync } from './clock-sync.js';
import { decodeFrame, codecName } from './codecs.js';
import { canDecodeOpus, OpusFrameDecoder, webCodecs } from './opus-decoder.js';
import { kMaxSamplesPerFrame, kOpusCodec, parseAudioMessage } from './protocol.js';

/** The page's clock, Unix epoch microseconds (monotonic: performance.now() from timeOrigin). */
export function pageClockUs() {
  return (performance.timeOrigin + performance.now()) * 1000;
}


export class StreamClient {
  /**
   * @param {object} o
   * @param {string} o.url the server's WebSocket endpoint, e.g. ws://host:2000/ws
   * @param {string|null} o.device the device to listen to; null: the server's first device
   * @param {(type: string, data?: any) => void} o.onEvent state | welcome | devices | stream | skipped | audio | error
   * @param {boolean} [o.decode=true] false: ignore audio (a connection kept for the device list)
   * @param {'device'|'opus'} [o.codec='device'] what to ask the server for; Opus only where WebCodecs decodes it
   *        (otherwise, or once the engine says it cannot, the device's codec)
   * @param {object|null} [o.codecs=webCodecs()] WebCodecs' AudioDecoder and EncodedAudioChunk
   * @param {Function} [o.WebSocket=globalThis.WebSocket]
   * @param {() => number} [o.now=pageClockUs]
   * @param {number} [o.pingIntervalMs=2000]
   * @param {number} [o.silenceTimeoutMs=6000] no message at all for this long: the connection is dead
   * @param {number} [o.connectTimeoutMs=10000] a connection not open after this long is given up
   * @param {object} [o.backoff] BackoffPolicy overrides
   */
  constructor({ url, device = null, onEvent, decode = true, codec = 'device', codecs = webCodecs(),
    WebSocket = globalThis.WebSocket, now = pageClockUs,
    pingIntervalMs = 2000, silenceTimeoutMs = 6000, connectTimeoutMs = 10000, backoff = {} }) {
    this.connectTimeoutMs = connectTimeoutMs;
    this.url = url;
    this.device = device;
    this.onEvent = onEvent || (() => {});
    this.decode = decode;
    this.codecs = codecs;
    this.codec = codec === 'opus' && codecs ? 'opus' : 'device';
    this.opus = new OpusFrameDecoder({
      codecs,
      onDecoded: (frame, samples, arrivalUs) => this.onEvent('audio', { frame, samples, arrivalUs }),
      onError: (message) => {
        this.stats.badFrames++;
        this.onEvent('error', { message });
      },
    });
    this.WebSocket = WebSocket;
    this.now = now;
    this.pingIntervalMs = pingIntervalMs;
    this.silenceTimeoutMs = silenceTimeoutMs;
    this.backoff = new Backoff(backoff);
    this.clock = new ClockSync();
    this.ws = null;
    this.state = 'idle'; // idle | connecting | open | waiting (to reconnect) | stopped
    this.retryAt = 0; // page ms of the next attempt while waiting
    this.timers = new Set();
    this.pings = new Map(); // id → t0
    this.nextPingId = 1;
    this.lastMessageAt = 0;
    this.int16 = new Int16Array(kMaxSamplesPerFrame);
    this.float = new Float32Array(kMaxSamplesPerFrame);
    this.stream = null; // the last `stream` message
    this.stats = {
      connects: 0, // connections opened
      failures: 0, // attempts that failed or connections lost
      frames: 0, // audio messages
      bytes: 0,
      badFrames: 0, // malformed or undecodable
      serverSkipped: 0, // frames the server dropped for this listener (its `skipped` total)
      jitterMs: 0, // RFC 3550 interarrival jitter
      codec: '', // of the last audio message: the device's codec's name, or 'opus'
    };
    this.prevArrivalUs = NaN;
    this.prevCaptureUs = NaN;
  }

  get wsUrl() {
    const query = new URLSearchParams();
    if (this.device) query.set('device', this.device);
    if (!this.decode) query.set('codec', 'none'); // the device list only: no audio to throw away
    else if (this.codec === 'opus') query.set('codec', 'opus');
    const q = query.toString();
    return q ? `${this.url}?${q}` : this.url;
  }

  start() {
    if (this.state !== 'idle' && this.state !== 'stopped') return;
    this.state = 'idle';
    this.backoff.reset();
    if (this.codec === 'opus') this.checkOpus();
    this.connect();
  }

  // The engine has WebCodecs, but may not decode Opus with it: then ask for
  // what it can decode, the device's codec, on this connection and the next.
  async checkOpus() {
    if (await canDecodeOpus(this.codecs)) return;
    if (this.codec !== 'opus' || this.state === 'stopped') return;
    this.codec = 'device';
    this.onEvent('error', { message: 'this browser cannot decode Opus: hearing the device\'s codec' });
    this.send({ type: 'subscribe', device: this.device, codec: 'device' });
  }

  stop() {
    this.setState('stopped');
    this.opus.reset();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.dropSocket();
  }

  setState(state, detail) {
    this.state = state;
    this.onEvent('state', { state, ...detail });
  }

  later(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  connect() {
    let ws;
    try {
      ws = new this.WebSocket(this.wsUrl);
    } catch (e) {
      this.onEvent('error', { message: `cannot open ${this.wsUrl}: ${e.message}` });
      this.retry();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.setState('connecting');
    ws.onopen = () => this.onOpen(ws);
    ws.onmessage = (e) => this.onMessage(ws, e.data);
    ws.onclose = (e) => this.onClose(ws, e.code, e.reason);
    // Browsers follow an error with a close; not every WebSocket does (Node's,
    // on a refused connection): an error ends the connection either way.
    ws.onerror = () => this.lost(ws, 1006, 'connection failed');
    // A connection that neither opens nor fails (a black-holed network) is retried too.
    this.later(this.connectTimeoutMs, () => {
      if (ws === this.ws && this.state === 'connecting') this.lost(ws, 1006, 'connection timed out');
    });
  }

  onOpen(ws) {
    if (ws !== this.ws) return;
    this.backoff.reset();
    this.stats.connects++;
    this.lastMessageAt = this.now();
    this.prevArrivalUs = NaN;
    this.opus.reset();
    this.setState('open');
    // A quick burst of pings for a first clock estimate, then a steady pace.
    this.ping();
    for (const ms of [150, 300, 450]) this.later(ms, () => this.ping());
    this.schedulePing();
  }

  schedulePing() {
    this.later(this.pingIntervalMs, () => {
      if (this.state !== 'open') return;
      if ((this.now() - this.lastMessageAt) / 1000 > this.silenceTimeoutMs) {
        // Nothing, not even a pong, for too long: the link is dead even if TCP has not noticed.
        this.onEvent('error', { message: 'no message from the server: reconnecting' });
        this.lost(this.ws);
        return;
      }
      this.ping();
      this.schedulePing();
    });
  }

  ping() {
    if (!this.ws || this.state !== 'open') return;
    const id = this.nextPingId++;
    const t0 = this.now();
    this.pings.set(id, t0);
    if (this.pings.size > 16) this.pings.delete(this.pings.keys().next().value);
    this.send({ type: 'ping', id, t0 });
  }

  send(message) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(message));
  }

  /** Listens to another device on the same connection. */
  subscribe(device) {
    this.device = device;
    this.opus.reset();
    this.send({ type: 'subscribe', device });
  }

  onMessage(ws, data) {
    if (ws !== this.ws) return;
    const arrivalUs = this.now();
    this.lastMessageAt = arrivalUs;
    if (typeof data === 'string') {
      this.onText(data, arrivalUs);
      return;
    }
    this.stats.bytes += data.byteLength;
    if (!this.decode) return;
    const frame = parseAudioMessage(data);
    if (typeof frame === 'string') {
      this.stats.badFrames++;
      this.onEvent('error', { message: frame });
      return;
    }
    if (frame.codec === kOpusCodec) {
      this.countFrame(frame, arrivalUs);
      this.opus.decode(frame, arrivalUs); // 'audio' follows when the decoder hands it back
      return;
    }
    const n = decodeFrame(frame.codec, frame.channels, frame.sampleCount, frame.payload, this.int16);
    if (n < 0) {
      this.stats.badFrames++;
      this.onEvent('error', { message: `undecodable ${codecName(frame.codec)} frame (error ${n})` });
      return;
    }
    this.countFrame(frame, arrivalUs);
    const f = this.float;
    const i16 = this.int16;
    for (let i = 0; i < n; i++) f[i] = i16[i] / 32768;
    // `samples` is reused for the next frame: consume it before returning.
    this.onEvent('audio', { frame, samples: f, arrivalUs });
  }

  countFrame(frame, arrivalUs) {
    this.stats.frames++;
    this.stats.codec = frame.codec === kOpusCodec ? 'opus' : codecName(frame.codec);
    // RFC 3550 interarrival jitter, from capture times (server clock) and arrivals (page clock).
    if (Number.isFinite(this.prevArrivalUs)) {
      const d = (arrivalUs - this.prevArrivalUs) - (frame.captureUs - this.prevCaptureUs);
      this.stats.jitterMs += (Math.abs(d) / 1000 - this.stats.jitterMs) / 16;
    }
    this.prevArrivalUs = arrivalUs;
    this.prevCaptureUs = frame.captureUs;
  }

  onText(text, arrivalUs) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      this.onEvent('error', { message: 'unparsable text message' });
      return;
    }
    switch (m.type) {
      case 'pong': {
        const t0 = this.pings.get(m.id);
        this.pings.delete(m.id);
        if (t0 !== undefined) this.clock.add(t0, m.t1, m.t2, arrivalUs);
        break;
      }
      case 'stream':
        if (m.online && !(this.stream && this.stream.online)) this.opus.reset(); // a new device connection, a new Opus stream
        this.stream = m;
        this.onEvent('stream', m);
        break;
      case 'skipped':
        this.stats.serverSkipped = m.total ?? this.stats.serverSkipped + (m.frames ?? 0);
        this.onEvent('skipped', m);
        break;
      case 'welcome':
      case 'devices':
      case 'error':
        this.onEvent(m.type, m);
        break;
      default:
        break; // a newer server's message
    }
  }

  onClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this.lost(ws, code, reason);
  }

  dropSocket() {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch {
      // already closed
    }
  }

  lost(ws, code, reason) {
    if (ws !== this.ws || this.state === 'stopped') return;
    this.dropSocket();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.stats.failures++;
    this.clock.reset(); // a new connection may take another path
    this.retry(code, reason);
  }

  retry(code, reason) {
    if (this.state === 'stopped') return;
    const delay = this.backoff.nextDelayMs(random32());
    this.retryAt = Date.now() + delay;
    this.setState('waiting', { delayMs: delay, code, reason });
    this.later(delay, () => {
      if (this.state === 'waiting') this.connect();
    });
  }
}
