#!/usr/bin/env bash
# The standard streams' fan-out cost: micstream-server (on CPU 0) with one
# virtual device (a 440 Hz tone, 16 kHz mono, IMA ADPCM: the demo's) and N
# listeners of /stream/<id>.<format> (on CPU 1, all in one Node process:
# bench/stream-listeners.mjs), for N = 1, 200 and 1,000 by default. Prints,
# per format and N, the server's CPU (user + system, from /proc/<pid>/stat
# over the measured seconds), what each listener beyond the first N adds to
# it (CPU seconds per listener-second, in µs), and the bytes per second the
# least served listener received. One encoder runs per format whatever N is,
# so the CPU should grow by the sends alone.
#
#   bench/stream-fanout.sh [--seconds 10] [--listeners "1 200 1000"] [--formats "wav opus mp3"]
#   MICSTREAM_BUILD=build/release (default) names the build holding the server and the device.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${MICSTREAM_BUILD:-$root/build/release}
seconds=10
counts="1 200 1000"
formats="wav opus mp3"
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --listeners) counts=$2; shift 2 ;;
    --formats) formats=$2; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "stream-fanout.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
server_bin=$build/server/micstream-server
device_bin=$build/device/micstream-device
for bin in "$server_bin" "$device_bin"; do
  [[ -x $bin ]] || { echo "stream-fanout.sh: $bin is missing; build it first (MICSTREAM_BUILD=...)" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "stream-fanout.sh: curl is missing (apt-get install curl)" >&2; exit 2; }
command -v node >/dev/null || { echo "stream-fanout.sh: node is missing (scripts/install-deps installs it)" >&2; exit 2; }
pin_server=(); pin_clients=()
if (($(nproc) >= 2)); then pin_server=(taskset -c 0); pin_clients=(taskset -c 1); fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/micstream-fanout.XXXXXX")
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
trap 'stop_all; rm -rf "$tmp"' EXIT
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

printf '%-6s %9s %12s %26s %14s\n' format listeners "server CPU" "per added listener-second" "bytes/s, least"
for format in $formats; do
  first_n=; first_cpu=
  for n in $counts; do
    rm -f "$tmp/ports.json"
    "${pin_server[@]}" "$server_bin" --bind 127.0.0.1 --http-port 0 --ingest-port 0 --ports-file "$tmp/ports.json" \
      --allow-unknown-devices --no-mdns --log-level warn --max-http-connections $((n + 64)) \
      --max-http-per-address $((n + 16)) >"$tmp/server.log" 2>&1 &
    server=$!
    pids+=("$server")
    for _ in $(seq 100); do [[ -s $tmp/ports.json ]] && break; sleep 0.05; done
    http=$(grep -o '"http":[0-9]*' "$tmp/ports.json" | cut -d: -f2)
    ingest=$(grep -o '"ingest":[0-9]*' "$tmp/ports.json" | cut -d: -f2)
    "${pin_clients[@]}" "$device_bin" --server "127.0.0.1:$ingest" --id fanout --link plain --tone 440 >"$tmp/device.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/api/devices" | grep -q fanout && break; sleep 0.05; done
    url="http://127.0.0.1:$http/stream/fanout.$format"
    "${pin_clients[@]}" node "$root/bench/stream-listeners.mjs" "$url" "$n" $((seconds + 4)) >"$tmp/listeners.json" &
    listeners=$!
    pids+=("$listeners")
    sleep 2  # every listener connected and its queue steady
    before=$(cpu_ticks "$server")
    sleep "$seconds"
    after=$(cpu_ticks "$server")
    wait "$listeners" || true
    result=$(cat "$tmp/listeners.json")
    bytes=$(grep -o '"min_bytes_per_s":[0-9]*' <<<"$result" | cut -d: -f2)
    failed=$(grep -o '"failed":[0-9]*' <<<"$result" | cut -d: -f2)
    [[ ${failed:-1} == 0 ]] || echo "stream-fanout.sh: listeners failed: $result" >&2
    cpu=$(awk -v t=$((after - before)) -v hz="$ticks" -v s="$seconds" 'BEGIN { print t / hz / s }')
    if [[ -z $first_n ]]; then first_n=$n; first_cpu=$cpu; fi
    awk -v f="$format" -v n="$n" -v cpu="$cpu" -v n0="$first_n" -v cpu0="$first_cpu" -v b="$bytes" -v s="$seconds" \
      'BEGIN { added = n > n0 ? sprintf("%.0f µs", 1e6 * (cpu - cpu0) / (n - n0)) : "-";
               printf "%-6s %9d %11.2f%% %26s %14.0f\n", f, n, 100 * cpu, added, b }'
    stop_all
  done
done
