#!/usr/bin/env bash
# Quick start: install what is missing, build, start the three rapport
# workers with local state under ./var, run a visible demo, and keep the
# workers running until Ctrl-C.
#   deploy/run.sh              demo, then serve until Ctrl-C
#   deploy/run.sh --demo-only  demo, then stop the workers and exit
set -euo pipefail
cd "$(dirname "$0")/.."
demo_only=0
[ "${1:-}" = "--demo-only" ] && demo_only=1

source deploy/deps.sh
rapport_install_deps

echo "== build"
cmake --preset dev >/dev/null
cmake --build build -j"$(nproc)" --target rapport rapport-interaction rapport-segment rapport-logwriter

VAR=$PWD/var
RUN=$VAR/run
STATE=$VAR/lib
LOGS=$VAR/log
# The demo writes the same records each time: it starts from empty stores,
# unless another run.sh still serves them.
if [ -d "$RUN" ] && build/bin/rapport --run-dir "$RUN" --timeout 500 stats >/dev/null 2>&1; then
  echo "workers are already serving on $RUN (another deploy/run.sh?); stop them first" >&2
  exit 1
fi
rm -rf "$RUN" "$STATE"
mkdir -p "$RUN" "$STATE" "$LOGS"
# A local start uses no config file unless you name one.
export RAPPORT_CONFIG=${RAPPORT_CONFIG:-/dev/null}

pids=()
stop_workers() {
  [ ${#pids[@]} -eq 0 ] && return
  echo "== stopping the workers"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap stop_workers EXIT
trap 'exit 130' INT TERM

echo "== start (sockets in $RUN, stores in $STATE, logs in $LOGS)"
for w in logwriter interaction segment; do
  build/bin/rapport-$w --run-dir "$RUN" --state-dir "$STATE" >>"$LOGS/$w.log" 2>&1 &
  pids+=($!)
done

rapport() { build/bin/rapport --run-dir "$RUN" --user demo "$@"; }
for _ in $(seq 50); do
  rapport stats >/dev/null 2>&1 && break
  sleep 0.2
done
rapport stats >/dev/null || { echo "workers did not start; see $LOGS" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ rapport %s\n' "$*"; rapport "$@"; }

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
show contact import "$csv"

step "a single interaction: a call with CT0001"
entry=$(rapport interaction create --contact CT0001 --template CALL --evaluation positive \
  --comment "Asked for the spring brochure")
echo "Entry No. $entry"
show entry show "$entry"

step "postpone an interaction, then resume it"
post=$(rapport interaction create --contact CT0002 --template CALL --description "Call back" --postpone)
echo "postponed as Entry No. $post"
show interaction postponed --contact CT0002
show interaction resume "$post" --evaluation neutral --comment "Reached on the second try"

step "a segment of the 299 persons of ACME with a newsletter, one line personalized"
numbering=$(rapport --json segment numbering)
case "$numbering" in
  *'"width": 0'* | *'"width":0'*) show segment numbering --prefix SEG --next 1 --width 5 ;;
esac
seg=$(rapport segment create --description "Spring newsletter" --salesperson JO --campaign SPRING)
echo "segment $seg"
show segment set "$seg" --template NEWS
show segment add "$seg" --company ACME
show segment line "$seg" 10000 --description "Newsletter with a personal note" --evaluation positive
show segment show "$seg"
show segment lines "$seg" --limit 5

step "log the segment with a follow-up; a subscriber prints the event"
rapport events --follow --type segment.logged >"$VAR/demo-events.txt" 2>&1 &
sub=$!
sleep 0.5
show segment log "$seg" --follow-up
sleep 0.5
kill -TERM "$sub" 2>/dev/null || true
wait "$sub" 2>/dev/null || true
echo "the subscriber saw:"
cat "$VAR/demo-events.txt"
logged=$(rapport --json logged-segment list --segment "$seg" | sed -n 's/.*"entry_no": *\([0-9]*\).*/\1/p' | head -1)
show logged-segment show "$logged"
show entries --logged-segment "$logged" --limit 5
show campaign-entry list --campaign SPRING
show segment list
show template stats

if [ $demo_only -eq 1 ]; then
  exit 0
fi
step "rapport is running: try 'build/bin/rapport --run-dir $RUN --help'. Ctrl-C stops it."
wait "${pids[@]}"
