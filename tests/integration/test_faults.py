"""Resource exhaustion and faults (docs/design.md "Log writer", README "Flow
control"): a tiny map that must grow, a full disk (RLIMIT_FSIZE), a
subscriber that never reads, a flood of requests and of clients, HWMs, and a
dependency that goes down. In every case: nothing acknowledged is lost,
nothing is written twice or half, and a client always gets an answer
(OK, or UNAVAILABLE / RESOURCE_EXHAUSTED to retry with the same request_id)
rather than silence."""
import os
import subprocess
import time
import unittest

from harness import (TODAY_INT, Cluster, ClusterTest, c, ia, lw, recv_events, scaled, sg, wait_for,
                     zmq)

RETRY = (c.UNAVAILABLE, c.RESOURCE_EXHAUSTED)


def entry(i, comments=0, **kw):
    d = dict(contact_no="C%05d" % (i % 50), date=TODAY_INT, description="e%d" % i,
             interaction_template_code="T1", interaction_group_code="G1", cost_cents=10,
             comments=[c.CommentLine(line_no=10000 * (k + 1), date=TODAY_INT,
                                     comment=("%d-%d " % (i, k)) * 30)
                       for k in range(comments)])
    d.update(kw)
    return c.Entry(**d)


def write_req(i, **kw):
    return lw.LogRequest(request_id=b"w%d" % i, user_id="t",
                         write_entry=lw.WriteEntry(entry=entry(i, **kw)))


def stats(cl, worker):
    """Counters (summed over labels) and gauges of a worker by name."""
    req = {"logwriter": lw.LogRequest, "interaction": ia.InteractionRequest,
           "segment": sg.SegmentRequest}[worker](stats=c.GetStats())
    # A read: resent every second under the same id (a reply to this
    # client may be dropped too while a flooding client fills the held
    # replies' caps).
    rep = cl.call(worker, req, retry=1.0)
    assert rep.status.code == c.OK, rep.status.message
    st = rep.stats
    out = {}
    for x in list(st.counters) + list(st.gauges):
        out[x.name] = out.get(x.name, 0) + x.value
    return out


def pipeline(sock, reqs, window=200, timeout=60.0, reply_cls=lw.LogReply):
    """Send reqs keeping `window` in flight; {request_id: reply}. Raises
    AssertionError on silence."""
    replies, i, inflight = {}, 0, 0
    deadline = time.monotonic() + scaled(timeout)
    while len(replies) < len(reqs):
        while i < len(reqs) and inflight < window:
            sock.send(reqs[i].SerializeToString())
            i += 1
            inflight += 1
        if not sock.poll(int(max(1, (deadline - time.monotonic()) * 1000))):
            raise AssertionError("silence: %d of %d replies" % (len(replies), len(reqs)))
        rep = reply_cls()
        rep.ParseFromString(sock.recv_multipart()[-1])
        replies[rep.request_id] = rep
        inflight -= 1
    return replies



def mdb_stat_ok(test, env):
    out = subprocess.run(["mdb_stat", "-a", env], capture_output=True, text=True)
    test.assertEqual(out.returncode, 0, out.stderr)
    return out.stdout


