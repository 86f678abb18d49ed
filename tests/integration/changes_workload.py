"""A mixed workload through the real workers, with the writer's state after
every durable event, and the check of a change stream against it.

Workload.run() drives catalog, single interactions (with a campaign),
postponed and resumed ones, a deleted postponed one, segment logs with a
follow-up and campaigns, single and campaign-entry cancels and un-cancels,
a logged segment canceled, and the three deletes. After each mutating step
it reads every entry, logged segment and campaign entry the writer shows
(what `rapport entry show` and the list commands print) and files that state
under the newest event seq: `states[seq]`.

check_stream() takes the messages of a change stream, each as
(seq, part, kind, record bytes) with kind "event", "entry",
"logged_segment" or "campaign_entry" (ReadChanges' Change, or a JetStream
message with its Rapport-Seq / Rapport-Part headers and subject), and checks:
seq 1..N each exactly once, in order, parts increasing; every record equals
the writer's state right after its seq; and every record that a seq created
or changed is published with that seq."""
import sys

from harness import c, ia, lw, sg

OUT = c.INFORMATION_FLOW_OUTBOUND
EMAIL, HARD_COPY = c.CORRESPONDENCE_TYPE_EMAIL, c.CORRESPONDENCE_TYPE_HARD_COPY
KINDS = {"entry": c.Entry, "logged_segment": c.LoggedSegment, "campaign_entry": c.CampaignEntry}


