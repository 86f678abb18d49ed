"""`rapport backup` and `rapport restore` (README "Backup and restore").

Backup under load: a thread keeps creating interactions through
rapport-interaction and records every acked Entry No. with the time of its
ack; `rapport backup` copies the three envs meanwhile. The copies are
restored into a fresh state dir and the workers started on it: every entry
acked before the backup started is there with its content, the Entry Nos.
are gapless up to the manifest's last one and continue after it, the event
log too, the catalog and the segments came back, and mdb_stat reads the
copies. Restore is refused while a worker holds its state dir, and a
segment the backup caught in LOGGING is finished by the restored segment
worker. The CLI runs with RAPPORT_CONFIG=/dev/null, like the workers."""
import os
import subprocess
import threading
import time
import unittest
import uuid

import zmq

from harness import BIN_DIR, Cluster, ClusterTest, c, ia, lw, sg, wait_for

RAPPORT = os.path.join(BIN_DIR, "rapport")
CONTACTS = ["P%d" % i for i in range(1, 6)]


def cli_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update({"RAPPORT_CONFIG": "/dev/null", "TZ": "UTC", "USER": "tester"})
    return env


def rapport(*args, timeout=120):
    p = subprocess.run([RAPPORT] + [str(a) for a in args], capture_output=True, env=cli_env(),
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def manifest(backup_dir):
    out = {}
    with open(os.path.join(backup_dir, "rapport-backup.txt")) as f:
        for line in f:
            if line.startswith("#") or " = " not in line:
                continue
            k, _, v = line.rstrip("\n").partition(" = ")
            out[k] = v
    return out


def seed(cl):
    def ix(**cmd):
        cl.ok("interaction", ia.InteractionRequest(**cmd))
    ix(put_group=ia.InteractionGroup(code="CALL", description="Calls"))
    ix(put_salesperson=ia.Salesperson(code="SP1", name="Ann"))
    ix(put_template=ia.InteractionTemplate(
        code="TCALL", description="Phone call", interaction_group_code="CALL",
        unit_cost_cents=250, unit_duration_min=15,
        correspondence_type=c.CORRESPONDENCE_TYPE_NONE))
    for no in CONTACTS:
        ix(put_contact=ia.Contact(no=no, name="Person " + no, type=c.CONTACT_TYPE_PERSON,
                                  salesperson_code="SP1"))


def create_request(i):
    return ia.InteractionRequest(
        request_id=("load-%d-%s" % (i, uuid.uuid4().hex[:8])).encode(), user_id="load",
        create_interaction=ia.CreateInteraction(
            origin=ia.ORIGIN_CONTACT, fields=ia.InteractionFields(
                contact_no=CONTACTS[i % len(CONTACTS)], interaction_template_code="TCALL",
                description="load %d" % i)))


class Load(threading.Thread):
    """Creates interactions one after the other on its own socket and
    records (entry_no, description, monotonic time of the ack)."""

    def __init__(self, endpoint):
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.acked, self.errors = [], []
        self.halt = threading.Event()

    def run(self):
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        i = 0
        try:
            while not self.halt.is_set():
                req = create_request(i)
                s.send(req.SerializeToString())
                if not s.poll(20000):
                    self.errors.append("no reply to request %d" % i)
                    return
                rep = ia.InteractionReply()
                rep.ParseFromString(s.recv_multipart()[-1])
                if rep.request_id != req.request_id or rep.status.code != c.OK:
                    self.errors.append("request %d: %s %s" % (i, rep.status.code,
                                                              rep.status.message))
                    return
                self.acked.append((rep.entry.entry_no, "load %d" % i, time.monotonic()))
                i += 1
        finally:
            s.close(0)
            ctx.term()



class BackupRestoreTest(ClusterTest):

    def setUp(self):
        super().setUp()
        self.others = []
        self.backup_dir = os.path.join(self.cl.dir, "backup")

    def tearDown(self):
        for o in self.others:
            o.close()
        super().tearDown()

    def fresh_cluster(self):
        cl = Cluster(start=False)
        self.others.append(cl)
        return cl

    def test_backup_under_load_restore_every_acked_entry(self):
        cl = self.cl
        seed(cl)
        cl.ok("segment", sg.SegmentRequest(create_segment=sg.CreateSegment(
            no="S1", fields=sg.SegmentFields(description="Kept", salesperson_code="SP1",
                                             interaction_template_code="TCALL"))))
        cl.ok("segment", sg.SegmentRequest(add_contacts=sg.AddContacts(
            segment_no="S1", contact_nos=CONTACTS[:3])))

        load = Load(cl.endpoint("interaction"))
        load.start()
        wait_for(lambda: len(load.acked) >= 200 or load.errors, 30, "200 acked creates")
        self.assertEqual(load.errors, [])
        started = time.monotonic()
        rc, out, err = rapport("backup", self.backup_dir, "--state-dir", cl.state_dir)
        finished = time.monotonic()
        acked_before = [a for a in load.acked if a[2] < started]
        # the writer keeps serving after the backup too
        wait_for(lambda: any(a[2] > finished for a in load.acked) or load.errors, 30,
                 "an ack after the backup")
        load.halt.set()
        load.join(30)
        self.assertEqual(rc, 0, err)
        self.assertEqual(load.errors, [])
        self.assertGreaterEqual(len(acked_before), 200)
        print("backup took %.3f s; %d entries acked before it, %d during it, %d in all" % (
            finished - started, len(acked_before),
            len([a for a in load.acked if started <= a[2] <= finished]), len(load.acked)))
        self.assertIn("last entry no.", out)

        # The manifest and the copies.
        m = manifest(self.backup_dir)
        self.assertEqual(m["format"], "1")
        self.assertEqual(m["workers"], "interaction segment logwriter")
        self.assertEqual(m["logwriter.source"], os.path.join(os.path.realpath(cl.state_dir),
                                                             "logwriter"))
        last = int(m["logwriter.last_entry_no"])
        self.assertGreaterEqual(last, max(a[0] for a in acked_before))
        self.assertLessEqual(last, max(a[0] for a in load.acked))
        for w in ("interaction", "segment", "logwriter"):
            data = os.path.join(self.backup_dir, w, "data.mdb")
            self.assertEqual(os.path.getsize(data), int(m[w + ".copy_bytes"]))
            self.assertFalse(os.path.exists(os.path.join(self.backup_dir, w, "lock.mdb")))
            st = subprocess.run(["mdb_stat", "-e", os.path.join(self.backup_dir, w)],
                                capture_output=True, timeout=30)
            self.assertEqual(st.returncode, 0, st.stderr)
        st = subprocess.run(["mdb_stat", "-s", "entries", os.path.join(self.backup_dir,
                                                                       "logwriter")],
                            capture_output=True, timeout=30, check=True)
        self.assertIn("Entries: %d\n" % last, st.stdout.decode())

        # A backup goes into a new or empty directory only.
        rc, _, err = rapport("backup", self.backup_dir, "--state-dir", cl.state_dir)
        self.assertEqual(rc, 1)
        self.assertIn("is not empty", err)

        # Restore refuses while the workers run, and changes nothing.
        live = os.path.join(cl.state_dir, "logwriter", "data.mdb")
        before = os.stat(live)
        rc, out, err = rapport("restore", self.backup_dir, "--state-dir", cl.state_dir)
        self.assertEqual(rc, 1, out + err)
        for w in ("interaction", "segment", "logwriter"):
            self.assertIn("rapport-%s is running" % w, err)
        self.assertIn("nothing was restored", err)
        self.assertEqual(os.stat(live).st_ino, before.st_ino)
        self.assertEqual(len(cl.all_entries()), len(load.acked))

        # Restore into a fresh state dir; one worker that ran there before
        # (an empty env) holds it at first.
        fresh = self.fresh_cluster()
        fresh["logwriter"].start()
        rc, _, err = rapport("restore", self.backup_dir, "--state-dir", fresh.state_dir)
        self.assertEqual(rc, 1)
        self.assertIn("rapport-logwriter is running", err)
        self.assertNotIn("rapport-segment is running", err)
        self.assertEqual(fresh["logwriter"].stop(), 0)
        self.assertTrue(os.path.exists(os.path.join(fresh.state_dir, "logwriter", "lock.mdb")))
        rc, out, err = rapport("restore", self.backup_dir, "--state-dir", fresh.state_dir)
        self.assertEqual(rc, 0, err)
        self.assertIn("last entry no. %d" % last, out)
        self.assertIn("resumes", out)
        for w in ("interaction", "segment", "logwriter"):
            d = os.path.join(fresh.state_dir, w)
            self.assertEqual(os.path.getsize(os.path.join(d, "data.mdb")),
                             int(m[w + ".copy_bytes"]))
            self.assertFalse(os.path.exists(os.path.join(d, "lock.mdb")))
            self.assertFalse(os.path.exists(os.path.join(d, "data.mdb.restore")))
        for w in ("logwriter", "interaction", "segment"):
            fresh[w].start()

        # Every entry acked before the backup started, with its content.
        restored = {e.entry_no: e for e in fresh.all_entries()}
        for no, desc, _ in acked_before:
            self.assertIn(no, restored)
            self.assertEqual(restored[no].description, desc)
            self.assertEqual(restored[no].interaction_template_code, "TCALL")
        # Gapless up to the manifest's last Entry No., and it goes on from there.
        self.assertEqual(sorted(restored), list(range(1, last + 1)))
        news = [fresh.ok("interaction", create_request(10 ** 6 + k)).entry.entry_no
                for k in range(5)]
        self.assertEqual(news, list(range(last + 1, last + 6)))
        # The event log too.
        seqs = [e.seq for e in fresh.read_events()]
        last_seq = int(m["logwriter.last_event_seq"])
        self.assertEqual(seqs, list(range(1, last_seq + 6)))
        # The catalog and the segments came back.
        rep = fresh.ok("interaction", ia.InteractionRequest(get_template=ia.CodeRef(code="TCALL")))
        self.assertEqual(rep.template.description, "Phone call")
        rep = fresh.ok("segment", sg.SegmentRequest(list_lines=sg.ListLines(segment_no="S1")))
        self.assertEqual([ln.contact_no for ln in rep.lines.lines], CONTACTS[:3])

    def test_backup_and_restore_refusals(self):
        # Nothing to back up: no env in the state dir; nothing is left behind.
        empty = os.path.join(self.cl.dir, "empty-state")
        os.mkdir(empty)
        target = os.path.join(self.cl.dir, "b1")
        rc, _, err = rapport("backup", target, "--state-dir", empty)
        self.assertEqual(rc, 1)
        self.assertIn("backup of interaction failed", err)
        self.assertFalse(os.path.exists(target))
        # Not a backup: no manifest.
        os.mkdir(target)
        rc, _, err = rapport("restore", target, "--state-dir", empty)
        self.assertEqual(rc, 2)
        self.assertIn("not a complete rapport backup", err)
        self.assertEqual(os.listdir(empty), [])
        # Usage.
        rc, _, err = rapport("backup")
        self.assertEqual(rc, 2)
        self.assertIn("missing DIR", err)


class BackupDuringSegmentLogTest(ClusterTest):
    """A backup that catches a segment in LOGGING (the segment worker died
    mid-stream): the restored segment worker resumes the log and the
    segment is logged exactly once."""

    N = 3000

    def setUp(self):
        self.cl = Cluster(start=False)
        self.cl["segment"].extra_args = ["--set", "log_batch_entries=500"]
        self.cl["segment"].env = {"RAPPORT_FAULT": "segment.mid_stream:2"}
        self.others = []
        try:
            for w in ("logwriter", "interaction", "segment"):
                self.cl[w].start()
        except BaseException:
            self.cl.close()
            raise

    def tearDown(self):
        for o in self.others:
            o.close()
        super().tearDown()

    def test_restored_segment_worker_resumes_the_log(self):
        cl = self.cl
        seed(cl)
        contacts = ["C%05d" % i for i in range(self.N)]
        cl.ok("interaction", ia.InteractionRequest(import_contacts=ia.ImportContacts(contacts=[
            ia.Contact(no=no, name="n", type=c.CONTACT_TYPE_PERSON, salesperson_code="SP1")
            for no in contacts])), timeout=60)
        cl.ok("segment", sg.SegmentRequest(create_segment=sg.CreateSegment(
            no="BIG", fields=sg.SegmentFields(description="Mailing", salesperson_code="SP1",
                                              interaction_template_code="TCALL"))))
        cl.ok("segment", sg.SegmentRequest(add_contacts=sg.AddContacts(
            segment_no="BIG", contact_nos=contacts)), timeout=60)
        cl.send_raw("segment", [sg.SegmentRequest(
            request_id=b"log-big", user_id="t", log_segment=sg.LogSegment(
                segment_no="BIG")).SerializeToString()])
        seg = cl["segment"]
        seg.proc.wait(60)
        self.assertFalse(seg.alive())
        self.assertIn("fault injection: killed at segment.mid_stream", seg.logtext())

        backup = os.path.join(cl.dir, "backup")
        rc, _, err = rapport("backup", backup, "--state-dir", cl.state_dir)
        self.assertEqual(rc, 0, err)
        fresh = Cluster(start=False)
        self.others.append(fresh)
        rc, _, err = rapport("restore", backup, "--state-dir", fresh.state_dir)
        self.assertEqual(rc, 0, err)
        for w in ("logwriter", "interaction", "segment"):
            fresh[w].start()
        # the restored segment worker resumes the log and finishes it
        wait_for(lambda: fresh.call("segment", sg.SegmentRequest(get_segment=sg.SegmentRef(
            segment_no="BIG"))).status.code == c.NOT_FOUND, 60, "BIG logged after the restore")
        self.assertIn("segment BIG was being logged: resuming", fresh["segment"].logtext())
        lss = fresh.ok("logwriter", lw.LogRequest(list_logged_segments=lw.ListLoggedSegments(
            segment_no="BIG"))).logged_segments.logged_segments
        self.assertEqual([ls.no_of_interactions for ls in lss], [self.N])
        es = fresh.all_entries()
        self.assertEqual([e.entry_no for e in es], list(range(1, self.N + 1)))
        self.assertEqual([e.contact_no for e in es], contacts)
        # The client's retry with the same request id gets the first result.
        rep = fresh.ok("segment", sg.SegmentRequest(request_id=b"log-big", user_id="t",
                                                    log_segment=sg.LogSegment(segment_no="BIG")))
        self.assertEqual(rep.logged.entry_count, self.N)


if __name__ == "__main__":
    unittest.main()
