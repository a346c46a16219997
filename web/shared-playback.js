// The buffers of one playback, as the ring's writer (the page, or the receiver
// worker) makes them and the page's Player attaches them to the worklet. Plain
// module (no DOM, no Web Audio): the receiver worker imports it.

import { Stat } from './playout-stats.js';
import { RingBuffer } from './ring-buffer.js';
import { CaptureTimeline } from './stream-writer.js';

const RING_SECONDS = 4;
export const TIMELINE_ENTRIES = 1024; // frames whose capture time is remembered (10 s of 10 ms frames)

/** Samples the ring holds for a stream of this format (shared or, over messages, the worklet's own). */
export function ringSamplesFor(rate, channels) {
  return RingBuffer.capacityFor(rate * channels * RING_SECONDS);
}

/**
 * The shared buffers of one playback: the ring (device audio), the worklet's
 * statistics, the optional output tap, the capture timeline. Made by whoever
 * writes the ring (the page, or the receiver worker) and handed to
 * Player.attach().
 */
export function createSharedPlayback({ rate, channels, tapSamples = 0 }) {
  return {
    rate,
    channels,
    ring: RingBuffer.create(ringSamplesFor(rate, channels), true).buffer,
    stats: new SharedArrayBuffer(8 + Stat.COUNT * 8),
    tap: tapSamples ? new SharedArrayBuffer(8 + tapSamples * 4) : null,
    timeline: new SharedArrayBuffer(CaptureTimeline.bytesFor(TIMELINE_ENTRIES)),
  };
}
