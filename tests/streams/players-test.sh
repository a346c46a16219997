#!/usr/bin/env bash
# The server's HTTP audio streams heard by standard players: a real
# micstream-server and a virtual device sending a 440 Hz tone; ffprobe must
# see the right codec, rate and channels in /stream/<id>.wav, .opus and .mp3,
# ffmpeg must record 5 s of each and VLC 6 s of the .opus, and every
# recording must be a clean 440 Hz tone (stream_tone_check). micstream-rtsp
# serves the device over RTSP with credentials: refused without them (401),
# ffprobe and ffmpeg with them, the same checks; and fed by a server with
# accounts (--users), it says it needs one without --server-account and
# relays the tone with it.
#   tests/streams/players-test.sh BUILD_DIR [micstream-server micstream-device stream_tone_check micstream-rtsp]
# Needs ffmpeg, vlc-bin and vlc-plugin-base; a missing tool fails the test.
set -euo pipefail
build=$(realpath "${1:?usage: players-test.sh BUILD_DIR [micstream-server micstream-device stream_tone_check]}")
server_bin=$(realpath "${2:-$build/server/micstream-server}")
device_bin=$(realpath "${3:-$build/device/micstream-device}")
check_bin=$(realpath "${4:-$build/tests/streams/stream_tone_check}")
rtsp_bin=$(realpath "${5:-$build/rtsp/micstream-rtsp}")
rate=16000
id=players-tone

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# Runs a command in the background and waits for it: bash runs a trap only
# between commands, and wait is one it interrupts.
run() {
  "$@" &
  local pid=$! status=0
  pids+=("$pid")
  wait "$pid" || status=$?
  unset 'pids[-1]'
  return "$status"
}

fail() {
  echo "FAILED: $*" >&2
  if [ -f "$work/server.log" ]; then
    echo "--- the server's log, last 40 lines:" >&2
    tail -n 40 "$work/server.log" >&2
  fi
  exit 1
}
# Prints a log's tail after a failure's reason.
fail_with_log() {
  local log=$1
  shift
  fail "$*
--- $(basename "$log"), last 20 lines:
$(tail -n 20 "$log" 2>/dev/null)"
}

need() { command -v "$1" >/dev/null || fail "$1 is not installed (apt-get install $2)"; }
need ffmpeg ffmpeg
need ffprobe ffmpeg
need cvlc vlc-bin
need timeout coreutils
need setpriv util-linux
# micstream-rtsp's pipeline: souphttpsrc (good), oggdemux (base), opusparse (bad), rtpopuspay (good).
for plugin in soup ogg opusparse rtp; do
  compgen -G "/usr/lib/*/gstreamer-1.0/libgst$plugin.so" >/dev/null ||
    fail "GStreamer's $plugin plugin is missing (apt-get install gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)"
done
# Without its plugins cvlc records nothing, and exits 0.
compgen -G "/usr/lib/*/vlc/plugins/codec/libopus_plugin.so" >/dev/null ||
  fail "VLC's plugins are not installed (apt-get install vlc-plugin-base)"
for bin in "$server_bin" "$device_bin" "$check_bin" "$rtsp_bin"; do [ -x "$bin" ] || fail "$bin is not built"; done

echo "== server and device"
"$server_bin" --bind 127.0.0.1 --http-port 0 --ingest-port 0 --ports-file "$work/ports.json" --allow-unknown-devices \
  --no-mdns >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  grep -q '"ingest"' "$work/ports.json" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "the server exited at start"
  sleep 0.1
done
http=$(grep -o '"http": *[0-9]*' "$work/ports.json" | grep -o '[0-9]*$') ||
  fail "no http port in $(cat "$work/ports.json")"
ingest=$(grep -o '"ingest": *[0-9]*' "$work/ports.json" | grep -o '[0-9]*$') || fail "no ingest port"
"$device_bin" --server "127.0.0.1:$ingest" --id "$id" --link plain --tone 440 --level-dbfs -6 --rate "$rate" \
  --channels 1 >"$work/device.log" 2>&1 &
