// ESLint for the page (web/, browser and audio-worklet code) and its Node
// tests (tests/web/). Run by tests/web/run-node-tests.sh, or:
//   npx eslint -c tests/web/eslint.config.js web tests/web
import js from '@eslint/js';
import globals from 'globals';

// The page's own modules (DOM, Web Audio, window): the browser's globals, and
// no other module in web/ imports one, so what the receiver worker and the
// worklet load never pulls page-side code.
const PAGE_MODULES = [
  'app.js', 'audio-output.js', 'background-player.js', 'device-card.js', 'page-stats.js', 'player.js', 'prefs.js', 'remote-receiver.js',
  'session.js', 'visuals.js',
];

export default [
  js.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
    },
    rules: {
      'no-unused-vars': ['error', { args: 'none', caughtErrors: 'none' }],
      eqeqeq: ['error', 'smart'],
      'no-var': 'error',
      'prefer-const': 'error',
    },
  },
  {
    // The page's own modules: the browser's globals.
    files: PAGE_MODULES.map((f) => `web/${f}`),
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['web/**/*.js'],
    ignores: PAGE_MODULES.map((f) => `web/${f}`),
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: PAGE_MODULES.map((f) => `**/${f}`), message: 'a page-side module: only the page\'s own modules import it' }],
      }],
    },
  },
  {
    // The receiver's dedicated worker and what it runs (the page runs
    // stream-client.js too): a worker's globals, so no DOM and no page-side code.
    files: ['web/receiver-worker.js', 'web/receiver.js', 'web/stream-client.js'],
    languageOptions: { globals: { ...globals.worker } },
  },
  // Every other module in web/ is plain ECMAScript (imported by the worklet
  // and by Node alike): no DOM, no window; the linter enforces it by giving
  // them no globals beyond the language's own.
  {
    // AudioWorkletGlobalScope: no window, no DOM; these instead.
    files: ['web/player-worklet.js'],
    languageOptions: {
      globals: {
        AudioWorkletProcessor: 'readonly',
        registerProcessor: 'readonly',
        sampleRate: 'readonly',
        currentTime: 'readonly',
        currentFrame: 'readonly',
      },
    },
  },
  {
    files: ['tests/web/**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
];