class FullMapTest(unittest.TestCase):
    """Every worker started with a 1 MiB map, then given far more than that:
    the maps grow, nothing is lost, a restart reads it all back."""

    def test_tiny_maps_grow(self):
        cl = Cluster(start=False)
        try:
            for w in ("logwriter", "interaction", "segment"):
                cl[w].extra_args = ["--set", "map_size=1048576"]
                cl[w].start()
            ix = lambda **cmd: cl.ok("interaction", ia.InteractionRequest(**cmd), timeout=60)
            ix(put_group=ia.InteractionGroup(code="G1", description="Letters"))
            ix(put_salesperson=ia.Salesperson(code="SP1", name="Sales"))
            ix(put_campaign=ia.Campaign(no="CP1", description="Spring"))
            ix(put_template=ia.InteractionTemplate(code="T1", description="Mailing",
                                                   interaction_group_code="G1"))
            nos = ["C%05d" % i for i in range(6000)]
            for b in range(0, 6000, 2000):
                ix(import_contacts=ia.ImportContacts(contacts=[
                    ia.Contact(no=n, name=("Name of " + n) * 6, type=c.CONTACT_TYPE_PERSON,
                               email=n.lower() * 6 + "@example.com", salesperson_code="SP1")
                    for n in nos[b:b + 2000]]))
            cl.ok("segment", sg.SegmentRequest(set_numbering=sg.SegmentNumbering(
                prefix="FU", next=1, width=4)))
            cl.ok("segment", sg.SegmentRequest(create_segment=sg.CreateSegment(
                no="BIG", fields=sg.SegmentFields(description="Big", salesperson_code="SP1",
                                                  campaign_no="CP1",
                                                  interaction_template_code="T1"))))
            cl.ok("segment", sg.SegmentRequest(add_contacts=sg.AddContacts(
                segment_no="BIG", contact_nos=nos[:5000])), timeout=60)
            logged = cl.ok("segment", sg.SegmentRequest(log_segment=sg.LogSegment(
                segment_no="BIG", create_follow_up=True)), timeout=120).logged
            self.assertEqual(logged.entry_count, 5000)
            # 1,500 entries of about 9 KB each through the writer: ~13 MiB
            reps = pipeline(cl.sock("logwriter"), [write_req(i, comments=12)
                                                   for i in range(1500)])
            self.assertTrue(all(r.status.code == c.OK for r in reps.values()))
            es = cl.all_entries()
            self.assertEqual([e.entry_no for e in es], list(range(1, 6501)))
            one = cl.ok("logwriter", lw.LogRequest(get_entry=lw.GetEntry(entry_no=6500))).entry
            self.assertEqual(len(one.comments), 12)
            for w in ("logwriter", "interaction", "segment"):
                st = stats(cl, w)
                self.assertGreater(st["rapport_store_map_bytes"], 1048576, w)
            self.assertGreaterEqual(stats(cl, "logwriter")["rapport_map_growth_replays"], 1)
            # a restart with the same tiny setting reads everything back
            for w in ("segment", "interaction", "logwriter"):
                self.assertEqual(cl[w].stop(), 0)
            for w in ("logwriter", "interaction", "segment"):
                mdb_stat_ok(self, os.path.join(cl.state_dir, w))
                cl[w].start()
                cl.reset_sock(w)
            self.assertEqual(len(cl.all_entries()), 6500)
            fu = cl.ok("segment", sg.SegmentRequest(get_segment=sg.SegmentRef(
                segment_no="FU0001"))).segment
            self.assertEqual(fu.no_of_lines, 5000)
            self.assertEqual(cl.ok("logwriter", write_req(99999)).entry.entry_no, 6501)
        finally:
            cl.close()


