"""The Python examples (examples/python/) run against the real workers:
record_csv.py records one interaction per CSV line, reports a refused line
with its code and field, and records nothing twice when run again;
segment_entries.py prints every logged segment's entries exactly once
across a kill -9 and a restart, a partly printed segment included."""
import os
import signal
import subprocess
import sys
import time
import unittest

from pyharness import HERE, create, harness, rapport, seed

EXAMPLES = os.path.join(HERE, "..", "..", "examples", "python")
SG = rapport.sg


class ExamplesTest(harness.ClusterTest):
    def setUp(self):
        super().setUp()
        self.c = rapport.Client(run_dir=self.cl.run_dir)
        self.addCleanup(self.c.close)
        seed(self.c, contacts=100)
        self.env = dict(os.environ, RAPPORT_CONFIG="/dev/null", RAPPORT_RUN_DIR=self.cl.run_dir,
                        PYTHONPATH=os.environ.get("RAPPORT_PY_PROTO", "build/py"))

    def example(self, name, *args, **kw):
        return subprocess.run([sys.executable, os.path.join(EXAMPLES, name)] + list(args),
                              env=self.env, capture_output=True, timeout=120, **kw)

    def test_record_csv(self):
        """1,200 lines (three pipelined chunks) and a refused one."""
        path = os.path.join(self.cl.dir, "calls.csv")
        contacts = {}
        with open(path, "w") as f:
            f.write("contact_no,template_code,description\n")
            for i in range(1200):
                contacts[i + 2] = "K%02d" % (i % 100)
                f.write("%s,call,%s\n" % (contacts[i + 2], "Call %d" % i if i % 2 else ""))
            f.write("NOPE,call,\n")
        p = self.example("record_csv.py", "--user", "csv", path)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stderr.decode().splitlines(), [
            "line 1202: NOT_FOUND: The Contact does not exist. Identification fields and values: "
            "No.='NOPE' (field create_interaction.fields.contact_no)"])
        first = p.stdout.decode().splitlines()
        self.assertEqual(len(first), 1200)
        entries = {e.entry_no: e for e in self.cl.all_entries()}
        self.assertEqual(len(entries), 1200)
        for line in first:
            n, entry_no = (int(x) for x in line.replace("line ", "").split(": entry "))
            e = entries.pop(entry_no)
            self.assertEqual((e.contact_no, e.user_id), (contacts[n], "csv"))
            self.assertEqual(e.description, "Call %d" % (n - 2) if n % 2 else "Phone call")
        self.assertEqual(entries, {}, "one entry per line")
        again = self.example("record_csv.py", "--user", "csv", path)
        self.assertEqual(again.stdout.decode().splitlines(), first, "the same replies")
        self.assertEqual(len(self.cl.all_entries()), 1200, "nothing recorded twice")

    def log_segment(self, no, contacts):
        self.c.create_segment(no=no, fields=SG.SegmentFields(
            description=no, salesperson_code="JO", interaction_template_code="call"))
        self.c.add_contacts(segment_no=no, contact_nos=["K%02d" % i for i in contacts])
        return self.c.log_segment(segment_no=no, timeout=60)

    def start_printer(self, out):
        return subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "segment_entries.py"),
                                 "--output", out], env=self.env)

    def test_segment_entries_across_a_restart(self):
        out = os.path.join(self.cl.dir, "segments.txt")
        proc = self.start_printer(out)
        try:
            logged = [self.log_segment("S1", range(40))]
            self.wait_for(out, b"%d end\n" % self.seq_of(logged[0]))
            proc.kill()
            proc.wait()
            logged.append(self.log_segment("S2", range(10, 60)))
            create(self.c)  # an event the printer passes over
            # A segment printed in part when the printer died: cut, printed again.
            with open(out, "ab") as f:
                part = (self.seq_of(logged[1]), logged[1].logged_segment_no)
                f.write(b"%d %d 1 K00\n%d %d 2" % (part * 2))
            proc = self.start_printer(out)
            logged.append(self.log_segment("S3", range(100)))
            self.wait_for(out, b"%d end\n" % self.seq_of(logged[2]))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(30), 0)
        finally:
            proc.kill()
            proc.wait()
        want = []
        for lg in logged:
            seq = self.seq_of(lg)
            want += [b"%d %d %d %s" % (seq, lg.logged_segment_no, e.entry_no, e.contact_no.encode())
                     for e in self.cl.all_entries()
                     if e.logged_segment_entry_no == lg.logged_segment_no]
            want.append(b"%d end" % seq)
        with open(out, "rb") as f:
            self.assertEqual(f.read().splitlines(), want)

    def seq_of(self, logged):
        return next(e.seq for e in self.cl.read_events(type_prefix="segment.logged")
                    if e.segment_logged.logged_segment_no == logged.logged_segment_no)

    def wait_for(self, path, tail):
        deadline = time.monotonic() + 30 * harness.TIME_SCALE
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path, "rb") as f:
                    if f.read().endswith(tail):
                        return
            time.sleep(0.05)
        self.fail("%s does not end with %r" % (path, tail))


if __name__ == "__main__":
    unittest.main()
