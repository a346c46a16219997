#!/usr/bin/env bash
# Load test: starts micstream-server on ephemeral ports (127.0.0.1), runs
# micstream-loadgen against it with the arguments given, then stops the server.
#
#   bench/run-load.sh --devices 10 --listeners 1000 --seconds 20 --plot docs/latency-1000.png
#   bench/run-load.sh --server-arg --listener-queue-ms --server-arg 500 --listeners 10000
#   bench/run-load.sh --tls --listeners 1000     # the listeners over wss
#   bench/run-load.sh --compare-tls              # plain ws, then wss (a fresh server each), then both side by side
#
# Options read by this script (before the loadgen's own, which follow):
#   --server-bin PATH    default build/release/server/micstream-server   (or $MICSTREAM_SERVER)
#   --loadgen-bin PATH   default build/release/bench/loadgen/micstream-loadgen (or $MICSTREAM_LOADGEN)
#   --server-arg ARG     one more argument for the server (repeat it)
#   --tls                the server serves https/wss with a local CA made in its temporary folder
#                        (--tls-dir), and the listeners speak wss, verifying the certificate against it
#   --compare-tls        run the same load twice, plain and --tls, and print the server's CPU per
#                        delivered frame, CPU share, memory, deliveries, skips and disconnects of both
# Every other argument goes to micstream-loadgen (see its --help); the script
# adds --ports-file and --server-pid (and --tls --ca). It prints the exact
# commands it runs.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server_bin=${MICSTREAM_SERVER:-$root/build/release/server/micstream-server}
loadgen_bin=${MICSTREAM_LOADGEN:-$root/build/release/bench/loadgen/micstream-loadgen}
server_extra=()
loadgen_args=()
modes=(plain)

while (($#)); do
  case $1 in
    --server-bin) server_bin=$2; shift 2 ;;
    --loadgen-bin) loadgen_bin=$2; shift 2 ;;
    --server-arg) server_extra+=("$2"); shift 2 ;;
    --tls) modes=(tls); shift ;;
    --compare-tls) modes=(plain tls); shift ;;
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
stop_server() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
cleanup() {
  stop_server
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The loadgen opens one descriptor a listener; the server one a connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# One server and one loadgen run; MODE is plain or tls. The loadgen's output
# is kept in $tmp/MODE.out for the comparison.
run_case() {
  local mode=$1 dir=$tmp/$1
  mkdir -p "$dir"
  local server_tls=() loadgen_tls=()
  if [[ $mode == tls ]]; then
    # The server makes its CA and certificate (for 127.0.0.1 too) there on start.
    server_tls=(--tls-dir "$dir/ca")
    loadgen_tls=(--tls --ca "$dir/ca/ca.pem")
  fi
  local server_cmd=("$server_bin" --bind 127.0.0.1 --http-port 0 --ingest-port 0 --ports-file "$dir/ports.json"
                    --allow-unknown-devices --log-level warn
                    # every listener and device comes from this one address: lift the per-address limits
                    --max-http-connections 100000 --max-http-per-address 100000
                    --max-device-links 10000 --max-device-links-per-address 10000 --max-unregistered-devices 10000
                    "${server_tls[@]}" "${server_extra[@]}")
  echo "+ ${server_cmd[*]}"
  "${server_cmd[@]}" >"$dir/server.log" 2>&1 &
  server_pid=$!

  for _ in $(seq 100); do
    grep -qs "}" "$dir/ports.json" && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      local status=0
      wait "$server_pid" || status=$?
      echo "run-load.sh: the server exited (status $status) before writing $dir/ports.json:" >&2
      cat "$dir/server.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  if ! grep -qs "}" "$dir/ports.json"; then
    echo "run-load.sh: the server wrote no ports file within 10 s" >&2
    cat "$dir/server.log" >&2
    exit 1
  fi
  echo "  ports: $(cat "$dir/ports.json")"

  local loadgen_cmd=("$loadgen_bin" --ports-file "$dir/ports.json" --server-pid "$server_pid" "${loadgen_tls[@]}"
                     "${loadgen_args[@]}")
  echo "+ ${loadgen_cmd[*]}"
  local status=0
  # Its report is all it writes to stdout (progress goes to stderr), at the end.
  "${loadgen_cmd[@]}" >"$tmp/$mode.out" || status=$?
  cat "$tmp/$mode.out"

  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run-load.sh: the server died during the run:" >&2
    wait "$server_pid" || echo "  exit status $?" >&2
    status=1
  fi
  if [[ -s $dir/server.log ]]; then
    echo "--- server log (last 20 lines)"
    tail -n 20 "$dir/server.log"
  fi
  stop_server
  return "$status"
}