class FullDiskTest(ClusterTest):
    """The writer's files under RLIMIT_FSIZE (SIGXFSZ is ignored, so writes
    fail with EFBIG): commands get RESOURCE_EXHAUSTED, nothing half-written
    remains, and writing resumes when the limit is raised, then after a
    restart without it."""
    WORKERS = ("logwriter",)

    def prlimit(self, value):
        subprocess.run(["prlimit", "--pid", str(self.cl["logwriter"].proc.pid),
                        "--fsize=%s:" % value], check=True)

    def test_file_size_limit(self):
        cl = self.cl
        sub = cl.subscribe()
        env = os.path.join(cl.state_dir, "logwriter")
        for i in range(20):
            self.assertEqual(cl.ok("logwriter", write_req(i)).entry.entry_no, i + 1)
        size = os.path.getsize(os.path.join(env, "data.mdb"))
        self.prlimit(size + 256 * 1024)
        acked, refused = [], []
        sock = cl.sock("logwriter")
        for i in range(20, 400):  # ~9 KB each: far past 256 KiB
            sock.send(write_req(i, comments=12).SerializeToString())
            self.assertTrue(sock.poll(20000), "silence at request %d" % i)
            rep = lw.LogReply()
            rep.ParseFromString(sock.recv_multipart()[-1])
            if rep.status.code == c.OK:
                acked.append(rep.entry.entry_no)
            else:
                self.assertEqual(c.StatusCode.Name(rep.status.code), "RESOURCE_EXHAUSTED",
                                 rep.status.message)
                self.assertIn("nothing was written", rep.status.message)
                refused.append(i)
        self.assertTrue(refused, "the limit never bit")
        self.assertTrue(acked, "nothing fit before the limit")
        self.assertTrue(cl["logwriter"].alive())
        # nothing half-written: the env reads, the entries are the acked ones,
        # numbered without a gap, each whole; one event each, no gap
        mdb_stat_ok(self, env)
        es = cl.all_entries()
        self.assertEqual([e.entry_no for e in es], list(range(1, 21 + len(acked))))
        for e in es[20:]:
            self.assertEqual(len(e.comments), 12)
        events = cl.read_events()
        self.assertEqual([e.seq for e in events], list(range(1, 21 + len(acked))))
        # a retry of a refused request is still refused, and changes nothing
        rep = cl.call("logwriter", write_req(refused[0], comments=12))
        self.assertEqual(rep.status.code, c.RESOURCE_EXHAUSTED)
        # space returns: the same process writes again, numbers go on
        self.prlimit("unlimited")
        rep = cl.call("logwriter", write_req(refused[0], comments=12))
        self.assertEqual(rep.status.code, c.OK, rep.status.message)
        self.assertEqual(rep.entry.entry_no, 21 + len(acked))
        # nothing was published that did not commit: the live events, up to
        # the one of a last write, are the durable ones
        last = write_req(6000)
        cl.ok("logwriter", last)
        events = cl.read_events()
        live = []
        while not live or live[-1].request_id != last.request_id:
            got = recv_events(sub, 1)
            self.assertTrue(got, "no live event after %d" % len(live))
            live.append(got[0][1])
        self.assertEqual([(ev.seq, ev.request_id) for ev in live],
                         [(ev.seq, ev.request_id) for ev in events])
        # and after a restart without any limit
        self.assertEqual(cl["logwriter"].stop(), 0)
        cl["logwriter"].start()
        cl.reset_sock("logwriter")
        self.assertEqual(cl.ok("logwriter", write_req(5000)).entry.entry_no, 23 + len(acked))
        self.assertEqual(len(cl.all_entries()), 23 + len(acked))
        stale = subprocess.run(["mdb_stat", "-rr", env], capture_output=True, text=True).stdout
        self.assertIn(" 0 stale readers cleared", stale)


