"""Segments through the real binaries (rapport-interaction, rapport-segment,
rapport-logwriter): every rule and error text of docs/domain.md sections 6
(segments), 7 (logging a segment) and 8 (canceling and deleting), the
idempotent LogSegment, and a 100,000-contact segment logged with a
follow-up."""
import time
import unittest

from harness import TODAY_INT, ClusterTest, c, ia, lw, recv_events, sg, wait_for

HARD_COPY = c.CORRESPONDENCE_TYPE_HARD_COPY
EMAIL = c.CORRESPONDENCE_TYPE_EMAIL
NO_CORR = c.CORRESPONDENCE_TYPE_NONE
OUT, INB = c.INFORMATION_FLOW_OUTBOUND, c.INFORMATION_FLOW_INBOUND
US, THEM = c.INITIATED_BY_US, c.INITIATED_BY_THEM
YES, NO = c.TRI_STATE_YES, c.TRI_STATE_NO

LOGGING_TEXT = "Segment %s is being logged."
NUMBERING_TEXT = "Segment Nos. must have a value in Marketing Setup."


def no_segment(no):
    return ("The Segment Header does not exist. Identification fields and values: No.='%s'"
            % no)


def no_record(table, field, key):
    return "The %s does not exist. Identification fields and values: %s='%s'" % (
        table, field, key)


class SegmentCase(ClusterTest):
    """Catalog seed and request helpers shared by the segment tests."""

    def setUp(self):
        super().setUp()
        try:
            self.fixture()
        except BaseException:
            self.cl.close()  # tearDown does not run after a failed setUp
            raise

    def fixture(self):
        """What every test of the class starts from."""

    # ---- requests ----

    def ix(self, **cmd):
        return self.cl.ok("interaction", ia.InteractionRequest(**cmd))

    def seg(self, timeout=30.0, rid=None, user="tester", **cmd):
        req = sg.SegmentRequest(user_id=user, **cmd)
        if rid:
            req.request_id = rid
        return self.cl.call("segment", req, timeout=timeout)

    def answer_unless_unavailable(self, req):
        """The worker's reply to req (resent every second), or None while it
        is UNAVAILABLE."""
        rep = self.cl.call("segment", req, timeout=60, retry=1.0)
        return None if rep.status.code == c.UNAVAILABLE else rep

    def seg_ok(self, **cmd):
        rep = self.seg(**cmd)
        self.assertStatus(rep, c.OK)
        return rep

    def lw(self, **cmd):
        return self.cl.call("logwriter", lw.LogRequest(**cmd))

    def lw_ok(self, **cmd):
        rep = self.lw(**cmd)
        self.assertStatus(rep, c.OK)
        return rep

    # ---- catalog ----

    def seed(self):
        self.ix(put_group=ia.InteractionGroup(code="G1", description="Letters"))
        self.ix(put_group=ia.InteractionGroup(code="G2", description="Calls"))
        for no in ("CP1", "CP2"):
            self.ix(put_campaign=ia.Campaign(no=no, description="Campaign " + no))
        for code in ("SP1", "SP2"):
            self.ix(put_salesperson=ia.Salesperson(code=code, name="Sales " + code))
        self.template("MAIL", "G1", 150, 5, OUT, US, HARD_COPY, language="EN",
                      description="Mailing")
        for lang in ("EN", "DE"):
            self.ix(put_template_language=ia.PutTemplateLanguage(
                template_code="MAIL", language_code=lang, description="Mailing " + lang))
        self.template("CALL", "G2", 300, 10, INB, THEM, EMAIL, description="Phone call")
        self.template("IGN", "G1", 50, 1, OUT, US, EMAIL, ignore=True, description="E-mail blast")
        self.template("CAMP", "G2", 200, 3, OUT, THEM, HARD_COPY, campaign="CP2",
                      target=True, description="Campaign letter")
        self.contact("CO1", c.CONTACT_TYPE_COMPANY, sp="SP1", lang="EN", corr=HARD_COPY,
                     email="co1@example.com")
        self.contact("CO2", c.CONTACT_TYPE_COMPANY, sp="SP2")
        self.contact("P1", company="CO1", sp="SP1", lang="DE", corr=EMAIL,
                     email="p1@example.com")
        self.contact("P2", company="CO1", sp="SP2", lang="FR", corr=NO_CORR)
        self.contact("P3", sp="SP2", corr=HARD_COPY, email="p3@example.com")
        self.contact("P4", corr=EMAIL)  # no salesperson, no e-mail

    def template(self, code, group, cost, dur, flow, init, corr, language="", ignore=False,
                 campaign="", target=False, description=""):
        self.ix(put_template=ia.InteractionTemplate(
            code=code, description=description or code, interaction_group_code=group,
            unit_cost_cents=cost, unit_duration_min=dur, information_flow=flow,
            initiated_by=init, correspondence_type=corr, language_code=language,
            ignore_contact_corr_type=ignore, campaign_no=campaign, campaign_target=target))

    def contact(self, no, typ=c.CONTACT_TYPE_PERSON, company="", sp="", lang="",
                corr=NO_CORR, email=""):
        self.ix(put_contact=ia.Contact(no=no, name="Name " + no, type=typ, company_no=company,
                                       salesperson_code=sp, language_code=lang,
                                       correspondence_type=corr, email=email))

    def numbering(self, prefix="SEG", nxt=1, width=5):
        return self.seg_ok(set_numbering=sg.SegmentNumbering(prefix=prefix, next=nxt,
                                                             width=width))

    # ---- segments ----

    def create(self, no="", **fields):
        rep = self.seg(create_segment=sg.CreateSegment(no=no, fields=sg.SegmentFields(**fields)))
        self.assertStatus(rep, c.OK)
        return rep.segment

    def update(self, no, update_lines=None, **fields):
        u = sg.UpdateSegment(segment_no=no, fields=sg.SegmentFields(**fields))
        if update_lines is not None:
            u.update_lines = update_lines
        return self.seg(update_segment=u)

    def update_ok(self, no, update_lines=None, **fields):
        rep = self.update(no, update_lines, **fields)
        self.assertStatus(rep, c.OK)
        return rep.segment

    def add(self, no, contacts=(), company="", salesperson=""):
        return self.seg(add_contacts=sg.AddContacts(segment_no=no, contact_nos=list(contacts),
                                                    company_no=company,
                                                    salesperson_code=salesperson))

    def add_ok(self, no, contacts=(), company="", salesperson=""):
        rep = self.add(no, contacts, company, salesperson)
        self.assertStatus(rep, c.OK)
        return rep.added

    def get(self, no):
        return self.seg(get_segment=sg.SegmentRef(segment_no=no))

    def header(self, no):
        rep = self.get(no)
        self.assertStatus(rep, c.OK)
        return rep.segment

    def lines(self, no):
        out, after = [], 0
        while True:
            rep = self.seg_ok(list_lines=sg.ListLines(segment_no=no, after=after, limit=5000))
            out.extend(rep.lines.lines)
            if not rep.lines.next_after:
                return out
            after = rep.lines.next_after

    def by_contact(self, no):
        return {l.contact_no: l for l in self.lines(no)}

    def set_line(self, no, line_no, **fields):
        return self.seg(update_line=sg.UpdateLine(segment_no=no, line_no=line_no,
                                                  fields=sg.LineFields(**fields)))

    def log(self, no, follow_up=False, rid=None, user="logger", timeout=60.0):
        return self.seg(log_segment=sg.LogSegment(segment_no=no, create_follow_up=follow_up),
                        rid=rid, user=user, timeout=timeout)

    # ---- the writer's side ----

    def entries(self, **f):
        out, after = [], 0
        while True:
            rep = self.lw_ok(list_entries=lw.ListEntries(filter=lw.EntryFilter(**f), after=after,
                                                         limit=1000))
            out.extend(rep.entries.entries)
            if not rep.entries.next_after:
                return out
            after = rep.entries.next_after

    def logged_segments(self, segment_no=""):
        return list(self.lw_ok(list_logged_segments=lw.ListLoggedSegments(
            segment_no=segment_no, limit=1000)).logged_segments.logged_segments)

    def campaign_entries(self, campaign_no=""):
        return list(self.lw_ok(list_campaign_entries=lw.ListCampaignEntries(
            campaign_no=campaign_no, limit=1000)).campaign_entries.campaign_entries)

    def assert_nothing_logged(self):
        self.assertEqual(self.entries(), [])
        self.assertEqual(self.logged_segments(), [])
        self.assertEqual(self.campaign_entries(), [])
        self.assertEqual([e.type for e in self.cl.read_events()], [])


