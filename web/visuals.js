// A device's level meter and its scrolling spectrogram (or waveform), drawn
// from an AnalyserNode on canvases sized for the screen's pixel density.

const METER_FLOOR_DB = -60;

// Spectrogram colours: dark blue → purple → orange → pale yellow.
const PALETTE = (() => {
  const stops = [
    [0, 12, 16, 36], [0.3, 70, 30, 110], [0.55, 190, 50, 90], [0.8, 250, 150, 40], [1, 255, 250, 200],
  ];
  const p = new Uint8ClampedArray(256 * 4);
  for (let i = 0; i < 256; i++) {
    const x = i / 255;
    let k = 0;
    while (k < stops.length - 2 && x > stops[k + 1][0]) k++;
    const [x0, r0, g0, b0] = stops[k];
    const [x1, r1, g1, b1] = stops[k + 1];
    const t = (x - x0) / (x1 - x0);
    p[4 * i] = r0 + (r1 - r0) * t;
    p[4 * i + 1] = g0 + (g1 - g0) * t;
    p[4 * i + 2] = b0 + (b1 - b0) * t;
    p[4 * i + 3] = 255;
  }
  return p;
})();

function fitCanvas(canvas) {
  const dpr = Math.min(globalThis.devicePixelRatio || 1, 3);
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
    return true;
  }
  return false;
}

export class DeviceVisuals {
  constructor(meterCanvas, scopeCanvas) {
    this.meter = meterCanvas;
    this.scope = scopeCanvas;
    this.meterCtx = meterCanvas.getContext('2d');
    this.scopeCtx = scopeCanvas.getContext('2d', { willReadFrequently: false });
    this.mode = 'spectrogram';
    this.time = null;
    this.freq = null;
    this.column = null;
    this.peakDb = METER_FLOOR_DB;
    this.peakHoldDb = METER_FLOOR_DB;
    this.peakHoldAt = 0;
    this.rmsDb = METER_FLOOR_DB;
  }

  setMode(mode) {
    this.mode = mode;
    const c = this.scopeCtx;
    c.fillStyle = '#0c1024';
    c.fillRect(0, 0, this.scope.width, this.scope.height);
  }

  /** Draws one animation frame. analyser: null when nothing plays; deviceRate bounds the spectrogram. */
  draw(analyser, deviceRate, now) {
    if (fitCanvas(this.scope)) this.setMode(this.mode);
    fitCanvas(this.meter);
    let rms = 0;
    let peak = 0;
    if (analyser) {
      if (!this.time || this.time.length !== analyser.fftSize) this.time = new Float32Array(analyser.fftSize);
      analyser.getFloatTimeDomainData(this.time);
      // The level of the newest 1/30 s.
      const n = Math.min(this.time.length, Math.round(analyser.context.sampleRate / 30));
      let sum = 0;
      for (let i = this.time.length - n; i < this.time.length; i++) {
        const v = this.time[i];
        sum += v * v;
        const a = Math.abs(v);
        if (a > peak) peak = a;
      }
      rms = Math.sqrt(sum / n);
    }
    this.drawMeter(rms, peak, now);
    if (this.mode === 'spectrogram') this.drawSpectrogram(analyser, deviceRate);
    else this.drawWaveform(analyser);
  }

