"""LogSegment is all or nothing and happens exactly once, whatever process
dies at whatever step of the fan-out (docs/design.md "Logging a segment").

Each case kills one worker with SIGKILL at a fault point of the code
(RAPPORT_FAULT, see common/daemon.c daemon_fault_point), checks that no part
of the segment is visible while the crash window is open, restarts the
worker without the fault and retries LogSegment with the same request_id,
as a real client would, until it succeeds. Then: exactly one logged
segment, every entry once, the follow-up created once, the segment gone,
one durable segment.logged and no gap in the event log, and no
segment.logged published for a partial attempt."""
import json
import os
import re
import signal
import subprocess
import time
import unittest

import harness
from harness import (TODAY_INT, Cluster, ClusterTest, Unavailable, c, ia, lw, recv_events, sg)

N = 20000          # contacts in the segment
BATCH = 1000       # entries per stream message: 20 batches
CHUNK = 10000      # contacts per import / add request
SEGMENT = "CRASH1"
RID = b"log-crash-1"
SEG_ARGS = ["--set", "log_batch_entries=%d" % BATCH, "--set", "request_timeout_ms=3000"]


class CrashCase(ClusterTest):
    """A cluster with the fault armed in one worker, and a segment of N
    contacts ready to log."""

    FAULT = None  # (worker, fault point)
    WRITER_ARGS = []

    def setUp(self):
        self.cl = Cluster(self.WORKERS, start=False)
        self.cl["segment"].extra_args = list(SEG_ARGS)
        self.cl["logwriter"].extra_args = list(self.WRITER_ARGS)
        if self.FAULT:
            self.cl[self.FAULT[0]].env = {"RAPPORT_FAULT": self.FAULT[1]}
        try:
            for w in self.WORKERS:
                self.cl[w].start()
            self.seed()
        except BaseException:
            self.cl.close()  # tearDown does not run after a failed setUp
            raise

    # ---- set-up ----

    def ix(self, **cmd):
        return self.cl.ok("interaction", ia.InteractionRequest(**cmd), timeout=60)

    def seg(self, **cmd):
        return self.cl.ok("segment", sg.SegmentRequest(**cmd), timeout=60)

    def seed(self):
        self.ix(put_group=ia.InteractionGroup(code="G1", description="Letters"))
        self.ix(put_campaign=ia.Campaign(no="CP1", description="Spring"))
        self.ix(put_salesperson=ia.Salesperson(code="SP1", name="Sales"))
        self.ix(put_template=ia.InteractionTemplate(
            code="MAIL", description="Mailing", interaction_group_code="G1",
            unit_cost_cents=150, unit_duration_min=5,
            correspondence_type=c.CORRESPONDENCE_TYPE_HARD_COPY))
        self.contacts = ["C%06d" % i for i in range(N)]
        for first in range(0, N, CHUNK):
            self.ix(import_contacts=ia.ImportContacts(contacts=[
                ia.Contact(no=no, name="n", type=c.CONTACT_TYPE_PERSON, salesperson_code="SP1")
                for no in self.contacts[first:first + CHUNK]]))
        self.seg(set_numbering=sg.SegmentNumbering(prefix="FU", next=1, width=4))
        self.seg(create_segment=sg.CreateSegment(no=SEGMENT, fields=sg.SegmentFields(
            description="Crash mailing", salesperson_code="SP1", campaign_no="CP1",
            interaction_template_code="MAIL")))
        for first in range(0, N, CHUNK):
            rep = self.seg(add_contacts=sg.AddContacts(
                segment_no=SEGMENT, contact_nos=self.contacts[first:first + CHUNK]))
            self.assertEqual(rep.added.added, CHUNK)
        self.sub = self.cl.subscribe(b"segment.")

    # ---- the log request ----

    def request(self):
        return sg.SegmentRequest(request_id=RID, user_id="crash", log_segment=sg.LogSegment(
            segment_no=SEGMENT, create_follow_up=True))

    def send_log(self):
        self.cl.send_raw("segment", [self.request().SerializeToString()])

    def retry_until_ok(self, deadline_s=60.0):
        """Resend the same request until it succeeds; UNAVAILABLE ("being
        logged, retry") and silence are what a client may see meanwhile."""
        deadline = time.monotonic() + harness.scaled(deadline_s)
        while time.monotonic() < deadline:
            try:
                rep = self.cl.call("segment", self.request(), timeout=10, retry=1.0)
            except Unavailable:
                self.cl.reset_sock("segment")
                continue
            if rep.status.code == c.OK:
                return rep
            self.assertEqual(c.StatusCode.Name(rep.status.code), "UNAVAILABLE",
                             rep.status.message)
            time.sleep(0.5)
        self.fail("LogSegment did not succeed within %.0f s" % deadline_s)

    def wait_killed(self, worker, point):
        w = self.cl[worker]
        try:
            w.proc.wait(30 * harness.TIME_SCALE)
        except subprocess.TimeoutExpired:
            pass  # reported below
        self.assertFalse(w.alive(), "%s did not die at %s" % (worker, point))
        self.assertEqual(w.proc.returncode, -signal.SIGKILL)
        w.kill()  # reap, close the log
        self.assertIn("fault injection: killed at %s" % point.split(":")[0], w.logtext())

    def restart(self, worker):
        w = self.cl[worker]
        w.env = {}
        w.start()
        self.cl.reset_sock(worker)

    def assert_resumed(self):
        """The restarted segment worker found the log in LOGGING."""
        self.assertIn("segment %s was being logged: resuming" % SEGMENT,
                      self.cl["segment"].logtext())

    def assert_writer_had_part(self):
        """The restarted writer found part of the segment written (and
        kept it invisible). With group commit and a credit of 16 batches,
        the commit holding the fifth batch may hold all of them: then every
        entry is there, still without the Commit."""
        m = re.search(r"is unfinished \((\d+) of (\d+) entries\)", self.cl["logwriter"].logtext())
        self.assertIsNotNone(m, "the writer did not report an unfinished segment log")
        self.assertEqual(int(m.group(2)), N)
        self.assertTrue(0 < int(m.group(1)) <= N, m.group(0))

    # ---- queries ----

    def lw_ok(self, **cmd):
        return self.cl.ok("logwriter", lw.LogRequest(**cmd), timeout=30)

    def entries(self, **f):
        out, after = [], 0
        while True:
            rep = self.lw_ok(list_entries=lw.ListEntries(filter=lw.EntryFilter(**f), after=after,
                                                         limit=1000))
            out.extend(rep.entries.entries)
            if not rep.entries.next_after:
                return out
            after = rep.entries.next_after

    def visible(self):
        """(entries of the segment, logged segments of it) as queries see them."""
        es = self.entries(segment_no=SEGMENT)
        ls = self.lw_ok(list_logged_segments=lw.ListLoggedSegments(
            segment_no=SEGMENT)).logged_segments.logged_segments
        return len(es), len(ls)

    def assert_window(self, committed):
        """No part of the segment is visible: none of it, or (after the
        writer's commit) all of it."""
        self.assertEqual(self.visible(), (N, 1) if committed else (0, 0))
        self.assertEqual(len(self.entries(contact_no=self.contacts[0])), 1 if committed else 0)
        self.assertEqual(len(self.entries()), N if committed else 0)
        rep = self.cl.call("logwriter", lw.LogRequest(get_entry=lw.GetEntry(entry_no=1)))
        self.assertEqual(rep.status.code, c.OK if committed else c.NOT_FOUND)
        stats = self.lw_ok(statistics=lw.GetEntryStatistics()).statistics.rows
        self.assertEqual([(r.code, r.no_of_interactions) for r in stats],
                         [("MAIL", N)] if committed else [])

    # ---- the end state ----

    def assert_logged_once(self, rep, extra_entries=()):
        got = rep.logged
        self.assertEqual((got.segment_no, got.entry_count, got.follow_up_segment_no),
                         (SEGMENT, N, "FU0001"))
        self.assertEqual(got.last_entry_no - got.first_entry_no + 1, N)
        # exactly one logged segment for the No.
        lss = self.lw_ok(list_logged_segments=lw.ListLoggedSegments(
            segment_no=SEGMENT)).logged_segments.logged_segments
        self.assertEqual([(ls.entry_no, ls.no_of_interactions, ls.canceled) for ls in lss],
                         [(got.logged_segment_no, N, False)])
        # every entry once, consecutive, in line order
        es = self.entries(logged_segment_entry_no=got.logged_segment_no)
        self.assertEqual([e.entry_no for e in es],
                         list(range(got.first_entry_no, got.last_entry_no + 1)))
        self.assertEqual([e.contact_no for e in es], self.contacts)
        self.assertEqual({e.campaign_entry_no for e in es},
                         {got.campaign_entries[0].entry_no})
        everything = self.entries()
        self.assertEqual(len(everything), N + len(extra_entries))
        self.assertEqual(len({e.entry_no for e in everything}), len(everything))
        stats = self.lw_ok(statistics=lw.GetEntryStatistics()).statistics.rows
        self.assertEqual({r.code: (r.no_of_interactions, r.cost_cents) for r in stats}["MAIL"],
                         (N, 150 * N))
        ces = self.lw_ok(list_campaign_entries=lw.ListCampaignEntries()).campaign_entries
        self.assertEqual([(ce.register_no, ce.no_of_entries) for ce in ces.campaign_entries],
                         [(got.logged_segment_no, N)])
        # the segment is gone, the follow-up exists once
        rep_get = self.cl.call("segment", sg.SegmentRequest(get_segment=sg.SegmentRef(
            segment_no=SEGMENT)))
        self.assertEqual(rep_get.status.code, c.NOT_FOUND)
        segs = self.seg(list_segments=sg.ListSegments()).segments.segments
        self.assertEqual([(s.no, s.no_of_lines, s.logging) for s in segs], [("FU0001", N, False)])
        self.assertEqual(self.seg(get_numbering=sg.GetNumbering()).numbering.next, 2)
        fl = self.cl.ok("segment", sg.SegmentRequest(list_lines=sg.ListLines(
            segment_no="FU0001", after=N * 10000 - 20000, limit=10))).lines.lines
        self.assertEqual([l.contact_no for l in fl], self.contacts[-2:])
        # the durable event log: one segment.logged, no gap
        events = self.cl.read_events()
        self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
        logged = [e for e in events if e.type == "segment.logged"]
        self.assertEqual(len(logged), 1)
        self.assertEqual(logged[0].segment_logged, got)
        # a subscriber connected throughout saw no segment.logged but this
        # one (it may have missed it while the writer was down: ReadEvents)
        live = [ev for t, ev in recv_events(self.sub, 100, timeout=1.0)
                if t == "segment.logged"]
        self.assertLessEqual(len(live), 1)
        for ev in live:
            self.assertEqual(ev.segment_logged, got)
        # and the same request once more: the identical reply
        data = self.request().SerializeToString()
        self.cl.send_raw("segment", [data])
        again = sg.SegmentReply()
        again.ParseFromString(self.cl.recv_raw("segment", 30)[-1])
        self.assertEqual(again, rep)