class Workload:
    def __init__(self, cl, contacts=40):
        self.cl = cl
        self.snap = True  # False: steps file no state (big stores)
        self.n_contacts = contacts
        self.states = {}  # seq -> {(kind, no): bytes}

    # ---- requests ----

    def ix(self, **cmd):
        return self.cl.ok("interaction", ia.InteractionRequest(**cmd), timeout=30)

    def seg(self, **cmd):
        return self.cl.ok("segment", sg.SegmentRequest(**cmd), timeout=120)

    def lw(self, **cmd):
        return self.cl.ok("logwriter", lw.LogRequest(**cmd), timeout=60)

    def last_seq(self):
        return self.lw(read_events=lw.ReadEvents(from_seq=1, max=1)).events.last_seq

    def snapshot(self):
        """The writer's records now, filed under the newest seq."""
        self.states[self.last_seq()] = writer_state(self.cl)

    def step(self, fn):
        out = fn()
        if self.snap:
            self.snapshot()
        return out

    # ---- the workload ----

    def seed(self):
        self.ix(put_group=ia.InteractionGroup(code="G1", description="Letters"))
        self.ix(put_campaign=ia.Campaign(no="CP1", description="Spring"))
        self.ix(put_campaign=ia.Campaign(no="CP2", description="Autumn"))
        self.ix(put_salesperson=ia.Salesperson(code="SP1", name="Sales one"))
        self.ix(put_template=ia.InteractionTemplate(
            code="MAIL", description="Mailing", interaction_group_code="G1",
            unit_cost_cents=150, unit_duration_min=5, information_flow=OUT,
            correspondence_type=EMAIL))
        self.ix(put_template=ia.InteractionTemplate(
            code="CAMP", description="Campaign letter", interaction_group_code="G1",
            unit_cost_cents=200, unit_duration_min=3, information_flow=OUT,
            correspondence_type=HARD_COPY, campaign_no="CP2", campaign_target=True))
        contacts = [ia.Contact(no="C%04d" % i, name="Contact %d" % i,
                               type=c.CONTACT_TYPE_PERSON, salesperson_code="SP1",
                               correspondence_type=EMAIL, email="c%d@example.com" % i)
                    for i in range(self.n_contacts)]
        # Contact numbers NATS must escape in a subject token.
        contacts.append(ia.Contact(no="K.1 *>", name="Odd", type=c.CONTACT_TYPE_PERSON,
                                   salesperson_code="SP1",
                                   correspondence_type=EMAIL))
        self.ix(import_contacts=ia.ImportContacts(contacts=contacts))
        self.seg(set_numbering=sg.SegmentNumbering(prefix="FU", next=1, width=4))

    def create(self, contact, template="MAIL", postpone=False, comments=()):
        return self.ix(create_interaction=ia.CreateInteraction(
            postpone=postpone, fields=ia.InteractionFields(
                contact_no=contact, interaction_template_code=template, description="Call",
                comments=list(comments)))).entry.entry_no

    def log_segment(self, no, contacts, campaign="", follow_up=False, template="MAIL"):
        fields = sg.SegmentFields(description="Segment " + no, interaction_template_code=template,
                                  salesperson_code="SP1")
        if campaign:
            fields.campaign_no = campaign
        self.seg(create_segment=sg.CreateSegment(no=no, fields=fields))
        for k in range(0, len(contacts), 10000):
            self.seg(add_contacts=sg.AddContacts(segment_no=no,
                                                 contact_nos=list(contacts[k:k + 10000])))
        return self.seg(log_segment=sg.LogSegment(segment_no=no,
                                                  create_follow_up=follow_up)).logged

    def import_big(self, n, prefix="B"):
        for k in range(0, n, 10000):
            self.ix(import_contacts=ia.ImportContacts(contacts=[
                ia.Contact(no="%s%06d" % (prefix, i), name="Big %d" % i,
                           type=c.CONTACT_TYPE_PERSON, salesperson_code="SP1",
                           correspondence_type=EMAIL)
                for i in range(k, min(n, k + 10000))]))

    def log_big(self, no, n, prefix="B", imported=False):
        """A segment of n contacts logged (imported first unless told)."""
        if not imported:
            self.import_big(n, prefix)
        return self.step(lambda: self.log_segment(no, ["%s%06d" % (prefix, i)
                                                       for i in range(n)]))

    def cancel(self, nos, canceled=True):
        return self.lw(set_entries_canceled=lw.SetEntriesCanceled(entry_nos=list(nos),
                                                                   canceled=canceled))

    def create_catalog_and_one(self):
        self.seed()
        return self.create("C0000")

    def run(self, big=0):
        """The mixed workload; `big` adds a segment of that many contacts."""
        self.seed()
        self.snapshot()
        cs = ["C%04d" % i for i in range(self.n_contacts)]
        e1 = self.step(lambda: self.create(cs[0], comments=["first", "second"]))
        self.step(lambda: self.create(cs[1], template="CAMP"))
        self.step(lambda: self.create("K.1 *>"))
        p1 = self.step(lambda: self.create(cs[2], postpone=True))
        self.step(lambda: self.ix(resume_interaction=ia.ResumeInteraction(
            entry_no=p1, fields=ia.InteractionFields(description="Resumed",
                                                     comments=["done"]))))
        p2 = self.step(lambda: self.create(cs[3], postpone=True))
        self.step(lambda: self.ix(delete_postponed=ia.DeletePostponedInteractions(
            entry_nos=[p2])))
        s1 = self.step(lambda: self.log_segment("S1", cs[:20], campaign="CP1", follow_up=True))
        s2 = self.step(lambda: self.log_segment("S2", cs[20:], template="CAMP"))
        if big:
            self.log_big("BIG", big)
        self.step(lambda: self.cancel([e1]))
        self.step(lambda: self.cancel([e1], canceled=False))
        self.step(lambda: self.cancel([s1.first_entry_no + 1, s1.first_entry_no + 2]))
        # The campaign entry of S2's campaign (CP2): cancel it, un-cancel it.
        ce2 = s2.campaign_entries[0].entry_no
        self.step(lambda: self.lw(set_campaign_entry_canceled=lw.SetCampaignEntryCanceled(
            entry_no=ce2, canceled=True)))
        self.step(lambda: self.lw(set_campaign_entry_canceled=lw.SetCampaignEntryCanceled(
            entry_no=ce2, canceled=False)))
        # Delete two canceled entries of S1: its counts go down.
        self.step(lambda: self.lw(delete_canceled_entries=lw.DeleteCanceledEntries()))
        self.step(lambda: self.lw(set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(
            entry_no=s1.logged_segment_no, canceled=True)))
        self.step(lambda: self.lw(set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(
            entry_no=s1.logged_segment_no, canceled=False)))
        self.step(lambda: self.lw(set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(
            entry_no=s1.logged_segment_no, canceled=True)))
        # S1's entries lose their logged segment; its campaign entry its register.
        self.step(lambda: self.lw(delete_canceled_logged_segments=lw.DeleteCanceledLoggedSegments()))
        # Then they are un-canceled through their campaign entry, canceled
        # again, and deleted with it.
        ce1 = s1.campaign_entries[0].entry_no
        self.step(lambda: self.lw(set_campaign_entry_canceled=lw.SetCampaignEntryCanceled(
            entry_no=ce1, canceled=False)))
        self.step(lambda: self.lw(set_campaign_entry_canceled=lw.SetCampaignEntryCanceled(
            entry_no=ce1, canceled=True)))
        self.step(lambda: self.lw(delete_canceled_campaign_entries=lw.DeleteCanceledCampaignEntries()))
        self.step(lambda: self.cancel([s2.first_entry_no]))
        self.step(lambda: self.lw(delete_canceled_entries=lw.DeleteCanceledEntries()))
        self.step(lambda: self.create(cs[5]))
        return self.last_seq()


