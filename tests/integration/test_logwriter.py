"""rapport-logwriter through its real socket: entries, idempotency, events,
durability across kill -9, segment log streams, cancel and delete rules,
and bad input."""
import unittest

from harness import (TODAY_INT, ClusterTest, c, lw, packed, recv_events, wait_for)


def entry(contact="C1", template="CALL", group="G1", date=TODAY_INT, cost=100, dur=5,
          **kw):
    return c.Entry(contact_no=contact, contact_company_no=kw.pop("company", ""),
                   interaction_template_code=template, interaction_group_code=group, date=date,
                   description=kw.pop("description", "a call"), cost_cents=cost,
                   duration_min=dur, **kw)


class LogWriterTest(ClusterTest):
    WORKERS = ("logwriter",)

    def write(self, e, resume=False, rid=None):
        req = lw.LogRequest(write_entry=lw.WriteEntry(entry=e, resume=resume))
        if rid:
            req.request_id = rid
        return self.cl.call("logwriter", req)

    def list(self, **f):
        after = f.pop("after", 0)
        limit = f.pop("limit", 0)
        desc = f.pop("descending", False)
        rep = self.cl.ok("logwriter", lw.LogRequest(list_entries=lw.ListEntries(
            filter=lw.EntryFilter(**f), after=after, limit=limit, descending=desc)))
        return rep.entries

    def nos(self, **f):
        return [e.entry_no for e in self.list(**f).entries]

    def stats(self, by=lw.STATISTICS_GROUP_BY_TEMPLATE, **kw):
        rep = self.cl.ok("logwriter", lw.LogRequest(statistics=lw.GetEntryStatistics(
            group_by=by, **kw)))
        return {r.code: (r.no_of_interactions, r.cost_cents, r.duration_min)
                for r in rep.statistics.rows}

    def set_canceled(self, nos, canceled=True):
        return self.cl.call("logwriter", lw.LogRequest(
            set_entries_canceled=lw.SetEntriesCanceled(entry_nos=nos, canceled=canceled)))

    def test_gapless_numbers_indexes_and_filters(self):
        for i in range(5):
            rep = self.write(entry(contact="C%d" % (i % 2), template="T%d" % (i % 3),
                                   salesperson_code="SP", date=TODAY_INT + i))
            self.assertStatus(rep, c.OK)
            self.assertEqual(rep.entry.entry_no, i + 1)
        self.assertEqual(self.nos(contact_no="C0"), [1, 3, 5])
        self.assertEqual(self.nos(contact_no="C0", descending=True), [5, 3, 1])
        self.assertEqual(self.nos(contact_no="C0", descending=True, after=5), [3, 1])
        self.assertEqual(self.nos(contact_no="C1", after=2), [4])
        self.assertEqual(self.nos(interaction_template_code="T0"), [1, 4])
        self.assertEqual(self.nos(date_from=TODAY_INT + 1, date_to=TODAY_INT + 3), [2, 3, 4])
        self.assertEqual(self.nos(entry_no_from=2, entry_no_to=3), [2, 3])
        self.assertEqual(self.nos(salesperson_code="SP"), [1, 2, 3, 4, 5])
        self.assertEqual(self.nos(salesperson_code="XX"), [])
        page = self.list(limit=2)
        self.assertEqual([e.entry_no for e in page.entries], [1, 2])
        self.assertEqual(page.next_after, 2)
        page = self.list(limit=2, after=4)
        self.assertEqual([e.entry_no for e in page.entries], [5])
        self.assertEqual(page.next_after, 0)

    def test_min_seq_read_your_writes_on_the_primary(self):
        rep = self.write(entry())
        self.assertStatus(rep, c.OK)
        seq = rep.seq
        self.assertGreater(seq, 0)
        # a seq the primary has replied with is there at once
        rep = self.cl.call("logwriter", lw.LogRequest(
            min_seq=seq, list_entries=lw.ListEntries(limit=10)))
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.seq, seq)
        self.assertEqual([e.entry_no for e in rep.entries.entries], [1])
        # one it never replied with is refused now, not after the timeout
        rep = self.cl.call("logwriter", lw.LogRequest(
            min_seq=seq + 5, timeout_ms=60000, list_entries=lw.ListEntries(limit=10)))
        self.assertStatus(rep, c.OUT_OF_RANGE, field="min_seq")
        self.assertIn("beyond this log writer's last seq %d" % seq, rep.status.message)
        self.assertEqual(rep.seq, seq)

    def test_same_request_id_applies_once_with_identical_reply(self):
        req = lw.LogRequest(request_id=b"retry-1", user_id="u",
                            write_entry=lw.WriteEntry(entry=entry()))
        data = req.SerializeToString()
        self.cl.send_raw("logwriter", [data])
        first = self.cl.recv_raw("logwriter")[-1]
        self.cl.send_raw("logwriter", [data])
        second = self.cl.recv_raw("logwriter")[-1]
        self.assertEqual(first, second)
        self.assertEqual(self.nos(), [1])
        events = self.cl.read_events()
        self.assertEqual([e.type for e in events], ["interaction.logged"])

    def test_concurrent_duplicates_coalesce(self):
        req = lw.LogRequest(request_id=b"dup-burst", user_id="u",
                            write_entry=lw.WriteEntry(entry=entry()))
        data = req.SerializeToString()
        for _ in range(20):
            self.cl.send_raw("logwriter", [data])
        replies = {self.cl.recv_raw("logwriter")[-1] for _ in range(20)}
        self.assertEqual(len(replies), 1)
        self.assertEqual(self.nos(), [1])

    def test_single_interaction_campaign_entry(self):
        rep = self.write(entry(campaign_no="CP1", salesperson_code="SP"))
        self.assertEqual(rep.entry.campaign_entry_no, 1)
        ces = self.cl.ok("logwriter", lw.LogRequest(
            list_campaign_entries=lw.ListCampaignEntries())).campaign_entries.campaign_entries
        self.assertEqual(len(ces), 1)
        self.assertEqual((ces[0].register_no, ces[0].description, ces[0].campaign_no,
                          ces[0].salesperson_code), (0, "Interactions", "CP1", "SP"))
        # A postponed one gets none.
        rep = self.write(entry(campaign_no="CP1", postponed=True))
        self.assertEqual(rep.entry.campaign_entry_no, 0)

    def test_statistics_skip_canceled_and_postponed(self):
        self.write(entry(template="A", group="G", cost=100, dur=10))
        self.write(entry(template="A", group="G", cost=50, dur=5, date=TODAY_INT + 1))
        self.write(entry(template="B", group="G", cost=7, dur=1))
        self.write(entry(template="A", group="G", cost=1000, dur=100, postponed=True))
        self.assertEqual(self.stats(), {"A": (2, 150, 15), "B": (1, 7, 1)})
        self.assertEqual(self.stats(by=lw.STATISTICS_GROUP_BY_GROUP), {"G": (3, 157, 16)})
        self.assertEqual(self.stats(date_from=TODAY_INT + 1), {"A": (1, 50, 5)})
        # a refusal (4 is postponed) changes nothing: all or nothing
        n_events = len(self.cl.read_events())
        self.assertStatus(self.set_canceled([1, 4]), c.FAILED_PRECONDITION)
        self.assertEqual(self.nos(canceled=c.TRI_STATE_YES), [])
        self.assertEqual(self.stats(), {"A": (2, 150, 15), "B": (1, 7, 1)})
        self.assertEqual(len(self.cl.read_events()), n_events)
        self.assertStatus(self.set_canceled([1]), c.OK)
        self.assertEqual(self.stats(), {"A": (1, 50, 5), "B": (1, 7, 1)})
        self.assertStatus(self.set_canceled([1], False), c.OK)
        self.assertEqual(self.stats()["A"], (2, 150, 15))
        # A number given twice counts once: the figures drop by one entry,
        # and the reply and the event name it once.
        rep = self.set_canceled([2, 1, 2])
        self.assertEqual(rep.count.count, 2)
        self.assertEqual(self.stats(), {"B": (1, 7, 1)})
        self.assertStatus(self.set_canceled([2, 2, 1], False), c.OK)
        self.assertEqual(self.stats(), {"A": (2, 150, 15), "B": (1, 7, 1)})
        canceled = [e for e in self.cl.read_events() if e.type == "entries.canceled"]
        self.assertEqual([(r.first, r.last) for r in canceled[-1].entries.ranges], [(1, 2)])

    def test_cancel_rules_and_delete_canceled(self):
        for i in range(4):
            self.write(entry(contact="C%d" % (i % 2), campaign_no="CP" if i == 3 else ""))
        rep = self.set_canceled([2, 99])
        self.assertStatus(rep, c.NOT_FOUND, "The Interaction Log Entry does not exist. "
                          "Identification fields and values: Entry No.='99'")
        self.assertEqual(self.nos(canceled=c.TRI_STATE_YES), [])  # all or nothing
        self.assertEqual(self.set_canceled([1, 2, 4]).count.count, 3)
        self.assertEqual(self.nos(canceled=c.TRI_STATE_YES), [1, 2, 4])
        self.assertEqual(self.nos(canceled=c.TRI_STATE_NO), [3])
        rep = self.cl.ok("logwriter", lw.LogRequest(delete_canceled_entries=lw.DeleteCanceledEntries(
            filter=lw.EntryFilter(contact_no="C1"))))
        self.assertEqual(rep.count.count, 2)  # 2 and 4
        self.assertEqual(self.nos(), [1, 3])
        self.assertEqual(self.nos(contact_no="C1"), [])
        rep = self.cl.ok("logwriter", lw.LogRequest(delete_canceled_entries=lw.DeleteCanceledEntries()))
        self.assertEqual(rep.count.count, 1)
        self.assertEqual(self.nos(), [3])
        types = [e.type for e in self.cl.read_events()]
        self.assertEqual(types.count("entries.deleted"), 2)
        # the number of a deleted entry is never reused
        self.assertEqual(self.write(entry()).entry.entry_no, 5)

    def test_resume_and_delete_postponed(self):
        p = self.write(entry(postponed=True)).entry
        f = self.write(entry()).entry
        rep = self.write(entry(entry_no=f.entry_no), resume=True)
        self.assertStatus(rep, c.FAILED_PRECONDITION,
                          "Interaction Log Entry %d is not postponed." % f.entry_no)
        e = entry(entry_no=p.entry_no, description="done", campaign_no="CP")
        rep = self.write(e, resume=True)
        self.assertStatus(rep, c.OK)
        self.assertEqual((rep.entry.entry_no, rep.entry.postponed, rep.entry.description),
                         (p.entry_no, False, "done"))
        self.assertNotEqual(rep.entry.campaign_entry_no, 0)
        self.assertEqual(self.nos(postponed=c.TRI_STATE_YES), [])
        q = self.write(entry(postponed=True)).entry
        rep = self.cl.call("logwriter", lw.LogRequest(
            delete_postponed_entries=lw.DeletePostponedEntries(entry_nos=[q.entry_no, f.entry_no])))
        self.assertStatus(rep, c.FAILED_PRECONDITION)
        self.assertEqual(self.nos(postponed=c.TRI_STATE_YES), [q.entry_no])
        rep = self.cl.ok("logwriter", lw.LogRequest(
            delete_postponed_entries=lw.DeletePostponedEntries(entry_nos=[q.entry_no])))
        self.assertEqual(rep.count.count, 1)
        self.assertEqual(self.nos(postponed=c.TRI_STATE_YES), [])
        types = [ev.type for ev in self.cl.read_events()]
        self.assertEqual(types, ["interaction.postponed", "interaction.logged",
                                 "interaction.resumed", "interaction.postponed",
                                 "interaction.postponed_deleted"])

    def test_kill9_after_ack_keeps_entry_and_event(self):
        sub = self.cl.subscribe()
        acked = [self.write(entry(contact="K%d" % i)).entry.entry_no for i in range(3)]
        got = recv_events(sub, 3)
        self.assertEqual([t for t, _ in got], ["interaction.logged"] * 3)
        self.cl["logwriter"].kill()
        self.cl["logwriter"].start()
        self.cl.reset_sock("logwriter")
        self.assertEqual(self.nos(), acked)
        events = self.cl.read_events()
        self.assertEqual([e.seq for e in events], [1, 2, 3])
        self.assertEqual([e.entry.entry_no for e in events], acked)
        self.assertEqual(self.write(entry()).entry.entry_no, 4)

    def test_late_subscriber_recovers_every_event(self):
        for i in range(25):
            self.write(entry(contact="L%d" % i))
        sub = self.cl.subscribe()
        self.write(entry(contact="LIVE"))
        live = recv_events(sub, 1)
        self.assertEqual(live[0][1].seq, 26)
        # seq 26 arrived first: the gap 1..25 is replayed from the log
        replay = self.cl.read_events(from_seq=1)
        self.assertEqual([e.seq for e in replay], list(range(1, 27)))
        self.assertEqual(len({e.event_id for e in replay}), 26)
        # paging with a small max keeps next_seq right
        rep = self.cl.ok("logwriter", lw.LogRequest(read_events=lw.ReadEvents(from_seq=10, max=5)))
        self.assertEqual([e.seq for e in rep.events.events], [10, 11, 12, 13, 14])
        self.assertEqual(rep.events.next_seq, 15)
        self.assertEqual(rep.events.last_seq, 26)
        rep = self.cl.ok("logwriter", lw.LogRequest(read_events=lw.ReadEvents(
            from_seq=1, type_prefix="entries.")))
        self.assertEqual(len(rep.events.events), 0)
        self.assertEqual(rep.events.next_seq, 27)

    def begin(self, log_id=b"L1", segment="SEG1", lines=3, campaigns=()):
        return self.cl.call("logwriter", lw.LogRequest(log_begin=lw.SegmentLogBegin(
            log_id=log_id, segment_no=segment, description="Spring mailing",
            creation_date=TODAY_INT, line_count=lines, campaign_nos=list(campaigns),
            date=TODAY_INT, salesperson_code="SP", follow_up_segment_no="SEG2")))

    def batch(self, log_id, index, entries):
        return self.cl.call("logwriter", lw.LogRequest(log_batch=lw.SegmentLogBatch(
            log_id=log_id, index=index, packed_entries=packed(entries))))

    def commit(self, log_id, count):
        return self.cl.call("logwriter", lw.LogRequest(log_commit=lw.SegmentLogCommit(
            log_id=log_id, count=count)))

    def test_segment_log_is_invisible_until_commit_and_exactly_once(self):
        self.write(entry(contact="X"))
        sub = self.cl.subscribe()
        st = self.begin(lines=4, campaigns=["CP1", "CP2"]).log_started
        self.assertEqual((st.logged_segment_no, st.first_entry_no), (1, 2))
        lines = [entry(contact="S%d" % i, campaign_no=["CP1", "CP2", "", "CP1"][i])
                 for i in range(4)]
        self.assertStatus(self.batch(b"L1", 0, lines[:2]), c.OK)
        # a single interaction in between takes a number after the range
        self.assertEqual(self.write(entry(contact="Y")).entry.entry_no, 6)
        self.assertEqual(self.nos(), [1, 6])
        self.assertEqual(self.nos(contact_no="S0"), [])
        self.assertStatus(self.commit(b"L1", 4), c.ABORTED)  # incomplete
        self.assertStatus(self.batch(b"L1", 3, lines[3:]), c.ABORTED)  # gap
        self.assertStatus(self.batch(b"L1", 0, lines[:2]), c.OK)  # resent: no-op
        self.assertStatus(self.batch(b"L1", 2, lines[2:]), c.OK)
        rep = self.commit(b"L1", 4)
        self.assertStatus(rep, c.OK)
        logged = rep.segment_logged
        self.assertEqual((logged.first_entry_no, logged.last_entry_no, logged.entry_count,
                          logged.follow_up_segment_no), (2, 5, 4, "SEG2"))
        self.assertEqual([(ce.campaign_no, ce.register_no, ce.no_of_entries, ce.description)
                          for ce in logged.campaign_entries],
                         [("CP1", 1, 2, "Spring mailing"), ("CP2", 1, 1, "Spring mailing")])
        self.assertEqual(self.nos(), [1, 2, 3, 4, 5, 6])
        es = self.list(logged_segment_entry_no=1).entries
        self.assertEqual([(e.contact_no, e.campaign_entry_no, e.segment_no) for e in es],
                         [("S0", 1, "SEG1"), ("S1", 2, "SEG1"), ("S2", 0, "SEG1"),
                          ("S3", 1, "SEG1")])
        self.assertEqual(self.nos(segment_no="SEG1"), [2, 3, 4, 5])
        self.assertEqual(self.stats()["CALL"][0], 6)
        # Repeats: the committed log_id answers from its record
        again = self.begin(lines=4, campaigns=["CP1", "CP2"]).log_started
        self.assertTrue(again.committed)
        self.assertEqual(again.logged.last_entry_no, 5)
        self.assertEqual(self.commit(b"L1", 4).segment_logged, logged)
        rep = self.begin(log_id=b"L2", lines=1)
        self.assertStatus(rep, c.ALREADY_EXISTS, "Logged Segment for Segment No. SEG1 already exists.")
        topics = [t for t, ev in recv_events(sub, 10, timeout=3) if ev.seq]
        self.assertEqual(topics.count("segment.logged"), 1)
        self.assertEqual(len([e for e in self.cl.read_events() if e.type == "segment.logged"]), 1)

    def test_segment_log_begin_validation(self):
        self.assertStatus(self.cl.call("logwriter", lw.LogRequest(log_begin=lw.SegmentLogBegin(
            log_id=b"V", segment_no="S9", creation_date=TODAY_INT, line_count=1))),
            c.INVALID_ARGUMENT, "Description must have a value in Segment Header: No.=S9.")
        self.assertStatus(self.begin(log_id=b"V2", segment="S8", lines=0), c.FAILED_PRECONDITION,
                          "Segment S8 is empty.")

    def test_writer_crash_mid_stream_then_begin_again(self):
        self.begin(lines=3)
        self.assertStatus(self.batch(b"L1", 0, [entry(contact="A"), entry(contact="B")]), c.OK)
        self.cl["logwriter"].kill()
        self.cl["logwriter"].start()
        self.cl.reset_sock("logwriter")
        self.assertEqual(self.nos(), [])
        rep = self.batch(b"L1", 2, [entry(contact="C")])
        self.assertStatus(rep, c.ABORTED)  # must begin again after a restart
        st = self.begin(lines=3).log_started
        self.assertEqual((st.first_entry_no, st.committed), (1, False))
        self.assertStatus(self.batch(b"L1", 0, [entry(contact=x) for x in "ABC"]), c.OK)
        self.assertStatus(self.commit(b"L1", 3), c.OK)
        self.assertEqual([e.contact_no for e in self.list().entries], ["A", "B", "C"])
        self.assertEqual(self.stats()["CALL"][0], 3)

    def test_logged_segment_cancel_toggle_and_deletes(self):
        self.begin(lines=3, campaigns=["CP"])
        self.batch(b"L1", 0, [entry(contact=x, campaign_no="CP") for x in "ABC"])
        self.commit(b"L1", 3)
        single = self.write(entry(contact="D", campaign_no="CP")).entry
        set_ls = lambda v: self.cl.call("logwriter", lw.LogRequest(
            set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(entry_no=1, canceled=v)))
        self.assertTrue(set_ls(True).logged_segment.canceled)
        self.assertEqual(self.nos(canceled=c.TRI_STATE_YES), [1, 2, 3])
        self.assertEqual(self.stats()["CALL"][0], 1)
        rep = self.set_canceled([2], False)
        self.assertStatus(rep, c.FAILED_PRECONDITION,
                          "Canceled must be equal to 'No' in Logged Segment: Entry No.=1.")
        self.assertFalse(set_ls(False).logged_segment.canceled)
        self.assertEqual(self.nos(canceled=c.TRI_STATE_YES), [])
        self.assertEqual(self.stats()["CALL"][0], 4)
        # campaign entry of the single interaction
        set_ce = lambda n, v: self.cl.call("logwriter", lw.LogRequest(
            set_campaign_entry_canceled=lw.SetCampaignEntryCanceled(entry_no=n, canceled=v)))
        self.assertTrue(set_ce(single.campaign_entry_no, True).campaign_entry.canceled)
        self.assertEqual(self.nos(canceled=c.TRI_STATE_YES), [single.entry_no])
        self.assertStatus(self.set_canceled([single.entry_no], False), c.FAILED_PRECONDITION,
                          "Canceled must be equal to 'No' in Campaign Entry: Entry No.=%d."
                          % single.campaign_entry_no)
        # delete canceled campaign entries: its entries go too
        rep = self.cl.ok("logwriter", lw.LogRequest(
            delete_canceled_campaign_entries=lw.DeleteCanceledCampaignEntries()))
        self.assertEqual(rep.count.count, 1)
        self.assertEqual(self.nos(), [1, 2, 3])
        # delete canceled logged segments: entries and campaign entries stay, links zeroed
        set_ls(True)
        rep = self.cl.ok("logwriter", lw.LogRequest(
            delete_canceled_logged_segments=lw.DeleteCanceledLoggedSegments()))
        self.assertEqual(rep.count.count, 1)
        es = self.list().entries
        self.assertEqual([e.logged_segment_entry_no for e in es], [0, 0, 0])
        ces = self.cl.ok("logwriter", lw.LogRequest(
            list_campaign_entries=lw.ListCampaignEntries())).campaign_entries.campaign_entries
        self.assertEqual([(ce.entry_no, ce.register_no) for ce in ces], [(1, 0)])
        # the segment no. can be logged again
        self.assertStatus(self.begin(log_id=b"L3", lines=1), c.OK)

    def test_bad_input_gets_error_replies_and_worker_keeps_serving(self):
        def status_of(frames):
            self.cl.send_raw("logwriter", frames)
            rep = lw.LogReply()
            rep.ParseFromString(self.cl.recv_raw("logwriter")[-1])
            return rep
        rep = status_of([b"\xff\xff\xff garbage"])
        self.assertStatus(rep, c.INVALID_ARGUMENT)
        good = lw.LogRequest(request_id=b"t1", write_entry=lw.WriteEntry(entry=entry()))
        rep = status_of([good.SerializeToString()[:-3]])
        self.assertStatus(rep, c.INVALID_ARGUMENT)
        rep = status_of([lw.LogRequest(request_id=b"u1").SerializeToString()])
        self.assertStatus(rep, c.INVALID_ARGUMENT, field="command")
        self.assertEqual(rep.request_id, b"u1")
        # unknown command number (field 99 as a message)
        rep = status_of([b"\x0a\x02u2" + b"\x9a\x06\x00"])
        self.assertStatus(rep, c.INVALID_ARGUMENT)
        self.assertEqual(rep.request_id, b"u2")
        bad = lw.LogRequest(request_id=b"e1", write_entry=lw.WriteEntry(entry=entry()))
        bad.write_entry.entry.information_flow = 7
        self.assertStatus(status_of([bad.SerializeToString()]), c.INVALID_ARGUMENT)
        long_code = lw.LogRequest(request_id=b"e2", write_entry=lw.WriteEntry(
            entry=entry(template="ABCDEFGHIJK")))
        rep = status_of([long_code.SerializeToString()])
        self.assertStatus(rep, c.INVALID_ARGUMENT,
                          field="write_entry.entry.interaction_template_code")
        self.assertIn("less than or equal to 10 characters", rep.status.message)
        norid = lw.LogRequest(write_entry=lw.WriteEntry(entry=entry()))
        rep = status_of([norid.SerializeToString()])
        self.assertStatus(rep, c.INVALID_ARGUMENT, field="request_id")
        nul = lw.LogRequest(request_id=b"e3", write_entry=lw.WriteEntry(entry=entry(
            description="a\x00b")))
        self.assertStatus(status_of([nul.SerializeToString()]), c.INVALID_ARGUMENT)
        big = lw.LogRequest(request_id=b"big", write_entry=lw.WriteEntry(entry=entry(
            comments=[c.CommentLine(line_no=i, comment="x" * 200) for i in range(30000)])))
        rep = status_of([big.SerializeToString()])
        self.assertStatus(rep, c.RESOURCE_EXHAUSTED)
        self.assertEqual(rep.request_id, b"big")
        self.assertEqual(self.nos(), [])
        self.assertStatus(self.write(entry()), c.OK)
        self.assertTrue(self.cl["logwriter"].alive())

    def test_sigterm_exits_zero(self):
        self.write(entry())
        self.assertEqual(self.cl["logwriter"].stop(), 0)


    # ---- event retention: the durable event log keeps event_retention_days
    # (7); a pruning pass (5 s after the start, then every minute) deletes
    # older events, and only those; the entries stay.

    def restart(self, shift_days):
        w = self.cl["logwriter"]
        self.assertEqual(w.stop(), 0)
        w.env = {"RAPPORT_CLOCK_SHIFT_DAYS": str(shift_days)} if shift_days else {}
        w.start()
        self.cl.reset_sock("logwriter")

    def first_seq(self):
        return self.cl.ok("logwriter", lw.LogRequest(read_events=lw.ReadEvents(
            from_seq=1, max=1))).events.first_seq

    def test_events_past_retention_are_pruned(self):
        self.restart(-10)  # ten days ago
        for i in range(3):
            self.write(entry(contact="OLD%d" % i))
        self.restart(-6)  # within the seven days
        for i in range(2):
            self.write(entry(contact="NEW%d" % i))
        self.restart(0)
        self.assertEqual(self.first_seq(), 1)
        wait_for(lambda: self.first_seq() == 4, 30, "a pruning pass")
        self.assertEqual([(e.seq, e.entry.entry_no) for e in self.cl.read_events()],
                         [(4, 4), (5, 5)])
        self.assertEqual(self.nos(), [1, 2, 3, 4, 5])
        self.assertEqual(self.write(entry()).entry.entry_no, 6)
        self.assertEqual([e.seq for e in self.cl.read_events()], [4, 5, 6])


if __name__ == "__main__":
    unittest.main()
