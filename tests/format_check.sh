#!/usr/bin/env bash
# Fails when a C file differs from what the committed .clang-format gives.
# One clang-format process checks every file (one per file took 30 s).
set -euo pipefail
cd "${RAPPORT_SOURCE_DIR:-$(dirname "$0")/..}"
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find common services tests -name '*.[ch]')
existing=()
for f in "${files[@]}"; do [ -f "$f" ] && existing+=("$f"); done
[ ${#existing[@]} -gt 0 ] || exit 0
out=$(clang-format --dry-run -Werror "${existing[@]}" 2>&1) && exit 0
# Each finding starts "FILE:LINE:COL: error: code should be clang-formatted".
bad=$(grep -o '^[^:]*:[0-9]*:[0-9]*: error' <<<"$out" | cut -d: -f1 | sort -u || true)
if [ -z "$bad" ]; then
  echo "$out" # clang-format itself failed
  exit 1
fi
for f in $bad; do echo "not formatted: $f (run: clang-format -i $f)"; done
exit 1
