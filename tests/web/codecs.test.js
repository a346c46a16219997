// The page's decoders against docs/protocol.md's test vectors, the values the
// C++ decoders give (embedded here, and re-derived with micstream-codec when a
// build is present), and G.711 computed independently from its segment table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Codec, DecodeError, codecFromName, codecName, decodeFrame, decodeImaAdpcm, decodeMulaw, decodePcm16, encodedSize,
  imaBlockSize, mulawDecodeSample,
} from '../../web/codecs.js';
import { docVector } from './helpers/doc-vectors.js';
import { decodeWithTool, findCodecTool, makeWav } from './helpers/wav.js';

// micstream-codec: helpers/build.js (a failure under make test, a skip without MICSTREAM_BUILD).
const codecTool = findCodecTool();
const withTool = { skip: codecTool.skip };

// G.711 mu-law decoding written from the standard's description rather than
// from the C++ code: invert the bits; sign, 3-bit segment, 4-bit step; the
// magnitude is ((2·step + 33) · 2^segment − 33) · 4 in 16-bit scale.
function g711MulawReference(code) {
  const u = ~code & 0xff;
  const sign = u & 0x80 ? -1 : 1;
  const segment = (u >> 4) & 7;
  const step = u & 15;
  return sign * (((2 * step + 33) * 2 ** segment - 33) * 4) + 0; // + 0: no negative zero
}

// Their encoder's inputs (docs/protocol.md) and what any G.711 decoder gives back.
const MULAW_INPUTS = [0, 1000, -1000, 32767, -32768, 100, -100, 5000];
const MULAW_DECODED = [0, 988, -988, 32124, -32124, 104, -104, 5116]; // micstream-codec decode, sox, ffmpeg

// The 17 samples the C++ decoder (micstream-codec decode) gives for the ima-adpcm vector.
const IMA_DECODED = [0, 11, 41, 104, 240, 533, 1164, 2521, -1, -3093, -6002, -7136, -8166, -7230, -5810, -2970, -324];

test('codec ids and names are those of the wire and micstream-codec', () => {
  assert.equal(Codec.PCM16, 1);
  assert.equal(Codec.MULAW, 2);
  assert.equal(Codec.IMA_ADPCM, 3);
  assert.deepEqual([1, 2, 3].map(codecName), ['pcm16', 'mulaw', 'ima-adpcm']);
  assert.equal(codecFromName('ima-adpcm'), 3);
  assert.equal(codecFromName('opus'), 0);
  assert.equal(codecName(9), '');
});

test('encoded sizes follow docs/protocol.md', () => {
  assert.equal(encodedSize(Codec.PCM16, 1, 320), 640);
  assert.equal(encodedSize(Codec.PCM16, 2, 320), 1280);
  assert.equal(encodedSize(Codec.MULAW, 2, 320), 640);
  assert.equal(encodedSize(Codec.IMA_ADPCM, 1, 320), 164); // "164 bytes for 20 ms of 16 kHz mono"
  assert.equal(encodedSize(Codec.IMA_ADPCM, 2, 320), 328);
  assert.equal(imaBlockSize(1, 505), 256);
  assert.equal(imaBlockSize(2, 2041), 2048);
  assert.equal(imaBlockSize(1, 1), 4);
  assert.equal(encodedSize(Codec.IMA_ADPCM, 0, 10), 0);
  assert.equal(encodedSize(Codec.PCM16, 3, 10), 0);
  assert.equal(encodedSize(4, 1, 10), 0);
  assert.equal(encodedSize(Codec.PCM16, 1, 0), 0);
});

test('PCM16: little-endian, sign-extended', () => {
  const bytes = Uint8Array.from([0x00, 0x00, 0xe8, 0x03, 0x18, 0xfc, 0xff, 0x7f, 0x00, 0x80]);
  const out = new Int16Array(5);
  assert.equal(decodePcm16(bytes, out), 5);
  assert.deepEqual(Array.from(out), [0, 1000, -1000, 32767, -32768]);
});

test('mu-law: the vector decodes to what every G.711 decoder gives', () => {
  const codes = docVector('mulaw');
  assert.equal(codes.length, MULAW_INPUTS.length);
  const out = new Int16Array(codes.length);
  decodeMulaw(codes, out);
  assert.deepEqual(Array.from(out), MULAW_DECODED);
  assert.deepEqual(Array.from(codes, g711MulawReference), MULAW_DECODED);
  // Each decoded value is the encoder's input quantised: within half a segment step.
  MULAW_INPUTS.forEach((x, i) => {
    const segmentStep = 8 << ((~codes[i] >> 4) & 7);
    assert.ok(Math.abs(Math.max(-32124, Math.min(32124, x)) - out[i]) <= segmentStep / 2 + 1, `sample ${i}: ${x} → ${out[i]}`);
  });
});

test('mu-law: all 256 codes match the G.711 formula', () => {
  for (let c = 0; c < 256; c++) assert.equal(mulawDecodeSample(c), g711MulawReference(c), `code ${c}`);
  assert.equal(mulawDecodeSample(0xff), 0);
  assert.equal(mulawDecodeSample(0x7f), 0); // negative zero
  assert.equal(mulawDecodeSample(0x80), 32124);
  assert.equal(mulawDecodeSample(0x00), -32124);
  assert.equal(mulawDecodeSample(0xf0), 120);
});

test('IMA ADPCM: the vector decodes bit-exactly as the C++ decoder does', () => {
  const block = docVector('ima-adpcm');
  assert.equal(block.length, imaBlockSize(1, 17));
  const out = new Int16Array(17);
  assert.equal(decodeImaAdpcm(block, 1, 17, out), 17);
  assert.deepEqual(Array.from(out), IMA_DECODED);
  // It encodes 17 samples of a 1 kHz tone at 16 kHz, amplitude 8000 (ADPCM
  // starts from step 7, so it takes a few samples to catch up).
  for (let i = 8; i < 17; i++) {
    const x = Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 16000));
    assert.ok(Math.abs(out[i] - x) < 3000, `sample ${i}: ${out[i]} vs ${x}`);
  }
});

