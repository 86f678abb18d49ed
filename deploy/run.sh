#!/usr/bin/env bash
# Quick start: install what is missing, build, start the three rapport
# workers with local state under ./var, run a visible demo, and keep the
# workers running until Ctrl-C.
#   deploy/run.sh              demo, then serve until Ctrl-C
#   deploy/run.sh --demo-only  demo, then stop the workers and exit
#
# Every command the demo runs is printed first, exactly as it can be pasted
# into a shell at the top of the source tree while the workers run. Bold
# headings only on a terminal. Everything this script starts in the
# background (the workers, the event subscriber) is stopped when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
demo_only=0
[ "${1:-}" = "--demo-only" ] && demo_only=1

source deploy/deps.sh
rapport_install_deps

# The build is quiet; its output is shown when it fails.
echo "== build (log: build/run-build.log)"
mkdir -p build
if ! { cmake --preset dev && cmake --build build -j"$(nproc)" --target rapport \
  rapport-interaction rapport-segment rapport-logwriter; } >build/run-build.log 2>&1; then
  cat build/run-build.log >&2
  echo "the build failed (above; also in build/run-build.log)" >&2
  exit 1
fi

# RAPPORT_DEMO_DIR: where the demo keeps its sockets, stores and logs
# (default ./var; the test of this script gives it a temporary one).
VAR=${RAPPORT_DEMO_DIR:-var}
RUN=$VAR/run
STATE=$VAR/lib
LOGS=$VAR/log
RAPPORT=(build/bin/rapport --run-dir "$RUN")
# The demo writes the same records each time: it starts from empty stores,
# unless another run.sh still serves them.
if [ -d "$RUN" ] && "${RAPPORT[@]}" --timeout 500 stats >/dev/null 2>&1; then
  echo "workers are already serving on $RUN (another deploy/run.sh?); stop them first" >&2
  exit 1
fi
rm -rf "$RUN" "$STATE"
# The workers refuse a run dir that others may enter (the sockets are
# the way in): 0770, whatever the umask.
mkdir -p "$STATE" "$LOGS"
mkdir -p -m 0770 "$RUN"
# A local start uses no config file unless you name one.
export RAPPORT_CONFIG=${RAPPORT_CONFIG:-/dev/null}

