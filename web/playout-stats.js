// The statistics the player publishes, one Float64Array a playback: PlayerCore
// (player-core.js) and the worklet (player-processor.js) write them, the page
// (player.js) reads them, through shared memory or messages.

/** Indices of the statistics the worklet publishes (a Float64Array; see player-worklet.js). */
export const Stat = Object.freeze({
  CONTEXT_TIME: 0, // AudioContext time of the first sample of the last quantum
  POSITION: 1, // ring frame (device samples since the ring began) playing at that instant; NaN while concealing
  LEVEL: 2, // seconds of audio waiting in the ring
  START_LEVEL: 3, // seconds: the buffer target (playback starts and skips to here)
  MARGIN: 4,
  SPREAD: 5, // seconds: arrival jitter as the buffer feels it
  CHUNK: 6, // seconds: typical arrival
  CORRECTION: 7, // ratio correction now (ppm × 1e-6)
  DRIFT: 8, // the loop's estimate of the clock ratio (integral term)
  UNDERRUNS: 9,
  CONCEALED_FRAMES: 10, // device frames the worklet concealed (late data)
  SKIPS: 11,
  SKIPPED_FRAMES: 12,
  STATE: 13, // 0 buffering, 1 playing
  FRAMES_OUT: 14,
  CONSUMED: 15, // ring frames played or skipped
  IN_RATE: 16,
  OUT_RATE: 17,
  TROUGH_MIN: 18,
  TROUGH: 19,
  OVERFLOW_FRAMES: 20, // frames the worklet could not store (message transport only)
  LATENESS: 21, // seconds, of the last underrun
  RESAMPLER_DELAY: 22, // frames
  GENERATION: 23, // which configuration of the worklet these figures belong to
  COUNT: 24,
});

export const State = Object.freeze({ BUFFERING: 0, PLAYING: 1 });
