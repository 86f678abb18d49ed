"""Failover against real nats-server processes on loopback, the real workers
and rapport-relay: `rapport promote` makes a stopped read replica the
primary at its last applied seq, and the stream fences the old primary
(its relay and log writer stop with 3 and it never starts as the primary
again); the stream never forks. Losing the primary's host with
ack_after_relay on (3-node cluster at R3, one NATS node killed too) loses
no acked write; with it off, exactly the relay's lag at the kill. What
promote and a replica refuse."""
import os
import shutil
import signal
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from changes_workload import Workload  # noqa: E402
from harness import BIN_DIR, TIME_SCALE, Worker, c, lw  # noqa: E402
from nats_harness import have_nats  # noqa: E402
from test_backup import cli_env  # noqa: E402
from test_relay import RelayCase, stats, wait_drained, wait_for  # noqa: E402
from test_replica import Replica, stats_of  # noqa: E402

# Log writers on sockets of their own: <run_dir>/<name>.sock.
for _name in ("primary2", "fresh", "ghost", "bad"):
    harness.REQUEST[_name] = lw.LogRequest
    harness.REPLY[_name] = lw.LogReply
    harness.STATS[_name] = "stats"


class Promoted(Worker):
    """The log writer started as the primary on a promoted replica's store,
    on endpoints of its own (the promoted host)."""

    def __init__(self, cl, state, name="primary2"):
        super().__init__(cl, "logwriter", [
            "--state-dir", state,
            "--set", "logwriter_endpoint=" + cl.endpoint(name),
            "--set", "events_endpoint=ipc://%s/%s-events.sock" % (cl.run_dir, name)])
        self.log_path = os.path.join(cl.dir, name + ".log")
        self.pname = name
        cl.workers[name] = self

    def start(self, wait=True):
        super().start(wait=False)
        if wait:
            self.cluster.wait_ready(self.pname)
        return self


def relay_for(cl, name):
    """A relay on the promoted host, relaying writer `name`."""
    r = Worker(cl, "relay", ["--set", "logwriter_endpoint=" + cl.endpoint(name),
                             "--set", "events_endpoint=ipc://%s/%s-events.sock"
                             % (cl.run_dir, name)])
    r.log_path = os.path.join(cl.dir, "relay-" + name + ".log")
    cl.workers["relay-" + name] = r
    return r


class FailoverCase(RelayCase):
    def promote(self, state, *more):
        env = cli_env()
        env["RAPPORT_NATS_URL"] = self.nats.url
        p = subprocess.run([os.path.join(BIN_DIR, "rapport"), "promote", "--state-dir", state] +
                           list(more), capture_output=True, env=env, timeout=60 * TIME_SCALE)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def stream_end(self):
        """The stream's last message (stream_seq, Rapport-Seq)."""
        m = self.nats.messages()[-1]
        return m["stream_seq"], int(m["headers"]["Rapport-Seq"])

    def wait_applied(self, replica, name="replica"):
        """The replica has applied the whole stream; returns its seq."""
        last, seq = self.stream_end()
        wait_for("the replica to apply the stream", lambda: stats_of(self.cl, name).get(
            "rapport_replica_stream_message") == last, 60)
        self.assertEqual(stats_of(self.cl, name)["rapport_replica_applied_seq"], seq)
        return seq

    def assert_no_fork(self):
        """Stream sequences 1..n; seqs 1, 2, ... each once, its parts in
        order; one store id; terms that only grow, each term marker at the
        seq the stream had reached."""
        msgs = self.nats.messages()
        self.assertEqual([m["stream_seq"] for m in msgs], list(range(1, len(msgs) + 1)))
        stores = {m["headers"]["Nats-Msg-Id"].split(":")[0] for m in msgs}
        self.assertEqual(len(stores), 1, stores)
        seq, part, term, markers = 0, None, 0, []
        for m in msgs:
            h = m["headers"]
            s, p, t = int(h["Rapport-Seq"]), int(h["Rapport-Part"]), int(h.get("Rapport-Term", 0))
            self.assertGreaterEqual(t, term, m)
            if m["subject"] == "rapport.v1.term":
                self.assertEqual((s, part), (seq, None), m)
                self.assertGreater(t, term)
                markers.append((s, t))
            elif part is None:
                self.assertEqual((s, p), (seq + 1, 0), m)
            else:
                self.assertEqual(s, seq, m)
                self.assertGreater(p, part, m)
            term = t
            seq = s
            part = None if h.get("Rapport-Last") == "true" else p
        self.assertIsNone(part, "the stream ends inside a seq")
        return seq, markers

    def events(self, name):
        out, from_seq = [], 1
        while True:
            rep = self.cl.ok(name, lw.LogRequest(read_events=lw.ReadEvents(from_seq=from_seq,
                                                                          max=1000)))
            out.extend(rep.events.events)
            if rep.events.next_seq > rep.events.last_seq:
                return out
            from_seq = rep.events.next_seq

    def entries(self, name):
        return self.cl.list_all(name, "list_entries", "entries")

    def kill_primary_host(self):
        """kill -9 every process of the primary's host."""
        for name in ("relay", "logwriter", "interaction", "segment"):
            self.cl.workers[name].kill()

    def start_promoted(self, replica):
        """Promote the stopped replica and start its host's writer and relay."""
        rc, out, err = self.promote(replica.state)
        self.assertEqual(rc, 0, err)
        self.assertIn("is the primary at seq", out)
        new = Promoted(self.cl, replica.state).start()
        relay = relay_for(self.cl, "primary2")
        relay.start(wait=False)
        return new, relay


