"""Test harness: start the real rapport workers in a temporary directory and
talk to them over their real sockets with python3-zmq and the Python code
protoc generated from proto/ (found through RAPPORT_PY_PROTO).

A Cluster owns one temp dir: <dir>/run for the ipc sockets and <dir>/state
for the LMDB envs. Workers run with RAPPORT_CONFIG=/dev/null, so nothing
from /etc leaks in, and with the work date pinned."""
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.environ.get("RAPPORT_PY_PROTO", "build/py"))
import zmq  # noqa: E402
from rapport.v1 import common_pb2 as c  # noqa: E402,F401
from rapport.v1 import interaction_pb2 as ia  # noqa: E402,F401
from rapport.v1 import logwriter_pb2 as lw  # noqa: E402,F401
from rapport.v1 import segment_pb2 as sg  # noqa: E402,F401

# Every bound in a test scales with the build: scaled(), wait_for().
from waits import ASAN, BIN_DIR, TIME_SCALE, scaled, wait_for, wait_subscribed  # noqa: E402,F401
TODAY = "2026-06-15"
TODAY_INT = 20260615

REQUEST = {"interaction": ia.InteractionRequest, "segment": sg.SegmentRequest,
           "logwriter": lw.LogRequest}
REPLY = {"interaction": ia.InteractionReply, "segment": sg.SegmentReply,
         "logwriter": lw.LogReply}
STATS = {"interaction": "stats", "segment": "stats", "logwriter": "stats"}


class Unavailable(Exception):
    pass


# Worker.sent once the test has waited for the worker's exit and checked it.
EXIT_CHECKED = "its exit checked by the test"


