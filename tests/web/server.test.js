// The page's pipeline against the real server and virtual devices:
// StreamClient (WebSocket, ping/pong clock offset, decoding, reconnection
// with backoff) → Player (StreamWriter → ring → the real worklet processor,
// run by a fake AudioContext on the wall clock) → the tap. Needs
// micstream-server and micstream-device built (helpers/build.js: a failure
// under make test, a skip without MICSTREAM_BUILD); the
// WebSocket is Node's own (22 and later) or the `ws` package's (helpers/websocket.js).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Stat } from '../../web/playout-stats.js';
import { Player } from '../../web/player.js';
import { StreamClient } from '../../web/stream-client.js';
import { assertNoUnderrunOfItsOwn, FakeAudioContext, installFakeAudio } from './helpers/fake-audio.js';
import { findBinaries, sleep, TestServer, waitFor } from './helpers/server.js';
import { measureFrequency, rms } from './helpers/signal.js';
import './helpers/websocket.js';

const build = findBinaries();

installFakeAudio();

// The page's glue for one device (app.js's Device, without the DOM).
class Listener {
  constructor(server, ctx, device, { shared }) {
    this.ctx = ctx;
    this.player = new Player(ctx, { shared, tap: true, tapSeconds: 4 });
    this.fresh = true;
    this.events = [];
    this.latencies = [];
    this.client = new StreamClient({
      url: server.wsUrl,
      device,
      backoff: {},
      onEvent: (type, data) => {
        this.events.push(type === 'audio' ? 'audio' : { type, data });
        if (type === 'audio') {
          if (this.fresh) {
            this.player.configure(data.frame.sampleRate, data.frame.channels);
            this.fresh = false;
          }
          this.player.push(data.frame, data.samples);
        } else if (type === 'stream' && data.online) this.fresh = true;
        else if (type === 'state' && data.state === 'open') this.fresh = true;
      },
    });
    this.timer = setInterval(() => {
      if (!this.client.clock.hasEstimate) return;
      const l = this.player.latencyMs(this.client.clock.offsetUs);
      if (Number.isFinite(l)) this.latencies.push(l);
    }, 50);
    this.client.start();
  }

  stats() {
    return this.player.stats();
  }

  of(type) {
    return this.events.filter((e) => e.type === type).map((e) => e.data);
  }

  async tone(seconds = 1) {
    return this.player.readTap(seconds);
  }

  close() {
    clearInterval(this.timer);
    this.client.stop();
    this.player.destroy();
  }
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
}

async function playsTone(listener, f, what) {
  const { samples, sampleRate } = await listener.tone(1);
  assert.equal(samples.length, sampleRate, `${what}: a second of output`);
  assert.ok(rms(samples) > 0.05, `${what}: audible (rms ${rms(samples)})`);
  const measured = measureFrequency(samples, sampleRate, f);
  // While the jitter buffer settles it may bend the pitch by up to its bound (0.4 %).
  assert.ok(Math.abs(measured - f) < Math.max(1, f * 0.0045), `${what}: ${measured.toFixed(2)} Hz, expected ${f}`);
}

