// The three codecs of docs/protocol.md ("Codecs"), decoders only: what the
// page needs. Each decoder is bit-exact with core/src/<codec>.cpp and is checked
// against the document's test vectors by tests/web/codecs.test.js.
//
// Plain module: imported by the page, the audio worklet and Node's tests.
// Decoding allocates nothing; the caller owns the output arrays.

export const Codec = Object.freeze({ PCM16: 1, MULAW: 2, IMA_ADPCM: 3 });

const NAMES = ['', 'pcm16', 'mulaw', 'ima-adpcm'];

/** "pcm16" | "mulaw" | "ima-adpcm" for a codec id, or "" when it names none. */
export function codecName(id) {
  return NAMES[id] ?? '';
}

/** The codec id for a name from codecName(), or 0. */
export function codecFromName(name) {
  const i = NAMES.indexOf(name);
  return i > 0 ? i : 0;
}

export const kMaxChannels = 2;

/** Decode errors, returned as negative numbers (never thrown: the caller counts them). */
export const DecodeError = Object.freeze({
  INVALID_VALUE: -1, // bad codec, channels, sample count, or an ADPCM step index above 88
  PAYLOAD_SIZE_MISMATCH: -2, // the payload is not exactly encodedSize() bytes
  BUFFER_TOO_SMALL: -3, // out cannot hold samples * channels values
});

/** Bytes of one frame of `samples` samples a channel; 0 when the arguments are invalid. */
export function encodedSize(codec, channels, samples) {
  if (!(channels >= 1 && channels <= kMaxChannels) || !(samples >= 1) || !Number.isInteger(samples)) return 0;
  switch (codec) {
    case Codec.PCM16: return 2 * channels * samples;
    case Codec.MULAW: return channels * samples;
    case Codec.IMA_ADPCM: return imaBlockSize(channels, samples);
    default: return 0;
  }
}

// ---------------------------------------------------------------- PCM16

/** Little-endian i16 → out[0..n). bytes: Uint8Array of 2n bytes. */
export function decodePcm16(bytes, out) {
  const n = bytes.length >> 1;
  for (let i = 0; i < n; i++) {
    const v = bytes[2 * i] | (bytes[2 * i + 1] << 8);
    out[i] = (v << 16) >> 16; // sign-extend 16 → 32 bits
  }
  return n;
}

// ---------------------------------------------------------------- G.711 mu-law

const MULAW_BIAS = 0x84;

/** One G.711 mu-law code → a 16-bit sample (the formula of core/src/mulaw.cpp). */
export function mulawDecodeSample(code) {
  const u = ~code & 0xff;
  let t = ((u & 0x0f) << 3) + MULAW_BIAS;
  t <<= (u & 0x70) >> 4;
  return (u & 0x80) ? MULAW_BIAS - t : t - MULAW_BIAS;
}

const MULAW_TABLE = new Int16Array(256);
for (let c = 0; c < 256; c++) MULAW_TABLE[c] = mulawDecodeSample(c);

export function decodeMulaw(bytes, out) {
  const n = bytes.length;
  for (let i = 0; i < n; i++) out[i] = MULAW_TABLE[bytes[i]];
  return n;
}

// ---------------------------------------------------------------- IMA ADPCM (WAV 0x11 blocks)

export const kMaxStepIndex = 88;

const STEP_TABLE = new Int16Array([
  7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28,
  31, 34, 37, 41, 45, 50, 55, 60, 66, 73, 80, 88, 97, 107, 118,
  130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449, 494,
  544, 598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066,
  2272, 2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630,
  9493, 10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794, 32767,
]);
const INDEX_ADJUST = new Int8Array([-1, -1, -1, -1, 2, 4, 6, 8]);

/** Bytes of one block: channels × (4 + 4 × ceil((samples − 1) / 8)). */
export function imaBlockSize(channels, samples) {
  if (!(channels >= 1 && channels <= kMaxChannels) || !(samples >= 1)) return 0;
  return channels * (4 + 4 * Math.ceil((samples - 1) / 8));
}

// Per-channel decoder state, reused from call to call (no allocation per frame).
const predictors = new Int32Array(kMaxChannels);
const indices = new Int32Array(kMaxChannels);

/**
 * Decodes one WAV 0x11 block into interleaved samples.
 * @param {Uint8Array} block exactly imaBlockSize(channels, samples) bytes
 * @returns samples written (samples × channels) or a negative DecodeError
 */
export function decodeImaAdpcm(block, channels, samples, out) {
  const size = imaBlockSize(channels, samples);
  if (size === 0) return DecodeError.INVALID_VALUE;
  if (block.length !== size) return DecodeError.PAYLOAD_SIZE_MISMATCH;
  if (out.length < samples * channels) return DecodeError.BUFFER_TOO_SMALL;
  for (let c = 0; c < channels; c++) {
    const h = 4 * c;
    if (block[h + 2] > kMaxStepIndex) return DecodeError.INVALID_VALUE;
    predictors[c] = ((block[h] | (block[h + 1] << 8)) << 16) >> 16;
    indices[c] = block[h + 2];
    out[c] = predictors[c];
  }
  let p = 4 * channels;
  const groups = Math.ceil((samples - 1) / 8);
  for (let g = 0; g < groups; g++) {
    const first = 1 + 8 * g;
    for (let c = 0; c < channels; c++) {
      let predictor = predictors[c];
      let index = indices[c];
      for (let b = 0; b < 4; b++) {
        const byte = block[p++];
        for (let half = 0; half < 2; half++) {
          const i = first + 2 * b + half;
          if (i >= samples) break;
          const code = (byte >> (4 * half)) & 0x0f;
          // The IMA reference's shift form: each shift truncates on its own.
          const step = STEP_TABLE[index];
          let diff = step >> 3;
          if (code & 4) diff += step;
          if (code & 2) diff += step >> 1;
          if (code & 1) diff += step >> 2;
          predictor = (code & 8) ? predictor - diff : predictor + diff;
          if (predictor > 32767) predictor = 32767;
          else if (predictor < -32768) predictor = -32768;
          index += INDEX_ADJUST[code & 7];
          if (index < 0) index = 0;
          else if (index > kMaxStepIndex) index = kMaxStepIndex;
          out[i * channels + c] = predictor;
        }
      }
      predictors[c] = predictor;
      indices[c] = index;
    }
  }
  return samples * channels;
}

/**
 * Decodes one frame's payload (Uint8Array) of any codec into interleaved
 * 16-bit samples (an Int16Array, or any numeric array).
 * @returns samples written (samples × channels) or a negative DecodeError
 */
export function decodeFrame(codec, channels, samples, payload, out) {
  const size = encodedSize(codec, channels, samples);
  if (size === 0) return DecodeError.INVALID_VALUE;
  if (payload.length !== size) return DecodeError.PAYLOAD_SIZE_MISMATCH;
  if (out.length < samples * channels) return DecodeError.BUFFER_TOO_SMALL;
  switch (codec) {
    case Codec.PCM16: return decodePcm16(payload, out);
    case Codec.MULAW: return decodeMulaw(payload, out);
    default: return decodeImaAdpcm(payload, channels, samples, out);
  }
}
