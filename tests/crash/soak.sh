#!/usr/bin/env bash
# Crash soak: N rounds of tests/crash/crash.py (default 500) against the
# workers of a build directory (default build/, built with the dev preset
# when missing). One line per round; the last line is the total.
#
#   tests/crash/soak.sh [N] [crash.py options...]
#   RAPPORT_BUILD_DIR=build-rel tests/crash/soak.sh 500 --seed 7
#
# Output goes to stdout and to $SOAK_LOG (default
# <build dir>/crash-soak-<date>.log). Exit status 1 if a round failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-500}
shift || true
build=${RAPPORT_BUILD_DIR:-build}
if [ ! -x "$build/bin/rapport-logwriter" ]; then
    cmake --preset dev >/dev/null
    cmake --build build -j"$(nproc)" >/dev/null
    build=build
fi
cmake --build "$build" --target rapport_python >/dev/null
build=$(cd "$build" && pwd)
log=${SOAK_LOG:-$build/crash-soak-$(date +%Y%m%d-%H%M%S).log}
echo "crash soak: $rounds rounds, log $log"
export RAPPORT_BIN_DIR=$build/bin RAPPORT_PY_PROTO=$build/py PYTHONDONTWRITEBYTECODE=1
/usr/bin/python3 -u tests/crash/crash.py --rounds "$rounds" "$@" 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
