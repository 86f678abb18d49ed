"""The C examples of librapport (examples/c/) against the real workers:

- rapport-example-csv records an interaction for every line of a CSV file,
  reports a refused line with its field, and a second run with the same run
  id records nothing twice;
- rapport-example-segments prints each logged segment's entries, and killed
  and restarted while segments are logged, still prints every one exactly once."""
import os
import subprocess
import tempfile
import threading
import time

from harness import BIN_DIR, TIME_SCALE, ClusterTest, lw, sg
from test_librapport import WRAPPER, seed, tool_env

CSV = os.path.join(BIN_DIR, "rapport-example-csv")
SEGMENTS = os.path.join(BIN_DIR, "rapport-example-segments")


class TestExamples(ClusterTest):
    def setUp(self):
        super().setUp()
        seed(self.cl, contacts=["P%d" % i for i in range(6)])
        self.dir = tempfile.mkdtemp(prefix="rapport-examples-")

    def tearDown(self):
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)
        super().tearDown()

    def run_csv(self, *args):
        p = subprocess.run(WRAPPER + [CSV] + list(args), capture_output=True,
                           env=tool_env(self.cl), timeout=60 * TIME_SCALE)
        return p.returncode, p.stdout.decode()

    def test_csv_records_every_line_once(self):
        path = os.path.join(self.dir, "calls.csv")
        with open(path, "w") as f:
            f.write("# contact,template,description\nP1,CALL,first call\nP2,CALL,second\n"
                    "P3,NOPE,bad template\nP4,CALL,fourth\n")
        rc, out = self.run_csv(path, "import-1")
        entries = self.cl.all_entries()
        self.assertEqual(rc, 1, out)
        self.assertEqual([(e.contact_no, e.description) for e in entries],
                         [("P1", "first call"), ("P2", "second"), ("P4", "fourth")])
        lines = out.splitlines()
        self.assertEqual(lines[0], "line 2: entry %d" % entries[0].entry_no)
        self.assertTrue(lines[2].startswith("line 4: ") and
                        lines[2].endswith(" - field create_interaction.fields."
                                          "interaction_template_code"), lines[2])
        # The same file and run id again: answered, nothing recorded twice.
        rc2, out2 = self.run_csv(path, "import-1")
        self.assertEqual((rc2, out2), (rc, out))
        self.assertEqual(len(self.cl.all_entries()), 3)

    def log_segment(self, contacts):
        def seg(timeout=10.0, **kw):
            return self.cl.ok("segment", sg.SegmentRequest(**kw), timeout=timeout)

        no = seg(create_segment=sg.CreateSegment(fields=sg.SegmentFields(
            description="mailing", interaction_template_code="CALL"))).segment.no
        seg(add_contacts=sg.AddContacts(segment_no=no, contact_nos=contacts))
        return seg(log_segment=sg.LogSegment(segment_no=no), timeout=60).logged.logged_segment_no

    def test_segment_subscriber_survives_restarts(self):
        self.cl.ok("segment", sg.SegmentRequest(set_numbering=sg.SegmentNumbering(
            prefix="SEG", next=1, width=3)))
        out = os.path.join(self.dir, "segments.out")
        logged = []

        def producer():
            for i in range(8):
                logged.append(self.log_segment(["P%d" % ((i + k) % 6) for k in range(3)]))

        t = threading.Thread(target=producer)
        t.start()
        try:
            for _ in range(3):
                p = subprocess.Popen(WRAPPER + [SEGMENTS, out], env=tool_env(self.cl),
                                     stdout=subprocess.DEVNULL)
                time.sleep(0.5 * TIME_SCALE)
                p.kill()
                p.wait()
        finally:
            t.join()
        self.assertEqual(len(logged), 8)
        last = self.cl.read_events()[-1].seq
        p = subprocess.run(WRAPPER + [SEGMENTS, out, str(last)], env=tool_env(self.cl),
                           timeout=60 * TIME_SCALE)
        self.assertEqual(p.returncode, 0)
        want = []
        for e in self.cl.read_events(type_prefix="segment.logged"):
            no = e.segment_logged.logged_segment_no
            rep = self.cl.ok("logwriter", lw.LogRequest(list_entries=lw.ListEntries(
                filter=lw.EntryFilter(logged_segment_entry_no=no), limit=1000)))
            want += ["%d %d %d %s" % (e.seq, no, x.entry_no, x.contact_no)
                     for x in rep.entries.entries]
            want.append("%d end" % e.seq)
        with open(out) as f:
            got = f.read().splitlines()
        self.assertEqual(got, want)
        self.assertEqual(sum(1 for line in got if line.endswith(" end")), 8)


if __name__ == "__main__":
    import unittest
    unittest.main()
