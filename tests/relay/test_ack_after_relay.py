"""ack_after_relay against one real JetStream server and the real workers:
with it on, a write's reply (a create, a segment log's last reply) waits
until rapport-relay has confirmed its seq, and what was acked is in the
stream at the moment of the ack; a reply held past three quarters of the
request's timeout is UNAVAILABLE, and a retry with the same request_id gets
the first reply once the relay confirms it, never a second entry. With it
off, replies do not wait for the relay."""
import os
import signal
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from changes_workload import Workload  # noqa: E402
from harness import REPLY, TIME_SCALE, c, ia, sg, zmq  # noqa: E402
from nats_harness import as_changes, have_nats  # noqa: E402
from test_relay import RelayCase, stats, wait_for  # noqa: E402

# request_timeout_ms: a held reply gives up at three quarters of it, well
# after the QUIET seconds (not scaled) in which it must not arrive.
TIMEOUT_MS = int(4000 * TIME_SCALE)
QUIET = 1.5


class AckCase(RelayCase):
    ENV = {"RAPPORT_ACK_AFTER_RELAY": "true", "RAPPORT_REQUEST_TIMEOUT_MS": str(TIMEOUT_MS)}

    def setUp(self):
        super().setUp()
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close(0)
        if self.relay.alive():
            self.relay.signal(signal.SIGCONT)
        super().tearDown()

    def send(self, name, req):
        """Send a request on a socket of its own; reply() waits for it."""
        if not req.request_id:
            req.request_id = uuid.uuid4().hex.encode()
        req.user_id = "tester"
        s = self.cl.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.cl.endpoint(name))
        self.socks.append(s)
        s.send(req.SerializeToString())
        return s, name

    def reply(self, sent, timeout):
        s, name = sent
        if not s.poll(int(timeout * TIME_SCALE * 1000)):
            return None
        rep = REPLY[name]()
        rep.ParseFromString(s.recv_multipart()[-1])
        return rep

    def assert_held(self, sent):
        self.assertFalse(sent[0].poll(int(QUIET * 1000)), "answered while the relay is stopped")

    def stream_records(self, kind):
        """entry_no of every record of `kind` in the stream now."""
        cls = {"entry": c.Entry, "logged_segment": c.LoggedSegment}[kind]
        return [cls.FromString(d).entry_no
                for _, _, k, d in as_changes(self.nats.messages()) if k == kind]

    def held(self):
        return stats(self.cl).get("rapport_relay_held_replies")

    def create_req(self, contact, request_id=b""):
        return ia.InteractionRequest(request_id=request_id, create_interaction=ia.CreateInteraction(
            fields=ia.InteractionFields(contact_no=contact, interaction_template_code="MAIL",
                                        description="Call")))


