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
import threading
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from changes_workload import Workload  # noqa: E402
from harness import BIN_DIR, TIME_SCALE, Worker, c, ia, lw, zmq  # noqa: E402
from nats_harness import have_nats  # noqa: E402
from test_backup import cli_env  # noqa: E402
from test_relay import RelayCase, stats, wait_drained, wait_for  # noqa: E402
from replica_reads import NamedLogWriter, Replica  # noqa: E402
from test_replica import stats_of  # noqa: E402

# Log writers on sockets of their own: <run_dir>/<name>.sock.
class Promoted(NamedLogWriter):
    """The log writer started as the primary on a promoted replica's store,
    on endpoints of its own (the promoted host)."""

    def __init__(self, cl, state, name="primary2"):
        super().__init__(cl, name, state)


def relay_for(cl, name):
    """A relay on the promoted host, relaying writer `name`."""
    r = Worker(cl, "relay", ["--set", "logwriter_endpoint=" + cl.endpoint(name),
                             "--set", "events_endpoint=ipc://%s/%s-events.sock"
                             % (cl.run_dir, name)])
    r.log_path = os.path.join(cl.dir, "relay-" + name + ".log")
    cl.workers["relay-" + name] = r
    return r


class FailoverCase(RelayCase):
    def promote(self, state):
        env = cli_env()
        env["RAPPORT_NATS_URL"] = self.nats.url
        p = subprocess.run([os.path.join(BIN_DIR, "rapport"), "promote", "--state-dir", state],
                           capture_output=True, env=env, timeout=60 * TIME_SCALE)
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

    def assert_acked_there(self, acked_entries, acked_logged, events_before):
        """Every acked entry, logged segment and event is on the new primary."""
        nos = {e.entry_no for e in self.entries("primary2")}
        self.assertEqual(set(acked_entries) - nos, set())
        for ls in acked_logged:
            rep = self.cl.ok("primary2", lw.LogRequest(get_logged_segment=lw.GetLoggedSegment(
                entry_no=ls.logged_segment_no)))
            self.assertEqual(rep.logged_segment.no_of_interactions, ls.entry_count)
            self.assertTrue(set(range(ls.first_entry_no, ls.last_entry_no + 1)) <= nos)
        got = self.events("primary2")
        self.assertEqual([e.SerializeToString() for e in got[:len(events_before)]],
                         [e.SerializeToString() for e in events_before])

    def start_promoted(self, replica):
        """Promote the stopped replica and start its host's writer and relay."""
        # The stream may still be electing a leader after a node's loss:
        # promote then changes nothing and exits 3, and is run again.
        def attempt():
            res = self.promote(replica.state)
            return None if res[0] == 3 else res
        rc, out, err = wait_for("NATS to answer promote", attempt, 60)
        self.assertEqual(rc, 0, err)
        self.assertIn("is the primary at seq", out)
        new = Promoted(self.cl, replica.state).start()
        self.assertEqual(stats_of(self.cl, "primary2")["rapport_primary_term"], 1)
        relay = relay_for(self.cl, "primary2")
        relay.start(wait=False)
        # It writes on from the replica's seq, and its relay continues the
        # stream from there.
        seq = stats_of(self.cl, "primary2")["rapport_last_event_seq"]
        newest = self.entries("primary2")[-1].entry_no
        rep = self.cl.ok("primary2", lw.LogRequest(
            set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[newest], canceled=True)))
        self.assertEqual(rep.seq, seq + 1)
        wait_for("the new primary's seq in the stream", lambda: self.stream_end()[1] == seq + 1)
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
        # The writer takes a fencing only for its own store's stream.
        rep = self.cl.call("logwriter", lw.LogRequest(confirm_relayed=lw.ConfirmRelayed(
            fenced_by_term=5, fenced_store_id=b"\x01" * 8)))
        self.assertEqual(rep.status.field, "confirm_relayed.fenced_store_id", rep)
        self.assertTrue(self.cl["logwriter"].alive())

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
        newest = self.entries("primary2")[-1].entry_no

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
            entry_no=newest))).entry.canceled)
        # A second promotion (of the fresh replica) fences the first.
        fresh.stop()
        rc, out, err = self.promote(fresh.state)
        self.assertEqual(rc, 0, err)
        self.assertIn("term 2", out)
        self.cl.ok("primary2", lw.LogRequest(
            set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[newest], canceled=False)))
        self.assertEqual(relay2.wait_exit(60), 3, relay2.logtext())
        self.assertEqual(new.wait_exit(30), 3, new.logtext())
        self.assert_no_fork()



