#!/usr/bin/env bash
# Fails when a C file differs from what the committed .clang-format gives.
set -euo pipefail
cd "${RAPPORT_SOURCE_DIR:-$(dirname "$0")/..}"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find common services tests -name '*.[ch]')
[ -n "$files" ] || exit 0
bad=0
for f in $files; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: clang-format -i $f)"
    bad=1
  fi
done
exit $bad
