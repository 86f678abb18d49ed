"""The crash harness's relay mode (crash.py --relay): nats-server (one node,
or three at R3) and rapport-relay in every round, the relay and a NATS node
among the killer's victims, and invariant I8 after the round: the relay's
lag drains by itself; the stream holds each seq of the durable event log
exactly once, in order, with the log's events; replaying it gives exactly
the store's records. With --replica, a read replica follows the stream in
every round, killed -9 at random moments of its own, and after the round
invariant I9: every read command gives on it the primary's reply at the
same seq (replica_reads.compare)."""
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "relay"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from changes_workload import replay, writer_state  # noqa: E402
from harness import Worker, c, lw  # noqa: E402
from nats_harness import Nats, as_changes, have_nats  # noqa: E402,F401
from replica_reads import Replica, caught_up, compare  # noqa: E402

DRAIN_S = 180


class RelayRound:
    def __init__(self, mode, cl):
        self.mode, self.cl = mode, cl
        self.nats = Nats(cl.dir, mode.nodes).start()
        cl.env.update({"RAPPORT_NATS_URL": self.nats.url,
                       "RAPPORT_NATS_REPLICAS": str(mode.nodes)})
        self.relay = Worker(cl, "relay")
        cl.workers["relay"] = self.relay
        self.relay_kills = self.nats_kills = self.replica_kills = 0
        self.stream_msgs = 0
        self.drain_s = None
        self.replica = Replica(cl) if mode.replica else None
        self.replica_stop = threading.Event()
        self.replica_killer = None
        self.compared = self.compare_s = None

    def start(self, rnd, journal):
        self.relay.start(wait=False)
        if self.replica:
            self.replica.start(wait=False)
            self.replica_killer = threading.Thread(target=self.kill_replica,
                                                   args=(rnd, journal), daemon=True)
            self.replica_killer.start()

    def kill_replica(self, rnd, journal):
        """kill -9 the replica every 0.2 to 1.5 s, wherever it is in its
        apply, until the round's check."""
        while not self.replica_stop.wait(rnd.uniform(0.2, 1.5)):
            self.replica.proc.send_signal(signal.SIGKILL)
            self.replica.proc.wait()
            journal.add("kill", worker="replica")
            self.replica_kills += 1
            self.replica.start(wait=False)
            journal.add("start", worker="replica", fault="")

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
        if self.replica:
            self.check_replica(checker, events[-1].seq)
        checker.check("I8", self.relay.stop(timeout=60) == 0,
                      "rapport-relay did not exit 0 at SIGTERM")

    def check_replica(self, checker, seq):
        """I9: the replica has applied the primary's last seq, and every
        read command gives on it the primary's reply at that seq."""
        self.replica_stop.set()
        self.replica_killer.join()
        if not self.replica.alive():
            checker.check("I9", False, "the replica died:\n" + self.replica.logtext()[-2000:])
            self.replica.start(wait=False)
        try:
            got = caught_up(self.cl, "replica", timeout=DRAIN_S)
        except AssertionError as e:
            checker.check("I9", False, "the replica did not apply seq %d: %s\n%s" % (
                seq, e, self.replica.logtext()[-2000:]))
            return
        checker.check("I9", got == seq, "the primary moved to seq %d after %d" % (got, seq))
        t0 = time.monotonic()
        n, by_kind, differences = compare(self.cl, "replica", seq)
        self.compared, self.compare_s = n, round(time.monotonic() - t0, 1)
        checker.check("I9", n > 0, "no read compared")
        for d in differences:
            checker.check("I9", False, "replica differs: " + d)
        checker.check("I9", self.replica.stop(timeout=60) == 0,
                      "the replica did not exit 0 at SIGTERM")

    def stats(self):
        out = dict(relay_kills=self.relay_kills, nats_kills=self.nats_kills,
                   stream_msgs=self.stream_msgs, relay_drain_s=self.drain_s)
        if self.replica:
            out.update(replica_kills=self.replica_kills, replica_reads_compared=self.compared,
                       compare_s=self.compare_s)
        return out

    def close(self):
        self.replica_stop.set()
        if self.replica_killer:
            self.replica_killer.join()
        self.nats.kill()


class RelayMode:
    VICTIMS = ["relay", "relay", "nats"]

    def __init__(self, nodes, replica=False):
        self.nodes, self.replica = nodes, replica
        self.current = None

    def round(self, cl):
        self.current = RelayRound(self, cl)
        return self.current

    def kill(self, rnd, name, journal):
        return self.current.kill(rnd, name, journal)
