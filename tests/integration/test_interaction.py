"""rapport-interaction through its real socket, with a real rapport-logwriter
behind it: the catalog rules and texts (docs/domain.md section 2), creating an
interaction rule by rule and check by check in order (section 4), postponed
interactions (section 5), statistics, request_id idempotency, a writer that
is down, stalled or restarted, and bad input on the interaction socket.

Time is pinned (RAPPORT_TODAY by the harness, RAPPORT_NOW here), so every
date and time asserted is exact; timing assertions are loose on purpose."""
import signal
import time
import unittest

import zmq

from harness import TODAY_INT, ClusterTest, c, ia, lw, varint, wait_for

T = ia.InteractionRequest
F = ia.InteractionFields
NOW = "10:20:30"
NOW_ROUNDED = 10 * 3600 + 21 * 60  # now rounded up to the next whole minute
MAX_MSG = 4 * 1024 * 1024


def not_found(table, key_field, key):
    return "The %s does not exist. Identification fields and values: %s='%s'" % (
        table, key_field, key)


class InteractionTest(ClusterTest):
    """Helpers shared by the test classes below."""
    WORKERS = ("logwriter", "interaction")
    ENV = {"RAPPORT_NOW": NOW}

    def ix(self, rid=None, **cmd):
        req = T(**cmd)
        if rid:
            req.request_id = rid
        return self.cl.call("interaction", req)

    def ok(self, rid=None, **cmd):
        rep = self.ix(rid, **cmd)
        self.assertStatus(rep, c.OK)
        return rep

    def create(self, origin=ia.ORIGIN_CONTACT, from_entry_no=0, postpone=False, rid=None,
               **fields):
        return self.ix(rid, create_interaction=ia.CreateInteraction(
            origin=origin, from_entry_no=from_entry_no, postpone=postpone, fields=F(**fields)))

    def created(self, **kw):
        rep = self.create(**kw)
        self.assertStatus(rep, c.OK)
        return rep.entry

    def resume(self, entry_no, postpone=False, clear_comments=False, rid=None, **fields):
        return self.ix(rid, resume_interaction=ia.ResumeInteraction(
            entry_no=entry_no, postpone=postpone, clear_comments=clear_comments,
            fields=F(**fields)))

    def raw_call(self, req, sock="interaction"):
        """Send req's bytes as they are; return (reply bytes, decoded reply)."""
        data = req if isinstance(req, bytes) else req.SerializeToString()
        self.cl.send_raw(sock, [data])
        body = self.cl.recv_raw(sock)[-1]
        rep = ia.InteractionReply()
        rep.ParseFromString(body)
        return body, rep

    def writer_entries(self, **flt):
        rep = self.cl.ok("logwriter", lw.LogRequest(list_entries=lw.ListEntries(
            filter=lw.EntryFilter(**flt), limit=1000)))
        return list(rep.entries.entries)

    def campaign_entries(self):
        rep = self.cl.ok("logwriter", lw.LogRequest(
            list_campaign_entries=lw.ListCampaignEntries()))
        return list(rep.campaign_entries.campaign_entries)

    def counters(self):
        rep = self.ok(stats=c.GetStats())
        out = {}
        for k in rep.stats.counters:
            out[k.name] = out.get(k.name, 0) + k.value
        return out

    def not_unavailable(self, req):
        """The reply to req, or None when it is UNAVAILABLE."""
        rep = self.cl.call("interaction", req, timeout=30)
        return None if rep.status.code == c.UNAVAILABLE else rep

    def gauge(self, name):
        return sum(g.value for g in self.ok(stats=c.GetStats()).stats.gauges if g.name == name)

    def assertServing(self):
        self.assertTrue(self.cl["interaction"].alive(), self.cl["interaction"].logtext()[-2000:])
        self.assertEqual(self.ok(get_group=ia.CodeRef(code="call")).group.description, "Calls")

    def seed(self):
        """A small catalog. P1 is a person of company C1 with language DE,
        TCALL has language rows DE and EN (default EN), TLETTER has a
        campaign, TBLANK has no description."""
        self.ok(put_group=ia.InteractionGroup(code="call", description="Calls"))
        self.ok(put_group=ia.InteractionGroup(code="meet", description="Meetings"))
        self.ok(put_campaign=ia.Campaign(no="cp1", description="Spring"))
        self.ok(put_campaign=ia.Campaign(no="cp2", description="Autumn"))
        self.ok(put_salesperson=ia.Salesperson(code="sp1", name="Ann"))
        self.ok(put_salesperson=ia.Salesperson(code="sp2", name="Bert"))
        self.ok(put_salesperson=ia.Salesperson(code="spb", name="Blocked", blocked=True))
        self.ok(put_template=ia.InteractionTemplate(
            code="tcall", description="Phone call", interaction_group_code="call",
            unit_cost_cents=250, unit_duration_min=15,
            information_flow=c.INFORMATION_FLOW_OUTBOUND, initiated_by=c.INITIATED_BY_US))
        self.ok(put_template_language=ia.PutTemplateLanguage(
            template_code="tcall", language_code="en", description="Call"))
        self.ok(put_template_language=ia.PutTemplateLanguage(
            template_code="tcall", language_code="de", description="Anruf"))
        self.ok(put_template=ia.InteractionTemplate(
            code="tletter", description="Campaign letter", interaction_group_code="meet",
            unit_cost_cents=120, unit_duration_min=30,
            information_flow=c.INFORMATION_FLOW_INBOUND, initiated_by=c.INITIATED_BY_THEM,
            campaign_no="cp1", campaign_target=True, campaign_response=True,
            correspondence_type=c.CORRESPONDENCE_TYPE_HARD_COPY))
        self.ok(put_template=ia.InteractionTemplate(code="tblank", interaction_group_code="call"))
        self.ok(put_contact=ia.Contact(no="c1", name="Acme", type=c.CONTACT_TYPE_COMPANY,
                                       salesperson_code="sp1", language_code="fr"))
        self.ok(put_contact=ia.Contact(no="p1", name="Bob", type=c.CONTACT_TYPE_PERSON,
                                       company_no="c1", salesperson_code="sp2",
                                       language_code="de"))
        self.ok(put_contact=ia.Contact(no="p2", name="Carla", type=c.CONTACT_TYPE_PERSON))
        self.ok(put_contact=ia.Contact(no="pb", name="Hidden", type=c.CONTACT_TYPE_PERSON,
                                       privacy_blocked=True))


