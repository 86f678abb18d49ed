"""Regression test for LMDB 0.9.24 (Debian 12) and its DUPSORT cursor
delete bugs (ITS#9376, ITS#9461, fixed upstream in 0.9.27/0.9.29): the log
writer's delete paths (delete canceled entries, delete postponed entries,
delete canceled campaign entries) remove many values of one contact from
the DUPSORT/DUPFIXED index `entries_by_contact`; the segment paths (delete
the canceled entries of a logged segment, delete canceled campaign entries
and canceled logged segments) remove single values and whole keys from
`campaign_entries_by_logged_segment`, and keys from `campaign_entry_range`
and `logged_segment_by_segment_no`. Afterwards the index, the
postponed set and the statistics must match the records exactly; this reads
the env with mdb_dump (lmdb-utils) and compares."""
import os
import subprocess
import unittest

from harness import TODAY_INT, ClusterTest, c, lw, packed


def dump(env_dir, dbi):
    """(key bytes, value bytes) pairs of a named DBI, via mdb_dump in hex."""
    out = subprocess.run(["mdb_dump", "-s", dbi, env_dir], check=True, capture_output=True,
                         text=True).stdout
    lines = out.split("HEADER=END\n", 1)[1].split("\n")
    data = [bytes.fromhex(x.strip()) for x in lines if x.startswith(" ")]
    return list(zip(data[0::2], data[1::2]))


