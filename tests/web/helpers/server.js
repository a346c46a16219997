// micstream-server and micstream-device from a build folder, for the
// integration tests: started on free ports, stopped and restarted at will.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBuilt } from './build.js';
import { repoRoot } from './doc-vectors.js';

/**
 * micstream-server and micstream-device of one build (helpers/build.js: a
 * skip without MICSTREAM_BUILD, a failure under make test):
 * {skip, binaries()}, binaries() → {server, device} for TestServer.
 */
export function findBinaries() {
  const built = findBuilt(['server/micstream-server', 'device/micstream-device'],
    'cmake --build build/dev --target micstream-server micstream-device');
  return {
    skip: built.skip,
    binaries() {
      const [server, device] = built.paths();
      return { server, device };
    },
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs = 10000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

export class TestServer {
  constructor(binaries, { httpPort = 0, ingestPort = 0, extraArgs = [] } = {}) {
    this.binaries = binaries;
    this.dir = mkdtempSync(join(tmpdir(), 'micstream-web-test-'));
    this.httpPort = httpPort;
    this.ingestPort = ingestPort;
    this.extraArgs = extraArgs;
    this.proc = null;
    this.devices = new Map();
    this.log = '';
  }

  async start() {
    const portsFile = join(this.dir, `ports-${Date.now()}.json`);
    this.proc = spawn(this.binaries.server, [
      '--http-port', String(this.httpPort), '--ingest-port', String(this.ingestPort), '--ports-file', portsFile,
      '--allow-unknown-devices', '--no-mdns', '--web-root', join(repoRoot, 'web'), '--bind', '127.0.0.1',
      ...this.extraArgs,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => {
      this.log = (this.log + d).slice(-20000);
    };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    const ports = await waitFor('the server\'s ports file', () => {
      try {
        return JSON.parse(readFileSync(portsFile, 'utf8'));
      } catch {
        return null;
      }
    });
    this.httpPort = ports.http;
    this.ingestPort = ports.ingest;
    return this;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.httpPort}/ws`;
  }

  get httpUrl() {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  async stop() {
    if (!this.proc) return;
    const p = this.proc;
    this.proc = null;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(3000).then(() => p.kill('SIGKILL'))]);
  }

  /** Starts a virtual device streaming a tone. */
  startDevice(id, { tone = 440, codec = 'ima-adpcm', rate = 16000, channels = 1, frameMs = 20 } = {}) {
    // A plain link: the server takes unknown devices, which have no TLS key.
    const proc = spawn(this.binaries.device, [
      '--server', `127.0.0.1:${this.ingestPort}`, '--id', id, '--link', 'plain', '--tone', String(tone), '--codec', codec,
      '--rate', String(rate), '--channels', String(channels), '--frame-ms', String(frameMs),
    ], { stdio: 'ignore' });
    this.devices.set(id, proc);
    return proc;
  }

  async stopDevice(id) {
    const p = this.devices.get(id);
    if (!p) return;
    this.devices.delete(id);
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(3000).then(() => p.kill('SIGKILL'))]);
  }

  async stopAll() {
    await Promise.all([...this.devices.keys()].map((id) => this.stopDevice(id)));
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
