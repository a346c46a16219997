// web/background-player.js (background mode's <audio> players and their
// Media Session) and prefs.js's background-mode default, on stand-ins for the
// element and navigator.mediaSession: the stream URL, a fresh request for
// every (re)start, retries with the page's backoff after an error or an end,
// pause and play, stale events ignored; the browser test
// (tests/browser/background.test.js) plays the real thing in chromium.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackgroundPlayer, BackgroundSession, bufferedAhead, streamFormat } from '../../web/background-player.js';
import { backgroundMode, isIOS } from '../../web/prefs.js';

/** Just what BackgroundPlayer uses of an HTMLAudioElement. */
class FakeAudio {
  constructor(opus = 'probably') {
    this.opus = opus;
    this.listeners = new Map();
    this.dataset = {};
    this.attrs = new Map();
    this.loads = 0;
    this.plays = [];
    this.currentTime = 0;
    this.buffered = { length: 0, end: () => 0 };
    this.ended = false;
    this.error = null;
    this.volume = 1;
    this.muted = false;
    this.playResult = () => Promise.resolve();
  }

  canPlayType(type) {
    return type.startsWith('audio/ogg') ? this.opus : 'maybe';
  }

  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }

  emit(type) {
    for (const fn of this.listeners.get(type) || []) fn();
  }

  set src(url) {
    this.attrs.set('src', url);
  }

  getAttribute(name) {
    return this.attrs.has(name) ? this.attrs.get(name) : null;
  }

  removeAttribute(name) {
    this.attrs.delete(name);
  }

  load() {
    this.loads++;
  }

  play() {
    this.plays.push(this.getAttribute('src'));
    return this.playResult();
  }

  remove() {
    this.removed = true;
  }
}

const FAST = { initialMs: 20, maxMs: 80, jitterPercent: 0 };

