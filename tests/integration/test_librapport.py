"""librapport (lib/, librapport(3)) through the real workers, with rapport-libtest
(librapport_tool.c), a program on the library's public header alone:

- a typed call for every command of the three workers (the library's symbols
  against the .proto files), time-ordered unique request ids;
- the one error type: code, message and field of a refusal;
- asynchronous calls in flight at once, driven by poll() on the client's fd;
- a worker killed and restarted mid-call: the call completes exactly once,
  through its resends with the same request_id; UNAVAILABLE (the writer down)
  retried under the same id until the writer is back;
- a deadline exceeded (a stopped worker);
- a subscriber behind its high-water mark recovers every event, in order;
- a subscriber killed and restarted from its saved seq sees every event once;
- PERMISSION_DENIED over tcp + CURVE, and a refused key (UNAUTHENTICATED)."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import BIN_DIR, TIME_SCALE, Cluster, ClusterTest, c, ia

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(BIN_DIR, "rapport-libtest")
SRC = os.environ.get("RAPPORT_SOURCE_DIR", ".")
# Under tests/valgrind.sh the tool runs under memcheck too.
WRAPPER = os.environ.get("RAPPORT_WORKER_WRAPPER", "").split()


def tool_env(cl, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update({"RAPPORT_CONFIG": "/dev/null", "RAPPORT_RUN_DIR": cl.run_dir})
    env.update(extra)
    return env


def tool(cl, *args, env=None, timeout=60, check=True):
    p = subprocess.run(WRAPPER + [TOOL] + [str(a) for a in args], capture_output=True,
                       env=env or tool_env(cl), timeout=timeout * TIME_SCALE)
    out = p.stdout.decode()
    if check and p.returncode != 0:
        raise AssertionError("rapport-libtest %s: exit %d\n%s%s" % (
            " ".join(map(str, args)), p.returncode, out, p.stderr.decode()))
    return p.returncode, out


def tool_while(cl, args, during, env=None):
    """Start rapport-libtest, call during(process) while it runs (what it
    returns goes to the tool's stdin), then wait: (exit code, stdout)."""
    p = subprocess.Popen(WRAPPER + [TOOL] + [str(a) for a in args], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, env=env or tool_env(cl))
    try:
        data = during(p)
        out, _ = p.communicate(data, timeout=60 * TIME_SCALE)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, out.decode()


def seed(cl, contacts=("P1",)):
    ok = lambda **kw: cl.ok("interaction", ia.InteractionRequest(**kw))  # noqa: E731
    ok(put_group=ia.InteractionGroup(code="G1", description="Calls"))
    ok(put_template=ia.InteractionTemplate(code="CALL", description="Call",
                                           interaction_group_code="G1"))
    ok(put_salesperson=ia.Salesperson(code="SP1", name="Ann"))
    for no in contacts:
        ok(put_contact=ia.Contact(no=no, name="Name " + no, type=c.CONTACT_TYPE_PERSON,
                                  salesperson_code="SP1"))


class TestCalls(ClusterTest):
    def test_a_typed_call_for_every_command(self):
        so = os.path.join(os.path.dirname(BIN_DIR), "lib", "librapport.so.1")
        syms = set(s.split("@")[0] for s in subprocess.run(
            ["nm", "-D", "--defined-only", so], capture_output=True,
            check=True).stdout.decode().split())
        want = []
        for svc, f, msg in (("interaction", "interaction", "InteractionRequest"),
                            ("segment", "segment", "SegmentRequest"),
                            ("logwriter", "logwriter", "LogRequest")):
            with open(os.path.join(SRC, "proto/rapport/v1/%s.proto" % f)) as fp:
                text = fp.read()
            body = re.search(r"message %s \{.*?oneof command \{(.*?)\}" % msg, text, re.S).group(1)
            for member in re.findall(r"^\s*\w+ (\w+) = \d+;", body, re.M):
                want += ["rapport_%s_%s" % (svc, member), "rapport_%s_%s_async" % (svc, member)]
        self.assertGreater(len(want), 100)
        self.assertEqual([w for w in want if w not in syms], [])
        # Nothing of common/ leaks out of the library.
        self.assertEqual([s for s in syms if re.match(r"(bus|wire|client|config|auth)_", s)], [])

    def test_request_ids_are_time_ordered_and_unique(self):
        self.assertEqual(tool(self.cl, "ids", 20000)[1], "ok 20000\n")

    def test_error_type_and_typed_call(self):
        seed(self.cl)
        self.assertEqual(tool(self.cl, "get-group", "G1")[1], "ok Calls\n")
        rc, out = tool(self.cl, "get-group", "NOPE", check=False)
        self.assertEqual(rc, 1)
        rep = self.cl.call("interaction", ia.InteractionRequest(get_group=ia.CodeRef(code="NOPE")))
        self.assertEqual(out, "error %d server %s %s\n" % (
            c.NOT_FOUND, rep.status.field or "-", rep.status.message))
        rc, out = tool(self.cl, "create", "-", "P1", "NOPE", 10000, 2500, check=False)
        rep = self.cl.call("interaction", ia.InteractionRequest(create_interaction=ia.CreateInteraction(
            fields=ia.InteractionFields(contact_no="P1", interaction_template_code="NOPE"))))
        self.assertEqual(out, "error %d server %s %s\n" % (
            rep.status.code, rep.status.field or "-", rep.status.message))
        self.assertEqual(rc, 1)

    def test_async_calls_in_flight_at_once(self):
        seed(self.cl)
        out = tool(self.cl, "async", 200, "P1", "CALL")[1].split()
        self.assertEqual(out[:2], ["ok", "200"])
        nos = sorted(int(x) for x in out[2:])
        self.assertEqual(nos, sorted(e.entry_no for e in self.cl.all_entries()))
        self.assertEqual(len(set(nos)), 200)

    def test_worker_restart_mid_call_completes_exactly_once(self):
        seed(self.cl)
        rid = "restart-mid-call-1"
        ix = self.cl["interaction"]

        def restart(p):
            # The request is sent to a worker that does not answer; then the
            # worker dies and comes back: only a resend can reach it.
            time.sleep(1.0)
            ix.signal(signal.SIGCONT)
            ix.kill()
            ix.start()

        ix.signal(signal.SIGSTOP)
        rc, out = tool_while(self.cl, ["create", rid, "P1", "CALL", int(30000 * TIME_SCALE), 300],
                             restart)
        self.assertEqual(rc, 0, out)
        entry_no = int(out.split()[1])
        entries = self.cl.all_entries()
        self.assertEqual([e.entry_no for e in entries], [entry_no])
        # The same request_id again: the first execution's answer, nothing new.
        self.assertEqual(tool(self.cl, "create", rid, "P1", "CALL", 10000, 2500)[1],
                         "ok %d\n" % entry_no)
        self.assertEqual(len(self.cl.all_entries()), 1)

    def test_deadline_exceeded(self):
        seed(self.cl)
        self.cl["interaction"].signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            rc, out = tool(self.cl, "create", "-", "P1", "CALL", 500, 100, check=False)
            took = time.monotonic() - t0
        finally:
            self.cl["interaction"].signal(signal.SIGCONT)
        self.assertEqual(rc, 1)
        self.assertTrue(out.startswith("error %d transport - no answer from rapport-interaction at "
                                       % c.DEADLINE_EXCEEDED), out)
        self.assertIn("within 500 ms", out)
        self.assertGreaterEqual(took, 0.5)


class TestRetryableRefusal(unittest.TestCase):
    """The interaction worker answers UNAVAILABLE while the writer is down (after
    its own 1 s timeout): the call sends the same request again until the writer
    is back, and the interaction is recorded once."""

    def setUp(self):
        self.cl = Cluster(env={"RAPPORT_REQUEST_TIMEOUT_MS": "1000"})
        seed(self.cl)

    def tearDown(self):
        self.cl.close()

    def test_unavailable_is_retried_until_the_writer_is_back(self):
        def writer_back(p):
            time.sleep(2.5)  # at least one UNAVAILABLE answer meanwhile
            self.assertIsNone(p.poll())
            self.cl["logwriter"].start()

        self.cl["logwriter"].stop()
        rc, out = tool_while(self.cl, ["create", "while-the-writer-is-down", "P1", "CALL",
                                       int(30000 * TIME_SCALE), 500], writer_back)
        self.assertEqual(rc, 0, out)
        self.assertEqual([e.entry_no for e in self.cl.all_entries()], [int(out.split()[1])])


class TestSubscriber(unittest.TestCase):
    def setUp(self):
        # A PUB and a SUB that hold few messages: a subscriber that does
        # not read falls behind its high-water mark at once.
        self.cl = Cluster(env={"RAPPORT_SNDHWM": "20"})
        seed(self.cl, contacts=["P%d" % i for i in range(5)])
        self.dir = tempfile.mkdtemp(prefix="rapport-libsub-")

    def tearDown(self):
        self.cl.close()
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)

    def create(self, n):
        for i in range(n):
            self.cl.ok("interaction", ia.InteractionRequest(create_interaction=ia.CreateInteraction(
                fields=ia.InteractionFields(contact_no="P%d" % (i % 5),
                                            interaction_template_code="CALL"))))

    def delivered(self, path):
        with open(path) as f:
            return [(int(s), t) for s, t in (line.split() for line in f)]

    def expected(self):
        return [(e.seq, e.type) for e in self.cl.read_events()]

    def test_behind_the_hwm_recovers_every_event(self):
        self.create(3)
        path = os.path.join(self.dir, "hwm.out")
        last = []

        def publish(p):
            line = p.stdout.readline().decode()
            self.assertTrue(line.startswith("ready "), line)
            # Published while the subscriber reads nothing: its socket
            # keeps a few, the rest is dropped.
            self.create(300)
            last.append(self.expected()[-1][0])
            self.assertGreater(last[0], 300)
            return b"go %d\n" % last[0]

        rc, out = tool_while(self.cl, ["subscribe", path, "--pause"], publish,
                             env=tool_env(self.cl, RAPPORT_RCVHWM="5"))
        self.assertEqual((rc, out), (0, "ok %d\n" % last[0]))
        self.assertEqual(self.delivered(path), self.expected())

    def test_killed_and_restarted_from_saved_seq_sees_each_event_once(self):
        path = os.path.join(self.dir, "restart.out")
        done = []

        def producer():
            self.create(150)
            done.append(True)

        t = threading.Thread(target=producer)
        t.start()
        try:
            for _ in range(3):
                # Each run is killed mid-stream, then resumes from its file.
                p = subprocess.Popen(WRAPPER + [TOOL, "subscribe", path, "1000000"],
                                     stdout=subprocess.DEVNULL, env=tool_env(self.cl))
                time.sleep(0.4 * TIME_SCALE)
                p.kill()
                p.wait()
        finally:
            t.join()
        self.assertTrue(done)
        last = self.expected()[-1][0]
        self.assertEqual(tool(self.cl, "subscribe", path, last)[1], "ok %d\n" % last)
        self.assertEqual(self.delivered(path), self.expected())


