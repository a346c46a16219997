// The real thing, end to end: micstream-server and virtual devices
// (micstream-device) on ephemeral ports, and the page in Debian's headless
// chromium driven by playwright-core. Shared by the browser tests
// (tests/browser/) and the page latency benchmark (bench/page-latency/).
//
// Nothing here builds anything or downloads a browser: the binaries come from
// a build directory (MICSTREAM_BUILD_DIR, or build/asan, or build/dev) and the
// browser is /usr/bin/chromium (apt-get install chromium; scripts/install-deps).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const CHROMIUM = process.env.MICSTREAM_CHROMIUM || '/usr/bin/chromium';

// The launch flags the project runs chromium with (see tests/browser/README.md).
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export { sleep };

// ------------------------------------------------------------ binaries

/** The build directory (absolute): an argument, MICSTREAM_BUILD_DIR, else the first of `defaults` with both binaries. */
export function resolveBuildDir(arg = process.env.MICSTREAM_BUILD_DIR, defaults = ['build/asan', 'build/dev']) {
  const candidates = arg ? [arg] : defaults;
  for (const c of candidates) {
    const dir = path.resolve(repoRoot, c);
    if (existsSync(serverBinary(dir)) && existsSync(deviceBinary(dir))) return dir;
  }
  throw new Error(
    `no micstream-server and micstream-device in ${candidates.join(' or ')}: build them first, e.g. ` +
      'cmake -S . -B build/dev -G Ninja && cmake --build build/dev --target micstream-server micstream-device',
  );
}

export const serverBinary = (buildDir) => path.join(buildDir, 'server', 'micstream-server');
export const deviceBinary = (buildDir) => path.join(buildDir, 'device', 'micstream-device');

/** Whether the device binary takes an option (the device's CLI grows: --send-jitter-ms, --clock-ppm). */
export function deviceSupports(buildDir, option) {
  return helpText(deviceBinary(buildDir)).includes(option);
}

const helpCache = new Map();
function helpText(binary) {
  if (!helpCache.has(binary)) {
    const r = spawnSyncText(binary, ['--help']);
    helpCache.set(binary, r);
  }
  return helpCache.get(binary);
}

function spawnSyncText(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10000 });
  return `${r.stdout || ''}${r.stderr || ''}`;
}

// ------------------------------------------------------------ processes

const children = new Set();
function killAllNow() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAllNow();
    process.exit(130);
  });
}

/** A child process whose output goes to a log file; stop() signals it and waits (SIGKILL after a while). */
export class Child {
  /** `wrap`: a command that runs this one (e.g. ['chrt', '-f', '20']). */
  constructor(name, cmd, args, logPath, env = {}, wrap = []) {
    if (wrap.length) {
      args = [...wrap.slice(1), cmd, ...args];
      cmd = wrap[0];
    }
    this.name = name;
    this.cmd = cmd;
    this.args = args;
    this.logPath = logPath;
    const fd = openSync(logPath, 'a');
    this.proc = spawn(cmd, args, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
    });
    closeSync(fd);
    children.add(this.proc);
    this.exitCode = undefined;
    this.signal = undefined;
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        children.delete(this.proc);
        this.exitCode = code;
        this.signal = signal;
        resolve({ code, signal });
      });
    });
  }

  get running() {
    return this.exitCode === undefined;
  }

  get pid() {
    return this.proc.pid;
  }

  get command() {
    return [this.cmd, ...this.args].map(shellQuote).join(' ');
  }

  /** Signals the process (SIGTERM: a clean stop; SIGKILL: a cut) and waits for it; SIGKILL after graceMs. */
  async stop(signal = 'SIGTERM', graceMs = 5000) {
    if (!this.running) return this.exited;
    this.proc.kill(signal);
    const t = setTimeout(() => this.running && this.proc.kill('SIGKILL'), graceMs);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }

  log() {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  tail(lines = 30) {
    return this.log().trimEnd().split('\n').slice(-lines).join('\n');
  }
}