class NoFaultTest(CrashCase):
    """The baseline: the same segment logged without a crash."""

    def test_logs_once(self):
        self.send_log()
        rep = self.retry_until_ok()
        self.assert_logged_once(rep)


class SegmentBeforeStreamTest(CrashCase):
    FAULT = ("segment", "segment.before_stream")

    def test_killed_after_persisting_logging(self):
        self.send_log()
        self.wait_killed("segment", self.FAULT[1])
        self.assert_window(committed=False)
        self.restart("segment")
        self.assert_resumed()
        self.assert_logged_once(self.retry_until_ok())


class SegmentMidStreamTest(CrashCase):
    FAULT = ("segment", "segment.mid_stream:5")

    def test_killed_after_the_fifth_batch_ack(self):
        self.send_log()
        self.wait_killed("segment", self.FAULT[1])
        self.assert_window(committed=False)
        self.restart("segment")
        self.assert_resumed()
        self.assert_logged_once(self.retry_until_ok())


class SegmentFirstBatchTest(CrashCase):
    FAULT = ("segment", "segment.mid_stream")

    def test_killed_after_the_first_batch_ack(self):
        self.send_log()
        self.wait_killed("segment", self.FAULT[1])
        self.assert_window(committed=False)
        self.restart("segment")
        self.assert_resumed()
        self.assert_logged_once(self.retry_until_ok())