describe('BackgroundPlayer', () => {
  test('Ogg Opus where the element says it plays it, else MP3', () => {
    assert.equal(streamFormat(new FakeAudio('probably')), 'opus');
    assert.equal(streamFormat(new FakeAudio('maybe')), 'opus');
    assert.equal(streamFormat(new FakeAudio('')), 'mp3');
  });

  test('start: the device\'s stream, a new URL each time, and play()', () => {
    const el = new FakeAudio('');
    const p = new BackgroundPlayer('kitchen mic/1', { element: el });
    assert.equal(el.dataset.backgroundPlayer, 'kitchen mic/1');
    assert.equal(el.preload, 'none');
    p.start();
    const first = el.getAttribute('src');
    assert.match(first, /^\/stream\/kitchen%20mic%2F1\.mp3\?r=[0-9a-z-]+$/);
    assert.deepEqual(el.plays, [first]);
    assert.equal(p.state, 'connecting');
    p.stop();
    assert.equal(el.getAttribute('src'), null, 'stop removes the source');
    assert.ok(el.loads >= 1, 'and load()s, which ends the request and drops the buffer');
    p.start();
    assert.notEqual(el.getAttribute('src'), first, 'a restart asks again (live), never resumes the old request');
  });

  test('an error or an end: retried with the backoff, on a new request; playing resets the backoff', async () => {
    const el = new FakeAudio();
    const changes = [];
    const p = new BackgroundPlayer('a', { element: el, backoffPolicy: FAST, onChange: () => changes.push(p.state) });
    p.start();
    el.emit('playing');
    assert.equal(p.state, 'playing');
    const src1 = el.getAttribute('src');
    el.error = { code: 2, message: 'net' };
    el.emit('error');
    assert.equal(p.state, 'waiting');
    assert.match(p.stats().reason, /network error/);
    assert.equal(el.getAttribute('src'), null, 'nothing is fetched while waiting');
    const wait = p.retryAt - Date.now();
    assert.ok(wait > 0 && wait <= 20, `first retry in ${wait} ms`);
    await sleep(40);
    el.error = null;
    assert.equal(p.state, 'connecting');
    const src2 = el.getAttribute('src');
    assert.notEqual(src2, src1);
    // Fails again before playing: the delay doubles.
    el.ended = true;
    el.emit('pause'); // (the element says paused before ended)
    assert.equal(p.state, 'waiting', 'a pause at the end is an end, not the listener\'s pause');
    assert.equal(p.stats().reason, 'the stream ended');
    el.emit('ended'); // stale now: no second retry scheduled
    assert.equal(p.retries, 2);
    assert.ok(p.retryAt - Date.now() > 20, 'the backoff grew');
    await sleep(60);
    el.ended = false;
    el.emit('playing');
    assert.equal(p.backoff.attempts, 0, 'audio came: the backoff starts over');
    assert.deepEqual(changes, ['connecting', 'playing', 'waiting', 'connecting', 'waiting', 'connecting', 'playing']);
    p.stop();
  });

  test('pause (the media session, or the system) stops the stream; nothing retries; events after it are ignored', async () => {
    const el = new FakeAudio();
    const p = new BackgroundPlayer('a', { element: el, backoffPolicy: FAST });
    p.start();
    el.emit('playing');
    el.emit('pause'); // not ours, not an end: the system paused it
    assert.equal(p.state, 'paused');
    assert.equal(el.getAttribute('src'), null);
    el.emit('error');
    el.emit('playing');
    assert.equal(p.state, 'paused');
    await sleep(40);
    assert.equal(p.state, 'paused', 'no retry');
    p.start();
    assert.equal(p.state, 'connecting');
    p.stop();
  });

  test('play() refused (no user gesture): blocked until started again', async () => {
    const el = new FakeAudio();
    el.playResult = () => Promise.reject(Object.assign(new Error('gesture'), { name: 'NotAllowedError' }));
    const p = new BackgroundPlayer('a', { element: el });
    p.start();
    await sleep(0);
    assert.equal(p.state, 'blocked');
    assert.equal(el.getAttribute('src'), null, 'a blocked element holds no request');
    el.playResult = () => Promise.resolve();
    p.start();
    await sleep(0);
    assert.equal(p.state, 'connecting');
    p.stop();
  });

  test('the buffer ahead of the playing point, in the stats', () => {
    const el = new FakeAudio();
    const p = new BackgroundPlayer('a', { element: el });
    assert.ok(Number.isNaN(bufferedAhead(el)));
    p.start();
    el.emit('playing');
    el.buffered = { length: 2, end: (i) => [1, 13.5][i] };
    el.currentTime = 12.25;
    assert.equal(bufferedAhead(el), 1.25);
    assert.deepEqual(p.stats(), {
      mode: 'background', format: 'opus', state: 'playing', bufferAheadMs: 1250, bufferAheadNowMs: 1250, reason: null, starts: 1, retries: 0,
    });
    p.setVolume(0.5);
    p.setMuted(true);
    assert.equal(el.volume, 0.5);
    assert.equal(el.muted, true);
    p.destroy();
    assert.equal(el.removed, true);
    assert.equal(p.stats().bufferAheadMs, null);
  });

  test('the buffer figure is the most of the last 10 s (chromium moves buffered on in steps)', () => {
    const el = new FakeAudio();
    const p = new BackgroundPlayer('a', { element: el });
    const realNow = Date.now;
    let now = 1e6;
    Date.now = () => now;
    try {
      p.start();
      el.emit('playing');
      const at = (ahead) => {
        el.buffered = { length: 1, end: () => el.currentTime + ahead };
        el.emit('timeupdate');
      };
      at(2.3);
      now += 4000;
      at(0.4);
      assert.equal(p.stats().bufferAheadMs, 2300);
      assert.equal(p.stats().bufferAheadNowMs, 400);
      now += 7000; // the 2.3 s sample is 11 s old
      at(0.5);
      assert.equal(p.stats().bufferAheadMs, 500);
      p.stop();
      p.start(); // a new request: nothing of the old one counts
      el.emit('playing');
      at(0.1);
      assert.equal(p.stats().bufferAheadMs, 100);
    } finally {
      Date.now = realNow;
      p.stop();
    }
  });
});