class NumberingAndHeaderTest(SegmentCase):
    def fixture(self):
        self.seed()

    def test_numbering_set_unset_and_create_without_no(self):
        rep = self.seg_ok(get_numbering=sg.GetNumbering())
        self.assertEqual((rep.numbering.width, rep.numbering.next), (0, 0))
        rep = self.seg(create_segment=sg.CreateSegment(fields=sg.SegmentFields(description="x")))
        self.assertStatus(rep, c.FAILED_PRECONDITION, NUMBERING_TEXT)
        self.assertEqual(list(self.seg_ok(list_segments=sg.ListSegments()).segments.segments), [])
        self.numbering("SEG", 1, 5)
        self.assertEqual(self.create(description="first").no, "SEG00001")
        self.create("SEG00002", description="taken by hand")
        self.assertEqual(self.create(description="third").no, "SEG00003")  # skips a taken No.
        rep = self.seg_ok(get_numbering=sg.GetNumbering())
        self.assertEqual((rep.numbering.prefix, rep.numbering.next, rep.numbering.width),
                         ("SEG", 4, 5))
        rep = self.seg(create_segment=sg.CreateSegment(no="SEG00001"))
        self.assertStatus(rep, c.ALREADY_EXISTS, "The Segment Header already exists. "
                          "Identification fields and values: No.='SEG00001'")
        # width 0 unsets numbering again
        self.seg_ok(set_numbering=sg.SegmentNumbering())
        rep = self.seg(create_segment=sg.CreateSegment(fields=sg.SegmentFields(description="x")))
        self.assertStatus(rep, c.FAILED_PRECONDITION, NUMBERING_TEXT)
        rep = self.seg(set_numbering=sg.SegmentNumbering(prefix="P" * 18, next=1, width=5))
        self.assertStatus(rep, c.INVALID_ARGUMENT)

    def test_create_get_list_delete(self):
        h = self.create("S1", description="Spring", salesperson_code="SP1", campaign_no="CP1",
                        campaign_target=True)
        self.assertEqual((h.no, h.description, h.salesperson_code, h.date, h.campaign_no,
                          h.campaign_target, h.no_of_lines, h.logging),
                         ("S1", "Spring", "SP1", TODAY_INT, "CP1", True, 0, False))
        self.assertEqual(self.header("S1"), h)
        self.create("s2", description="lower case no", date=TODAY_INT + 1)
        self.assertEqual(self.header("S2").date, TODAY_INT + 1)  # codes are upper-cased
        for i in range(3, 6):
            self.create("S%d" % i, description="n")
        page = self.seg_ok(list_segments=sg.ListSegments(limit=2)).segments
        self.assertEqual([s.no for s in page.segments], ["S1", "S2"])
        self.assertEqual(page.next_after, "S2")
        page = self.seg_ok(list_segments=sg.ListSegments(after="S2", limit=10)).segments
        self.assertEqual([s.no for s in page.segments], ["S3", "S4", "S5"])
        self.assertEqual(page.next_after, "")
        # campaign target/response only with a campaign; cleared with it
        rep = self.seg(create_segment=sg.CreateSegment(no="S9", fields=sg.SegmentFields(
            description="x", campaign_response=True)))
        self.assertStatus(rep, c.FAILED_PRECONDITION,
                          "Campaign No. must have a value in Segment Header: No.=S9.")
        h = self.update_ok("S1", campaign_no="")
        self.assertEqual((h.campaign_no, h.campaign_target, h.campaign_response),
                         ("", False, False))
        # references must exist
        rep = self.seg(create_segment=sg.CreateSegment(no="S9", fields=sg.SegmentFields(
            salesperson_code="NOPE")))
        self.assertStatus(rep, c.NOT_FOUND, no_record("Salesperson/Purchaser", "Code", "NOPE"))
        rep = self.update("S1", interaction_template_code="NOPE")
        self.assertStatus(rep, c.NOT_FOUND, no_record("Interaction Template", "Code", "NOPE"))
        rep = self.update("S1", campaign_no="NOPE")
        self.assertStatus(rep, c.NOT_FOUND, no_record("Campaign", "No.", "NOPE"))
        self.assertStatus(self.get("S9"), c.NOT_FOUND, no_segment("S9"))
        # delete: replies with the number of lines that went
        self.add_ok("S1", ["P1", "P2"])
        rep = self.seg_ok(delete_segment=sg.SegmentRef(segment_no="S1"))
        self.assertEqual(rep.count.count, 2)
        self.assertStatus(self.get("S1"), c.NOT_FOUND, no_segment("S1"))
        self.assertStatus(self.seg(delete_segment=sg.SegmentRef(segment_no="S1")), c.NOT_FOUND,
                          no_segment("S1"))
        self.assertStatus(self.add("S1", ["P1"]), c.NOT_FOUND, no_segment("S1"))
        # a new S1 starts empty (the old lines and contact index are gone)
        self.create("S1", description="again")
        self.assertEqual(self.add_ok("S1", ["P1", "P2"]).added, 2)

    def test_template_sets_header_interaction_section(self):
        self.create("S1", description="d", subject="old subject", campaign_no="CP1")
        h = self.update_ok("S1", interaction_template_code="MAIL")
        self.assertEqual((h.interaction_template_code, h.interaction_group_code, h.unit_cost_cents,
                          h.unit_duration_min, h.information_flow, h.initiated_by,
                          h.correspondence_type, h.ignore_contact_corr_type, h.language_code,
                          h.subject, h.campaign_no),
                         ("MAIL", "G1", 150, 5, OUT, US, HARD_COPY, False, "EN", "", "CP1"))
        h = self.update_ok("S1", interaction_template_code="IGN")
        self.assertEqual((h.correspondence_type, h.ignore_contact_corr_type, h.campaign_no,
                          h.campaign_target), (EMAIL, True, "CP1", False))
        # a template with a campaign brings it, with target/response
        h = self.update_ok("S1", interaction_template_code="CAMP")
        self.assertEqual((h.campaign_no, h.campaign_target, h.campaign_response), ("CP2", True,
                                                                                  False))