export function shellQuote(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** A fresh scratch directory (under MICSTREAM_TEST_TMP or the system's). */
export function scratchDir(prefix = 'micstream-browser-') {
  const base = process.env.MICSTREAM_TEST_TMP || tmpdir();
  mkdirSync(base, { recursive: true });
  return mkdtempSync(path.join(base, prefix));
}

// ------------------------------------------------------------ server and devices

/**
 * Starts micstream-server; resolves once it has written its ports.
 * httpPort/ingestPort 0: ephemeral (the restart reuses the ports it got).
 */
/** The LAN name the tests give the server (chromium maps it to 127.0.0.1); the server is told it is one of its names. */
export const LAN_TEST_NAME = 'micstream-lan.test';

export async function startServer({ buildDir, dir, httpPort = 0, ingestPort = 0, extraArgs = [], name = 'server', wrap = [] }) {
  const portsFile = path.join(dir, `${name}-ports-${Date.now()}.json`);
  const args = [
    '--bind', '127.0.0.1',
    '--http-port', String(httpPort),
    '--ingest-port', String(ingestPort),
    '--ports-file', portsFile,
    '--allow-unknown-devices',
    '--web-root', path.join(repoRoot, 'web'),
    '--server-name', LAN_TEST_NAME,
    ...(helpText(serverBinary(buildDir)).includes('--no-mdns') ? ['--no-mdns'] : []),
    ...extraArgs,
  ];
  const env = { ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' };
  // A port just released by a previous server may still be held for a moment: try again.
  for (let attempt = 0; ; attempt++) {
    const child = new Child(name, serverBinary(buildDir), args, path.join(dir, `${name}.log`), env, wrap);
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline && child.running) {
      if (existsSync(portsFile)) {
        try {
          const ports = JSON.parse(readFileSync(portsFile, 'utf8'));
          if (ports.http && ports.ingest) {
            child.http = ports.http;
            child.ingest = ports.ingest;
            child.url = `http://127.0.0.1:${ports.http}/`;
            return child;
          }
        } catch {
          // being written
        }
      }
      await sleep(50);
    }
    if (child.running) {
      await child.stop('SIGKILL');
      throw new Error(`micstream-server wrote no ports file in 15 s:\n${child.tail()}`);
    }
    if (attempt >= 20) throw new Error(`micstream-server exited (${child.exitCode ?? child.signal}):\n${child.tail()}`);
    await sleep(250);
  }
}

/**
 * Starts a virtual device streaming a tone.
 * @param {object} o
 * @param {number} o.ingest the server's ingest port
 * @param {string} o.id
 * @param {number} [o.tone=440]
 * @param {string} [o.codec='pcm16']
 * @param {number} [o.frameMs=10]
 * @param {number} [o.sendJitterMs] --send-jitter-ms (newer device builds)
 * @param {number} [o.clockPpm] --clock-ppm (newer device builds)
 */
export function startDevice({ buildDir, dir, ingest, id, tone = 440, codec = 'pcm16', frameMs = 10, sendJitterMs, clockPpm, extraArgs = [], wrap = [] }) {
  // Plain links: the server takes unknown devices, which have no TLS key.
  const args = ['--server', `127.0.0.1:${ingest}`, '--id', id, '--link', 'plain', '--tone', String(tone), '--codec', codec,
    '--frame-ms', String(frameMs)];
  for (const [option, value] of [['--send-jitter-ms', sendJitterMs], ['--clock-ppm', clockPpm]]) {
    if (value === undefined || value === null || value === 0) continue;
    if (!deviceSupports(buildDir, option)) throw new Error(`${deviceBinary(buildDir)} has no ${option}: rebuild it`);
    args.push(option, String(value));
  }
  args.push(...extraArgs);
  const env = { ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' };
  return new Child(`device ${id}`, deviceBinary(buildDir), args, path.join(dir, `device-${id}.log`), env, wrap);
}

/** GET /api/devices from the server. */
export async function apiDevices(server) {
  const r = await fetch(`${server.url}api/devices`);
  if (!r.ok) throw new Error(`GET /api/devices: ${r.status}`);
  return r.json();
}

/** Resolves once the server lists the device online. */
export async function waitDeviceOnline(server, id, timeoutMs = 15000) {
  return waitFor(async () => {
    try {
      const d = (await apiDevices(server)).find((x) => x.id === id);
      return d && d.online ? d : null;
    } catch {
      return null;
    }
  }, { timeoutMs, what: `device ${id} online at the server` });
}

/** Polls fn until it returns something truthy (resolves to it) or the time runs out (throws). */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 100, what = 'condition', detail } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) {
      const extra = detail ? `\n${await detail()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra}`);
    }
    await sleep(intervalMs);
  }
}

// ------------------------------------------------------------ the browser

