// A Web Audio stand-in for Node, enough for web/player.js and the page's
// web/audio-output.js: an AudioContext whose clock is the wall clock,
// rendering every AudioWorkletNode's processor (the real player-worklet.js,
// in the emulated worklet scope of worklet-scope.js) one quantum at a time as
// real time passes, over real MessageChannels. No sound card: output latency 0.
//
// Unlike a browser's audio thread, this clock shares Node's one thread with
// the WebSocket it is fed from: when that thread stalls (a GC, a loaded
// machine), the rendering due meanwhile runs at once, before the frames that
// arrived meanwhile are read. Such stalls are recorded, so a test can tell an
// underrun of its own harness from one of the code under test
// (assertNoUnderrunOfItsOwn).
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { createProcessor, loadProcessor, renderQuantum } from './worklet-scope.js';

const QUANTUM = 128;
// A render tick later than this (the timer runs every 2 ms) is a stall.
const STALL_MS = 20;
const stalls = []; // { at: performance.now(), ms }, of every context (they share the thread)

// `underruns` counted since `since` (performance.now()) are the player's
// unless this thread's clock stalled meanwhile; those are printed.
export function assertNoUnderrunOfItsOwn(underruns, since, what) {
  if (underruns === 0) return;
  const during = stalls.filter((s) => s.at >= since);
  const longest = Math.max(0, ...during.map((s) => s.ms));
  assert.ok(during.length > 0, `${what}: ${underruns} underrun(s), and the test's own thread never stalled`);
  console.log(`# ${what}: ${underruns} underrun(s) during ${during.length} stall(s) of the test's own thread ` +
    `(longest ${longest.toFixed(0)} ms): the harness's, not the player's`);
}
// Node's own timers, whatever a page under test makes of the globals later.
const nodeSetTimeout = globalThis.setTimeout;
const nodeSetInterval = globalThis.setInterval;
const nodeClearInterval = globalThis.clearInterval;

function node(ctx, extra = {}) {
  return {
    context: ctx,
    connect(target) {
      return target;
    },
    disconnect() {},
    ...extra,
  };
}

export class FakeAudioContext {
  constructor({ sampleRate = 48000 } = {}) {
    this.sampleRate = sampleRate;
    this.state = 'suspended';
    this.baseLatency = 128 / sampleRate;
    this.outputLatency = 0;
    this.frames = 0;
    this.nodes = new Set();
    this.listeners = new Map();
    this.destination = node(this);
    this.processorClass = null;
    this.timer = null;
    this.lastTick = null;
    this.audioWorklet = {
      addModule: async () => {
        this.processorClass = await loadProcessor(sampleRate);
      },
    };
  }

  get currentTime() {
    return this.frames / this.sampleRate;
  }

  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
  }

  setState(state) {
    this.state = state;
    for (const fn of this.listeners.get('statechange') || []) fn();
  }

  resume() {
    if (this.state === 'closed') return Promise.reject(new Error('closed'));
    if (!this.timer) {
      const origin = performance.now() - (this.frames / this.sampleRate) * 1000;
      this.timer = nodeSetInterval(() => this.renderDue(origin), 2);
    }
    this.setState('running');
    return Promise.resolve();
  }

  suspend() {
    nodeClearInterval(this.timer);
    this.timer = null;
    this.lastTick = null;
    this.setState('suspended');
    return Promise.resolve();
  }

  close() {
    this.suspend();
    for (const n of this.nodes) n.disconnect();
    this.setState('closed');
    return Promise.resolve();
  }

  renderDue(origin) {
    const now = performance.now();
    if (this.lastTick !== null && now - this.lastTick > STALL_MS) stalls.push({ at: now, ms: now - this.lastTick });
    this.lastTick = now;
    const due = Math.floor((((performance.now() - origin) / 1000) * this.sampleRate) / QUANTUM) * QUANTUM;
    while (this.frames < due) {
      for (const n of this.nodes) n.render(this.frames);
      this.frames += QUANTUM;
    }
  }

  getOutputTimestamp() {
    return { contextTime: this.currentTime, performanceTime: performance.now() };
  }

  createGain() {
    const gain = { value: 1, setTargetAtTime(v) { this.value = v; } };
    return node(this, { gain });
  }

  createAnalyser() {
    return node(this, {
      fftSize: 2048,
      frequencyBinCount: 1024,
      smoothingTimeConstant: 0.8,
      minDecibels: -100,
      maxDecibels: -30,
      getFloatTimeDomainData(a) { a.fill(0); },
      getByteFrequencyData(a) { a.fill(0); },
    });
  }

  createBuffer() {
    return {};
  }

  createBufferSource() {
    return node(this, { buffer: null, start() {} });
  }
}

export class FakeAudioWorkletNode {
  constructor(ctx, name, options = {}) {
    if (!ctx.processorClass) throw new Error(`AudioWorkletNode: no processor ${name} (addModule first)`);
    const { port1, port2 } = new MessageChannel();
    // (A forgotten node must not keep the test process alive.)
    port1.unref();
    port2.unref();
    this.context = ctx;
    this.port = port1;
    this.processorPort = port2;
    this.processor = createProcessor(ctx.processorClass, port2, options);
    this.outputs = [new Float32Array(QUANTUM), new Float32Array(QUANTUM)];
    this.alive = true;
    ctx.nodes.add(this);
  }

  render(frame) {
    if (!this.alive) return;
    this.alive = renderQuantum(this.processor, this.outputs, frame, this.context.sampleRate);
  }

  connect(target) {
    return target;
  }

  disconnect() {
    this.context.nodes.delete(this);
    // Let the last messages (e.g. 'stop') through before closing the channel.
    nodeSetTimeout(() => {
      this.port.close();
      this.processorPort.close();
    }, 20);
  }
}

/** Makes the fakes the globals web/player.js and web/audio-output.js use. */
export function installFakeAudio() {
  globalThis.AudioContext = FakeAudioContext;
  globalThis.AudioWorkletNode = FakeAudioWorkletNode;
}
