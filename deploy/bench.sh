#!/usr/bin/env bash
# Benchmarks (issue 4): install what is missing, build the release preset and
# run rapport-bench, which starts the real workers on temporary directories
# and measures every scenario next to its baseline in the same run.
#
#   deploy/bench.sh                    every scenario, S1..S6 (S4 and S6 build a
#                                      10M-entry store: count minutes) -> bench.json
#   deploy/bench.sh --quick            S1 at 100k and S2 with 8 clients (< 1 min)
#                                      -> bench-quick.json
#   deploy/bench.sh --smoke            tiny sizes, a few seconds; checks counts only
#                                      (ctest runs this as bench_smoke) -> bench-smoke.json
#   deploy/bench.sh [--quick] --plot   the same, then draw <json stem>.svg with gnuplot
#   deploy/bench.sh --plot-only [FILE] only draw FILE (default bench.json) as an SVG
#   deploy/bench.sh --no-relay         without rapport-bench-relay
#   deploy/bench.sh --profile DIR      also run each S1 LogSegment under perf record
#                                      (-g, the three workers) into DIR/perf-s1-N.data
#                                      and print the split of its samples by
#                                      library and by worker
#
# Then rapport-bench-relay (same mode: full, --quick or --smoke) measures the
# change stream with real nats-server processes: S7 (relay throughput at R1
# and R3 against a raw libnats publish), S8 (interaction to JetStream push
# consumer at 200/s), S9 (the writer's S1 and S2 with the relay running
# against without it), S10 (a read replica applying the stream) and S2A (S2
# at 32 clients with ack_after_relay on against off, at R1 and R3)
# -> bench-relay[-MODE].json.
#
# Any other argument goes to rapport-bench (build-release/bin/rapport-bench --help),
# e.g. --scenarios S1,S5 --s1-sizes 10k,100k,1M --s2-seconds 10 --tmp /var/tmp.
# Output files land in the current directory (BENCH_OUT_DIR to change it).
# Exit status: 1 when a sanity check failed; targets not met do not fail the run.
set -euo pipefail
out_dir=$(cd "${BENCH_OUT_DIR:-$PWD}" && pwd)
cd "$(dirname "$0")/.."

plot=0
json=""
plot_only=0
plot_file=""
mode=full
relay=1
profile=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --plot) plot=1 ;;
    --plot-only)
      plot_only=1
      if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then plot_file=$2; shift; fi ;;
    --no-relay) relay=0 ;;
    --profile) mkdir -p "$2"; profile=$(cd "$2" && pwd); shift ;;
    --quick) mode=quick; args+=("$1") ;;
    --smoke) mode=smoke; args+=("$1") ;;
    --out) json=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done

python=/usr/bin/python3
[ -x "$python" ] || python=python3

