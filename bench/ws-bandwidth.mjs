#!/usr/bin/env node
// What one WebSocket listener receives per second, per codec: micstream-server
// with three virtual devices (a 440 Hz tone, 16 kHz mono, 20 ms frames, one in
// each device codec), and for each a listener of the device's codec and one
// that asks for Opus (?codec=opus, --opus-bitrate). Counts the bytes of every
// WebSocket frame (payload and its 2- or 4-byte header; TCP/IP headers left
// out) and the messages, over the measured seconds, after a second to settle.
//
//   node bench/ws-bandwidth.mjs [--seconds 10] [--opus-bitrate 32000]
//   MICSTREAM_BUILD=build/release (default) names the build with the server and the device.
// Run `npm ci` at the project's root first (it provides the `ws` package).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
if (args.includes('--help') || args.includes('-h')) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 11).join('\n'));
  process.exit(0);
}
const seconds = option('--seconds', 10);
const opusBitrate = option('--opus-bitrate', 32000);
const build = path.resolve(root, process.env.MICSTREAM_BUILD || 'build/release');
const serverBin = path.join(build, 'server', 'micstream-server');
const deviceBin = path.join(build, 'device', 'micstream-device');
for (const bin of [serverBin, deviceBin]) {
  if (!existsSync(bin)) {
    console.error(`ws-bandwidth: ${bin} is missing; build it first (MICSTREAM_BUILD=...)`);
    process.exit(2);
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'micstream-bandwidth-'));
const children = [];
const run = (bin, argv) => {
  const child = spawn(bin, argv, { stdio: 'ignore' });
  children.push(child);
  return child;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanUp = () => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanUp);

const codecs = ['pcm16', 'mulaw', 'ima-adpcm'];
const portsFile = path.join(dir, 'ports.json');
run(serverBin, ['--bind', '127.0.0.1', '--http-port', '0', '--ingest-port', '0', '--ports-file', portsFile, '--no-mdns',
  '--allow-unknown-devices', '--opus-bitrate', String(opusBitrate)]);
let ports = null;
for (let i = 0; i < 100 && !ports; i++) {
  await sleep(100);
  if (existsSync(portsFile)) ports = JSON.parse(readFileSync(portsFile, 'utf8'));
}
if (!ports) throw new Error('the server wrote no ports file');
for (const codec of codecs) {
  run(deviceBin, ['--server', `127.0.0.1:${ports.ingest}`, '--id', `bw-${codec}`, '--link', 'plain', '--codec', codec,
    '--rate', '16000', '--frame-ms', '20', '--status-interval', '0']);
}
await sleep(1500);

/** A listener that counts what it receives while `counting`. */
function listen(device, codec) {
  const query = codec === 'opus' ? '&codec=opus' : '';
  const ws = new WebSocket(`ws://127.0.0.1:${ports.http}/ws?device=${device}${query}`);
  const l = { device, codec, ws, counting: false, bytes: 0, messages: 0, kinds: new Set() };
  ws.on('message', (data, binary) => {
    if (!binary || !l.counting) return;
    l.bytes += data.length + (data.length < 126 ? 2 : 4);
    l.messages++;
    l.kinds.add(data[1]);
  });
  return l;
}
const listeners = codecs.flatMap((codec) => [listen(`bw-${codec}`, codec), listen(`bw-${codec}`, 'opus')]);
await sleep(1000);
for (const l of listeners) l.counting = true;
await sleep(seconds * 1000);
for (const l of listeners) l.counting = false;

console.log(`One WebSocket listener for ${seconds} s: a 440 Hz tone, 16 kHz mono, 20 ms frames; Opus at ${opusBitrate} bit/s`);
console.log('device codec | listener gets | bytes/s | kbit/s | messages/s | bytes/message');
for (const l of listeners) {
  const kind = l.codec === 'opus' ? 'opus' : l.codec;
  const wrongKind = [...l.kinds].some((k) => (kind === 'opus' ? k !== 4 : k === 4));
  const bps = l.bytes / seconds;
  console.log(`${l.device.slice(3).padEnd(12)} | ${kind.padEnd(13)} | ${bps.toFixed(0).padStart(7)} | ` +
    `${((bps * 8) / 1000).toFixed(1).padStart(6)} | ${(l.messages / seconds).toFixed(1).padStart(10)} | ` +
    `${(l.bytes / Math.max(1, l.messages)).toFixed(1).padStart(13)}${wrongKind ? '  (unexpected codec ids!)' : ''}`);
  l.ws.close();
}
await sleep(200);
process.exit(0);