class SlowSubscriberTest(ClusterTest):
    """A SUB that never reads does not stall the writer (PUB drops for it at
    its HWM, 1,000 here so that it does drop); once it reads again it
    recovers every event through ReadEvents."""
    WORKERS = ("logwriter",)
    ENV = {"RAPPORT_SNDHWM": "1000"}
    N = 20000

    def test_stuck_subscriber(self):
        cl = self.cl
        stuck = cl.subscribe()
        stuck.setsockopt(zmq.RCVHWM, 100)
        t0 = time.monotonic()
        reps = pipeline(cl.sock("logwriter"), [write_req(i) for i in range(self.N)],
                        window=500, timeout=120)
        took = time.monotonic() - t0
        self.assertTrue(all(r.status.code == c.OK for r in reps.values()))
        self.assertLess(took, scaled(90),
                        "the writer stalled: %.1f s for %d writes" % (took, self.N))
        st = stats(cl, "logwriter")
        self.assertEqual(st["rapport_last_event_seq"], self.N)
        # the stuck subscriber reads now: what is queued, then a gap
        seen = []
        while stuck.poll(200):
            _, body = stuck.recv_multipart()
            ev = c.Event()
            ev.ParseFromString(body)
            seen.append(ev.seq)
        self.assertLess(len(seen), self.N, "nothing was dropped for the stuck subscriber")
        self.assertEqual(seen, sorted(seen))
        have = set(seen)
        # recovery: replay the gaps from the durable log
        nxt = 1
        while True:
            rep = cl.ok("logwriter", lw.LogRequest(read_events=lw.ReadEvents(
                from_seq=nxt, max=1000)))
            have.update(e.seq for e in rep.events.events)
            if rep.events.next_seq > rep.events.last_seq:
                break
            nxt = rep.events.next_seq
        self.assertEqual(have, set(range(1, self.N + 1)))
        print("\n%d writes in %.1f s with a stuck subscriber; it got %d live" % (
            self.N, took, len(seen)))


class FloodTest(ClusterTest):
    """10,000 requests in flight from one client and 200 connected clients:
    every request answered, nothing lost, nothing twice."""
    WORKERS = ("logwriter", "interaction")

    def seed(self):
        cl = self.cl
        cl.ok("interaction", ia.InteractionRequest(put_group=ia.InteractionGroup(code="G1")))
        cl.ok("interaction", ia.InteractionRequest(put_salesperson=ia.Salesperson(code="SP1")))
        cl.ok("interaction", ia.InteractionRequest(put_template=ia.InteractionTemplate(
            code="T1", description="Call", interaction_group_code="G1")))
        cl.ok("interaction", ia.InteractionRequest(import_contacts=ia.ImportContacts(
            contacts=[ia.Contact(no="C%d" % i, type=c.CONTACT_TYPE_PERSON)
                      for i in range(100)])))

    def create(self, rid, i):
        return ia.InteractionRequest(request_id=rid, user_id="flood",
                                     create_interaction=ia.CreateInteraction(
                                         fields=ia.InteractionFields(
                                             contact_no="C%d" % (i % 100),
                                             interaction_template_code="T1",
                                             salesperson_code="SP1", description="f%d" % i)))

    def settle(self, sock, pending, timeout=120):
        """Resend what is unanswered or answered UNAVAILABLE /
        RESOURCE_EXHAUSTED with the same request_id until every request has
        its definitive reply. Returns (retries, transient codes seen)."""
        done, retries, transient = {}, 0, {}
        deadline = time.monotonic() + scaled(timeout)
        while pending and time.monotonic() < deadline:
            while pending and sock.poll(2000):
                rep = ia.InteractionReply()
                rep.ParseFromString(sock.recv_multipart()[-1])
                if rep.request_id not in pending:
                    continue
                if rep.status.code in RETRY:
                    transient[rep.status.code] = transient.get(rep.status.code, 0) + 1
                    sock.send(pending[rep.request_id].SerializeToString())
                    retries += 1
                    continue
                done[rep.request_id] = rep
                del pending[rep.request_id]
            for rid, req in list(pending.items()):  # silence: resend
                sock.send(req.SerializeToString())
                retries += 1
        self.assertFalse(pending, "%d requests never answered" % len(pending))
        return done, retries, transient

    def test_ten_thousand_in_flight(self):
        self.seed()
        s = self.cl.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.SNDHWM, 20000)
        s.setsockopt(zmq.RCVHWM, 20000)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.cl.endpoint("interaction"))
        reqs = {b"f%d" % i: self.create(b"f%d" % i, i) for i in range(10000)}
        for req in reqs.values():
            s.send(req.SerializeToString())  # all 10,000 before reading any reply
        done, retries, transient = self.settle(s, dict(reqs))
        s.close(0)
        self.assertTrue(all(r.status.code == c.OK for r in done.values()))
        es = self.cl.all_entries()
        self.assertEqual(len(es), 10000)
        self.assertEqual(sorted(e.description for e in es), sorted("f%d" % i
                                                                   for i in range(10000)))
        print("\n10,000 in flight: %d retries, transient %s" % (retries, transient))

    def test_two_hundred_clients(self):
        self.seed()
        socks = []
        for k in range(200):
            s = self.cl.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.cl.endpoint("interaction"))
            socks.append(s)
        time.sleep(0.5)
        pending = []
        for k, s in enumerate(socks):
            reqs = {b"k%d-%d" % (k, j): self.create(b"k%d-%d" % (k, j), k * 25 + j)
                    for j in range(25)}
            for req in reqs.values():
                s.send(req.SerializeToString())
            pending.append(reqs)
        total = 0
        for s, reqs in zip(socks, pending):
            done, _, _ = self.settle(s, dict(reqs))
            self.assertTrue(all(r.status.code == c.OK for r in done.values()))
            total += len(done)
            s.close(0)
        self.assertEqual(total, 5000)
        self.assertEqual(len(self.cl.all_entries()), 5000)


