#!/usr/bin/env bash
# Load test: starts micstream-server on ephemeral ports (127.0.0.1), runs
# micstream-loadgen against it with the arguments given, then stops the server.
# With 2 CPUs or more the server runs on CPU 0 and the loadgen on CPU 1
# (taskset), so neither takes the other's core. After the load it reads the
# server's own delivery delay from /metrics (micstream_listener_delivery_seconds:
# from reading a frame off the device's socket to the write to the listener
# done) and prints it beside the loadgen's end-to-end latency.
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
#   --no-pin             do not pin the server and the loadgen to CPUs 0 and 1
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
pin=1

while (($#)); do
  case $1 in
    --server-bin) server_bin=$2; shift 2 ;;
    --loadgen-bin) loadgen_bin=$2; shift 2 ;;
    --server-arg) server_extra+=("$2"); shift 2 ;;
    --tls) modes=(tls); shift ;;
    --compare-tls) modes=(plain tls); shift ;;
    --no-pin) pin=0; shift ;;
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

# Separate cores: on a shared one the server's delay would include waiting
# for the loadgen's turn (and the loadgen's latency the server's).
server_pin=() loadgen_pin=()
if ((pin)); then
  if (($(nproc) >= 2)) && command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null &&
     taskset -c 1 true 2>/dev/null; then
    server_pin=(taskset -c 0) loadgen_pin=(taskset -c 1)
    echo "pinned: the server on CPU 0, the loadgen on CPU 1 (taskset; --no-pin to leave them to the scheduler)"
  else
    echo "not pinned: fewer than 2 usable CPUs ($(nproc)) or no taskset; the server and the loadgen share the CPUs"
  fi
else
  echo "not pinned (--no-pin): the scheduler places the server and the loadgen on any of $(nproc) CPUs"
fi

# ---- the server's delivery delay histogram ----
delivery_metric=micstream_listener_delivery_seconds

# The histogram's lines from the server's /metrics into FILE (plain http: the
# server answers loopback requests in the clear even with --tls-dir; it has
# no accounts, so this machine is admin).
scrape_delivery() {
  local port=$1 file=$2
  curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" | grep "^$delivery_metric" >"$file.part" &&
    mv "$file.part" "$file"
}

# Passes the loadgen's progress (its stderr) through and, when it announces
# the warm-up, snapshots the histogram once the warm-up is over: the start of
# the loadgen's measured window.
snapshot_at_window_start() {
  local port=$1 file=$2 line
  while IFS= read -r line; do
    printf '%s\n' "$line" >&2
    if [[ $line =~ warm-up\ ([0-9.]+)\ s,\ then ]]; then
      (sleep "${BASH_REMATCH[1]}"; scrape_delivery "$port" "$file") &
    fi
  done
  wait
}