def writer_state(cl):
    """Every entry, logged segment and campaign entry the writer shows:
    {(kind, no): bytes}."""
    state = {}
    for e in cl.all_entries(timeout=60):
        state[("entry", e.entry_no)] = e.SerializeToString()
    for name, cmd, result, kind in (
            ("list_logged_segments", lw.ListLoggedSegments, "logged_segments",
             "logged_segment"),
            ("list_campaign_entries", lw.ListCampaignEntries, "campaign_entries",
             "campaign_entry")):
        after = 0
        while True:
            page = getattr(cl.ok("logwriter", lw.LogRequest(**{name: cmd(
                after=after, limit=1000)}), timeout=60), result)
            for r in getattr(page, result):
                state[(kind, r.entry_no)] = r.SerializeToString()
            if not page.next_after:
                break
            after = page.next_after
    return state


def replay(msgs):
    """Apply a change stream [(seq, part, kind, bytes)] as a consumer that
    rebuilds the writer's records would: records by (kind, no), deletions
    from the events. Returns (state, events by seq)."""
    state, events = {}, {}
    for seq, part, kind, data in msgs:
        if kind != "event":
            rec = KINDS[kind]()
            rec.ParseFromString(data)
            state[(kind, rec.entry_no)] = data
            continue
        ev = c.Event()
        ev.ParseFromString(data)
        events[seq] = data
        if ev.type in ("entries.deleted", "interaction.postponed_deleted"):
            for r in ev.entries.ranges:
                for no in range(r.first, r.last + 1):
                    state.pop(("entry", no), None)
            for no in ev.entries.campaign_entry_nos:
                state.pop(("campaign_entry", no), None)
        elif ev.type == "logged_segments.deleted":
            for no in ev.logged_segments.logged_segment_nos:
                state.pop(("logged_segment", no), None)
    return state, events


def subject_token(contact_no):
    """The relay's escaping of a contact no. in a subject token: bytes
    outside [A-Za-z0-9_-] become %XX (upper-case hex of each UTF-8 byte)."""
    out = []
    for b in contact_no.encode():
        ch = chr(b)
        if ch.isascii() and (ch.isalnum() or ch in "_-"):
            out.append(ch)
        else:
            out.append("%%%02X" % b)
    return "".join(out) or "%"


def check_stream(test, msgs, states, last_seq, first_seq=1):
    """See the module docstring. msgs: [(seq, part, kind, bytes)]."""
    seqs = sorted(states)
    # Every seq once, in order; parts increasing within a seq; part 0 the event.
    prev = (first_seq - 1, None)
    seen_event = set()
    published = {}
    for seq, part, kind, data in msgs:
        if seq == prev[0]:
            test.assertGreater(part, prev[1], "part %d of seq %d after part %d" %
                               (part, seq, prev[1]))
        else:
            test.assertEqual(seq, prev[0] + 1, "seq %d after seq %d" % (seq, prev[0]))
            test.assertEqual(part, 0, "seq %d starts with part %d" % (seq, part))
        prev = (seq, part)
        if kind == "event":
            ev = c.Event()
            ev.ParseFromString(data)
            test.assertEqual(ev.seq, seq)
            seen_event.add(seq)
            continue
        rec = KINDS[kind]()
        rec.ParseFromString(data)
        published.setdefault(seq, {})[(kind, rec.entry_no)] = data
    test.assertEqual(prev[0], last_seq, "the stream ends at seq %d, not %d" % (prev[0], last_seq))
    test.assertEqual(seen_event, set(range(first_seq, last_seq + 1)))
    # Records equal the writer's state right after their seq; what a seq
    # created or changed is there.
    checked = 0
    for i, seq in enumerate(seqs):
        if seq < first_seq:
            continue
        before = states[seqs[i - 1]] if i else {}
        after = states[seq]
        got = published.get(seq, {})
        # A step of several events files its state under the last one.
        if i and seqs[i - 1] != seq - 1:
            continue
        for key, data in got.items():
            test.assertIn(key, after, "seq %d published %s %d, which the writer does not show"
                          % (seq, key[0], key[1]))
            if data != after[key]:
                want, have = KINDS[key[0]](), KINDS[key[0]]()
                want.ParseFromString(after[key])
                have.ParseFromString(data)
                test.fail("seq %d: %s %d differs from the writer's\nstream: %s\nwriter: %s" % (
                    seq, key[0], key[1], have, want))
            checked += 1
        for key, data in after.items():
            if before.get(key) != data:
                test.assertIn(key, got, "seq %d changed %s %d but did not publish it" %
                              (seq, key[0], key[1]))
    print("checked %d records of %d seqs" % (checked, len(seqs)), file=sys.stderr)
    return checked
