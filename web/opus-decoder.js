// Opus messages (docs/protocol.md, "Opus for listeners") decoded with
// WebCodecs' AudioDecoder, where the engine has one: WebCodecs exists only in
// a secure context (https, or localhost). A missing packet is left to the
// page's concealer as for every codec: WebCodecs has no way to ask the
// decoder for its own concealment (Chromium's AudioDecoder closes on an empty
// chunk). No DOM: it runs in the receiver worker too.

import { kMaxSamplesPerFrame, kOpusPacketSamples, kOpusSampleRate } from './protocol.js';

const MAX_PENDING = 64; // packets handed to the decoder and not back yet (1.3 s): a bound, never reached when it keeps up

/** The WebCodecs classes of this scope, or null when it has none. */
export function webCodecs(scope = globalThis) {
  if (typeof scope.AudioDecoder !== 'function' || typeof scope.EncodedAudioChunk !== 'function') return null;
  return { AudioDecoder: scope.AudioDecoder, EncodedAudioChunk: scope.EncodedAudioChunk };
}

/** Whether these WebCodecs classes decode Opus as the server sends it; false, never a rejection, when not. */
export async function canDecodeOpus(codecs = webCodecs()) {
  if (!codecs) return false;
  try {
    const configs = [1, 2].map((numberOfChannels) => ({ codec: 'opus', sampleRate: kOpusSampleRate, numberOfChannels }));
    const answers = await Promise.all(configs.map((c) => codecs.AudioDecoder.isConfigSupported(c)));
    return answers.every((a) => a.supported === true);
  } catch {
    return false;
  }
}

/**
 * Decodes parsed Opus messages in order; each decoded packet comes back
 * through onDecoded(frame, samples, arrivalUs) with the message's fields and
 * its audio as interleaved floats (reused: consume them before returning).
 */
export class OpusFrameDecoder {
  constructor({ codecs = webCodecs(), onDecoded, onError }) {
    this.codecs = codecs;
    this.onDecoded = onDecoded;
    this.onError = onError;
    this.decoder = null;
    this.channels = 0;
    this.pending = []; // {frame, timestamp, arrivalUs} in decode order
    this.planes = [new Float32Array(kOpusPacketSamples), new Float32Array(kOpusPacketSamples)];
    this.samples = new Float32Array(kMaxSamplesPerFrame);
  }

  decode(frame, arrivalUs) {
    if (!this.codecs) {
      this.onError('this browser cannot decode Opus (no WebCodecs here: it needs https or localhost)');
      return;
    }
    if (!this.decoder || this.decoder.state === 'closed' || frame.channels !== this.channels) this.open(frame.channels);
    const timestamp = Math.round((frame.firstSample * 1e6) / kOpusSampleRate);
    this.pending.push({ frame, timestamp, arrivalUs });
    if (this.pending.length > MAX_PENDING) this.pending.shift();
    try {
      this.decoder.decode(new this.codecs.EncodedAudioChunk({ type: 'key', timestamp, data: frame.payload }));
    } catch (e) {
      this.fail(e);
    }
  }

  /** Forgets the stream: the next packet starts a new decoder (a new encoder at the server). */
  reset() {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
    this.pending = [];
  }

  open(channels) {
    this.reset();
    this.channels = channels;
    this.decoder = new this.codecs.AudioDecoder({ output: (data) => this.output(data), error: (e) => this.fail(e) });
    this.decoder.configure({ codec: 'opus', sampleRate: kOpusSampleRate, numberOfChannels: channels });
  }

  fail(e) {
    this.pending = [];
    this.onError(`Opus decoder: ${e && e.message ? e.message : e}`);
  }

  output(data) {
    // The message this came from: outputs keep the decode order.
    let entry = this.pending.shift();
    while (entry && entry.timestamp !== data.timestamp && this.pending.length > 0) entry = this.pending.shift();
    // The configured channels: WebKit hands a mono stream back as two equal ones.
    const channels = Math.min(data.numberOfChannels, this.channels);
    const frames = data.numberOfFrames;
    if (this.planes[0].length < frames) this.planes = this.planes.map(() => new Float32Array(frames));
    // Planar floats: the one conversion every engine must give (and the one WebKit's copyTo survives).
    for (let c = 0; c < channels; c++) data.copyTo(this.planes[c], { planeIndex: c, format: 'f32-planar' });
    data.close();
    if (frames * channels > this.samples.length) return;
    if (!entry) return;
    const out = this.samples;
    for (let i = 0; i < frames; i++) for (let c = 0; c < channels; c++) out[i * channels + c] = this.planes[c][i];
    this.onDecoded({ ...entry.frame, channels, sampleCount: frames }, out, entry.arrivalUs);
  }
}