class CatalogTest(InteractionTest):
    """docs/domain.md section 2."""

    def test_codes_are_stored_upper_case(self):
        rep = self.ok(put_group=ia.InteractionGroup(code="call", description="Calls"))
        self.assertEqual(rep.group.code, "CALL")
        self.assertEqual(self.ok(get_group=ia.CodeRef(code="Call")).group.description, "Calls")
        self.ok(put_contact=ia.Contact(no="c-1", type=c.CONTACT_TYPE_COMPANY,
                                       language_code="de"))
        contact = self.ok(get_contact=ia.NoRef(no="c-1")).contact
        self.assertEqual((contact.no, contact.language_code), ("C-1", "DE"))
        self.assertEqual([g.code for g in self.ok(list_groups=ia.ListCatalog()).groups.groups],
                         ["CALL"])

    def test_blank_keys(self):
        for cmd, field, caption in (
                ("put_group", "code", "Code"), ("put_salesperson", "code", "Code"),
                ("put_template", "code", "Code"), ("put_campaign", "no", "No."),
                ("put_contact", "no", "No.")):
            req = T()
            getattr(req, cmd).SetInParent()
            rep = self.cl.call("interaction", req)
            self.assertStatus(rep, c.INVALID_ARGUMENT, "You must fill in the %s field." % caption,
                              "%s.%s" % (cmd, field))
        self.assertStatus(self.ix(get_group=ia.CodeRef()), c.INVALID_ARGUMENT,
                          "You must fill in the Code field.", "get_group.code")

    def test_not_found_texts(self):
        cases = (
            (dict(get_group=ia.CodeRef(code="x9")), "Interaction Group", "Code", "get_group.code"),
            (dict(get_template=ia.CodeRef(code="x9")), "Interaction Template", "Code",
             "get_template.code"),
            (dict(get_contact=ia.NoRef(no="x9")), "Contact", "No.", "get_contact.no"),
            (dict(get_salesperson=ia.CodeRef(code="x9")), "Salesperson/Purchaser", "Code",
             "get_salesperson.code"),
            (dict(get_campaign=ia.NoRef(no="x9")), "Campaign", "No.", "get_campaign.no"),
            (dict(delete_group=ia.CodeRef(code="x9")), "Interaction Group", "Code",
             "delete_group.code"),
            (dict(delete_template=ia.CodeRef(code="x9")), "Interaction Template", "Code",
             "delete_template.code"),
            (dict(delete_contact=ia.NoRef(no="x9")), "Contact", "No.", "delete_contact.no"),
            (dict(delete_salesperson=ia.CodeRef(code="x9")), "Salesperson/Purchaser", "Code",
             "delete_salesperson.code"),
            (dict(delete_campaign=ia.NoRef(no="x9")), "Campaign", "No.", "delete_campaign.no"),
        )
        for cmd, table, key, field in cases:
            self.assertStatus(self.ix(**cmd), c.NOT_FOUND, not_found(table, key, "X9"), field)

    def test_template_rules(self):
        self.seed()
        self.assertStatus(self.ix(put_template=ia.InteractionTemplate(code="t2")),
                          c.INVALID_ARGUMENT, "You must fill in the Interaction Group Code field.",
                          "put_template.interaction_group_code")
        self.assertStatus(
            self.ix(put_template=ia.InteractionTemplate(code="t2", interaction_group_code="zz")),
            c.NOT_FOUND, not_found("Interaction Group", "Code", "ZZ"),
            "put_template.interaction_group_code")
        self.assertStatus(
            self.ix(put_template=ia.InteractionTemplate(code="t2", interaction_group_code="call",
                                                        unit_cost_cents=-1)),
            c.INVALID_ARGUMENT,
            "Unit Cost (LCY) must not be negative in Interaction Template: Code=T2.",
            "put_template.unit_cost_cents")
        self.assertStatus(
            self.ix(put_template=ia.InteractionTemplate(code="t2", interaction_group_code="call",
                                                        campaign_no="zz")),
            c.NOT_FOUND, not_found("Campaign", "No.", "ZZ"), "put_template.campaign_no")
        self.assertStatus(self.ix(get_template=ia.CodeRef(code="t2")), c.NOT_FOUND)

        # A new template's Correspondence Type is Email unless given; an
        # update that leaves it unset keeps the stored one; blank is a value.
        t = self.ok(put_template=ia.InteractionTemplate(
            code="t2", interaction_group_code="call")).template
        self.assertEqual(t.correspondence_type, c.CORRESPONDENCE_TYPE_EMAIL)
        self.assertEqual(self.ok(get_template=ia.CodeRef(code="tletter")).template
                         .correspondence_type, c.CORRESPONDENCE_TYPE_HARD_COPY)
        self.ok(put_template=ia.InteractionTemplate(code="tletter", description="Letter 2",
                                                    interaction_group_code="meet"))
        t = self.ok(get_template=ia.CodeRef(code="tletter")).template
        self.assertEqual((t.description, t.correspondence_type, t.unit_cost_cents),
                         ("Letter 2", c.CORRESPONDENCE_TYPE_HARD_COPY, 0))
        self.ok(put_template=ia.InteractionTemplate(
            code="t2", interaction_group_code="call",
            correspondence_type=c.CORRESPONDENCE_TYPE_NONE))
        t = self.ok(get_template=ia.CodeRef(code="t2")).template
        self.assertEqual(t.WhichOneof("correspondence_type_opt"), "correspondence_type")
        self.assertEqual(t.correspondence_type, c.CORRESPONDENCE_TYPE_NONE)

        # Campaign Target / Response only exist with a campaign.
        t = self.ok(put_template=ia.InteractionTemplate(
            code="t3", interaction_group_code="call", campaign_target=True,
            campaign_response=True)).template
        self.assertEqual((t.campaign_target, t.campaign_response), (False, False))
        t = self.ok(put_template=ia.InteractionTemplate(
            code="t3", interaction_group_code="call", campaign_no="cp1", campaign_target=True,
            unit_cost_cents=0, unit_duration_min=0)).template
        self.assertEqual((t.campaign_no, t.campaign_target, t.campaign_response),
                         ("CP1", True, False))

        # A group in use cannot go; once unused it can.
        self.assertStatus(self.ix(delete_group=ia.CodeRef(code="meet")), c.FAILED_PRECONDITION,
                          "You cannot delete Interaction Group MEET because Interaction Template "
                          "TLETTER uses it.", "delete_group.code")
        self.ok(put_template=ia.InteractionTemplate(code="tletter", interaction_group_code="call"))
        self.assertEqual(self.ok(delete_group=ia.CodeRef(code="meet")).group.code, "MEET")
        self.assertStatus(self.ix(get_group=ia.CodeRef(code="meet")), c.NOT_FOUND)

    def test_template_language_rows(self):
        self.ok(put_group=ia.InteractionGroup(code="g"))
        self.ok(put_template=ia.InteractionTemplate(code="t", interaction_group_code="g",
                                                    description="d"))
        # The first row becomes the default; rows are kept in code order.
        t = self.ok(put_template_language=ia.PutTemplateLanguage(
            template_code="t", language_code="fr", description="Appel")).template
        self.assertEqual(t.language_code, "FR")
        t = self.ok(put_template_language=ia.PutTemplateLanguage(
            template_code="t", language_code="de", description="Anruf")).template
        self.assertEqual([(x.language_code, x.description) for x in t.languages],
                         [("DE", "Anruf"), ("FR", "Appel")])
        self.assertEqual(t.language_code, "FR")
        t = self.ok(put_template_language=ia.PutTemplateLanguage(
            template_code="t", language_code="de", description="Telefonat")).template
        self.assertEqual([x.description for x in t.languages], ["Telefonat", "Appel"])
        # The default must be one of the rows while rows exist.
        self.assertStatus(
            self.ix(put_template=ia.InteractionTemplate(code="t", interaction_group_code="g",
                                                        language_code="xx")),
            c.INVALID_ARGUMENT,
            "The field Language Code (Default) of table Interaction Template contains a value "
            "(XX) that cannot be found in the related table (Interaction Tmpl. Language).",
            "put_template.language_code")
        self.assertStatus(
            self.ix(put_template=ia.InteractionTemplate(code="t", interaction_group_code="g")),
            c.INVALID_ARGUMENT,
            "Language Code (Default) must have a value in Interaction Template: Code=T. It "
            "cannot be zero or empty.", "put_template.language_code")
        # put_template keeps the rows it does not maintain.
        t = self.ok(put_template=ia.InteractionTemplate(
            code="t", interaction_group_code="g", description="d", language_code="de")).template
        self.assertEqual(([x.language_code for x in t.languages], t.language_code),
                         (["DE", "FR"], "DE"))
        self.assertStatus(
            self.ix(delete_template_language=ia.DeleteTemplateLanguage(template_code="t",
                                                                       language_code="de")),
            c.FAILED_PRECONDITION,
            "You cannot delete Language Code DE of Interaction Template T because it is the "
            "template's default language. Make another language the default first.",
            "delete_template_language.language_code")
        self.assertStatus(
            self.ix(delete_template_language=ia.DeleteTemplateLanguage(template_code="t",
                                                                       language_code="it")),
            c.NOT_FOUND,
            "The Interaction Tmpl. Language does not exist. Identification fields and values: "
            "Interaction Template Code='T',Language Code='IT'")
        self.assertStatus(
            self.ix(put_template_language=ia.PutTemplateLanguage(template_code="nope",
                                                                 language_code="de")),
            c.NOT_FOUND, not_found("Interaction Template", "Code", "NOPE"),
            "put_template_language.template_code")
        self.assertStatus(
            self.ix(put_template_language=ia.PutTemplateLanguage(template_code="t")),
            c.INVALID_ARGUMENT, "You must fill in the Language Code field.",
            "put_template_language.language_code")
        t = self.ok(delete_template_language=ia.DeleteTemplateLanguage(
            template_code="t", language_code="fr")).template
        self.assertEqual([x.language_code for x in t.languages], ["DE"])
        # The last row may go; the default goes with it.
        t = self.ok(delete_template_language=ia.DeleteTemplateLanguage(
            template_code="t", language_code="de")).template
        self.assertEqual((len(t.languages), t.language_code), (0, ""))

    def test_contact_rules(self):
        self.seed()
        self.assertStatus(self.ix(put_contact=ia.Contact(no="q")), c.INVALID_ARGUMENT,
                          "Type must be Company or Person in Contact: No.=Q.", "put_contact.type")
        # A company's Company No. is its own No., whatever is given.
        co = self.ok(put_contact=ia.Contact(no="c2", type=c.CONTACT_TYPE_COMPANY,
                                            company_no="c1")).contact
        self.assertEqual(co.company_no, "C2")
        self.assertStatus(
            self.ix(put_contact=ia.Contact(no="q", type=c.CONTACT_TYPE_PERSON, company_no="zz")),
            c.NOT_FOUND, not_found("Contact", "No.", "ZZ"), "put_contact.company_no")
        self.assertStatus(
            self.ix(put_contact=ia.Contact(no="q", type=c.CONTACT_TYPE_PERSON, company_no="p1")),
            c.FAILED_PRECONDITION,
            "Type must be equal to 'Company' in Contact: No.=P1. Current value is 'Person'.",
            "put_contact.company_no")
        self.assertStatus(
            self.ix(put_contact=ia.Contact(no="q", type=c.CONTACT_TYPE_PERSON, company_no="q")),
            c.FAILED_PRECONDITION,
            "Type must be equal to 'Company' in Contact: No.=Q. Current value is 'Person'.")
        self.assertStatus(
            self.ix(put_contact=ia.Contact(no="q", type=c.CONTACT_TYPE_PERSON,
                                           salesperson_code="zz")),
            c.NOT_FOUND, not_found("Salesperson/Purchaser", "Code", "ZZ"),
            "put_contact.salesperson_code")
        # A company with persons stays a company and cannot be deleted.
        self.assertStatus(self.ix(put_contact=ia.Contact(no="c1", type=c.CONTACT_TYPE_PERSON)),
                          c.FAILED_PRECONDITION,
                          "Contact C1 cannot become a person: it is the company of contact P1.",
                          "put_contact.type")
        self.assertStatus(self.ix(delete_contact=ia.NoRef(no="c1")), c.FAILED_PRECONDITION,
                          "You cannot delete Contact C1 because it is the company of Contact P1.",
                          "delete_contact.no")
        # Once P1 moves to C2, C1 may go.
        self.ok(put_contact=ia.Contact(no="p1", type=c.CONTACT_TYPE_PERSON, company_no="c2"))
        nos = [x.no for x in self.ok(list_contacts=ia.ListCatalog(company_no="c2"))
               .contacts.contacts]
        self.assertEqual(nos, ["C2", "P1"])
        self.ok(delete_contact=ia.NoRef(no="c1"))
        self.assertStatus(self.ix(get_contact=ia.NoRef(no="c1")), c.NOT_FOUND)

    def test_import_is_all_or_nothing(self):
        self.seed()
        # Persons may come before their company in the same import.
        contacts = [ia.Contact(no="i%d" % i, type=c.CONTACT_TYPE_PERSON, company_no="ico")
                    for i in range(5)] + [ia.Contact(no="ico", type=c.CONTACT_TYPE_COMPANY)]
        self.assertEqual(self.ok(import_contacts=ia.ImportContacts(contacts=contacts))
                         .count.count, 6)
        bad = [ia.Contact(no="j1", type=c.CONTACT_TYPE_COMPANY),
               ia.Contact(no="j2", type=c.CONTACT_TYPE_PERSON, salesperson_code="nope")]
        self.assertStatus(
            self.ix(import_contacts=ia.ImportContacts(contacts=bad)), c.NOT_FOUND,
            "Contact 2 of 2 (No. 'J2'): " + not_found("Salesperson/Purchaser", "Code", "NOPE") +
            " Nothing was imported.", "import_contacts.contacts[1].salesperson_code")
        self.assertStatus(self.ix(get_contact=ia.NoRef(no="j1")), c.NOT_FOUND)
        nos = [x.no for x in self.ok(list_contacts=ia.ListCatalog(company_no="ico"))
               .contacts.contacts]
        self.assertEqual(nos, ["I0", "I1", "I2", "I3", "I4", "ICO"])

    def test_list_pages_and_lookup(self):
        self.seed()
        for i in range(12):
            self.ok(put_contact=ia.Contact(no="x%02d" % i, type=c.CONTACT_TYPE_PERSON,
                                           company_no="c1" if i % 2 else "",
                                           salesperson_code="sp1" if i % 3 == 0 else ""))
        seen, after = [], ""
        while True:
            page = self.ok(list_contacts=ia.ListCatalog(after=after, limit=5)).contacts
            seen += [x.no for x in page.contacts]
            if not page.next_after:
                break
            after = page.next_after
        self.assertEqual(seen, ["C1", "P1", "P2", "PB"] + ["X%02d" % i for i in range(12)])
        by_sp = self.ok(list_contacts=ia.ListCatalog(salesperson_code="sp1")).contacts.contacts
        self.assertEqual([x.no for x in by_sp], ["C1", "X00", "X03", "X06", "X09"])
        both = self.ok(list_contacts=ia.ListCatalog(salesperson_code="sp1", company_no="c1"))
        self.assertEqual([x.no for x in both.contacts.contacts], ["C1", "X03", "X09"])
        self.assertStatus(self.ix(list_groups=ia.ListCatalog(company_no="c1")),
                          c.INVALID_ARGUMENT,
                          "Only list_contacts filters by company_no or salesperson_code.")
        lk = self.ok(lookup=ia.Lookup(contact_nos=["c1", "nope"], template_codes=["tcall"],
                                      salesperson_codes=["x"], campaign_nos=["cp1"])).lookup
        self.assertEqual(([x.no for x in lk.contacts], [x.code for x in lk.templates],
                          [x.no for x in lk.campaigns], list(lk.missing)),
                         (["C1"], ["TCALL"], ["CP1"], ["contact:NOPE", "salesperson:X"]))