class SegmentAfterCommitTest(CrashCase):
    FAULT = ("segment", "segment.after_commit")

    def test_killed_after_the_writers_commit(self):
        self.send_log()
        self.wait_killed("segment", self.FAULT[1])
        self.assert_window(committed=True)
        self.restart("segment")
        self.assert_resumed()
        self.assert_logged_once(self.retry_until_ok())


class SegmentAfterDurableReplyTest(CrashCase):
    """With reply_when_durable the client is answered at the writer's commit,
    before the follow-up is written: the answer is recorded first, so a
    kill right after it (the reply may or may not have left) loses nothing.
    The restarted worker writes the follow-up and finishes once, and the
    retry gets the same answer."""
    FAULT = ("segment", "segment.after_commit")

    def request(self):
        req = super().request()
        req.log_segment.reply_when_durable = True
        return req

    def test_killed_after_the_durable_reply(self):
        self.send_log()
        self.wait_killed("segment", self.FAULT[1])
        self.assert_window(committed=True)
        self.restart("segment")
        self.assert_resumed()
        self.assertIn("after its commit", self.cl["segment"].logtext())
        rep = self.retry_until_ok()
        # the follow-up appears by itself; then everything is there once
        deadline = time.monotonic() + 30 * harness.TIME_SCALE
        while self.cl.call("segment", sg.SegmentRequest(get_segment=sg.SegmentRef(
                segment_no=SEGMENT))).status.code == c.OK:
            self.assertLess(time.monotonic(), deadline, "the segment was never finished")
            time.sleep(0.1)
        self.assert_logged_once(rep)
        self.assertEqual(self.cl.call("segment", self.request()).SerializeToString(),
                         rep.SerializeToString())