class LinesTest(SegmentCase):
    def fixture(self):
        self.seed()

    def test_add_fills_line_from_header(self):
        self.create("S1", description="Spring mailing", campaign_no="CP1", campaign_target=True,
                    campaign_response=True, date=TODAY_INT + 2)
        self.update_ok("S1", interaction_template_code="MAIL")
        self.update_ok("S1", campaign_target=True, campaign_response=True)
        self.assertEqual(self.add_ok("S1", ["P1", "P3"]).added, 2)
        ls = self.lines("S1")
        self.assertEqual([l.line_no for l in ls], [10000, 20000])
        l = ls[0]
        self.assertEqual((l.segment_no, l.contact_no, l.contact_company_no, l.description,
                          l.campaign_no, l.campaign_target, l.campaign_response,
                          l.salesperson_code, l.interaction_template_code,
                          l.interaction_group_code, l.cost_cents, l.duration_min, l.date,
                          l.information_flow, l.initiated_by, l.evaluation, l.personalized),
                         ("S1", "P1", "CO1", "Spring mailing", "CP1", True, True, "SP1", "MAIL",
                          "G1", 150, 5, TODAY_INT + 2, OUT, US, c.EVALUATION_NONE, False))
        self.assertEqual((ls[1].contact_company_no, ls[1].salesperson_code), ("", "SP2"))
        h = self.header("S1")
        self.assertEqual((h.no_of_lines, h.total_cost_cents, h.total_duration_min), (2, 300, 10))
        # the header's salesperson wins over the contact's
        self.update_ok("S1", salesperson_code="SP2", update_lines=False)
        self.add_ok("S1", ["P1", "CO1"])
        self.assertEqual(self.by_contact("S1")["CO1"].salesperson_code, "SP2")
        self.assertEqual(self.by_contact("S1")["CO1"].contact_company_no, "CO1")

    def test_language_rule(self):
        self.create("S1", description="d")
        h = self.update_ok("S1", interaction_template_code="MAIL")
        self.assertEqual(h.language_code, "EN")
        self.add_ok("S1", ["P1", "P2", "P3", "CO1"])
        langs = {k: l.language_code for k, l in self.by_contact("S1").items()}
        # P1 speaks DE (a row of MAIL); P2 speaks FR (no row): the header's
        self.assertEqual(langs, {"P1": "DE", "P2": "EN", "P3": "EN", "CO1": "EN"})
        # a header language that the template has no row for, and a contact
        # whose language it has: the contact's still wins
        self.update_ok("S1", language_code="FR", update_lines=False)
        self.add_ok("S1", ["P4"])
        self.assertEqual(self.by_contact("S1")["P4"].language_code, "FR")
        self.create("S2", description="no template")
        self.update_ok("S2", language_code="NL")
        self.add_ok("S2", ["P1"])
        self.assertEqual(self.by_contact("S2")["P1"].language_code, "NL")

    def test_correspondence_type_rules(self):
        # (c) the contact's type; (b) the template's when the contact has none
        self.create("C", description="d")
        self.update_ok("C", interaction_template_code="MAIL")  # Hard Copy, no ignore
        self.add_ok("C", ["P1", "P2", "P3"])
        corr = {k: l.correspondence_type for k, l in self.by_contact("C").items()}
        self.assertEqual(corr, {"P1": EMAIL, "P2": HARD_COPY, "P3": HARD_COPY})
        # (b) the template ignores the contact's type
        self.create("B", description="d")
        self.update_ok("B", interaction_template_code="IGN")  # Email, ignore
        h = self.update_ok("B", ignore_contact_corr_type=False)  # header: no (a)
        self.assertFalse(h.ignore_contact_corr_type)
        self.add_ok("B", ["P1", "P3"])
        corr = {k: l.correspondence_type for k, l in self.by_contact("B").items()}
        self.assertEqual(corr, {"P1": EMAIL, "P3": EMAIL})
        # (a) the header ignores the contact's type and has one
        self.create("A", description="d")
        self.update_ok("A", interaction_template_code="MAIL", ignore_contact_corr_type=True,
                       correspondence_type=EMAIL)
        self.add_ok("A", ["P3", "P2"])
        corr = {k: l.correspondence_type for k, l in self.by_contact("A").items()}
        self.assertEqual(corr, {"P3": EMAIL, "P2": EMAIL})
        # (a) does not apply with a blank header type: on to (b) / (c)
        self.create("A0", description="d")
        self.update_ok("A0", interaction_template_code="MAIL", ignore_contact_corr_type=True,
                       correspondence_type=NO_CORR)
        self.add_ok("A0", ["P1", "P2"])
        corr = {k: l.correspondence_type for k, l in self.by_contact("A0").items()}
        self.assertEqual(corr, {"P1": EMAIL, "P2": HARD_COPY})

    def test_add_by_list_company_salesperson_never_twice(self):
        self.create("S1", description="d")
        self.update_ok("S1", interaction_template_code="CALL")
        added = self.add_ok("S1", ["P1", "P2", "P1"])
        self.assertEqual((added.added, added.no_of_lines), (2, 2))
        added = self.add_ok("S1", ["p1", "P3"])  # codes are upper-cased
        self.assertEqual((added.added, added.skipped, added.no_of_lines), (1, 1, 3))
        # by company: its persons only (P1, P2), never the company itself
        self.create("S2", description="d")
        added = self.add_ok("S2", company="CO1")
        self.assertEqual((added.added, added.skipped), (2, 0))
        self.assertEqual(sorted(self.by_contact("S2")), ["P1", "P2"])
        self.assertEqual(self.add_ok("S2", company="CO1").skipped, 2)
        # by salesperson: every contact of SP2, companies too
        added = self.add_ok("S2", salesperson="SP2")
        self.assertEqual((added.added, added.skipped), (2, 1))  # CO2, P3 new; P2 there
        self.assertEqual(sorted(self.by_contact("S2")), ["CO2", "P1", "P2", "P3"])
        self.assertEqual([l.line_no for l in self.lines("S2")], [10000, 20000, 30000, 40000])
        # an unknown contact: nothing is added
        rep = self.add("S1", ["P4", "NOPE"])
        self.assertStatus(rep, c.NOT_FOUND, no_record("Contact", "No.", "NOPE"))
        self.assertEqual(self.header("S1").no_of_lines, 3)
        self.assertStatus(self.add("S1", company="NOPE"), c.NOT_FOUND,
                          no_record("Contact", "No.", "NOPE"))
        self.assertStatus(self.add("S1", salesperson="NOPE"), c.NOT_FOUND,
                          no_record("Salesperson/Purchaser", "Code", "NOPE"))
        self.assertStatus(self.add("S1", ["P4"], company="CO1"), c.INVALID_ARGUMENT)
        self.assertStatus(self.add("S1"), c.INVALID_ARGUMENT)
        self.assertStatus(self.add("S1", ["X%d" % i for i in range(10001)]), c.INVALID_ARGUMENT)

    def test_repeated_requests_apply_once(self):
        self.create("S1", description="d")
        add = sg.SegmentRequest(request_id=b"add-1", user_id="u", add_contacts=sg.AddContacts(
            segment_no="S1", contact_nos=["P1", "P2"]))
        first = self.cl.call("segment", add)
        self.assertStatus(first, c.OK)
        self.add_ok("S1", ["P3"])
        self.seg_ok(remove_lines=sg.RemoveLines(segment_no="S1", line_nos=[10000]))
        # the same request later: its first reply, and nothing added again
        self.assertEqual(self.cl.call("segment", add), first)
        self.assertEqual([l.contact_no for l in self.lines("S1")], ["P2", "P3"])
        create = sg.SegmentRequest(request_id=b"create-1", user_id="u",
                                   create_segment=sg.CreateSegment(no="S2"))
        self.assertStatus(self.cl.call("segment", create), c.OK)
        self.assertStatus(self.cl.call("segment", create), c.OK)  # not "already exists"

    def test_remove_lines_and_list_paged(self):
        self.create("S1", description="d")
        self.update_ok("S1", interaction_template_code="CALL")
        self.add_ok("S1", ["P1", "P2", "P3", "P4", "CO1"])
        page = self.seg_ok(list_lines=sg.ListLines(segment_no="S1", limit=2)).lines
        self.assertEqual([l.line_no for l in page.lines], [10000, 20000])
        self.assertEqual(page.next_after, 20000)
        page = self.seg_ok(list_lines=sg.ListLines(segment_no="S1", after=20000, limit=2)).lines
        self.assertEqual([l.line_no for l in page.lines], [30000, 40000])
        page = self.seg_ok(list_lines=sg.ListLines(segment_no="S1", after=40000, limit=2)).lines
        self.assertEqual(([l.line_no for l in page.lines], page.next_after), ([50000], 0))
        rep = self.seg(remove_lines=sg.RemoveLines(segment_no="S1", line_nos=[20000, 99999]))
        self.assertStatus(rep, c.NOT_FOUND, "The Segment Line does not exist. Identification "
                          "fields and values: Segment No.='S1',Line No.='99999'")
        self.assertEqual(self.header("S1").no_of_lines, 5)  # all or nothing
        rep = self.seg_ok(remove_lines=sg.RemoveLines(segment_no="S1", line_nos=[20000, 40000]))
        self.assertEqual(rep.count.count, 2)
        self.assertEqual([l.contact_no for l in self.lines("S1")], ["P1", "P3", "CO1"])
        h = self.header("S1")
        self.assertEqual((h.no_of_lines, h.total_cost_cents, h.total_duration_min), (3, 900, 30))
        # a removed contact can come back, on a new line after the last
        self.assertEqual(self.add_ok("S1", ["P2", "P1"]).added, 1)
        self.assertEqual(self.by_contact("S1")["P2"].line_no, 60000)
        self.assertStatus(self.seg(list_lines=sg.ListLines(segment_no="NOPE")), c.NOT_FOUND,
                          no_segment("NOPE"))

    def test_personalize_line(self):
        self.create("S1", description="d")
        self.update_ok("S1", interaction_template_code="MAIL")
        self.add_ok("S1", ["P1", "P2"])
        rep = self.set_line("S1", 20000, description="own", subject="subj", language_code="IT",
                            cost_cents=999, duration_min=42, evaluation=c.EVALUATION_POSITIVE,
                            salesperson_code="SP1", date=TODAY_INT + 3,
                            time_of_interaction=3600, information_flow=INB, initiated_by=THEM,
                            correspondence_type=EMAIL)
        self.assertStatus(rep, c.OK)
        l = rep.line
        self.assertEqual((l.description, l.subject, l.language_code, l.cost_cents,
                          l.duration_min, l.evaluation, l.salesperson_code, l.date,
                          l.time_of_interaction, l.information_flow, l.initiated_by,
                          l.correspondence_type, l.personalized),
                         ("own", "subj", "IT", 999, 42, c.EVALUATION_POSITIVE, "SP1",
                          TODAY_INT + 3, 3600, INB, THEM, EMAIL, False))
        self.assertEqual(set(l.personalized_fields), {
            "description", "subject", "language_code", "cost_cents", "duration_min",
            "evaluation", "salesperson_code", "date", "time_of_interaction", "information_flow",
            "initiated_by", "correspondence_type"})
        self.assertEqual(self.by_contact("S1")["P2"], l)
        h = self.header("S1")
        self.assertEqual((h.total_cost_cents, h.total_duration_min), (150 + 999, 5 + 42))
        # another template re-derives the line from it and marks it personalized
        l = self.set_line("S1", 10000, interaction_template_code="CALL").line
        self.assertEqual((l.interaction_template_code, l.interaction_group_code, l.cost_cents,
                          l.duration_min, l.information_flow, l.initiated_by,
                          l.correspondence_type, l.personalized),
                         ("CALL", "G2", 300, 10, INB, THEM, EMAIL, True))
        l = self.set_line("S1", 10000, interaction_template_code="CAMP").line
        self.assertEqual((l.campaign_no, l.campaign_target, l.cost_cents, l.personalized),
                         ("CP2", True, 200, True))
        # back to the header's template: not personalized any more
        l = self.set_line("S1", 10000, interaction_template_code="MAIL").line
        self.assertEqual((l.personalized, l.cost_cents, l.language_code), (False, 150, "DE"))
        # errors
        rep = self.set_line("S1", 10000, interaction_template_code="NOPE")
        self.assertStatus(rep, c.NOT_FOUND, no_record("Interaction Template", "Code", "NOPE"))
        rep = self.set_line("S1", 10000, salesperson_code="NOPE")
        self.assertStatus(rep, c.NOT_FOUND, no_record("Salesperson/Purchaser", "Code", "NOPE"))
        rep = self.set_line("S1", 30000, description="x")
        self.assertStatus(rep, c.NOT_FOUND, "The Segment Line does not exist. Identification "
                          "fields and values: Segment No.='S1',Line No.='30000'")
        self.assertStatus(self.set_line("S1", 10000, time_of_interaction=86400),
                          c.INVALID_ARGUMENT)
        self.assertStatus(self.set_line("S1", 10000, cost_cents=-1), c.INVALID_ARGUMENT)
        self.assertStatus(self.set_line("NOPE", 10000, description="x"), c.NOT_FOUND,
                          no_segment("NOPE"))


