"""Process lifecycle: the systemd notify protocol (READY=1, WATCHDOG=1,
STOPPING=1 in order), graceful shutdown with work in flight, and refusing
to start next to a running twin."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (BIN_DIR, Cluster, ClusterTest, c, ia, lw, metric, packed, recv_events, scaled,
                     sg, wait_for, zmq)


class NotifyTest(unittest.TestCase):
    def test_ready_watchdog_stopping_in_order(self):
        for name in ("logwriter", "interaction", "segment"):
            with self.subTest(worker=name):
                cl = Cluster(workers=(name,), start=False)
                path = os.path.join(cl.dir, "notify.sock")
                ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                ns.bind(path)
                ns.settimeout(10)
                try:
                    w = cl[name]
                    w.env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
                    w.start(wait=False)
                    msgs = []

                    def until(pred, what):
                        deadline = time.monotonic() + 15
                        while time.monotonic() < deadline:
                            try:
                                m = ns.recv(4096).decode()
                            except socket.timeout:
                                break
                            msgs.append(m)
                            if pred(m):
                                return
                        self.fail("%s: no %s in %r\n%s" % (name, what, msgs, w.logtext()))

                    until(lambda m: "READY=1" in m, "READY=1")
                    self.assertIn("STATUS=", msgs[-1])
                    until(lambda m: m == "WATCHDOG=1", "WATCHDOG=1")
                    # the watchdog keeps coming while idle
                    until(lambda m: m == "WATCHDOG=1", "a second WATCHDOG=1")
                    w.signal(signal.SIGTERM)
                    until(lambda m: "STOPPING=1" in m, "STOPPING=1")
                    self.assertEqual(w.proc.wait(20), 0)
                    first_ready = next(i for i, m in enumerate(msgs) if "READY=1" in m)
                    first_wd = msgs.index("WATCHDOG=1")
                    stopping = next(i for i, m in enumerate(msgs) if "STOPPING=1" in m)
                    self.assertLess(first_ready, first_wd)
                    self.assertLess(first_wd, stopping)
                finally:
                    ns.close()
                    cl.close()


class StartupTest(unittest.TestCase):
    def test_second_instance_refuses_and_bad_config_names_file_line_key(self):
        cl = Cluster(workers=("logwriter",))
        try:
            twin = subprocess.run([os.path.join(BIN_DIR, "rapport-logwriter"), "--run-dir",
                                   cl.run_dir, "--state-dir", cl.state_dir],
                                  capture_output=True, timeout=20,
                                  env=dict(os.environ, RAPPORT_CONFIG="/dev/null"))
            self.assertNotEqual(twin.returncode, 0)
            self.assertIn(b"in use", twin.stderr)
            self.assertTrue(cl["logwriter"].alive())
            conf = os.path.join(cl.dir, "bad.conf")
            with open(conf, "w") as f:
                f.write("# ok\nsndhwm = 1000\nbogus_key = 1\n")
            bad = subprocess.run([os.path.join(BIN_DIR, "rapport-logwriter"), "--config", conf],
                                 capture_output=True, timeout=20)
            self.assertEqual(bad.returncode, 2)
            self.assertIn(("%s:3: unknown key 'bogus_key'" % conf).encode(), bad.stderr)
        finally:
            cl.close()


class ConfigErrorTest(unittest.TestCase):
    """A bad configuration stops every worker at its start with exit 2 and a
    message naming where the bad setting came from: the file and line, the
    environment variable, or the flag."""
    WORKERS = ("logwriter", "interaction", "segment", "relay")

    def run_worker(self, name, args=(), env=None):
        p = subprocess.run([os.path.join(BIN_DIR, "rapport-" + name)] + list(args),
                           capture_output=True, timeout=scaled(20),
                           env=dict(os.environ, RAPPORT_CONFIG="/dev/null", **(env or {})))
        return p.returncode, p.stderr.decode(errors="replace")

    def test_every_worker_exits_2_naming_the_setting(self):
        d = tempfile.mkdtemp(prefix="rapport-conf-")
        try:
            conf = os.path.join(d, "bad.conf")
            with open(conf, "w") as f:
                f.write("# ok\nsndhwm = 1000\nbogus_key = 1\n")
            for name in self.WORKERS:
                with self.subTest(worker=name):
                    rc, err = self.run_worker(name, ["--config", conf])
                    self.assertEqual(rc, 2, err)
                    self.assertIn("%s:3: unknown key 'bogus_key'" % conf, err)
                    rc, err = self.run_worker(name, env={"RAPPORT_SNDHWM": "x"})
                    self.assertEqual(rc, 2, err)
                    self.assertIn("environment RAPPORT_SNDHWM: bad value for 'sndhwm'", err)
                    rc, err = self.run_worker(name, ["--set", "batch_max=0"])
                    self.assertEqual(rc, 2, err)
                    self.assertIn("bad value for 'batch_max': '0'", err)
            self.assertEqual(os.listdir(d), ["bad.conf"])  # nothing started anywhere
        finally:
            shutil.rmtree(d)


class WriterGracefulStopTest(ClusterTest):
    """SIGTERM on a log writer that holds a request: a SegmentLogVisible
    waiting for its log's contact index (built index_chunk_entries per loop
    turn). The writer finishes the index, answers and exits 0."""
    WORKERS = ("logwriter",)
    ENV = {"RAPPORT_INDEX_CHUNK_ENTRIES": "10"}
    N = 5000

    def test_sigterm_answers_what_the_writer_holds(self):
        cl = self.cl
        ok = lambda **cmd: cl.ok("logwriter", lw.LogRequest(**cmd), timeout=60)  # noqa: E731
        ok(log_begin=lw.SegmentLogBegin(
            log_id=b"L1", segment_no="S1", description="d", creation_date=20260615,
            line_count=self.N, date=20260615, salesperson_code="SP"))
        for b in range(self.N // 1000):
            ok(log_batch=lw.SegmentLogBatch(log_id=b"L1", index=b * 1000, packed_entries=packed(
                c.Entry(contact_no="K%05d" % k, date=20260615, description="d",
                        interaction_template_code="T") for k in range(b * 1000, b * 1000 + 1000))))
        own = cl.ctx.socket(zmq.DEALER)
        own.setsockopt(zmq.LINGER, 0)
        own.connect(cl.endpoint("logwriter"))
        try:
            own.send(lw.LogRequest(request_id=b"commit", user_id="u",
                                   log_commit=lw.SegmentLogCommit(log_id=b"L1", count=self.N))
                     .SerializeToString())
            commit = lw.LogReply()
            self.assertTrue(own.poll(int(scaled(30) * 1000)))
            commit.ParseFromString(own.recv())
            self.assertEqual((commit.request_id, commit.status.code), (b"commit", c.OK))
            own.send(lw.LogRequest(request_id=b"visible", user_id="u",
                                   log_visible=lw.SegmentLogVisible(log_id=b"L1"))
                     .SerializeToString())
            # the writer holds the visibility request while it builds the index
            wait_for(lambda: metric(ok(stats=c.GetStats()), "rapport_requests_in_flight") == 1,
                     10, "the visibility request held")
            cl["logwriter"].signal(signal.SIGTERM)
            self.assertTrue(own.poll(int(scaled(60) * 1000)), "no answer before the exit")
            visible = lw.LogReply()
            visible.ParseFromString(own.recv())
            self.assertEqual((visible.request_id, visible.status.code), (b"visible", c.OK),
                             visible.status.message)
            self.assertEqual(visible.segment_logged.entry_count, self.N)
            self.assertEqual(cl["logwriter"].proc.wait(scaled(30)), 0)
        finally:
            own.close(0)
        cl["logwriter"].start()
        cl.reset_sock("logwriter")
        ls = ok(get_logged_segment=lw.GetLoggedSegment(entry_no=1)).logged_segment
        self.assertEqual(ls.no_of_interactions, self.N)
        self.assertEqual(len(cl.all_entries()), self.N)


class GracefulStopTest(ClusterTest):
    ENV = {"RAPPORT_LOG_BATCH_ENTRIES": "500", "RAPPORT_LOG_CREDIT": "2"}

    def test_sigterm_finishes_a_segment_log_in_flight(self):
        cl = self.cl
        cl.ok("interaction", ia.InteractionRequest(put_group=ia.InteractionGroup(
            code="G", description="g")))
        cl.ok("interaction", ia.InteractionRequest(put_salesperson=ia.Salesperson(
            code="SP", name="s")))
        cl.ok("interaction", ia.InteractionRequest(put_template=ia.InteractionTemplate(
            code="T", description="t", interaction_group_code="G")))
        n = 30000
        for base in range(0, n, 10000):
            cl.ok("interaction", ia.InteractionRequest(import_contacts=ia.ImportContacts(
                contacts=[ia.Contact(no="C%06d" % i, name="c", type=c.CONTACT_TYPE_PERSON,
                                     salesperson_code="SP") for i in range(base, base + 10000)])))
        cl.ok("segment", sg.SegmentRequest(create_segment=sg.CreateSegment(
            no="BIG", fields=sg.SegmentFields(description="big", salesperson_code="SP",
                                              interaction_template_code="T"))))
        for base in range(0, n, 10000):
            cl.ok("segment", sg.SegmentRequest(add_contacts=sg.AddContacts(
                segment_no="BIG", contact_nos=["C%06d" % i for i in range(base, base + 10000)])),
                timeout=60)
        sub = cl.subscribe(b"segment.")
        req = sg.SegmentRequest(request_id=b"log-big", user_id="u",
                                log_segment=sg.LogSegment(segment_no="BIG"))
        cl.send_raw("segment", [req.SerializeToString()])
        progress = recv_events(sub, 1, timeout=30)
        self.assertEqual(progress[0][0], "segment.log.progress")
        self.assertLess(progress[0][1].progress.done, n)  # caught mid-stream
        cl["segment"].signal(signal.SIGTERM)
        rep = sg.SegmentReply()
        rep.ParseFromString(cl.recv_raw("segment", timeout=60)[-1])
        self.assertEqual(rep.status.code, c.OK, rep.status.message)
        self.assertEqual(rep.logged.entry_count, n)
        self.assertEqual(cl["segment"].proc.wait(60), 0)
        # the writer has all of it, the segment is gone after a restart
        cl["segment"].start()
        cl.reset_sock("segment")
        got = cl.call("segment", sg.SegmentRequest(get_segment=sg.SegmentRef(segment_no="BIG")))
        self.assertEqual(got.status.code, c.NOT_FOUND)
        ls = cl.ok("logwriter", lw.LogRequest(get_logged_segment=lw.GetLoggedSegment(
            entry_no=rep.logged.logged_segment_no))).logged_segment
        self.assertEqual(ls.no_of_interactions, n)

    def test_sigterm_on_writer_acks_what_it_holds_and_exits_zero(self):
        """200 writes, then SIGTERM: the writer answers every request it took
        before it exits 0. A request it never read is silent, and the
        client's retry with the same request_id after the restart applies it
        once. So every request ends with exactly one stored entry, its reply
        (first or retried) names that entry, and an entry the writer stored
        but never acknowledged before exiting is a reply it dropped."""
        cl = self.cl
        reqs = {}
        for i in range(200):
            r = lw.LogRequest(request_id=b"w%d" % i, user_id="u", write_entry=lw.WriteEntry(
                entry=c.Entry(contact_no="C%d" % i, date=20260615, description="x")))
            reqs[r.request_id] = r
            cl.send_raw("logwriter", [r.SerializeToString()])
        cl["logwriter"].signal(signal.SIGTERM)
        self.assertEqual(cl["logwriter"].proc.wait(scaled(30)), 0)
        # What it sent before exiting is in our queue now, or about to be.
        acked = {}
        while cl.sock("logwriter").poll(int(scaled(0.5) * 1000)):
            rep = lw.LogReply()
            rep.ParseFromString(cl.sock("logwriter").recv_multipart()[-1])
            self.assertNotIn(rep.request_id, acked, "two replies to one request")
            self.assertEqual(c.StatusCode.Name(rep.status.code), "OK", rep.status.message)
            acked[rep.request_id] = rep.entry.entry_no
        cl["logwriter"].start()
        cl.reset_sock("logwriter")
        stored = {e.contact_no: e.entry_no for e in cl.all_entries()}
        for rid, no in acked.items():  # nothing acked is lost
            self.assertEqual(stored.get(reqs[rid].write_entry.entry.contact_no), no, rid)
        unacked = [r for rid, r in reqs.items() if rid not in acked]
        dropped = [r.request_id for r in unacked if r.write_entry.entry.contact_no in stored]
        self.assertEqual(dropped, [], "stored, but the writer exited without replying")
        for r in unacked:  # the client's retry: a definite reply, applied once
            rep = cl.call("logwriter", r, timeout=10)
            self.assertEqual(c.StatusCode.Name(rep.status.code), "OK", rep.status.message)
            acked[r.request_id] = rep.entry.entry_no
        stored = {e.contact_no: e.entry_no for e in cl.all_entries()}
        self.assertEqual(stored, {r.write_entry.entry.contact_no: acked[rid]
                                  for rid, r in reqs.items()})
        self.assertEqual(sorted(stored.values()), list(range(1, 201)))  # once each, gapless


if __name__ == "__main__":
    unittest.main()
