#!/usr/bin/env bash
# Build rapport and run every test: format check, unit, integration and
# interop tests. Installs what it needs (Debian packages) first.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/deps.sh
rapport_install_deps

jobs=$(nproc)
echo "== build (dev preset, -Werror)"
cmake --preset dev >/dev/null
cmake --build build -j"$jobs"

echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600