class HeaderPushTest(SegmentCase):
    def fixture(self):
        self.seed()
        self.create("S1", description="d", subject="hello")
        self.update_ok("S1", interaction_template_code="MAIL", subject="hello")
        self.add_ok("S1", ["P1", "P2", "P3"])
        # P2's line: a template of its own, its own language and subject
        self.set_line("S1", 20000, interaction_template_code="CALL")
        self.set_line("S1", 20000, language_code="IT", subject="mine")

    def test_template_change_updates_lines(self):
        h = self.update_ok("S1", interaction_template_code="IGN")
        self.assertEqual((h.language_code, h.subject), ("", ""))
        ls = self.by_contact("S1")
        for no in ("P1", "P2", "P3"):
            l = ls[no]
            self.assertEqual((l.interaction_template_code, l.interaction_group_code,
                              l.cost_cents, l.duration_min, l.information_flow,
                              l.initiated_by), ("IGN", "G1", 50, 1, OUT, US), no)
        # not personalized: the header's language and subject
        self.assertEqual((ls["P1"].language_code, ls["P1"].subject), ("", ""))
        self.assertEqual((ls["P3"].language_code, ls["P3"].subject), ("", ""))
        # personalized: keeps its own
        self.assertEqual((ls["P2"].language_code, ls["P2"].subject), ("IT", "mine"))
        h = self.header("S1")
        self.assertEqual((h.total_cost_cents, h.total_duration_min), (150, 3))

    def test_template_change_without_update_lines(self):
        before = self.lines("S1")
        h = self.update_ok("S1", interaction_template_code="IGN", update_lines=False)
        self.assertEqual((h.interaction_template_code, h.unit_cost_cents), ("IGN", 50))
        self.assertEqual(self.lines("S1"), before)
        self.assertEqual(self.header("S1").total_cost_cents, 150 + 300 + 150)

    def test_field_push_skips_lines_with_their_own_template(self):
        self.set_line("S1", 30000, description="P3 own")
        self.update_ok("S1", description="new", unit_cost_cents=700, unit_duration_min=7,
                       information_flow=INB, initiated_by=THEM, salesperson_code="SP2",
                       date=TODAY_INT + 5, language_code="DE", correspondence_type=EMAIL,
                       campaign_no="CP1", campaign_response=True)
        ls = self.by_contact("S1")
        p1 = ls["P1"]
        self.assertEqual((p1.description, p1.cost_cents, p1.duration_min, p1.information_flow,
                          p1.initiated_by, p1.salesperson_code, p1.date, p1.language_code,
                          p1.correspondence_type, p1.campaign_no, p1.campaign_response),
                         ("new", 700, 7, INB, THEM, "SP2", TODAY_INT + 5, "DE", EMAIL, "CP1",
                          True))
        # P3: personalized for description only
        self.assertEqual((ls["P3"].description, ls["P3"].cost_cents), ("P3 own", 700))
        # P2: its own template, skipped entirely
        p2 = ls["P2"]
        self.assertEqual((p2.description, p2.cost_cents, p2.duration_min, p2.salesperson_code,
                          p2.date, p2.language_code, p2.campaign_no),
                         ("d", 300, 10, "SP2", TODAY_INT, "IT", ""))
        h = self.header("S1")
        self.assertEqual((h.total_cost_cents, h.total_duration_min), (700 + 300 + 700, 7 + 10 + 7))
        # without update_lines only the header changes
        self.update_ok("S1", description="header only", unit_cost_cents=1, update_lines=False)
        self.assertEqual(self.by_contact("S1")["P1"].description, "new")
        self.assertEqual(self.header("S1").total_cost_cents, 1700)

    def test_subject_push_only_reaches_the_old_subject(self):
        ls = self.by_contact("S1")
        self.assertEqual((ls["P1"].subject, ls["P3"].subject), ("hello", "hello"))
        self.update_ok("S1", subject="second", update_lines=False)
        self.add_ok("S1", ["P4"])  # carries "second"; P1 / P3 still "hello"
        self.update_ok("S1", subject="third")
        ls = self.by_contact("S1")
        self.assertEqual({k: l.subject for k, l in ls.items()},
                         {"P1": "hello", "P2": "mine", "P3": "hello", "P4": "third"})


