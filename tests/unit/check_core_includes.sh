#!/usr/bin/env bash
# core/ must build on the ESP32: its sources include only C++ standard headers
# and its own, never an OS, network or library header. Lists every offender.
set -euo pipefail
core="${1:?usage: check_core_includes.sh <core dir>}"
allowed='^(algorithm|array|atomic|bit|cmath|cstddef|cstdint|cstring|limits|new|span|string_view|type_traits|utility|micstream/.*)$'
status=0
while IFS=: read -r file _ include; do
  header=$(sed -E 's/.*#include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<<"$include")
  if ! [[ "$header" =~ $allowed ]]; then
    echo "core/ must not include <$header> ($file)" >&2
    status=1
  fi
done < <(grep -rn --include='*.h' --include='*.cpp' '#include' "$core/include" "$core/src")
[ "$status" -eq 0 ] && echo "core/ includes only standard and micstream headers"
exit "$status"
