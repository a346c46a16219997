// The page's Opus path (web/opus-decoder.js, and StreamClient asking for
// Opus) with a stand-in for WebCodecs: Node has no AudioDecoder. Real Opus
// decoding is the browser tests' (tests/browser/opus.test.js, Chromium).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpusFrameDecoder, canDecodeOpus } from '../../web/opus-decoder.js';
import { kOpusCodec, kOpusPacketSamples } from '../../web/protocol.js';
import { StreamClient } from '../../web/stream-client.js';

/** WebCodecs as far as the page uses it: each packet decodes to 960 frames whose value is the packet's first byte. */
function fakeWebCodecs({ supported = true, format = 'f32-planar' } = {}) {
  const made = [];
  class AudioDecoder {
    static async isConfigSupported(config) {
      return { supported: supported && config.codec === 'opus', config };
    }
    constructor({ output, error }) {
      this.output = output;
      this.error = error;
      this.state = 'unconfigured';
      this.config = null;
      made.push(this);
    }
    configure(config) {
      this.config = config;
      this.state = 'configured';
    }
    decode(chunk) {
      if (chunk.data.length === 0) {
        this.state = 'closed';
        queueMicrotask(() => this.error(new Error('Null or empty decoder buffer.')));
        return;
      }
      const channels = this.config.numberOfChannels;
      const value = chunk.data[0] / 256;
      queueMicrotask(() => this.output({
        timestamp: chunk.timestamp,
        numberOfFrames: kOpusPacketSamples,
        numberOfChannels: channels,
        format,
        copyTo(dest, { planeIndex, format: wanted }) {
          assert.equal(wanted, 'f32-planar', 'the page asks for planar floats, which every engine must give');
          dest.fill(value + planeIndex);
        },
        close() {},
      }));
    }
    close() {
      this.state = 'closed';
    }
  }
  class EncodedAudioChunk {
    constructor({ type, timestamp, data }) {
      Object.assign(this, { type, timestamp, data });
    }
  }
  return { AudioDecoder, EncodedAudioChunk, made };
}

const packet = (n, { channels = 1, firstSample = n * 960, byte = n } = {}) => ({
  codec: kOpusCodec, channels, sequence: n, firstSample, captureUs: 1e15 + n * 20000, sampleRate: 48000,
  sampleCount: 960, payload: Uint8Array.from([byte, 0xff, 0xfe]),
});

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

test('packets come back in order with their own fields, stereo interleaved from the planes', async () => {
  const codecs = fakeWebCodecs();
  const got = [];
  const d = new OpusFrameDecoder({ codecs, onDecoded: (f, s, arrivalUs) => got.push({ f, s: Array.from(s.subarray(0, 4)), arrivalUs }), onError: assert.fail });
  d.decode(packet(0, { channels: 2, byte: 64 }), 11);
  d.decode(packet(1, { channels: 2, byte: 128 }), 12);
  await tick();
  assert.equal(got.length, 2);
  assert.deepEqual(got.map((g) => [g.f.sequence, g.f.firstSample, g.f.captureUs, g.f.sampleCount, g.f.channels, g.arrivalUs]),
    [[0, 0, 1e15, 960, 2, 11], [1, 960, 1e15 + 20000, 960, 2, 12]]);
  assert.deepEqual(got[0].s, [0.25, 1.25, 0.25, 1.25], 'left, right, left, right');
  assert.deepEqual(codecs.made[0].config, { codec: 'opus', sampleRate: 48000, numberOfChannels: 2 });
});

test('a mono stream handed back as two channels (WebKit) is heard as mono', async () => {
  const codecs = fakeWebCodecs();
  const got = [];
  const d = new OpusFrameDecoder({ codecs, onDecoded: (f, s) => got.push({ channels: f.channels, s: Array.from(s.subarray(0, 2)) }), onError: assert.fail });
  d.decode(packet(0, { byte: 64 }));
  codecs.made[0].config = { ...codecs.made[0].config, numberOfChannels: 2 }; // what WebKit's output says
  d.decode(packet(1, { byte: 128 }));
  await tick();
  assert.deepEqual(got, [{ channels: 1, s: [0.25, 0.25] }, { channels: 1, s: [0.5, 0.5] }]);
});

