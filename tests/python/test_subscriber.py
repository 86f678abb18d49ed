"""The Python package's Subscriber through the real workers: every durable
event exactly once and in seq order, when it falls behind the high-water
marks (the PUB drops; ReadEvents replays), when it starts from a saved
seq, and when its process is killed and started again from the seq it
saved; events filtered by type; DATA_LOSS for events no longer retained."""
import os
import subprocess
import sys
import time
import unittest

from pyharness import HERE, create, harness, rapport, seed

N = 300


class SubscriberTest(unittest.TestCase):
    def setUp(self):
        self.cl = harness.Cluster(start=False)
        self.addCleanup(self.cl.close)
        # The writer's PUB keeps at most 10 events per subscriber.
        self.cl["logwriter"].env["RAPPORT_SNDHWM"] = "10"
        for w in ("logwriter", "interaction", "segment"):
            self.cl[w].start()
        self.c = rapport.Client(run_dir=self.cl.run_dir)
        self.addCleanup(self.c.close)
        seed(self.c)

    def drain(self, sub, n, timeout=30.0):
        out = []
        deadline = time.monotonic() + timeout * harness.TIME_SCALE
        while len(out) < n and time.monotonic() < deadline:
            ev = sub.get(timeout=0.5)
            if ev is not None:
                out.append(ev)
        return out

    def test_behind_the_hwm_recovers_every_event(self):
        with rapport.Subscriber(self.c, after_seq=0, rcvhwm=10, idle_check=10.0) as sub:
            self.wait_live(sub)
            first, replayed = sub.seq, sub.replayed
            # Not reading meanwhile: events of 5 KB overflow the HWMs and the
            # socket buffers between them, and the PUB drops.
            comments = ["%03d " % i + "c" * 246 for i in range(20)]
            for i in range(N):
                self.c.create_interaction(origin=rapport.ia.ORIGIN_CONTACT,
                                          fields=rapport.ia.InteractionFields(
                                              contact_no="K%02d" % (i % 20),
                                              interaction_template_code="call",
                                              comments=comments))
            sub.idle_check = 0.2
            events = self.drain(sub, N)
            self.assertEqual([e.seq for e in events], list(range(first + 1, first + N + 1)))
            self.assertEqual({e.type for e in events}, {"interaction.logged"})
            self.assertEqual([e.entry.entry_no for e in events], [e.seq for e in events])
            print("replayed", sub.replayed - replayed, "of", N)
            self.assertGreater(sub.replayed - replayed, 0, "the log replayed what the PUB dropped")
            self.assertLess(sub.replayed - replayed, N, "what the PUB kept was used")
            self.assertIsNone(sub.get(timeout=0.3), "nothing twice")
            self.assertEqual(sub.seq, first + N)

    def wait_live(self, sub):
        """Events until one comes through the PUB (the SUB is connected)."""
        for _ in range(20):
            replayed = sub.replayed
            create(self.c)
            self.assertEqual(sub.get().seq, sub.seq)
            if sub.replayed == replayed:
                return
        self.fail("no event came through the PUB")

    def test_from_a_saved_seq_and_by_type(self):
        for i in range(5):
            create(self.c)
        self.c.set_entries_canceled(entry_nos=[2], canceled=True)
        with rapport.Subscriber(self.c, after_seq=3, idle_check=0.2) as sub:
            got = self.drain(sub, 3)
        self.assertEqual([(e.seq, e.type) for e in got], [
            (4, "interaction.logged"), (5, "interaction.logged"), (6, "entries.canceled")])
        with rapport.Subscriber(self.c, after_seq=0, types=("entries.",), idle_check=0.2) as sub:
            got = self.drain(sub, 1)
            self.assertIsNone(sub.get(timeout=0.3))
            self.assertEqual([e.seq for e in got], [6])
            self.assertEqual(sub.seq, 6)

    def test_killed_and_restarted_from_its_saved_seq(self):
        path = os.path.join(self.cl.dir, "events.txt")
        proc = self.start_logger(path)
        try:
            for i in range(N):
                create(self.c, contact="K%02d" % (i % 20))
                if i == N // 3:  # kill -9 while it works; 50 events while it is down
                    self.wait_lines(path, 1)
                    proc.kill()
                    proc.wait()
                elif i == N // 3 + 50:
                    proc = self.start_logger(path)
            self.wait_lines(path, N)
            time.sleep(0.5)  # a repeat would come now
        finally:
            proc.kill()
            proc.wait()
        with open(path) as f:
            seqs = [int(line.split()[0]) for line in f]
        self.assertEqual(seqs, list(range(1, N + 1)))

    def test_events_no_longer_retained_raise_data_loss(self):
        lwp = self.cl["logwriter"]
        lwp.stop()
        lwp.env["RAPPORT_CLOCK_SHIFT_DAYS"] = "-10"  # events stamped ten days ago
        lwp.start()
        for _ in range(3):
            create(self.c)
        lwp.stop()
        del lwp.env["RAPPORT_CLOCK_SHIFT_DAYS"]
        lwp.start()  # prunes past event_retention_days (7), keeping the newest
        deadline = time.monotonic() + 30 * harness.TIME_SCALE
        while self.c.read_events(from_seq=1).first_seq != 3:
            self.assertLess(time.monotonic(), deadline, "not pruned")
            time.sleep(0.1)
        with rapport.Subscriber(self.c, after_seq=0) as sub:
            with self.assertRaises(rapport.DataLoss) as cm:
                sub.get(timeout=5)
        self.assertIn("events 1..2 are no longer retained", cm.exception.message)
        with rapport.Subscriber(self.c, after_seq=2) as sub:
            self.assertEqual(sub.get(timeout=5).seq, 3)

    def start_logger(self, path):
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "event_log.py"),
                                 self.cl.run_dir, path], stdout=subprocess.PIPE)
        with proc.stdout:
            self.assertEqual(proc.stdout.readline(), b"ready\n")
        return proc

    def wait_lines(self, path, n):
        deadline = time.monotonic() + 30 * harness.TIME_SCALE
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path) as f:
                    if sum(1 for _ in f) >= n:
                        return
            time.sleep(0.05)
        self.fail("%s: fewer than %d events" % (path, n))


if __name__ == "__main__":
    unittest.main()
