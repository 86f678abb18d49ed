"""rapport-relay against one real JetStream server (nats-server on a free
loopback port, in the test's temp dir) and the real workers: the mixed
workload appears in the stream exactly once, in seq order, every record as
the writer showed it right after its seq; subjects, headers and the
subject filter of one contact; the configuration the relay refuses; a
relay killed at random points and NATS stopped, with the lag draining by
itself."""
import os
import random
import signal
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from changes_workload import (Workload, check_stream, replay, subject_token,  # noqa: E402
                              writer_state)
from harness import BIN_DIR, TIME_SCALE, Cluster, Worker, c, lw  # noqa: E402
from nats_harness import Nats, as_changes, have_nats  # noqa: E402

SKIP = 77


def stats(cl):
    rep = cl.ok("logwriter", lw.LogRequest(stats=c.GetStats()))
    return {g.name: g.value for g in rep.stats.gauges}


def wait_for(what, probe, timeout=60.0):
    deadline = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < deadline:
        v = probe()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def wait_drained(cl, timeout=120.0):
    """The writer's rapport_relay_lag_events back to 0."""
    def probe():
        g = stats(cl)
        return g.get("rapport_relay_lag_events") == 0 and \
            g.get("rapport_relay_last_confirmed_seq", 0) > 0
    wait_for("the relay's lag to drain", probe, timeout)


class RelayKiller(threading.Thread):
    """kill -9 the relay at random moments (and start it again) while the
    main thread runs the workload."""

    def __init__(self, relay, kills, max_gap=1.5):
        super().__init__(daemon=True)
        self.relay, self.n, self.max_gap = relay, kills, max_gap
        self.rnd = random.Random(int(os.environ.get("RAPPORT_TEST_SEED", "10")))
        self.kills = 0

    def run(self):
        for _ in range(self.n):
            time.sleep(self.rnd.uniform(0.05, self.max_gap))
            self.relay.proc.send_signal(signal.SIGKILL)
            self.relay.proc.wait()
            self.kills += 1
            self.relay.start(wait=False)


class RelayCase(unittest.TestCase):
    NODES = 1
    REPLICAS = 1
    ENV = {}  # more settings of the workers

    def setUp(self):
        self.cl = Cluster(start=False)
        self.nats = Nats(self.cl.dir, self.NODES).start()
        self.cl.env.update({"RAPPORT_NATS_URL": self.nats.url,
                            "RAPPORT_NATS_REPLICAS": str(self.REPLICAS)}, **self.ENV)
        for w in self.cl.workers.values():
            w.start()
        self.relay = Worker(self.cl, "relay")
        self.cl.workers["relay"] = self.relay

    def tearDown(self):
        try:
            self.cl.close()
        finally:
            self.nats.kill()

    def start_relay(self):
        self.relay.start(wait=False)
        wait_for("the stream", lambda: self.stream_exists())

    def stream_exists(self):
        if not self.relay.alive():
            raise AssertionError("rapport-relay exited:\n" + self.relay.logtext())
        try:
            self.nats.info(timeout=0)
            return True
        except AssertionError:
            return False

    def check(self, wl, last):
        msgs = self.nats.messages()
        # Exactly once, in order: stream sequences 1..n, no gaps.
        self.assertEqual([m["stream_seq"] for m in msgs], list(range(1, len(msgs) + 1)))
        changes = as_changes(msgs)
        check_stream(self, changes, wl.states, last)
        # Replayed, the stream gives exactly the writer's records now.
        state, _ = replay(changes)
        want = writer_state(self.cl)
        self.assertEqual(sorted(state), sorted(want))
        self.assertTrue(all(state[k] == want[k] for k in want))
        return msgs


