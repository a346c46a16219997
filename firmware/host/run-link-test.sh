#!/usr/bin/env bash
# The firmware's network ports (main/socket_transport.cpp, main/tls_transport.cpp,
# main/server_locator.cpp, main/hmac_sha256_mbedtls.cpp) compiled for Linux with
# the ESP-IDF stand-ins in shim/, and run against the real micstream-server,
# which takes TLS links only (as deployed):
#   1. a configured host: a TLS link, the server accepts HELLO and counts the frames
#   2. mDNS discovery (the stand-in answers with the server's port)
#   3. a wrong secret: the TLS handshake fails on both sides, nothing streams
#   4. a plain link: the server refuses it with tls_required
#   5. a rogue server (one that takes any device, so it has no key for this
#      one): no handshake, no HELLO, the rogue never lists the device
#   6. the server stops and comes back: the device reconnects over TLS and streams on
#   7. mDNS with the rogue server answering first: the device moves on to the
#      next answer and streams to the real server
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
  "$root/firmware/main/tls_transport.cpp" "$root/firmware/main/hmac_sha256_mbedtls.cpp" "${core_sources[@]}" \
  "$root/core/port/host/assert_failed.cpp" \
  -lmbedtls -lmbedx509 -lmbedcrypto -o "$work/link_test" 2>&1 | sed 's/^/  /' || true
[ -x "$work/link_test" ] || { echo "build failed" >&2; exit 1; }

printf '[devices]\nhost-test = "s3cret-host-test"\n' >"$work/secrets.toml"
chmod 600 "$work/secrets.toml"
start_server() {  # $1: ingest port (0: any); the rest: more options
  local port=$1
  shift
  rm -f "$work/ports.json"
  "$server" --http-port 0 --ingest-port "$port" --no-mdns --log-level info --ports-file "$work/ports.json" "$@" \
    >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do [ -s "$work/ports.json" ] && break; sleep 0.1; done
  http=$(sed 's/.*"http": *\([0-9]*\).*/\1/' "$work/ports.json")
  ingest=$(sed 's/.*"ingest": *\([0-9]*\).*/\1/' "$work/ports.json")
}
frames_of() { curl -s "localhost:$http/api/devices" | grep -o '"frames": *[0-9]*' | head -1 | grep -o '[0-9]*$'; }
fail() { echo "   FAILED: $*" >&2; exit 1; }
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }

start_server 0 --secrets "$work/secrets.toml"
echo "== 1. configured host 127.0.0.1:$ingest"
"$work/link_test" --id host-test --secret s3cret-host-test --host 127.0.0.1 --port "$ingest" --seconds 4
echo "   server counted $(frames_of) frames"
curl -s "localhost:$http/api/devices" | grep -q '"link": *"tls"' || fail "the server does not see a TLS link"
echo "   the server sees a TLS link"

echo "== 2. mDNS discovery"
"$work/link_test" --id host-test --secret s3cret-host-test --discover "$ingest" --seconds 2

echo "== 3. wrong secret"
if "$work/link_test" --id host-test --secret wrong --host 127.0.0.1 --port "$ingest" --seconds 2 >"$work/wrong.txt" 2>&1; then
  fail "the server accepted a wrong secret"
fi
grep -q "TLS handshake failed" "$work/wrong.txt" || fail "no handshake failure: $(cat "$work/wrong.txt")"
grep -q "refused: TLS handshake failed" "$work/server.log" || fail "the server logged no failed handshake"
echo "   refused: $(grep -m1 -o 'TLS handshake failed.*' "$work/wrong.txt")"

echo "== 4. a plain link to a server that takes TLS only"
if "$work/link_test" --id host-test --secret s3cret-host-test --link plain --host 127.0.0.1 --port "$ingest" \
  --seconds 2 >"$work/plain.txt" 2>&1; then
  fail "the server accepted a plain link"
fi
grep -q "last error tls_required" "$work/plain.txt" || fail "not told tls_required: $(cat "$work/plain.txt")"
echo "   refused: tls_required"
stop_server

echo "== 5. a rogue server that takes any device"
start_server 0 --allow-unknown-devices
if "$work/link_test" --id host-test --secret s3cret-host-test --host 127.0.0.1 --port "$ingest" \
  --seconds 2 >"$work/rogue.txt" 2>&1; then
  fail "the device streamed to a server without its key"
fi
grep -q "TLS handshake failed" "$work/rogue.txt" || fail "no handshake failure: $(cat "$work/rogue.txt")"
if curl -s "localhost:$http/api/devices" | grep -q host-test; then fail "the rogue server lists the device"; fi
echo "   no handshake, no HELLO: the rogue server never saw the device"
stop_server
start_server 0 --secrets "$work/secrets.toml"

echo "== 6. the server stops for 2 s and comes back"
# 15 s: down at 3 s, back at 5 s (later under load), and the backoff's
# attempts at about 3.5, 4.5, 6.5 and 10.5 s (+20 % jitter) must reach it.
"$work/link_test" --id host-test --secret s3cret-host-test --host 127.0.0.1 --port "$ingest" --seconds 15 \
  >"$work/restart.txt" &
device_pid=$!
sleep 3
stop_server
sleep 2
start_server "$ingest" --secrets "$work/secrets.toml"
wait "$device_pid"
cat "$work/restart.txt"
grep -q "reconnects [1-9]" "$work/restart.txt" || fail "no reconnect"
echo "   server counted $(frames_of) frames after the restart"

echo "== 7. mDNS: the rogue server answers first"
real_ingest=$ingest real_http=$http real_pid=$server_pid
start_server 0 --allow-unknown-devices
rogue_ingest=$ingest
"$work/link_test" --id host-test --secret s3cret-host-test --discover "$rogue_ingest,$real_ingest" --seconds 4 \
  >"$work/two.txt" 2>&1 || fail "no link through the second answer: $(cat "$work/two.txt")"
grep -q "answer 1 of 2" "$work/two.txt" && grep -q "answer 2 of 2" "$work/two.txt" || fail "$(cat "$work/two.txt")"
http=$real_http
curl -s "localhost:$http/api/devices" | grep -q '"link": *"tls"' || fail "the real server has no TLS link"
echo "   $(grep -c 'TLS handshake failed' "$work/two.txt") handshake(s) with the rogue failed, then the real server took the link"
stop_server
server_pid=$real_pid
echo "== link test passed"
