// Minimal WAV writing and reading, to hand our vectors to micstream-codec
// (which reads the container through libsndfile and decodes with the C++ codecs).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findBuilt } from './build.js';
import { repoRoot } from './doc-vectors.js';

/**
 * micstream-codec: the one MICSTREAM_CODEC names, or one of a build
 * (helpers/build.js: a skip without MICSTREAM_BUILD, a failure under make
 * test). {skip, path()}.
 */
export function findCodecTool() {
  const named = process.env.MICSTREAM_CODEC && resolve(repoRoot, process.env.MICSTREAM_CODEC);
  if (named) return { skip: false, path: () => (existsSync(named) ? named : assert.fail(`MICSTREAM_CODEC: ${named} does not exist`)) };
  const built = findBuilt(['tools/micstream-codec'], 'cmake --build build/dev --target micstream-codec');
  return { skip: built.skip, path: () => built.paths()[0] };
}

function chunk(id, body) {
  const head = new Uint8Array(8);
  head.set([...id].map((c) => c.charCodeAt(0)));
  new DataView(head.buffer).setUint32(4, body.length, true);
  const pad = body.length % 2 ? new Uint8Array(1) : new Uint8Array(0);
  return [head, body, pad];
}

/**
 * A WAV file of already encoded data. format: 1 PCM16, 7 mu-law, 0x11 IMA ADPCM.
 * For IMA ADPCM, blockAlign and samplesPerBlock describe one block.
 */
export function makeWav({ format, channels = 1, rate = 16000, data, blockAlign, samplesPerBlock, frames }) {
  const bits = format === 1 ? 16 : format === 7 ? 8 : 4;
  const align = blockAlign ?? (channels * bits) / 8;
  const fmt = new Uint8Array(format === 0x11 ? 20 : format === 7 ? 18 : 16);
  const f = new DataView(fmt.buffer);
  f.setUint16(0, format, true);
  f.setUint16(2, channels, true);
  f.setUint32(4, rate, true);
  f.setUint32(8, format === 0x11 ? Math.floor((rate * align) / samplesPerBlock) : rate * align, true);
  f.setUint16(12, align, true);
  f.setUint16(14, bits, true);
  if (format === 0x11) {
    f.setUint16(16, 2, true); // cbSize
    f.setUint16(18, samplesPerBlock, true);
  }
  const parts = [...chunk('fmt ', fmt)];
  if (format !== 1) {
    // Non-PCM formats carry a fact chunk: samples a channel.
    const fact = new Uint8Array(4);
    new DataView(fact.buffer).setUint32(0, frames, true);
    parts.push(...chunk('fact', fact));
  }
  parts.push(...chunk('data', data));
  const size = parts.reduce((n, p) => n + p.length, 4);
  const riff = new Uint8Array(12);
  riff.set([...'RIFF'].map((c) => c.charCodeAt(0)));
  new DataView(riff.buffer).setUint32(4, size, true);
  riff.set([...'WAVE'].map((c) => c.charCodeAt(0)), 8);
  const out = new Uint8Array(12 + size - 4);
  let o = 0;
  for (const p of [riff, ...parts]) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The PCM16 samples of a PCM WAV file. */
export function readPcm16Wav(bytes) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let o = 12;
  let channels = 1;
  while (o + 8 <= bytes.length) {
    const id = String.fromCharCode(...bytes.subarray(o, o + 4));
    const size = v.getUint32(o + 4, true);
    if (id === 'fmt ') {
      if (v.getUint16(o + 8, true) !== 1 || v.getUint16(o + 22, true) !== 16) throw new Error('not PCM16');
      channels = v.getUint16(o + 10, true);
    }
    if (id === 'data') {
      const n = size / 2;
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) out[i] = v.getInt16(o + 8 + 2 * i, true);
      return { channels, samples: out };
    }
    o += 8 + size + (size % 2);
  }
  throw new Error('no data chunk');
}

/** Decodes a WAV file with micstream-codec (the C++ decoders): Int16Array of interleaved samples. */
export function decodeWithTool(tool, wavBytes) {
  const dir = mkdtempSync(join(tmpdir(), 'micstream-web-'));
  try {
    writeFileSync(join(dir, 'in.wav'), wavBytes);
    execFileSync(tool, ['decode', join(dir, 'in.wav'), join(dir, 'out.wav')], { stdio: 'pipe' });
    return readPcm16Wav(readFileSync(join(dir, 'out.wav'))).samples;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
