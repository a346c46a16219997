#!/usr/bin/env bash
# The firmware's network ports (main/socket_transport.cpp, main/server_locator.cpp,
# main/hmac_sha256_mbedtls.cpp) compiled for Linux with the ESP-IDF stand-ins in
# shim/, and run against the real micstream-server:
#   1. a configured host: the server accepts the HMAC proof and counts the frames
#   2. mDNS discovery (the stand-in answers with the server's port)
#   3. a wrong secret: the server refuses with auth_failed
#   4. the server stops and comes back: the device reconnects and streams on
# Needs g++, libmbedtls-dev, curl and a built server (make build).
#   firmware/host/run-link-test.sh [path/to/micstream-server]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
server=${1:-$root/build/release/server/micstream-server}
[ -x "$server" ] || { echo "no server at $server (make build)" >&2; exit 2; }
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

core_sources=()
for f in $(grep -oE 'src/[a-z0-9_/]+\.cpp' "$root/core/sources.cmake"); do core_sources+=("$root/core/$f"); done
g++ -std=c++20 -O1 -g -Wall -Wextra -Werror -pthread ${LINK_TEST_CXXFLAGS:-} \
  -I"$here/shim" -I"$root/firmware/main" -I"$root/core/include" \
  "$here/link_test.cpp" "$root/firmware/main/socket_transport.cpp" "$root/firmware/main/server_locator.cpp" \
  "$root/firmware/main/hmac_sha256_mbedtls.cpp" "${core_sources[@]}" \
  -lmbedcrypto -o "$work/link_test" 2>&1 | sed 's/^/  /' || true
[ -x "$work/link_test" ] || { echo "build failed" >&2; exit 1; }

printf '[devices]\nhost-test = "s3cret-host-test"\n' >"$work/secrets.toml"
chmod 600 "$work/secrets.toml"
start_server() {  # $1: ingest port (0: any)
  rm -f "$work/ports.json"
  "$server" --http-port 0 --ingest-port "$1" --secrets "$work/secrets.toml" --allow-plain-devices --no-mdns --log-level warn \
    --ports-file "$work/ports.json" >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do [ -s "$work/ports.json" ] && break; sleep 0.1; done
  http=$(sed 's/.*"http": *\([0-9]*\).*/\1/' "$work/ports.json")
  ingest=$(sed 's/.*"ingest": *\([0-9]*\).*/\1/' "$work/ports.json")
}
frames_of() { curl -s "localhost:$http/api/devices" | grep -o '"frames": *[0-9]*' | head -1 | grep -o '[0-9]*$'; }

start_server 0
echo "== 1. configured host 127.0.0.1:$ingest"
"$work/link_test" --id host-test --secret s3cret-host-test --host 127.0.0.1 --port "$ingest" --seconds 4
echo "   server counted $(frames_of) frames"

echo "== 2. mDNS discovery"
"$work/link_test" --id host-test --secret s3cret-host-test --discover "$ingest" --seconds 2

echo "== 3. wrong secret"
if "$work/link_test" --id host-test --secret wrong --host 127.0.0.1 --port "$ingest" --seconds 2 >"$work/wrong.txt"; then
  echo "   FAILED: the server accepted a wrong secret" >&2; exit 1
fi
grep -q "last error auth_failed" "$work/wrong.txt" && echo "   refused: auth_failed"

echo "== 4. the server stops for 2 s and comes back"
# 15 s: down at 3 s, back at 5 s (later under load), and the backoff's
# attempts at about 3.5, 4.5, 6.5 and 10.5 s (+20 % jitter) must reach it.
"$work/link_test" --id host-test --secret s3cret-host-test --host 127.0.0.1 --port "$ingest" --seconds 15 \
  >"$work/restart.txt" &
device_pid=$!
sleep 3
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
sleep 2
start_server "$ingest"
wait "$device_pid"
cat "$work/restart.txt"
grep -q "reconnects [1-9]" "$work/restart.txt" || { echo "   FAILED: no reconnect" >&2; exit 1; }
echo "   server counted $(frames_of) frames after the restart"
echo "== link test passed"
