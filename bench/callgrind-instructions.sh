#!/usr/bin/env bash
# Counts x86 instructions per sample of each codec's encode (and of IMA ADPCM
# decode) with callgrind, collecting only inside encode_all()/decode_all() of
# bench/adpcm_instructions.cpp. Builds nothing: give it the built binary.
#
#   bench/callgrind-instructions.sh [path/to/adpcm-instructions] [frames]
#     default binary: build/release/bench/adpcm-instructions, default frames: 1000
#   CALLGRIND_KEEP=dir  keeps the callgrind.out files in dir (for callgrind_annotate)
#   CALLGRIND_ONLY="encode:ima-adpcm"  measures only the listed op:codec pairs
#
# Prints one line a measurement, e.g.
#   IMA ADPCM encode: 31.2 instructions per sample (320000 samples)
set -euo pipefail

bin=${1:-build/release/bench/adpcm-instructions}
frames=${2:-1000}
measurements=${CALLGRIND_ONLY:-"encode:ima-adpcm decode:ima-adpcm encode:mulaw decode:mulaw encode:pcm16 decode:pcm16"}

if [[ ! -x $bin ]]; then
  echo "error: $bin is not an executable; build the adpcm-instructions target first" >&2
  exit 2
fi
command -v valgrind >/dev/null || { echo "error: valgrind not found" >&2; exit 2; }

if [[ -n ${CALLGRIND_KEEP:-} ]]; then
  outdir=$CALLGRIND_KEEP
  mkdir -p "$outdir"
else
  outdir=$(mktemp -d)
  trap 'rm -rf "$outdir"' EXIT
fi

pretty() {
  case $1 in
    ima-adpcm) echo "IMA ADPCM" ;;
    mulaw) echo "mu-law" ;;
    pcm16) echo "PCM16" ;;
    *) echo "$1" ;;
  esac
}

status=0
for m in $measurements; do
  op=${m%%:*}
  codec=${m#*:}
  fn="${op}_all*"
  out="$outdir/callgrind.out.$op.$codec"
  log="$outdir/valgrind.$op.$codec.log"
  if ! program_out=$(valgrind --tool=callgrind --toggle-collect="$fn" --callgrind-out-file="$out" \
                       --log-file="$log" "$bin" "$op" "$codec" "$frames"); then
    echo "error: $bin $op $codec failed under valgrind; see below" >&2
    cat "$log" >&2
    status=1
    continue
  fi
  samples=$(sed -n 's/.*samples=\([0-9][0-9]*\).*/\1/p' <<<"$program_out")
  # The out file ends with "summary: <Ir>" (older callgrind) or "totals: <Ir>".
  ir=$(awk '$1 == "summary:" || $1 == "totals:" { v = $2 } END { print v }' "$out")
  if [[ -z $samples || -z $ir || $ir -eq 0 ]]; then
    echo "error: no instruction count for $op $codec (did the binary lose its ${op}_all symbol?)" >&2
    status=1
    continue
  fi
  awk -v name="$(pretty "$codec") $op" -v ir="$ir" -v n="$samples" \
    'BEGIN { printf "%s: %.1f instructions per sample (%d samples, %d instructions)\n", name, ir / n, n, ir }'
done
[[ -n ${CALLGRIND_KEEP:-} ]] && echo "callgrind out files kept in $outdir" >&2
exit $status