# p50, p99 (linear within a bucket, as Prometheus' histogram_quantile) and
# mean, in ms, and the count, of the histogram in END less the one in START
# (a missing START counts as zero), on one line; a quantile above the last
# finite bucket (1 s) is ">1000".
delivery_figures() {
  local files=()
  [[ -s $1 ]] && files=("$1")
  files+=("$2")
  awk -v metric="$delivery_metric" -v with_start=$((${#files[@]} == 2)) '
    function value(line) { sub(/.* /, "", line); return line + 0 }
    function le(line) { sub(/.*le="/, "", line); sub(/".*/, "", line); return line }
    {
      sign = with_start && NR == FNR ? -1 : 1
      if (index($0, metric "_bucket{") == 1) {
        bound = le($0)
        if (!(bound in cum)) { order[++n] = bound; cum[bound] = 0 }
        cum[bound] += sign * value($0)
      } else if (index($0, metric "_sum ") == 1) {
        sum += sign * value($0)
      } else if (index($0, metric "_count ") == 1) {
        count += sign * value($0)
      }
    }
    function quantile(q,   rank, i, lower, below, upper) {
      rank = q * count; lower = 0; below = 0
      for (i = 1; i <= n; i++) {
        if (cum[order[i]] >= rank) {
          if (order[i] == "+Inf") return ">1000"
          upper = order[i] + 0
          if (cum[order[i]] == below) return sprintf("%.3f", upper * 1e3)
          return sprintf("%.3f", (lower + (upper - lower) * (rank - below) / (cum[order[i]] - below)) * 1e3)
        }
        lower = order[i] + 0; below = cum[order[i]]
      }
      return ">1000"
    }
    END {
      if (count <= 0) { print "- - - 0"; exit }
      printf "%s %s %.3f %d\n", quantile(0.50), quantile(0.99), sum / count * 1e3, count
    }' "${files[@]}"
}

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
  server_cmd=("${server_pin[@]}" "${server_cmd[@]}")  # taskset execs the server: $! stays its pid
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
  local http_port
  http_port=$(sed -nE 's/.*"http": *([0-9]+).*/\1/p' "$dir/ports.json")

  local loadgen_cmd=("${loadgen_pin[@]}" "$loadgen_bin" --ports-file "$dir/ports.json" --server-pid "$server_pid"
                     "${loadgen_tls[@]}" "${loadgen_args[@]}")
  echo "+ ${loadgen_cmd[*]}"
  local status=0
  # Its report is all it writes to stdout (progress goes to stderr), at the end.
  # Its progress (stderr) goes through snapshot_at_window_start, which waits for its snapshot.
  "${loadgen_cmd[@]}" 2>&1 >"$tmp/$mode.out" | snapshot_at_window_start "$http_port" "$dir/delivery-start.prom" ||
    status=${PIPESTATUS[0]}
  cat "$tmp/$mode.out"
  if kill -0 "$server_pid" 2>/dev/null && scrape_delivery "$http_port" "$dir/delivery-end.prom"; then
    report_delays "$mode" "$dir"
  else
    echo "run-load.sh: could not read $delivery_metric from the server's /metrics" >&2
  fi

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

# The server's delivery delay beside the loadgen's end-to-end latency, for
# MODE's run in DIR; the server's figures are kept in $tmp/MODE.delay.
report_delays() {
  local mode=$1 dir=$2 span="from the end of the warm-up to the end of the run (the window and the drain)"
  [[ -s $dir/delivery-start.prom ]] || span="over the whole run (no snapshot at the window's start)"
  delivery_figures "$dir/delivery-start.prom" "$dir/delivery-end.prom" >"$tmp/$mode.delay"
  local p50 p99 mean count
  read -r p50 p99 mean count <"$tmp/$mode.delay"
  local f=$tmp/$mode.out e2e
  e2e=$(figure "$f" '^  latency ms +p50 ([0-9.]+) .* p99 ([0-9.]+) .* mean ([0-9.]+) +\(n ([0-9]+).*' '\1 \2 \3 \4')
  local e50='?' e99='?' emean='?' en='?'
  [[ -n $e2e ]] && read -r e50 e99 emean en <<<"$e2e"
  printf '\n--- delay (%s): the server alone, and end to end\n' "$mode"
  printf '%-44s %9s %9s %9s %11s\n' "" "p50 ms" "p99 ms" "mean ms" "frames"
  printf '%-44s %9s %9s %9s %11s\n' "server delivery delay (server's /metrics)" "$p50" "$p99" "$mean" "$count"
  printf '%-44s %9s %9s %9s %11s\n' "end-to-end latency (loadgen)" "$e50" "$e99" "$emean" "$en"
  echo "  server delivery delay: $delivery_metric, from the server reading a frame off the device's socket"
  echo "    to the end of the write carrying it to a listener (steady clock), for the frames delivered $span;"
  echo "    p50 and p99 interpolated within its buckets (0.05 ms to 1 s, 1-2.5-5 a decade), the mean exact."
  echo "  end-to-end latency: the loadgen's, from capture (device, system clock) to the kernel's receive"
  echo "    timestamp at the listener, for the frames of the measured window; it includes the server's delay."
}

# The two runs side by side. Server CPU a delivery = the server's CPU time in
# the measured window (all of it: ingest, fan-out, TLS) / frames delivered.
compare() {
  local row label
  printf '\n--- plain ws and wss, the same load (%s)\n' \
    "$(figure "$tmp/plain.out" '^micstream-loadgen: (.*) measured.*')"
  printf '%-34s %22s %22s\n' "" "ws" "wss"
  for row in cpu_per_delivery cpu rss hwm delivered latency server_delay skipped disconnects loadgen others tls; do
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
        server_delay) label="server delay p50 / p99 / mean (ms)"
          [[ -s $tmp/$mode.delay ]] && v=$(awk '{ print $1 " / " $2 " / " $3 }' "$tmp/$mode.delay") ;;
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