class CreateTest(InteractionTest):
    """docs/domain.md section 4."""

    def test_checks_in_order(self):
        self.seed()
        path = "create_interaction.fields."
        # A code that names no record is refused first, whatever is blank
        # (the table relation): the reply names the real cause.
        self.assertStatus(self.create(salesperson_code="zz"), c.NOT_FOUND,
                          not_found("Salesperson/Purchaser", "Code", "ZZ"),
                          path + "salesperson_code")
        self.assertStatus(self.create(contact_no="nobody", interaction_template_code="tcall"),
                          c.NOT_FOUND, not_found("Contact", "No.", "NOBODY"),
                          path + "contact_no")
        self.assertStatus(self.create(contact_no="p1", interaction_template_code="nope"),
                          c.NOT_FOUND, not_found("Interaction Template", "Code", "NOPE"),
                          path + "interaction_template_code")
        self.assertStatus(self.create(contact_no="p1", interaction_template_code="tcall",
                                      campaign_no="nope"),
                          c.NOT_FOUND, not_found("Campaign", "No.", "NOPE"), path + "campaign_no")
        # 1. no contact.
        self.assertStatus(self.create(salesperson_code="sp1"), c.INVALID_ARGUMENT,
                          "You must select a contact to interact with.", path + "contact_no")
        # A privacy-blocked contact is refused from the start.
        self.assertStatus(
            self.create(contact_no="pb", interaction_template_code="tcall",
                        salesperson_code="sp1"),
            c.FAILED_PRECONDITION,
            "Privacy Blocked must be equal to 'No' in Contact: No.=PB. Current value is 'Yes'.",
            path + "contact_no")
        # 2. blank fields, template first, then salesperson (P2 has none),
        # then description.
        self.assertStatus(self.create(contact_no="p2"), c.INVALID_ARGUMENT,
                          "You must fill in the Interaction Template Code field.",
                          path + "interaction_template_code")
        self.assertStatus(self.create(contact_no="p2", interaction_template_code="tblank"),
                          c.INVALID_ARGUMENT, "You must fill in the Salesperson Code field.",
                          path + "salesperson_code")
        self.assertStatus(
            self.create(contact_no="p2", interaction_template_code="tblank",
                        salesperson_code="sp1"),
            c.INVALID_ARGUMENT, "You must fill in the Description field.", path + "description")
        # (Date cannot be blank: 0 means the work date. An impossible date is
        # refused before anything else.)
        self.assertStatus(
            self.create(contact_no="p1", interaction_template_code="tcall", date=20260231),
            c.INVALID_ARGUMENT,
            "20260231 is not a valid date: give YYYYMMDD between 17530101 and 99991231.",
            path + "date")
        # Existence of every code given: contact, salesperson, template,
        # campaign in this order; then 3, blocked.
        self.assertStatus(
            self.create(contact_no="nope", interaction_template_code="zz", salesperson_code="zz",
                        campaign_no="zz", description="x"),
            c.NOT_FOUND, not_found("Contact", "No.", "NOPE"), path + "contact_no")
        self.assertStatus(
            self.create(contact_no="p2", interaction_template_code="zz", salesperson_code="zz",
                        campaign_no="zz", description="x"),
            c.NOT_FOUND, not_found("Salesperson/Purchaser", "Code", "ZZ"),
            path + "salesperson_code")
        self.assertStatus(
            self.create(contact_no="p2", interaction_template_code="zz", salesperson_code="spb",
                        campaign_no="zz", description="x"),
            c.NOT_FOUND, not_found("Interaction Template", "Code", "ZZ"),
            path + "interaction_template_code")
        self.assertStatus(
            self.create(contact_no="p2", interaction_template_code="tcall",
                        salesperson_code="spb", campaign_no="zz"),
            c.NOT_FOUND, not_found("Campaign", "No.", "ZZ"), path + "campaign_no")
        self.assertStatus(
            self.create(contact_no="p2", interaction_template_code="tcall",
                        salesperson_code="spb"),
            c.FAILED_PRECONDITION,
            "Blocked must be equal to 'No' in Salesperson/Purchaser: Code=SPB. Current value "
            "is 'Yes'.", path + "salesperson_code")
        self.assertStatus(
            self.create(contact_no="p2", interaction_template_code="tcall", salesperson_code="sp1",
                        cost_cents=-5),
            c.INVALID_ARGUMENT, "Cost (LCY) must not be negative.", path + "cost_cents")
        self.assertStatus(
            self.create(contact_no="p2", interaction_template_code="tcall", salesperson_code="sp1",
                        time_of_interaction=86400),
            c.INVALID_ARGUMENT, "86400 is not a valid Time of Interaction: give seconds after "
            "midnight, less than 86400.", path + "time_of_interaction")
        self.assertEqual(self.writer_entries(), [])  # nothing written by a refusal
        e = self.created(contact_no="p2", interaction_template_code="tcall",
                         salesperson_code="sp1")
        self.assertEqual(e.entry_no, 1)
        self.assertEqual([x.entry_no for x in self.writer_entries()], [1])

    def test_defaults_and_template_fill(self):
        self.seed()
        e = self.created(contact_no="p1", interaction_template_code="tcall",
                         comments=["hello", "world"])
        # From a person: the company is fixed, the salesperson is the contact's.
        self.assertEqual((e.entry_no, e.contact_no, e.contact_company_no, e.salesperson_code),
                         (1, "P1", "C1", "SP2"))
        # Work date, now rounded up to the next minute, successful.
        self.assertEqual((e.date, e.time_of_interaction, e.attempt_failed, e.evaluation),
                         (TODAY_INT, NOW_ROUNDED, False, c.EVALUATION_NONE))
        # Everything the template decides.
        self.assertEqual((e.interaction_template_code, e.interaction_group_code, e.cost_cents,
                          e.duration_min, e.information_flow, e.initiated_by,
                          e.correspondence_type),
                         ("TCALL", "CALL", 250, 15, c.INFORMATION_FLOW_OUTBOUND,
                          c.INITIATED_BY_US, c.CORRESPONDENCE_TYPE_EMAIL))
        # The contact's language has a template row: DE; Subject := Description.
        self.assertEqual((e.interaction_language_code, e.description, e.subject),
                         ("DE", "Phone call", "Phone call"))
        self.assertEqual((e.campaign_no, e.campaign_entry_no, e.campaign_target,
                          e.campaign_response), ("", 0, False, False))
        self.assertEqual([(x.line_no, x.date, x.comment) for x in e.comments],
                         [(10000, TODAY_INT, "hello"), (20000, TODAY_INT, "world")])
        self.assertEqual((e.user_id, e.postponed, e.canceled), ("tester", False, False))
        # What the writer stored is what the client was told.
        self.assertEqual(self.writer_entries(), [e])

        # A company: its own company; its language FR has no row, so the
        # template's default EN; a contact without language likewise.
        e = self.created(contact_no="c1", interaction_template_code="tcall")
        self.assertEqual((e.contact_company_no, e.salesperson_code, e.interaction_language_code),
                         ("C1", "SP1", "EN"))
        e = self.created(contact_no="p2", interaction_template_code="tcall",
                         salesperson_code="sp1")
        self.assertEqual((e.contact_company_no, e.interaction_language_code), ("", "EN"))

    def test_command_overrides_template_and_defaults(self):
        self.seed()
        e = self.created(
            contact_no="p1", interaction_template_code="tcall", salesperson_code="sp1",
            description="Follow-up", date=20260101, time_of_interaction=3600,
            evaluation=c.EVALUATION_VERY_POSITIVE, attempt_failed=True, cost_cents=0,
            duration_min=0, information_flow=c.INFORMATION_FLOW_INBOUND,
            initiated_by=c.INITIATED_BY_THEM, language_code="fr",
            correspondence_type=c.CORRESPONDENCE_TYPE_HARD_COPY, opportunity_no="op1",
            todo_no="td1")
        self.assertEqual(
            (e.salesperson_code, e.description, e.subject, e.date, e.time_of_interaction,
             e.evaluation, e.attempt_failed, e.cost_cents, e.duration_min, e.information_flow,
             e.initiated_by, e.interaction_language_code, e.correspondence_type,
             e.opportunity_no, e.todo_no, e.interaction_group_code),
            ("SP1", "Follow-up", "Follow-up", 20260101, 3600, c.EVALUATION_VERY_POSITIVE, True,
             0, 0, c.INFORMATION_FLOW_INBOUND, c.INITIATED_BY_THEM, "FR",
             c.CORRESPONDENCE_TYPE_HARD_COPY, "OP1", "TD1", "CALL"))
        e = self.created(contact_no="p1", interaction_template_code="tcall", subject="Re: call")
        self.assertEqual((e.description, e.subject), ("Phone call", "Re: call"))

    def test_campaign_from_template_or_command(self):
        self.seed()
        e = self.created(contact_no="p1", interaction_template_code="tletter")
        self.assertEqual((e.campaign_no, e.campaign_target, e.campaign_response,
                          e.correspondence_type, e.information_flow, e.initiated_by,
                          e.interaction_language_code, e.interaction_group_code),
                         ("CP1", True, True, c.CORRESPONDENCE_TYPE_HARD_COPY,
                          c.INFORMATION_FLOW_INBOUND, c.INITIATED_BY_THEM, "", "MEET"))
        self.assertNotEqual(e.campaign_entry_no, 0)
        ces = self.campaign_entries()
        self.assertEqual([(x.entry_no, x.campaign_no, x.description, x.register_no,
                           x.salesperson_code, x.date) for x in ces],
                         [(e.campaign_entry_no, "CP1", "Interactions", 0, "SP2", TODAY_INT)])
        # The command's campaign wins over the template's.
        e = self.created(contact_no="p1", interaction_template_code="tletter", campaign_no="cp2",
                         campaign_response=False)
        self.assertEqual((e.campaign_no, e.campaign_target, e.campaign_response),
                         ("CP2", True, False))
        # A template without campaign: the command's; no campaign, no entry.
        e = self.created(contact_no="p1", interaction_template_code="tcall", campaign_no="cp1")
        self.assertEqual((e.campaign_no, e.campaign_target), ("CP1", False))
        self.assertNotEqual(e.campaign_entry_no, 0)
        e = self.created(contact_no="p1", interaction_template_code="tcall",
                         campaign_target=True)
        self.assertEqual((e.campaign_no, e.campaign_target, e.campaign_entry_no), ("", False, 0))
        self.assertEqual(len(self.campaign_entries()), 3)

    def test_from_salesperson(self):
        self.seed()
        # The salesperson is fixed by the origin: no default from the contact.
        self.assertStatus(
            self.create(origin=ia.ORIGIN_SALESPERSON, contact_no="p1",
                        interaction_template_code="tcall"),
            c.INVALID_ARGUMENT, "You must fill in the Salesperson Code field.")
        self.assertStatus(self.create(origin=ia.ORIGIN_SALESPERSON, salesperson_code="sp1",
                                      interaction_template_code="tcall"),
                          c.INVALID_ARGUMENT, "You must select a contact to interact with.")
        e = self.created(origin=ia.ORIGIN_SALESPERSON, salesperson_code="sp1", contact_no="p1",
                         interaction_template_code="tcall")
        self.assertEqual((e.salesperson_code, e.contact_no, e.contact_company_no),
                         ("SP1", "P1", "C1"))

    def test_from_entry(self):
        self.seed()
        first = self.created(contact_no="p1", interaction_template_code="tletter",
                             opportunity_no="op1", todo_no="td1")
        # Contact, company, salesperson, campaign, opportunity and to-do are
        # taken over, whatever the command says; the template is the new one.
        e = self.created(origin=ia.ORIGIN_ENTRY, from_entry_no=first.entry_no,
                         interaction_template_code="tcall", contact_no="c1",
                         salesperson_code="sp1", campaign_no="cp2", opportunity_no="op9",
                         todo_no="td9")
        self.assertEqual((e.contact_no, e.contact_company_no, e.salesperson_code, e.campaign_no,
                          e.opportunity_no, e.todo_no),
                         ("P1", "C1", "SP2", "CP1", "OP1", "TD1"))
        self.assertEqual((e.interaction_template_code, e.interaction_group_code, e.cost_cents,
                          e.description, e.interaction_language_code, e.entry_no),
                         ("TCALL", "CALL", 250, "Phone call", "DE", 2))
        # Blank values are not fixed: the command (or the defaults) fill them.
        plain = self.created(contact_no="p2", interaction_template_code="tcall",
                             salesperson_code="sp1")
        e = self.created(origin=ia.ORIGIN_ENTRY, from_entry_no=plain.entry_no,
                         interaction_template_code="tletter", campaign_no="cp2",
                         opportunity_no="op9")
        self.assertEqual((e.contact_no, e.contact_company_no, e.salesperson_code, e.campaign_no,
                          e.opportunity_no, e.todo_no),
                         ("P2", "", "SP1", "CP2", "OP9", ""))
        self.assertStatus(self.create(origin=ia.ORIGIN_ENTRY, interaction_template_code="tcall"),
                          c.INVALID_ARGUMENT, "You must fill in the From Entry No. field.",
                          "create_interaction.from_entry_no")
        self.assertStatus(
            self.create(origin=ia.ORIGIN_ENTRY, from_entry_no=999,
                        interaction_template_code="tcall"),
            c.NOT_FOUND, not_found("Interaction Log Entry", "Entry No.", "999"))
        self.assertEqual(len(self.writer_entries()), 4)


