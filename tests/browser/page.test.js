// The page (web/) in Debian's headless chromium against the real
// micstream-server and virtual devices on ephemeral ports: it loads with no
// console error, Start Listening plays the device's tone (checked on what the
// page really played, through its ?tap=1 recording), a second device plays on
// its own card, a device that is cut and comes back plays again without a
// reload, and so does a server restart; opened by a name that is not
// localhost over plain http (not a secure context: no AudioWorklet, no shared
// memory), as a phone on the LAN would, it still plays. Also takes a
// screenshot (into the logs folder; into docs/screenshot.png with
// MICSTREAM_SCREENSHOT=docs/screenshot.png) and reports the latency the page
// measures (window.micstreamStats).
//
// Run with tests/browser/run-browser-tests.sh [BUILD_DIR].

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import {
  checker,
  apiDevices,
  deviceStats,
  formatErrors,
  launchBrowser,
  pageStats,
  readTap,
  repoRoot,
  resolveBuildDir,
  scratchDir,
  sleep,
  startDevice,
  startServer,
  LAN_TEST_NAME,
  waitDeviceOnline,
  waitFor,
  waitPlaying,
  watchConsole,
} from './lib/harness.js';
import { analyseTone } from './lib/signal.js';

const TOLERANCE_HZ = 2;
const ANALYSE_SECONDS = 1.5;
// A name for the server that is not localhost: chromium resolves it to the
// loopback address, but the page is then not a secure context.
const LAN_NAME = LAN_TEST_NAME;

// The two virtual devices: different codecs and frame sizes on purpose.
const A = { id: 'mic-440', tone: 440, codec: 'ima-adpcm', frameMs: 10 };
const B = { id: 'mic-1000', tone: 1000, codec: 'mulaw', frameMs: 20 };

const env = {
  buildDir: null,
  dir: null,
  server: null,
  devices: {},
  browser: null,
  page: null,
  console: null,
  failed: false,
};

const check = checker(env, () => Object.values(env.devices));

function device(spec) {
  const child = startDevice({ buildDir: env.buildDir, dir: env.dir, ingest: env.server.ingest, ...spec });
  env.devices[spec.id] = child;
  return child;
}

/** Checks the last ANALYSE_SECONDS the page played for a device: the tone, audible, whole. */
async function expectTone(t, id, hz, page = env.page) {
  const tap = await readTap(page, id, ANALYSE_SECONDS);
  const a = analyseTone(tap.samples, tap.sampleRate);
  t.diagnostic(
    `${id}: dominant ${a.frequency.toFixed(2)} Hz (want ${hz} ± ${TOLERANCE_HZ}) over ${a.seconds.toFixed(2)} s at ${tap.sampleRate} Hz; ` +
      `peak ${a.peak.toFixed(3)}, ${(a.purity * 100).toFixed(2)} % of the power within 20 Hz of it, ${a.dropouts} dropouts of 20 ms`,
  );
  assert.ok(a.seconds >= 1, `${id}: only ${a.seconds.toFixed(2)} s of output recorded`);
  assert.ok(a.peak > 0.05, `${id}: the output is (nearly) silent: peak ${a.peak}`);
  assert.ok(Math.abs(a.frequency - hz) <= TOLERANCE_HZ, `${id}: heard ${a.frequency.toFixed(2)} Hz, want ${hz} ± ${TOLERANCE_HZ} Hz`);
  assert.ok(a.purity > 0.9, `${id}: only ${(a.purity * 100).toFixed(1)} % of the output is the ${hz} Hz tone`);
  assert.equal(a.dropouts, 0, `${id}: ${a.dropouts} silent 20 ms windows in what was played`);
  return a;
}

/**
 * Runs fn(page, watch) on a page of its own in the same browser (closed
 * afterwards), with its console watched: no error may be left at the end.
 * `expected`: console errors that page is expected to log.
 */
async function onOwnPage(fn, { expected } = {}) {
  const page = await env.browser.context.newPage();
  const watch = watchConsole(page);
  if (expected) watch.expect(expected);
  try {
    await fn(page);
    assert.deepEqual(watch.errors, [], `console errors:\n${formatErrors(watch.errors)}`);
  } finally {
    await page.close();
  }
}

function latencyLine(id, s, audio) {
  const l = s.latencyMs;
  return `${id}: capture-to-speaker latency p50 ${l.p50} ms, p99 ${l.p99} ms, last ${l.last} ms (${l.samples} samples at 10 Hz); ` +
    `buffer ${s.bufferMs} ms (target ${s.targetMs} ms), jitter ${s.jitterMs} ms, underruns ${s.underruns}, lost frames ${s.lostFrames}, ` +
    `drift ${s.driftPpm} ppm; AudioContext ${audio.sampleRate} Hz, base latency ${audio.baseLatencyMs} ms, output latency ${audio.outputLatencyMs} ms`;
}

