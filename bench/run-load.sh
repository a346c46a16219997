#!/usr/bin/env bash
# Load test: starts micstream-server on ephemeral ports (127.0.0.1), runs
# micstream-loadgen against it with the arguments given, then stops the server.
#
#   bench/run-load.sh --devices 10 --listeners 1000 --seconds 20 --plot docs/latency-1000.png
#   bench/run-load.sh --server-arg --listener-queue-ms --server-arg 500 --listeners 10000
#
# Options read by this script (before the loadgen's own, which follow):
#   --server-bin PATH    default build/release/server/micstream-server   (or $MICSTREAM_SERVER)
#   --loadgen-bin PATH   default build/release/bench/loadgen/micstream-loadgen (or $MICSTREAM_LOADGEN)
#   --server-arg ARG     one more argument for the server (repeat it)
# Every other argument goes to micstream-loadgen (see its --help); the script
# adds --ports-file and --server-pid. It prints the exact commands it runs.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server_bin=${MICSTREAM_SERVER:-$root/build/release/server/micstream-server}
loadgen_bin=${MICSTREAM_LOADGEN:-$root/build/release/bench/loadgen/micstream-loadgen}
server_extra=()
loadgen_args=()

while (($#)); do
  case $1 in
    --server-bin) server_bin=$2; shift 2 ;;
    --loadgen-bin) loadgen_bin=$2; shift 2 ;;
    --server-arg) server_extra+=("$2"); shift 2 ;;
    *) loadgen_args+=("$1"); shift ;;
  esac
done

for bin in "$server_bin" "$loadgen_bin"; do
  if [[ ! -x $bin ]]; then
    echo "run-load.sh: $bin is missing; build first:" >&2
    echo "  cmake -S $root -B $root/build/release -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build $root/build/release" >&2
    exit 2
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/micstream-load.XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The loadgen opens one descriptor a listener; the server one a connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

server_cmd=("$server_bin" --bind 127.0.0.1 --http-port 0 --ingest-port 0 --ports-file "$tmp/ports.json"
            --allow-unknown-devices --log-level warn
            # every listener and device comes from this one address: lift the per-address limits
            --max-http-connections 100000 --max-http-per-address 100000
            --max-device-links 10000 --max-device-links-per-address 10000 --max-unregistered-devices 10000
            "${server_extra[@]}")
echo "+ ${server_cmd[*]}"
"${server_cmd[@]}" >"$tmp/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 100); do
  grep -qs "}" "$tmp/ports.json" && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid" && status=0 || status=$?
    echo "run-load.sh: the server exited (status $status) before writing $tmp/ports.json:" >&2
    cat "$tmp/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! grep -qs "}" "$tmp/ports.json"; then
  echo "run-load.sh: the server wrote no ports file within 10 s" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi
echo "  ports: $(cat "$tmp/ports.json")"

loadgen_cmd=("$loadgen_bin" --ports-file "$tmp/ports.json" --server-pid "$server_pid" "${loadgen_args[@]}")
echo "+ ${loadgen_cmd[*]}"
status=0
"${loadgen_cmd[@]}" || status=$?

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "run-load.sh: the server died during the run:" >&2
  wait "$server_pid" || echo "  exit status $?" >&2
  status=1
fi
if [[ -s $tmp/server.log ]]; then
  echo "--- server log (last 20 lines)"
  tail -n 20 "$tmp/server.log"
fi
exit "$status"