pids+=($!)
base="http://127.0.0.1:$http/stream/$id"

# $1: extension, $2 codec_name, $3 sample_rate: ffprobe's view, retried
# until the device's audio reaches the server (20 s at most). ffprobe takes
# about 6 s on a live 16 kHz WAV: its demuxer reads 64 KiB before it returns
# the header (S/PDIF detection), then 5 s of audio.
probe() {
  local url="$base.$1" want="codec_name=$2 sample_rate=$3 channels=1" got="" deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "${pids[1]}" 2>/dev/null || fail_with_log "$work/device.log" "the virtual device exited"
    if run timeout 15 ffprobe -v error -select_streams a:0 -show_entries stream=codec_name,sample_rate,channels \
      -of default=noprint_wrappers=1 "$url" >"$work/ffprobe.txt" 2>"$work/ffprobe.log"; then
      got=$(tr '\n' ' ' <"$work/ffprobe.txt")
      [ -n "$got" ] && break
    fi
    sleep 0.5
  done
  [ -n "$got" ] || fail_with_log "$work/ffprobe.log" "ffprobe found no audio stream in $url within 20 s"
  for field in $want; do
    grep -qw -- "$field" <<<"$got" || fail "ffprobe $url: want $want, got $got"
  done
  echo "   ffprobe $url: $got"
}

# $1: a WAV recording of the tone; $2: who made it; $3: its log.
check_tone() {
  "$check_bin" "$1" --expect-hz 440 --tolerance-hz 2 --min-seconds 4.5 >"$work/check.log" 2>&1 ||
    fail_with_log "$3" "$2's recording is not the tone:
$(cat "$work/check.log")"
  echo "   $2: $(cat "$work/check.log")"
}

for ext in wav opus mp3; do
  echo "== .$ext through ffprobe and ffmpeg"
  case $ext in
    wav) probe wav pcm_s16le "$rate" ;;
    mp3) probe mp3 mp3 "$rate" ;;  # 16 kHz is an MPEG-2 rate: LAME keeps it
    opus)
      probe opus opus 48000  # Opus always decodes at 48 kHz
      # A listener that stays, so the players after it join the Ogg stream mid-way.
      ffmpeg -nostdin -loglevel error -i "$base.opus" -c copy -f null - >"$work/opus-listener.log" 2>&1 &
      pids+=($!)
      opus_listener=$!
      opus_listener_since=$SECONDS
      ;;
  esac
  out="$work/ffmpeg-$ext.wav"
  status=0
  run timeout 30 ffmpeg -nostdin -hide_banner -loglevel warning -y -t 5 -i "$base.$ext" -f wav "$out" \
    >"$work/ffmpeg.log" 2>&1 || status=$?
  [ "$status" -ne 124 ] || fail_with_log "$work/ffmpeg.log" "ffmpeg took over 30 s to record 5 s of $base.$ext"
  [ "$status" -eq 0 ] || fail_with_log "$work/ffmpeg.log" "ffmpeg exit $status recording $base.$ext"
  check_tone "$out" "ffmpeg ($ext)" "$work/ffmpeg.log"
done

# VLC joins the Ogg stream 10 s or more after it began: VLC 3.0 plays only
# 80 ms of an Ogg Opus stream whose granule positions start far from 0 (what
# a late listener would get without the server rebasing them to its start),
# and exits 0 all the same, so only the recording's check counts. It refuses
# to run as root, cvlc included: as root it runs as nobody.
echo "== .opus through VLC"
mkdir "$work/vlc"
vlc=(cvlc)
if [ "$(id -u)" -eq 0 ]; then
  chmod 755 "$work"
  chown nobody:nogroup "$work/vlc"
  vlc=(setpriv --reuid=nobody --regid=nogroup --clear-groups cvlc)
fi
out="$work/vlc/vlc-opus.wav"
while [ $SECONDS -lt $((opus_listener_since + 10)) ]; do sleep 0.5; done
kill -0 "$opus_listener" 2>/dev/null ||
  fail_with_log "$work/opus-listener.log" "the listener kept on $base.opus left"
