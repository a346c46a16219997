// One device's card (index.html's #device-template): the listen toggle, mute,
// volume, the spectrogram/waveform switch, the meter, the status line, and the
// data-* attributes browser tests select on (web/README.md, "For tests").
// The DOM only: the device's state is app.js's Device, which the card's
// controls call and which tells the card what to show.

import { DeviceVisuals } from './visuals.js';

const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : '–');

/** The status line of a device in background mode (background-player.js): what the element does, and its buffer. */
function backgroundText(bg, state, retryAt) {
  const mode = `background mode (${bg.format})`;
  switch (state) {
    case 'connecting':
      return `${mode} · connecting…`;
    case 'waiting':
      return `${mode} · ${bg.reason || 'the stream stopped'}: retrying in ${Math.max(0, (retryAt - Date.now()) / 1000).toFixed(1)} s`;
    case 'paused':
      return `${mode} · paused: play from the lock screen or the media controls (it starts again at live)`;
    case 'blocked':
      return `${mode} · the browser wants a tap before it plays: tap "Tap to resume audio"`;
    case 'buffering':
      return `${mode} · buffering…`;
    default: {
      // What the element holds ahead of its playing point: the part of the delay the page can see.
      const ahead = bg.bufferAheadMs == null ? 'behind live by an unknown amount' : `about ${(bg.bufferAheadMs / 1000).toFixed(1)} s behind live`;
      return `${mode} · ${ahead} (the player's buffer, not measured end to end) · restarts ${bg.retries}`;
    }
  }
}

export class DeviceCard {
  /**
   * @param {HTMLTemplateElement} template index.html's #device-template
   * @param {string} id the device's id
   * @param {object} on what the controls ask for
   * @param {(selected: boolean) => void} on.listen the listen toggle changed
   * @param {() => void} on.toggleMute the mute button was pressed
   * @param {(volume: number) => void} on.volume the slider moved (0..1)
   * @param {(mode: string) => void} on.view the view button was pressed ('spectrogram' | 'waveform')
   */
  constructor(template, id, on) {
    const el = template.content.firstElementChild.cloneNode(true);
    this.el = el;
    el.dataset.deviceId = id;
    el.id = `device-${id}`;
    el.querySelector('.name').textContent = id;
    this.toggle = el.querySelector('.listen-toggle');
    this.toggle.addEventListener('change', () => on.listen(this.toggle.checked));
    this.muteButton = el.querySelector('.mute');
    this.muteButton.addEventListener('click', () => on.toggleMute());
    this.volumeInput = el.querySelector('.volume');
    this.volumeInput.addEventListener('input', () => on.volume(Number(this.volumeInput.value) / 100));
    this.viewButton = el.querySelector('.view');
    this.viewButton.addEventListener('click', () => on.view(this.visuals.mode === 'spectrogram' ? 'waveform' : 'spectrogram'));
    this.scope = el.querySelector('.scope');
    this.statusLine = el.querySelector('.status');
    this.formatText = el.querySelector('.format');
    this.badge = el.querySelector('.online-badge');
    this.visuals = new DeviceVisuals(el.querySelector('.meter'), this.scope);
  }

  /** The device's format, from the server's `devices` list. */
  showInfo(info) {
    const channels = info.channels === 2 ? 'stereo' : 'mono';
    this.formatText.textContent = `${info.codec} · ${(info.sample_rate / 1000).toFixed(info.sample_rate % 1000 ? 1 : 0)} kHz · ${channels}${info.firmware ? ` · fw ${info.firmware}` : ''}`;
  }

  showOnline(online) {
    this.el.dataset.online = String(online);
    this.badge.textContent = online ? 'online' : 'offline';
  }

  showSelected(selected) {
    this.toggle.checked = selected;
  }

  showListening(listening) {
    this.el.dataset.listening = String(listening);
  }

  showVolume(volume) {
    this.volumeInput.value = String(Math.round(volume * 100));
  }

  showMuted(muted) {
    this.muteButton.setAttribute('aria-pressed', String(muted));
    this.muteButton.textContent = muted ? 'Unmute' : 'Mute';
  }

  /** Shows the spectrogram or the waveform; returns the mode shown. */
  setView(mode) {
    this.visuals.setMode(mode === 'waveform' ? 'waveform' : 'spectrogram');
    this.viewButton.textContent = this.visuals.mode === 'spectrogram' ? 'Waveform' : 'Spectrogram';
    this.scope.setAttribute('aria-label', this.visuals.mode === 'spectrogram' ? 'Spectrogram' : 'Waveform');
    return this.visuals.mode;
  }

  /**
   * The state and the status line, from the device's part of
   * window.micstreamStats (page-stats.js's sampleDevice).
   * @param {number} retryAt when the connection retries (Date.now() time), while waiting
   */
  render(stats, retryAt) {
    this.el.dataset.state = stats.state;
    this.statusLine.dataset.state = stats.state;
    let text;
    switch (stats.background && stats.state !== 'idle' && stats.state !== 'offline' ? 'background' : stats.state) {
      case 'background':
        text = backgroundText(stats.background, stats.state, retryAt);
        break;
      case 'idle':
        text = stats.selected ? 'selected: press Start Listening' : 'not listening';
        break;
      case 'connecting':
        text = 'connecting…';
        break;
      case 'waiting': {
        const seconds = Math.max(0, (retryAt - Date.now()) / 1000);
        text = `server unreachable: retrying in ${seconds.toFixed(1)} s`;
        break;
      }
      case 'offline':
        text = 'device offline: waiting for it to come back';
        break;
      default:
        text = [
          stats.received === 'opus' ? `${stats.state} (Opus)` : stats.state,
          `latency ${ms(stats.latencyMs.p50)} (p99 ${ms(stats.latencyMs.p99)})`,
          `buffer ${ms(stats.bufferMs)} / target ${ms(stats.targetMs)}`,
          `jitter ${ms(stats.jitterMs)}`,
          `underruns ${stats.underruns}`,
          `lost ${stats.lostFrames}`,
          `drift ${stats.driftPpm == null ? '–' : `${stats.driftPpm > 0 ? '+' : ''}${stats.driftPpm} ppm`}`,
          `reconnects ${stats.reconnects}`,
        ].join(' · ');
    }
    if (stats.error && stats.state !== 'playing') text += ` (${stats.error})`;
    if (this.statusLine.textContent !== text) this.statusLine.textContent = text;
  }

  /** One animation frame of the meter and the scope; analyser null: nothing plays. */
  draw(analyser, rate, now) {
    this.visuals.draw(analyser, rate, now);
  }
}