describe('BackgroundSession', () => {
  class FakeMetadata {
    constructor(init) {
      Object.assign(this, init);
    }
  }
  const fakeSession = () => ({
    metadata: null,
    playbackState: 'none',
    handlers: {},
    setActionHandler(action, fn) {
      if (fn) this.handlers[action] = fn;
      else delete this.handlers[action];
    },
  });

  test('metadata, play and pause handlers on every player, the playback state', () => {
    const ms = fakeSession();
    let name = '';
    const s = new BackgroundSession({ mediaSession: ms, Metadata: FakeMetadata, serverName: () => name });
    const a = new BackgroundPlayer('mic-b', { element: new FakeAudio(), onChange: () => s.refresh() });
    const b = new BackgroundPlayer('mic-a', { element: new FakeAudio(), onChange: () => s.refresh() });
    s.add(a);
    a.start();
    assert.deepEqual({ ...ms.metadata }, { title: 'mic-b', artist: 'micstream', album: '' });
    assert.deepEqual(Object.keys(ms.handlers).sort(), ['pause', 'play']);
    assert.equal(ms.playbackState, 'playing');
    name = 'studio';
    s.add(b);
    b.start();
    assert.deepEqual({ ...ms.metadata }, { title: 'mic-a, mic-b', artist: 'micstream', album: 'studio' });
    ms.handlers.pause();
    assert.equal(a.state, 'paused');
    assert.equal(b.state, 'paused');
    assert.equal(ms.playbackState, 'paused');
    ms.handlers.play();
    assert.equal(a.state, 'connecting');
    assert.equal(b.state, 'connecting');
    assert.equal(ms.playbackState, 'playing');
    a.destroy();
    s.remove(a);
    b.destroy();
    s.remove(b);
    assert.equal(ms.metadata, null);
    assert.equal(ms.playbackState, 'none');
    assert.deepEqual(ms.handlers, {}, 'no handlers while nothing plays');
  });

  test('no Media Session (older browsers): nothing to do, nothing thrown', () => {
    const s = new BackgroundSession({ mediaSession: null });
    const p = new BackgroundPlayer('a', { element: new FakeAudio() });
    s.add(p);
    s.pause();
    s.play();
    p.stop();
    s.remove(p);
  });
});

describe('background mode\'s default (prefs.js)', () => {
  const iPhone = { platform: 'iPhone', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15', maxTouchPoints: 5 };
  const iPadOS = { platform: 'MacIntel', userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15', maxTouchPoints: 5 };
  const mac = { platform: 'MacIntel', userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15', maxTouchPoints: 0 };
  const android = { platform: 'Linux armv81', userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8)', maxTouchPoints: 5 };

  test('iPhone, iPod and iPad (iPadOS too, which says MacIntel) are iOS; a Mac and Android are not', () => {
    assert.equal(isIOS(iPhone), true);
    assert.equal(isIOS({ platform: 'iPod touch', userAgent: '', maxTouchPoints: 5 }), true);
    assert.equal(isIOS(iPadOS), true);
    assert.equal(isIOS(mac), false);
    assert.equal(isIOS(android), false);
    assert.equal(isIOS(undefined), false);
  });

  test('on for iOS, off elsewhere; the remembered choice wins; ?background= wins over both', () => {
    const none = new URLSearchParams('');
    assert.equal(backgroundMode(none, { background: null }, iPhone), true);
    assert.equal(backgroundMode(none, { background: null }, android), false);
    assert.equal(backgroundMode(none, { background: false }, iPadOS), false);
    assert.equal(backgroundMode(none, { background: true }, android), true);
    assert.equal(backgroundMode(new URLSearchParams('background=1'), { background: false }, android), true);
    assert.equal(backgroundMode(new URLSearchParams('background=0'), { background: true }, iPhone), false);
    assert.equal(backgroundMode(new URLSearchParams('background=yes'), { background: null }, android), false, 'only 1 and 0 count');
  });
});