@unittest.skipUnless(have_nats(), "nats-server is not installed")
class FencingTest(FailoverCase):
    def test_the_old_primary_is_fenced_and_the_stream_never_forks(self):
        self.start_relay()
        wl = Workload(self.cl, contacts=6)
        wl.seed()
        for contact in ("C0000", "C0001", "C0002"):
            wl.create(contact)
        wait_drained(self.cl)
        replica = Replica(self.cl).start()
        old_state = os.path.join(self.cl.state_dir, "logwriter")

        # Refusals first: promote a running replica, a primary's store.
        rc, _, err = self.promote(replica.state)
        self.assertEqual(rc, 1, err)
        self.assertIn("holds worker.lock", err)
        self.relay.stop()
        self.cl["logwriter"].stop()
        rc, _, err = self.promote(self.cl.state_dir)
        self.assertEqual(rc, 1, err)
        self.assertIn("is not a read replica's store", err)
        self.cl["logwriter"].start()
        self.start_relay()

        # The primary goes on while its relay is frozen: seqs the stream
        # never gets. Then its host dies.
        self.relay.signal(signal.SIGSTOP)
        for contact in ("C0003", "C0004"):
            wl.create(contact)
        old_seq = wl.last_seq()
        self.kill_primary_host()
        seq = self.wait_applied(replica)
        self.assertLess(seq, old_seq)
        replica.stop()
        # A replica's store does not start as the primary.
        bad = Promoted(self.cl, replica.state, "bad")
        bad.start(wait=False)
        self.assertNotEqual(bad.wait_exit(30), 0)
        self.assertIn("is a read replica's store", bad.logtext())
        self.assertIn("rapport promote", bad.logtext())
        # A copy of the old primary's store, never fenced (the host came
        # back from the dead elsewhere).
        ghost = os.path.join(self.cl.dir, "ghost-state")
        shutil.copytree(self.cl.state_dir, ghost, ignore=shutil.ignore_patterns("lock.mdb",
                                                                                 "worker.lock"))

        new, relay2 = self.start_promoted(replica)
        self.assertEqual(stats_of(self.cl, "primary2")["rapport_primary_term"], 1)
        # The new primary writes on from its seq; its relay continues the stream.
        rep = self.cl.ok("primary2", lw.LogRequest(
            set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[1], canceled=True)))
        self.assertEqual(rep.seq, seq + 1)
        wait_for("the new primary's seq in the stream", lambda: self.stream_end()[1] == seq + 1)

        # The old primary comes back: its relay finds the stream moved past
        # it, tells the writer, and both stop with 3, publishing nothing.
        self.cl["logwriter"].start()
        self.relay.start(wait=False)
        self.assertEqual(self.relay.wait_exit(60), 3, self.relay.logtext())
        self.assertEqual(self.cl["logwriter"].wait_exit(30), 3, self.cl["logwriter"].logtext())
        self.assertIn("fenced: stream RAPPORT has moved past this log writer", self.relay.logtext())
        self.assertIn("fenced: the change stream RAPPORT was taken over by a primary of term 1",
                      self.cl["logwriter"].logtext())
        # ... and never starts as the primary again, nor as a replica.
        for i, args in enumerate(((), ("--replica",))):
            w = Worker(self.cl, "logwriter", list(args))
            w.log_path = os.path.join(self.cl.dir, "old-again%d.log" % i)
            self.cl.workers["old-again%d" % i] = w
            w.start(wait=False)
            self.assertNotEqual(w.wait_exit(30), 0)
            self.assertIn("is fenced", w.logtext())
        # The unfenced copy, rebuilt as a replica without wiping it: refused,
        # it has seqs the stream never had.
        ghost_replica = Replica(self.cl, "ghost")
        ghost_replica.state = ghost
        ghost_replica.extra_args[1] = ghost
        ghost_replica.start(wait=False)
        self.assertEqual(ghost_replica.wait_exit(60), 2, ghost_replica.logtext())
        self.assertIn("an old primary's that the stream never had", ghost_replica.logtext())

        last, markers = self.assert_no_fork()
        self.assertEqual(markers, [(seq, 1)])
        self.assertEqual(last, seq + 1)
        # A fresh replica follows the whole stream, through the marker.
        fresh = Replica(self.cl, "fresh").start()
        self.wait_applied(fresh, "fresh")
        self.assertEqual(stats_of(self.cl, "fresh")["rapport_primary_term"], 1)
        self.assertTrue(self.cl.ok("fresh", lw.LogRequest(get_entry=lw.GetEntry(
            entry_no=1))).entry.canceled)
        # A second promotion (of the fresh replica) fences the first.
        fresh.stop()
        rc, out, err = self.promote(fresh.state)
        self.assertEqual(rc, 0, err)
        self.assertIn("term 2", out)
        self.cl.ok("primary2", lw.LogRequest(
            set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[1], canceled=False)))
        self.assertEqual(relay2.wait_exit(60), 3, relay2.logtext())
        self.assertEqual(new.wait_exit(30), 3, new.logtext())
        self.assert_no_fork()


if __name__ == "__main__":
    unittest.main()
