// Background mode (web/README.md, "Background mode"): a device played by an
// <audio> element from the server's standard HTTP stream (docs/server.md,
// "Standard streams") instead of the Web Audio player. iOS stops Web Audio
// when the screen locks but lets a media element with a Media Session play
// on. The cost: the element's own buffer (seconds) instead of the jitter
// buffer's few tens of milliseconds, and nothing measured end to end.
//
// BackgroundPlayer is one device's element; BackgroundSession is the page's
// one Media Session (lock screen, headset buttons) over all of them.

import { Backoff } from './backoff.js';

/**
 * The stream format an element plays: Ogg Opus where it says it can (smaller,
 * and what the server encodes best), else MP3, which every element plays.
 */
export function streamFormat(el) {
  const answer = typeof el.canPlayType === 'function' ? el.canPlayType('audio/ogg; codecs=opus') : '';
  return answer === 'probably' || answer === 'maybe' ? 'opus' : 'mp3';
}

/** What the element holds ahead of its playing point, in seconds (NaN when it holds nothing). */
export function bufferedAhead(el) {
  const b = el.buffered;
  if (!b || b.length === 0) return NaN;
  return Math.max(0, b.end(b.length - 1) - el.currentTime);
}

let requests = 0; // numbers each request's URL (below), with the time: unique across page loads too

// Chromium moves `buffered` on in steps of about 2 s, so what it holds ahead
// saw-tooths between ~0.4 and ~2.3 s while the audio arrives evenly: the most
// of the last AHEAD_WINDOW_MS is the honest figure (what has arrived is at
// least that far ahead of what plays).
const AHEAD_WINDOW_MS = 10000;

export class BackgroundPlayer {
  /**
   * @param {string} id the device's id
   * @param {object} [o]
   * @param {() => void} [o.onChange] the state changed (for the media session and the page's status)
   * @param {object} [o.element] the element to use (tests); otherwise a new <audio>
   * @param {object} [o.backoffPolicy] web/backoff.js's policy (tests shorten it)
   */
  constructor(id, { onChange = () => {}, element, backoffPolicy } = {}) {
    this.id = id;
    this.onChange = onChange;
    this.el = element || document.createElement('audio');
    this.el.preload = 'none'; // nothing is fetched before start(): a request is a listener at the server
    this.el.dataset.backgroundPlayer = id; // what tests find it by
    this.format = streamFormat(this.el);
    // 'idle' (not started), 'connecting', 'playing', 'buffering', 'waiting'
    // (a retry is due at retryAt), 'paused' (by the media session or the system), 'blocked' (play() needs a tap)
    this.state = 'idle';
    this.reason = ''; // why it is waiting
    this.backoff = new Backoff(backoffPolicy);
    this.retryAt = 0;
    this.timer = 0;
    this.starts = 0; // requests made
    this.retries = 0; // of those, after an error or an end
    this.volume = 1;
    this.muted = false;
    this.ahead = []; // [Date.now(), seconds ahead] of this request, the last AHEAD_WINDOW_MS
    const on = (type, fn) => this.el.addEventListener(type, fn);
    // timeupdate comes every 15 to 250 ms while playing; progress as data arrives.
    on('timeupdate', () => this.sampleAhead());
    on('progress', () => this.sampleAhead());
    on('playing', () => {
      if (!this.live()) return;
      this.backoff.reset(); // audio came: the next failure retries soon again
      this.set('playing');
    });
    on('waiting', () => this.live() && this.set('buffering'));
    on('error', () => this.live() && this.fail(`the player failed (${mediaError(this.el)})`));
    // The server ends the response when it restarts or the device changes its rate or channels.
    on('ended', () => this.live() && this.fail('the stream ended'));
    on('pause', () => {
      if (!this.live()) return;
      // A pause we did not ask for: an end or an error (each fires its own event too, maybe after
      // this one), or the system (iOS: a call, the headphones unplugged), which we take as the user's.
      if (this.el.ended) this.fail('the stream ended');
      else if (this.el.error) this.fail(`the player failed (${mediaError(this.el)})`);
      else this.pause();
    });
  }

  sampleAhead() {
    if (this.state !== 'playing') return;
    const ahead = bufferedAhead(this.el);
    if (!Number.isFinite(ahead)) return;
    const now = Date.now();
    this.ahead.push([now, ahead]);
    while (this.ahead.length && now - this.ahead[0][0] > AHEAD_WINDOW_MS) this.ahead.shift();
  }

  /** Whether the element is meant to be playing (events from an element we stopped are stale). */
  live() {
    return this.state === 'connecting' || this.state === 'playing' || this.state === 'buffering';
  }

  /**
   * Plays from live: a new request each time, never a paused element's
   * buffer (old audio). Call it in a user gesture the first time (iOS).
   */
  start() {
    this.cancelRetry();
    // A URL of its own: no cache and no media pipeline can hand back an earlier request's audio.
    // (The server ignores the query; the stream begins at live for every request.)
    const url = `/stream/${encodeURIComponent(this.id)}.${this.format}?r=${Date.now().toString(36)}-${++requests}`;
    this.starts++;
    this.ahead = [];
    this.set('connecting');
    this.el.src = url;
    this.applyVolume();
    const played = this.el.play();
    if (played && typeof played.catch === 'function') {
      played.catch((e) => {
        // NotAllowedError: no user gesture (iOS, a device that appeared later): wait for a tap.
        // AbortError: a newer start() or stop() came first. Anything else fires `error` too.
        if (e && e.name === 'NotAllowedError' && this.el.getAttribute('src') === url) {
          this.release();
          this.set('blocked');
        }
      });
    }
  }

