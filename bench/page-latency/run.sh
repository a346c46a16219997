#!/usr/bin/env bash
# The page latency benchmark (bench/page-latency/page-latency.mjs): the page
# in Debian's headless chromium, the real server and a virtual device with
# 10 ms frames, for --duration seconds (default 60, at most 600) per scenario:
# loopback; 20 ms of the device's send jitter and 300 ppm of clock skew; the
# same skew with 0..20 ms of jitter added on the link instead (README.md).
#
#   bench/page-latency/run.sh [--duration 600] [--scenario loopback,jitter,netjitter] [--build build/dev] [--json out.json]
#
# Builds nothing; uses tests/browser's npm packages (npm ci there when missing)
# and /usr/bin/chromium (scripts/install-deps). Exits 1 when a target is missed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
browser="$root/tests/browser"
chromium="${MICSTREAM_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "page-latency: $chromium is missing: run scripts/install-deps, or apt-get install chromium" >&2
  exit 2
fi
if [ ! -d "$browser/node_modules/playwright-core" ]; then
  (cd "$browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
cd "$root"
exec node "$root/bench/page-latency/page-latency.mjs" "$@"
