#!/usr/bin/env bash
# Build rapport and run every test. Installs what it needs (Debian
# packages) first.
#
#   1. the dev preset (-Werror) into build/: every ctest label (unit,
#      integration, interop, ops, fuzz corpus replay, bench smoke, and the
#      crash harness's 20 rounds);
#   2. the asan preset (AddressSanitizer + UndefinedBehaviorSanitizer) into
#      build-asan/: the unit, integration and fuzz-replay tests again, with
#      leak checking on. The integration tests run the sanitized workers
#      (RAPPORT_BIN_DIR=build-asan/bin); a sanitizer report in a worker's
#      log, or a worker aborting, fails the test (tests/integration/harness.py).
#
# Skipped tests are listed; one that could have run on this machine fails
# the run (could_run below).
#
# Long runs have their own scripts: tests/crash/soak.sh N (crash rounds),
# tests/fuzz/run.sh SECONDS (libFuzzer), tests/valgrind.sh (memcheck),
# tests/mutants/mutants.py (do the tests catch deliberate bugs?).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/deps.sh
rapport_install_deps

jobs=$(nproc)
# The tests spend about half their time waiting (fsyncs, processes starting,
# probes): one more test than cores keeps the cores busy (725 -> 565 s
# on 2 cores). Their bounds scale with the build, not with the load.
test_jobs=$((jobs + 1))
t0=$(date +%s)
echo "== build (dev preset, -Werror)"
cmake --preset dev >/dev/null
cmake --build build -j"$jobs"

echo "== build (asan preset: address + undefined)"
cmake --preset asan >/dev/null
cmake --build build-asan -j"$jobs"

# A test that may skip exits 77 (ctest's SKIP_RETURN_CODE) and shows as
# skipped. A skip is allowed only when this machine lacks what the test
# needs; a skipped test that could have run here fails the run.
could_run() {
    case "$1" in
        ops_package) [ "$(id -u)" -eq 0 ] ;;
        integration_prometheus) command -v prometheus >/dev/null && command -v promtool >/dev/null ;;
        relay_* | crash_relay_rounds | bench_relay_smoke) command -v nats-server >/dev/null ;;
        *) true ;; # no known reason to skip
    esac
}
skips=0
check_skips() { # the ctest output
    local t
    for t in $(sed -n 's/^ *[0-9]*\/[0-9]* *Test *#[0-9]*: \([^ ]*\) .*\*\*\*Skipped.*/\1/p' "$1"); do
        if could_run "$t"; then
            echo "== SKIPPED, but it could have run here: $t"
            skips=$((skips + 1))
        else
            echo "== skipped (this machine lacks what it needs): $t"
        fi
    done
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== tests (dev)"
ctest --test-dir build --output-on-failure -j"$test_jobs" --timeout 900 | tee "$log"
check_skips "$log"

echo "== tests (asan, leak checking on)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$test_jobs" --timeout 900 -L 'unit|integration|fuzz' \
    | tee "$log"
check_skips "$log"
if [ "$skips" -gt 0 ]; then
    echo "== $skips skipped tests could have run: failing"
    exit 1
fi

echo "== all tests passed in $(( $(date +%s) - t0 )) s"