@unittest.skipUnless(have_nats(), "nats-server is not installed")
class RefusalTest(FailoverCase):
    """What test_replica.py does not cover: a replica behind the stream is
    not promoted, nor without NATS; a replica refuses a gap in the middle
    of the stream (and follows on when its consumer is lost)."""

    def test_promote_refuses_a_replica_behind_and_a_replica_refuses_a_gap(self):
        self.start_relay()
        wl = Workload(self.cl, contacts=6)
        wl.seed()
        wl.create("C0000")
        wait_drained(self.cl)
        replica = Replica(self.cl).start()
        self.wait_applied(replica)
        # Its consumer gone (as at a NATS leader change): it follows on
        # from where it is, after the position it started from.
        self.nats.natsdump("RAPPORT", "rmconsumer", "replica")
        wl.create("C0004")
        wait_drained(self.cl)
        seq = self.wait_applied(replica)
        self.assertIn("following it again", replica.logtext())
        replica.stop()
        for contact in ("C0001", "C0002", "C0003"):
            wl.create(contact)
        wait_drained(self.cl)
        rc, _, err = self.promote(replica.state)
        self.assertEqual(rc, 1, err)
        self.assertIn("this replica applied seq %d only" % seq, err)
        # NATS unreachable: nothing changes, exit 3.
        env = cli_env()
        env["RAPPORT_NATS_URL"] = "nats://127.0.0.1:%d" % harness.free_port()
        p = subprocess.run([os.path.join(BIN_DIR, "rapport"), "promote", "--state-dir",
                            replica.state], capture_output=True, env=env,
                           timeout=60 * TIME_SCALE)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(b"nothing was changed", p.stderr)
        # A message of the seq after the replica's next one is gone.
        msgs = self.nats.messages()
        lost = next(m for m in msgs if int(m["headers"]["Rapport-Seq"]) == seq + 2)
        self.nats.natsdump("RAPPORT", "delete-msg", str(lost["stream_seq"]))
        replica.start(wait=False)
        self.assertEqual(replica.wait_exit(60), 2, replica.logtext())
        self.assertIn("the stream lacks what this replica needs next, seq %d" % (seq + 2),
                      replica.logtext())
        self.assertEqual(stats(self.cl)["rapport_primary_term"], 0)
        # Still a replica's store, not promoted.
        rc, _, err = self.promote(replica.state)
        self.assertEqual(rc, 1, err)


class Creator(threading.Thread):
    """Creates interactions one after another on a socket of its own and
    keeps the entry no. of every one acknowledged, until told to stop or the
    interaction worker stops answering."""

    def __init__(self, cl):
        super().__init__(daemon=True)
        self.sock = cl.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(cl.endpoint("interaction"))
        self.acked, self.stop = [], threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            req = ia.InteractionRequest(request_id=uuid.uuid4().hex.encode(), user_id="tester",
                                        create_interaction=ia.CreateInteraction(
                fields=ia.InteractionFields(contact_no="C%04d" % (i % 6),
                                            interaction_template_code="MAIL",
                                            description="During the failure")))
            self.sock.send(req.SerializeToString())
            waited = 0
            while not self.sock.poll(100):
                waited += 100
                if self.stop.is_set() or waited > 5000 * TIME_SCALE:
                    return  # its host is gone
            rep = ia.InteractionReply()
            rep.ParseFromString(self.sock.recv_multipart()[-1])
            if rep.status.code == c.OK:
                self.acked.append(rep.entry.entry_no)
            i += 1

    def finish(self):
        if self.stop.is_set():
            return
        self.stop.set()
        self.join(30 * TIME_SCALE)
        self.sock.close(0)