class WriterCase(CrashCase):
    def crash_writer(self, committed):
        self.send_log()
        self.wait_killed("logwriter", self.FAULT[1])
        # Hold the segment worker so that it cannot resend before we look.
        self.cl["segment"].signal(signal.SIGSTOP)
        try:
            self.restart("logwriter")
            self.assert_window(committed)
            # single interactions keep flowing; they take numbers after the
            # segment's reserved range
            e = self.lw_ok(write_entry=lw.WriteEntry(entry=c.Entry(
                contact_no=self.contacts[0], date=TODAY_INT, description="single",
                interaction_template_code="CALL", interaction_group_code="G2"))).entry
            self.assertEqual(e.entry_no, N + 1)
        finally:
            self.cl["segment"].signal(signal.SIGCONT)
        rep = self.retry_until_ok()
        self.assert_logged_once(rep, extra_entries=[e])
        self.assertEqual((rep.logged.first_entry_no, rep.logged.last_entry_no), (1, N))


class WriterMidStreamTest(WriterCase):
    FAULT = ("logwriter", "logwriter.mid_stream:5")

    def test_writer_killed_after_committing_the_fifth_batch(self):
        self.crash_writer(committed=False)
        self.assert_writer_had_part()


class WriterAfterCommitTest(WriterCase):
    FAULT = ("logwriter", "logwriter.after_commit")

    def test_writer_killed_after_commit_before_ack(self):
        self.crash_writer(committed=True)


