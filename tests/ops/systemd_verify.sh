#!/usr/bin/env bash
# systemd-analyze verify on every unit of deploy/systemd, and their
# exposure score from systemd-analyze security (at most 2.5). The units name
# /usr/bin/rapport-*; here they point at the build's binaries instead.
set -euo pipefail
src=${RAPPORT_SOURCE_DIR:?}
bin=${RAPPORT_BIN_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$src"/deploy/systemd/*.service "$src"/deploy/systemd/*.target "$tmp"/
sed -i "s#/usr/bin/rapport-#$bin/rapport-#" "$tmp"/*.service
cd "$tmp"
status=0
for unit in *.service *.target; do
  out=$(systemd-analyze verify --man=no "./$unit" 2>&1) || status=1
  if [ -n "$out" ]; then
    echo "$unit: $out"
    status=1
  else
    echo "verify ok: $unit"
  fi
done
for unit in *.service; do
  line=$(systemd-analyze security --offline=true "./$unit" 2>/dev/null | tail -1)
  score=$(echo "$line" | sed -n 's/.*exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  echo "$unit: exposure $score"
  if [ -z "$score" ] || awk "BEGIN{exit !($score > 2.5)}"; then
    echo "$unit: exposure above 2.5 ($line)"
    status=1
  fi
done
exit $status
