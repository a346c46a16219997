// The page itself (index.html + app.js) in jsdom, against the real server and
// a virtual device: the device list, Start Listening, playback through the
// real worklet code (fake AudioContext on the wall clock), the status line,
// window.micstreamStats, the ?tap=1 tap, mute/volume, and the stable
// selectors browser tests rely on. Over shared memory and over messages.
// Needs the server binaries (helpers/build.js: a failure under make test, a
// skip without MICSTREAM_BUILD).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { JSDOM } from 'jsdom';
import { assertNoUnderrunOfItsOwn, FakeAudioContext, FakeAudioWorkletNode } from './helpers/fake-audio.js';
import { findBinaries, sleep, TestServer, waitFor } from './helpers/server.js';
import { measureFrequency, rms } from './helpers/signal.js';
import './helpers/websocket.js';

const build = findBinaries();

const html = readFileSync(new URL('../../web/index.html', import.meta.url), 'utf8');

// A 2D context that draws nothing (jsdom has no canvas).
function fake2d(canvas) {
  return {
    canvas,
    fillStyle: '',
    fillRect() {},
    drawImage() {},
    putImageData() {},
    createLinearGradient: () => ({ addColorStop() {} }),
    createImageData: (w, h) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
  };
}

// Loads the page as a browser would run it, with the page's globals in place;
// every timer and WebSocket it makes is tracked so that unload() ends them.
async function loadPage(url, { isolated }) {
  const dom = new JSDOM(html, { url, pretendToBeVisual: true });
  const w = dom.window;
  w.HTMLCanvasElement.prototype.getContext = function getContext() {
    return fake2d(this);
  };
  const timers = new Set();
  const sockets = new Set();
  const saved = {};
  const NodeWebSocket = globalThis.WebSocket;
  const nodeSetInterval = globalThis.setInterval;
  const nodeSetTimeout = globalThis.setTimeout;
  let disposed = false;
  const globals = {
    window: w,
    document: w.document,
    location: w.location,
    localStorage: w.localStorage,
    navigator: w.navigator,
    requestAnimationFrame: (fn) => w.requestAnimationFrame(fn),
    crossOriginIsolated: isolated,
    AudioContext: FakeAudioContext,
    AudioWorkletNode: FakeAudioWorkletNode,
    setInterval: (fn, ms) => {
      const t = nodeSetInterval.call(globalThis, fn, ms);
      timers.add(t);
      return t;
    },
    // Timeouts too (the connections' pings and retries), and none once unloaded.
    setTimeout: (fn, ms, ...args) => {
      if (disposed) return nodeSetTimeout.call(globalThis, () => {}, 0);
      const t = nodeSetTimeout.call(globalThis, fn, ms, ...args);
      timers.add(t);
      return t;
    },
    WebSocket: class extends NodeWebSocket {
      constructor(...args) {
        if (disposed) throw new Error('the page is unloaded');
        super(...args);
        sockets.add(this);
      }
    },
  };
  for (const name of ['window', 'document', 'location', 'localStorage', 'navigator', 'requestAnimationFrame',
    'crossOriginIsolated', 'AudioContext', 'AudioWorkletNode', 'setInterval', 'setTimeout', 'WebSocket']) {
    saved[name] = Object.getOwnPropertyDescriptor(globalThis, name);
  }
  for (const [name, value] of Object.entries(globals)) {
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  // A fresh instance of app.js for this page (its imports are shared, and stateless).
  await import(`../../web/app.js?page=${Math.random()}`);
  const $ = (s) => w.document.querySelector(s);
  return {
    window: w,
    $,
    stats: () => w.micstreamStats,
    async unload() {
      try {
        w.micstream.stop();
        await w.micstream.context?.close();
      } catch {
        // nothing was started
      }
      w.dispatchEvent(new w.Event('pagehide')); // the page closes its connections
      disposed = true;
      for (const t of timers) clearTimeout(t); // (clears intervals too)
      for (const s of sockets) s.close();
      w.close();
      for (const [name, descriptor] of Object.entries(saved)) {
        if (descriptor) Object.defineProperty(globalThis, name, descriptor);
        else delete globalThis[name];
      }
      await sleep(50);
    },
  };
}

describe('the page', { skip: build.skip }, () => {
  let server;
  before(async () => {
    server = await new TestServer(build.binaries()).start();
    server.startDevice('tone-440');
    server.startDevice('tone-1000', { tone: 1000, codec: 'mulaw' });
  });
  after(async () => server?.stopAll());

  for (const isolated of [true, false]) {
    test(`Start Listening plays the first device (${isolated ? 'shared memory' : 'messages'})`, async () => {
      const since = performance.now();
      const page = await loadPage(`${server.httpUrl}/?tap=1`, { isolated });
      const { $, stats } = page;
      try {
        // The device list arrives before anything is started (the lobby connection).
        await waitFor('both devices listed', () => $('li.device[data-device-id="tone-440"]') && $('li.device[data-device-id="tone-1000"]'));
        assert.equal($('#devices').children.length, 2);
        const card = $('li.device[data-device-id="tone-440"]');
        assert.equal(card.dataset.online, 'true');
        assert.match(card.querySelector('.format').textContent, /ima-adpcm · 16 kHz · mono/);
        assert.equal(card.dataset.listening, 'false');
        await waitFor('the server status', () => $('#server-status').dataset.state === 'open');
        assert.equal($('#start').hidden, false);

        $('#start').click();
        assert.equal(stats().transport, isolated ? 'shared-memory' : 'messages');
        // Nothing selected: the first online device (by id) is taken.
        await waitFor('tone-1000 playing', () => stats().devices['tone-1000']?.state === 'playing', 8000);
        assert.equal($('li.device[data-device-id="tone-1000"]').dataset.listening, 'true');
        assert.equal($('li.device[data-device-id="tone-1000"] .listen-toggle').checked, true);
        assert.equal(stats().devices['tone-440'].listening, false);
        assert.equal($('#start').hidden, true);
        assert.equal($('#stop').hidden, false);

        // A second device, by its checkbox.
        const toggle = card.querySelector('.listen-toggle');
        toggle.checked = true;
        toggle.dispatchEvent(new page.window.Event('change'));
        await waitFor('tone-440 playing', () => stats().devices['tone-440']?.state === 'playing', 8000);
        await sleep(3000);

        for (const [id, f] of [['tone-440', 440], ['tone-1000', 1000]]) {
          const d = stats().devices[id];
          assert.equal(d.connection, 'open');
          assert.ok(d.latencyMs.samples > 10 && d.latencyMs.p50 > 20 && d.latencyMs.p50 < 200, `${id}: ${JSON.stringify(d.latencyMs)}`);
          assert.ok(d.latencyMs.p99 >= d.latencyMs.p50);
          assertNoUnderrunOfItsOwn(d.underruns, since, id);
          assert.equal(d.lostFrames, 0, id);
          assert.ok(d.bufferMs > 0 && d.targetMs > 0, `${id}: buffer ${d.bufferMs} / ${d.targetMs}`);
          assert.ok(Number.isFinite(d.clockOffsetMs) && Math.abs(d.clockOffsetMs) < 5, `${id}: offset ${d.clockOffsetMs}`);
          const status = $(`li.device[data-device-id="${id}"] .status`);
          assert.equal(status.dataset.state, 'playing');
          assert.match(status.textContent, /^playing · latency \d+ ms \(p99 \d+ ms\) · buffer \d+ ms/);
          const { samples, sampleRate } = await page.window.micstream.readTap(id, 1);
          assert.equal(sampleRate, 48000);
          assert.ok(rms(samples) > 0.05, `${id} is audible`);
          const measured = measureFrequency(samples, sampleRate, f);
          assert.ok(Math.abs(measured - f) < f * 0.0045, `${id}: ${measured} Hz`);
        }

        // Mute and volume reach the gain node; the tap (before the volume) still plays.
        $('li.device[data-device-id="tone-440"] .mute').click();
        assert.equal($('li.device[data-device-id="tone-440"] .mute').getAttribute('aria-pressed'), 'true');
        page.window.micstream.setVolume('tone-1000', 0.5);
        await sleep(250); // micstreamStats refreshes every 100 ms
        assert.equal(stats().devices['tone-440'].muted, true);
        assert.equal(stats().devices['tone-1000'].volume, 0.5);

        // Stop: connections closed, the lobby back.
        $('#stop').click();
        await sleep(200);
        assert.equal(stats().started, false);
        assert.equal(stats().devices['tone-440'].connection, 'closed');
        assert.equal($('#start').hidden, false);
      } finally {
        await page.unload();
      }
    });
  }
});
