// The audio worklet: one processor a listened device, rendering the device's
// audio at the AudioContext's rate through PlayerProcessor
// (player-processor.js: the ring, PlayerCore, statistics, tap; the messages
// it takes and sends).

import { PlayerProcessor } from './player-processor.js';

class MicstreamPlayerProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.player = new PlayerProcessor((message) => this.port.postMessage(message), sampleRate);
    this.port.onmessage = (e) => this.player.onMessage(e.data);
    const config = options && options.processorOptions && options.processorOptions.config;
    if (config) this.player.configure(config);
  }

  process(inputs, outputs) {
    return this.player.process(outputs[0], currentFrame);
  }
}

registerProcessor('micstream-player', MicstreamPlayerProcessor);