class PostponeTest(InteractionTest):
    """docs/domain.md section 5."""

    def test_postpone_applies_checks_1_and_2_only(self):
        self.seed()
        self.assertStatus(self.create(postpone=True, interaction_template_code="tcall"),
                          c.INVALID_ARGUMENT, "You must select a contact to interact with.")
        self.assertStatus(self.create(postpone=True, contact_no="p1"), c.INVALID_ARGUMENT,
                          "You must fill in the Interaction Template Code field.")
        self.assertStatus(self.create(postpone=True, contact_no="p2",
                                      interaction_template_code="tblank", salesperson_code="sp1"),
                          c.INVALID_ARGUMENT, "You must fill in the Description field.")
        # A code that names no record is refused when postponing too.
        self.assertStatus(self.create(postpone=True, contact_no="nope",
                                      interaction_template_code="tcall"),
                          c.NOT_FOUND, not_found("Contact", "No.", "NOPE"))
        self.assertStatus(self.create(postpone=True, contact_no="p1",
                                      interaction_template_code="zz"),
                          c.NOT_FOUND, not_found("Interaction Template", "Code", "ZZ"))
        # Check 3 does not apply: a blocked salesperson.
        e = self.created(postpone=True, contact_no="p2", interaction_template_code="tcall",
                         salesperson_code="spb", campaign_no="cp2", description="later",
                         comments=["a", "b"], opportunity_no="op1",
                         evaluation=c.EVALUATION_NEUTRAL)
        self.assertEqual((e.postponed, e.contact_no, e.interaction_template_code,
                          e.salesperson_code, e.campaign_no, e.description, e.subject,
                          e.opportunity_no, e.evaluation, [x.comment for x in e.comments]),
                         (True, "P2", "TCALL", "SPB", "CP2", "later", "later", "OP1",
                          c.EVALUATION_NEUTRAL, ["a", "b"]))
        # A postponed entry with a campaign creates no campaign entry.
        e = self.created(postpone=True, contact_no="p1", interaction_template_code="tletter")
        self.assertEqual((e.postponed, e.campaign_no, e.campaign_entry_no), (True, "CP1", 0))
        self.assertEqual(self.campaign_entries(), [])
        self.assertEqual([x.postponed for x in self.writer_entries()], [True, True])

    def test_list_postponed_filters(self):
        self.seed()
        a = self.created(postpone=True, contact_no="p1", interaction_template_code="tcall",
                         date=20260610)
        b = self.created(postpone=True, contact_no="p2", interaction_template_code="tletter",
                         salesperson_code="sp1")
        self.created(contact_no="p1", interaction_template_code="tcall")  # finished
        d = self.created(postpone=True, contact_no="c1", interaction_template_code="tcall",
                         date=20260620)

        def listed(**flt):
            rep = self.ok(list_postponed=ia.ListPostponed(**flt))
            return [x.entry_no for x in rep.entries.entries]

        self.assertEqual(listed(), [a.entry_no, b.entry_no, d.entry_no])
        self.assertEqual(listed(contact_no="p1"), [a.entry_no])
        self.assertEqual(listed(salesperson_code="sp1"), [b.entry_no, d.entry_no])
        self.assertEqual(listed(interaction_template_code="tcall"), [a.entry_no, d.entry_no])
        self.assertEqual(listed(date_from=20260615), [b.entry_no, d.entry_no])
        self.assertEqual(listed(date_from=20260611, date_to=20260615), [b.entry_no])
        self.assertEqual(listed(limit=2)[:2], [a.entry_no, b.entry_no])
        self.assertEqual(listed(after=b.entry_no), [d.entry_no])
        self.assertStatus(self.ix(list_postponed=ia.ListPostponed(date_to=20261301)),
                          c.INVALID_ARGUMENT,
                          "20261301 is not a valid date: give YYYYMMDD between 17530101 and "
                          "99991231.", "list_postponed.date_to")

    def test_resume_finishes_the_same_entry(self):
        self.seed()
        p = self.created(postpone=True, contact_no="p1", interaction_template_code="tcall",
                         salesperson_code="spb", date=20260601, time_of_interaction=60,
                         comments=["a"])
        self.created(contact_no="p2", interaction_template_code="tcall", salesperson_code="sp1")
        # Finishing applies check 3: the blocked salesperson is refused.
        self.assertStatus(self.resume(p.entry_no), c.FAILED_PRECONDITION,
                          "Blocked must be equal to 'No' in Salesperson/Purchaser: Code=SPB. "
                          "Current value is 'Yes'.", "resume_interaction.fields.salesperson_code")
        self.assertStatus(self.resume(p.entry_no, salesperson_code="sp1",
                                      interaction_template_code="zz"),
                          c.NOT_FOUND, not_found("Interaction Template", "Code", "ZZ"),
                          "resume_interaction.fields.interaction_template_code")
        # Another template re-derives its fields; date and time reset to the
        # work date and now; comments given replace the old ones.
        e = self.resume(p.entry_no, salesperson_code="sp1", interaction_template_code="tletter",
                        comments=["x", "y"]).entry
        self.assertEqual((e.entry_no, e.postponed, e.contact_no, e.contact_company_no,
                          e.salesperson_code, e.interaction_template_code,
                          e.interaction_group_code, e.cost_cents, e.campaign_no,
                          e.description, e.subject, e.date, e.time_of_interaction),
                         (p.entry_no, False, "P1", "C1", "SP1", "TLETTER", "MEET", 120, "CP1",
                          "Campaign letter", "Campaign letter", TODAY_INT, NOW_ROUNDED))
        self.assertEqual([(x.line_no, x.comment) for x in e.comments], [(10000, "x"), (20000, "y")])
        self.assertNotEqual(e.campaign_entry_no, 0)  # finished with a campaign
        self.assertEqual(len(self.campaign_entries()), 1)
        stored = self.writer_entries()
        self.assertEqual(len(stored), 2)  # updated in place, no new entry
        self.assertEqual(stored[0], e)
        self.assertStatus(self.resume(p.entry_no, salesperson_code="sp1"), c.FAILED_PRECONDITION,
                          "Interaction Log Entry %d is not postponed." % p.entry_no,
                          "resume_interaction.entry_no")
        self.assertStatus(self.resume(424242), c.NOT_FOUND,
                          not_found("Interaction Log Entry", "Entry No.", "424242"))
        self.assertStatus(self.resume(0), c.INVALID_ARGUMENT,
                          "You must fill in the Entry No. field.", "resume_interaction.entry_no")

    def test_resume_postponed_again_and_given_date(self):
        self.seed()
        p = self.created(postpone=True, contact_no="p1", interaction_template_code="tcall",
                         comments=["x", "y"])
        # Resuming with postpone = true updates it and it stays postponed;
        # check 3 does not apply then.
        e = self.resume(p.entry_no, postpone=True, clear_comments=True, description="later",
                        salesperson_code="spb").entry
        self.assertEqual((e.entry_no, e.postponed, e.description, e.salesperson_code,
                          len(e.comments)), (p.entry_no, True, "later", "SPB", 0))
        # Comments are kept when none are given; a date given is kept.
        self.resume(p.entry_no, postpone=True, comments=["c"])
        e = self.resume(p.entry_no, salesperson_code="sp1", date=20260101,
                        time_of_interaction=7200).entry
        self.assertEqual((e.postponed, e.date, e.time_of_interaction, e.description,
                          [x.comment for x in e.comments]),
                         (False, 20260101, 7200, "later", ["c"]))
        self.assertEqual(e.campaign_entry_no, 0)
        self.assertEqual(len(self.ok(list_postponed=ia.ListPostponed()).entries.entries), 0)

    def test_delete_postponed(self):
        self.seed()
        p = self.created(postpone=True, contact_no="p1", interaction_template_code="tcall")
        f = self.created(contact_no="p1", interaction_template_code="tcall")
        q = self.created(postpone=True, contact_no="p2", interaction_template_code="tcall",
                         salesperson_code="sp1")
        rep = self.ix(delete_postponed=ia.DeletePostponedInteractions(
            entry_nos=[p.entry_no, f.entry_no]))
        self.assertStatus(rep, c.FAILED_PRECONDITION)
        self.assertIn(str(f.entry_no), rep.status.message)
        self.assertEqual(len(self.writer_entries()), 3)  # all or nothing
        self.assertStatus(self.ix(delete_postponed=ia.DeletePostponedInteractions()),
                          c.INVALID_ARGUMENT, "You must name at least one Entry No. to delete.",
                          "delete_postponed.entry_nos")
        self.assertEqual(self.ok(delete_postponed=ia.DeletePostponedInteractions(
            entry_nos=[p.entry_no, q.entry_no])).count.count, 2)
        self.assertEqual([x.entry_no for x in self.writer_entries()], [f.entry_no])