status=0
HOME="$work/vlc" run timeout 30 "${vlc[@]}" --verbose=1 --play-and-exit --run-time 6 "$base.opus" \
  --sout "#transcode{acodec=s16l,channels=1}:std{access=file,mux=wav,dst=$out}" >"$work/vlc.log" 2>&1 || status=$?
[ "$status" -ne 124 ] || fail_with_log "$work/vlc.log" "VLC took over 30 s to record 6 s of $base.opus"
[ "$status" -eq 0 ] || fail_with_log "$work/vlc.log" "VLC exit $status playing $base.opus"
[ -s "$out" ] || fail_with_log "$work/vlc.log" "VLC wrote no recording of $base.opus"
check_tone "$out" "VLC (opus)" "$work/vlc.log"

echo "== RTSP through micstream-rtsp, ffprobe and ffmpeg"
printf 'frigate:rtsp-password\n' >"$work/rtsp-credentials"
chmod 600 "$work/rtsp-credentials"
LSAN_OPTIONS="suppressions=$(dirname "$0")/lsan-gstreamer.supp" "$rtsp_bin" --server "127.0.0.1:$http" --port 0 \
  --ports-file "$work/rtsp.json" --credentials "$work/rtsp-credentials" --poll-seconds 1 >"$work/rtsp.log" 2>&1 &
pids+=($!)
rtsp_pid=$!
for _ in $(seq 100); do
  grep -q '"rtsp"' "$work/rtsp.json" 2>/dev/null && break
  kill -0 "$rtsp_pid" 2>/dev/null || fail_with_log "$work/rtsp.log" "micstream-rtsp exited at start"
  sleep 0.1
done
rtsp_port=$(grep -o '"rtsp": *[0-9]*' "$work/rtsp.json" | grep -o '[0-9]*$') || fail "no rtsp port"
for _ in $(seq 50); do grep -q "/$id\$" "$work/rtsp.log" && break; sleep 0.1; done
grep -q "/$id\$" "$work/rtsp.log" || fail_with_log "$work/rtsp.log" "micstream-rtsp did not mount /$id"
status=0
run timeout 15 ffprobe -v error "rtsp://127.0.0.1:$rtsp_port/$id" >"$work/ffprobe.log" 2>&1 || status=$?
grep -q "401" "$work/ffprobe.log" || fail_with_log "$work/ffprobe.log" "RTSP without credentials was not refused with 401"
rtsp_url="rtsp://frigate:rtsp-password@127.0.0.1:$rtsp_port/$id"
run timeout 15 ffprobe -v error -show_entries stream=codec_name -of default=noprint_wrappers=1 "$rtsp_url" \
  >"$work/ffprobe.txt" 2>"$work/ffprobe.log" || fail_with_log "$work/ffprobe.log" "ffprobe failed on RTSP"
grep -qx "codec_name=opus" "$work/ffprobe.txt" || fail "ffprobe RTSP: want codec_name=opus, got $(cat "$work/ffprobe.txt")"
echo "   ffprobe rtsp://127.0.0.1:$rtsp_port/$id: $(tr '\n' ' ' <"$work/ffprobe.txt")"
out="$work/ffmpeg-rtsp.wav"
status=0
run timeout 30 ffmpeg -nostdin -hide_banner -loglevel warning -y -rtsp_transport tcp -t 5 -i "$rtsp_url" -f wav "$out" \
  >"$work/ffmpeg.log" 2>&1 || status=$?
[ "$status" -eq 0 ] || fail_with_log "$work/ffmpeg.log" "ffmpeg exit $status recording RTSP"
check_tone "$out" "ffmpeg (rtsp)" "$work/ffmpeg.log"

