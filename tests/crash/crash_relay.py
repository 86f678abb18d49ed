"""The crash harness's relay mode (crash.py --relay): nats-server (one node,
or three at R3) and rapport-relay in every round, the relay and a NATS node
among the killer's victims, and invariant I8 after the round: the relay's
lag drains by itself; the stream holds each seq of the durable event log
exactly once, in order, with the log's events; replaying it gives exactly
the store's records."""
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "relay"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from changes_workload import replay, writer_state  # noqa: E402
from harness import Worker, c, lw  # noqa: E402
from nats_harness import Nats, as_changes, have_nats  # noqa: E402,F401

DRAIN_S = 180


class RelayRound:
    def __init__(self, mode, cl):
        self.mode, self.cl = mode, cl
        self.nats = Nats(cl.dir, mode.nodes).start()
        cl.env.update({"RAPPORT_NATS_URL": self.nats.url,
                       "RAPPORT_NATS_REPLICAS": str(mode.nodes)})
        self.relay = Worker(cl, "relay")
        cl.workers["relay"] = self.relay
        self.relay_kills = self.nats_kills = 0
        self.stream_msgs = 0
        self.drain_s = None

    def start(self):
        self.relay.start(wait=False)

    def kill(self, rnd, name, journal):
        if name == "relay":
            if self.relay.alive():
                self.relay.proc.send_signal(signal.SIGKILL)
                self.relay.proc.wait()
            journal.add("kill", worker="relay")
            time.sleep(rnd.uniform(0.0, 0.4))
            self.relay.start(wait=False)
            journal.add("start", worker="relay", fault="")
            self.relay_kills += 1
            return 1
        node = rnd.choice(self.nats.nodes)
        node.kill()
        journal.add("kill", worker="nats-" + node.name)
        time.sleep(rnd.uniform(0.2, 1.5))
        node.start()
        journal.add("start", worker="nats-" + node.name, fault="")
        self.nats_kills += 1
        return 1

    def lag(self):
        rep = self.cl.ok("logwriter", lw.LogRequest(stats=c.GetStats()))
        g = {x.name: x.value for x in rep.stats.gauges}
        return g.get("rapport_relay_lag_events"), g.get("rapport_relay_last_confirmed_seq")

    def check(self, checker):
        self.nats.start(wait=False)  # every node up
        self.nats.wait_healthy()
        if not self.relay.alive():
            checker.check("I8", False, "rapport-relay died:\n" + self.relay.logtext()[-2000:])
            self.relay.start(wait=False)
        t0 = time.monotonic()
        while time.monotonic() - t0 < DRAIN_S:
            lag, _ = self.lag()
            if lag == 0:
                break
            time.sleep(0.1)
        lag, confirmed = self.lag()
        self.drain_s = round(time.monotonic() - t0, 1)
        checker.check("I8", lag == 0, "the relay's lag is %s after %d s" % (lag, DRAIN_S))
        if lag != 0:
            return
        events = self.cl.read_events()
        msgs = self.nats.messages()
        self.stream_msgs = len(msgs)
        checker.check("I8", [m["stream_seq"] for m in msgs] == list(range(1, len(msgs) + 1)),
                      "the stream's sequences are not 1..%d" % len(msgs))
        changes = as_changes(msgs)
        order = [(s, p) for s, p, _, _ in changes]
        checker.check("I8", order == sorted(set(order)),
                      "the stream repeats or reorders a (seq, part)")
        seqs = [s for s, p, _, _ in changes if p == 0]
        checker.check("I8", seqs == [e.seq for e in events] and confirmed == events[-1].seq,
                      "the stream's seqs %s..%s (%d) are not the event log's %d..%d (%d)" % (
                          seqs[:1], seqs[-1:], len(seqs), events[0].seq, events[-1].seq,
                          len(events)))
        state, by_seq = replay(changes)
        for e in events:
            got = c.Event()
            got.ParseFromString(by_seq.get(e.seq, b""))
            if got != e:
                checker.check("I8", False, "seq %d: the stream's event differs from the event "
                              "log's" % e.seq)
                break
        checker.check("I8", True, "events")
        want = writer_state(self.cl)
        missing = [k for k in want if k not in state]
        extra = [k for k in state if k not in want]
        differ = [k for k in want if k in state and state[k] != want[k]]
        checker.check("I8", not (missing or extra or differ),
                      "replaying the stream: %d records missing %s, %d extra %s, %d differ %s" % (
                          len(missing), missing[:3], len(extra), extra[:3], len(differ),
                          differ[:3]))
        checker.check("I8", self.relay.stop(timeout=60) == 0,
                      "rapport-relay did not exit 0 at SIGTERM")

    def stats(self):
        return dict(relay_kills=self.relay_kills, nats_kills=self.nats_kills,
                    stream_msgs=self.stream_msgs, relay_drain_s=self.drain_s)

    def close(self):
        self.nats.kill()


class RelayMode:
    VICTIMS = ["relay", "relay", "nats"]

    def __init__(self, nodes):
        self.nodes = nodes
        self.current = None

    def round(self, cl):
        self.current = RelayRound(self, cl)
        return self.current

    def kill(self, rnd, name, journal):
        return self.current.kill(rnd, name, journal)