class StatisticsTest(InteractionTest):

    def test_statistics_exclude_canceled_and_postponed(self):
        self.seed()
        self.created(contact_no="p1", interaction_template_code="tcall")
        self.created(contact_no="p1", interaction_template_code="tcall", cost_cents=100,
                     duration_min=5, date=20260101)
        canceled = self.created(contact_no="p1", interaction_template_code="tcall")
        self.created(contact_no="p1", interaction_template_code="tletter")
        self.created(contact_no="p1", interaction_template_code="tcall", postpone=True)
        self.created(contact_no="p1", interaction_template_code="tletter", postpone=True)
        self.cl.ok("logwriter", lw.LogRequest(set_entries_canceled=lw.SetEntriesCanceled(
            entry_nos=[canceled.entry_no], canceled=True)))

        def rows(cmd, **kw):
            rep = self.ok(**{cmd: ia.GetInteractionStatistics(**kw)})
            return {r.code: (r.description, r.no_of_interactions, r.cost_cents, r.duration_min)
                    for r in rep.statistics.rows}

        self.assertEqual(rows("template_statistics"),
                         {"TCALL": ("Phone call", 2, 350, 20),
                          "TLETTER": ("Campaign letter", 1, 120, 30)})
        self.assertEqual(rows("group_statistics"),
                         {"CALL": ("Calls", 2, 350, 20), "MEET": ("Meetings", 1, 120, 30)})
        self.assertEqual(rows("template_statistics", date_from=20260102),
                         {"TCALL": ("Phone call", 1, 250, 15),
                          "TLETTER": ("Campaign letter", 1, 120, 30)})
        self.assertEqual(rows("group_statistics", date_from=20260101, date_to=20260101),
                         {"CALL": ("Calls", 1, 100, 5)})
        # Un-canceling counts the entry again; descriptions follow the catalog.
        self.cl.ok("logwriter", lw.LogRequest(set_entries_canceled=lw.SetEntriesCanceled(
            entry_nos=[canceled.entry_no], canceled=False)))
        self.ok(put_group=ia.InteractionGroup(code="call", description="Phone calls"))
        self.assertEqual(rows("group_statistics")["CALL"], ("Phone calls", 3, 600, 35))
        self.assertStatus(self.ix(group_statistics=ia.GetInteractionStatistics(
            date_from=20261301)), c.INVALID_ARGUMENT, field="group_statistics.date_from")


