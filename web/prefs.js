// What the page remembers between visits (localStorage): the selected
// devices, each device's volume and mute, and the spectrogram/waveform view.

const PREFS_KEY = 'micstream.prefs';

/** The remembered preferences; ?device=a,b (in params) replaces the selection. */
export function loadPrefs(params) {
  let prefs = { selected: [], volume: {}, muted: {}, view: 'spectrogram' };
  try {
    prefs = { ...prefs, ...JSON.parse(localStorage.getItem(PREFS_KEY) || '{}') };
  } catch {
    // no storage, or not ours: the defaults
  }
  if (params.has('device')) prefs.selected = params.get('device').split(',').filter(Boolean);
  return prefs;
}

export function savePrefs(prefs) {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    // private browsing: preferences last for the visit
  }
}