class TestCurve(unittest.TestCase):
    """tcp + CURVE: the client's key comes from the config, as for `rapport`."""

    def setUp(self):
        from test_security import SecureCluster
        self.cl = SecureCluster()
        seed(self.cl)

    def tearDown(self):
        self.cl.close()

    def env(self, key):
        conf = os.path.join(self.cl.dir, "client-%s.conf" % key)
        with open(conf, "w") as f:
            f.write(self.cl.config_text(curve_client_secret_key_file=os.path.join(
                self.cl.secrets, key + ".key")))
        return tool_env(self.cl, RAPPORT_CONFIG=conf)

    def test_permission_denied(self):
        rc, out = tool(self.cl, "create", "-", "P1", "CALL", 10000, 2500, env=self.env("reader"),
                       check=False)
        self.assertEqual((rc, out), (1, "error %d server command create_interaction needs the "
                                        "writer role\n" % c.PERMISSION_DENIED))
        self.assertEqual(self.cl.all_entries(), [])
        self.assertTrue(tool(self.cl, "create", "-", "P1", "CALL", 10000, 2500,
                             env=self.env("writer"))[1].startswith("ok "))

    def test_refused_key(self):
        rc, out = tool(self.cl, "get-group", "G1", env=dict(self.env("outsider"),
                                                             RAPPORT_REQUEST_TIMEOUT_MS="1500"),
                       check=False)
        self.assertEqual(rc, 1)
        self.assertTrue(out.startswith("error %d transport - rapport-interaction at tcp://"
                                       % c.UNAUTHENTICATED), out)


if __name__ == "__main__":
    unittest.main()
