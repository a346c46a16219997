// An AudioWorkletGlobalScope in Node, enough to run web/player-worklet.js:
// AudioWorkletProcessor (with its port), registerProcessor, sampleRate and
// currentTime as globals. loadProcessor() imports the worklet module once and
// returns its registered class.

const registered = new Map();
let pendingPort = null;

export function installWorkletScope(sampleRate = 48000) {
  if (!globalThis.AudioWorkletProcessor) {
    globalThis.AudioWorkletProcessor = class AudioWorkletProcessor {
      constructor() {
        this.port = pendingPort;
        pendingPort = null;
      }
    };
    globalThis.registerProcessor = (name, cls) => registered.set(name, cls);
    globalThis.currentTime = 0;
    globalThis.currentFrame = 0;
  }
  globalThis.sampleRate = sampleRate;
  globalThis.currentFrame = 0;
}

export async function loadProcessor(sampleRate = 48000, name = 'micstream-player') {
  installWorkletScope(sampleRate);
  if (!registered.has(name)) await import('../../../web/player-worklet.js');
  return registered.get(name);
}

/**
 * Instantiates a processor as an AudioWorkletNode would: `port` is the
 * processor's end of the node's MessageChannel.
 */
export function createProcessor(cls, port, options = {}) {
  pendingPort = port;
  return new cls(options);
}

const NO_INPUTS = [];
const NO_PARAMETERS = {};
const wrapped = new WeakMap(); // outputs → [outputs], made once (the loop must not allocate)

/**
 * Renders one quantum: sets currentFrame (and currentTime, unless
 * `exactTimeOnly`: storing a double in a global allocates), calls process().
 * outputs: one Float32Array a channel.
 */
export function renderQuantum(processor, outputs, frame, sampleRate, frameOnly = false) {
  globalThis.currentFrame = frame;
  if (!frameOnly) globalThis.currentTime = frame / sampleRate;
  let list = wrapped.get(outputs);
  if (!list) wrapped.set(outputs, (list = [outputs]));
  return processor.process(NO_INPUTS, list, NO_PARAMETERS);
}