class HwmTest(ClusterTest):
    """Small HWMs everywhere (README "Flow control"): a client that sends far
    more than the HWMs without reading is slowed down (its sends block),
    never loses a request, and gets every reply once it reads: replies its
    queue cannot take are held by the worker, not dropped."""
    WORKERS = ("logwriter", "interaction")
    ENV = {"RAPPORT_SNDHWM": "50", "RAPPORT_RCVHWM": "50"}

    def test_small_hwms(self):
        FloodTest.seed(self)
        s = self.cl.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.SNDHWM, 10)
        s.setsockopt(zmq.RCVHWM, 10)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.cl.endpoint("interaction"))
        time.sleep(0.2)
        reqs = {b"h%d" % i: FloodTest.create(self, b"h%d" % i, i) for i in range(2000)}
        blocked, sent = 0, 0
        for req in reqs.values():  # as fast as the socket takes them, reading nothing
            while True:
                try:
                    s.send(req.SerializeToString(), zmq.NOBLOCK)
                    sent += 1
                    break
                except zmq.Again:
                    blocked += 1
                    time.sleep(0.001)
                    if blocked > 200000:
                        raise AssertionError("the worker stopped taking requests")
        done, retries, transient = FloodTest.settle(self, s, dict(reqs))
        s.close(0)
        self.assertTrue(all(r.status.code == c.OK for r in done.values()))
        self.assertEqual(len(self.cl.all_entries()), 2000)
        st = stats(self.cl, "interaction")
        # nothing silent: every reply came without a resend on silence (the
        # worker held the replies its queue to us could not take)
        self.assertEqual(retries, sum(transient.values()))
        self.assertEqual(st["rapport_replies_dropped_total"], 0)
        self.assertEqual(st["rapport_replies_held"], 0)
        print("\nsmall HWMs: send blocked %d times, %d retries, transient %s" % (
            blocked, retries, transient))