class IdempotencyTest(InteractionTest):
    """A repeat of a request_id returns the stored first reply, byte for
    byte, and changes nothing."""

    def req(self, rid, **cmd):
        return T(request_id=rid, user_id="u", **cmd)

    def test_create_twice_one_entry_identical_reply(self):
        self.seed()
        first = self.req(b"create-1", create_interaction=ia.CreateInteraction(
            fields=F(contact_no="p1", interaction_template_code="tcall", comments=["a"])))
        body1, rep1 = self.raw_call(first)
        self.assertStatus(rep1, c.OK)
        # Same request_id, other content: the first reply, nothing new.
        other = self.req(b"create-1", create_interaction=ia.CreateInteraction(
            fields=F(contact_no="c1", interaction_template_code="tletter")))
        body2, _ = self.raw_call(other)
        self.assertEqual(body1, body2)
        body3, _ = self.raw_call(first)
        self.assertEqual(body1, body3)
        self.assertEqual(len(self.writer_entries()), 1)
        # The writer's record of the first reply survives a restart of the
        # interaction worker (which keeps none of its own for creates).
        w = self.cl["interaction"]
        self.assertEqual(w.stop(), 0)
        self.cl.reset_sock("interaction")
        w.start()
        body4, _ = self.raw_call(first)
        self.assertEqual(body1, body4)
        self.assertEqual(len(self.writer_entries()), 1)
        self.assertEqual([e.type for e in self.cl.read_events()], ["interaction.logged"])

    def test_duplicates_in_flight_get_one_reply(self):
        self.seed()
        data = self.req(b"burst-1", create_interaction=ia.CreateInteraction(
            fields=F(contact_no="p1", interaction_template_code="tcall"))).SerializeToString()
        for _ in range(10):
            self.cl.send_raw("interaction", [data])
        bodies = {self.cl.recv_raw("interaction")[-1] for _ in range(10)}
        self.assertEqual(len(bodies), 1)
        self.assertEqual(len(self.writer_entries()), 1)

    def test_catalog_put_twice(self):
        put1 = self.req(b"put-1", put_group=ia.InteractionGroup(code="g9", description="one"))
        put2 = self.req(b"put-1", put_group=ia.InteractionGroup(code="g9", description="two"))
        body1, rep1 = self.raw_call(put1)
        self.assertStatus(rep1, c.OK)
        body2, _ = self.raw_call(put2)
        self.assertEqual(body1, body2)
        self.assertEqual(self.ok(get_group=ia.CodeRef(code="g9")).group.description, "one")
        # A refusal is not recorded: fixing the request and retrying works.
        bad = self.req(b"put-2", put_template=ia.InteractionTemplate(code="t"))
        _, rep = self.raw_call(bad)
        self.assertStatus(rep, c.INVALID_ARGUMENT)
        fixed = self.req(b"put-2", put_template=ia.InteractionTemplate(
            code="t", interaction_group_code="g9"))
        _, rep = self.raw_call(fixed)
        self.assertStatus(rep, c.OK)

    def test_resume_and_delete_postponed_twice(self):
        self.seed()
        p = self.created(postpone=True, contact_no="p1", interaction_template_code="tcall")
        q = self.created(postpone=True, contact_no="p1", interaction_template_code="tcall")
        resume = self.req(b"resume-1", resume_interaction=ia.ResumeInteraction(
            entry_no=p.entry_no, fields=F(comments=["done"])))
        body1, rep1 = self.raw_call(resume)
        self.assertStatus(rep1, c.OK)
        body2, _ = self.raw_call(resume)
        self.assertEqual(body1, body2)
        delete = self.req(b"delete-1", delete_postponed=ia.DeletePostponedInteractions(
            entry_nos=[q.entry_no]))
        body1, rep1 = self.raw_call(delete)
        self.assertEqual(rep1.count.count, 1)
        body2, _ = self.raw_call(delete)
        self.assertEqual(body1, body2)
        entries = self.writer_entries()
        self.assertEqual([(x.entry_no, x.postponed) for x in entries], [(p.entry_no, False)])
        self.assertEqual([x.comment for x in entries[0].comments], ["done"])


