// The listener WebSocket's binary audio message, and the link AUDIO frame of
// docs/protocol.md's "vector:audio".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Codec, decodeFrame } from '../../web/codecs.js';
import {
  buildAudioMessage, kAudioMessageHeaderSize, kMaxOpusPacketBytes, kOpusCodec, kOpusPacketSamples, kOpusSampleRate,
  parseAudioMessage, parseLinkAudioFrame,
} from '../../web/protocol.js';
import { docVector } from './helpers/doc-vectors.js';

test('the AUDIO vector: sequence 7, first sample 2240, captured at 140 000 µs, PCM16 0, 1000, −1000, 32767', () => {
  const f = parseLinkAudioFrame(docVector('audio'));
  assert.equal(typeof f, 'object', f);
  assert.equal(f.sequence, 7);
  assert.equal(f.firstSample, 2240);
  assert.equal(f.captureUs, 140000);
  assert.equal(f.codec, Codec.PCM16);
  assert.equal(f.channels, 1);
  assert.equal(f.sampleCount, 4);
  const out = new Int16Array(4);
  assert.equal(decodeFrame(f.codec, f.channels, f.sampleCount, f.payload, out), 4);
  assert.deepEqual(Array.from(out), [0, 1000, -1000, 32767]);
});

test('the other link vectors are not AUDIO frames', () => {
  for (const name of ['hello', 'welcome', 'stats', 'ping', 'pong', 'error', 'config']) {
    assert.equal(typeof parseLinkAudioFrame(docVector(name)), 'string', name);
  }
});

test('the AUDIO vector as the server relays it to a listener', () => {
  // What server/listener_protocol.cpp builds from it (capture time moved to the server clock).
  const link = parseLinkAudioFrame(docVector('audio'));
  const captureUs = 1_763_999_995_141_010; // device time + the device's offset
  const message = buildAudioMessage({ ...link, captureUs, sampleRate: 16000 });
  assert.equal(message.length, kAudioMessageHeaderSize + 8);
  // The header byte by byte, as docs/protocol.md lays it out.
  const expected = Uint8Array.from([
    0x01, 0x01, 0x01, 0x00, // kind 1, PCM16, mono, reserved
    0x07, 0x00, 0x00, 0x00, // sequence 7
    0xc0, 0x08, 0, 0, 0, 0, 0, 0, // first sample 2240
    ...new Uint8Array(new BigInt64Array([BigInt(captureUs)]).buffer), // capture time, i64 LE
    0x80, 0x3e, 0x00, 0x00, // 16000 Hz
    0x04, 0x00, 0x00, 0x00, // 4 samples, reserved
    0x00, 0x00, 0xe8, 0x03, 0x18, 0xfc, 0xff, 0x7f,
  ]);
  assert.deepEqual(message, expected);
  const m = parseAudioMessage(message.buffer);
  assert.equal(typeof m, 'object', m);
  assert.deepEqual({ ...m, payload: Array.from(m.payload) }, {
    codec: 1, channels: 1, sequence: 7, firstSample: 2240, captureUs, sampleRate: 16000, sampleCount: 4,
    payload: [0x00, 0x00, 0xe8, 0x03, 0x18, 0xfc, 0xff, 0x7f],
  });
});

test('vector:listener-audio is what the page builds and reads, byte for byte', () => {
  const link = parseLinkAudioFrame(docVector('audio'));
  const documented = docVector('listener-audio');
  const built = buildAudioMessage({ ...link, captureUs: 1_763_999_995_141_010, sampleRate: 16000 });
  assert.deepEqual(built, documented);
  const m = parseAudioMessage(documented);
  assert.equal(typeof m, 'object', m);
  assert.equal(m.captureUs, 1_763_999_995_141_010);
  assert.equal(m.sampleRate, 16000);
});

