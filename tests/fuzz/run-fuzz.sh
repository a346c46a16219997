#!/usr/bin/env bash
# Runs a libFuzzer binary on a temporary copy of the seed corpus for a while.
#
#   tests/fuzz/run-fuzz.sh [--merge] [--corpus <dir>] <fuzzer-binary> <seconds> [extra libFuzzer flags...]
#
# The seeds are tests/fuzz/corpus (frame_parser_fuzz's) unless --corpus
# names another directory, e.g. tests/fuzz/websocket-corpus for
# websocket_reader_fuzz.
# Exits non-zero on any crash, sanitizer report, leak, timeout or OOM; the
# reproducer (crash-*, leak-*, ...) and the full log are kept in the temp dir,
# whose path is printed. By default nothing in the repository is written.
# With --merge, inputs that add coverage are merged back into the seed
# directory (libFuzzer -merge=1) after a clean run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
corpus=$here/corpus
usage="usage: $0 [--merge] [--corpus <dir>] <fuzzer-binary> <seconds> [libFuzzer flags...]"

merge=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --merge) merge=1; shift ;;
    --corpus)
      if [[ $# -lt 2 ]]; then
        echo "$usage" >&2
        exit 2
      fi
      corpus=$2
      shift 2
      ;;
    *) break ;;
  esac
done
if [[ $# -lt 2 ]]; then
  echo "$usage" >&2
  exit 2
fi
fuzzer=$1
seconds=$2
shift 2
if [[ ! -x $fuzzer ]]; then
  echo "error: $fuzzer is not an executable (build it with -DMICSTREAM_FUZZ=ON and clang)" >&2
  exit 2
fi
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -lt 1 ]]; then
  echo "error: seconds must be a positive integer, got '$seconds'" >&2
  exit 2
fi
if [[ ! -d $corpus ]] || [[ -z $(ls -A "$corpus") ]]; then
  echo "error: no seed corpus in $corpus (build the fuzz-corpus target to write the seeds)" >&2
  exit 2
fi
fuzzer=$(cd "$(dirname "$fuzzer")" && pwd)/$(basename "$fuzzer")

work=$(mktemp -d "${TMPDIR:-/tmp}/micstream-fuzz.XXXXXX")
mkdir "$work/corpus" "$work/artifacts"
cp -- "$corpus"/* "$work/corpus/"
log=$work/fuzz.log

echo "fuzzing $(basename "$fuzzer") for ${seconds}s in $work (corpus: $(find "$work/corpus" -maxdepth 1 -type f | wc -l) seeds)"
status=0
# halt_on_error/abort_on_error: any sanitizer report ends the run as a crash.
ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1} \
  "$fuzzer" -max_total_time="$seconds" -max_len=17000 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" >"$log" 2>&1 || status=$?

# The last status lines: execs/s, coverage, corpus size.
grep -E '^#[0-9]+.*(DONE|INITED|pulse)' "$log" | tail -n 3 || true
grep -E '^(stat::|Done )' "$log" || true

artifacts=$(ls -A "$work/artifacts")
if [[ $status -ne 0 ]] || [[ -n $artifacts ]] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:' "$log"; then
  echo "FAILED (exit $status): see $log" >&2
  grep -E -m 20 'ERROR:|runtime error:|SUMMARY:|Test unit written to|deadly signal' "$log" >&2 || true
  for a in $artifacts; do
    echo "reproducer $work/artifacts/$a ($(stat -c %s "$work/artifacts/$a") bytes):" >&2
    od -An -tx1 -v "$work/artifacts/$a" | head -n 40 >&2
  done
  exit 1
fi

if [[ $merge -eq 1 ]]; then
  before=$(find "$corpus" -maxdepth 1 -type f | wc -l)
  "$fuzzer" -merge=1 -max_len=17000 "$corpus" "$work/corpus" >"$work/merge.log" 2>&1 || {
    echo "merge failed: see $work/merge.log" >&2
    exit 1
  }
  echo "merged into $corpus: $before -> $(find "$corpus" -maxdepth 1 -type f | wc -l) files"
fi

rm -rf "$work"
echo "OK: no crash in ${seconds}s"