class HeldRepliesCase(ClusterTest):
    """Replies held for a client that sends without reading (README "Flow
    control"): the caps (100,000 replies, 64 MiB, 60 s) are lowered for the
    test by held_replies_max, held_bytes_max and held_reply_ms. Beyond a
    cap a reply is dropped and counted; every other reply reaches the
    client once it reads."""
    WORKERS = ("logwriter",)
    ENV = {"RAPPORT_SNDHWM": "10"}  # the worker's queue to us is full soon
    N = 20000

    def flood(self):
        """A DEALER that sends N reads (their replies carry a 64-byte
        request_id) and reads nothing."""
        s = self.cl.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 1)
        s.setsockopt(zmq.RCVBUF, 4096)
        s.connect(self.cl.endpoint("logwriter"))
        for i in range(self.N):
            data = lw.LogRequest(request_id=b"%064d" % i, user_id="u", list_entries=lw.ListEntries(
                limit=1)).SerializeToString()
            while True:
                try:
                    s.send(data, zmq.NOBLOCK)
                    break
                except zmq.Again:
                    time.sleep(0.001)
        return s

    def held(self):
        st = stats(self.cl, "logwriter")
        return st["rapport_replies_held"], st["rapport_replies_dropped_total"]

    def all_read(self, s):
        """Read until all N are accounted for (read or dropped); the sizes of
        the replies read."""
        sizes, ids = [], set()
        while True:
            dropped = self.held()[1]
            if len(ids) >= self.N - dropped:
                break
            if not s.poll(int(scaled(10) * 1000)):
                self.fail("%d replies of %d, %d dropped" % (len(ids), self.N, dropped))
            rep = lw.LogReply()
            data = s.recv()
            rep.ParseFromString(data)
            self.assertEqual(rep.status.code, c.OK, rep.status.message)
            self.assertNotIn(rep.request_id, ids)
            ids.add(rep.request_id)
            sizes.append(len(data))
        self.assertEqual(self.held(), (0, self.N - len(ids)))
        s.close(0)
        return sizes


class HeldRepliesCountTest(HeldRepliesCase):
    ENV = dict(HeldRepliesCase.ENV, RAPPORT_HELD_REPLIES_MAX="5")

    def test_count_cap(self):
        s = self.flood()
        # until the worker has answered everything, no more than 5 wait and
        # the rest of what our queue could not take is dropped. (Fewer than
        # 5 may be left at the end: the kernel's buffers can still take a
        # few held replies after the drops.)
        peak = []

        def answered():
            st = stats(self.cl, "logwriter")
            peak.append(st["rapport_replies_held"])
            return st["rapport_replies_dropped_total"] > 0 and \
                st["rapport_requests_in_flight"] == 0
        wait_for(answered, 30, "every request answered, some replies dropped")
        self.assertLessEqual(max(peak), 5, "held replies sampled: %s" % peak)
        self.all_read(s)


class HeldRepliesBytesTest(HeldRepliesCase):
    ENV = dict(HeldRepliesCase.ENV, RAPPORT_HELD_BYTES_MAX="1024")

    def test_bytes_cap(self):
        s = self.flood()
        wait_for(lambda: self.held()[1] > 0, 30, "a dropped reply")
        held = self.held()[0]
        sizes = self.all_read(s)
        # what was held fit in 1,024 bytes (each reply plus its routing id)
        self.assertGreaterEqual(held, 1)
        self.assertLessEqual(held * min(sizes), 1024)


class HeldRepliesTimeTest(HeldRepliesCase):
    ENV = dict(HeldRepliesCase.ENV, RAPPORT_HELD_REPLY_MS="300")

    def test_time_cap(self):
        s = self.flood()
        wait_for(lambda: self.held()[0] > 0, 30, "a held reply")
        # nothing is over a cap of count or bytes: the held replies go when
        # they have waited 300 ms for a client that still does not read
        wait_for(lambda: self.held()[0] == 0, 10, "the held replies dropped after 300 ms")
        self.assertGreater(self.held()[1], 0)
        self.all_read(s)


