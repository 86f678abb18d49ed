"""The Python package's Client through the real workers: a method per
command, errors with code, message and field, idempotency by request_id,
a worker restart in the middle of a call (completed once, through the
retry with the same id), a deadline exceeded, and CURVE over tcp
(PERMISSION_DENIED for a key without the role, UNAUTHENTICATED for an
unknown key)."""
import os
import signal
import threading
import time
import unittest

from pyharness import create, harness, ia, rapport, seed
from test_security import SecureCluster, read_keys  # tests/integration, on the path


class ClientTest(harness.ClusterTest):
    def setUp(self):
        super().setUp()
        self.c = rapport.Client(run_dir=self.cl.run_dir, user_id="py")
        self.addCleanup(self.c.close)
        seed(self.c)

    def test_methods_follow_the_contract(self):
        for worker, (request, _) in rapport.client.MESSAGES.items():
            names = [f.name for f in request.DESCRIPTOR.oneofs_by_name["command"].fields]
            for name in names:
                self.assertTrue(callable(getattr(getattr(self.c, worker), name)), name)
        self.assertEqual(self.c.get_group(code="calls").description, "Calls")
        self.assertEqual(self.c.segment.stats().worker, "segment")

    def test_create_and_errors(self):
        e = create(self.c)
        self.assertEqual((e.entry_no, e.cost_cents, e.user_id), (1, 120, "py"))
        with self.assertRaises(rapport.NotFound) as cm:
            create(self.c, contact="NOPE")
        err = cm.exception
        self.assertEqual(err.code, rapport.common.NOT_FOUND)
        self.assertEqual(err.code_name, "NOT_FOUND")
        self.assertIn("NOPE", err.message)
        self.assertTrue(err.field, "the refusal names the field")
        self.assertIsInstance(err, rapport.RapportError)
        with self.assertRaises(rapport.InvalidArgument) as cm:
            self.c.put_group(code="X" * 11, description="too long a code")
        self.assertEqual(cm.exception.field, "put_group.code")

    def test_same_request_id_applies_once(self):
        rid = rapport.new_request_id()
        first = create(self.c, request_id=rid)
        again = create(self.c, request_id=rid)
        self.assertEqual(first, again)
        self.assertEqual(len(self.cl.all_entries()), 1)

    def test_exchange_pipelines_many_requests(self):
        def req(contact):
            return self.c.request("interaction", "create_interaction", origin=ia.ORIGIN_CONTACT,
                                  fields=ia.InteractionFields(contact_no=contact,
                                                              interaction_template_code="call"))
        reqs = [req("K%02d" % (i % 20)) for i in range(300)] + [req("NOPE")]
        out = self.c.exchange("interaction", reqs)
        self.assertIsInstance(out[-1], rapport.NotFound)
        self.assertEqual(out[-1].request_id, reqs[-1].request_id)
        got = [r.entry for r in out[:-1]]
        self.assertEqual([e.contact_no for e in got], ["K%02d" % (i % 20) for i in range(300)])
        self.assertEqual(sorted(e.entry_no for e in got), list(range(1, 301)))
        again = self.c.exchange("interaction", reqs[::-1])[::-1]
        self.assertEqual([r.entry for r in again[:-1]], got, "the first replies again")
        self.assertEqual(len(self.cl.all_entries()), 300)
        with self.assertRaises(ValueError):
            self.c.exchange("interaction", [reqs[0], reqs[0]])

    def test_request_ids_are_time_ordered_and_unique(self):
        ids = [rapport.new_request_id() for _ in range(5000)]
        self.assertEqual(len(set(ids)), len(ids))
        self.assertEqual(ids, sorted(ids))
        self.assertTrue(all(len(i) == 32 for i in ids))

    def test_worker_restart_mid_call_completes_once(self):
        """The writer is stopped while the interaction worker forwards the
        call; the interaction worker is killed and started again; the
        client's retry (same request_id) reaches the new one, which asks
        the writer again, and the writer's dedup answers with the entry the
        first forward wrote: one entry, one event."""
        lwp = self.cl["logwriter"]
        out = {}
        lwp.signal(signal.SIGSTOP)
        try:
            def call():
                with rapport.Client(run_dir=self.cl.run_dir, timeout=60,
                                    retry_interval=0.5) as c2:
                    try:
                        out["entry"] = create(c2)
                    except rapport.RapportError as e:
                        out["error"] = e
            t = threading.Thread(target=call)
            t.start()
            deadline = time.monotonic() + 20
            while self._pending_writes() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(self._pending_writes(), 1, "the call waits for the writer")
            self.cl["interaction"].kill()
            self.cl["interaction"].start(wait=False)
        finally:
            lwp.signal(signal.SIGCONT)
        t.join(60)
        self.assertFalse(t.is_alive())
        self.assertNotIn("error", out)
        self.assertEqual(out["entry"].entry_no, 1)
        self.assertEqual(len(self.cl.all_entries()), 1)
        self.assertEqual([e.type for e in self.cl.read_events()], ["interaction.logged"])

    def _pending_writes(self):
        st = self.c.interaction.stats(timeout=5)
        return int(next(g.value for g in st.gauges if g.name == "rapport_logwriter_pending"))

    def test_unavailable_is_retried_with_the_same_id(self):
        """With the writer down the interaction worker answers UNAVAILABLE
        (after its request_timeout_ms); the client resends the same request
        until the writer is back. A deadline that passes meanwhile raises the
        UNAVAILABLE itself, with the request_id to ask again."""
        ix = self.cl["interaction"]
        ix.stop()
        ix.env["RAPPORT_REQUEST_TIMEOUT_MS"] = "200"
        ix.start()
        self.assertEqual(self.cl["logwriter"].stop(), 0)
        with self.assertRaises(rapport.Unavailable) as cm:
            create(self.c, timeout=1.5)
        self.assertIn("rapport-logwriter", cm.exception.message)
        out = {}

        def call():
            with rapport.Client(run_dir=self.cl.run_dir, timeout=60, retry_interval=0.3) as c2:
                out["entry"] = create(c2, contact="K02")
        t = threading.Thread(target=call)
        t.start()
        before = self._unavailable()
        deadline = time.monotonic() + 20
        while self._unavailable() < before + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(self._unavailable(), before + 2, "refused twice, retried")
        self.cl["logwriter"].start()
        t.join(60)
        self.assertFalse(t.is_alive())
        self.assertEqual(out["entry"].contact_no, "K02")
        # UNAVAILABLE leaves the outcome open (the first forward may still
        # reach the writer): the same request_id tells, and applies it once.
        first = create(self.c, request_id=cm.exception.request_id)
        self.assertEqual(sorted(e.contact_no for e in self.cl.all_entries()), ["K01", "K02"])
        self.assertEqual(first, next(e for e in self.cl.all_entries() if e.contact_no == "K01"))

    def _unavailable(self):
        return self._refusals("unavailable")

    def _refusals(self, code):
        st = self.c.interaction.stats(timeout=5)
        return sum(x.value for x in st.counters if x.name == "rapport_requests_total" and
                   ("code", code) in [(lb.name, lb.value) for lb in x.labels])

    def test_aborted_in_flight_is_retried(self):
        """Two users send the same request_id while the writer is stopped: the
        second is ABORTED (field request_id: the first is on its way to the
        writer) and retried; each user gets an entry of their own."""
        out = {}

        def call(user, contact):
            with rapport.Client(run_dir=self.cl.run_dir, user_id=user, timeout=30,
                                retry_interval=0.3) as c2:
                out[user] = create(c2, contact=contact, request_id=b"the-same-id")
        self.cl["logwriter"].signal(signal.SIGSTOP)
        try:
            threads = [threading.Thread(target=call, args=("a", "K01"))]
            threads[0].start()
            deadline = time.monotonic() + 20
            while self._pending_writes() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            threads.append(threading.Thread(target=call, args=("b", "K02")))
            threads[1].start()
            while self._refusals("aborted") == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertGreater(self._refusals("aborted"), 0)
        finally:
            self.cl["logwriter"].signal(signal.SIGCONT)
        for t in threads:
            t.join(60)
        self.assertEqual([(out[u].contact_no, out[u].user_id) for u in "ab"],
                         [("K01", "a"), ("K02", "b")])
        self.assertEqual(len(self.cl.all_entries()), 2)

    def test_deadline_exceeded(self):
        self.cl["interaction"].signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with self.assertRaises(rapport.DeadlineExceeded) as cm:
                create(self.c, timeout=0.6)
            took = time.monotonic() - t0
        finally:
            self.cl["interaction"].signal(signal.SIGCONT)
        self.assertGreaterEqual(took, 0.6)
        self.assertLess(took, 5 * harness.TIME_SCALE)
        self.assertEqual(cm.exception.code, rapport.common.DEADLINE_EXCEEDED)
        self.assertIn("rapport-interaction", cm.exception.message)
        # The request went out (resent under one id); the worker may run it
        # once it continues: never twice.
        deadline = time.monotonic() + 10
        while len(self.cl.all_entries()) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(self.cl.all_entries()), 1)


