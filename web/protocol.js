// The bytes of docs/protocol.md that the page reads: the listener WebSocket's
// binary audio message ("The listener WebSocket", its Opus kind too), and, for the tests, the
// device link's AUDIO frame (whose test vector the document gives).

import { encodedSize } from './codecs.js';

export const kAudioMessageHeaderSize = 32;
export const kAudioMessageKind = 1;
// The device link's limits (core/include/micstream/protocol.h), which the
// server's messages keep to.
export const kMinSampleRate = 8000;
export const kMaxSampleRate = 48000;
export const kMaxSamplesPerFrame = 8180; // samples a channel × channels
// Opus messages (docs/protocol.md, "Opus for listeners"): one 20 ms packet at
// 48 kHz; RFC 6716 bounds a packet of one frame at 1,276 bytes.
export const kOpusCodec = 4;
export const kOpusSampleRate = 48000;
export const kOpusPacketSamples = 960;
export const kMaxOpusPacketBytes = 1276;

function opusLimits(channels, sampleRate, sampleCount, payloadSize) {
  if (!(channels >= 1 && channels <= 2) || sampleRate !== kOpusSampleRate || sampleCount !== kOpusPacketSamples) {
    return `bad Opus header: ${channels} channels, ${sampleRate} Hz, ${sampleCount} samples`;
  }
  if (payloadSize < 1 || payloadSize > kMaxOpusPacketBytes) return `Opus packet of ${payloadSize} bytes`;
  return '';
}

/**
 * Parses one binary WebSocket message (an ArrayBuffer, or a view of one).
 * @returns {{codec, channels, sequence, firstSample, captureUs, sampleRate, sampleCount, payload: Uint8Array}}
 *          or a string saying what is wrong with it.
 */
export function parseAudioMessage(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length < kAudioMessageHeaderSize) return `audio message of ${bytes.length} bytes is shorter than its header`;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const kind = v.getUint8(0);
  if (kind !== kAudioMessageKind) return `unknown binary message kind ${kind}`;
  const codec = v.getUint8(1);
  const channels = v.getUint8(2);
  const sampleRate = v.getUint32(24, true);
  const sampleCount = v.getUint16(28, true);
  if (v.getUint8(3) !== 0 || v.getUint16(30, true) !== 0) return 'reserved bytes of an audio message are not 0';
  const payload = bytes.subarray(kAudioMessageHeaderSize);
  if (codec === kOpusCodec) {
    const wrong = opusLimits(channels, sampleRate, sampleCount, payload.length);
    if (wrong) return wrong;
  } else {
    const size = encodedSize(codec, channels, sampleCount);
    if (size === 0 || sampleCount * channels > kMaxSamplesPerFrame) {
      return `bad audio header: codec ${codec}, ${channels} channels, ${sampleCount} samples`;
    }
    if (payload.length !== size) return `audio payload of ${payload.length} bytes, expected ${size}`;
    if (sampleRate < kMinSampleRate || sampleRate > kMaxSampleRate) return `bad sample rate ${sampleRate}`;
  }
  return {
    codec,
    channels,
    sequence: v.getUint32(4, true),
    // Both fit a double exactly: sample indices stay below 2^53 for millennia,
    // and Unix microseconds are about 2^51 today.
    firstSample: Number(v.getBigUint64(8, true)),
    captureUs: Number(v.getBigInt64(16, true)),
    sampleRate,
    sampleCount,
    payload,
  };
}

/** Builds a listener audio message (the server's build_audio_frame, for tests and tools). */
export function buildAudioMessage({ codec, channels, sequence, firstSample, captureUs, sampleRate, sampleCount, payload }) {
  const bytes = new Uint8Array(kAudioMessageHeaderSize + payload.length);
  const v = new DataView(bytes.buffer);
  v.setUint8(0, kAudioMessageKind);
  v.setUint8(1, codec);
  v.setUint8(2, channels);
  v.setUint32(4, sequence >>> 0, true);
  v.setBigUint64(8, BigInt(firstSample), true);
  v.setBigInt64(16, BigInt(Math.round(captureUs)), true);
  v.setUint32(24, sampleRate, true);
  v.setUint16(28, sampleCount, true);
  bytes.set(payload, kAudioMessageHeaderSize);
  return bytes;
}

/**
 * Parses a device link AUDIO frame (8-byte frame header + 24-byte audio
 * header + payload): what the "vector:audio" of docs/protocol.md holds.
 */
export function parseLinkAudioFrame(bytes) {
  if (bytes.length < 8 + 24) return 'too short';
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (bytes[0] !== 0x4d || bytes[1] !== 0x53) return 'bad magic';
  if (bytes[2] !== 1) return 'unsupported version';
  if (bytes[3] !== 3) return `frame type ${bytes[3]} is not AUDIO`;
  const length = v.getUint32(4, true);
  if (length !== bytes.length - 8) return 'length does not match';
  const codec = v.getUint8(8 + 20);
  const channels = v.getUint8(8 + 21);
  const sampleCount = v.getUint16(8 + 22, true);
  const payload = bytes.subarray(8 + 24);
  if (payload.length !== encodedSize(codec, channels, sampleCount)) return 'payload size mismatch';
  return {
    sequence: v.getUint32(8, true),
    firstSample: Number(v.getBigUint64(8 + 4, true)),
    captureUs: Number(v.getBigUint64(8 + 12, true)),
    codec,
    channels,
    sampleCount,
    payload,
  };
}