@unittest.skipUnless(have_nats(), "nats-server is not installed")
class AckAfterRelayTest(AckCase):
    def test_replies_wait_for_the_relay_and_what_is_acked_is_in_the_stream(self):
        self.start_relay()
        wl = Workload(self.cl, contacts=8)
        wl.seed()
        # Relay running: acked, and in the stream at the moment of the ack.
        e1 = wl.create("C0000")
        self.assertIn(e1, self.stream_records("entry"))

        # Relay stopped: the create is committed but not answered.
        self.relay.signal(signal.SIGSTOP)
        sent = self.send("interaction", self.create_req("C0001"))
        self.assert_held(sent)
        self.assertEqual(self.held(), 1)
        self.relay.signal(signal.SIGCONT)
        rep = self.reply(sent, 10)
        self.assertIsNotNone(rep, "no reply once the relay runs again")
        self.assertEqual(rep.status.code, c.OK, rep.status.message)
        self.assertIn(rep.entry.entry_no, self.stream_records("entry"))
        wait_for("no reply held", lambda: self.held() == 0, 10)

        # A segment log's last reply waits for its segment.logged too.
        wl.seg(create_segment=sg.CreateSegment(no="S1", fields=sg.SegmentFields(
            description="Segment", interaction_template_code="MAIL", salesperson_code="SP1")))
        wl.seg(add_contacts=sg.AddContacts(segment_no="S1",
                                           contact_nos=["C0002", "C0003", "C0004"]))
        self.relay.signal(signal.SIGSTOP)
        sent = self.send("segment", sg.SegmentRequest(log_segment=sg.LogSegment(segment_no="S1")))
        self.assert_held(sent)
        self.relay.signal(signal.SIGCONT)
        rep = self.reply(sent, 10)
        self.assertIsNotNone(rep, "no LogSegment reply once the relay runs again")
        self.assertEqual(rep.status.code, c.OK, rep.status.message)
        ls = rep.logged
        self.assertIn(ls.logged_segment_no, self.stream_records("logged_segment"))
        entries = set(self.stream_records("entry"))
        self.assertTrue(set(range(ls.first_entry_no, ls.last_entry_no + 1)) <= entries)

    def test_a_reply_held_too_long_is_unavailable_and_a_retry_gets_the_first(self):
        self.start_relay()
        wl = Workload(self.cl, contacts=2)
        wl.seed()
        wl.create("C0000")  # the relay has confirmed once
        self.relay.signal(signal.SIGSTOP)
        rid = uuid.uuid4().hex.encode()
        t0 = time.monotonic()
        rep = self.reply(self.send("interaction", self.create_req("C0001", rid)), 10)
        self.assertIsNotNone(rep)
        self.assertEqual(rep.status.code, c.UNAVAILABLE, rep.status.message)
        self.assertIn("rapport-relay has not confirmed", rep.status.message)
        self.assertGreaterEqual(time.monotonic() - t0, 0.7 * TIMEOUT_MS / 1000)
        # The retry, from the writer's idempotency record, waits as well.
        retry = self.send("interaction", self.create_req("C0001", rid))
        self.assert_held(retry)
        self.relay.signal(signal.SIGCONT)
        rep = self.reply(retry, 10)
        self.assertIsNotNone(rep)
        self.assertEqual(rep.status.code, c.OK, rep.status.message)
        no = rep.entry.entry_no
        again = self.reply(self.send("interaction", self.create_req("C0001", rid)), 10)
        self.assertEqual(again.entry.entry_no, no)
        records = self.stream_records("entry")
        self.assertIn(no, records)
        # One entry for the contact, published once.
        self.assertEqual(len([e for e in self.cl.all_entries() if e.contact_no == "C0001"]), 1)
        self.assertEqual(records.count(no), 1)

        # A stopping writer reads no more confirms: what it holds is
        # answered UNAVAILABLE at once, and it exits 0.
        self.relay.signal(signal.SIGSTOP)
        sent = self.send("interaction", self.create_req("C0001"))
        wait_for("a reply held", lambda: self.held() == 1, 10)
        self.cl["logwriter"].signal(signal.SIGTERM)
        rep = self.reply(sent, 2)
        self.assertIsNotNone(rep, "no reply from a stopping writer")
        self.assertEqual(rep.status.code, c.UNAVAILABLE, rep.status.message)
        self.assertIn("before the log writer stopped", rep.status.message)
        self.assertEqual(self.cl["logwriter"].proc.wait(10 * TIME_SCALE), 0)


@unittest.skipUnless(have_nats(), "nats-server is not installed")
class AckOffTest(AckCase):
    ENV = {"RAPPORT_REQUEST_TIMEOUT_MS": str(TIMEOUT_MS)}

    def test_replies_do_not_wait_for_the_relay(self):
        # The relay is not running: nothing is confirmed, nothing waits.
        wl = Workload(self.cl, contacts=2)
        wl.seed()
        rep = self.reply(self.send("interaction", self.create_req("C0000")), 5)
        self.assertIsNotNone(rep)
        self.assertEqual(rep.status.code, c.OK, rep.status.message)
        self.assertEqual(self.held(), 0)
        self.assertGreater(stats(self.cl).get("rapport_relay_lag_events", 0), 0)


if __name__ == "__main__":
    unittest.main()
