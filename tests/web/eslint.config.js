// ESLint for the page (web/, browser and audio-worklet code) and its Node
// tests (tests/web/). Run by tests/web/run-node-tests.sh, or:
//   npx eslint -c tests/web/eslint.config.js web tests/web
import js from '@eslint/js';
import globals from 'globals';

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
    files: ['web/app.js', 'web/player.js', 'web/visuals.js', 'web/stream-client.js', 'web/receiver.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // The receiver's dedicated worker.
    files: ['web/receiver-worker.js'],
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