# bench_plot JSON SVG: throughput against segment size (S1) and latency
# percentiles against clients (S2), side by side, with their baselines.
bench_plot() {
  local json=$1 svg=$2
  command -v gnuplot >/dev/null || { echo "gnuplot is missing (apt-get install gnuplot-nox)" >&2; return 1; }
  "$python" - "$json" "$svg" <<'PY' | gnuplot
import json, sys
src, svg = sys.argv[1], sys.argv[2]
d = json.load(open(src))
m = d.get("machine", {})
s1 = d.get("S1", {}).get("points", [])
s2 = d.get("S2", {})
gc, base = s2.get("group_commit", []), s2.get("baseline_no_group_commit", [])
panels = (1 if s1 else 0) + (1 if gc else 0)
if panels == 0:
    sys.exit("no S1 or S2 figures in " + src)
w = 560 * panels
mem = m.get("memory_bytes", 0) / 2**30
title = "rapport-bench %s, %s, %s CPU, %.0f GiB, Linux %s" % (
    d.get("mode", "?"), m.get("date", "?")[:10], m.get("nproc", "?"), mem, m.get("kernel", "?"))
print("set terminal svg size %d,480 dynamic enhanced font 'sans,11' background rgb 'white'" % w)
print("set output '%s'" % svg.replace("'", ""))
print("set multiplot layout 1,%d title \"%s\"" % (panels, title))
print("set grid; set key below; set border 3; set tics nomirror")
if s1:
    print("$s1 << EOD")
    for p in s1:
        print(p["contacts"], p["entries_per_s"], p["baseline_entries_per_s"])
    print("EOD")
    print("set title 'S1 LogSegment: entries/s against segment size'")
    print("set logscale x; set logscale y; set format x '%.0s%c'; set format y '%.0s%c'")
    print("set xlabel 'contacts in the segment'; set ylabel 'entries/s (end to end)'")
    print("set xrange [%g:%g]" % (min(p["contacts"] for p in s1) / 2, max(p["contacts"] for p in s1) * 2))
    print("set yrange [*:*]")
    print("plot $s1 using 1:2 with linespoints lw 2 pt 7 title 'rapport LogSegment', "
          "$s1 using 1:3 with linespoints lw 2 pt 5 dt 2 title 'raw LMDB baseline (one synced txn)', "
          "300000 with lines lc rgb 'dark-gray' dt 2 title 'target 300k/s at 1M'")
    print("unset logscale; set format x '%g'; set format y '%g'")
if gc:
    print("$s2 << EOD")
    for p, b in zip(gc, base):
        print(p["clients"], p["p50_ms"], p["p99_ms"], p["p999_ms"], b["p50_ms"], b["p99_ms"], b["p999_ms"])
    print("EOD")
    print("set title 'S2 CreateInteraction: latency against concurrent clients'")
    print("set logscale x 2; set logscale y; set format y '%g'")
    print("set xlabel 'clients (one request in flight each)'; set ylabel 'latency (ms)'")
    print("set xrange [%g:%g]" % (min(p["clients"] for p in gc) / 1.5, max(p["clients"] for p in gc) * 1.5))
    print("set yrange [*:*]")
    print("plot $s2 using 1:2 with linespoints lw 2 pt 7 lc 1 title 'p50', "
          "$s2 using 1:3 with linespoints lw 2 pt 5 lc 2 title 'p99', "
          "$s2 using 1:4 with linespoints lw 2 pt 9 lc 3 title 'p999', "
          "$s2 using 1:6 with linespoints lw 1 pt 4 lc 2 dt 2 title 'p99, group commit off (baseline)', "
          "10 with lines lc rgb 'dark-gray' dt 2 title 'target p99 10 ms'")
print("unset multiplot")
PY
  echo "wrote $svg"
}

if [ "$plot_only" -eq 1 ]; then
  json=${plot_file:-$out_dir/bench.json}
  bench_plot "$json" "${json%.json}.svg"
  exit 0
fi

source deploy/deps.sh
rapport_install_deps
[ -z "$profile" ] || rapport_install_deps linux-perf

echo "== build (release preset)"
cmake --preset release >/dev/null
cmake --build build-release -j"$(nproc)" \
  --target rapport-bench rapport-logwriter rapport-interaction rapport-segment \
  rapport-relay rapport-bench-relay rapport

if [ -z "$json" ]; then
  case "$mode" in
    full) json=$out_dir/bench.json ;;
    *) json=$out_dir/bench-$mode.json ;;
  esac
fi
RAPPORT_BENCH_REV=$(git describe --always --dirty 2>/dev/null || echo unknown)
export RAPPORT_BENCH_REV
echo "== rapport-bench ${args[*]:-} (results: $json)"
status=0
RAPPORT_BENCH_PROFILE=$profile build-release/bin/rapport-bench --out "$json" "${args[@]}" ||
  status=$?
if [ -n "$profile" ]; then
  for data in "$profile"/perf-s1-*.data; do
    [ -s "$data" ] || continue
    echo "== $data: samples by library (dso), then by worker (comm)"
    perf report -i "$data" --stdio --no-children -g none --sort dso --percent-limit 0.5 2>/dev/null |
      grep -v '^#' | grep -v '^$' || true
    perf report -i "$data" --stdio --no-children -g none --sort comm 2>/dev/null |
      grep -v '^#' | grep -v '^$' || true
  done
fi
if [ "$plot" -eq 1 ] && [ -s "$json" ]; then
  bench_plot "$json" "${json%.json}.svg" || status=1
fi
if [ "$relay" -eq 1 ]; then
  rjson=$out_dir/bench-relay.json
  [ "$mode" = full ] || rjson=$out_dir/bench-relay-$mode.json
  rargs=()
  [ "$mode" = full ] || rargs+=("--$mode")
  echo "== rapport-bench-relay ${rargs[*]:-} (results: $rjson)"
  rstatus=0
  build-release/bin/rapport-bench-relay --bin-dir build-release/bin --out "$rjson" \
    "${rargs[@]}" || rstatus=$?
  # 77: nats-server is missing (deploy/deps.sh installs it).
  [ "$rstatus" -eq 0 ] || [ "$rstatus" -eq 77 ] || status=1
fi
exit "$status"
