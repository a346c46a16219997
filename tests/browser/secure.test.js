// The page as a phone on the LAN opens a server set up for it: accounts
// (--users) and https with the server's own CA (--tls-dir), by a LAN name.
// Plain http by that name is sent to https; the page asks for a login (a
// wrong password is answered on the form); once logged in it is a secure
// context and plays through the AudioWorklet player, checked on what it
// played (?tap=1). Chromium is told to accept the local CA's certificate
// (--ignore-certificate-errors), as a phone that trusted /ca.crt would.
//
// Run with tests/browser/run-browser-tests.sh [BUILD_DIR].

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  LAN_TEST_NAME,
  formatErrors,
  launchBrowser,
  pageStats,
  readTap,
  resolveBuildDir,
  scratchDir,
  serverBinary,
  startDevice,
  startServer,
  waitPlaying,
  watchConsole,
} from './lib/harness.js';
import { analyseTone } from './lib/signal.js';

const DEVICE = { id: 'mic-440', tone: 440, codec: 'ima-adpcm', frameMs: 10 };
const USER = 'alice';
const PASSWORD = 'a long pass phrase';

const env = { dir: null, server: null, device: null, browser: null };

/** A users file with one listener, its hash made by the server's own hash-password. */
function writeUsers(buildDir, dir) {
  const r = spawnSync(serverBinary(buildDir), ['hash-password', '--iterations', '1000'], { input: `${PASSWORD}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, `hash-password failed: ${r.stderr}`);
  const file = path.join(dir, 'users.toml');
  writeFileSync(file, `[users.${USER}]\npassword = "${r.stdout.trim()}"\nroles = ["listen"]\n`);
  chmodSync(file, 0o600);
  return file;
}

describe('the page over https by a LAN name, with accounts', { timeout: 120000 }, () => {
  before(async () => {
    const buildDir = resolveBuildDir();
    env.dir = scratchDir();
    const users = writeUsers(buildDir, env.dir);
    env.server = await startServer({
      buildDir,
      dir: env.dir,
      extraArgs: ['--users', users, '--tls-dir', path.join(env.dir, 'tls')],
    });
    env.device = startDevice({ buildDir, dir: env.dir, ingest: env.server.ingest, ...DEVICE });
    env.browser = await launchBrowser({
      dir: env.dir,
      extraArgs: [`--host-resolver-rules=MAP ${LAN_TEST_NAME} 127.0.0.1`, '--ignore-certificate-errors'],
    });
  });

  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.device) await env.device.stop('SIGTERM');
    if (env.server) await env.server.stop('SIGTERM');
    if (env.dir && !process.env.MICSTREAM_KEEP_TMP) rmSync(env.dir, { recursive: true, force: true });
  });

  it('sends plain http to https, asks for a login, then plays through the AudioWorklet', async (t) => {
    const page = env.browser.page;
    const watch = watchConsole(page);
    try {
      await page.goto(`http://${LAN_TEST_NAME}:${env.server.http}/?tap=1&device=${DEVICE.id}`);
      assert.ok(page.url().startsWith(`https://${LAN_TEST_NAME}:`), `not sent to https: ${page.url()}`);
      assert.equal(await page.evaluate(() => window.isSecureContext), true, 'https by a LAN name is a secure context');

      // The login form, and the server's answer to a wrong password on it.
      await page.locator('#login').waitFor({ state: 'visible', timeout: 10000 });
      assert.equal(await page.locator('#start').isVisible(), false, 'the player shows before the login');
      await page.fill('#login input[name=user]', USER);
      await page.fill('#login input[name=password]', 'wrong');
      await page.click('#login button[type=submit]');
      await page.locator('#login .login-error').filter({ hasText: 'wrong user name or password' }).waitFor({ timeout: 10000 });
      watch.errors.splice(0); // the 401 of the wrong password, as the browser logs it
      await page.fill('#login input[name=password]', PASSWORD);
      await page.click('#login button[type=submit]');
      await page.locator('#login').waitFor({ state: 'hidden', timeout: 10000 });
      assert.match(await page.locator('#who').textContent(), new RegExp(USER));

      await page.locator(`[data-device-id="${DEVICE.id}"]`).waitFor({ timeout: 15000 });
      await page.click('#start');
      await waitPlaying(page, DEVICE.id, { seconds: 2.5 });
      const stats = await pageStats(page);
      assert.equal(stats.audio.player, 'audio-worklet');
      assert.equal(stats.crossOriginIsolated, true, 'the isolation headers hold over https');
      const tap = await readTap(page, DEVICE.id, 1.5);
      const a = analyseTone(tap.samples, tap.sampleRate);
      t.diagnostic(`${DEVICE.id} over https: dominant ${a.frequency.toFixed(2)} Hz, peak ${a.peak.toFixed(3)}, ${a.dropouts} dropouts`);
      assert.ok(Math.abs(a.frequency - DEVICE.tone) <= 2, `heard ${a.frequency.toFixed(2)} Hz`);
      assert.ok(a.peak > 0.05, 'silent');
      assert.equal(a.dropouts, 0);
      assert.deepEqual(watch.errors, [], `console errors:\n${formatErrors(watch.errors)}`);
    } catch (e) {
      e.message += `\n--- server log (tail)\n${env.server.tail(20)}\n--- device log (tail)\n${env.device.tail(8)}`;
      throw e;
    }
  });
});
