// What the page remembers between visits (localStorage): the selected
// devices, each device's volume and mute, the spectrogram/waveform view,
// whether to ask for Opus and, once the listener has chosen, background mode;
// and that mode's default.

const PREFS_KEY = 'micstream.prefs';

/** The remembered preferences; ?device=a,b (in params) replaces the selection. */
export function loadPrefs(params) {
  // background: null until the listener chooses (then the default below no longer applies)
  let prefs = { selected: [], volume: {}, muted: {}, view: 'spectrogram', background: null, opus: false };
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

/** An iPhone, iPad or iPod: iPadOS says it is a Mac ('MacIntel'), one with a touch screen. */
export function isIOS(nav) {
  if (!nav) return false;
  const platform = nav.platform || '';
  if (/^(iPhone|iPad|iPod)/.test(platform) || /\b(iPhone|iPad|iPod)\b/.test(nav.userAgent || '')) return true;
  return platform === 'MacIntel' && nav.maxTouchPoints > 1;
}

/**
 * Whether background mode is on (web/background-player.js): ?background=1 or
 * 0 first (not remembered: tests and links use it), then the listener's
 * choice, else on where the screen lock stops Web Audio (iOS).
 */
export function backgroundMode(params, prefs, nav) {
  const p = params.get('background');
  if (p === '1' || p === '0') return p === '1';
  if (typeof prefs.background === 'boolean') return prefs.background;
  return isIOS(nav);
}
