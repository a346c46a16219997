// Where the browser has no AudioWorklet (it needs a secure context: https, or
// localhost; a page served over plain http to a phone on the LAN is neither),
// the same PlayerProcessor runs in a ScriptProcessorNode on the main thread:
// it plays, with a longer output buffer and the main thread's hiccups. The
// object stands in for the AudioWorkletNode in player.js: connect,
// disconnect, and a `port` that delivers messages in both directions at once.

import { PlayerProcessor } from './player-processor.js';

const QUANTUM = 128;
const BUFFER_FRAMES = 1024; // the main thread must run every 21–23 ms: smaller ones glitch

class LocalPort {
  constructor() {
    this.onmessage = null; // the page's handler
    this.processor = null;
  }

  /** Page → processor. (The transfer list does not matter on one thread.) */
  postMessage(message) {
    if (this.processor) this.processor.onMessage(message);
  }

  /** Processor → page. */
  deliver(message) {
    if (this.onmessage) this.onmessage({ data: message });
  }
}

export class ScriptPlayerNode {
  constructor(ctx) {
    this.context = ctx;
    this.node = ctx.createScriptProcessor(BUFFER_FRAMES, 0, 2);
    this.port = new LocalPort();
    this.processor = new PlayerProcessor((message) => this.port.deliver(message), ctx.sampleRate);
    this.port.processor = this.processor;
    this.chunk = [new Float32Array(QUANTUM), new Float32Array(QUANTUM)];
    this.node.onaudioprocess = (e) => this.render(e.outputBuffer, e.playbackTime);
  }

  /** Fills the output buffer a render quantum at a time, as the worklet would be called. */
  render(buffer, playbackTime) {
    const left = buffer.getChannelData(0);
    const right = buffer.getChannelData(1);
    const first = Math.round(playbackTime * this.context.sampleRate);
    const chunk = this.chunk;
    for (let offset = 0; offset < buffer.length; offset += QUANTUM) {
      chunk[0].fill(0);
      chunk[1].fill(0);
      if (!this.processor.process(chunk, first + offset)) {
        left.fill(0, offset);
        right.fill(0, offset);
        return;
      }
      left.set(chunk[0], offset);
      right.set(chunk[1], offset);
    }
  }

  connect(destination) {
    return this.node.connect(destination);
  }

  disconnect() {
    this.node.onaudioprocess = null;
    this.node.disconnect();
  }
}
