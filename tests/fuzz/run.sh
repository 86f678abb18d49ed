#!/usr/bin/env bash
# Build the `fuzz` preset (clang, libFuzzer, ASan + UBSan) and fuzz each
# target for SECONDS (default 60), one after the other, with its seed corpus.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# New inputs go to build-fuzz/fuzz-corpus/<target> (the committed seeds in
# tests/fuzz/corpus/<target> are read, never written); a finding leaves
# build-fuzz/fuzz-findings/<target>/crash-* and makes the script exit 1.
# Logs: build-fuzz/fuzz-logs/<target>.log. FUZZ_JOBS=N runs N targets at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(interaction segment logwriter logstream config csv keys)
jobs=${FUZZ_JOBS:-1}

cmake --preset fuzz >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

out=build-fuzz
mkdir -p "$out/fuzz-corpus" "$out/fuzz-findings" "$out/fuzz-logs"
# libFuzzer's own leak check would flag what LMDB and libzmq keep for the
# life of the process; the sanitizers stay on for everything else.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
    local t=$1
    local work="$out/fuzz-corpus/$t" findings="$out/fuzz-findings/$t"
    mkdir -p "$work" "$findings"
    local dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    echo "== fuzz_$t: ${secs}s"
    if "$out/bin/fuzz_$t" "$work" "tests/fuzz/corpus/$t" "${dict[@]}" \
        -max_total_time="$secs" -max_len=65536 -timeout=30 -rss_limit_mb=4096 \
        -artifact_prefix="$findings/" -print_final_stats=1 >"$out/fuzz-logs/$t.log" 2>&1; then
        grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$out/fuzz-logs/$t.log" |
            sed "s/^/   $t /"
        return 0
    fi
    echo "!! fuzz_$t found something: $findings/ (log $out/fuzz-logs/$t.log)"
    tail -n 40 "$out/fuzz-logs/$t.log"
    return 1
}

status=0
pids=()
for t in "${targets[@]}"; do
    if [ "$jobs" -gt 1 ]; then
        run_one "$t" &
        pids+=($!)
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
    else
        run_one "$t" || status=1
    fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
