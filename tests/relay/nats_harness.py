"""Real nats-server processes for the relay tests: one JetStream server or
a cluster of three, on free loopback ports, each with its own directory
under the test's temp dir; and the stream read back through
rapport-natsdump (libnats) as (seq, part, kind, bytes) for
changes_workload.check_stream."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import BIN_DIR, TIME_SCALE, free_port  # noqa: E402

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
KIND_OF = {"event": "event", "entry": "entry", "logged_segment": "logged_segment",
           "campaign_entry": "campaign_entry"}


def have_nats():
    return os.access(NATS_SERVER, os.X_OK)


class NatsNode:
    def __init__(self, base_dir, name, cluster_ports=None, index=0):
        self.name = name
        self.dir = os.path.join(base_dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port, self.http = free_port(), free_port()
        self.cluster_ports = cluster_ports
        self.index = index
        self.proc = None
        self.extra_conf = ""  # appended to the configuration (accounts, users)
        self.log_path = os.path.join(self.dir, "nats.log")
        self.conf = os.path.join(self.dir, "nats.conf")

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def write_conf(self):
        lines = ["server_name: %s" % self.name,
                 "listen: 127.0.0.1:%d" % self.port,
                 "http: 127.0.0.1:%d" % self.http,
                 "jetstream { store_dir: \"%s\", max_memory_store: 64MB, max_file_store: 4GB }"
                 % os.path.join(self.dir, "js")]
        if self.cluster_ports:
            routes = ", ".join("nats://127.0.0.1:%d" % p for p in self.cluster_ports)
            lines.append("cluster { name: rapport-test, listen: 127.0.0.1:%d, routes: [%s] }"
                         % (self.cluster_ports[self.index], routes))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + self.extra_conf)

    def start(self):
        self.write_conf()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([NATS_SERVER, "-c", self.conf], stdout=log, stderr=log)
        log.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def healthy(self):
        """JetStream is up on this node (and, in a cluster, has a meta
        leader): nats-server's /healthz."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.http,
                                        timeout=1) as r:
                return json.load(r).get("status") == "ok"
        except (OSError, ValueError):
            return False


    def stream_state(self, stream="RAPPORT"):
        """This node's own copy of the stream, from its monitoring port
        (/jsz): its state (messages, last_seq, ...), None when it holds
        none."""
        url = "http://127.0.0.1:%d/jsz?accounts=true&streams=true" % self.http
        with urllib.request.urlopen(url, timeout=5) as r:
            d = json.load(r)
        for acc in d.get("account_details") or []:
            for st in acc.get("stream_detail") or []:
                if st.get("name") == stream:
                    return st.get("state")
        return None


class Nats:
    """One JetStream server (n=1) or a cluster of three (n=3)."""

    def __init__(self, base_dir, n=1):
        cports = [free_port() for _ in range(n)] if n > 1 else None
        self.nodes = [NatsNode(base_dir, "n%d" % (i + 1), cports, i) for i in range(n)]

    @property
    def url(self):
        return ",".join(n.url for n in self.nodes)

    def start(self, wait=True):
        for n in self.nodes:
            if not n.alive():
                n.start()
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout=60):
        deadline = time.monotonic() + timeout * TIME_SCALE
        while time.monotonic() < deadline:
            if all(n.healthy() for n in self.nodes if n.alive()):
                return
            time.sleep(0.1)
        raise AssertionError("nats-server not healthy:\n" + "\n".join(
            open(n.log_path, errors="replace").read()[-2000:] for n in self.nodes))

    def kill(self):
        for n in self.nodes:
            n.kill()

    def stop(self):
        for n in self.nodes:
            n.stop()

    def natsdump(self, stream, *args, timeout=300):
        """rapport-natsdump against the first live node."""
        node = next(n for n in self.nodes if n.alive())
        out = subprocess.run([os.path.join(BIN_DIR, "rapport-natsdump"), node.url, stream] +
                             list(args), capture_output=True, timeout=timeout * TIME_SCALE)
        if out.returncode != 0:
            raise AssertionError("natsdump %s: %s" % (" ".join(args), out.stderr.decode()))
        return out.stdout.decode()

    def info(self, stream="RAPPORT", timeout=60):
        """The stream's state, asked again while a cluster elects a leader."""
        deadline = time.monotonic() + timeout * TIME_SCALE
        while True:
            try:
                return json.loads(self.natsdump(stream, "info"))
            except AssertionError:
                if time.monotonic() > deadline or "not found" in str(sys.exc_info()[1]).lower():
                    raise
                time.sleep(0.2)

    def messages(self, stream="RAPPORT", subject=None, timeout=120):
        """Every message: dicts with stream_seq, subject, headers, data (bytes).
        Without a subject filter, asked again until it has every sequence of
        the leader's 1..last (a replica that serves the consumer may still
        be catching up after a node came back)."""
        deadline = time.monotonic() + timeout * TIME_SCALE
        while True:
            out = []
            try:
                text = self.natsdump(stream, "dump", *([subject] if subject else []))
            except (AssertionError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
                continue
            for line in text.splitlines():
                m = json.loads(line)
                m["data"] = bytes.fromhex(m["data"])
                out.append(m)
            if subject or [m["stream_seq"] for m in out] == list(
                    range(1, self.info(stream)["last_seq"] + 1)):
                return out
            if time.monotonic() > deadline:
                return out  # the caller's checks say what is missing
            time.sleep(1)


def as_changes(msgs):
    """(seq, part, kind, bytes) of each relayed message, for check_stream."""
    out = []
    for m in msgs:
        subj = m["subject"]
        kind = subj.split(".")[2]
        if kind == "gap":
            continue
        out.append((int(m["headers"]["Rapport-Seq"]), int(m["headers"]["Rapport-Part"]),
                    KIND_OF[kind], m["data"]))
    return out