test('a decoder error is reported and the next packet opens a new decoder; reset forgets the stream', async () => {
  const codecs = fakeWebCodecs();
  const errors = [];
  const got = [];
  const d = new OpusFrameDecoder({ codecs, onDecoded: (f) => got.push(f.sequence), onError: (m) => errors.push(m) });
  d.decode({ ...packet(0), payload: new Uint8Array(0) });
  await tick();
  assert.match(errors[0], /Opus decoder: Null or empty decoder buffer/);
  d.decode(packet(1));
  await tick();
  assert.deepEqual(got, [1]);
  assert.equal(codecs.made.length, 2, 'a closed decoder is replaced');
  d.reset();
  d.decode(packet(2));
  await tick();
  assert.equal(codecs.made.length, 3);
  assert.deepEqual(got, [1, 2]);
});

test('without WebCodecs the decoder says why instead of failing', () => {
  const errors = [];
  const d = new OpusFrameDecoder({ codecs: null, onDecoded: assert.fail, onError: (m) => errors.push(m) });
  d.decode(packet(0));
  assert.match(errors[0], /cannot decode Opus .*https or localhost/);
});

test('canDecodeOpus asks the engine for mono and stereo and never rejects', async () => {
  assert.equal(await canDecodeOpus(fakeWebCodecs()), true);
  assert.equal(await canDecodeOpus(fakeWebCodecs({ supported: false })), false);
  assert.equal(await canDecodeOpus(null), false);
  const throwing = fakeWebCodecs();
  throwing.AudioDecoder.isConfigSupported = async () => {
    throw new TypeError('bad config');
  };
  assert.equal(await canDecodeOpus(throwing), false);
});

class FakeSocket {
  static last = null;
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 1;
    FakeSocket.last = this;
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close() {}
}

test('StreamClient asks for Opus only where it can decode it, and falls back when the engine says no', async () => {
  const events = [];
  const options = { url: 'ws://h/ws', device: 'mic-1', WebSocket: FakeSocket, onEvent: (type, data) => events.push({ type, data }) };
  const withOpus = new StreamClient({ ...options, codec: 'opus', codecs: fakeWebCodecs() });
  assert.equal(withOpus.wsUrl, 'ws://h/ws?device=mic-1&codec=opus');
  const withoutWebCodecs = new StreamClient({ ...options, codec: 'opus', codecs: null });
  assert.equal(withoutWebCodecs.wsUrl, 'ws://h/ws?device=mic-1', 'no WebCodecs: the device\'s codec');
  assert.equal(new StreamClient({ ...options, codecs: fakeWebCodecs() }).wsUrl, 'ws://h/ws?device=mic-1', 'the default');
  assert.equal(new StreamClient({ ...options, device: null, decode: false }).wsUrl, 'ws://h/ws?codec=none',
    'a connection for the device list asks for no audio');

  const refusing = new StreamClient({ ...options, codec: 'opus', codecs: fakeWebCodecs({ supported: false }) });
  refusing.start();
  const socket = FakeSocket.last;
  assert.equal(socket.url, 'ws://h/ws?device=mic-1&codec=opus');
  await tick();
  assert.deepEqual(socket.sent.at(-1), { type: 'subscribe', device: 'mic-1', codec: 'device' });
  assert.ok(events.some((e) => e.type === 'error' && /cannot decode Opus/.test(e.data.message)));
  assert.equal(refusing.wsUrl, 'ws://h/ws?device=mic-1', 'and the next connection asks for the device\'s codec');
  refusing.stop();
});