class WriterMidIndexTest(CrashCase):
    """After its Commit (answered: the log is durable) the writer builds the
    contact index in steps, the log invisible until the last one. Killed
    between two steps, the restarted writer finishes the index before it
    serves: the log is visible whole, never in part, and the segment worker
    (waiting for the log to show) finishes it exactly once."""
    FAULT = ("logwriter", "logwriter.mid_index:2")
    WRITER_ARGS = ["--set", "index_chunk_entries=%d" % (N // 5)]

    def test_writer_killed_while_indexing(self):
        self.send_log()
        self.wait_killed("logwriter", self.FAULT[1])
        self.restart("logwriter")
        self.assert_window(committed=True)
        self.assertIn("its index built for %d of %d entries" % (2 * N // 5, N),
                      self.cl["logwriter"].logtext())
        self.assert_logged_once(self.retry_until_ok())


class WhenDurableTest(CrashCase):
    """`rapport segment log --when-durable` is answered at the log's commit,
    before the log is visible: here the writer dies at its first index
    step after the commit, so the log never became visible, and the command
    has succeeded all the same. The restarted writer finishes the index and
    a retry of the same request id gets the same answer."""
    FAULT = ("logwriter", "logwriter.mid_index:1")
    WRITER_ARGS = ["--set", "index_chunk_entries=%d" % (N // 5)]

    def test_cli_answered_before_visible(self):
        p = subprocess.run(
            [os.path.join(harness.BIN_DIR, "rapport"), "--run-dir", self.cl.run_dir, "--json",
             "--user", "crash", "--request-id", RID.decode(), "--timeout", "60000",
             "segment", "log", SEGMENT, "--follow-up", "--when-durable"],
            capture_output=True, timeout=120,
            env=dict(os.environ, RAPPORT_CONFIG="/dev/null"))
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        doc = json.loads(p.stdout)
        self.assertEqual((doc["segment_no"], doc["entry_count"], doc["follow_up_segment_no"]),
                         (SEGMENT, N, "FU0001"))
        self.wait_killed("logwriter", self.FAULT[1])
        self.restart("logwriter")
        self.assert_logged_once(self.retry_until_ok())


class GracefulStopTest(CrashCase):
    """SIGTERM while a log runs: the worker finishes what it holds and exits
    0; LOGGING, if stored, is resumed at the next start."""

    def test_sigterm_during_the_log(self):
        self.send_log()
        # the writer publishes progress once it has taken the log's first batch
        first = recv_events(self.sub, 1, timeout=30)
        self.assertEqual([t for t, _ in first], ["segment.log.progress"])
        self.assertEqual(self.cl["segment"].stop(timeout=harness.scaled(60)), 0)
        self.restart("segment")
        self.assert_logged_once(self.retry_until_ok())


class BothCrashTest(CrashCase):
    """The writer dies mid-stream, and the segment worker dies at its
    resumed stream's first ack: two restarts, still exactly once."""
    FAULT = ("logwriter", "logwriter.mid_stream:3")

    def test_writer_then_segment_worker(self):
        self.send_log()
        self.wait_killed("logwriter", self.FAULT[1])
        seg = self.cl["segment"]
        seg.kill()
        seg.env = {"RAPPORT_FAULT": "segment.mid_stream:2"}
        seg.start()  # resumes the log, which waits for the writer
        self.cl.reset_sock("segment")
        self.restart("logwriter")
        self.wait_killed("segment", "segment.mid_stream:2")
        self.assert_window(committed=False)
        self.restart("segment")
        self.assert_resumed()
        self.assert_logged_once(self.retry_until_ok())


if __name__ == "__main__":
    unittest.main()