class Worker:
    def __init__(self, cluster, name, extra_args=(), env=None):
        self.cluster, self.name = cluster, name
        self.extra_args, self.env = list(extra_args), dict(env or {})
        # A command to run the worker under (prlimit ... --); by default
        # RAPPORT_WORKER_WRAPPER (tests/valgrind.sh runs every worker under
        # valgrind this way).
        self.prefix = shlex.split(os.environ.get("RAPPORT_WORKER_WRAPPER", ""))
        self.proc = None
        self.sent = None  # the last signal the test sent this run of the worker
        self.log_path = os.path.join(cluster.dir, name + ".log")

    def start(self, wait=True):
        env = dict(os.environ)
        env.update({"RAPPORT_CONFIG": "/dev/null", "RAPPORT_TODAY": self.cluster.today,
                    "TZ": "UTC"})
        env.update(self.cluster.env)
        env.update(self.env)
        args = self.prefix + [os.path.join(BIN_DIR, "rapport-" + self.name), "--run-dir",
                self.cluster.run_dir, "--state-dir", self.cluster.state_dir] + self.extra_args
        if getattr(self, "log", None) and not self.log.closed:
            self.log.close()
        self.log = open(self.log_path, "ab")
        self.sent = None
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=env)
        if wait:
            self.cluster.wait_ready(self.name)
        return self

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.sent = sig
            self.proc.send_signal(sig)

    def kill(self):
        """SIGKILL and reap."""
        if self.proc and self.proc.poll() is None:
            self.sent = signal.SIGKILL
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()

    def stop(self, timeout=30):
        """SIGTERM; returns the exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.sent = signal.SIGTERM
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        finally:
            if not self.log.closed:
                self.log.close()

    def wait_exit(self, timeout):
        """Wait until the worker ends by itself (a start that must fail) and
        return its exit status, which the test checks: teardown does not."""
        rc = self.proc.wait(scaled(timeout))
        self.sent = EXIT_CHECKED
        return rc

    def exit_problem(self):
        """Stops the worker if it runs; then what is wrong with how it ended,
        or "". A worker ends with 0 when it is told to stop (SIGTERM,
        SIGINT); one the test killed otherwise may end as it does, and so
        may one that killed itself at the fault point the test armed
        (RAPPORT_FAULT) or whose exit the test checked (wait_exit); one that
        ended by itself, by a signal or with another code, is a failure."""
        if not self.proc:
            return ""
        told = self.sent
        if self.proc.poll() is None:
            told = signal.SIGTERM
        rc = self.stop()
        if told is None and rc == -signal.SIGKILL and self.armed() and \
                "fault injection: killed at" in self.logtext():
            return ""
        if told in (signal.SIGTERM, signal.SIGINT):
            if rc == 0:
                return ""
        elif told is not None:
            return ""
        how = ("died of %s" % signal.Signals(-rc).name if rc < 0 else "exited %d" % rc)
        if rc == 99 and self.prefix[:1] == ["valgrind"]:
            how += " (valgrind found errors)"
        return "%s %s %s" % (self.name, how, "at stop" if told else "by itself")

    def armed(self):
        """Whether this run of the worker has a fault point (RAPPORT_FAULT)."""
        return bool(self.env.get("RAPPORT_FAULT") or self.cluster.env.get("RAPPORT_FAULT"))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def logtext(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "UndefinedBehaviorSanitizer", "AddressSanitizer:DEADLYSIGNAL",
                       "Invalid read of size", "Invalid write of size", "Invalid free",
                       "uninitialised value", "Mismatched free", "definitely lost in",
                       "indirectly lost in", "points to uninitialised byte")

    def sanitizer_report(self):
        """The sanitizer report in the worker's log (from the first mark on,
        at most 60 lines), or ""."""
        if not os.path.exists(self.log_path):
            return ""
        text = self.logtext()
        at = min([i for i in (text.find(m) for m in self.SANITIZER_MARKS) if i >= 0],
                 default=-1)
        if at < 0:
            return ""
        start = text.rfind("\n", 0, at) + 1
        return "\n".join(text[start:].splitlines()[:60])


class Cluster:
    def __init__(self, workers=("logwriter", "interaction", "segment"), today=TODAY, env=None,
                 start=True):
        self.dir = tempfile.mkdtemp(prefix="rapport-it-")
        self.run_dir = os.path.join(self.dir, "run")
        self.state_dir = os.path.join(self.dir, "state")
        self.today, self.env = today, dict(env or {})
        self.ctx = zmq.Context()
        self.socks = {}
        self.subs = []
        self.workers = {}
        for w in workers:
            self.workers[w] = Worker(self, w)
        if start:
            for w in workers:
                self.workers[w].start()

    def __getitem__(self, name):
        return self.workers[name]

    def endpoint(self, name):
        return "ipc://%s/%s.sock" % (self.run_dir, name)

    def sock(self, name):
        if name not in self.socks:
            s = self.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.endpoint(name))
            self.socks[name] = s
        return self.socks[name]

    def reset_sock(self, name):
        s = self.socks.pop(name, None)
        if s:
            s.close(0)

    def send_raw(self, name, frames):
        self.sock(name).send_multipart(frames)

    def recv_raw(self, name, timeout=10.0):
        s = self.sock(name)
        if not s.poll(int(timeout * TIME_SCALE * 1000)):
            raise Unavailable("%s: no reply within %.1f s" % (name, timeout))
        return s.recv_multipart()

    def call(self, name, req=None, timeout=10.0, retry=None, **fields):
        """Send a request (request_id filled in when empty) and wait for the
        reply with the same request_id, resending the same bytes every
        `retry` seconds as a real client would."""
        if req is None:
            req = REQUEST[name](**fields)
        if not req.request_id:
            req.request_id = uuid.uuid4().hex.encode()
        if not req.user_id:
            req.user_id = "tester"
        data = req.SerializeToString()
        s = self.sock(name)
        deadline = time.monotonic() + timeout * TIME_SCALE
        next_send = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise Unavailable("%s: no reply within %.1f s" % (name, timeout))
            if now >= next_send:
                s.send(data)
                next_send = now + retry if retry else deadline
            if s.poll(int(max(1, (min(next_send, deadline) - now) * 1000))):
                rep = REPLY[name]()
                rep.ParseFromString(s.recv_multipart()[-1])
                if rep.request_id == req.request_id:
                    return rep

    def ok(self, name, req=None, timeout=10.0, **fields):
        rep = self.call(name, req, timeout=timeout, **fields)
        if rep.status.code != c.OK:
            raise AssertionError("%s refused: %s %s (%s)" % (
                name, c.StatusCode.Name(rep.status.code), rep.status.message, rep.status.field))
        return rep

    def list_all(self, name, command, result, after=0, timeout=10.0, **fields):
        """Every item of a paged list command, page after page: e.g.
        list_all("segment", "list_segments", "segments", after="")."""
        out = []
        while True:
            req = REQUEST[name]()
            cmd = getattr(req, command)
            cmd.SetInParent()
            cmd.after, cmd.limit = after, 1000
            for k, v in fields.items():
                setattr(cmd, k, v)
            page = getattr(self.ok(name, req, timeout=timeout), result)
            out.extend(getattr(page, result))
            if not page.next_after:
                return out
            after = page.next_after

    def all_entries(self, timeout=10.0):
        """Every entry the writer shows, in entry no. order."""
        return self.list_all("logwriter", "list_entries", "entries", timeout=timeout)

    def wait_ready(self, name, timeout=20.0):
        deadline = time.monotonic() + timeout * TIME_SCALE
        w = self.workers[name]
        while time.monotonic() < deadline:
            if not w.alive():
                raise AssertionError("%s exited (%s):\n%s" % (name, w.proc.returncode, w.logtext()))
            try:
                req = REQUEST[name]()
                getattr(req, STATS[name]).SetInParent()
                self.call(name, req, timeout=0.5)
                return
            except Unavailable:
                self.reset_sock(name)
        raise AssertionError("%s not ready:\n%s" % (name, w.logtext()))

    def subscribe(self, prefix=b""):
        """A SUB socket on the events endpoint, returned once the writer has
        taken its subscription (no slow joiner: it gets every event
        published from now on)."""
        s = self.ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SUBSCRIBE, prefix)
        self.subs.append(s)
        wait_subscribed(lambda: s.connect(self.endpoint("events")), self.event_subscriptions)
        return s

    def event_subscriptions(self):
        """The writer's count of subscriptions it has taken."""
        req = lw.LogRequest()
        req.stats.SetInParent()
        return metric(self.ok("logwriter", req), "rapport_event_subscriptions")

    def read_events(self, from_seq=1, type_prefix=""):
        """Every durable event from from_seq, through ReadEvents pages."""
        out = []
        while True:
            rep = self.ok("logwriter", lw.LogRequest(read_events=lw.ReadEvents(
                from_seq=from_seq, max=1000, type_prefix=type_prefix)))
            out.extend(rep.events.events)
            if rep.events.next_seq > rep.events.last_seq:
                return out
            from_seq = rep.events.next_seq

    def close(self):
        """Stop the workers and remove the directory. Raises AssertionError
        when a worker's log holds a sanitizer report (ASan, LSan, UBSan), or
        a worker did not exit 0 at stop, or ended by itself (Worker.exit_problem:
        a crash, SIGABRT from ASAN_OPTIONS=abort_on_error=1, valgrind's 99).
        The directory is kept then."""
        problems = []
        for s in list(self.socks.values()) + self.subs:
            s.close(0)
        for w in self.workers.values():
            problem = w.exit_problem()
            if problem:
                problems.append(problem)
        for w in self.workers.values():
            report = w.sanitizer_report()
            if report:
                problems.append("%s: sanitizer report:\n%s" % (w.name, report))
        self.ctx.term()
        if problems:
            print("kept", self.dir)
            raise AssertionError("\n".join(problems))
        if os.environ.get("RAPPORT_KEEP_TEST_DIRS"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def metric(rep, name, **labels):
    """The value of a counter or gauge in a Stats reply (0 when absent)."""
    st = rep.stats
    for m in list(st.counters) + list(st.gauges):
        if m.name == name and all(any(lb.name == k and lb.value == v for lb in m.labels)
                                  for k, v in labels.items()):
            return m.value
    return 0


def varint(n):
    """n as a protobuf varint (for hand-made, malformed messages)."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def field(num, wire_type, payload):
    """One protobuf field by hand: the tag, then a length for wire type 2."""
    if wire_type == 2:
        return varint(num << 3 | 2) + varint(len(payload)) + payload
    return varint(num << 3 | wire_type) + payload


def packed(entries):
    """Entries as a segment log batch carries them (logwriter.proto,
    SegmentLogBatch.packed_entries): each encoded Entry behind its length."""
    out = bytearray()
    for e in entries:
        data = e if isinstance(e, (bytes, bytearray)) else e.SerializeToString()
        out += varint(len(data)) + data
    return bytes(out)


def recv_events(sub, n, timeout=10.0):
    """n published events as (topic, Event); fewer when they do not come
    within scaled(timeout)."""
    out = []
    deadline = time.monotonic() + scaled(timeout)
    while len(out) < n and time.monotonic() < deadline:
        if sub.poll(100):
            topic, body = sub.recv_multipart()
            ev = c.Event()
            ev.ParseFromString(body)
            out.append((topic.decode(), ev))
    return out


class ClusterTest(unittest.TestCase):
    """A test case with a fresh cluster per test."""
    WORKERS = ("logwriter", "interaction", "segment")
    ENV = {}

    def setUp(self):
        self.cl = Cluster(self.WORKERS, env=self.ENV)

    def tearDown(self):
        self.cl.close()

    def assertStatus(self, rep, code, message=None, field=None):
        self.assertEqual(c.StatusCode.Name(rep.status.code), c.StatusCode.Name(code),
                         rep.status.message)
        if message is not None:
            self.assertEqual(rep.status.message, message)
        if field is not None:
            self.assertEqual(rep.status.field, field)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