/** Launches Debian's chromium headless, with a fresh profile; the caller closes it with close(). */
export async function launchBrowser({ dir, viewport = { width: 1100, height: 600 }, extraArgs = [] } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run scripts/install-deps (or make test), or apt-get install chromium`);
  }
  const profile = mkdtempSync(path.join(dir || tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    viewport,
  });
  const page = context.pages()[0] || (await context.newPage());
  return {
    context,
    page,
    profile,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Records the page's console errors, uncaught exceptions and failed requests.
 * expect(regex): errors matching it are expected (kept apart) until the returned function is called.
 */
export function watchConsole(page) {
  const w = {
    errors: [],
    expected: [],
    warnings: [],
    allowed: new Set(),
    expect(regex) {
      w.allowed.add(regex);
      return () => w.allowed.delete(regex);
    },
  };
  const add = (text, where) => {
    const entry = { text, where, at: new Date().toISOString() };
    if ([...w.allowed].some((r) => r.test(text))) w.expected.push(entry);
    else w.errors.push(entry);
  };
  page.on('console', (m) => {
    const loc = m.location();
    const where = loc && loc.url ? `${loc.url}:${loc.lineNumber}` : '';
    if (m.type() === 'error') add(m.text(), where);
    else if (m.type() === 'warning') w.warnings.push({ text: m.text(), where });
  });
  page.on('pageerror', (e) => add(`uncaught: ${e.stack || e.message}`, ''));
  page.on('crash', () => add('the page crashed', ''));
  page.on('requestfailed', (r) => {
    // A WebSocket refused while the server is down shows as a console error too; this is for the page's files.
    if (r.resourceType() !== 'websocket') add(`request failed: ${r.url()} (${r.failure()?.errorText})`, '');
  });
  return w;
}

export const formatErrors = (errors) => errors.map((e) => `  ${e.at} ${e.text}${e.where ? ` (${e.where})` : ''}`).join('\n');

/**
 * A test step's wrapper: runs fn; on a failure sets env.failed (the logs are
 * kept) and adds to its message the console errors (env.console) and the
 * tails of the server's log (env.server) and of the children() devices' logs.
 */
export function checker(env, children) {
  const context = () => {
    const parts = [];
    if (env.console && env.console.errors.length) parts.push(`console errors:\n${formatErrors(env.console.errors)}`);
    if (env.server) parts.push(`--- ${env.server.logPath} (tail)\n${env.server.tail(15)}`);
    for (const d of children()) parts.push(`--- ${d.logPath} (tail)\n${d.tail(8)}`);
    return parts.join('\n');
  };
  return async (fn) => {
    try {
      return await fn();
    } catch (e) {
      env.failed = true;
      e.message += `\n${context()}`;
      throw e;
    }
  };
}

/** window.micstreamStats, as JSON. */
export function pageStats(page) {
  return page.evaluate(() => JSON.parse(JSON.stringify(window.micstreamStats)));
}

/** One device's part of window.micstreamStats (null when the page has no such device). */
export async function deviceStats(page, id) {
  return page.evaluate((i) => {
    const d = window.micstreamStats && window.micstreamStats.devices[i];
    return d ? JSON.parse(JSON.stringify(d)) : null;
  }, id);
}

/**
 * Waits until the device has been playing, with audio arriving and no
 * underrun, for `seconds` in a row. Returns its last stats.
 */
export async function waitPlaying(page, id, { seconds = 2, timeoutMs = 20000 } = {}) {
  let since = 0;
  let lastFrames = -1;
  let lastUnderruns = -1;
  let last = null;
  return waitFor(async () => {
    const s = await deviceStats(page, id);
    last = s;
    const now = Date.now();
    const ok = s && s.state === 'playing' && s.frames > lastFrames && (lastUnderruns < 0 || s.underruns === lastUnderruns);
    if (s) {
      lastFrames = s.frames;
      lastUnderruns = s.underruns;
    }
    if (!ok) {
      since = 0;
      return null;
    }
    if (!since) since = now;
    return now - since >= seconds * 1000 ? s : null;
  }, {
    timeoutMs,
    intervalMs: 200,
    what: `${id} playing for ${seconds} s`,
    detail: async () => `last stats of ${id}: ${JSON.stringify(last)}`,
  });
}

/** The last `seconds` of what the page played for a device (page opened with ?tap=1). */
export async function readTap(page, id, seconds = 1.5) {
  const r = await page.evaluate(async ([i, s]) => {
    const t = await window.micstream.readTap(i, s);
    // As base64: a few hundred kB instead of a JSON array of numbers.
    const bytes = new Uint8Array(t.samples.buffer, t.samples.byteOffset, t.samples.byteLength);
    let bin = '';
    for (let k = 0; k < bytes.length; k += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(k, k + 0x8000));
    return { sampleRate: t.sampleRate, data: btoa(bin) };
  }, [id, seconds]);
  const buf = Buffer.from(r.data, 'base64');
  const samples = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return { sampleRate: r.sampleRate, samples };
}
