#!/usr/bin/env bash
# The Debian packages, installed for real: cpack -G DEB from the build dir
# (rapport, librapport1, librapport-dev, python3-rapport), dpkg -i into
# this machine, every file where it belongs, systemd-analyze verify on the
# installed units (no output), the man pages, the installed commands, the
# rapport user and /run/rapport, a librapport example built with
# `pkg-config --cflags --libs rapport` alone and run against the installed
# workers; then dpkg --purge and the removal of the user this test caused,
# so the machine is left as before. python3-rapport: the Python package in
# Debian's path, talking to the installed workers with the installed
# configuration.
#
# CI runs it as root on a throwaway Debian 12 machine. Not as root it skips
# (exit 77, ctest's SKIP_RETURN_CODE: ctest shows it as skipped, and
# deploy/test.sh fails when it skipped as root). It refuses to run where a rapport package or an
# /etc/rapport/rapport.conf already exists: it must not replace either.
# While it runs /etc/rapport/rapport.conf exists; the test is RUN_SERIAL,
# and the other tests name their config anyway (RAPPORT_CONFIG=/dev/null).
set -euo pipefail
build=${RAPPORT_BUILD_DIR:?}
src=${RAPPORT_SOURCE_DIR:?}

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: package_test installs a .deb with dpkg -i and needs root"
  exit 77
fi
for tool in cpack dpkg dpkg-deb dpkg-query systemd-analyze man zcat pkg-config cc; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (deploy/deps.sh installs it)"; exit 1; }
done
packages=(python3-rapport librapport-dev rapport librapport1) # in the order of their removal
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed"; then
    echo "FAIL: a $p package is installed on this machine; this test installs and purges"
    echo "      its own build: run it where there is none (dpkg --purge $p)"
    exit 1
  fi
done
if [ -e /etc/rapport/rapport.conf ]; then
  echo "FAIL: /etc/rapport/rapport.conf exists and is no package's: this test would replace it"
  exit 1
fi

user_before=0 group_before=0 run_before=0
getent passwd rapport >/dev/null && user_before=1
getent group rapport >/dev/null && group_before=1
[ -e /run/rapport ] && run_before=1
tmp=$(mktemp -d)
pids=()
status=0

cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${packages[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed\|config-files"; then
      dpkg --purge "$p" >/dev/null 2>&1 || echo "WARNING: dpkg --purge $p failed"
    fi
  done
  # Debian keeps system users on purge; this test made it, this test removes it.
  if [ "$user_before" = 0 ] && getent passwd rapport >/dev/null; then
    userdel rapport 2>/dev/null || true
  fi
  if [ "$group_before" = 0 ] && getent group rapport >/dev/null; then
    groupdel rapport 2>/dev/null || true
  fi
  [ "$run_before" = 0 ] && rm -rf /run/rapport
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  status=1
}

echo "== cpack -G DEB"
# cpack builds the `preinstall` target (all) of the build dir first.
if ! (cd "$tmp" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1); then
  cat "$tmp/cpack.log"
  find "$tmp/pkg" -name PreinstallOutput.log -exec grep -E -m 20 "error|Error" {} + || true
  echo "FAIL: cpack (does the build dir build?)"
  exit 1
fi
deb=$(ls "$tmp"/pkg/rapport_*.deb)
pydeb=$(ls "$tmp"/pkg/python3-rapport_*_all.deb)
libdeb=$(ls "$tmp"/pkg/librapport1_*.deb)
devdeb=$(ls "$tmp"/pkg/librapport-dev_*.deb)
echo "built $(basename "$deb") $(basename "$libdeb") $(basename "$devdeb") $(basename "$pydeb")"
pydepends=$(dpkg-deb -f "$pydeb" Depends)
for dep in python3-zmq python3-protobuf; do
  grep -q "$dep" <<<"$pydepends" || fail "python3-rapport's Depends lacks $dep"
done
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libzmq5 libprotobuf-c1 liblmdb0 librapport1; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib"
done
grep -q "libzmq5" <<<"$(dpkg-deb -f "$libdeb" Depends)" || fail "librapport1 does not depend on libzmq5"
for dep in librapport1 libprotobuf-c-dev; do
  grep -q "$dep" <<<"$(dpkg-deb -f "$devdeb" Depends)" || fail "librapport-dev does not depend on $dep"
done
if grep -q "^SYSTEMD_FOUND:INTERNAL=1" "$build/CMakeCache.txt"; then
  grep -q libsystemd0 <<<"$depends" || fail "Depends lacks libsystemd0"
fi
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/rapport/rapport.conf ||
  fail "/etc/rapport/rapport.conf is not a conffile"

echo "== dpkg -i"
DEBIAN_FRONTEND=noninteractive dpkg -i "$libdeb" "$deb" "$devdeb" "$pydeb" >"$tmp/dpkg.log" 2>&1 ||
  { cat "$tmp/dpkg.log"; echo "FAIL: dpkg -i"; exit 1; }

echo "== files"
listed=$(dpkg -L rapport)
for f in /usr/bin/rapport /usr/bin/rapport-interaction /usr/bin/rapport-segment \
  /usr/bin/rapport-logwriter /usr/bin/rapport-relay \
  /lib/systemd/system/rapport.target /lib/systemd/system/rapport-interaction.service \
  /lib/systemd/system/rapport-segment.service /lib/systemd/system/rapport-logwriter.service \
  /lib/systemd/system/rapport-relay.service \
  /usr/lib/tmpfiles.d/rapport.conf /usr/lib/sysusers.d/rapport.conf \
  /usr/share/rapport/proto/rapport/v1/common.proto \
  /usr/share/rapport/proto/rapport/v1/interaction.proto \
  /usr/share/rapport/proto/rapport/v1/segment.proto \
  /usr/share/rapport/proto/rapport/v1/logwriter.proto \
  /usr/share/doc/rapport/rapport.conf.example /etc/rapport/rapport.conf \
  /usr/share/man/man1/rapport.1.gz /usr/share/bash-completion/completions/rapport \
  /usr/share/zsh/vendor-completions/_rapport; do
  grep -qx "$f" <<<"$listed" || fail "dpkg -L rapport does not list $f"
  [ -e "$f" ] || fail "$f is not installed"
done
for f in /usr/bin/rapport /usr/bin/rapport-interaction /usr/bin/rapport-segment \
  /usr/bin/rapport-logwriter /usr/bin/rapport-relay; do
  [ -x "$f" ] || fail "$f is not executable"
  ldd "$f" | grep -q "not found" && fail "$f: $(ldd "$f" | grep "not found")"
done
# The installed completion knows the commands (it is generated from the table).
bash -c 'source /usr/share/bash-completion/completions/rapport; COMP_WORDS=(rapport segment l);
  COMP_CWORD=2; _rapport; echo "${COMPREPLY[*]}"' | grep -qx "line lines list log" ||
  fail "the bash completion does not complete 'rapport segment l'"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
listed=$(dpkg -L librapport1)
for f in "/usr/lib/$multiarch/librapport.so.1"; do
  grep -qx "$f" <<<"$listed" || fail "dpkg -L librapport1 does not list $f"
  [ -e "$f" ] || fail "$f is not installed"
done
listed=$(dpkg -L librapport-dev)
for f in /usr/include/rapport/client.h /usr/include/rapport/client_calls.h \
  /usr/include/rapport/v1/common.pb-c.h /usr/include/rapport/v1/logwriter.pb-c.h \
  "/usr/lib/$multiarch/librapport.so" "/usr/lib/$multiarch/pkgconfig/rapport.pc" \
  /usr/share/man/man3/librapport.3.gz; do
  grep -qx "$f" <<<"$listed" || fail "dpkg -L librapport-dev does not list $f"
  [ -e "$f" ] || fail "$f is not installed"
done
objdump -p "/usr/lib/$multiarch/librapport.so.1" | grep -q "SONAME *librapport.so.1" ||
  fail "librapport.so.1 has no soname librapport.so.1"
# The library the loader resolves for the installed command is the installed file.
used=$(ldd /usr/bin/rapport | awk '$1 == "librapport.so.1" { print $3 }')
[ -n "$used" ] && [ "$(realpath "$used")" = "$(realpath "/usr/lib/$multiarch/librapport.so.1")" ] ||
  fail "/usr/bin/rapport does not use the installed librapport.so.1: $(ldd /usr/bin/rapport | grep librapport)"
cmp -s "$src/deploy/systemd/rapport.tmpfiles" /usr/lib/tmpfiles.d/rapport.conf ||
  fail "tmpfiles.d/rapport.conf differs from deploy/systemd/rapport.tmpfiles"
cmp -s "$src/deploy/systemd/rapport.sysusers" /usr/lib/sysusers.d/rapport.conf ||
  fail "sysusers.d/rapport.conf differs from deploy/systemd/rapport.sysusers"
dpkg-query -W -f='${Conffiles}\n' rapport | grep -q "/etc/rapport/rapport.conf" ||
  fail "dpkg does not know /etc/rapport/rapport.conf as a conffile"
grep -qx "run_dir = /run/rapport" /etc/rapport/rapport.conf || fail "rapport.conf: run_dir"
grep -qx "state_dir = /var/lib/rapport" /etc/rapport/rapport.conf || fail "rapport.conf: state_dir"

echo "== systemd-analyze verify (installed units, man page checked too)"
out=$(systemd-analyze verify /lib/systemd/system/rapport-interaction.service \
  /lib/systemd/system/rapport-segment.service /lib/systemd/system/rapport-logwriter.service \
  /lib/systemd/system/rapport-relay.service /lib/systemd/system/rapport.target 2>&1) || fail "systemd-analyze verify exited non-zero"
[ -z "$out" ] || fail "systemd-analyze verify: $out"

echo "== man page"
zcat /usr/share/man/man1/rapport.1.gz | head -20 | grep -q '^\.TH RAPPORT 1' ||
  fail "rapport.1.gz is no man page"
# Not on a terminal, man-db prints plain text (no overstrike).
page=$(MANWIDTH=100 man -l /usr/share/man/man1/rapport.1.gz 2>"$tmp/man.err") ||
  fail "man -l failed: $(cat "$tmp/man.err")"
[ -s "$tmp/man.err" ] && fail "man -l: $(cat "$tmp/man.err")"
for want in "backup DIR" "restore DIR" "EXIT STATUS" "/etc/rapport/rapport.conf"; do
  grep -q -- "$want" <<<"$page" || fail "the man page lacks '$want'"
done
[ "$(man -w rapport 2>/dev/null)" = /usr/share/man/man1/rapport.1.gz ] ||
  fail "man -w rapport does not find the installed page"
page=$(MANWIDTH=100 man 3 librapport 2>"$tmp/man.err") || fail "man 3 librapport failed"
for want in "THREAD SAFETY" "rapport_client_new" "pkg-config"; do
  grep -q -- "$want" <<<"$page" || fail "librapport(3) lacks '$want'"
done

echo "== an example built with pkg-config alone"
# Only what the packages installed: no source tree include or library path.
flags=$(pkg-config --cflags --libs rapport) || fail "pkg-config --cflags --libs rapport"
for ex in csv_interactions segment_subscriber; do
  # shellcheck disable=SC2086
  cc -std=c11 -Wall -Wextra -Werror -o "$tmp/$ex" "$src/examples/c/$ex.c" $flags \
    >"$tmp/cc.log" 2>&1 || fail "cc $ex.c \$(pkg-config --cflags --libs rapport): $(cat "$tmp/cc.log")"
done

echo "== installed commands"
help=$(/usr/bin/rapport --help) || fail "/usr/bin/rapport --help exited non-zero"
for want in "rapport backup DIR" "rapport restore DIR" "rapport stats"; do
  grep -q "$want" <<<"$help" || fail "rapport --help lacks '$want'"
done
version=$(dpkg-query -W -f='${Version}' rapport)
for w in interaction segment logwriter; do
  /usr/bin/rapport-$w --version | grep -q "rapport-$w ${version%-*}" ||
    fail "rapport-$w --version does not say ${version%-*}"
done

echo "== the rapport user, /run/rapport, nothing started"
getent passwd rapport >/dev/null || fail "no rapport user"
getent group rapport >/dev/null || fail "no rapport group"
[ "$(getent passwd rapport | cut -d: -f6)" = /var/lib/rapport ] || fail "rapport's home"
[ "$(stat -c '%a %U %G' /run/rapport 2>/dev/null)" = "770 rapport rapport" ] ||
  fail "/run/rapport is not 0770 rapport:rapport ($(stat -c '%a %U %G' /run/rapport 2>&1))"
ls /etc/systemd/system/*.wants/rapport* >/dev/null 2>&1 && fail "the package enabled a unit"
if pgrep -u rapport >/dev/null 2>&1; then fail "the package started a worker"; fi

echo "== the installed workers with the installed config (sockets in /run/rapport)"
# As the units would run them, but state in the test dir and as root (no systemd here).
mkdir -p "$tmp/state"
for w in logwriter interaction segment; do
  env -u RAPPORT_CONFIG /usr/bin/rapport-$w --config /etc/rapport/rapport.conf \
    --state-dir "$tmp/state" >"$tmp/$w.log" 2>&1 &
  pids+=($!)
done
ok=0
for _ in $(seq 100); do
  # status: exit 0 once all three answer (stats is content with one).
  if env -u RAPPORT_CONFIG /usr/bin/rapport --timeout 500 status >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
[ "$ok" = 1 ] || fail "rapport status (default config) does not reach the installed workers: $(cat "$tmp"/*.log)"
[ -S /run/rapport/logwriter.sock ] || fail "no socket /run/rapport/logwriter.sock"
# The example built against the packages, on the installed workers: a
# line naming an unknown contact comes back refused, with its field.
printf 'NOBODY,CALL,hello\n' >"$tmp/calls.csv"
out=$(env -u RAPPORT_CONFIG "$tmp/csv_interactions" "$tmp/calls.csv" 2>&1) && rc=0 || rc=$?
[ "$rc" = 1 ] && grep -q "^line 1: .* - field create_interaction" <<<"$out" ||
  fail "the installed example against the installed workers: exit $rc: $out"
# Whole output first: grep -q would stop reading early and, with pipefail,
# the writer's EPIPE would fail the pipeline.
prom=$(env -u RAPPORT_CONFIG /usr/bin/rapport --timeout 2000 stats --prometheus) ||
  fail "rapport stats --prometheus exits non-zero"
grep -q '^# TYPE ' <<<"$prom" || fail "rapport stats --prometheus prints no # TYPE line"
# The installed Python package, from Debian's path, with /etc/rapport/rapport.conf.
pyout=$(cd / && env -u RAPPORT_CONFIG -u PYTHONPATH -u PYTHONDONTWRITEBYTECODE /usr/bin/python3 -c '
import rapport
print(rapport.__file__)
with rapport.Client() as c:
    print(c.interaction.stats().worker, c.read_events(from_seq=1).last_seq)
' 2>&1) || fail "the installed Python package: $pyout"
[ "$pyout" = "/usr/lib/python3/dist-packages/rapport/__init__.py
interaction 0" ] || fail "the installed Python package says: $pyout"
dpkg -L python3-rapport | grep -qx /usr/share/doc/python3-rapport/examples/record_csv.py ||
  fail "python3-rapport lacks the examples"
ls /usr/lib/python3/dist-packages/rapport/__pycache__/client.*.pyc >/dev/null 2>&1 ||
  fail "python3-rapport was not byte-compiled"
env -u RAPPORT_CONFIG /usr/bin/rapport backup "$tmp/backup" --state-dir "$tmp/state" >/dev/null ||
  fail "rapport backup with the installed binaries"
[ -s "$tmp/backup/rapport-backup.txt" ] || fail "no backup manifest"
rc=0
env -u RAPPORT_CONFIG /usr/bin/rapport restore "$tmp/backup" --state-dir "$tmp/state" \
  >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "rapport restore into the running workers' state dir: exit $rc, not 1"
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" || fail "a worker did not exit 0 on SIGTERM"; done
pids=()
# Restored files get the owner of their worker dir (the units' StateDirectory=).
mkdir -p "$tmp/restored/logwriter"
chown rapport:rapport "$tmp/restored/logwriter"
env -u RAPPORT_CONFIG /usr/bin/rapport restore "$tmp/backup" --state-dir "$tmp/restored" \
  >/dev/null || fail "rapport restore with the installed binaries"
for f in data.mdb worker.lock; do
  [ "$(stat -c %U:%G "$tmp/restored/logwriter/$f")" = rapport:rapport ] ||
    fail "restored logwriter/$f is not rapport's: $(stat -c %U:%G "$tmp/restored/logwriter/$f")"
done

echo "== dpkg --purge"
dpkg --purge "${packages[@]}" >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "dpkg --purge"; }
[ -e /usr/lib/python3/dist-packages/rapport ] && fail "the Python package is still there"

for f in /usr/bin/rapport /lib/systemd/system/rapport.target /etc/rapport /usr/share/rapport \
  /usr/share/doc/rapport /usr/share/man/man1/rapport.1.gz /usr/lib/tmpfiles.d/rapport.conf \
  /usr/include/rapport "/usr/lib/$multiarch/librapport.so.1" /usr/share/man/man3/librapport.3.gz; do
  [ -e "$f" ] && fail "$f is still there after the purge"
done
[ "$run_before" = 0 ] && [ -e /run/rapport ] && fail "/run/rapport is still there after the purge"
for p in "${packages[@]}"; do
  dpkg-query -W "$p" >/dev/null 2>&1 && fail "dpkg still knows $p"
done

[ "$status" = 0 ] && echo "package test passed"
exit $status