# A figure of a loadgen report: FILE, a sed -E expression for the whole line,
# and what to make of it (default \1); the first matching line.
figure() { sed -nE "s/$2/${3:-\\1}/p" "$1" | head -n 1; }

# The two runs side by side. Server CPU a delivery = the server's CPU time in
# the measured window (all of it: ingest, fan-out, TLS) / frames delivered.
compare() {
  local row label
  printf '\n--- plain ws and wss, the same load (%s)\n' \
    "$(figure "$tmp/plain.out" '^micstream-loadgen: (.*) measured.*')"
  printf '%-34s %22s %22s\n' "" "ws" "wss"
  for row in cpu_per_delivery cpu rss hwm delivered latency skipped disconnects loadgen others tls; do
    local values=()
    for mode in plain tls; do
      local f=$tmp/$mode.out v=
      case $row in
        cpu_per_delivery)
          label="server CPU a delivered frame"
          local seconds cpu delivered
          seconds=$(figure "$f" '^micstream-loadgen: .* listeners, ([0-9.]+) s measured.*')
          cpu=$(figure "$f" '^  server pid [0-9]+ CPU ([0-9.]+) %.*')
          delivered=$(figure "$f" '^  frames +delivered ([0-9]+) .*')
          [[ -n $cpu && -n $delivered && $delivered != 0 ]] &&
            v=$(awk -v c="$cpu" -v s="$seconds" -v d="$delivered" 'BEGIN { printf "%.2f us", c / 100 * s / d * 1e6 }') ;;
        cpu) label="server CPU"; v="$(figure "$f" '^  server pid [0-9]+ CPU ([0-9.]+ %) of one core.*') of a core" ;;
        rss) label="server RSS at end"; v=$(figure "$f" '.*RSS at end ([0-9.]+ MiB).*') ;;
        hwm) label="server peak memory (VmHWM)"; v=$(figure "$f" '.*peak memory \(VmHWM\) ([0-9.]+ MiB).*') ;;
        delivered) label="frames delivered / expected"; v=$(figure "$f" '^  frames +delivered ([0-9]+) \/ expected ([0-9]+).*' '\1 \/ \2') ;;
        latency) label="latency p50 / p99 / max (ms)"
          v=$(figure "$f" '^  latency ms +p50 ([0-9.]+) .* p99 ([0-9.]+) .* max ([0-9.]+)  mean.*' '\1 \/ \2 \/ \3') ;;
        skipped) label="skipped messages (in the window)"
          v=$(figure "$f" '^  skipped +([0-9]+) messages \(([0-9]+) in the window.*' '\1 (\2)') ;;
        disconnects) label="listener disconnects, failures"
          v="$(figure "$f" '^  disconnects +listeners ([0-9]+) .*'), $(figure "$f" '^  listeners .*, ([0-9]+) failed to connect.*')" ;;
        loadgen) label="loadgen CPU"; v="$(figure "$f" '^  loadgen +CPU ([0-9.]+ %) of one core.*') of a core" ;;
        others) label="other processes' CPU"; v="$(figure "$f" '.*other processes used ([0-9.]+ %) of one core.*') of a core" ;;
        tls) label="TLS"; v=$(figure "$f" '^  tls +([^;]*);.*'); [[ -n $v ]] || v="-" ;;
      esac
      values+=("${v:-?}")
    done
    printf '%-34s %22s %22s\n' "$label" "${values[0]}" "${values[1]}"
  done
}

status=0
for mode in "${modes[@]}"; do
  run_case "$mode" || status=$?
done
if ((${#modes[@]} == 2)) && [[ -s $tmp/plain.out && -s $tmp/tls.out ]]; then
  compare
fi
exit "$status"