test('IMA ADPCM: the hand-made block of the C++ tests (shift-form step arithmetic)', () => {
  // Predictor 100, index 0 (step 7); code 7 adds 0 + 7 + 3 + 1 = 11; index 8 (step 16);
  // code 0xF subtracts 2 + 16 + 8 + 4 = 30.
  const block = Uint8Array.from([0x64, 0x00, 0x00, 0x00, 0xf7, 0x00, 0x00, 0x00]);
  const out = new Int16Array(9);
  assert.equal(decodeImaAdpcm(block, 1, 9, out), 9);
  assert.deepEqual(Array.from(out.subarray(0, 3)), [100, 111, 81]);
});

test('IMA ADPCM: stereo groups of 8 nibbles a channel, channel order', () => {
  // Left: header 0, index 20 then all codes 3 (up); right: header 0, index 20 then codes 0xB (down).
  const block = new Uint8Array(imaBlockSize(2, 9));
  block.set([0, 0, 20, 0, 0, 0, 20, 0]);
  block.fill(0x33, 8, 12);
  block.fill(0xbb, 12, 16);
  const out = new Int16Array(18);
  assert.equal(decodeImaAdpcm(block, 2, 9, out), 18);
  for (let i = 1; i < 9; i++) {
    assert.ok(out[2 * i] > out[2 * (i - 1)], 'left rises');
    assert.ok(out[2 * i + 1] < out[2 * (i - 1) + 1], 'right falls');
    assert.equal(out[2 * i], -out[2 * i + 1], 'mirror images');
  }
});

test('IMA ADPCM: clamps at 16 bits and at step index 88', () => {
  const block = new Uint8Array(imaBlockSize(1, 65));
  block.set([0xff, 0x7f, 88, 0]); // 32767, the largest step
  block.fill(0x77, 4); // always up
  const out = new Int16Array(65);
  decodeImaAdpcm(block, 1, 65, out);
  assert.ok(out.every((v) => v === 32767));
  block.set([0x00, 0x80, 88, 0]);
  block.fill(0xff, 4); // always down
  decodeImaAdpcm(block, 1, 65, out);
  assert.ok(out.every((v) => v === -32768));
});

test('decodeFrame refuses what the C++ decoder refuses', () => {
  const out = new Int16Array(320);
  const block = new Uint8Array(164);
  assert.equal(decodeFrame(Codec.IMA_ADPCM, 1, 320, block, out), 320);
  block[2] = 89;
  assert.equal(decodeFrame(Codec.IMA_ADPCM, 1, 320, block, out), DecodeError.INVALID_VALUE);
  assert.equal(decodeFrame(Codec.IMA_ADPCM, 1, 320, block.subarray(1), out), DecodeError.PAYLOAD_SIZE_MISMATCH);
  assert.equal(decodeFrame(Codec.PCM16, 1, 320, new Uint8Array(640), out.subarray(0, 319)), DecodeError.BUFFER_TOO_SMALL);
  assert.equal(decodeFrame(7, 1, 320, new Uint8Array(640), out), DecodeError.INVALID_VALUE);
  assert.equal(decodeFrame(Codec.MULAW, 3, 10, new Uint8Array(30), out), DecodeError.INVALID_VALUE);
});

test('micstream-codec decodes the vectors to the same samples', withTool, () => {
  const tool = codecTool.path();
  const block = docVector('ima-adpcm');
  const ima = decodeWithTool(tool, makeWav({ format: 0x11, data: block, blockAlign: 12, samplesPerBlock: 17, frames: 17 }));
  assert.deepEqual(Array.from(ima), IMA_DECODED);
  const mu = decodeWithTool(tool, makeWav({ format: 7, data: docVector('mulaw'), frames: 8 }));
  assert.deepEqual(Array.from(mu), MULAW_DECODED);
});

test('micstream-codec and this decoder agree on random IMA ADPCM blocks, mono and stereo', withTool, () => {
  const tool = codecTool.path();
  let seed = 12345;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
  for (const channels of [1, 2]) {
    const samples = 505;
    const align = imaBlockSize(channels, samples);
    const blocks = 8;
    const data = new Uint8Array(align * blocks);
    for (let i = 0; i < data.length; i++) data[i] = random();
    for (let b = 0; b < blocks; b++) {
      for (let c = 0; c < channels; c++) {
        data[b * align + 4 * c + 2] = random() % 89; // a valid step index
        data[b * align + 4 * c + 3] = 0;
      }
    }
    const expected = decodeWithTool(tool, makeWav({ format: 0x11, channels, data, blockAlign: align, samplesPerBlock: samples, frames: samples * blocks }));
    const out = new Int16Array(samples * channels);
    for (let b = 0; b < blocks; b++) {
      assert.equal(decodeImaAdpcm(data.subarray(b * align, (b + 1) * align), channels, samples, out), samples * channels);
      assert.deepEqual(Array.from(out), Array.from(expected.subarray(b * samples * channels, (b + 1) * samples * channels)),
        `block ${b}, ${channels} channel(s)`);
    }
  }
});

test('micstream-codec and this decoder agree on all 256 mu-law codes', withTool, () => {
  const tool = codecTool.path();
  const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const expected = decodeWithTool(tool, makeWav({ format: 7, data: codes, frames: 256 }));
  const out = new Int16Array(256);
  decodeMulaw(codes, out);
  assert.deepEqual(Array.from(out), Array.from(expected));
});