def host_loss(case, ack_on):
    """The primary's host is lost while interactions are being created:
    every process of it killed -9 and its log writer's state deleted. The
    replica is promoted; what the new primary has is checked by the caller.
    Returns (replica seq promoted, acked entries, acked logged segments,
    the primary's events before the failure, its stats at the kill)."""
    case.start_relay()
    replica = Replica(case.cl).start()
    wl = Workload(case.cl, contacts=6)
    wl.seed()
    acked = [wl.create("C%04d" % i) for i in range(4)]
    logged = [wl.log_segment("S1", ["C0001", "C0002", "C0003"])]
    wl.cancel(acked[:1])
    wait_drained(case.cl)
    events_before = case.events("logwriter")
    creator = Creator(case.cl)
    creator.start()
    wait_for("acks during the failure", lambda: len(creator.acked) >= 10, 60)
    if not ack_on:
        # The relay, caught up, stops (frozen) and the writer acks on: the
        # exposure. Caught up first, so that the stream holds exactly what
        # the relay confirmed (a seq stored but not confirmed yet would be
        # in the lag and not lost).
        creator.finish()
        wait_drained(case.cl)
        case.relay.signal(signal.SIGSTOP)
        more = Creator(case.cl)
        more.start()
        wait_for("acks the relay has not seen", lambda: len(more.acked) >= 5, 60)
        more.finish()
        creator.acked += more.acked
        g = stats(case.cl)  # the lag at the kill: nothing is written after it
    else:
        g = None
    case.kill_primary_host()
    creator.finish()
    shutil.rmtree(os.path.join(case.cl.state_dir, "logwriter"))
    if case.NODES > 1:
        # The stream's leader: the replica's consumer moves to a new one.
        leader = case.nats.info()["leader"]
        next(n for n in case.nats.nodes if n.name == leader).kill()
    seq = case.wait_applied(replica)
    replica.stop()
    return seq, acked + creator.acked, logged, events_before, g, replica


@unittest.skipUnless(have_nats(), "nats-server is not installed")
class HostLossAckOffTest(FailoverCase):
    def test_what_is_lost_is_exactly_the_relays_lag(self):
        seq, acked, logged, before, g, replica = host_loss(self, ack_on=False)
        lag = g["rapport_relay_lag_events"]
        self.assertGreaterEqual(lag, 5)
        # What the stream has is what the relay had confirmed: the replica
        # has all of it, and the lost seqs are the lag.
        self.assertEqual(seq, g["rapport_relay_last_confirmed_seq"])
        self.assertEqual(g["rapport_last_event_seq"] - seq, lag)
        self.start_promoted(replica)
        got = self.events("primary2")
        self.assertEqual([e.seq for e in got], list(range(1, seq + 2)))
        nos = {e.entry_no for e in self.entries("primary2")}
        lost = [n for n in acked if n not in nos]
        # Each creation is one event: the acked entries lost are the lag's.
        self.assertEqual(len(lost), lag)
        self.assertEqual(lost, sorted(acked)[-int(lag):])
        self.assert_acked_there([n for n in acked if n not in lost], logged, before)


@unittest.skipUnless(have_nats(), "nats-server is not installed")
class HostLossAckOnTest(FailoverCase):
    NODES = 3
    REPLICAS = 3
    ENV = {"RAPPORT_ACK_AFTER_RELAY": "true"}

    def test_no_acked_write_is_lost_at_r3_with_a_nats_node_down(self):
        seq, acked, logged, before, _, replica = host_loss(self, ack_on=True)
        self.start_promoted(replica)
        self.assert_acked_there(acked, logged, before)
        # The segment and interaction workers, pointed at the new primary,
        # write on: acked once the new relay has confirmed it.
        for name in ("interaction", "segment"):
            w = self.cl.workers[name]
            w.extra_args = ["--set", "logwriter_endpoint=" + self.cl.endpoint("primary2")]
            w.start()
        wl = Workload(self.cl, contacts=6)
        no = wl.create("C0005")
        self.assertEqual(self.cl.ok("primary2", lw.LogRequest(get_entry=lw.GetEntry(
            entry_no=no))).entry.contact_no, "C0005")
        last, markers = self.assert_no_fork()
        self.assertEqual(markers, [(seq, 1)])
        self.assertEqual(last, seq + 2)


if __name__ == "__main__":
    unittest.main()