class LmdbDupsortDeleteTest(ClusterTest):
    WORKERS = ("logwriter",)

    def check_indexes(self):
        env = os.path.join(self.cl.state_dir, "logwriter")
        entries = self.cl.all_entries()
        want = sorted((e.contact_no.encode(), e.entry_no) for e in entries)
        got = sorted((k, int.from_bytes(v, "big")) for k, v in dump(env, "entries_by_contact"))
        self.assertEqual(got, want, "entries_by_contact does not match the entries")
        want_post = sorted(e.entry_no for e in entries if e.postponed)
        got_post = sorted(int.from_bytes(k, "big") for k, _ in dump(env, "postponed"))
        self.assertEqual(got_post, want_post)
        sums = {}
        for e in entries:
            if e.canceled or e.postponed:
                continue
            s = sums.setdefault(e.interaction_template_code, [0, 0, 0])
            s[0] += 1
            s[1] += e.cost_cents
            s[2] += e.duration_min
        rows = self.cl.ok("logwriter", lw.LogRequest(statistics=lw.GetEntryStatistics(
            group_by=lw.STATISTICS_GROUP_BY_TEMPLATE))).statistics.rows
        self.assertEqual({r.code: [r.no_of_interactions, r.cost_cents, r.duration_min]
                          for r in rows}, sums)
        st = subprocess.run(["mdb_stat", "-s", "entries_by_contact", env], check=True,
                            capture_output=True, text=True).stdout
        self.assertIn("Entries: %d" % len(entries), st)
        return entries

    def write(self, i, contact, **kw):
        e = c.Entry(contact_no=contact, date=TODAY_INT, description="e%d" % i,
                    interaction_template_code="T%d" % (i % 3), cost_cents=10 + i % 7,
                    duration_min=1 + i % 5, **kw)
        return self.cl.ok("logwriter", lw.LogRequest(write_entry=lw.WriteEntry(entry=e))).entry

    def test_delete_paths_keep_indexes_exact(self):
        # 3 contacts share 1800 entries; enough values to span many DUPFIXED
        # sub-pages, so deletes merge and rebalance them.
        nos = {}
        for i in range(1800):
            contact = "SHARED%d" % (i % 3)
            postpone = i % 50 == 7
            camp = "CP" if i % 100 == 3 else ""
            e = self.write(i, contact, postponed=postpone, campaign_no=camp)
            nos.setdefault(contact, []).append((e.entry_no, postpone, e.campaign_entry_no))
        self.check_indexes()
        # cancel every second finished entry of SHARED0 and most of SHARED1
        to_cancel = [n for n, p, _ in nos["SHARED0"] if not p][::2] + \
            [n for n, p, _ in nos["SHARED1"] if not p][:550]
        for b in range(0, len(to_cancel), 500):
            self.cl.ok("logwriter", lw.LogRequest(set_entries_canceled=lw.SetEntriesCanceled(
                entry_nos=to_cancel[b:b + 500], canceled=True)))
        self.check_indexes()
        # delete canceled of one contact, then the rest
        rep = self.cl.ok("logwriter", lw.LogRequest(delete_canceled_entries=lw.DeleteCanceledEntries(
            filter=lw.EntryFilter(contact_no="SHARED0"))))
        self.assertEqual(rep.count.count, len([n for n, p, _ in nos["SHARED0"] if not p][::2]))
        self.check_indexes()
        rep = self.cl.ok("logwriter", lw.LogRequest(delete_canceled_entries=lw.DeleteCanceledEntries()))
        self.assertEqual(rep.count.count, 550)
        self.check_indexes()
        # postponed deletes
        post = [n for contact in nos for n, p, _ in nos[contact] if p]
        self.cl.ok("logwriter", lw.LogRequest(delete_postponed_entries=lw.DeletePostponedEntries(
            entry_nos=post)))
        self.check_indexes()
        # campaign entries: cancel them all and delete them with their entries
        ces = sorted({ce for contact in nos for _, _, ce in nos[contact] if ce})
        for ce in ces:
            self.cl.ok("logwriter", lw.LogRequest(set_campaign_entry_canceled=lw.SetCampaignEntryCanceled(
                entry_no=ce, canceled=True)))
        self.cl.ok("logwriter", lw.LogRequest(
            delete_canceled_campaign_entries=lw.DeleteCanceledCampaignEntries()))
        left = self.check_indexes()
        self.assertFalse(any(e.campaign_entry_no in ces for e in left))
        # a restart reads the same store
        self.cl["logwriter"].stop()
        self.cl["logwriter"].start()
        self.cl.reset_sock("logwriter")
        self.assertEqual(len(self.check_indexes()), len(left))


    # ---- the segment log paths: campaign_entries_by_logged_segment ----

    def log_segment(self, no, n, campaigns, attempt=1):
        """Stream a segment of n entries over 3 shared contacts, cycling
        through the campaigns, as rapport-segment does."""
        lid = ("log-%s-%d" % (no, attempt)).encode()
        self.cl.ok("logwriter", lw.LogRequest(log_begin=lw.SegmentLogBegin(
            log_id=lid, segment_no=no, description="Seg " + no, creation_date=TODAY_INT,
            line_count=n, campaign_nos=campaigns, date=TODAY_INT, salesperson_code="SP")))
        for first in range(0, n, 200):
            self.cl.ok("logwriter", lw.LogRequest(log_batch=lw.SegmentLogBatch(
                log_id=lid, index=first, packed_entries=packed([
                    c.Entry(contact_no="SHARED%d" % (i % 3), date=TODAY_INT,
                            description="Seg " + no, interaction_template_code="T%d" % (i % 2),
                            cost_cents=5, duration_min=1, segment_no=no,
                            campaign_no=campaigns[i % len(campaigns)])
                    for i in range(first, min(n, first + 200))]))))
        return self.cl.ok("logwriter", lw.LogRequest(log_commit=lw.SegmentLogCommit(
            log_id=lid, count=n))).segment_logged

    def logged_segments(self):
        return self.cl.ok("logwriter", lw.LogRequest(list_logged_segments=lw.ListLoggedSegments(
            limit=1000))).logged_segments.logged_segments

    def campaign_entries(self):
        return self.cl.ok("logwriter", lw.LogRequest(list_campaign_entries=lw.ListCampaignEntries(
            limit=1000))).campaign_entries.campaign_entries

    def check_segment_indexes(self):
        env = os.path.join(self.cl.state_dir, "logwriter")
        entries = self.check_indexes()
        ces, lss = self.campaign_entries(), self.logged_segments()
        got = sorted((int.from_bytes(k, "big"), int.from_bytes(v, "big"))
                     for k, v in dump(env, "campaign_entries_by_logged_segment"))
        self.assertEqual(got, sorted((ce.register_no, ce.entry_no) for ce in ces
                                     if ce.register_no),
                         "campaign_entries_by_logged_segment does not match")
        got = sorted(int.from_bytes(k, "big") for k, _ in dump(env, "campaign_entry_range"))
        self.assertEqual(got, sorted(ce.entry_no for ce in ces))
        got = {k.decode(): int.from_bytes(v, "big")
               for k, v in dump(env, "logged_segment_by_segment_no")}
        self.assertEqual(got, {ls.segment_no: ls.entry_no for ls in lss})
        # derived counts match what is there
        for ls in lss:
            mine = [e for e in entries if e.logged_segment_entry_no == ls.entry_no]
            self.assertEqual(ls.no_of_interactions, len(mine), ls.segment_no)
        for ce in ces:
            mine = [e for e in entries if e.campaign_entry_no == ce.entry_no]
            self.assertEqual(ce.no_of_entries, len(mine), ce.entry_no)
        return entries, ces, lss

    def test_segment_delete_paths_keep_indexes_exact(self):
        camps = ["CP1", "CP2", "CP3", "CP4"]
        logged = [self.log_segment("S%d" % k, 600, camps) for k in range(6)]
        self.write(9000, "SHARED0", campaign_no="CP9")  # a single one: register_no 0
        entries, ces, lss = self.check_segment_indexes()
        self.assertEqual(len(ces), 6 * 4 + 1)
        # cancel two logged segments; delete the canceled entries of one of
        # them (600 values of 3 shared contacts leave entries_by_contact)
        for ls in logged[:2]:
            self.cl.ok("logwriter", lw.LogRequest(
                set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(
                    entry_no=ls.logged_segment_no, canceled=True)))
        rep = self.cl.ok("logwriter", lw.LogRequest(delete_canceled_entries=lw.DeleteCanceledEntries(
            filter=lw.EntryFilter(logged_segment_entry_no=logged[0].logged_segment_no))))
        self.assertEqual(rep.count.count, 600)
        self.check_segment_indexes()
        # one campaign entry of a third segment: single-value deletes from
        # campaign_entries_by_logged_segment, its entries with it
        ce = [x for x in self.campaign_entries()
              if x.register_no == logged[2].logged_segment_no][1]
        self.cl.ok("logwriter", lw.LogRequest(set_campaign_entry_canceled=lw.SetCampaignEntryCanceled(
            entry_no=ce.entry_no, canceled=True)))
        self.cl.ok("logwriter", lw.LogRequest(
            delete_canceled_campaign_entries=lw.DeleteCanceledCampaignEntries()))
        entries, ces, lss = self.check_segment_indexes()
        self.assertNotIn(ce.entry_no, [x.entry_no for x in ces])
        self.assertEqual(len([e for e in entries
                              if e.logged_segment_entry_no == logged[2].logged_segment_no]), 450)
        # the canceled logged segments go: every value of their keys leaves
        # campaign_entries_by_logged_segment, and the segment no. index
        rep = self.cl.ok("logwriter", lw.LogRequest(
            delete_canceled_logged_segments=lw.DeleteCanceledLoggedSegments()))
        self.assertEqual(rep.count.count, 2)
        entries, ces, lss = self.check_segment_indexes()
        self.assertEqual(sorted(ls.segment_no for ls in lss), ["S2", "S3", "S4", "S5"])
        # a deleted logged segment's number can be logged again
        again = self.log_segment("S1", 300, ["CP1", "CP2"], attempt=2)
        entries, ces, lss = self.check_segment_indexes()
        self.assertIn(again.logged_segment_no, [ls.entry_no for ls in lss])
        # and a restart reads the same store
        self.cl["logwriter"].stop()
        self.cl["logwriter"].start()
        self.cl.reset_sock("logwriter")
        self.assertEqual(len(self.check_segment_indexes()[0]), len(entries))


if __name__ == "__main__":
    unittest.main()
