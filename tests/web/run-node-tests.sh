#!/usr/bin/env bash
# The page's tests (web/): ESLint, then Node's test runner on tests/web/.
#   tests/web/run-node-tests.sh            lint + every test
#   LINT=0 tests/web/run-node-tests.sh     tests only
#   tests/web/run-node-tests.sh FILE…      lint + only these test files
# Installs the dev dependencies (npm ci) when node_modules is missing and
# there is a lockfile. The tests that run the C++ programs (codecs.test.js:
# micstream-codec; page.test.js and server.test.js: micstream-server and
# micstream-device) look for them in MICSTREAM_BUILD, which make test sets
# (scripts/run-tests), and fail when it lacks one; with MICSTREAM_BUILD unset
# they look in build/dev, build/release, build/asan and build/relwithdebinfo,
# and skip when none has them (tests/web/helpers/build.js).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v node >/dev/null 2>&1; then
  echo "run-node-tests: node is not installed" >&2
  exit 1
fi
# Debian 12's Node 18 is the oldest these tests run on (package.json's engines).
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "run-node-tests: Node $(node --version) is too old (18 or newer)" >&2
  exit 1
fi

if [ ! -d node_modules ] && [ -f package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi

if [ "${LINT:-1}" != 0 ]; then
  if [ -x node_modules/.bin/eslint ]; then
    echo "== eslint web tests/web"
    node_modules/.bin/eslint -c tests/web/eslint.config.js web tests/web
  else
    echo "== eslint is not installed (npm ci): lint skipped"
  fi
fi

# No flags: before Node 22 the WebSocket comes from the ws package (tests/web/helpers/websocket.js).
echo "== node --test tests/web/${MICSTREAM_BUILD:+ (MICSTREAM_BUILD=$MICSTREAM_BUILD)}"
if [ $# -gt 0 ]; then
  exec node --test "$@"
fi
exec node --test tests/web/
