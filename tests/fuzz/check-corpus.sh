#!/usr/bin/env bash
# Fails when a committed seed corpus differs from what its generator
# writes now (say, after a change to the protocol): regenerate it with
#   cmake --build <build-dir> --target fuzz-corpus
# Files merged in by run-fuzz.sh --merge (not written by the generator) are
# not compared.
#
#   tests/fuzz/check-corpus.sh <generator-binary> [corpus-dir]
#
# The corpus defaults to tests/fuzz/corpus (make_fuzz_corpus's); pass
# tests/fuzz/websocket-corpus with make_ws_fuzz_corpus.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gen=${1:?usage: $0 <generator-binary> [corpus-dir]}
corpus=${2:-$here/corpus}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp" >/dev/null
status=0
for f in "$tmp"/*; do
  name=$(basename "$f")
  if ! cmp -s "$f" "$corpus/$name"; then
    echo "stale or missing seed: $corpus/$name" >&2
    status=1
  fi
done
[[ $status -eq 0 ]] && echo "seed corpus up to date ($(find "$tmp" -maxdepth 1 -type f | wc -l) generated files)"
exit $status
