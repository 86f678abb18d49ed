"""Read replicas (rapport-logwriter --replica) against one real JetStream
server on a free loopback port, the real workers and rapport-relay: after
the mixed workload every read command gives on the replica the reply the
primary gives at the same seq; a replica killed -9 while it applies a big
segment converges; min_seq waits or times out; a replica refuses writes,
another store's stream, and a stream that lacks the seqs it needs."""
import os
import random
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from test_backup import manifest, rapport  # noqa: E402
from changes_workload import Workload  # noqa: E402
from harness import TIME_SCALE, c, lw  # noqa: E402
from nats_harness import have_nats  # noqa: E402
from test_relay import RelayCase, wait_drained  # noqa: E402
from replica_reads import Replica, caught_up, compare, primary_seq  # noqa: E402


def unescape(text):
    """A value of `mdb_dump -p` (printable bytes, others as backslash hex)."""
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1] == "\\":
            out.append(0x5C)
            i += 2
        elif text[i] == "\\":
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(ord(text[i]))
            i += 1
    return bytes(out)


def counters(env_dir):
    """The writer's number counters in its meta DBI (mdb_dump, read-only)."""
    out = subprocess.run(["mdb_dump", "-p", "-s", "meta", env_dir], capture_output=True,
                         text=True, check=True).stdout.split("\n")
    body = out[out.index("HEADER=END") + 1:]
    # Each key and value line starts with one space; the rest is the
    # bytes (a counter's last byte may be 0x20, printed as a space).
    meta = {unescape(body[i][1:]): unescape(body[i + 1][1:])
            for i in range(0, len(body) - 1, 2) if body[i] != "DATA=END"}
    return {k: int.from_bytes(meta.get(k.encode(), b""), "big")
            for k in ("entry", "logged_segment", "campaign_entry", "seq")}


def stats_of(cl, name):
    rep = cl.ok(name, lw.LogRequest(stats=c.GetStats()))
    return {g.name: g.value for g in rep.stats.gauges}


class ReplicaCase(RelayCase):
    def primary_seq(self):
        return primary_seq(self.cl)

    def caught_up(self, name="replica", timeout=120):
        return caught_up(self.cl, name, timeout)

    def assert_same_reads(self, name="replica"):
        """Every read command gives on the replica the primary's reply, at
        the same seq (replica_reads.compare)."""
        seq = self.caught_up(name)
        n, _, differences = compare(self.cl, name, seq)
        self.assertEqual(differences, [])
        return n