class WriterDownTest(InteractionTest):
    """The writer's link: UNAVAILABLE after the request timeout, then
    recovery; a late answer is dropped and a retry stays exactly-once."""
    ENV = {"RAPPORT_NOW": NOW, "RAPPORT_REQUEST_TIMEOUT_MS": "1500"}
    UNAVAILABLE = "rapport-logwriter did not answer within 1500 ms"

    def setUp(self):
        super().setUp()
        self.seed()

    def create_req(self, rid):
        return T(request_id=rid, user_id="u", create_interaction=ia.CreateInteraction(
            fields=F(contact_no="p1", interaction_template_code="tcall")))

    def timed(self, req):
        t0 = time.monotonic()
        rep = self.cl.call("interaction", req, timeout=30)
        return rep, time.monotonic() - t0

    def test_writer_down_then_back(self):
        writer = self.cl["logwriter"]
        writer.kill()
        rep, took = self.timed(self.create_req(b"down-1"))
        self.assertStatus(rep, c.UNAVAILABLE, self.UNAVAILABLE)
        self.assertGreaterEqual(took, 1.4)
        self.assertLess(took, 15)  # loose: a loaded machine may be slow
        # Reads answered by the writer fail the same way; the catalog serves.
        rep = self.ix(template_statistics=ia.GetInteractionStatistics())
        self.assertStatus(rep, c.UNAVAILABLE, self.UNAVAILABLE)
        self.assertServing()
        counters = self.counters()
        self.assertEqual(counters["rapport_logwriter_timeouts_total"], 2)
        self.assertGreaterEqual(counters["rapport_logwriter_resends_total"], 2)
        self.assertIn("rapport-logwriter did not answer", self.cl["interaction"].logtext())

        writer.start()
        # The retry of the failed request (as a client retries UNAVAILABLE,
        # until the link has reconnected) and a new one go through; the first
        # is written exactly once whether or not a queued copy of it reached
        # the writer on reconnect.
        rep = wait_for(lambda: self.not_unavailable(self.create_req(b"down-1")), 30,
                       "an answer other than UNAVAILABLE")
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.entry.entry_no, 1)
        e = self.cl.call("interaction", self.create_req(b"down-2")).entry
        self.assertEqual(e.entry_no, 2)
        self.assertEqual(len(self.writer_entries()), 2)

    def test_stalled_writer_late_reply_dropped_retry_exactly_once(self):
        writer = self.cl["logwriter"]
        writer.signal(signal.SIGSTOP)
        try:
            rep, _ = self.timed(self.create_req(b"stall-1"))
            self.assertStatus(rep, c.UNAVAILABLE, self.UNAVAILABLE)
        finally:
            writer.signal(signal.SIGCONT)
        # The writer now works through the queued request (and its resends):
        # their answers match nothing pending any more.
        wait_for(lambda: self.counters()["rapport_logwriter_unmatched_replies_total"], 20,
                 "a late reply")
        rep = self.cl.call("interaction", self.create_req(b"stall-1"))
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.entry.entry_no, 1)
        self.assertEqual(len(self.writer_entries()), 1)