test('the limits are the device link\'s: 8,000 to 48,000 Hz, 8,180 samples, reserved bytes 0', () => {
  const at = (changes) => {
    const m = Uint8Array.from(docVector('listener-audio'));
    const v = new DataView(m.buffer);
    for (const [offset, bytes, value] of changes) {
      if (bytes === 1) v.setUint8(offset, value);
      else if (bytes === 2) v.setUint16(offset, value, true);
      else v.setUint32(offset, value, true);
    }
    return parseAudioMessage(m);
  };
  assert.equal(typeof at([[24, 4, 8000]]), 'object');
  assert.equal(typeof at([[24, 4, 48000]]), 'object');
  assert.match(at([[24, 4, 7999]]), /sample rate/);
  assert.match(at([[24, 4, 48001]]), /sample rate/);
  assert.match(at([[3, 1, 1]]), /reserved/);
  assert.match(at([[30, 2, 1]]), /reserved/);
  const big = buildAudioMessage({
    codec: Codec.MULAW, channels: 2, sequence: 0, firstSample: 0, captureUs: 0, sampleRate: 8000, sampleCount: 4091,
    payload: new Uint8Array(8182),
  });
  assert.match(parseAudioMessage(big), /bad audio header/, '2 × 4,091 samples is more than a frame holds');
});

test('vector:listener-opus: one 20 ms Opus packet, built and read byte for byte', () => {
  const documented = docVector('listener-opus');
  const fields = {
    codec: kOpusCodec, channels: 1, sequence: 12, firstSample: 11520, captureUs: 1_763_999_995_141_010,
    sampleRate: kOpusSampleRate, sampleCount: kOpusPacketSamples,
  };
  assert.deepEqual(buildAudioMessage({ ...fields, payload: Uint8Array.from([0xf8, 0xff, 0xfe]) }), documented);
  const m = parseAudioMessage(documented);
  assert.equal(typeof m, 'object', m);
  assert.deepEqual({ ...m, payload: Array.from(m.payload) }, { ...fields, payload: [0xf8, 0xff, 0xfe] });
});

test('Opus messages keep to their limits: 48 kHz, 960 samples, 1 to 1,276 bytes, 1 or 2 channels', () => {
  const opus = (changes) => {
    const fields = {
      codec: kOpusCodec, channels: 1, sequence: 0, firstSample: 0, captureUs: 0, sampleRate: 48000, sampleCount: 960,
      payload: new Uint8Array(3), ...changes,
    };
    return parseAudioMessage(buildAudioMessage(fields));
  };
  assert.equal(typeof opus({}), 'object');
  assert.equal(typeof opus({ channels: 2, payload: new Uint8Array(kMaxOpusPacketBytes) }), 'object');
  assert.match(opus({ sampleRate: 16000 }), /bad Opus header/);
  assert.match(opus({ sampleCount: 320 }), /bad Opus header/);
  assert.match(opus({ channels: 3 }), /bad Opus header/);
  assert.match(opus({ payload: new Uint8Array(0) }), /Opus packet of 0 bytes/);
  assert.match(opus({ payload: new Uint8Array(kMaxOpusPacketBytes + 1) }), /Opus packet of 1277 bytes/);
});

test('malformed audio messages are refused with a reason', () => {
  const good = buildAudioMessage({
    codec: Codec.IMA_ADPCM, channels: 1, sequence: 1, firstSample: 0, captureUs: 0, sampleRate: 16000, sampleCount: 320,
    payload: new Uint8Array(164),
  });
  assert.equal(typeof parseAudioMessage(good), 'object');
  assert.match(parseAudioMessage(good.subarray(0, 20)), /shorter than its header/);
  assert.match(parseAudioMessage(good.subarray(0, good.length - 1)), /payload of 163 bytes, expected 164/);
  const bad = good.slice();
  bad[0] = 2;
  assert.match(parseAudioMessage(bad), /kind 2/);
  bad.set(good);
  bad[1] = 9;
  assert.match(parseAudioMessage(bad), /bad audio header/);
  bad.set(good);
  bad[2] = 3;
  assert.match(parseAudioMessage(bad), /bad audio header/);
  bad.set(good);
  bad.set([0, 0, 0, 0], 24);
  assert.match(parseAudioMessage(bad), /sample rate/);
});

test('large first-sample indices and negative capture times survive', () => {
  const m = parseAudioMessage(buildAudioMessage({
    codec: Codec.MULAW, channels: 2, sequence: 0xffffffff, firstSample: 2 ** 40 + 3, captureUs: -5, sampleRate: 48000,
    sampleCount: 2, payload: new Uint8Array(4),
  }));
  assert.equal(m.sequence, 0xffffffff);
  assert.equal(m.firstSample, 2 ** 40 + 3);
  assert.equal(m.captureUs, -5);
});