describe('the page in chromium with the real server and virtual devices', { timeout: 170000 }, () => {
  before(async () => {
    env.buildDir = resolveBuildDir();
    env.dir = scratchDir();
    env.server = await startServer({ buildDir: env.buildDir, dir: env.dir });
    device(A);
    await waitDeviceOnline(env.server, A.id);
    const b = await launchBrowser({ dir: env.dir, extraArgs: [`--host-resolver-rules=MAP ${LAN_NAME} 127.0.0.1`] });
    env.browser = b;
    env.page = b.page;
    env.console = watchConsole(env.page);
    console.log(`# build ${env.buildDir}; server ${env.server.url} (ingest ${env.server.ingest}); logs in ${env.dir}`);
  });

  after(async () => {
    if (env.browser) await env.browser.close();
    await Promise.all(Object.values(env.devices).map((d) => d.stop('SIGTERM')));
    if (env.server) await env.server.stop('SIGTERM');
    if (env.failed || process.env.MICSTREAM_KEEP_TMP) console.log(`# logs kept in ${env.dir}`);
    else if (env.dir) rmSync(env.dir, { recursive: true, force: true });
  });

  it('loads with no console error and lists the connected device', async () => {
    await check(async () => {
      const page = env.page;
      await page.goto(`${env.server.url}?tap=1`);
      await page.locator(`[data-device-id="${A.id}"]`).waitFor({ timeout: 10000 });
      await waitFor(() => page.locator(`[data-device-id="${A.id}"]`).getAttribute('data-online').then((v) => v === 'true'), {
        what: `${A.id} shown online`,
      });
      await page.evaluate(() => {
        window.__noReload = 'still the same document';
      });
      await sleep(1000); // late errors (favicon, modules) too
      assert.deepEqual(env.console.errors, [], `console errors on load:\n${formatErrors(env.console.errors)}`);
      const s = await pageStats(page);
      assert.equal(s.tap, true, 'the page did not take ?tap=1');
    });
  });

  it('Start Listening plays the 440 Hz device', async (t) => {
    await check(async () => {
      const page = env.page;
      await page.click('#start');
      const s = await waitPlaying(page, A.id, { seconds: 2.5 });
      await expectTone(t, A.id, A.tone);
      const card = page.locator(`[data-device-id="${A.id}"]`);
      assert.equal(await card.getAttribute('data-listening'), 'true');
      assert.equal(await card.getAttribute('data-state'), 'playing');
      assert.equal(s.lostFrames, 0, 'frames lost on loopback');
      const stats = await pageStats(page);
      assert.equal(stats.audio.state, 'running');
      assert.equal(stats.transport, 'shared-memory', 'the server\'s headers make the page cross-origin isolated');
      assert.equal(stats.receiver, 'worker', 'audio is received off the main thread');
      t.diagnostic(`transport: ${stats.transport}, receiver: ${stats.receiver}, output latencyHint ${JSON.stringify(stats.audio.latencyHint)}; ${latencyLine(A.id, s, stats.audio)}`);
    });
  });

  it('a second device at 1 kHz plays on its own card, alongside the first', async (t) => {
    await check(async () => {
      const page = env.page;
      device(B);
      await waitDeviceOnline(env.server, B.id);
      const card = page.locator(`[data-device-id="${B.id}"]`);
      await card.waitFor({ timeout: 10000 });
      await card.locator('.listen-toggle').check();
      await waitPlaying(page, B.id, { seconds: 2.5 });
      assert.equal(await card.getAttribute('data-listening'), 'true');
      assert.equal(await card.getAttribute('data-state'), 'playing');
      assert.match(await card.locator('.status').textContent(), /^playing/);
      await expectTone(t, B.id, B.tone);
      await expectTone(t, A.id, A.tone); // the first is still heard, as itself
      // The screenshot, while both play (the spectrograms have had time to fill).
      const file = process.env.MICSTREAM_SCREENSHOT ? path.resolve(repoRoot, process.env.MICSTREAM_SCREENSHOT) : path.join(env.dir, 'screenshot.png');
      await page.screenshot({ path: file, fullPage: true });
      t.diagnostic(`screenshot: ${file}`);
    });
  });

  it('a device cut and restarted plays again without a reload', async (t) => {
    await check(async () => {
      const page = env.page;
      const before = await deviceStats(page, A.id);
      await env.devices[A.id].stop('SIGKILL'); // a cut: no goodbye
      await waitFor(async () => (await deviceStats(page, A.id))?.online === false, {
        timeoutMs: 15000,
        what: `the page to show ${A.id} offline`,
      });
      const card = page.locator(`[data-device-id="${A.id}"]`);
      assert.equal(await card.getAttribute('data-online'), 'false');
      await sleep(500);
      device(A);
      await waitDeviceOnline(env.server, A.id);
      const s = await waitPlaying(page, A.id, { seconds: 2.5, timeoutMs: 20000 });
      await expectTone(t, A.id, A.tone);
      assert.equal(await page.evaluate(() => window.__noReload), 'still the same document', 'the page was reloaded');
      assert.ok(s.frames > before.frames, 'no new audio arrived');
      assert.equal(s.reconnects, before.reconnects, 'the WebSocket reconnected, though only the device went away');
      await expectTone(t, B.id, B.tone); // the other device did not notice
    });
  });

  it('a server restart: the page reconnects by itself and plays again', async (t) => {
    await check(async () => {
      const page = env.page;
      const { http, ingest } = env.server;
      const before = await pageStats(page);
      // Refused WebSockets while the server is down are logged by chromium itself as console errors,
      // and so is the page's session check (a connection that keeps failing may mean the session ended),
      // when it comes after the server closed its port.
      const allow = env.console.expect(
        /WebSocket connection to 'ws:\/\/[^']*\/ws[^']*' failed|\/api\/session \(net::ERR_CONNECTION_REFUSED\)|^Failed to load resource: net::ERR_CONNECTION_REFUSED$/);
      const stopped = await env.server.stop('SIGTERM');
      assert.equal(stopped.code, 0, `the server did not exit cleanly: ${JSON.stringify(stopped)}`);
      await waitFor(async () => {
        const s = await pageStats(page);
        return [A.id, B.id].every((id) => s.devices[id] && s.devices[id].connection === 'waiting');
      }, { timeoutMs: 10000, what: 'the page to notice the server went away' });
      await sleep(1500); // a refused reconnection or two
      env.server = await startServer({ buildDir: env.buildDir, dir: env.dir, httpPort: http, ingestPort: ingest, name: 'server-restarted' });
      await Promise.all([waitDeviceOnline(env.server, A.id, 20000), waitDeviceOnline(env.server, B.id, 20000)]);
      const [sa, sb] = [await waitPlaying(page, A.id, { seconds: 2.5, timeoutMs: 30000 }), await waitPlaying(page, B.id, { seconds: 2.5, timeoutMs: 30000 })];
      allow();
      t.diagnostic(`while the server was down chromium logged ${env.console.expected.length} expected WebSocket errors`);
      for (const [id, now] of [[A.id, sa], [B.id, sb]]) {
        const was = before.devices[id];
        t.diagnostic(`${id}: latency ${was.latencyMs.last} ms before the restart, ${now.latencyMs.last} ms 2.5 s after playing again ` +
          `(buffer ${was.bufferMs} → ${now.bufferMs} ms, ratio correction ${was.correctionPpm} → ${now.correctionPpm} ppm, ${now.skips} skips, ${now.serverSkipped} frames the server skipped, ${now.lostFrames} lost)`);
      }
      await expectTone(t, A.id, A.tone);
      await expectTone(t, B.id, B.tone);
      assert.equal(await page.evaluate(() => window.__noReload), 'still the same document', 'the page was reloaded');
      assert.ok(sa.reconnects > before.devices[A.id].reconnects, `${A.id}: no reconnection counted`);
      assert.ok(sb.reconnects > before.devices[B.id].reconnects, `${B.id}: no reconnection counted`);
      const status = await page.locator('#server-status').getAttribute('data-state');
      assert.equal(status, 'open');
    });
  });

  it('over plain http by a LAN name (not a secure context) it still plays, with the fallback player', async (t) => {
    // (Chromium says, rightly, that it ignores the isolation headers on such an origin.)
    await check(() => onOwnPage(async (page) => {
      await page.goto(`http://${LAN_NAME}:${env.server.http}/?tap=1&device=${A.id}`);
      assert.equal(await page.evaluate(() => window.isSecureContext), false, 'chromium took the page for a secure context');
      await page.locator(`[data-device-id="${A.id}"]`).waitFor({ timeout: 10000 });
      await page.click('#start');
      const s = await waitPlaying(page, A.id, { seconds: 2.5 });
      const stats = await pageStats(page);
      assert.equal(stats.audio.player, 'script-processor');
      assert.equal(stats.transport, 'messages');
      assert.equal(stats.receiver, 'main thread');
      assert.match(await page.locator('#audio-status').textContent(), /compatibility player/);
      await expectTone(t, A.id, A.tone, page);
      t.diagnostic(`not a secure context: ${latencyLine(A.id, s, stats.audio)}`);
    }, { expected: /Cross-Origin-Opener-Policy header has been ignored/ }));
  });

  it('asked for Opus (?codec=opus), it decodes the server\'s packets with WebCodecs and plays the tone', async (t) => {
    await check(() => onOwnPage(async (page) => {
      await page.goto(`${env.server.url}?tap=1&codec=opus&device=${A.id}`);
      await page.locator(`[data-device-id="${A.id}"]`).waitFor({ timeout: 10000 });
      await page.click('#start');
      const s = await waitPlaying(page, A.id, { seconds: 2.5 });
      const entry = (await apiDevices(env.server)).find((d) => d.id === A.id);
      assert.equal(entry.opus_listeners, 1, 'the server is not sending this page Opus');
      const a = await expectTone(t, A.id, A.tone, page);
      assert.equal(s.lostFrames, 0, 'packets lost on loopback');
      assert.equal(s.received, 'opus', 'the page says it receives something else');
      assert.match(await page.locator(`[data-device-id="${A.id}"] .status`).textContent(), /^playing \(Opus\) · /);
      const stats = await pageStats(page);
      assert.equal(stats.receiver, 'worker', 'decoded in the receiver worker');
      t.diagnostic(`Opus (${a.frequency.toFixed(2)} Hz): ${latencyLine(A.id, s, stats.audio)}`);
      // "Save data (Opus)" off: the device's own codec again, on a new connection.
      assert.equal(await page.isChecked('#opus'), true, 'the control shows what the page asked for');
      await page.uncheck('#opus');
      await waitFor(async () => (await apiDevices(env.server)).find((d) => d.id === A.id).opus_listeners === 0, { what: 'no Opus listener left' });
      const back = await waitPlaying(page, A.id, { seconds: 2 });
      assert.equal(back.received, A.codec, 'the device\'s own codec again');
      await expectTone(t, A.id, A.tone, page);
    }));
  });

  it('an output that glitches makes the page move to a bigger output buffer, and it plays on', async (t) => {
    await check(() => onOwnPage(async (page) => {
      // The output's glitch count (AudioContext.playbackStats) as the test says.
      await page.addInitScript(() => {
        window.__outputGlitches = 0;
        Object.defineProperty(AudioContext.prototype, 'playbackStats', {
          configurable: true,
          get() {
            return { underrunEvents: window.__outputGlitches, underrunDuration: 0, totalDuration: 0, averageLatency: 0, minimumLatency: 0, maximumLatency: 0 };
          },
        });
      });
      await page.goto(`${env.server.url}?tap=1&device=${A.id}`);
      await page.locator(`[data-device-id="${A.id}"]`).waitFor({ timeout: 10000 });
      await page.click('#start');
      await waitPlaying(page, A.id, { seconds: 1 });
      assert.equal((await pageStats(page)).audio.latencyHint, 0, 'the smallest output buffer first');
      await sleep(5500); // glitches while starting are not counted
      await page.evaluate(() => {
        window.__outputGlitches = 3;
      });
      const stats = await waitFor(async () => {
        const s = await pageStats(page);
        return s.audio && s.audio.latencyHint === 'interactive' ? s : null;
      }, { timeoutMs: 5000, what: "the page to move to the 'interactive' output buffer" });
      assert.equal(stats.audio.outputStepUps, 1);
      const s = await waitPlaying(page, A.id, { seconds: 2 });
      await expectTone(t, A.id, A.tone, page);
      t.diagnostic(`after the step up: ${latencyLine(A.id, s, stats.audio)}`);
    }));
  });

  it('reports the latency it measures, and no console error in the whole run', async (t) => {
    await check(async () => {
      const page = env.page;
      // A few seconds more, for the latency window to hold something steady.
      await sleep(4000);
      const s = await pageStats(page);
      for (const { id } of [A, B]) {
        const d = s.devices[id];
        const line = latencyLine(id, d, s.audio);
        t.diagnostic(line);
        console.log(`# latency ${line}`);
        assert.ok(Number.isFinite(d.latencyMs.p50) && d.latencyMs.p50 > 0, `${id}: no latency measured`);
        // docs/performance.md measures ~30 ms with a release server on an idle
        // machine; under make test (sanitized server, busy machine) runs gave
        // 45-160 ms. Beyond 300 ms something grew: a buffer, a queue, a timer.
        assert.ok(d.latencyMs.p50 < 300, `${id}: latency ${d.latencyMs.p50} ms, more than 300 ms`);
      }
      assert.deepEqual(env.console.errors, [], `console errors during the run:\n${formatErrors(env.console.errors)}`);
    });
  });
});
