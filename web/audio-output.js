// The audio output: the page's one AudioContext, the output buffer it asks
// for (latencyHint), and the player module it loads into it.
//
// The sound card's own delay is part of what a listener hears. Where the
// browser reports output glitches (AudioContext.playbackStats, Chromium), the
// page asks for the smallest output buffer (latencyHint 0: 128 frames) and
// steps up to the platform's 'interactive' buffer if the output glitches
// (OUTPUT_GLITCHES within OUTPUT_GLITCH_WINDOW_MS, once past the first
// OUTPUT_SETTLE_MS of playing, when code is still being compiled and the
// page's first frames decoded); elsewhere it cannot tell,
// so it asks for 'interactive'. ?latency=lowest|interactive|balanced|playback
// or a number of seconds fixes the choice.

const OUTPUT_GLITCHES = 3;
const OUTPUT_GLITCH_WINDOW_MS = 60000;
const OUTPUT_SETTLE_MS = 5000;

function chosenLatencyHint(latencyParam) {
  if (latencyParam === 'auto') return 'playbackStats' in (globalThis.AudioContext?.prototype || {}) ? 0 : 'interactive';
  if (latencyParam === 'lowest') return 0;
  const seconds = Number(latencyParam);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : latencyParam;
}

export class AudioOutput {
  /**
   * @param {string|null} latencyParam ?latency= (absent: 'auto', the policy above)
   * @param {() => void} onChange the context's state changed, or the player loaded (or failed to)
   */
  constructor(latencyParam, onChange) {
    this.latencyParam = latencyParam || 'auto';
    this.onChange = onChange;
    this.ctx = null;
    this.playerLoaded = false; // the player can be made: the worklet module loaded (or no AudioWorklet: the fallback)
    this.error = null; // why there is no audio, once that is known
    this.latencyHint = null; // what the AudioContext was created with
    this.glitches = null; // {seen, times, runningSince}: the output's underrun events (playbackStats)
    this.stepUps = 0; // times the output buffer was enlarged after glitches
  }

  /** Whether a player can play now: the player module loaded and the context running. */
  canPlay() {
    return this.playerLoaded && this.ctx !== null && this.ctx.state === 'running';
  }

  /**
   * Creates the AudioContext with the chosen buffer and unlocks the output;
   * call it inside a user gesture (iOS lets only one start audio). Returns
   * whether there is a context (no: this.error says why).
   */
  open() {
    this.create(chosenLatencyHint(this.latencyParam));
    if (!this.ctx) return false;
    // iOS: play through the ring/silent switch like a media player.
    if (navigator.audioSession) {
      try {
        navigator.audioSession.type = 'playback';
      } catch {
        // older Safari
      }
    }
    // Older iOS wants a sound started in the gesture to unlock output.
    const silence = this.ctx.createBufferSource();
    silence.buffer = this.ctx.createBuffer(1, 1, this.ctx.sampleRate);
    silence.connect(this.ctx.destination);
    silence.start();
    return true;
  }

  create(latencyHint) {
    const AudioContextClass = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!AudioContextClass) {
      this.error = 'this browser has no Web Audio';
      return;
    }
    try {
      this.ctx = new AudioContextClass({ latencyHint });
    } catch (e) {
      this.error = `no audio output: ${e.message}`;
      return;
    }
    this.latencyHint = latencyHint;
    this.glitches = { seen: 0, times: [], runningSince: NaN };
    this.playerLoaded = false;
    this.ctx.addEventListener('statechange', this.onChange);
    if (!this.ctx.audioWorklet) {
      // Not a secure context (plain http to another machine): the main-thread player (script-player-node.js).
      this.playerLoaded = true;
      return;
    }
    const ctx = this.ctx;
    ctx.audioWorklet.addModule(new URL('player-worklet.js', import.meta.url)).then(
      () => {
        if (this.ctx !== ctx) return;
        this.playerLoaded = true;
        this.onChange();
      },
      (e) => {
        if (this.ctx !== ctx) return;
        this.error = `the audio worklet did not load: ${e.message}`;
        this.onChange();
      },
    );
  }

  /**
   * Once a tick: counts the output's glitches while something plays; too many
   * with the smallest buffer and it moves to a new context with the
   * 'interactive' one. `dropPlayers` first ends the players, which belong to
   * the old context (the streams go on; each player starts afresh on the new one).
   */
  watch(now, playing, dropPlayers) {
    const ctx = this.ctx;
    const stats = ctx && ctx.state === 'running' && this.latencyParam === 'auto' && this.latencyHint === 0 ? ctx.playbackStats : null;
    if (!stats) return;
    const g = this.glitches;
    const events = stats.underrunEvents;
    if (!playing) g.runningSince = NaN;
    else if (Number.isNaN(g.runningSince)) g.runningSince = now;
    if (!playing || now - g.runningSince < OUTPUT_SETTLE_MS) {
      g.seen = events; // not counted: nothing plays, or it is starting
      return;
    }
    for (; g.seen < events; g.seen++) g.times.push(now);
    while (g.times.length && now - g.times[0] > OUTPUT_GLITCH_WINDOW_MS) g.times.shift();
    if (g.times.length < OUTPUT_GLITCHES) return;
    console.info(`micstream: the audio output glitched ${g.times.length} times in ${OUTPUT_GLITCH_WINDOW_MS / 1000} s with a ${Math.round(ctx.baseLatency * 1000)} ms buffer; switching to the 'interactive' buffer`);
    dropPlayers();
    this.ctx = null;
    ctx.close();
    this.create('interactive');
    if (this.ctx) this.ctx.resume().then(this.onChange, this.onChange);
    this.stepUps++;
  }
}
