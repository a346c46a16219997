// The page's background mode (web/background-player.js) in Debian's headless
// chromium against the real micstream-server and a 440 Hz virtual device:
// with ?background=1, Start Listening plays the device through an <audio>
// element fed by the server's standard HTTP stream (Ogg Opus here; MP3 where
// the element cannot play Ogg Opus), checked on what the element really
// plays (its captureStream(), recorded on a context of the test's own, which
// chromium leaves the element's own output untouched by); the server counts
// an HTTP stream listener and no WebSocket listener; the Media Session says
// the device and its pause handler ends the stream (the server counts none)
// and play brings the tone back; switching the mode while listening moves the
// device between the two paths; the choice is remembered; no console error.
//
// Run with tests/browser/run-browser-tests.sh [BUILD_DIR].

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import {
  checker,
  apiDevices,
  deviceStats,
  formatErrors,
  launchBrowser,
  pageStats,
  readTap,
  resolveBuildDir,
  scratchDir,
  startDevice,
  startServer,
  waitDeviceOnline,
  waitFor,
  waitPlaying,
  watchConsole,
} from './lib/harness.js';
import { analyseTone } from './lib/signal.js';

const TOLERANCE_HZ = 2;
const RECORD_SECONDS = 2.5;
const SETTLE_SECONDS = 0.5; // the start of a capture (the source node starting) is not judged
const DEVICE = { id: 'mic-440', tone: 440, codec: 'ima-adpcm', frameMs: 10 };
const PLAYER = `li.device[data-device-id="${DEVICE.id}"] audio[data-background-player="${DEVICE.id}"]`;
// Stopping an element (Stop, the media session's pause, a mode switch) aborts its stream request on purpose.
const ABORTED_STREAM = /^request failed: http:\/\/[^ ]*\/stream\/mic-440\.(opus|mp3)\?r=[0-9a-z-]+ \(net::ERR_ABORTED\)$/;

const env = { buildDir: null, dir: null, server: null, device: null, browser: null, page: null, console: null, failed: false };

const check = checker(env, () => (env.device ? [env.device] : []));

// Before the page's modules run: the Media Session's action handlers, as the
// page registers them (the test calls them as the lock screen would).
function recordActionHandlers() {
  window.__mediaHandlers = {};
  const ms = navigator.mediaSession;
  if (!ms) return;
  const register = ms.setActionHandler.bind(ms);
  ms.setActionHandler = (action, handler) => {
    window.__mediaHandlers[action] = handler;
    return register(action, handler);
  };
}

/**
 * What the device's <audio> element plays for `seconds`: its captureStream()
 * through a MediaStreamAudioSourceNode into a ScriptProcessorNode, on an
 * AudioContext of the test's own (the page makes none in background mode).
 */
async function recordElement(page, seconds) {
  const r = await page.evaluate(async ([selector, s]) => {
    const el = document.querySelector(selector);
    if (!el) throw new Error(`no ${selector}`);
    const stream = el.captureStream();
    if (stream.getAudioTracks().length === 0) throw new Error('the element has no audio track to capture');
    const ctx = new AudioContext();
    await ctx.resume();
    const source = ctx.createMediaStreamSource(stream);
    const recorder = ctx.createScriptProcessor(4096, 1, 1);
    const sink = ctx.createGain();
    sink.gain.value = 0; // a ScriptProcessorNode runs only when connected to the output: a silent one
    const chunks = [];
    recorder.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    source.connect(recorder);
    recorder.connect(sink);
    sink.connect(ctx.destination);
    await new Promise((resolve) => setTimeout(resolve, s * 1000));
    source.disconnect();
    recorder.disconnect();
    const rate = ctx.sampleRate;
    await ctx.close();
    const n = chunks.reduce((sum, c) => sum + c.length, 0);
    const all = new Float32Array(n);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    const bytes = new Uint8Array(all.buffer);
    let bin = '';
    for (let k = 0; k < bytes.length; k += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(k, k + 0x8000));
    return { sampleRate: rate, data: btoa(bin) };
  }, [PLAYER, seconds]);
  const buf = Buffer.from(r.data, 'base64');
  return { sampleRate: r.sampleRate, samples: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)) };
}