@unittest.skipUnless(have_nats(), "nats-server is not installed")
class RelayTest(RelayCase):
    def test_mixed_workload_exactly_once_with_records_as_of_their_seq(self):
        self.start_relay()
        wl = Workload(self.cl)
        last = wl.run()
        wait_drained(self.cl)
        msgs = self.check(wl, last)
        info = self.nats.info()
        self.assertEqual(info["subjects"], "rapport.v1.>")
        self.assertEqual(info["last_seq"], len(msgs))
        store = None
        for m in msgs:
            h = m["headers"]
            seq, part = int(h["Rapport-Seq"]), int(h["Rapport-Part"])
            sid = h["Nats-Msg-Id"].split(":")
            store = store or sid[0]
            self.assertEqual(sid, [store, str(seq)] + ([str(part)] if part else []))
            self.assertEqual(len(store), 16)
            kind = m["subject"].split(".")[2]
            if kind == "event":
                ev = c.Event()
                ev.ParseFromString(m["data"])
                self.assertEqual(m["subject"], "rapport.v1.event." + ev.type)
                self.assertEqual(h["Rapport-Type"], ev.type)
            elif kind == "entry":
                e = c.Entry()
                e.ParseFromString(m["data"])
                self.assertEqual(m["subject"], "rapport.v1.entry." + subject_token(e.contact_no))
        # One contact's history by subject: exactly its entries' messages.
        for contact in ("C0001", "K.1 *>"):
            subj = "rapport.v1.entry." + subject_token(contact)
            mine = self.nats.messages(subject=subj)
            want = [m for m in msgs if m["subject"] == subj]
            self.assertTrue(want)
            self.assertEqual([m["stream_seq"] for m in mine], [m["stream_seq"] for m in want])
            for m in mine:
                e = c.Entry()
                e.ParseFromString(m["data"])
                self.assertEqual(e.contact_no, contact)
        self.assertEqual(subject_token("K.1 *>"), "K%2E1%20%2A%3E")
        # SIGTERM drains and exits 0.
        self.assertEqual(self.relay.stop(), 0)

    def subscriber(self, out, durable, subject, idle_exit=None, fault=None):
        args = [os.path.join(BIN_DIR, "rapport-subscriber"), "--server", self.nats.url,
                "--durable", durable, "--filter", subject, "--output", out, "--ack-wait", "1"]
        if idle_exit:
            args += ["--idle-exit", str(idle_exit)]
        env = dict(os.environ)
        if fault:
            env["RAPPORT_FAULT"] = fault
        return subprocess.Popen(args, stderr=subprocess.PIPE, env=env)

    def test_example_subscriber_applies_every_message_once(self):
        self.start_relay()
        wl = Workload(self.cl)
        wl.run(big=5000)
        wait_drained(self.cl)
        msgs = self.nats.messages()
        rnd = random.Random(3)
        for subject, durable in (("rapport.v1.>", "all"),
                                 ("rapport.v1.entry." + subject_token("C0001"), "c0001")):
            want = [(int(m["headers"]["Rapport-Seq"]), int(m["headers"]["Rapport-Part"]),
                     m["subject"]) for m in msgs
                    if subject == "rapport.v1.>" or m["subject"] == subject]
            out = os.path.join(self.cl.dir, durable + ".txt")
            # Killed between fetching a batch and applying it (it must come
            # again before anything later), between applying a batch and
            # acking it (redelivered: skipped), kill -9 at random, then run
            # until idle.
            for fault in ("subscriber.after_fetch", "subscriber.before_ack"):
                p = self.subscriber(out, durable, subject, fault=fault)
                self.assertEqual(p.wait(60), -signal.SIGKILL)
                p.stderr.close()
            for _ in range(2):
                p = self.subscriber(out, durable, subject)
                time.sleep(rnd.uniform(0.05, 0.4))
                p.kill()
                p.wait()
                p.stderr.close()
            p = self.subscriber(out, durable, subject, idle_exit=3)
            _, err = p.communicate(timeout=120 * TIME_SCALE)
            self.assertEqual(p.returncode, 0, err.decode())
            with open(out) as f:
                got = [(int(a), int(b), c) for a, b, c in (l.split()[:3] for l in f)]
            self.assertEqual(got, want, subject)

    def test_the_readme_nats_permissions(self):
        """README "A NATS server configuration": the relay's user publishes and
        manages the stream, a subscriber user only consumes."""
        with open(os.path.join(os.environ.get("RAPPORT_SOURCE_DIR", os.path.join(
                HERE, "..", "..")), "README.md")) as f:
            readme = f.read()
        block = readme.split("### A NATS server configuration")[1].split("```")[1]
        conf = block.replace("jetstream { store_dir: /var/lib/nats }", "")
        conf = conf.replace('password: "$2a$11$...bcrypt...",', 'password: "relay-pw",')
        conf = conf.replace('password: "$2a$11$...",', 'password: "billing-pw",')
        self.assertNotIn("$2a$", conf)
        self.nats.kill()
        node = self.nats.nodes[0]
        node.extra_conf = conf
        node.start()
        self.nats.wait_healthy()
        self.relay.env.update({"RAPPORT_NATS_USER": "rapport-relay",
                               "RAPPORT_NATS_PASSWORD": "relay-pw"})
        self.relay.start(wait=False)
        wl = Workload(self.cl)
        wl.create_catalog_and_one()
        wait_drained(self.cl)
        # The subscriber's user consumes everything...
        url = "nats://billing:billing-pw@127.0.0.1:%d" % node.port
        out = os.path.join(self.cl.dir, "billing.txt")
        p = subprocess.Popen([os.path.join(BIN_DIR, "rapport-subscriber"), "--server", url,
                              "--durable", "billing", "--filter", "rapport.v1.>", "--output",
                              out, "--idle-exit", "2"], stderr=subprocess.PIPE)
        _, err = p.communicate(timeout=60 * TIME_SCALE)
        self.assertEqual(p.returncode, 0, err.decode())
        with open(out) as f:
            self.assertEqual(len(f.readlines()), wl.last_seq() * 2)  # event + entry each
        # ... and may neither publish nor make streams; the relay's may not consume.
        for user in ("billing:billing-pw", "rapport-relay:relay-pw"):
            bad = subprocess.run([os.path.join(BIN_DIR, "rapport-natsdump"),
                                  "nats://%s@127.0.0.1:%d" % (user, node.port), "EVIL", "create",
                                  "rapport.v2.>"], capture_output=True)
            self.assertNotEqual(bad.returncode, 0, user)
        p = subprocess.run([os.path.join(BIN_DIR, "rapport-subscriber"), "--server",
                            "nats://rapport-relay:relay-pw@127.0.0.1:%d" % node.port,
                            "--durable", "relay", "--output", os.path.join(self.cl.dir, "r.txt"),
                            "--idle-exit", "1"], capture_output=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)

    def test_a_writer_restored_from_a_backup_is_behind_the_stream(self):
        self.start_relay()
        wl = Workload(self.cl)
        wl.create_catalog_and_one()
        backup = os.path.join(self.cl.dir, "backup")
        env = dict(os.environ, RAPPORT_CONFIG="/dev/null")
        rapport = os.path.join(BIN_DIR, "rapport")
        subprocess.run([rapport, "backup", backup, "--state-dir", self.cl.state_dir], env=env,
                       check=True, capture_output=True)
        wl.create("C0002")
        wl.create("C0003")
        wait_drained(self.cl)
        n = self.nats.info()["msgs"]
        for w in ("segment", "interaction", "logwriter"):
            self.cl[w].stop()
        subprocess.run([rapport, "restore", backup, "--state-dir", self.cl.state_dir], env=env,
                       check=True, capture_output=True)
        for w in ("logwriter", "interaction", "segment"):
            self.cl[w].start()
        wl.create("C0004")  # seq 2 again, in the restored store
        wait_for("the relay's error", lambda: "ahead of the log writer" in self.relay.logtext())
        # It published nothing for the reused seq, and keeps running.
        self.assertEqual(self.nats.info()["msgs"], n)
        self.assertTrue(self.relay.alive())

    def test_unconfirmed_events_are_kept_and_the_hard_limit_makes_a_gap(self):
        cl = self.cl
        gauge = lambda name: {g.name: g.value for g in cl.ok("logwriter", lw.LogRequest(
            stats=c.GetStats())).stats.gauges}.get(name)
        counter = lambda name: {k.name: k.value for k in cl.ok("logwriter", lw.LogRequest(
            stats=c.GetStats())).stats.counters}.get(name)
        for w in ("segment", "interaction", "logwriter"):
            cl[w].stop()
        cl.env["RAPPORT_CLOCK_SHIFT_DAYS"] = "-10"  # these events are ten days old
        for w in ("logwriter", "interaction", "segment"):
            cl[w].start()
        wl = Workload(cl)
        wl.create_catalog_and_one()  # seq 1, relayed and confirmed
        self.start_relay()
        wait_drained(cl)
        self.assertEqual(self.relay.stop(), 0)
        for no in ("C0001", "C0002", "C0003"):  # seq 2..4, never relayed
            wl.create(no)
        for w in ("segment", "interaction", "logwriter"):
            cl[w].stop()
        del cl.env["RAPPORT_CLOCK_SHIFT_DAYS"]
        # Past event_retention_days: the confirmed one goes, the others stay.
        cl["logwriter"].start()
        wait_for("a pruning pass", lambda: gauge("rapport_dedup_records") == 0)
        self.assertEqual([e.seq for e in cl.read_events()], [2, 3, 4])
        self.assertEqual(gauge("rapport_relay_lag_events"), 3)
        self.assertEqual(counter("rapport_events_pruned_unrelayed_total"), 0)
        # The hard limit prunes them (all but the newest), loudly.
        cl["logwriter"].stop()
        cl["logwriter"].env = {"RAPPORT_RELAY_HOLD_MAX_DAYS": "8"}
        cl["logwriter"].start()
        wait_for("the hard limit", lambda: counter("rapport_events_pruned_unrelayed_total") == 2)
        self.assertIn("pruned 2 events (seq 2 to 3) that rapport-relay has not published",
                      cl["logwriter"].logtext())
        # The relay publishes the gap, then goes on.
        self.relay.start(wait=False)
        wait_drained(cl)
        got = [(m["subject"].split(".")[2], m["headers"]["Rapport-Seq"],
                m["headers"].get("Rapport-Gap")) for m in self.nats.messages()]
        self.assertEqual(got, [("event", "1", None), ("entry", "1", None), ("gap", "3", "2-3"),
                               ("event", "4", None), ("entry", "4", None)])

    def test_a_second_relay_started_by_mistake_cannot_interleave(self):
        self.start_relay()
        second = Worker(self.cl, "relay")
        second.log_path = os.path.join(self.cl.dir, "relay2.log")
        self.cl.workers["relay2"] = second
        second.start(wait=False)
        wl = Workload(self.cl)
        last = wl.run(big=int(os.environ.get("RAPPORT_RELAY_BIG", "20000")))
        wait_drained(self.cl)
        self.check(wl, last)
        self.assertTrue(self.relay.alive() and second.alive())
        # They raced: a publish the other had stored first was refused (as a
        # duplicate Nats-Msg-Id, or 10071 wrong last sequence past the
        # duplicate window), and the loser read the stream's end again.
        logs = self.relay.logtext() + second.logtext()
        self.assertRegex(logs, "is a duplicate|wrong last sequence")
        self.assertGreater(logs.count("ends at message"), 2)

    def test_refuses_without_nats_url_and_a_stream_that_is_not_ours(self):
        self.relay.env["RAPPORT_NATS_URL"] = ""
        self.relay.start(wait=False)
        self.assertEqual(self.relay.wait_exit(30), 2)
        self.assertIn("nats_url is not set", self.relay.logtext())
        # A stream of that name with other subjects.
        self.nats.natsdump("OTHER", "create", "other.>")
        self.relay.env.update({"RAPPORT_NATS_URL": self.nats.url, "RAPPORT_NATS_STREAM": "OTHER"})
        self.relay.start(wait=False)
        self.assertEqual(self.relay.wait_exit(30), 2)
        self.assertIn("stream OTHER has the subjects 'other.>', not 'rapport.v1.>'",
                      self.relay.logtext())
        # The stream of another store (the writer's env replaced).
        del self.relay.env["RAPPORT_NATS_STREAM"]
        self.start_relay()
        Workload(self.cl).create_catalog_and_one()
        wait_drained(self.cl)
        self.assertEqual(self.relay.stop(), 0)
        self.cl["logwriter"].stop()
        os.rename(os.path.join(self.cl.state_dir, "logwriter"),
                  os.path.join(self.cl.state_dir, "logwriter.old"))
        self.cl["logwriter"].start()
        self.cl.ok("logwriter", lw.LogRequest(confirm_relayed=lw.ConfirmRelayed(seq=0)))
        Workload(self.cl).create("C0001")
        self.relay.start(wait=False)
        self.assertEqual(self.relay.wait_exit(30), 2)
        self.assertIn("holds the changes of store", self.relay.logtext())

    def test_relay_killed_at_random_points_and_nats_stopped(self):
        self.start_relay()
        wl = Workload(self.cl)
        killer = RelayKiller(self.relay, kills=6)
        killer.start()
        try:
            wl.run(big=int(os.environ.get("RAPPORT_RELAY_BIG", "20000")))
        finally:
            killer.join()
        self.assertEqual(killer.kills, 6)
        # NATS down: the writer keeps serving, the lag shows and drains.
        self.nats.stop()
        wl.step(lambda: wl.create("C0009"))
        last = wl.step(lambda: wl.create("C0010")) and wl.last_seq()
        wait_for("the lag to show", lambda: stats(self.cl).get("rapport_relay_lag_events", 0) > 0)
        self.nats.start()
        wait_drained(self.cl)
        self.check(wl, last)
        self.assertTrue(self.relay.alive())


if __name__ == "__main__":
    if not have_nats():
        print("nats-server is not installed: skipped")
        sys.exit(SKIP)
    unittest.main()