describe('against micstream-server', { skip: build.skip }, () => {
  let server;
  let ctx;

  before(async () => {
    server = await new TestServer(build.binaries()).start();
    ctx = new FakeAudioContext();
    await ctx.audioWorklet.addModule('player-worklet.js');
    await ctx.resume();
  });

  after(async () => {
    await ctx?.close();
    await server?.stopAll();
  });

  test('the device list, the stream message and the clock offset', async () => {
    server.startDevice('tone-440');
    const events = [];
    const lobby = new StreamClient({ url: server.wsUrl, device: null, decode: false, onEvent: (type, data) => events.push({ type, data }) });
    lobby.start();
    try {
      const devices = await waitFor('tone-440 in a devices message', () => {
        const lists = events.filter((e) => e.type === 'devices').map((e) => e.data.devices);
        return lists.find((l) => l.some((d) => d.id === 'tone-440' && d.online));
      });
      assert.deepEqual(devices.find((d) => d.id === 'tone-440'), {
        id: 'tone-440', online: true, codec: 'ima-adpcm', sample_rate: 16000, channels: 1, samples_per_frame: 320,
        firmware: devices.find((d) => d.id === 'tone-440').firmware,
      });
      assert.match(events.find((e) => e.type === 'welcome').data.server, /^micstream-server /);
      await waitFor('a clock estimate', () => lobby.clock.count >= 4);
      // Page and server share this machine's clock: the offset is the clocks' reading skew, well under 5 ms.
      assert.ok(Math.abs(lobby.clock.offsetUs) < 5000, `offset ${lobby.clock.offsetUs} µs`);
      assert.ok(lobby.clock.rttUs < 20000, `rtt ${lobby.clock.rttUs} µs`);
      assert.ok(lobby.stats.frames === 0, 'decode: false ignores audio');
      // It asked for none (codec=none), and the device has been streaming all along.
      assert.equal(lobby.stats.bytes, 0, 'the server sent audio to a connection kept for the device list');
    } finally {
      lobby.stop();
    }
  });

  for (const shared of [true, false]) {
    test(`IMA ADPCM 16 kHz → 48 kHz, ${shared ? 'shared memory' : 'messages'}: the tone plays, latency is measured`, async () => {
      const since = performance.now();
      const l = new Listener(server, ctx, 'tone-440', { shared });
      try {
        const stream = await waitFor('the stream message', () => l.of('stream').find((m) => m.device === 'tone-440'));
        assert.equal(stream.online, true);
        assert.equal(stream.codec, 'ima-adpcm');
        await waitFor('playback', () => l.stats()?.[Stat.STATE] === 1, 5000);
        await sleep(2500);
        await playsTone(l, 440, 'tone-440');
        const s = l.stats();
        assertNoUnderrunOfItsOwn(s[Stat.UNDERRUNS], since, 'a quiet local link');
        assert.equal(l.client.stats.badFrames, 0);
        assert.ok(l.latencies.length > 20, `${l.latencies.length} latency samples`);
        const latency = median(l.latencies);
        // Capture to output: at least the 20 ms frame; on a quiet local link well under 150 ms.
        assert.ok(latency > 20 && latency < 150, `latency ${latency.toFixed(1)} ms`);
        assert.ok(Math.abs(l.player.writer.captureUsAt(s[Stat.POSITION]) - Date.now() * 1000) < 1e6, 'capture times on the wall clock');
      } finally {
        l.close();
      }
    });
  }

  test('PCM16 stereo 48 kHz and mu-law 8 kHz play too', async () => {
    server.startDevice('pcm-880', { tone: 880, codec: 'pcm16', rate: 48000, channels: 2, frameMs: 10 });
    server.startDevice('mulaw-300', { tone: 300, codec: 'mulaw', rate: 8000, frameMs: 40 });
    const a = new Listener(server, ctx, 'pcm-880', { shared: true });
    const b = new Listener(server, ctx, 'mulaw-300', { shared: true });
    try {
      await waitFor('both playing', () => a.stats()?.[Stat.STATE] === 1 && b.stats()?.[Stat.STATE] === 1, 8000);
      await sleep(2000);
      await playsTone(a, 880, 'pcm-880');
      await playsTone(b, 300, 'mulaw-300');
      assert.equal(a.stats()[Stat.IN_RATE], 48000);
      assert.equal(b.stats()[Stat.IN_RATE], 8000);
    } finally {
      a.close();
      b.close();
      await server.stopDevice('pcm-880');
      await server.stopDevice('mulaw-300');
    }
  });

  test('a device that goes away and comes back: offline, then it plays again without a new connection', async () => {
    const l = new Listener(server, ctx, 'tone-440', { shared: true });
    try {
      await waitFor('playback', () => l.stats()?.[Stat.STATE] === 1, 5000);
      const connects = l.client.stats.connects;
      await server.stopDevice('tone-440');
      await waitFor('the offline stream message', () => l.of('stream').some((m) => m.online === false), 5000);
      server.startDevice('tone-440', { tone: 660 });
      await waitFor('the online stream message', () => l.of('stream').filter((m) => m.online).length >= 2, 8000);
      await sleep(2500);
      await playsTone(l, 660, 'the device, back with another tone');
      assert.equal(l.client.stats.connects, connects, 'the WebSocket stayed up');
    } finally {
      l.close();
    }
  });

  test('the server goes away: backoff 500 ms, 1 s, 2 s…; it comes back on the same port: playback resumes', async () => {
    const l = new Listener(server, ctx, 'tone-440', { shared: true });
    try {
      await waitFor('playback', () => l.stats()?.[Stat.STATE] === 1, 5000);
      await server.stop();
      await waitFor('three retries', () => l.of('state').filter((s) => s.state === 'waiting').length >= 3, 10000);
      const delays = l.of('state').filter((s) => s.state === 'waiting').map((s) => s.delayMs);
      // 500, 1000, 2000 ms, each shortened by up to 20 %.
      [500, 1000, 2000].forEach((base, i) => assert.ok(delays[i] <= base && delays[i] >= base * 0.8, `retry ${i}: ${delays[i]} ms`));
      await server.start(); // same ports
      await waitFor('the reconnection', () => l.client.state === 'open', 10000);
      // The device reconnects by its own backoff; then audio flows again.
      const frames = l.client.stats.frames;
      await waitFor('audio again', () => l.client.stats.frames > frames + 50, 15000);
      await sleep(2000);
      await playsTone(l, 660, 'after the server restart');
      assert.ok(l.client.stats.connects >= 2);
    } finally {
      l.close();
    }
  });
});
