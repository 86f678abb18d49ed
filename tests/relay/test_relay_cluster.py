"""rapport-relay against a 3-node JetStream cluster on loopback, the stream
at R3: kill -9 one NATS node during a segment log (it comes back), then
kill -9 the stream's leader while the relay publishes another; stop all
three nodes and start them again; kill -9 the relay at random points. One
node at a time: with two nodes down the stream has no quorum (and
nats-server 2.9 was seen to lose acked messages when the leader was killed
while another node was still down). After each, the stream holds
seq 1..N exactly once, in order (records as the writer showed them where the
workload filed the writer's state), and the relay's lag returns to 0 by
itself.

RAPPORT_RELAY_BIG sets the segment size (default 20,000; the soak runs
200,000: tests/relay/soak.sh)."""
import os
import random
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_relay import RelayCase, RelayKiller, wait_drained, wait_for  # noqa: E402
from changes_workload import Workload  # noqa: E402
from nats_harness import have_nats  # noqa: E402

BIG = int(os.environ.get("RAPPORT_RELAY_BIG", "20000"))


@unittest.skipUnless(have_nats(), "nats-server is not installed")
class RelayClusterTest(RelayCase):
    NODES = 3
    REPLICAS = 3

    def leader(self):
        """The node leading the stream (asked until the cluster answers)."""
        def probe():
            try:
                name = self.nats.info()["leader"]
            except AssertionError:
                return None
            return next((n for n in self.nats.nodes if n.alive() and n.name == name), None)
        return wait_for("the stream's leader", probe, timeout=60)

    def check_all(self, wl):
        last = wl.last_seq()
        self.check(wl, last)
        info = self.nats.info()
        self.assertEqual(info["replicas"], 3)
        print("stream: %d messages, seq 1..%d" % (info["msgs"], last), file=sys.stderr)

    def test_node_kills_full_stop_and_relay_kills(self):
        rnd = random.Random(int(os.environ.get("RAPPORT_TEST_SEED", "11")))
        self.start_relay()
        wl = Workload(self.cl)
        wl.run()
        wait_drained(self.cl)
        wl.snap = False
        # kill -9 one node during a segment log; it comes back; all relayed.
        wl.import_big(BIG)
        victim = self.nats.nodes[rnd.randrange(3)]
        log = threading.Thread(target=lambda: wl.log_big("BIG1", BIG, imported=True))
        log.start()
        time.sleep(rnd.uniform(0.05, 0.3))
        victim.kill()
        log.join()
        victim.start()
        self.nats.wait_healthy()
        wait_drained(self.cl, timeout=300)
        self.check_all(wl)
        # kill -9 the stream's leader while the relay publishes a log.
        wl.import_big(BIG, prefix="L")
        wl.log_big("BIG2", BIG, prefix="L", imported=True)
        time.sleep(rnd.uniform(0.0, 0.3))
        leader = self.leader()
        leader.kill()
        time.sleep(rnd.uniform(0.5, 2.0))
        leader.start()
        self.nats.wait_healthy()
        wait_drained(self.cl, timeout=300)
        self.check_all(wl)
        # Every node stopped; the writer goes on; all back.
        self.nats.stop()
        for i in range(5):
            wl.create("C%04d" % i)
        self.nats.start()
        wait_drained(self.cl, timeout=300)
        self.check_all(wl)
        # The relay killed at random points while it publishes another log.
        wl.import_big(BIG // 2, prefix="R")
        killer = RelayKiller(self.relay, kills=5, max_gap=1.0)
        wl.log_big("BIG3", BIG // 2, prefix="R", imported=True)
        killer.start()
        killer.join()
        wait_drained(self.cl, timeout=300)
        self.check_all(wl)
        # The relay never saw the stream go back (an acked message lost).
        self.assertNotIn("lost messages", self.relay.logtext())


if __name__ == "__main__":
    if not have_nats():
        print("nats-server is not installed: skipped")
        sys.exit(77)
    unittest.main()
