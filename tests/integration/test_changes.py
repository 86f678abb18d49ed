"""The log writer's change stream (ReadChanges, ConfirmRelayed) through the
real workers, without NATS: every retained event with the records it
created or changed, each as it was at its seq, in stable parts; what the
writer keeps aside for it, and lets go once the relay confirms."""
import unittest

from changes_workload import Workload, check_stream
from harness import ClusterTest, c, lw


def read_changes(cl, from_seq=0, from_part=0, page=1000):
    """Every change from (from_seq, from_part) on, page after page:
    [(seq, part, last, kind, bytes)] and the last reply."""
    out = []
    while True:
        rep = cl.ok("logwriter", lw.LogRequest(read_changes=lw.ReadChanges(
            from_seq=from_seq, from_part=from_part, max=page)), timeout=60).changes
        for ch in rep.changes:
            kind = lw.ChangeKind.Name(ch.kind)[len("CHANGE_KIND_"):].lower()
            out.append((ch.seq, ch.part, ch.last, kind, ch.data))
        if rep.next_seq > rep.last_seq:
            return out, rep
        if (rep.next_seq, rep.next_part) == (from_seq, from_part):
            raise AssertionError("ReadChanges made no progress at %d/%d" % (from_seq, from_part))
        from_seq, from_part = rep.next_seq, rep.next_part


class ChangesTest(ClusterTest):
    def stats(self):
        rep = self.cl.ok("logwriter", lw.LogRequest(stats=c.GetStats()))
        return {g.name: g.value for g in rep.stats.gauges}, \
            {k.name: k.value for k in rep.stats.counters}

    def check(self, wl, msgs, last):
        check_stream(self, [(s, p, k, d) for s, p, _, k, d in msgs], wl.states, last)
        # `last` marks exactly the final message of each seq.
        for i, (seq, _, is_last, _, _) in enumerate(msgs):
            nxt = msgs[i + 1][0] if i + 1 < len(msgs) else None
            self.assertEqual(is_last, nxt != seq, "seq %d: last flag" % seq)

    def test_every_change_with_its_records_as_of_its_seq(self):
        wl = Workload(self.cl)
        last = wl.run()
        whole, rep = read_changes(self.cl, 1)
        self.assertEqual(rep.first_seq, 1)
        self.assertEqual(len(rep.store_id), 8)
        self.check(wl, whole, last)
        # Small pages give the same messages (stable parts, the same last
        # flags), whatever the page boundaries.
        for page in (1, 2, 7):
            small, _ = read_changes(self.cl, 1, page=page)
            self.assertEqual(small, whole, "pages of %d" % page)
        # Resuming in the middle of a seq gives the rest of it.
        mid = [m for m in whole if m[1] > 0][5]
        rest, _ = read_changes(self.cl, mid[0], mid[1])
        self.assertEqual(rest, whole[whole.index(mid):])

    def test_confirm_lets_go_of_what_was_kept(self):
        wl = Workload(self.cl)
        last = wl.run()
        whole, _ = read_changes(self.cl, 1)
        gauges, counters = self.stats()
        self.assertGreater(gauges["rapport_changes_held_entries"], 0)
        self.assertEqual(counters["rapport_events_pruned_unrelayed_total"], 0)
        self.assertNotIn("rapport_relay_lag_events", gauges)  # no relay yet
        rep = self.cl.call("logwriter", lw.LogRequest(confirm_relayed=lw.ConfirmRelayed(
            seq=last + 1)))
        self.assertStatus(rep, c.INVALID_ARGUMENT, field="confirm_relayed.seq")
        rep = self.cl.call("logwriter", lw.LogRequest(confirm_relayed=lw.ConfirmRelayed(seq=5)))
        self.assertStatus(rep, c.OK)
        self.assertEqual((rep.relay_status.confirmed_seq, rep.relay_status.last_seq), (5, last))
        gauges, _ = self.stats()
        self.assertEqual(gauges["rapport_relay_last_confirmed_seq"], 5)
        self.assertEqual(gauges["rapport_relay_lag_events"], last - 5)
        # What seq 6 on needs is still there, and the same.
        after5, rep = read_changes(self.cl, 6)
        self.assertEqual(rep.first_seq, 6)
        self.assertEqual(after5, [m for m in whole if m[0] >= 6])
        rep = self.cl.call("logwriter", lw.LogRequest(read_changes=lw.ReadChanges(from_seq=5)))
        self.assertStatus(rep, c.FAILED_PRECONDITION, field="from_seq")
        self.assertIn("before seq 6", rep.status.message)
        self.cl.ok("logwriter", lw.LogRequest(confirm_relayed=lw.ConfirmRelayed(seq=last)))
        # It only moves up (a lagging second relay does not take it back).
        rep = self.cl.ok("logwriter", lw.LogRequest(confirm_relayed=lw.ConfirmRelayed(seq=3)))
        self.assertEqual(rep.relay_status.confirmed_seq, last)
        gauges, _ = self.stats()
        self.assertEqual(gauges["rapport_changes_held_entries"], 0)
        self.assertEqual(gauges["rapport_relay_lag_events"], 0)
        # Caught up: nothing to read, and deletes keep nothing aside.
        tail, rep = read_changes(self.cl, last + 1)
        self.assertEqual((tail, rep.next_seq), ([], last + 1))
        wl.cancel([wl.create("C0007")])
        self.cl.ok("logwriter", lw.LogRequest(confirm_relayed=lw.ConfirmRelayed(seq=last + 2)))
        self.cl.ok("logwriter", lw.LogRequest(delete_canceled_entries=lw.DeleteCanceledEntries()))
        gauges, _ = self.stats()
        self.assertEqual(gauges["rapport_changes_held_entries"], 0)
        # A restart keeps the confirmed seq.
        self.cl["logwriter"].stop()
        self.cl["logwriter"].start()
        gauges, _ = self.stats()
        self.assertEqual(gauges["rapport_relay_last_confirmed_seq"], last + 2)
        self.assertEqual(gauges["rapport_relay_lag_events"], 1)


if __name__ == "__main__":
    unittest.main()