kill -0 "$opus_listener" 2>/dev/null || fail_with_log "$work/opus-listener.log" "the listener kept on $base.opus left"
kill -0 "$rtsp_pid" 2>/dev/null || fail_with_log "$work/rtsp.log" "micstream-rtsp exited"
kill -0 "${pids[0]}" 2>/dev/null || fail "the server exited"

echo "== RTSP from a server with accounts: micstream-rtsp logs in with --server-account"
hash=$(printf 'relay-password\n' | "$server_bin" hash-password --iterations 1000) || fail "hash-password failed"
printf '[users.relay]\npassword = "%s"\nroles = ["listen"]\n' "$hash" >"$work/users.toml"
chmod 600 "$work/users.toml"
"$server_bin" --bind 127.0.0.1 --http-port 0 --ingest-port 0 --ports-file "$work/ports-users.json" \
  --allow-unknown-devices --no-mdns --users "$work/users.toml" >"$work/server-users.log" 2>&1 &
pids+=($!)
users_server=$!
for _ in $(seq 100); do
  grep -q '"ingest"' "$work/ports-users.json" 2>/dev/null && break
  kill -0 "$users_server" 2>/dev/null || fail_with_log "$work/server-users.log" "the server with --users exited at start"
  sleep 0.1
done
users_http=$(grep -o '"http": *[0-9]*' "$work/ports-users.json" | grep -o '[0-9]*$') || fail "no http port"
users_ingest=$(grep -o '"ingest": *[0-9]*' "$work/ports-users.json" | grep -o '[0-9]*$') || fail "no ingest port"
"$device_bin" --server "127.0.0.1:$users_ingest" --id "$id" --link plain --tone 440 --level-dbfs -6 --rate "$rate" \
  --channels 1 >"$work/device-users.log" 2>&1 &
pids+=($!)
# Without an account it says what it needs, and mounts nothing.
LSAN_OPTIONS="suppressions=$(dirname "$0")/lsan-gstreamer.supp" "$rtsp_bin" --server "127.0.0.1:$users_http" --port 0 \
  --poll-seconds 1 >"$work/rtsp-no-account.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q -- "--server-account" "$work/rtsp-no-account.log" && break; sleep 0.1; done
grep -q "refuses the device list (401).*--server-account" "$work/rtsp-no-account.log" ||
  fail_with_log "$work/rtsp-no-account.log" "micstream-rtsp did not say the server wants an account"
grep -q "/$id\$" "$work/rtsp-no-account.log" && fail_with_log "$work/rtsp-no-account.log" "mounted /$id without an account"
echo "   without --server-account: $(grep -o 'the server refuses.*' "$work/rtsp-no-account.log" | head -1)"
printf 'relay:relay-password\n' >"$work/server-account"
chmod 600 "$work/server-account"
LSAN_OPTIONS="suppressions=$(dirname "$0")/lsan-gstreamer.supp" "$rtsp_bin" --server "127.0.0.1:$users_http" --port 0 \
  --ports-file "$work/rtsp-users.json" --server-account "$work/server-account" --poll-seconds 1 \
  >"$work/rtsp-users.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "/$id\$" "$work/rtsp-users.log" && break; sleep 0.1; done
grep -q "/$id\$" "$work/rtsp-users.log" || fail_with_log "$work/rtsp-users.log" "micstream-rtsp did not mount /$id"
users_rtsp=$(grep -o '"rtsp": *[0-9]*' "$work/rtsp-users.json" | grep -o '[0-9]*$') || fail "no rtsp port"
out="$work/ffmpeg-rtsp-users.wav"
status=0
run timeout 30 ffmpeg -nostdin -hide_banner -loglevel warning -y -rtsp_transport tcp -t 5 \
  -i "rtsp://127.0.0.1:$users_rtsp/$id" -f wav "$out" >"$work/ffmpeg.log" 2>&1 || status=$?
[ "$status" -eq 0 ] || fail_with_log "$work/rtsp-users.log" "ffmpeg exit $status recording RTSP fed by a server with accounts"
check_tone "$out" "ffmpeg (rtsp, server with accounts)" "$work/ffmpeg.log"
echo "PASSED"
