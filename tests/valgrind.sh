#!/usr/bin/env bash
# Full valgrind memcheck run (separate from deploy/test.sh: it takes a
# while). Builds a Debug tree without sanitizers (build-valgrind/) and runs
# under memcheck, with leak checking:
#   1. every unit test executable;
#   2. every fuzz target replaying its seed corpus (the three workers'
#      decode + validate + dispatch in one process, the log stream, config,
#      CSV);
#   3. the integration tests, with every worker started under valgrind
#      (RAPPORT_WORKER_WRAPPER; the harness fails a test whose worker log
#      has a memcheck error or whose worker exits 99 at stop).
# Any memcheck error fails the script. Suppressions: tests/valgrind.supp
# (LMDB's page writes only).
#
#   tests/valgrind.sh [INTEGRATION_TEST.py...]   (default: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/deps.sh
rapport_install_deps valgrind
src=$PWD
build=${RAPPORT_BUILD_DIR:-$src/build-valgrind}
jobs=$(nproc)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DRAPPORT_WERROR=ON >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null

vg=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
    --track-origins=yes --suppressions="$src/tests/valgrind.supp" --quiet)
status=0
t0=$(date +%s)

echo "== unit tests under memcheck"
for t in "$build"/tests/unit/*_test "$build"/bin/*_test; do
    [ -x "$t" ] || continue
    if (cd "$build/tests/unit" && RAPPORT_SOURCE_DIR=$src "${vg[@]}" "$t" >/dev/null 2>"$build/vg-$(basename "$t").log"); then
        echo "   ok   $(basename "$t")"
    else
        echo "   FAIL $(basename "$t") ($build/vg-$(basename "$t").log)"
        tail -n 30 "$build/vg-$(basename "$t").log"
        status=1
    fi
done

echo "== fuzz targets replaying their corpora under memcheck"
for t in interaction segment logwriter logstream config csv; do
    if "${vg[@]}" "$build/bin/fuzz_$t" "$src/tests/fuzz/corpus/$t" >/dev/null 2>"$build/vg-fuzz_$t.log"; then
        echo "   ok   fuzz_$t"
    else
        echo "   FAIL fuzz_$t ($build/vg-fuzz_$t.log)"
        tail -n 30 "$build/vg-fuzz_$t.log"
        status=1
    fi
done

echo "== integration tests, every worker under memcheck"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=($(cd tests/integration && ls test_*.py))
export RAPPORT_PY_PROTO=$build/py RAPPORT_BIN_DIR=$build/bin RAPPORT_SOURCE_DIR=$src
export PYTHONDONTWRITEBYTECODE=1 RAPPORT_WORKER_WRAPPER="${vg[*]}"
# Workers under memcheck run 20-50 times slower: give peers more time
# (tests that set their own timeout with --set keep it).
export RAPPORT_REQUEST_TIMEOUT_MS=${RAPPORT_REQUEST_TIMEOUT_MS:-120000}
export RAPPORT_TEST_TIME_SCALE=${RAPPORT_TEST_TIME_SCALE:-5}
for t in "${tests[@]}"; do
    if (cd tests/integration && timeout 1800 /usr/bin/python3 -u "$t" >"$build/vg-$t.log" 2>&1); then
        echo "   ok   $t"
    else
        echo "   FAIL $t ($build/vg-$t.log)"
        tail -n 40 "$build/vg-$t.log"
        status=1
    fi
done
echo "== valgrind: $([ $status -eq 0 ] && echo clean || echo ERRORS) in $(( $(date +%s) - t0 )) s"
exit $status