  drawMeter(rms, peak, now) {
    const db = (x) => Math.max(METER_FLOOR_DB, 20 * Math.log10(Math.max(x, 1e-9)));
    // Fast attack, slower release, so the bar reads calmly.
    const r = db(rms);
    this.rmsDb = r > this.rmsDb ? r : Math.max(r, this.rmsDb - 1.5);
    const p = db(peak);
    if (p >= this.peakHoldDb || now - this.peakHoldAt > 1500) {
      this.peakHoldDb = p;
      this.peakHoldAt = now;
    }
    this.meter.dataset.rmsDb = this.rmsDb.toFixed(1);
    this.meter.dataset.peakDb = p.toFixed(1);
    const c = this.meterCtx;
    const { width: w, height: h } = this.meter;
    const x = (d) => ((d - METER_FLOOR_DB) / -METER_FLOOR_DB) * w;
    c.fillStyle = '#1b2030';
    c.fillRect(0, 0, w, h);
    const g = c.createLinearGradient(0, 0, w, 0);
    g.addColorStop(0, '#2fbf71');
    g.addColorStop(0.75, '#2fbf71');
    g.addColorStop(0.9, '#f2c14e');
    g.addColorStop(1, '#e4572e');
    c.fillStyle = g;
    c.fillRect(0, 0, x(this.rmsDb), h);
    c.fillStyle = '#fff';
    c.fillRect(Math.min(w - 2, x(this.peakHoldDb)), 0, 2, h);
    c.fillStyle = 'rgba(255,255,255,0.25)';
    for (let d = -50; d < 0; d += 10) c.fillRect(x(d), 0, 1, h);
  }

  drawSpectrogram(analyser, deviceRate) {
    const c = this.scopeCtx;
    const { width: w, height: h } = this.scope;
    c.drawImage(this.scope, -1, 0); // scroll left by a pixel
    if (!this.column || this.column.height !== h) this.column = c.createImageData(1, h);
    const px = this.column.data;
    if (analyser) {
      if (!this.freq || this.freq.length !== analyser.frequencyBinCount) this.freq = new Uint8Array(analyser.frequencyBinCount);
      analyser.minDecibels = -100;
      analyser.maxDecibels = -20;
      analyser.getByteFrequencyData(this.freq);
      const nyquist = analyser.context.sampleRate / 2;
      const top = Math.min(nyquist, (deviceRate || 2 * nyquist) / 2); // nothing above the device's Nyquist
      const rows = this.rowBins(h, top, nyquist, this.freq.length);
      for (let y = 0; y < h; y++) {
        const v = this.freq[rows[y]] * 4;
        px[y * 4] = PALETTE[v];
        px[y * 4 + 1] = PALETTE[v + 1];
        px[y * 4 + 2] = PALETTE[v + 2];
        px[y * 4 + 3] = 255;
      }
    } else {
      for (let y = 0; y < h; y++) px.set(PALETTE.subarray(0, 4), y * 4);
    }
    // (A logarithmic frequency axis: speech and tones spread over the height.)
    c.putImageData(this.column, w - 1, 0);
  }

  // The FFT bin each row shows: a logarithmic frequency axis from 50 Hz (bottom) to `top`.
  rowBins(h, top, nyquist, bins) {
    const key = `${h}/${top}/${nyquist}/${bins}`;
    if (this.rowKey !== key) {
      this.rowKey = key;
      this.rows = new Int32Array(h);
      const low = Math.min(50, top / 2);
      for (let y = 0; y < h; y++) {
        const f = low * (top / low) ** ((h - 1 - y) / Math.max(1, h - 1));
        this.rows[y] = Math.min(bins - 1, Math.round((f / nyquist) * bins));
      }
    }
    return this.rows;
  }

  drawWaveform(analyser) {
    const c = this.scopeCtx;
    const { width: w, height: h } = this.scope;
    c.drawImage(this.scope, -2, 0);
    c.fillStyle = '#0c1024';
    c.fillRect(w - 2, 0, 2, h);
    let min = 0;
    let max = 0;
    if (analyser && this.time) {
      const n = Math.min(this.time.length, Math.round(analyser.context.sampleRate / 60));
      for (let i = this.time.length - n; i < this.time.length; i++) {
        const v = this.time[i];
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    const y = (v) => (0.5 - 0.5 * Math.max(-1, Math.min(1, v))) * h;
    c.fillStyle = '#7fb4ff';
    c.fillRect(w - 2, y(max), 2, Math.max(1, y(min) - y(max)));
  }
}
