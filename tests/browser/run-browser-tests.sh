#!/usr/bin/env bash
# The browser tests: the page in Debian's headless chromium against the real
# micstream-server and virtual devices (tests/browser/page.test.js), over
# https with accounts, as a phone on the LAN opens it (secure.test.js), and in
# background mode, through <audio> elements (background.test.js).
#
#   tests/browser/run-browser-tests.sh [BUILD_DIR]
#
# BUILD_DIR holds server/micstream-server and device/micstream-device
# (default: build/asan, else build/dev); this script builds nothing. It
# installs its own npm packages (playwright-core, no browser) with `npm ci`
# when node_modules is missing, and drives /usr/bin/chromium (Debian's;
# scripts/install-deps installs it). The page's screenshot goes to the logs
# folder, or where MICSTREAM_SCREENSHOT says (docs/screenshot.png is made so).
# Exits non-zero when a test fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

build="${1:-}"
if [ -z "$build" ]; then
  for b in build/asan build/dev; do
    if [ -x "$b/server/micstream-server" ] && [ -x "$b/device/micstream-device" ]; then build="$b"; break; fi
  done
  build="${build:-build/asan}"
fi
for bin in server/micstream-server device/micstream-device; do
  if [ ! -x "$build/$bin" ]; then
    echo "run-browser-tests: $build/$bin is missing: build it first (make test builds build/asan; or" >&2
    echo "  cmake -S . -B build/dev -G Ninja && cmake --build build/dev --target micstream-server micstream-device)" >&2
    exit 2
  fi
done

chromium="${MICSTREAM_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "run-browser-tests: $chromium is missing: run scripts/install-deps (make test does), or apt-get install chromium." >&2
  echo "  (Debian's chromium is the browser these tests drive; they never download one.)" >&2
  exit 2
fi
command -v node >/dev/null || { echo "run-browser-tests: node (>= 18; scripts/install-deps installs Debian's) is needed" >&2; exit 2; }

if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "run-browser-tests: npm ci in tests/browser"
  # playwright-core alone downloads no browser; say so anyway.
  (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

export MICSTREAM_BUILD_DIR="$root/$build"
[ "${build:0:1}" = / ] && export MICSTREAM_BUILD_DIR="$build"
export MICSTREAM_CHROMIUM="$chromium"
echo "run-browser-tests: $MICSTREAM_BUILD_DIR, $("$chromium" --version 2>/dev/null | head -1)"
exec timeout --kill-after=10 420 node --test --test-reporter=spec --test-concurrency=1 "$here/page.test.js" "$here/secure.test.js" "$here/background.test.js"