/** The tone, audible and whole, in what the element played (the same criteria as page.test.js's). */
function expectTone(t, what, rec, hz = DEVICE.tone) {
  const samples = rec.samples.subarray(Math.round(SETTLE_SECONDS * rec.sampleRate));
  const a = analyseTone(samples, rec.sampleRate);
  t.diagnostic(
    `${what}: dominant ${a.frequency.toFixed(2)} Hz (want ${hz} ± ${TOLERANCE_HZ}) over ${a.seconds.toFixed(2)} s at ${rec.sampleRate} Hz; ` +
      `peak ${a.peak.toFixed(3)}, ${(a.purity * 100).toFixed(2)} % of the power within 20 Hz of it, ${a.dropouts} dropouts of 20 ms`,
  );
  assert.ok(a.seconds >= 1.5, `${what}: only ${a.seconds.toFixed(2)} s recorded`);
  assert.ok(a.peak > 0.05, `${what}: the element plays (nearly) silence: peak ${a.peak}`);
  assert.ok(Math.abs(a.frequency - hz) <= TOLERANCE_HZ, `${what}: heard ${a.frequency.toFixed(2)} Hz, want ${hz} ± ${TOLERANCE_HZ} Hz`);
  assert.ok(a.purity > 0.9, `${what}: only ${(a.purity * 100).toFixed(1)} % of it is the ${hz} Hz tone`);
  assert.equal(a.dropouts, 0, `${what}: ${a.dropouts} silent 20 ms windows`);
  return a;
}

/** The device at the server (/api/devices). */
async function serverDevice() {
  return (await apiDevices(env.server)).find((d) => d.id === DEVICE.id);
}

/**
 * Waits until the server counts `streams` HTTP stream listeners and `sockets` WebSocket listeners of the
 * device (null: any; a page that listens to nothing keeps a WebSocket for the device list, which the
 * server counts as a listener of its first device).
 */
async function expectListeners(streams, sockets, timeoutMs = 5000) {
  let last = null;
  await waitFor(async () => {
    last = await serverDevice();
    return last && last.stream_listeners === streams && (sockets === null || last.listeners === sockets);
  }, {
    timeoutMs,
    what: `the server to count ${streams} stream and ${sockets ?? 'any'} WebSocket listeners of ${DEVICE.id}`,
    detail: async () => `last: stream_listeners ${last?.stream_listeners}, listeners ${last?.listeners}`,
  });
}

/** Waits until the page says the device plays in background mode, the element playing; returns its stats. */
async function waitBackgroundPlaying(page, format) {
  let last = null;
  const s = await waitFor(async () => {
    last = await deviceStats(page, DEVICE.id);
    return last && last.state === 'playing' && last.background && last.background.state === 'playing' && last.background.bufferAheadMs !== null ? last : null;
  }, { timeoutMs: 20000, what: `${DEVICE.id} playing in background mode`, detail: async () => `last stats: ${JSON.stringify(last)}` });
  assert.equal(s.mode, 'background');
  assert.equal(s.background.format, format);
  const el = page.locator(PLAYER);
  assert.match(await el.getAttribute('src'), new RegExp(`^/stream/${DEVICE.id}\\.${format}\\?r=[0-9a-z-]+$`));
  // (What captureStream() records does not depend on these: check them apart.)
  assert.deepEqual(await el.evaluate((e) => ({ paused: e.paused, muted: e.muted, audible: e.volume > 0 })), { paused: false, muted: false, audible: true });
  return s;
}