class LogSegmentTest(SegmentCase):
    def fixture(self):
        self.seed()

    def build(self, no="S1", contacts=("P1", "P2", "P3"), template="MAIL", **fields):
        fields.setdefault("description", "Spring mailing")
        fields.setdefault("salesperson_code", "SP1")
        self.create(no, **fields)
        if template:
            self.update_ok(no, interaction_template_code=template)
        if contacts:
            self.add_ok(no, contacts)

    def test_checks_in_order_with_their_texts(self):
        self.assertStatus(self.log("NOPE"), c.NOT_FOUND, no_segment("NOPE"))
        # 2. description
        self.build("S1", description="")
        self.assertStatus(self.log("S1"), c.FAILED_PRECONDITION,
                          "Description must have a value in Segment Header: No.=S1.")
        self.build("S0", description="", contacts=())  # 2 before 3
        self.assertStatus(self.log("S0"), c.FAILED_PRECONDITION,
                          "Description must have a value in Segment Header: No.=S0.")
        # 3. no line with a contact
        self.build("S2", contacts=())
        self.assertStatus(self.log("S2"), c.FAILED_PRECONDITION, "Segment S2 is empty.")
        # 4. salesperson: P4 has none and the header none
        self.build("S3", contacts=("P1", "P4"), salesperson_code="")
        self.assertStatus(self.log("S3"), c.FAILED_PRECONDITION,
                          "Salesperson Code must have a value in Segment Line: Segment No.=S3, "
                          "Line No.=20000.")
        self.set_line("S3", 20000, salesperson_code="SP2")
        # the contact must exist
        self.contact("GONE", sp="SP1")
        self.add_ok("S3", ["GONE"])
        self.ix(delete_contact=ia.NoRef(no="GONE"))
        self.assertStatus(self.log("S3"), c.NOT_FOUND, no_record("Contact", "No.", "GONE"))
        self.seg_ok(remove_lines=sg.RemoveLines(segment_no="S3", line_nos=[30000]))
        # the template must be set and exist
        self.build("S4", template="")
        self.assertStatus(self.log("S4"), c.FAILED_PRECONDITION,
                          "Interaction Template Code must have a value in Segment Line: "
                          "Segment No.=S4, Line No.=10000.")
        self.template("TMP", "G1", 1, 1, OUT, US, EMAIL)
        self.update_ok("S4", interaction_template_code="TMP")
        self.ix(delete_template=ia.CodeRef(code="TMP"))
        self.assertStatus(self.log("S4"), c.NOT_FOUND,
                          no_record("Interaction Template", "Code", "TMP"))
        # lines are checked in line order: line 10000's failure (no template)
        # wins over line 20000's (no salesperson), which is checked earlier
        self.build("S7", contacts=("P1", "P3"), template="")
        self.set_line("S7", 20000, interaction_template_code="CALL", salesperson_code="")
        self.assertStatus(self.log("S7"), c.FAILED_PRECONDITION,
                          "Interaction Template Code must have a value in Segment Line: "
                          "Segment No.=S7, Line No.=10000.")
        # the salesperson must exist
        self.ix(put_salesperson=ia.Salesperson(code="SPX", name="x"))
        self.build("S5", salesperson_code="SPX")
        self.ix(delete_salesperson=ia.CodeRef(code="SPX"))
        self.assertStatus(self.log("S5"), c.NOT_FOUND,
                          no_record("Salesperson/Purchaser", "Code", "SPX"))
        # the campaign, when set, must exist
        self.ix(put_campaign=ia.Campaign(no="CPX", description="x"))
        self.build("S6", campaign_no="CPX")
        self.ix(delete_campaign=ia.NoRef(no="CPX"))
        self.assertStatus(self.log("S6"), c.NOT_FOUND, no_record("Campaign", "No.", "CPX"))
        # nothing was logged by any of these, and the segments are editable
        self.assert_nothing_logged()
        for no in ("S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7"):
            self.assertFalse(self.header(no).logging, no)
        self.update_ok("S1", description="now described")
        self.assertStatus(self.log("S1"), c.OK)
        # 1. a logged segment exists for the No.: checked before everything
        self.build("S1", description="", contacts=())
        self.assertStatus(self.log("S1"), c.ALREADY_EXISTS,
                          "Logged Segment for Segment No. S1 already exists.")
        self.assertEqual(len(self.logged_segments()), 1)
        self.assertStatus(self.get("S1"), c.OK)

    def test_log_with_follow_up(self):
        self.numbering("FU", 7, 3)
        self.build("S1", contacts=(), campaign_no="CP1", date=TODAY_INT - 3)
        self.add_ok("S1", ["P1", "P2", "P3", "P4", "CO1"])
        # P2: its own template (campaign CP2); P4: Email, no e-mail address;
        # P1: Email with an address; P3 evaluated, time set
        self.set_line("S1", 20000, interaction_template_code="CAMP")
        self.set_line("S1", 40000, correspondence_type=EMAIL)
        self.set_line("S1", 10000, correspondence_type=EMAIL)
        self.set_line("S1", 30000, evaluation=c.EVALUATION_NEGATIVE, time_of_interaction=600,
                      subject="about P3")
        lines = self.lines("S1")
        # an entry before, to see the range start after it
        self.lw_ok(write_entry=lw.WriteEntry(entry=c.Entry(
            contact_no="P1", date=TODAY_INT, description="before", interaction_template_code="X")))
        sub = self.cl.subscribe()
        rep = self.log("S1", follow_up=True, user="alice")
        self.assertStatus(rep, c.OK)
        got = rep.logged
        self.assertEqual((got.logged_segment_no, got.segment_no, got.description,
                          got.entry_count, got.first_entry_no, got.last_entry_no,
                          got.follow_up_segment_no),
                         (1, "S1", "Spring mailing", 5, 2, 6, "FU007"))
        self.assertEqual([(ce.campaign_no, ce.register_no, ce.no_of_entries, ce.description,
                           ce.segment_no, ce.salesperson_code, ce.date, ce.user_id, ce.canceled)
                          for ce in got.campaign_entries],
                         [("CP1", 1, 4, "Spring mailing", "S1", "SP1", TODAY_INT - 3, "alice",
                           False),
                          ("CP2", 1, 1, "Spring mailing", "S1", "SP1", TODAY_INT - 3, "alice",
                           False)])
        ce_no = {ce.campaign_no: ce.entry_no for ce in got.campaign_entries}
        # the logged segment
        ls = self.lw_ok(get_logged_segment=lw.GetLoggedSegment(entry_no=1)).logged_segment
        self.assertEqual((ls.entry_no, ls.segment_no, ls.description, ls.creation_date,
                          ls.user_id, ls.canceled, ls.no_of_interactions,
                          ls.no_of_campaign_entries, ls.first_entry_no, ls.last_entry_no),
                         (1, "S1", "Spring mailing", TODAY_INT, "alice", False, 5, 2, 2, 6))
        # entries: one per line, in line order, the line's fields copied
        es = self.entries(logged_segment_entry_no=1)
        self.assertEqual([e.entry_no for e in es], [2, 3, 4, 5, 6])
        self.assertEqual(self.entries(segment_no="S1"), es)
        for l, e in zip(lines, es):
            self.assertEqual(
                (e.contact_no, e.contact_company_no, e.date, e.time_of_interaction,
                 e.description, e.subject, e.information_flow, e.initiated_by, e.evaluation,
                 e.cost_cents, e.duration_min, e.interaction_group_code,
                 e.interaction_template_code, e.interaction_language_code, e.salesperson_code,
                 e.campaign_no, e.campaign_target, e.campaign_response),
                (l.contact_no, l.contact_company_no, l.date, l.time_of_interaction,
                 l.description, l.subject, l.information_flow, l.initiated_by, l.evaluation,
                 l.cost_cents, l.duration_min, l.interaction_group_code,
                 l.interaction_template_code, l.language_code, l.salesperson_code,
                 l.campaign_no, l.campaign_target, l.campaign_response), l.contact_no)
            self.assertEqual((e.user_id, e.segment_no, e.logged_segment_entry_no, e.postponed,
                              e.canceled, e.campaign_entry_no),
                             ("alice", "S1", 1, False, False, ce_no[l.campaign_no]))
        # the Email rule: P4 has no e-mail address -> blank; P1 has one
        corr = {e.contact_no: e.correspondence_type for e in es}
        self.assertEqual(corr, {"P1": EMAIL, "P2": HARD_COPY, "P3": HARD_COPY, "P4": NO_CORR,
                                "CO1": HARD_COPY})
        self.assertEqual([e.cost_cents for e in es], [150, 200, 150, 150, 150])
        # the segment is gone; the follow-up is there
        self.assertStatus(self.get("S1"), c.NOT_FOUND, no_segment("S1"))
        fu = self.header("FU007")
        self.assertEqual((fu.description, fu.campaign_no, fu.date, fu.interaction_template_code,
                          fu.no_of_lines, fu.logging),
                         ("Follow-up on segment S1", "CP1", TODAY_INT, "", 5, False))
        fl = self.lines("FU007")
        self.assertEqual([l.contact_no for l in fl], [e.contact_no for e in es])
        self.assertEqual([l.line_no for l in fl], [10000, 20000, 30000, 40000, 50000])
        self.assertEqual([l.interaction_template_code for l in fl], [""] * 5)
        self.assertEqual({l.description for l in fl}, {"Follow-up on segment S1"})
        self.assertEqual({l.campaign_no for l in fl}, {"CP1"})
        self.assertEqual({l.date for l in fl}, {TODAY_INT})
        # no header salesperson: each contact's own
        self.assertEqual([l.salesperson_code for l in fl], ["SP1", "SP2", "SP2", "", "SP1"])
        self.assertEqual(self.seg_ok(get_numbering=sg.GetNumbering()).numbering.next, 8)
        # subscribers learn of it once, after the commit
        evs = [(t, ev) for t, ev in recv_events(sub, 10, timeout=3) if ev.seq]
        self.assertEqual([t for t, _ in evs], ["segment.logged"])
        durable = self.cl.read_events(type_prefix="segment.")
        self.assertEqual(len(durable), 1)
        self.assertEqual(durable[0].segment_logged, got)
        self.assertEqual(evs[-1][1].segment_logged, got)
        # a second segment: Register No. is its own logged segment's no.
        self.build("S2", contacts=("P1", "P3"), template="CAMP")
        got2 = self.log("S2").logged
        self.assertEqual(got2.logged_segment_no, 2)
        self.assertEqual([(ce.campaign_no, ce.register_no, ce.no_of_entries)
                          for ce in got2.campaign_entries], [("CP2", 2, 2)])
        self.assertEqual(got2.follow_up_segment_no, "")
        self.assertEqual(len(self.campaign_entries()), 3)
        self.assertEqual(len(self.campaign_entries("CP2")), 2)

    def test_reply_when_durable(self):
        """The early reply comes when the log is durable; the logged segment
        and the follow-up then appear by themselves, all at once, the same as
        when the reply waits for them; a retry gets the same answer."""
        self.numbering("FU", 1, 3)
        self.build("S1", contacts=("P1", "P2", "P3", "P4", "CO1"), campaign_no="CP1")
        self.build("S2", contacts=("P1", "P2", "P3", "P4", "CO1"), campaign_no="CP1")
        lines = {no: self.lines(no) for no in ("S1", "S2")}
        rep = self.seg(log_segment=sg.LogSegment(segment_no="S1", create_follow_up=True,
                                                 reply_when_durable=True), rid=b"early")
        self.assertStatus(rep, c.OK)
        got = rep.logged
        self.assertEqual((got.entry_count, got.follow_up_segment_no), (5, "FU001"))
        wait_for(lambda: self.get("S1").status.code == c.NOT_FOUND and
                 self.get("FU001").status.code == c.OK, 20, "the log finishing")
        again = self.seg(log_segment=sg.LogSegment(segment_no="S1", create_follow_up=True,
                                                   reply_when_durable=True), rid=b"early")
        self.assertEqual(again.SerializeToString(), rep.SerializeToString())
        # the default: the reply waits until everything is visible
        late = self.log("S2", follow_up=True).logged
        for r, no, fu in ((got, "S1", "FU001"), (late, "S2", "FU002")):
            es = self.entries(logged_segment_entry_no=r.logged_segment_no)
            self.assertEqual([e.contact_no for e in es], [l.contact_no for l in lines[no]])
            self.assertEqual([l.contact_no for l in self.lines(fu)],
                             [l.contact_no for l in lines[no]])
            self.assertEqual(self.header(fu).no_of_lines, 5)
        self.assertEqual([ev.segment_logged.segment_no
                          for ev in self.cl.read_events(type_prefix="segment.")], ["S1", "S2"])

    def test_follow_up_with_numbering_unset_logs_nothing(self):
        self.build("S1")
        rep = self.log("S1", follow_up=True)
        self.assertStatus(rep, c.FAILED_PRECONDITION, NUMBERING_TEXT)
        self.assert_nothing_logged()
        h = self.header("S1")
        self.assertEqual((h.logging, h.no_of_lines), (False, 3))
        self.update_ok("S1", description="still editable")
        self.numbering()
        rep = self.log("S1", follow_up=True)
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.logged.follow_up_segment_no, "SEG00001")
        self.assertEqual(len(self.entries()), 3)

    def test_long_code_campaign(self):
        """Code20 campaign numbers (20 characters) log like short ones."""
        for no in ("CAMPAIGN-2026-SPRING", "CAMPAIGN-2026-SPRONG"):
            self.ix(put_campaign=ia.Campaign(no=no, description=no))
        self.build("S1", campaign_no="CAMPAIGN-2026-SPRING")
        self.set_line("S1", 10000, interaction_template_code="CALL")
        self.update_ok("S1", campaign_no="CAMPAIGN-2026-SPRONG")  # all but P1's line
        rep = self.log("S1")
        self.assertStatus(rep, c.OK)
        self.assertEqual(sorted((ce.campaign_no, ce.no_of_entries)
                                for ce in rep.logged.campaign_entries),
                         [("CAMPAIGN-2026-SPRING", 1), ("CAMPAIGN-2026-SPRONG", 2)])

    def test_single_interaction_campaign_entry(self):
        rep = self.ix(create_interaction=ia.CreateInteraction(
            origin=ia.ORIGIN_CONTACT, fields=ia.InteractionFields(
                contact_no="P1", interaction_template_code="CAMP")))
        self.assertNotEqual(rep.entry.campaign_entry_no, 0)
        ces = self.campaign_entries()
        self.assertEqual([(ce.register_no, ce.description, ce.campaign_no) for ce in ces],
                         [(0, "Interactions", "CP2")])

    def test_same_request_id_returns_identical_reply(self):
        self.numbering()
        self.build("S1")
        req = sg.SegmentRequest(request_id=b"log-S1", user_id="u", log_segment=sg.LogSegment(
            segment_no="S1", create_follow_up=True))
        data = req.SerializeToString()
        # two at once: the second waits for the first's reply
        self.cl.send_raw("segment", [data])
        self.cl.send_raw("segment", [data])
        first = self.cl.recv_raw("segment", 30)[-1]
        self.assertEqual(self.cl.recv_raw("segment", 30)[-1], first)
        rep = sg.SegmentReply()
        rep.ParseFromString(first)
        self.assertStatus(rep, c.OK)
        # and after it finished
        self.cl.send_raw("segment", [data])
        self.assertEqual(self.cl.recv_raw("segment", 30)[-1], first)
        self.assertEqual(len(self.entries()), 3)
        self.assertEqual(len(self.logged_segments()), 1)
        self.assertEqual(self.header("SEG00001").no_of_lines, 3)
        self.assertStatus(self.get("SEG00002"), c.NOT_FOUND)
        # another request_id for the same No.: the segment is gone
        self.assertStatus(self.log("S1"), c.NOT_FOUND, no_segment("S1"))

    def test_two_segments_logged_at_once(self):
        self.build("A", contacts=("P1", "P2", "P3"))
        self.build("B", contacts=("CO1", "CO2"), campaign_no="CP1")
        for no in ("A", "B"):
            self.cl.send_raw("segment", [sg.SegmentRequest(
                request_id=b"log-" + no.encode(), user_id="u",
                log_segment=sg.LogSegment(segment_no=no)).SerializeToString()])
        got = {}
        for _ in range(2):
            rep = sg.SegmentReply()
            rep.ParseFromString(self.cl.recv_raw("segment", 30)[-1])
            self.assertStatus(rep, c.OK)
            got[rep.logged.segment_no] = rep.logged
        ranges = sorted((g.first_entry_no, g.last_entry_no) for g in got.values())
        self.assertIn(ranges, ([(1, 2), (3, 5)], [(1, 3), (4, 5)]))
        self.assertEqual({g.logged_segment_no for g in got.values()}, {1, 2})
        for no, n in (("A", 3), ("B", 2)):
            es = self.entries(logged_segment_entry_no=got[no].logged_segment_no)
            self.assertEqual([e.entry_no for e in es],
                             list(range(got[no].first_entry_no, got[no].last_entry_no + 1)))
            self.assertEqual({e.segment_no for e in es}, {no})
        self.assertEqual(len(self.cl.read_events(type_prefix="segment.logged")), 2)

    def test_edits_refused_while_logging(self):
        self.numbering()
        self.build("S1")
        self.build("S2", contacts=("P1",))
        seg = self.cl["segment"]
        seg.stop()
        seg.env = {"RAPPORT_FAULT": "segment.before_stream"}
        seg.start()
        self.cl.reset_sock("segment")
        req = sg.SegmentRequest(request_id=b"log-1", user_id="u", log_segment=sg.LogSegment(
            segment_no="S1", create_follow_up=True))
        self.cl.send_raw("segment", [req.SerializeToString()])
        seg.proc.wait(20)  # killed itself with LOGGING persisted
        seg.kill()
        self.cl["logwriter"].stop()
        seg.env = {}
        seg.extra_args = ["--set", "request_timeout_ms=500"]
        seg.start()
        self.cl.reset_sock("segment")
        self.assertTrue(self.header("S1").logging)
        refused = [
            self.update("S1", description="x"),
            self.add("S1", ["P4"]),
            self.seg(remove_lines=sg.RemoveLines(segment_no="S1", line_nos=[10000])),
            self.set_line("S1", 10000, description="x"),
            self.seg(delete_segment=sg.SegmentRef(segment_no="S1")),
            self.log("S1", rid=b"another-request"),
        ]
        for rep in refused:
            self.assertStatus(rep, c.FAILED_PRECONDITION, LOGGING_TEXT % "S1")
        # other segments stay editable
        self.update_ok("S2", description="fine")
        # the follow-up No. taken by the log is not handed out meanwhile
        rep = self.seg(create_segment=sg.CreateSegment(no="SEG00001"))
        self.assertStatus(rep, c.ALREADY_EXISTS, "The Segment Header already exists. "
                          "Identification fields and values: No.='SEG00001'")
        self.numbering("SEG", 1, 5)  # set back
        self.assertEqual(self.create(description="mine").no, "SEG00002")
        self.add_ok("SEG00002", ["P4"])
        self.cl["logwriter"].start()
        # the worker answers UNAVAILABLE until its link to the writer is back
        rep = wait_for(lambda: self.answer_unless_unavailable(req), 60,
                       "segment log answering other than UNAVAILABLE")
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.logged.entry_count, 3)
        self.assertEqual(len(self.entries()), 3)
        self.assertStatus(self.get("S1"), c.NOT_FOUND)
        self.assertEqual(rep.logged.follow_up_segment_no, "SEG00001")
        self.assertEqual([l.contact_no for l in self.lines("SEG00001")], ["P1", "P2", "P3"])
        self.assertEqual([l.contact_no for l in self.lines("SEG00002")], ["P4"])

    def test_edits_refused_while_checking(self):
        """From the moment LogSegment arrives, before LOGGING is stored, the
        lines must not change under the checks (a change used to leave the
        log waiting forever, the segment stuck in LOGGING)."""
        n = 10000
        self.cl.ok("interaction", ia.InteractionRequest(import_contacts=ia.ImportContacts(
            contacts=_contacts(0, n))), timeout=60)
        self.build("S1", contacts=())
        self.add_ok("S1", ["K%06d" % i for i in range(n)])
        reqs = [sg.SegmentRequest(request_id=b"log", user_id="u", log_segment=sg.LogSegment(
                    segment_no="S1")),
                sg.SegmentRequest(request_id=b"rm", user_id="u", remove_lines=sg.RemoveLines(
                    segment_no="S1", line_nos=[10000, 20000])),
                sg.SegmentRequest(request_id=b"add", user_id="u", add_contacts=sg.AddContacts(
                    segment_no="S1", contact_nos=["P1"])),
                sg.SegmentRequest(request_id=b"line", user_id="u", update_line=sg.UpdateLine(
                    segment_no="S1", line_no=30000, fields=sg.LineFields(salesperson_code=""))),
                sg.SegmentRequest(request_id=b"log2", user_id="u", log_segment=sg.LogSegment(
                    segment_no="S1"))]
        for r in reqs:  # in this order on one connection
            self.cl.send_raw("segment", [r.SerializeToString()])
        replies = {}
        for _ in reqs:
            rep = sg.SegmentReply()
            rep.ParseFromString(self.cl.recv_raw("segment", 60)[-1])
            replies[rep.request_id] = rep
        self.assertStatus(replies[b"log"], c.OK)
        self.assertEqual(replies[b"log"].logged.entry_count, n)
        for rid in (b"rm", b"add", b"line", b"log2"):
            rep = replies[rid]
            # refused while the log runs (or, had it finished, the segment is gone)
            self.assertIn(rep.status.code, (c.FAILED_PRECONDITION, c.NOT_FOUND), rid)
            self.assertIn(rep.status.message, (LOGGING_TEXT % "S1", no_segment("S1")), rid)
        es = self.entries()
        self.assertEqual(len(es), n)
        self.assertEqual({e.salesperson_code for e in es}, {"SP1"})


