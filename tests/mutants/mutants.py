#!/usr/bin/python3
"""Mutation check: prove that the tests can fail.

    tests/mutants/mutants.py [--only N[,N...]] [--work DIR] [--keep] [--no-baseline]

Copies the source tree (every file git knows, committed or not) to a work
directory, builds the workers there, and then, one mutant at a time: applies
a small deliberate bug (exact text replacements; a replacement that does not
find its text exactly once stops the script: the mutant no longer fits the
code and must be updated), rebuilds, runs the tests that should catch it,
and puts the file back. A mutant is caught when at least one of its tests
fails; it survives when they all pass. Before the mutants, the same tests run
once on the unmutated copy (the baseline): a test that fails there proves
nothing, and the script stops.

The report is a table: mutant, caught or SURVIVED, the tests that caught it.
Exit status 0 when every mutant is caught, 1 when one survived, 2 on an
error (a mutant that does not apply or build, a failing baseline).

Runs on demand (minutes: a build of the workers, then a rebuild and a few
integration tests per mutant), not in deploy/test.sh. Needs what the
integration tests need (deploy/deps.sh)."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
TARGETS = ["rapport-logwriter", "rapport-interaction", "rapport-segment", "rapport",
           "rapport_python"]
TEST_TIMEOUT = 900


class Mutant:
    def __init__(self, name, what, edits, tests):
        self.name, self.what, self.edits, self.tests = name, what, edits, tests


def it(test):
    """An integration test: file and unittest name (Class or Class.method)."""
    return "tests/integration/" + test


MUTANTS = [
    Mutant("drop-in-flight-at-sigterm",
           "the writer (any worker) stops at SIGTERM without finishing what it holds, "
           "and exits 0",
           [("common/server.c",
             "if (stopping && s->n_inflight == 0 && !(s->spec.busy_fn && "
             "s->spec.busy_fn(s->spec.ctx)))",
             "if (stopping)")],
           [it("test_lifecycle.py WriterGracefulStopTest"),
            it("test_lifecycle.py GracefulStopTest")]),
    Mutant("unavailable-after-restart",
           "the segment worker does not resume a log after a restart: a retry is answered "
           "UNAVAILABLE forever",
           [("services/segment/fanout_run.c",
             "if (s_run_find(s, no) || seg_load(s, txn, a, no, &seg) != RP_OK)",
             "if (1 || s_run_find(s, no) || seg_load(s, txn, a, no, &seg) != RP_OK)")],
           [it("test_segment_crash.py SegmentMidStreamTest")]),
    Mutant("publish-before-commit",
           "the writer publishes a batch's events inside its transaction, before the commit",
           [("services/logwriter/logwriter_server.c",
             "        rc = server_dedup_record(req, txn);\n"
             "        if (rc != RP_OK)\n"
             "            return rc;\n"
             "    }\n"
             "    return RP_OK;\n",
             "        rc = server_dedup_record(req, txn);\n"
             "        if (rc != RP_OK)\n"
             "            return rc;\n"
             "    }\n"
             "    events_publish_staged(b->w, t->events);\n"
             "    return RP_OK;\n"),
            ("services/logwriter/logwriter_server.c",
             "        s_apply_ranges(w, &b.t);\n        events_publish_staged(w, b.t.events);\n",
             "        s_apply_ranges(w, &b.t);\n")],
           [it("test_faults.py FullDiskTest")]),
    Mutant("retry-applies-twice",
           "a retry with the same request_id is not answered from its idempotency record: "
           "it applies again",
           [("common/server.c",
             "if (*txn && server_dedup_get(s, *txn, req->user_id, rid, &v)) {",
             "if (*txn && 0 && server_dedup_get(s, *txn, req->user_id, rid, &v)) {")],
           [it("test_logwriter.py LogWriterTest.test_same_request_id_applies_once_with_identical_reply"),
            it("test_segment.py LogSegmentTest.test_same_request_id_returns_identical_reply")]),
    Mutant("segment-log-drops-an-entry",
           "the writer leaves the first entry of every segment log out of the store",
           [("services/logwriter/intake.c",
             "        rc = writer_fwd_store(t, e, &ids);",
             "        rc = ids.entry_no == sl->h.first ? RP_OK : writer_fwd_store(t, e, &ids);")],
           [it("test_segment.py LogSegmentTest.test_log_with_follow_up"),
            it("test_segment_crash.py NoFaultTest")]),
    Mutant("cancel-keeps-statistics",
           "canceling entries leaves the statistics unchanged",
           [("services/logwriter/entries.c",
             "        copy->canceled = sc->canceled;\n"
             "        rc = writer_entry_store(t, copy, e, true);",
             "        copy->canceled = sc->canceled;\n"
             "        rc = writer_entry_store(t, copy, e, false);")],
           [it("test_logwriter.py LogWriterTest.test_statistics_skip_canceled_and_postponed")]),
    Mutant("refusal-changes-the-store",
           "a cancel refused for a postponed entry goes on and cancels the others",
           [("services/logwriter/entries.c",
             "                            (unsigned long long)es[i]->entry_no);\n"
             "            return RP_OK;\n"
             "        }\n"
             "        if (!sc->canceled && es[i]->canceled) {",
             "                            (unsigned long long)es[i]->entry_no);\n"
             "        }\n"
             "        if (!sc->canceled && es[i]->canceled) {")],
           [it("test_logwriter.py LogWriterTest.test_statistics_skip_canceled_and_postponed")]),
    Mutant("zap-admits-unknown-key",
           "the CURVE ZAP handler admits a key that is not among the authorized keys",
           [("common/gate.c",
             '    ans->code = "400", ans->text = "unknown key";',
             '    ans->code = "200", ans->text = "OK";')],
           [it("test_security.py SecurityTest.test_unknown_key_refused_at_handshake"),
            it("test_security.py SecurityTest.test_events_need_an_authorized_key")]),
]


def run(cmd, log, **kw):
    with open(log, "ab") as f:
        f.write(("$ %s\n" % " ".join(cmd)).encode())
        f.flush()
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, **kw).returncode


def copy_tree(dst):
    files = subprocess.run(["git", "-C", SRC, "ls-files", "-co", "--exclude-standard", "-z"],
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = os.path.join(SRC, rel)
        if not os.path.isfile(src):
            continue  # deleted but not yet committed
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))


def build(work, log):
    return run(["cmake", "--build", os.path.join(work, "build"), "-j2", "--target"] + TARGETS,
               log) == 0


def run_test(work, test, log):
    """True when the test passes."""
    path, *names = test.split()
    env = dict(os.environ, RAPPORT_BIN_DIR=os.path.join(work, "build", "bin"),
               RAPPORT_PY_PROTO=os.path.join(work, "build", "py"),
               RAPPORT_SOURCE_DIR=os.path.join(work, "src"), PYTHONDONTWRITEBYTECODE="1")
    try:
        rc = run([PYTHON, "-u", os.path.join(work, "src", path), "-v"] + names, log, env=env,
                 cwd=os.path.join(work, "build"), timeout=TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        rc = "timeout"
    if rc == 77:
        raise SystemExit("%s skipped (exit 77): it cannot judge a mutant here" % test)
    return rc == 0


def apply(work, m):
    """Apply m's edits; returns the original contents to put back."""
    saved = {}
    for rel, old, new in m.edits:
        path = os.path.join(work, "src", rel)
        text = saved.get(rel)
        if text is None:
            with open(path) as f:
                text = saved[rel] = f.read()
        with open(path) as f:
            cur = f.read()
        if cur.count(old) != 1:
            for r, t in saved.items():
                restore(work, r, t)
            raise SystemExit("mutant %s: %r found %d times in %s (the code changed: update the "
                             "mutant)" % (m.name, old[:60], cur.count(old), rel))
        with open(path, "w") as f:
            f.write(cur.replace(old, new))
    return saved


