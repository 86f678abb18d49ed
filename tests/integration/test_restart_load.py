"""The log writer restarted many times under a steady stream of creates.

Several clients create interactions (from a contact, from an entry, and
postponed then resumed) while the test stops the log writer (SIGTERM or
SIGKILL) and starts it again, over and over. Each client behaves as a real
one: it resends the same bytes with the same request_id when no answer comes,
and again after an UNAVAILABLE. Every request is valid, so every refusal
other than UNAVAILABLE is one the request does not deserve and fails the
test, with the request and the reply. Afterwards every acknowledged create
is in the log exactly once."""
import os
import random
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import c, ia, lw, zmq  # noqa: E402

CLIENTS = 4
RESTARTS = int(os.environ.get("RAPPORT_RESTARTS", "12"))
RESEND_S = 0.3 * harness.TIME_SCALE   # a client's resend interval
GIVE_UP_S = 60 * harness.TIME_SCALE  # per request: the writer is always back by then


class Client:
    def __init__(self, cl):
        self.cl = cl
        self.sock = cl.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(cl.endpoint("interaction"))
        self.unavailable = 0  # UNAVAILABLE replies seen (then resent)
        self.resends = 0

    def call(self, **cmd):
        """The final reply: OK or a refusal; UNAVAILABLE and silence are
        retried with the same request_id."""
        req = ia.InteractionRequest(request_id=uuid.uuid4().hex.encode(), user_id="load",
                                    **cmd)
        data = req.SerializeToString()
        deadline = time.monotonic() + GIVE_UP_S
        resend_at = 0.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now >= resend_at:
                if resend_at:
                    self.resends += 1
                self.sock.send(data)
                resend_at = now + RESEND_S
            if not self.sock.poll(int(max(1, (resend_at - time.monotonic()) * 1000))):
                continue
            rep = ia.InteractionReply()
            rep.ParseFromString(self.sock.recv_multipart()[-1])
            if rep.request_id != req.request_id:
                continue  # a late answer to one of this client's earlier requests
            if rep.status.code == c.UNAVAILABLE:
                self.unavailable += 1
                resend_at = 0.0
                time.sleep(0.05)
                continue
            return req, rep
        raise AssertionError("no final answer to %s within %.0f s" % (req, GIVE_UP_S))

    def close(self):
        self.sock.close(0)


class RestartUnderLoadTest(unittest.TestCase):
    def setUp(self):
        self.cl = harness.Cluster(start=False)
        # A short peer timeout, so that some creates meet the writer down
        # for longer than it and get UNAVAILABLE from the link.
        self.cl["interaction"].extra_args += ["--set", "request_timeout_ms=%d"
                                              % int(800 * harness.TIME_SCALE)]
        for w in ("logwriter", "interaction"):
            self.cl[w].start()

    def tearDown(self):
        self.cl.close()

    def seed(self):
        ok = lambda **kw: self.cl.ok("interaction", ia.InteractionRequest(**kw))  # noqa: E731
        ok(put_group=ia.InteractionGroup(code="calls", description="Calls"))
        ok(put_template=ia.InteractionTemplate(code="call", description="Call",
                                               interaction_group_code="calls"))
        ok(put_salesperson=ia.Salesperson(code="sp1", name="Ann"))
        for i in range(CLIENTS):
            ok(put_contact=ia.Contact(no="k%d" % i, name="K", type=c.CONTACT_TYPE_PERSON,
                                      salesperson_code="sp1"))
        rep = ok(create_interaction=ia.CreateInteraction(fields=ia.InteractionFields(
            contact_no="k0", interaction_template_code="call")))
        return rep.entry.entry_no

    def run_client(self, idx, first_entry, stop, out):
        rnd = random.Random(idx)
        cli = Client(self.cl)
        contact = "k%d" % idx
        try:
            while not stop.is_set():
                kind = rnd.choice(["contact", "entry", "postpone"])
                if kind == "entry":
                    cmd = ia.CreateInteraction(origin=ia.ORIGIN_ENTRY, from_entry_no=first_entry,
                                               fields=ia.InteractionFields(
                                                   interaction_template_code="call"))
                else:
                    cmd = ia.CreateInteraction(postpone=kind == "postpone",
                                               fields=ia.InteractionFields(
                                                   contact_no=contact,
                                                   interaction_template_code="call"))
                req, rep = cli.call(create_interaction=cmd)
                out["replies"].append((kind, req, rep))
                if rep.status.code != c.OK or kind != "postpone":
                    continue
                req, rep = cli.call(resume_interaction=ia.ResumeInteraction(
                    entry_no=rep.entry.entry_no))
                out["replies"].append(("resume", req, rep))
        except Exception as e:  # noqa: BLE001 - reported by the test
            out["errors"].append(repr(e))
        finally:
            out["unavailable"] += cli.unavailable
            out["resends"] += cli.resends
            cli.close()

    def test_every_refusal_is_deserved(self):
        first_entry = self.seed()
        stop = threading.Event()
        out = {"replies": [], "errors": [], "unavailable": 0, "resends": 0}
        threads = [threading.Thread(target=self.run_client, args=(i, first_entry, stop, out))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        rnd = random.Random(7)
        writer = self.cl["logwriter"]
        try:
            for i in range(RESTARTS):
                # Let creates flow, then stop the writer mid-stream.
                n = len(out["replies"])
                deadline = time.monotonic() + 10 * harness.TIME_SCALE
                while len(out["replies"]) < n + 5 and time.monotonic() < deadline:
                    time.sleep(0.01)
                if i % 2:
                    writer.kill()
                else:
                    writer.stop()
                # Down long enough for the link's timeout now and then.
                time.sleep(rnd.choice([0, 0.05, 0.3, 1.0]) * harness.TIME_SCALE)
                writer.start()
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(out["errors"], [])
        wrong = ["%s: %s -> %s %s" % (kind, req, c.StatusCode.Name(rep.status.code),
                                        rep.status.message)
                 for kind, req, rep in out["replies"] if rep.status.code != c.OK]
        self.assertEqual(wrong, [], "refusals the requests did not deserve")
        creates = [rep for kind, _, rep in out["replies"] if kind != "resume"]
        self.assertGreater(len(creates), RESTARTS * 5)
        # The restarts met requests in flight.
        self.assertGreater(out["resends"] + out["unavailable"], 0)
        # Each acknowledged create is in the log once, resumed ones finished.
        entries = {e.entry_no: e for e in self.cl.all_entries()}
        acked = [rep.entry.entry_no for rep in creates]
        self.assertEqual(len(set(acked)), len(acked), "two creates acked with one Entry No.")
        self.assertEqual(sorted(entries), sorted(acked + [first_entry]))
        for kind, _, rep in out["replies"]:
            if kind == "resume":
                self.assertFalse(entries[rep.entry.entry_no].postponed)
        print("%d creates, %d resumes, %d restarts, %d resends, %d UNAVAILABLE retried" % (
            len(creates), len(out["replies"]) - len(creates), RESTARTS, out["resends"],
            out["unavailable"]))


if __name__ == "__main__":
    unittest.main()