class CancelDeleteTest(SegmentCase):
    def fixture(self):
        self.seed()
        self.create("S1", description="Spring", salesperson_code="SP1", campaign_no="CP1")
        self.update_ok("S1", interaction_template_code="MAIL")
        self.add_ok("S1", ["P1", "P2", "P3", "P4"])
        self.set_line("S1", 20000, interaction_template_code="CAMP")  # campaign CP2
        self.logged = self.log("S1").logged
        self.ce = {ce.campaign_no: ce.entry_no for ce in self.logged.campaign_entries}

    def set_ls(self, canceled, no=1):
        return self.lw(set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(
            entry_no=no, canceled=canceled))

    def set_ce(self, no, canceled):
        return self.lw(set_campaign_entry_canceled=lw.SetCampaignEntryCanceled(
            entry_no=no, canceled=canceled))

    def set_entries(self, nos, canceled):
        return self.lw(set_entries_canceled=lw.SetEntriesCanceled(entry_nos=nos,
                                                                  canceled=canceled))

    def canceled_nos(self):
        return [e.entry_no for e in self.entries(canceled=YES)]

    def test_logged_segment_cancel_toggle_and_back(self):
        self.assertEqual(self.logged.entry_count, 4)
        rep = self.set_ls(True)
        self.assertStatus(rep, c.OK)
        self.assertTrue(rep.logged_segment.canceled)
        self.assertEqual(self.canceled_nos(), [1, 2, 3, 4])
        self.assertEqual([ce.canceled for ce in self.campaign_entries()], [True, True])
        rep = self.set_entries([2], False)
        self.assertStatus(rep, c.FAILED_PRECONDITION,
                          "Canceled must be equal to 'No' in Logged Segment: Entry No.=1.")
        rep = self.set_ce(self.ce["CP2"], False)
        self.assertStatus(rep, c.FAILED_PRECONDITION,
                          "Canceled must be equal to 'No' in Logged Segment: Entry No.=1.")
        self.assertFalse(self.set_ls(False).logged_segment.canceled)
        self.assertEqual(self.canceled_nos(), [])
        self.assertEqual([ce.canceled for ce in self.campaign_entries()], [False, False])
        types = [e.type for e in self.cl.read_events()]
        self.assertEqual(types, ["segment.logged", "logged_segment.canceled",
                                 "logged_segment.uncanceled"])
        self.assertStatus(self.set_ls(True, no=99), c.NOT_FOUND,
                          "The Logged Segment does not exist. Identification fields and values: "
                          "Entry No.='99'")

    def test_campaign_entry_cancel_toggle(self):
        rep = self.set_ce(self.ce["CP2"], True)
        self.assertTrue(rep.campaign_entry.canceled)
        self.assertEqual(self.canceled_nos(), [2])  # P2's line had CP2
        self.assertStatus(self.set_entries([2], False), c.FAILED_PRECONDITION,
                          "Canceled must be equal to 'No' in Campaign Entry: Entry No.=%d."
                          % self.ce["CP2"])
        # an entry of the other campaign entry toggles alone
        self.assertStatus(self.set_entries([3], True), c.OK)
        self.assertStatus(self.set_entries([3], False), c.OK)
        self.assertFalse(self.set_ce(self.ce["CP2"], False).campaign_entry.canceled)
        self.assertEqual(self.canceled_nos(), [])
        self.assertStatus(self.set_ce(99, True), c.NOT_FOUND,
                          "The Campaign Entry does not exist. Identification fields and values: "
                          "Entry No.='99'")

    def test_delete_canceled_logged_segments(self):
        rep = self.lw_ok(delete_canceled_logged_segments=lw.DeleteCanceledLoggedSegments())
        self.assertEqual(rep.count.count, 0)
        self.set_ls(True)
        rep = self.lw_ok(delete_canceled_logged_segments=lw.DeleteCanceledLoggedSegments())
        self.assertEqual(rep.count.count, 1)
        self.assertEqual(self.logged_segments(), [])
        es = self.entries()
        self.assertEqual([(e.entry_no, e.logged_segment_entry_no, e.canceled) for e in es],
                         [(n, 0, True) for n in (1, 2, 3, 4)])
        self.assertEqual([(ce.register_no, ce.canceled) for ce in self.campaign_entries()],
                         [(0, True), (0, True)])
        # the No. may be logged again
        self.create("S1", description="again", salesperson_code="SP1")
        self.update_ok("S1", interaction_template_code="MAIL")
        self.add_ok("S1", ["P1"])
        self.assertEqual(self.log("S1").logged.logged_segment_no, 2)

    def test_delete_canceled_campaign_entries(self):
        self.log_other()
        rep = self.lw_ok(delete_canceled_campaign_entries=lw.DeleteCanceledCampaignEntries())
        self.assertEqual(rep.count.count, 0)
        self.set_ce(self.ce["CP2"], True)
        self.set_ce(self.ce2, True)
        rep = self.lw_ok(delete_canceled_campaign_entries=lw.DeleteCanceledCampaignEntries())
        self.assertEqual(rep.count.count, 2)
        self.assertEqual([e.entry_no for e in self.entries()], [1, 3, 4])
        self.assertEqual([ce.entry_no for ce in self.campaign_entries()], [self.ce["CP1"]])
        ev = self.cl.read_events(type_prefix="entries.deleted")
        self.assertEqual(len(ev), 1)
        self.assertEqual(sorted(ev[0].entries.campaign_entry_nos),
                         sorted([self.ce["CP2"], self.ce2]))
        # the logged segments stay, their derived counts follow
        self.assertEqual([(ls.entry_no, ls.no_of_interactions, ls.no_of_campaign_entries)
                          for ls in self.logged_segments()], [(1, 3, 1), (2, 0, 0)])

    def test_derived_counts_follow_deleted_entries(self):
        ls = self.logged_segments()[0]
        self.assertEqual((ls.no_of_interactions, ls.no_of_campaign_entries), (4, 2))
        self.assertEqual({ce.campaign_no: ce.no_of_entries for ce in self.campaign_entries()},
                         {"CP1": 3, "CP2": 1})
        self.assertStatus(self.set_entries([1, 3], True), c.OK)
        rep = self.lw_ok(delete_canceled_entries=lw.DeleteCanceledEntries())
        self.assertEqual(rep.count.count, 2)
        ls = self.logged_segments()[0]
        self.assertEqual((ls.no_of_interactions, ls.no_of_campaign_entries), (2, 2))
        self.assertEqual({ce.campaign_no: ce.no_of_entries for ce in self.campaign_entries()},
                         {"CP1": 1, "CP2": 1})
        self.assertEqual(self.lw_ok(get_logged_segment=lw.GetLoggedSegment(
            entry_no=1)).logged_segment.no_of_interactions, 2)

    def log_other(self):
        self.create("S2", description="Other", salesperson_code="SP1")
        self.update_ok("S2", interaction_template_code="CAMP")
        self.add_ok("S2", ["CO1", "CO2"])
        got = self.log("S2").logged
        self.ce2 = got.campaign_entries[0].entry_no
        # its two entries go with it
        self.assertEqual([e.entry_no for e in self.entries(logged_segment_entry_no=2)], [5, 6])


