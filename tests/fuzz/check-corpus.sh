#!/usr/bin/env bash
# Fails when the committed seed corpus differs from what make_fuzz_corpus
# writes now (say, after a change to the protocol): regenerate it with
#   cmake --build <build-dir> --target fuzz-corpus
# Files merged in by run-fuzz.sh --merge (not written by the generator) are
# not compared.
#
#   tests/fuzz/check-corpus.sh <make_fuzz_corpus-binary>
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gen=${1:?usage: $0 <make_fuzz_corpus-binary>}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp" >/dev/null
status=0
for f in "$tmp"/*; do
  name=$(basename "$f")
  if ! cmp -s "$f" "$here/corpus/$name"; then
    echo "stale or missing seed: tests/fuzz/corpus/$name" >&2
    status=1
  fi
done
[[ $status -eq 0 ]] && echo "seed corpus up to date ($(find "$tmp" -maxdepth 1 -type f | wc -l) generated files)"
exit $status