class CurveTest(unittest.TestCase):
    def setUp(self):
        self.cl = SecureCluster()
        self.addCleanup(self.cl.close)

    def client(self, key, **kw):
        c = rapport.Client(self.cl.conf, curve_client_secret_key_file=os.path.join(
            self.cl.secrets, key + ".key"), **kw)
        self.addCleanup(c.close)
        return c

    def test_roles_over_curve(self):
        admin = self.client("admin")
        seed(admin)
        reader = self.client("reader")
        self.assertEqual(reader.get_template(code="call").description, "Phone call")
        with self.assertRaises(rapport.PermissionDenied) as cm:
            create(reader)
        self.assertEqual(cm.exception.code, rapport.common.PERMISSION_DENIED)
        self.assertTrue(cm.exception.message)
        self.assertEqual(self.cl.all_entries(), [])
        e = create(self.client("writer"))
        self.assertEqual(e.user_id, "writer-key", "the key's user id is recorded")

    def test_explicit_endpoints_and_keys(self):
        seed(self.client("admin"))
        keys = read_keys(os.path.join(self.cl.secrets, "writer.key"))
        with rapport.Client("/dev/null", interaction_endpoint=self.cl.eps["interaction"],
                            secret_key=keys["secret-key"],
                            server_keys={"interaction": self.cl.public["interaction"]}) as c:
            self.assertEqual(create(c).user_id, "writer-key")

    def test_subscriber_over_curve(self):
        seed(self.client("admin"))
        with rapport.Subscriber(self.client("reader"), after_seq=0, idle_check=0.2) as sub:
            e = create(self.client("writer"))
            ev = sub.get(timeout=10)
            self.assertEqual((ev.seq, ev.type, ev.entry), (1, "interaction.logged", e))
            e2 = create(self.client("writer"))
            self.assertEqual(sub.get(timeout=10).entry, e2)

    def test_unknown_key_is_unauthenticated(self):
        with self.assertRaises(rapport.Unauthenticated) as cm:
            self.client("outsider").get_group(code="calls", timeout=1.5 * harness.TIME_SCALE)
        self.assertIn("CURVE key", cm.exception.message)

    def test_tcp_without_keys_is_a_config_error(self):
        c = rapport.Client(self.cl.conf, curve_server_key_dir="")
        with self.assertRaises(rapport.ConfigError):
            c.get_group(code="calls")


if __name__ == "__main__":
    unittest.main()