def _contacts(first, n, prefix="K"):
    return [ia.Contact(no="%s%06d" % (prefix, i), name="c", type=c.CONTACT_TYPE_PERSON,
                       salesperson_code="SP1", correspondence_type=HARD_COPY)
            for i in range(first, first + n)]


class BigSegmentTest(SegmentCase):
    N = 100000
    CHUNK = 10000

    def test_100k_contacts_log_with_follow_up(self):
        self.seed()
        self.numbering()
        t0 = time.monotonic()
        for first in range(0, self.N, self.CHUNK):
            rep = self.cl.call("interaction", ia.InteractionRequest(
                import_contacts=ia.ImportContacts(contacts=_contacts(first, self.CHUNK))),
                timeout=60)
            self.assertStatus(rep, c.OK)
        t_import = time.monotonic() - t0
        self.create("BIG", description="Big mailing", salesperson_code="SP1", campaign_no="CP1")
        self.update_ok("BIG", interaction_template_code="MAIL")
        t0 = time.monotonic()
        for first in range(0, self.N, self.CHUNK):
            nos = ["K%06d" % i for i in range(first, first + self.CHUNK)]
            rep = self.seg(add_contacts=sg.AddContacts(segment_no="BIG", contact_nos=nos),
                           timeout=120)
            self.assertStatus(rep, c.OK)
            self.assertEqual(rep.added.added, self.CHUNK)
        t_add = time.monotonic() - t0
        self.assertEqual(self.header("BIG").no_of_lines, self.N)
        sub = self.cl.subscribe(b"segment.")
        t0 = time.monotonic()
        rep = self.log("BIG", follow_up=True, timeout=300)
        t_log = time.monotonic() - t0
        self.assertStatus(rep, c.OK)
        got = rep.logged
        self.assertEqual((got.entry_count, got.first_entry_no, got.last_entry_no),
                         (self.N, 1, self.N))
        self.assertEqual([(ce.campaign_no, ce.no_of_entries) for ce in got.campaign_entries],
                         [("CP1", self.N)])
        fu = self.header(got.follow_up_segment_no)
        self.assertEqual(fu.no_of_lines, self.N)
        self.assertStatus(self.get("BIG"), c.NOT_FOUND)
        # spot checks: first, last, a middle page in line order
        es = self.lw_ok(list_entries=lw.ListEntries(filter=lw.EntryFilter(
            logged_segment_entry_no=1), after=49999, limit=3)).entries.entries
        self.assertEqual([(e.entry_no, e.contact_no) for e in es],
                         [(50000, "K049999"), (50001, "K050000"), (50002, "K050001")])
        last = self.lw_ok(list_entries=lw.ListEntries(descending=True, limit=1)).entries.entries
        self.assertEqual((last[0].entry_no, last[0].contact_no), (self.N, "K%06d" % (self.N - 1)))
        evs = []
        while not evs or evs[-1][0] != "segment.logged":
            got_ev = recv_events(sub, 1, timeout=10)
            self.assertTrue(got_ev, "no segment.logged event")
            evs.extend(got_ev)
        self.assertEqual(evs[-1][1].segment_logged.entry_count, self.N)
        # progress notifications: never stored, counting up, a few per second
        progress = [ev.progress for t, ev in evs if t == "segment.log.progress"]
        self.assertTrue(all(t == "segment.log.progress" and ev.seq == 0 for t, ev in evs[:-1]))
        self.assertEqual([p.total for p in progress], [self.N] * len(progress))
        self.assertEqual([p.done for p in progress], sorted(p.done for p in progress))
        self.assertLessEqual(len(progress), 5 * t_log + 2)
        st = self.lw_ok(statistics=lw.GetEntryStatistics()).statistics.rows
        self.assertEqual([(r.code, r.no_of_interactions, r.cost_cents) for r in st],
                         [("MAIL", self.N, 150 * self.N)])
        print("\n100k: import %.1f s, add %.1f s, log with follow-up %.1f s = %.0f entries/s"
              % (t_import, t_add, t_log, self.N / t_log))


if __name__ == "__main__":
    unittest.main()