def restore(work, rel, text):
    path = os.path.join(work, "src", rel)
    with open(path, "w") as f:
        f.write(text)  # newer than the mutant's objects: the next build recompiles it


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="mutant numbers (1-based), comma-separated")
    ap.add_argument("--work", help="work directory (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--no-baseline", action="store_true",
                    help="do not run the tests on the unmutated copy first")
    args = ap.parse_args()
    chosen = [(i + 1, m) for i, m in enumerate(MUTANTS)]
    if args.only:
        want = {int(x) for x in args.only.split(",")}
        chosen = [(i, m) for i, m in chosen if i in want]
    work = args.work or tempfile.mkdtemp(prefix="rapport-mutants-")
    log = os.path.join(work, "mutants.log")
    print("work dir %s (log: mutants.log)" % work, flush=True)
    try:
        copy_tree(os.path.join(work, "src"))
        if run(["cmake", "-S", os.path.join(work, "src"), "-B", os.path.join(work, "build"),
                "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DRAPPORT_WERROR=OFF"], log) != 0 or \
                not build(work, log):
            raise SystemExit("the unmutated copy does not build: see %s" % log)
        if not args.no_baseline:
            for test in sorted({t for _, m in chosen for t in m.tests}):
                if not run_test(work, test, log):
                    raise SystemExit("baseline: %s fails without any mutant (see %s)"
                                     % (test, log))
            print("baseline: every test passes unmutated", flush=True)
        rows = []
        for i, m in chosen:
            t0 = time.monotonic()
            saved = apply(work, m)
            try:
                if not build(work, log):
                    raise SystemExit("mutant %d (%s) does not build: see %s" % (i, m.name, log))
                caught = [t for t in m.tests if not run_test(work, t, log)]
            finally:
                for rel, text in saved.items():
                    restore(work, rel, text)
            rows.append((i, m, caught))
            print("mutant %d %-28s %s in %.0f s%s" % (
                i, m.name, "caught" if caught else "SURVIVED", time.monotonic() - t0,
                "".join("\n    by " + t for t in caught)), flush=True)
        build(work, log)  # the copy unmutated again
    except SystemExit as e:
        print("error: %s" % e, flush=True)
        print("kept %s" % work)
        return 2
    print("\n| # | mutant | result | caught by |\n|---|---|---|---|")
    for i, m, caught in rows:
        print("| %d | %s | %s | %s |" % (i, m.what, "caught" if caught else "**survived**",
                                         "; ".join("`%s`" % t.replace("tests/integration/", "")
                                                   for t in caught) or "-"))
    survived = [m.name for _, m, caught in rows if not caught]
    if args.keep or survived:
        print("kept %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