@unittest.skipUnless(have_nats(), "nats-server is not installed")
class ReplicaTest(ReplicaCase):
    def test_every_read_equals_the_primary_and_writes_are_refused(self):
        self.start_relay()
        replica = Replica(self.cl).start()
        sub = self.cl.ctx.socket(harness.zmq.SUB)
        sub.setsockopt(harness.zmq.LINGER, 0)
        sub.setsockopt(harness.zmq.SUBSCRIBE, b"")
        sub.connect("ipc://%s/replica-events.sock" % self.cl.run_dir)
        self.cl.subs.append(sub)
        wl = Workload(self.cl)
        wl.snap = False
        wl.run(big=3000)
        wait_drained(self.cl)
        n = self.assert_same_reads()
        self.assertGreater(n, 200)
        # Its counters are the primary's: promoted, it would give no number twice.
        mine = counters(os.path.join(replica.state, "logwriter"))
        self.assertEqual(mine, counters(os.path.join(self.cl.state_dir, "logwriter")))
        self.assertGreater(mine["entry"], 3000)
        self.assertGreater(mine["campaign_entry"], 1)
        # Its PUB carried every event it applied, in seq order.
        seqs = []
        while sub.poll(200):
            ev = c.Event()
            ev.ParseFromString(sub.recv_multipart()[-1])
            seqs.append(ev.seq)
        self.assertEqual(seqs, list(range(seqs[0], self.primary_seq() + 1)))
        # Writes: FAILED_PRECONDITION naming the primary; nothing changes.
        for req in (lw.LogRequest(set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[1])),
                    lw.LogRequest(delete_canceled_entries=lw.DeleteCanceledEntries()),
                    lw.LogRequest(delete_canceled_logged_segments=lw.DeleteCanceledLoggedSegments()),
                    lw.LogRequest(read_changes=lw.ReadChanges())):
            rep = self.cl.call("replica", req)
            self.assertEqual(rep.status.code, c.FAILED_PRECONDITION, rep)
            self.assertIn("read replica", rep.status.message)
            self.assertIn(self.cl.endpoint("logwriter"), rep.status.message)
        self.assert_same_reads()
        # A write on the primary carries its seq: min_seq on the replica
        # reads it.
        rep = self.cl.ok("logwriter", lw.LogRequest(
            set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[1], canceled=True)))
        self.assertEqual(rep.seq, self.primary_seq())
        got = self.cl.ok("replica", lw.LogRequest(get_entry=lw.GetEntry(entry_no=1),
                                                  min_seq=rep.seq))
        self.assertGreaterEqual(got.seq, rep.seq)
        self.assertTrue(got.entry.canceled)
        # A seq that never comes: UNAVAILABLE after the request's timeout.
        t0 = time.monotonic()
        got = self.cl.call("replica", lw.LogRequest(get_entry=lw.GetEntry(entry_no=1),
                                                    min_seq=rep.seq + 1000, timeout_ms=300))
        self.assertEqual(got.status.code, c.UNAVAILABLE, got)
        self.assertEqual(got.status.field, "min_seq")
        self.assertEqual(got.seq, rep.seq)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        g = stats_of(self.cl, "replica")
        self.assertEqual(g["rapport_replica_applied_seq"], rep.seq)
        # The command: --replica reads there, with --min-seq.
        run = ["--run-dir", self.cl.run_dir, "--json"]
        rc, out, err = rapport(*run, "entry", "show", 1)
        self.assertEqual(rc, 0, err)
        rc, out2, err = rapport(*run, "--replica", self.cl.endpoint("replica"), "--min-seq",
                                rep.seq, "entry", "show", 1)
        self.assertEqual((rc, out2), (0, out), err)
        rc, _, err = rapport(*run, "--replica", self.cl.endpoint("replica"), "--min-seq",
                             rep.seq + 1000, "--timeout", int(6000 * TIME_SCALE), "entry",
                             "show", 1)
        self.assertNotEqual(rc, 0)
        self.assertIn("min_seq", err)
        rc, _, err = rapport(*run, "--replica", self.cl.endpoint("replica"), "entry", "cancel",
                             1, "--yes")
        self.assertEqual(rc, 1)
        self.assertIn("read replica", err)
        self.assertEqual(replica.stop(), 0)

    def test_killed_mid_apply_converges(self):
        self.start_relay()
        wl = Workload(self.cl)
        wl.snap = False
        wl.run()
        # The smallest map: the big seqs fill it, and the replica applies
        # them again from their first message after growing it.
        replica = Replica(self.cl, extra_args=("--set", "map_size=1048576")).start()
        self.caught_up()
        replica.stop()
        n = int(os.environ.get("RAPPORT_REPLICA_BIG", "6000"))
        wl.log_big("BIG", n)
        # kill -9 in the middle of the big seq's transaction, then right
        # after a commit, then at random while it gathers and applies.
        for fault in ("logwriter.replica_mid_apply:4", "logwriter.replica_applied:1"):
            replica.env["RAPPORT_FAULT"] = fault
            replica.start(wait=False)
            self.assertEqual(replica.proc.wait(120 * TIME_SCALE), -signal.SIGKILL,
                             replica.logtext())
            self.assertIn("fault injection: killed at " + fault.split(":")[0],
                          replica.logtext())
        del replica.env["RAPPORT_FAULT"]
        rnd = random.Random(int(os.environ.get("RAPPORT_TEST_SEED", "11")))
        replica.start(wait=False)
        wl.log_big("BIG2", n // 2, prefix="D")
        for _ in range(3):
            time.sleep(rnd.uniform(0.05, 0.5))
            replica.proc.send_signal(signal.SIGKILL)
            replica.proc.wait()
            replica.start(wait=False)
        # SIGTERM while a seq's transaction is open: a clean exit (0), the
        # seq aborted and applied again at the next start. The loop takes
        # at most 16,384 fetched messages a turn (QUEUE_MAX), so a seq of
        # 20,000 is open between two turns, where stats are answered.
        wl.log_big("BIG3", 20000, prefix="E")
        deadline = time.time() + 60 * TIME_SCALE
        while time.time() < deadline:
            st = stats_of(self.cl, "replica")
            if st.get("rapport_replica_seq_parts_applied", 0) > 0:
                break
            time.sleep(0.005)
        self.assertGreater(st.get("rapport_replica_seq_parts_applied", 0), 0)
        self.assertEqual(replica.stop(), 0, replica.logtext())
        replica.start(wait=False)
        wl.cancel([1])
        wait_drained(self.cl)
        self.assert_same_reads()
        self.assertEqual(stats_of(self.cl, "replica")["rapport_replica_applied_seq"],
                         self.primary_seq())
        self.assertIn("filled the map: grown, applying it again", replica.logtext())
        # Every event exactly once, in its seq.
        events = self.cl.read_events()
        got = []
        from_seq = 1
        while True:
            rep = self.cl.ok("replica", lw.LogRequest(read_events=lw.ReadEvents(
                from_seq=from_seq, max=1000)))
            got.extend(rep.events.events)
            if rep.events.next_seq > rep.events.last_seq:
                break
            from_seq = rep.events.next_seq
        self.assertEqual([e.SerializeToString() for e in got],
                         [e.SerializeToString() for e in events])

    def test_refuses_another_store_and_a_gap(self):
        self.start_relay()
        wl = Workload(self.cl)
        wl.snap = False
        wl.create_catalog_and_one()
        wait_drained(self.cl)
        replica = Replica(self.cl).start()
        self.caught_up()
        replica.stop()
        # Another store's stream: a primary with a fresh store, its stream
        # made again by the relay.
        self.relay.stop()
        self.cl.workers["logwriter"].stop()
        os.rename(os.path.join(self.cl.state_dir, "logwriter"),
                  os.path.join(self.cl.dir, "old-logwriter"))
        self.nats.natsdump("RAPPORT", "delete")
        self.cl.workers["logwriter"].start()
        self.start_relay()
        for contact in ("C0001", "C0002", "C0003"):
            wl.create(contact)
        wait_drained(self.cl)
        replica.start(wait=False)
        self.assertEqual(replica.wait_exit(60), 2, replica.logtext())
        self.assertIn("it is not the stream this replica followed", replica.logtext())
        # An empty replica and a stream that no longer holds seq 1.
        self.nats.natsdump("RAPPORT", "purge", "1")
        fresh = Replica(self.cl, "fresh")
        fresh.start(wait=False)
        self.assertEqual(fresh.wait_exit(60), 2, fresh.logtext())
        self.assertIn("no longer holds seq 1", fresh.logtext())
        self.assertIn("restore a `rapport backup`", fresh.logtext())

    def test_refuses_a_hole_in_the_middle_of_a_seq(self):
        """A message erased from the middle of a big seq: the replica
        follows again from it once, then refuses (exit 2) with that seq's
        transaction open, which it aborts: nothing of the seq is served."""
        self.start_relay()
        wl = Workload(self.cl)
        wl.snap = False
        wl.create_catalog_and_one()
        wait_drained(self.cl)
        before = self.primary_seq()
        wl.log_big("HOLE", 3000)
        wait_drained(self.cl)
        last = int(self.nats.info()["last_seq"])
        self.nats.natsdump("RAPPORT", "delete-msg", str(last - 1500))
        replica = Replica(self.cl).start(wait=False)
        self.assertEqual(replica.wait_exit(60), 2, replica.logtext())
        self.assertIn("the stream lacks what this replica needs next", replica.logtext())
        self.assertIn("following it again from there", replica.logtext())
        applied = counters(os.path.join(replica.state, "logwriter"))["seq"]
        self.assertGreaterEqual(applied, before)
        self.assertLess(applied, self.primary_seq())

    def test_starts_from_a_backup_when_the_stream_lacks_seq_1(self):
        self.start_relay()
        wl = Workload(self.cl)
        wl.snap = False
        wl.create_catalog_and_one()
        wl.create("C0001", postpone=True)
        backup = os.path.join(self.cl.dir, "backup")
        rc, _, err = rapport("backup", backup, "--state-dir", self.cl.state_dir)
        self.assertEqual(rc, 0, err)
        m = manifest(backup)
        seq = int(m["logwriter.last_event_seq"])
        for contact in ("C0002", "C0003"):
            wl.create(contact)
        wl.cancel([1])
        wait_drained(self.cl)
        # The stream loses every message up to the backup's seq.
        msgs = self.nats.messages()
        after = [x for x in msgs if int(x["headers"]["Rapport-Seq"]) > seq]
        self.assertEqual(m["logwriter.store_id"],
                         msgs[0]["headers"]["Nats-Msg-Id"].split(":")[0])
        self.nats.natsdump("RAPPORT", "purge", str(len(after)))
        self.assertGreater(self.nats.info()["first_seq"], 1)
        replica = Replica(self.cl)
        rc, _, err = rapport("restore", backup, "--state-dir", replica.state)
        self.assertEqual(rc, 0, err)
        replica.start()
        self.assert_same_reads()
        wl.create("C0004")
        wait_drained(self.cl)
        self.assert_same_reads()


if __name__ == "__main__":
    unittest.main()