class DependencyDownTest(ClusterTest):
    """rapport-interaction or rapport-logwriter down while rapport-segment
    serves: UNAVAILABLE within request_timeout_ms, and it recovers by itself
    when the peer returns."""
    TIMEOUT_MS = 600

    def setUp(self):
        self.cl = Cluster(start=False)
        self.cl["segment"].extra_args = ["--set", "request_timeout_ms=%d" % self.TIMEOUT_MS]
        try:
            for w in ("logwriter", "interaction", "segment"):
                self.cl[w].start()
            ix = lambda **cmd: self.cl.ok("interaction", ia.InteractionRequest(**cmd))
            ix(put_group=ia.InteractionGroup(code="G1"))
            ix(put_salesperson=ia.Salesperson(code="SP1"))
            ix(put_template=ia.InteractionTemplate(code="T1", description="Mail",
                                                   interaction_group_code="G1"))
            ix(import_contacts=ia.ImportContacts(contacts=[
                ia.Contact(no="C%d" % i, type=c.CONTACT_TYPE_PERSON, salesperson_code="SP1")
                for i in range(300)]))
            self.seg(set_numbering=sg.SegmentNumbering(prefix="FU", next=1, width=3))
            self.seg(create_segment=sg.CreateSegment(no="S1", fields=sg.SegmentFields(
                description="Mailing", salesperson_code="SP1", interaction_template_code="T1")))
        except BaseException:
            self.cl.close()
            raise

    def seg(self, **cmd):
        return self.cl.ok("segment", sg.SegmentRequest(**cmd))

    def timed(self, req):
        t0 = time.monotonic()
        rep = self.cl.call("segment", req, timeout=30)
        return rep, time.monotonic() - t0

    def test_interaction_down(self):
        self.cl["interaction"].kill()
        req = sg.SegmentRequest(request_id=b"add-1", add_contacts=sg.AddContacts(
            segment_no="S1", contact_nos=["C%d" % i for i in range(200)]))
        rep, took = self.timed(req)
        self.assertEqual(c.StatusCode.Name(rep.status.code), "UNAVAILABLE", rep.status.message)
        self.assertIn("rapport-interaction", rep.status.message)
        self.assertLess(took, self.TIMEOUT_MS / 1000 + scaled(1.5))
        # what needs no peer still works
        self.assertEqual(self.seg(get_segment=sg.SegmentRef(segment_no="S1")).segment.no, "S1")
        self.cl["interaction"].start()
        rep, took = self.timed(req)  # the same request_id: nothing was applied
        self.assertEqual(rep.status.code, c.OK, rep.status.message)
        self.assertEqual(rep.added.added, 200)
        self.assertEqual(self.seg(get_segment=sg.SegmentRef(segment_no="S1")).segment
                         .no_of_lines, 200)

    def test_logwriter_down(self):
        self.seg(add_contacts=sg.AddContacts(segment_no="S1",
                                             contact_nos=["C%d" % i for i in range(300)]))
        self.cl["logwriter"].kill()
        req = sg.SegmentRequest(request_id=b"log-1", log_segment=sg.LogSegment(
            segment_no="S1", create_follow_up=True))
        rep, took = self.timed(req)
        self.assertEqual(c.StatusCode.Name(rep.status.code), "UNAVAILABLE", rep.status.message)
        self.assertIn("rapport-logwriter", rep.status.message)
        self.assertLess(took, self.TIMEOUT_MS / 1000 + scaled(1.5))
        # nothing was logged, and the segment can be edited again
        got = self.seg(get_segment=sg.SegmentRef(segment_no="S1")).segment
        self.assertFalse(got.logging)
        self.cl["logwriter"].start()
        # recovers by itself: the retry (same request_id) logs it, once
        rep, _ = self.timed(req)
        self.assertEqual(rep.status.code, c.OK, rep.status.message)
        rep2 = self.cl.call("segment", sg.SegmentRequest(get_segment=sg.SegmentRef(
            segment_no="S1")))
        self.assertEqual(rep2.status.code, c.NOT_FOUND)
        ls = self.cl.ok("logwriter", lw.LogRequest(list_logged_segments=lw.ListLoggedSegments(
            segment_no="S1"))).logged_segments.logged_segments
        self.assertEqual([x.no_of_interactions for x in ls], [300])
        self.assertEqual(rep.logged.logged_segment_no, ls[0].entry_no)
        self.assertEqual(rep.logged.follow_up_segment_no, "FU001")
        self.assertEqual(len(self.cl.all_entries()), 300)


if __name__ == "__main__":
    unittest.main()