describe('background mode: the page plays through an <audio> element in chromium', { timeout: 150000 }, () => {
  before(async () => {
    env.buildDir = resolveBuildDir();
    env.dir = scratchDir();
    env.server = await startServer({ buildDir: env.buildDir, dir: env.dir });
    env.device = startDevice({ buildDir: env.buildDir, dir: env.dir, ingest: env.server.ingest, ...DEVICE });
    await waitDeviceOnline(env.server, DEVICE.id);
    env.browser = await launchBrowser({ dir: env.dir });
    env.page = env.browser.page;
    env.console = watchConsole(env.page);
    env.console.expect(ABORTED_STREAM);
    await env.page.addInitScript(recordActionHandlers);
    console.log(`# build ${env.buildDir}; server ${env.server.url} (ingest ${env.server.ingest}); logs in ${env.dir}`);
  });

  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.device) await env.device.stop('SIGTERM');
    if (env.server) await env.server.stop('SIGTERM');
    if (env.failed || process.env.MICSTREAM_KEEP_TMP) console.log(`# logs kept in ${env.dir}`);
    else if (env.dir) rmSync(env.dir, { recursive: true, force: true });
  });

  it('is off by default here (not iOS), on with ?background=1; Start plays the device\'s Ogg Opus stream', async (t) => {
    await check(async () => {
      const page = env.page;
      await page.goto(`${env.server.url}?device=${DEVICE.id}`);
      await page.locator(`[data-device-id="${DEVICE.id}"]`).waitFor({ timeout: 10000 });
      assert.equal(await page.locator('#background').isChecked(), false, 'background mode is on by default in chromium on Linux');

      await page.goto(`${env.server.url}?background=1&tap=1&device=${DEVICE.id}`);
      await page.locator(`[data-device-id="${DEVICE.id}"]`).waitFor({ timeout: 10000 });
      assert.equal(await page.locator('#background').isChecked(), true, '?background=1 did not turn it on');
      assert.equal(await page.locator(PLAYER).count(), 0, 'an element before Start');
      await page.click('#start');
      const s = await waitBackgroundPlaying(page, 'opus');
      await expectListeners(1, 0);
      const rec = await recordElement(page, RECORD_SECONDS);
      expectTone(t, 'the <audio> element (opus)', rec);

      const stats = await pageStats(page);
      assert.equal(stats.audio, null, 'the page made an AudioContext in background mode');
      assert.equal(await page.evaluate(() => window.micstream.context), null);
      assert.equal(await page.locator('#audio-status').getAttribute('data-state'), 'background');
      const status = await page.locator(`[data-device-id="${DEVICE.id}"] .status`).textContent();
      assert.match(status, /^background mode \(opus\) · about \d+\.\d s behind live \(the player's buffer, not measured end to end\)/);
      assert.ok(s.background.bufferAheadMs >= 0 && s.background.bufferAheadMs < 10000, `buffer ahead ${s.background.bufferAheadMs} ms`);
      t.diagnostic(`card: "${status}"; stats: ${JSON.stringify(s.background)}`);

      const ms = await page.evaluate(() => {
        const m = navigator.mediaSession;
        return { title: m.metadata?.title, artist: m.metadata?.artist, album: m.metadata?.album, state: m.playbackState, handlers: Object.keys(window.__mediaHandlers).sort() };
      });
      assert.equal(ms.title, DEVICE.id);
      assert.equal(ms.artist, 'micstream');
      assert.equal(ms.album, stats.server.name || '');
      assert.equal(ms.state, 'playing');
      assert.deepEqual(ms.handlers, ['pause', 'play']);
      t.diagnostic(`media session: ${JSON.stringify(ms)}`);
    });
  });

  it('the media session\'s pause ends the stream at the server; play brings the tone back, from a new request', async (t) => {
    await check(async () => {
      const page = env.page;
      const srcBefore = await page.locator(PLAYER).getAttribute('src');
      await page.evaluate(() => window.__mediaHandlers.pause({ action: 'pause' }));
      await expectListeners(0, 0, 5000);
      assert.equal(await page.evaluate(() => navigator.mediaSession.playbackState), 'paused');
      assert.equal(await page.locator(PLAYER).getAttribute('src'), null, 'a paused element keeps its source (and its old audio)');
      await waitFor(async () => (await deviceStats(page, DEVICE.id)).state === 'paused', { what: 'the card to say paused' });

      await page.evaluate(() => window.__mediaHandlers.play({ action: 'play' }));
      await waitBackgroundPlaying(page, 'opus');
      assert.notEqual(await page.locator(PLAYER).getAttribute('src'), srcBefore, 'play resumed the old request');
      assert.equal(await page.evaluate(() => navigator.mediaSession.playbackState), 'playing');
      await expectListeners(1, 0);
      expectTone(t, 'after play', await recordElement(page, RECORD_SECONDS));
    });
  });

  it('a server restart ends the stream: the card says it retries, and the tone comes back on a new request', async (t) => {
    await check(async () => {
      const page = env.page;
      const { http, ingest } = env.server;
      const before = (await deviceStats(page, DEVICE.id)).background;
      // While the server is down, refused requests (the device list's, the session's, the stream's), and
      // once it is back, before the device is: its stream refused (404: an id it does not know yet; 503: not connected yet).
      const allow = env.console.expect(/ERR_CONNECTION_REFUSED|the server responded with a status of (404|503)/);
      const stopped = await env.server.stop('SIGTERM');
      assert.equal(stopped.code, 0, `the server did not exit cleanly: ${JSON.stringify(stopped)}`);
      // The element plays out what it holds, then ends (or fails); the retries are refused until the server is back.
      let status = '';
      await waitFor(async () => {
        status = await page.locator(`[data-device-id="${DEVICE.id}"] .status`).textContent();
        return /^background mode \(opus\) · .+: retrying in \d+\.\d s$/.test(status);
      }, { timeoutMs: 15000, what: 'the card to say the stream is retried', detail: async () => `last status: "${status}"` });
      t.diagnostic(`while the server is down: "${status}"`);
      env.server = await startServer({ buildDir: env.buildDir, dir: env.dir, httpPort: http, ingestPort: ingest, name: 'server-restarted' });
      await waitDeviceOnline(env.server, DEVICE.id, 20000);
      const s = await waitBackgroundPlaying(page, 'opus');
      allow();
      assert.ok(s.background.retries > before.retries, 'no retry counted');
      await expectListeners(1, 0);
      expectTone(t, 'after the server restart', await recordElement(page, RECORD_SECONDS));
      t.diagnostic(`retries ${before.retries} → ${s.background.retries}, requests ${before.starts} → ${s.background.starts}; ` +
        `${env.console.expected.length} expected console errors so far`);
    });
  });

  it('switching the mode while listening moves the device to Web Audio and back', async (t) => {
    await check(async () => {
      const page = env.page;
      await page.locator('#background').uncheck();
      await waitPlaying(page, DEVICE.id, { seconds: 1.5 });
      assert.equal((await deviceStats(page, DEVICE.id)).mode, 'web-audio');
      assert.equal(await page.locator(PLAYER).count(), 0, 'the element is still there');
      await expectListeners(0, 1);
      const tap = await readTap(page, DEVICE.id, 1.5);
      const a = analyseTone(tap.samples, tap.sampleRate);
      assert.ok(a.peak > 0.05 && Math.abs(a.frequency - DEVICE.tone) <= TOLERANCE_HZ, `Web Audio played ${a.frequency.toFixed(2)} Hz, peak ${a.peak}`);

      await page.locator('#background').check();
      await waitBackgroundPlaying(page, 'opus');
      await expectListeners(1, 0);
      expectTone(t, 'back in background mode', await recordElement(page, RECORD_SECONDS));

      await page.click('#stop');
      await expectListeners(0, null);
      assert.equal(await page.locator(PLAYER).count(), 0, 'Stop left the element');
      assert.equal(await page.evaluate(() => navigator.mediaSession.playbackState), 'none');
    });
  });

  it('the choice is remembered; where Ogg Opus does not play, the MP3 stream does', async (t) => {
    await check(async () => {
      await env.page.goto('about:blank'); // its device-list WebSocket would count as a listener
      const page = await env.browser.context.newPage();
      const watch = watchConsole(page);
      watch.expect(ABORTED_STREAM);
      try {
        // As a browser without Ogg Opus in <audio> (Safari before 17) answers.
        await page.addInitScript(() => {
          const canPlayType = HTMLMediaElement.prototype.canPlayType;
          HTMLMediaElement.prototype.canPlayType = function (type) {
            return /ogg|opus/i.test(type) ? '' : canPlayType.call(this, type);
          };
        });
        await page.goto(`${env.server.url}?device=${DEVICE.id}`); // no ?background: the choice made above (on)
        await page.locator(`[data-device-id="${DEVICE.id}"]`).waitFor({ timeout: 10000 });
        assert.equal(await page.locator('#background').isChecked(), true, 'the choice was not remembered');
        await page.click('#start');
        const s = await waitBackgroundPlaying(page, 'mp3');
        await expectListeners(1, 0);
        expectTone(t, 'the <audio> element (mp3)', await recordElement(page, RECORD_SECONDS));
        const status = await page.locator(`[data-device-id="${DEVICE.id}"] .status`).textContent();
        assert.match(status, /^background mode \(mp3\) · about \d+\.\d s behind live/);
        t.diagnostic(`card: "${status}"; stats: ${JSON.stringify(s.background)}`);
        await page.click('#stop');
        await expectListeners(0, null);
        assert.deepEqual(watch.errors, [], `console errors:\n${formatErrors(watch.errors)}`);
      } finally {
        await page.close();
      }
    });
  });

  it('no console error in the whole run', async (t) => {
    await check(async () => {
      const kinds = new Set(env.console.expected.map((e) => e.text.replace(/:\d+\//, ':<port>/').replace(/\?r=[0-9a-z-]+/, '?r=<n>')));
      t.diagnostic(`expected console errors (${env.console.expected.length}): ${[...kinds].join(' | ')}`);
      assert.deepEqual(env.console.errors, [], `console errors during the run:\n${formatErrors(env.console.errors)}`);
    });
  });
});