# What runs in the background, by pid: the real processes (started
# directly, not through a function, so $! is the process itself).
pids=()
stop_all() {
  [ ${#pids[@]} -eq 0 ] && return
  echo "== stopping the workers"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

echo "== start (sockets in $RUN, stores in $STATE, logs in $LOGS)"
for w in logwriter interaction segment; do
  build/bin/rapport-$w --run-dir "$RUN" --state-dir "$STATE" >>"$LOGS/$w.log" 2>&1 &
  pids+=($!)
done

for _ in $(seq 50); do
  "${RAPPORT[@]}" status >/dev/null 2>&1 && break
  sleep 0.2
done
"${RAPPORT[@]}" status >/dev/null || { echo "workers did not start; see $LOGS" >&2; exit 1; }

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
# The command line as it can be pasted: words with spaces or shell
# characters in single quotes.
quote() {
  if [[ $1 =~ ^[A-Za-z0-9@%+=:,./_-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}
echo_cmd() {
  local w
  printf '$'
  for w in "${RAPPORT[@]}" "$@"; do printf ' '; quote "$w"; done
  printf '\n'
}
show() { echo_cmd "$@"; "${RAPPORT[@]}" "$@"; }
# Print the command, run it, keep its output in $out (for the next step).
capture() { echo_cmd "$@"; out=$("${RAPPORT[@]}" "$@"); printf '%s\n' "$out"; }

step "catalog: a group, templates, a salesperson, a campaign and 300 contacts"
show group put CALLS --description "Phone calls"
show group put MAIL --description "Mailings"
show template put CALL --group CALLS --description "Phone call" --unit-cost 2.50 \
  --unit-duration 10 --flow outbound --initiated-by us --corr-type none
show template put NEWS --group MAIL --description "Newsletter" --unit-cost 0.40 \
  --unit-duration 1 --flow outbound --initiated-by us --corr-type email
show template language NEWS ENU --description "Newsletter (English)"
show template language NEWS DEU --description "Rundbrief"
show salesperson put JO --name "Jo Miller" --email jo@example.com
show campaign put SPRING --description "Spring campaign"
csv=$VAR/demo-contacts.csv
{
  echo "no,name,type,company_no,salesperson_code,language_code,correspondence_type,email"
  echo "ACME,Acme Ltd,company,,JO,,,office@acme.example"
  for i in $(seq 1 299); do
    lang=ENU; [ $((i % 4)) -eq 0 ] && lang=DEU
    corr=email; email="c$i@acme.example"
    [ $((i % 10)) -eq 0 ] && { corr=hard-copy; email=""; }
    printf 'CT%04d,Contact %d,person,ACME,JO,%s,%s,%s\n' "$i" "$i" "$lang" "$corr" "$email"
  done
} >"$csv"
echo "(wrote $csv: a company and its 299 persons)"
show contact import "$csv"

step "a single interaction: a call with CT0001 (prints the new Entry No.)"
capture interaction create --contact CT0001 --template CALL --evaluation positive \
  --comment "Asked for the spring brochure"
entry=$out
show entry show "$entry"

step "postpone an interaction, then resume it"
capture interaction create --contact CT0002 --template CALL --description "Call back" --postpone
post=$out
show interaction postponed --contact CT0002
show interaction resume "$post" --evaluation neutral --comment "Reached on the second try"

step "a segment of the 299 persons of ACME with a newsletter, one line personalized"
capture --json segment numbering
case "$out" in
  *'"width": 0'* | *'"width":0'*) show segment numbering --prefix SEG --next 1 --width 5 ;;
esac
capture segment create --description "Spring newsletter" --salesperson JO --campaign SPRING
seg=$out
show segment set "$seg" --template NEWS
show segment add "$seg" --company ACME
show segment line "$seg" 10000 --description "Newsletter with a personal note" --evaluation positive
show segment show "$seg"
show segment lines "$seg" --limit 5

step "log the segment with a follow-up; a subscriber prints the event"
# The subscriber replays from the next seq, so it misses nothing that
# happens after this point, whenever it is ready.
capture --json status
next=$(( $(printf '%s\n' "$out" | sed -n 's/.*"last_event_seq": *\([0-9][0-9]*\).*/\1/p' | head -1) + 1 ))
echo_cmd events --follow --from "$next" --type segment.logged
"${RAPPORT[@]}" events --follow --from "$next" --type segment.logged >"$VAR/demo-events.txt" 2>&1 &
sub=$!
pids+=("$sub")
show segment log "$seg" --follow-up
for _ in $(seq 100); do
  [ -s "$VAR/demo-events.txt" ] && break
  sleep 0.1
done
kill -TERM "$sub" 2>/dev/null || true
wait "$sub" 2>/dev/null || true
rest=()
for p in "${pids[@]}"; do [ "$p" = "$sub" ] || rest+=("$p"); done
pids=("${rest[@]}")
echo "the subscriber saw:"
cat "$VAR/demo-events.txt"
capture --json logged-segment list --segment "$seg"
logged=$(printf '%s\n' "$out" | sed -n 's/.*"entry_no": *\([0-9]*\).*/\1/p' | head -1)
show logged-segment show "$logged"
show entries --logged-segment "$logged" --limit 5
show campaign-entry list --campaign SPRING
show segment list
show template stats

if [ $demo_only -eq 1 ]; then
  exit 0
fi
step "rapport is running: try '${RAPPORT[*]} --help' or '... status'. Ctrl-C stops it."
wait "${pids[@]}"