  /** Stops: no request open (the server counts no listener), no retry. */
  stop() {
    this.cancelRetry();
    this.release();
    this.set('idle');
  }

  /** The media session's pause (or the system's): stops the element; play starts it again from live. */
  pause() {
    this.cancelRetry();
    this.release();
    this.set('paused');
  }

  /** After an error or an end: the page's backoff (web/backoff.js), then a new request. */
  fail(reason) {
    this.release();
    this.reason = reason;
    const delay = this.backoff.nextDelayMs();
    this.retryAt = Date.now() + delay;
    this.retries++;
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.start();
    }, delay);
    this.set('waiting');
  }

  /** The device is back: a retry due later is made now. */
  retryNow() {
    if (this.state === 'waiting') this.start();
  }

  cancelRetry() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = 0;
    this.retryAt = 0;
  }

  /** Ends the request and drops the buffer: removing src alone leaves both until load(). */
  release() {
    this.el.removeAttribute('src');
    this.el.load();
  }

  setVolume(volume) {
    this.volume = volume;
    this.applyVolume();
  }

  setMuted(muted) {
    this.muted = muted;
    this.applyVolume();
  }

  applyVolume() {
    // (iOS ignores an element's volume: there, only mute works, and the device's buttons.)
    this.el.volume = Math.min(1, Math.max(0, this.volume));
    this.el.muted = this.muted;
  }

  set(state) {
    if (state !== 'waiting') this.reason = '';
    const changed = state !== this.state;
    this.state = state;
    if (changed) this.onChange();
  }

  /** Its part of a device's window.micstreamStats (page-stats.js). */
  stats() {
    const playing = this.state === 'playing' || this.state === 'buffering';
    const now = playing ? bufferedAhead(this.el) : NaN;
    const recent = playing ? [...this.ahead.map(([, a]) => a), now].filter(Number.isFinite) : [];
    const ms = (x) => (Number.isFinite(x) ? Math.round(x * 1000) : null);
    return {
      mode: 'background',
      format: this.format,
      state: this.state,
      // The element's buffer ahead of its playing point, the most in the last AHEAD_WINDOW_MS: the part
      // of the delay the page can see. Not the latency: the network, the server's queue and the output come on top.
      bufferAheadMs: recent.length ? ms(Math.max(...recent)) : null,
      bufferAheadNowMs: ms(now), // buffered.end(last) − currentTime, now
      reason: this.reason || null,
      starts: this.starts,
      retries: this.retries,
    };
  }

  /** Stops and takes the element out of the page. */
  destroy() {
    this.stop();
    this.el.remove();
  }
}

function mediaError(el) {
  const e = el.error;
  if (!e) return 'no detail';
  const names = { 1: 'aborted', 2: 'network error', 3: 'decode error', 4: 'source not supported' };
  return `${names[e.code] || `code ${e.code}`}${e.message ? `: ${e.message}` : ''}`;
}

/**
 * The page's Media Session over the background players: what the lock
 * screen shows (the devices' ids, the server's name) and its play and pause,
 * which act on every player. One for the page: the session is the page's.
 */
export class BackgroundSession {
  /**
   * @param {object} [o]
   * @param {() => string} [o.serverName] the server's name, when known
   * @param {object} [o.mediaSession] navigator.mediaSession (tests pass a stand-in); none: nothing to do
   * @param {Function} [o.Metadata] MediaMetadata
   */
  constructor({ serverName = () => '', mediaSession = globalThis.navigator?.mediaSession, Metadata = globalThis.MediaMetadata } = {}) {
    this.serverName = serverName;
    this.session = mediaSession || null;
    this.Metadata = typeof Metadata === 'function' ? Metadata : null;
    this.players = new Set();
    this.metadataKey = '';
    this.handling = false;
    // The action handlers: the same functions the lock screen calls.
    this.handlers = {
      play: () => this.play(),
      pause: () => this.pause(),
    };
  }

  add(player) {
    this.players.add(player);
    this.refresh();
  }

  remove(player) {
    this.players.delete(player);
    this.refresh();
  }

  /** Play: every paused (or blocked) player starts again from live. */
  play() {
    for (const p of this.players) if (p.state === 'paused' || p.state === 'blocked') p.start();
    this.refresh();
  }

  /** Pause: every player stops its stream. */
  pause() {
    for (const p of this.players) if (p.state !== 'idle') p.pause();
    this.refresh();
  }

  /** The metadata, the handlers and the playback state, after any change (cheap when none). */
  refresh() {
    const ms = this.session;
    if (!ms) return;
    const players = [...this.players];
    this.setHandlers(players.length > 0);
    if (players.length === 0) {
      if (ms.metadata) ms.metadata = null;
      if (ms.playbackState !== 'none') ms.playbackState = 'none';
      this.metadataKey = '';
      return;
    }
    const title = players.map((p) => p.id).sort().join(', ');
    const album = this.serverName() || '';
    const key = `${title}\n${album}`;
    if (key !== this.metadataKey && this.Metadata) {
      ms.metadata = new this.Metadata({ title, artist: 'micstream', album });
      this.metadataKey = key;
    }
    const paused = players.every((p) => p.state === 'paused' || p.state === 'blocked' || p.state === 'idle');
    const state = paused ? 'paused' : 'playing';
    if (ms.playbackState !== state) ms.playbackState = state;
  }

  setHandlers(on) {
    if (on === this.handling) return;
    this.handling = on;
    for (const [action, fn] of Object.entries(this.handlers)) {
      try {
        this.session.setActionHandler(action, on ? fn : null);
      } catch {
        // an action this browser does not know
      }
    }
  }
}