class WriterRestartTest(InteractionTest):
    """A request lost with a writer that dies gets through by a resend."""
    ENV = {"RAPPORT_NOW": NOW, "RAPPORT_REQUEST_TIMEOUT_MS": "8000"}

    def test_resend_crosses_a_writer_restart(self):
        self.seed()
        writer = self.cl["logwriter"]
        writer.signal(signal.SIGSTOP)
        req = T(request_id=b"restart-1", user_id="u", create_interaction=ia.CreateInteraction(
            fields=F(contact_no="p1", interaction_template_code="tcall")))
        self.cl.send_raw("interaction", [req.SerializeToString()])
        # the worker has sent it on to the (stopped) writer
        wait_for(lambda: self.gauge("rapport_logwriter_pending") == 1, 10,
                 "the create pending at the writer")
        writer.kill()  # what it had received dies with it
        writer.start()
        body = self.cl.recv_raw("interaction", timeout=30)[-1]
        rep = ia.InteractionReply()
        rep.ParseFromString(body)
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.entry.entry_no, 1)
        self.assertGreaterEqual(self.counters()["rapport_logwriter_resends_total"], 1)
        self.assertEqual(len(self.writer_entries()), 1)


class BadInputTest(InteractionTest):
    """Every malformed or oversized request gets a clear error reply and the
    worker keeps serving."""

    def setUp(self):
        super().setUp()
        self.ok(put_group=ia.InteractionGroup(code="call", description="Calls"))

    def refused(self, data, code, message=None, field=None, rid=b""):
        _, rep = self.raw_call(data)
        self.assertStatus(rep, code, message, field)
        self.assertEqual(rep.request_id, rid)
        self.assertServing()
        return rep

    def test_truncated_and_garbage_frames(self):
        full = T(request_id=b"trunc-1", user_id="u", put_group=ia.InteractionGroup(
            code="g", description="a description long enough to cut")).SerializeToString()
        rep = self.refused(full[:-5], c.INVALID_ARGUMENT, rid=b"trunc-1")
        self.assertIn("malformed message", rep.status.message)
        self.refused(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", c.INVALID_ARGUMENT,
                     "malformed message: bad tag")
        self.refused(b"\x0a\x7fabc", c.INVALID_ARGUMENT, "malformed message: truncated")
        self.refused(b"\x0b", c.INVALID_ARGUMENT)  # wire type 3 (groups)
        self.assertStatus(self.ix(get_group=ia.CodeRef(code="g")), c.NOT_FOUND)
        # A string that is not UTF-8.
        data = bytearray(T(request_id=b"utf-1", put_group=ia.InteractionGroup(
            code="g", description="xx")).SerializeToString())
        data[-1] = 0xff
        self.refused(bytes(data), c.INVALID_ARGUMENT,
                     "description is not valid UTF-8 text (or contains NUL)",
                     "put_group.description", rid=b"utf-1")
        self.assertGreaterEqual(self.counters()["rapport_malformed_requests_total"], 5)

    def test_unknown_command(self):
        self.refused(b"", c.INVALID_ARGUMENT, "unknown command (field 0)", "command")
        # request_id, then field 200 (not in the contract) as a message.
        data = T(request_id=b"unk-1").SerializeToString() + b"\xc2\x0c\x00"
        self.refused(data, c.INVALID_ARGUMENT, "unknown command (field 0)", "command",
                     rid=b"unk-1")

    def test_enum_out_of_range(self):
        self.refused(T(request_id=b"enum-1", put_contact=ia.Contact(no="q", type=7)),
                     c.INVALID_ARGUMENT, "type: 7 is not a valid ContactType value",
                     "put_contact.type", rid=b"enum-1")
        self.refused(T(request_id=b"enum-2", create_interaction=ia.CreateInteraction(
            fields=F(contact_no="q", evaluation=6))), c.INVALID_ARGUMENT,
            "evaluation: 6 is not a valid Evaluation value",
            "create_interaction.fields.evaluation", rid=b"enum-2")
        self.refused(T(request_id=b"enum-3", create_interaction=ia.CreateInteraction(
            origin=-1)), c.INVALID_ARGUMENT, "origin: -1 is not a valid Origin value",
            "create_interaction.origin", rid=b"enum-3")
        self.assertStatus(self.ix(get_contact=ia.NoRef(no="q")), c.NOT_FOUND)

    def test_field_longer_than_its_size(self):
        self.refused(T(request_id=b"len-1", put_group=ia.InteractionGroup(code="ABCDEFGHIJK")),
                     c.INVALID_ARGUMENT,
                     "The length of code is 11, but it must be less than or equal to 10 "
                     "characters.", "put_group.code", rid=b"len-1")
        self.refused(T(request_id=b"len-2", create_interaction=ia.CreateInteraction(
            fields=F(contact_no="c", interaction_template_code="T" * 11))), c.INVALID_ARGUMENT,
            "The length of interaction_template_code is 11, but it must be less than or "
            "equal to 10 characters.", "create_interaction.fields.interaction_template_code",
            rid=b"len-2")
        self.refused(T(request_id=b"len-3", put_contact=ia.Contact(
            no="N" * 21, type=c.CONTACT_TYPE_COMPANY)), c.INVALID_ARGUMENT,
            "The length of no is 21, but it must be less than or equal to 20 characters.",
            "put_contact.no", rid=b"len-3")
        self.refused(T(request_id=b"r" * 65, get_group=ia.CodeRef(code="call")),
                     c.INVALID_ARGUMENT, "request_id is 65 bytes, at most 64 are allowed",
                     "request_id")
        # Exactly at the limit is fine; characters, not bytes, are counted.
        self.assertEqual(self.ok(put_group=ia.InteractionGroup(code="ABCDEFGHIJ")).group.code,
                         "ABCDEFGHIJ")
        self.ok(put_group=ia.InteractionGroup(code="g", description="\u00e9" * 100))
        self.assertStatus(self.ix(get_group=ia.CodeRef(code="ABCDEFGHIJK")), c.INVALID_ARGUMENT)

    def test_mutating_command_without_request_id(self):
        for cmd, name in ((dict(put_group=ia.InteractionGroup(code="g")), "put_group"),
                          (dict(create_interaction=ia.CreateInteraction(
                              fields=F(contact_no="c"))), "create_interaction"),
                          (dict(delete_group=ia.CodeRef(code="call")), "delete_group")):
            self.refused(T(user_id="u", **cmd), c.INVALID_ARGUMENT,
                         "request_id is required for %s (1 to 64 bytes)" % name, "request_id")
        # Reads need none.
        _, rep = self.raw_call(T(get_group=ia.CodeRef(code="call")))
        self.assertStatus(rep, c.OK)
        self.assertStatus(self.ix(get_group=ia.CodeRef(code="g")), c.NOT_FOUND)

    def test_message_over_max_msg_size(self):
        # request_id, then an unknown field carrying 4 MiB: over the limit.
        data = (T(request_id=b"big-1").SerializeToString() + b"\xc2\x0c" + varint(MAX_MSG) +
                b"\0" * MAX_MSG)
        self.assertGreater(len(data), MAX_MSG)
        self.refused(data, c.RESOURCE_EXHAUSTED,
                     "message of %d bytes is larger than the limit of %d bytes"
                     % (len(data), MAX_MSG), rid=b"big-1")
        # Beyond ZMQ_MAXMSGSIZE (4 x the limit) the connection is dropped
        # instead; other clients go on being served.
        big = self.cl.ctx.socket(zmq.DEALER)
        big.setsockopt(zmq.LINGER, 0)
        big.connect(self.cl.endpoint("interaction"))
        try:
            big.send(b"\0" * (4 * MAX_MSG + 1))
            self.assertEqual(big.poll(1000), 0)
        finally:
            big.close(0)
        self.assertServing()
        # A request just under the limit is served.
        contacts = [ia.Contact(no="b%05d" % i, type=c.CONTACT_TYPE_COMPANY, name="n" * 100)
                    for i in range(10000)]
        req = T(import_contacts=ia.ImportContacts(contacts=contacts))
        self.assertLess(req.ByteSize(), MAX_MSG)
        self.assertEqual(self.ok(import_contacts=req.import_contacts).count.count, 10000)


if __name__ == "__main__":
    unittest.main()
