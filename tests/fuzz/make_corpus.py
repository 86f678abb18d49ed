#!/usr/bin/python3
"""Write the fuzzers' seed corpora and set-up scripts from real requests.

    RAPPORT_PY_PROTO=build/py tests/fuzz/make_corpus.py [tests/fuzz]

Every seed is a request as a client (the CLI, the segment worker, another
service) sends it, built with the Python code protoc generates from proto/,
plus a few hostile ones of each kind (huge repeated fields, deep nesting,
invalid UTF-8, NUL inside strings, out-of-range enums and dates, 2^64-1).

Outputs, under the given directory:
  setup/catalog.frames      requests the worker targets replay at start-up
                            (catalog, a few entries, segments), so that the
                            seeds find the records they name
  corpus/interaction/*      one InteractionRequest each
  corpus/segment/*          one SegmentRequest each
  corpus/logwriter/*        one LogRequest each
  corpus/logstream/*        a LogRequest sequence: frames of u16 LE length + bytes
  corpus/config/*           rapport.conf files
  corpus/csv/*              contact import CSV files
Existing files are overwritten, others are kept: inputs a fuzzer found
(regress_*) stay in the corpora. Frames of setup/catalog.frames: one byte worker (0 logwriter, 1 interaction,
2 segment), u32 LE length, the request."""
import hashlib
import os
import struct
import sys

sys.path.insert(0, os.environ.get("RAPPORT_PY_PROTO", "build/py"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import field, packed, varint  # noqa: E402
from rapport.v1 import common_pb2 as c  # noqa: E402
from rapport.v1 import interaction_pb2 as ia  # noqa: E402
from rapport.v1 import logwriter_pb2 as lw  # noqa: E402
from rapport.v1 import segment_pb2 as sg  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
TODAY = 20260615
T, F = ia.InteractionRequest, ia.InteractionFields
S, L = sg.SegmentRequest, lw.LogRequest
_rid = [0]


def rid(prefix="r"):
    _rid[0] += 1
    return ("%s%05d" % (prefix, _rid[0])).encode()


def req(cls, **cmd):
    return cls(request_id=rid(), user_id="fuzz", **cmd)


# ---- set-up: what the seeds refer to ----

def catalog():
    out = [
        (1, req(T, put_group=ia.InteractionGroup(code="G1", description="Letters"))),
        (1, req(T, put_group=ia.InteractionGroup(code="G2", description="Calls"))),
        (1, req(T, put_salesperson=ia.Salesperson(code="SP1", name="Sales", email="s@x.test"))),
        (1, req(T, put_salesperson=ia.Salesperson(code="SP2", name="Blocked", blocked=True))),
        (1, req(T, put_campaign=ia.Campaign(no="CP1", description="Spring"))),
        (1, req(T, put_campaign=ia.Campaign(no="CP2", description="Autumn"))),
        (1, req(T, put_template=ia.InteractionTemplate(
            code="T1", description="Letter", interaction_group_code="G1", unit_cost_cents=150,
            unit_duration_min=5, information_flow=c.INFORMATION_FLOW_OUTBOUND,
            initiated_by=c.INITIATED_BY_US, correspondence_type=c.CORRESPONDENCE_TYPE_HARD_COPY,
            language_code="EN", languages=[ia.TemplateLanguage(language_code="EN",
                                                                description="Letter"),
                                           ia.TemplateLanguage(language_code="DE",
                                                                description="Brief")]))),
        (1, req(T, put_template=ia.InteractionTemplate(
            code="T2", description="Call", interaction_group_code="G2", unit_cost_cents=0,
            unit_duration_min=10, campaign_no="CP1", campaign_target=True,
            correspondence_type=c.CORRESPONDENCE_TYPE_EMAIL, ignore_contact_corr_type=True))),
        (1, req(T, put_template=ia.InteractionTemplate(
            code="MAIL", description="Mailing", interaction_group_code="G1",
            unit_cost_cents=99))),
        (1, req(T, put_contact=ia.Contact(no="C1", name="Company", type=c.CONTACT_TYPE_COMPANY,
                                          salesperson_code="SP1", language_code="DE",
                                          email="c1@x.test"))),
        (1, req(T, put_contact=ia.Contact(no="P1", name="Person", type=c.CONTACT_TYPE_PERSON,
                                          company_no="C1", language_code="EN",
                                          correspondence_type=c.CORRESPONDENCE_TYPE_EMAIL))),
        (1, req(T, put_contact=ia.Contact(no="P2", name="Private", type=c.CONTACT_TYPE_PERSON,
                                          privacy_blocked=True))),
        (1, req(T, import_contacts=ia.ImportContacts(contacts=[
            ia.Contact(no="C%d" % i, name="Contact %d" % i, type=c.CONTACT_TYPE_PERSON,
                       company_no="C1" if i % 2 else "", salesperson_code="SP1")
            for i in range(2, 30)]))),
        (1, req(T, create_interaction=ia.CreateInteraction(fields=F(
            contact_no="P1", interaction_template_code="T1", salesperson_code="SP1",
            comments=["first", "second"])))),
        (1, req(T, create_interaction=ia.CreateInteraction(fields=F(
            contact_no="C2", interaction_template_code="T2", salesperson_code="SP1")))),
        (1, req(T, create_interaction=ia.CreateInteraction(postpone=True, fields=F(
            contact_no="C3", interaction_template_code="T1", description="later")))),
        (2, req(S, set_numbering=sg.SegmentNumbering(prefix="FU", next=1, width=4))),
        (2, req(S, create_segment=sg.CreateSegment(no="S1", fields=sg.SegmentFields(
            description="Mailing", salesperson_code="SP1", interaction_template_code="T1",
            campaign_no="CP1")))),
        (2, req(S, add_contacts=sg.AddContacts(segment_no="S1",
                                               contact_nos=["C1", "P1", "C4", "C5", "C6"]))),
        (2, req(S, create_segment=sg.CreateSegment(no="S2", fields=sg.SegmentFields(
            description="Calls", interaction_template_code="T2")))),
        (2, req(S, add_contacts=sg.AddContacts(segment_no="S2", company_no="C1"))),
        (2, req(S, create_segment=sg.CreateSegment(fields=sg.SegmentFields(
            description="Numbered", salesperson_code="SP1")))),
        (0, req(L, write_entry=lw.WriteEntry(entry=c.Entry(
            contact_no="C9", date=TODAY, description="direct", interaction_template_code="T1",
            interaction_group_code="G1", cost_cents=5, campaign_no="CP2")))),
        (0, req(L, write_entry=lw.WriteEntry(entry=c.Entry(
            contact_no="C9", date=TODAY, description="postponed", postponed=True,
            interaction_template_code="T1")))),
        (0, req(L, set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[1], canceled=True))),
    ]
    return out


# ---- single requests ----

def interaction_seeds():
    out = {
        "put_group": req(T, put_group=ia.InteractionGroup(code="g9", description="New")),
        "get_group": req(T, get_group=ia.CodeRef(code="G1")),
        "list_groups": req(T, list_groups=ia.ListCatalog(limit=2)),
        "delete_group": req(T, delete_group=ia.CodeRef(code="G2")),
        "put_template": req(T, put_template=ia.InteractionTemplate(
            code="T9", description="Visit", interaction_group_code="G1", unit_cost_cents=1,
            unit_duration_min=60, campaign_no="CP2", campaign_response=True,
            correspondence_type=c.CORRESPONDENCE_TYPE_NONE, language_code="FR",
            languages=[ia.TemplateLanguage(language_code="FR", description="Visite")])),
        "get_template": req(T, get_template=ia.CodeRef(code="T1")),
        "list_templates": req(T, list_templates=ia.ListCatalog(after="MAIL")),
        "delete_template": req(T, delete_template=ia.CodeRef(code="MAIL")),
        "put_template_language": req(T, put_template_language=ia.PutTemplateLanguage(
            template_code="T1", language_code="FR", description="Lettre")),
        "delete_template_language": req(T, delete_template_language=ia.DeleteTemplateLanguage(
            template_code="T1", language_code="DE")),
        "put_contact": req(T, put_contact=ia.Contact(
            no="P9", name="New person", type=c.CONTACT_TYPE_PERSON, company_no="C1",
            salesperson_code="SP1", language_code="DE", email="p9@x.test")),
        "get_contact": req(T, get_contact=ia.NoRef(no="P1")),
        "list_contacts": req(T, list_contacts=ia.ListCatalog(company_no="C1", limit=5)),
        "list_contacts_sp": req(T, list_contacts=ia.ListCatalog(salesperson_code="SP1")),
        "delete_contact": req(T, delete_contact=ia.NoRef(no="C29")),
        "import_contacts": req(T, import_contacts=ia.ImportContacts(contacts=[
            ia.Contact(no="I%d" % i, type=1 + i % 2, company_no="I0" if i else "")
            for i in range(8)])),
        "put_salesperson": req(T, put_salesperson=ia.Salesperson(code="SP9", name="x")),
        "get_salesperson": req(T, get_salesperson=ia.CodeRef(code="SP1")),
        "list_salespeople": req(T, list_salespeople=ia.ListCatalog()),
        "delete_salesperson": req(T, delete_salesperson=ia.CodeRef(code="SP2")),
        "put_campaign": req(T, put_campaign=ia.Campaign(no="CP9", description="x")),
        "get_campaign": req(T, get_campaign=ia.NoRef(no="CP1")),
        "list_campaigns": req(T, list_campaigns=ia.ListCatalog()),
        "delete_campaign": req(T, delete_campaign=ia.NoRef(no="CP2")),
        "lookup": req(T, lookup=ia.Lookup(contact_nos=["C1", "P1", "NOPE"], template_codes=["T1"],
                                          salesperson_codes=["SP1"], campaign_nos=["CP1"])),
        "create_contact": req(T, create_interaction=ia.CreateInteraction(fields=F(
            contact_no="P1", interaction_template_code="T1", salesperson_code="SP1",
            evaluation=c.EVALUATION_POSITIVE, cost_cents=250, duration_min=3, subject="Hello",
            comments=["one", "two", "three"], time_of_interaction=36000, date=20260601))),
        "create_campaign": req(T, create_interaction=ia.CreateInteraction(fields=F(
            contact_no="C4", interaction_template_code="T2", campaign_no="CP1",
            campaign_target=True, campaign_response=False, attempt_failed=True))),
        "create_salesperson": req(T, create_interaction=ia.CreateInteraction(
            origin=ia.ORIGIN_SALESPERSON, fields=F(salesperson_code="SP1", contact_no="C5",
                                                   interaction_template_code="T1"))),
        "create_from_entry": req(T, create_interaction=ia.CreateInteraction(
            origin=ia.ORIGIN_ENTRY, from_entry_no=1, fields=F(interaction_template_code="T2"))),
        "create_postponed": req(T, create_interaction=ia.CreateInteraction(postpone=True, fields=F(
            contact_no="C6", interaction_template_code="T1", language_code="DE",
            information_flow=c.INFORMATION_FLOW_INBOUND, initiated_by=c.INITIATED_BY_THEM,
            correspondence_type=c.CORRESPONDENCE_TYPE_EMAIL, opportunity_no="OP1",
            todo_no="TD1"))),
        "create_blocked": req(T, create_interaction=ia.CreateInteraction(fields=F(
            contact_no="P2", interaction_template_code="T1", salesperson_code="SP2"))),
        "create_missing": req(T, create_interaction=ia.CreateInteraction(fields=F())),
        "resume": req(T, resume_interaction=ia.ResumeInteraction(entry_no=3, fields=F(
            salesperson_code="SP1", subject="done"), clear_comments=True)),
        "resume_again_postponed": req(T, resume_interaction=ia.ResumeInteraction(
            entry_no=3, postpone=True, fields=F(comments=["still"]))),
        "list_postponed": req(T, list_postponed=ia.ListPostponed(
            contact_no="C3", date_from=20260101, date_to=20261231, limit=10)),
        "delete_postponed": req(T, delete_postponed=ia.DeletePostponedInteractions(
            entry_nos=[3, 4, 99])),
        "template_statistics": req(T, template_statistics=ia.GetInteractionStatistics(
            date_from=20260101, date_to=20261231)),
        "group_statistics": req(T, group_statistics=ia.GetInteractionStatistics()),
        "stats": req(T, stats=c.GetStats()),
        "no_request_id": T(put_group=ia.InteractionGroup(code="NRID")),
    }
    return out


def segment_seeds():
    SF, LF = sg.SegmentFields, sg.LineFields
    return {
        "set_numbering": req(S, set_numbering=sg.SegmentNumbering(prefix="SEG", next=7, width=5)),
        "get_numbering": req(S, get_numbering=sg.GetNumbering()),
        "create": req(S, create_segment=sg.CreateSegment(no="S9", fields=SF(
            description="New", salesperson_code="SP1", date=20260620, campaign_no="CP2",
            campaign_target=True, campaign_response=True, interaction_template_code="T1",
            language_code="DE", subject="Hi", correspondence_type=c.CORRESPONDENCE_TYPE_EMAIL,
            ignore_contact_corr_type=True, information_flow=c.INFORMATION_FLOW_INBOUND,
            initiated_by=c.INITIATED_BY_THEM, unit_cost_cents=12, unit_duration_min=4))),
        "create_numbered": req(S, create_segment=sg.CreateSegment()),
        "get": req(S, get_segment=sg.SegmentRef(segment_no="S1")),
        "list": req(S, list_segments=sg.ListSegments(limit=2)),
        "delete": req(S, delete_segment=sg.SegmentRef(segment_no="S2")),
        "update_template": req(S, update_segment=sg.UpdateSegment(
            segment_no="S1", fields=SF(interaction_template_code="T2"), update_lines=True)),
        "update_header": req(S, update_segment=sg.UpdateSegment(
            segment_no="S1", fields=SF(description="Changed", subject="Subj", unit_cost_cents=7,
                                       campaign_no=""), update_lines=False)),
        "update_push": req(S, update_segment=sg.UpdateSegment(
            segment_no="S2", fields=SF(salesperson_code="SP1", date=20260701,
                                       information_flow=c.INFORMATION_FLOW_OUTBOUND))),
        "add_list": req(S, add_contacts=sg.AddContacts(segment_no="S1",
                                                       contact_nos=["C7", "C8", "C1", "NOPE"])),
        "add_company": req(S, add_contacts=sg.AddContacts(segment_no="S1", company_no="C1")),
        "add_salesperson": req(S, add_contacts=sg.AddContacts(segment_no="S2",
                                                              salesperson_code="SP1")),
        "remove_lines": req(S, remove_lines=sg.RemoveLines(segment_no="S1",
                                                           line_nos=[10000, 20000, 77])),
        "list_lines": req(S, list_lines=sg.ListLines(segment_no="S1", after=10000, limit=3)),
        "update_line": req(S, update_line=sg.UpdateLine(segment_no="S1", line_no=20000, fields=LF(
            interaction_template_code="T2", description="Own", subject="x", language_code="EN",
            cost_cents=1, duration_min=2, evaluation=c.EVALUATION_NEGATIVE,
            salesperson_code="SP1", date=20260616, time_of_interaction=3600,
            information_flow=c.INFORMATION_FLOW_INBOUND, initiated_by=c.INITIATED_BY_US,
            correspondence_type=c.CORRESPONDENCE_TYPE_HARD_COPY))),
        "log": req(S, log_segment=sg.LogSegment(segment_no="S1")),
        "log_follow_up": req(S, log_segment=sg.LogSegment(segment_no="S1", create_follow_up=True)),
        "log_s2": req(S, log_segment=sg.LogSegment(segment_no="S2", create_follow_up=True)),
        "log_missing": req(S, log_segment=sg.LogSegment(segment_no="NOPE")),
        "stats": req(S, stats=c.GetStats()),
    }


def entry(i, **kw):
    d = dict(contact_no="C%d" % (2 + i % 20), contact_company_no="C1", date=TODAY,
             time_of_interaction=36000 + i % 1000, description="Mailing", subject="Mailing",
             interaction_template_code="T1", interaction_group_code="G1", cost_cents=150,
             duration_min=5, salesperson_code="SP1", segment_no="S7", user_id="fuzz",
             correspondence_type=c.CORRESPONDENCE_TYPE_HARD_COPY, campaign_no="CP1")
    d.update(kw)
    return c.Entry(**d)


def logwriter_seeds():
    EF = lw.EntryFilter
    return {
        "write_entry": req(L, write_entry=lw.WriteEntry(entry=entry(0, comments=[
            c.CommentLine(line_no=10000, date=TODAY, comment="hello")]))),
        "write_campaign": req(L, write_entry=lw.WriteEntry(entry=entry(1, segment_no=""))),
        "write_postponed": req(L, write_entry=lw.WriteEntry(entry=entry(2, postponed=True))),
        "resume": req(L, write_entry=lw.WriteEntry(resume=True, entry=entry(3, entry_no=2))),
        "get_entry": req(L, get_entry=lw.GetEntry(entry_no=1)),
        "list_entries": req(L, list_entries=lw.ListEntries(filter=EF(
            contact_no="C9", date_from=20260101, date_to=20261231,
            canceled=c.TRI_STATE_NO), limit=10)),
        "list_desc": req(L, list_entries=lw.ListEntries(descending=True, limit=1)),
        "list_all_filters": req(L, list_entries=lw.ListEntries(filter=EF(
            entry_no_from=1, entry_no_to=100, interaction_template_code="T1",
            interaction_group_code="G1", salesperson_code="SP1", campaign_no="CP1",
            segment_no="S1", logged_segment_entry_no=1, postponed=c.TRI_STATE_YES))),
        "cancel": req(L, set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[1, 2, 3],
                                                                    canceled=True)),
        "uncancel": req(L, set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[1])),
        "delete_canceled": req(L, delete_canceled_entries=lw.DeleteCanceledEntries(
            filter=EF(contact_no="C9"))),
        "delete_postponed": req(L, delete_postponed_entries=lw.DeletePostponedEntries(
            entry_nos=[2, 5])),
        "statistics": req(L, statistics=lw.GetEntryStatistics(
            group_by=lw.STATISTICS_GROUP_BY_GROUP, date_from=20260101)),
        "read_events": req(L, read_events=lw.ReadEvents(from_seq=1, max=5,
                                                        type_prefix="interaction.")),
        "log_begin": req(L, log_begin=lw.SegmentLogBegin(
            log_id=b"L1", segment_no="S7", description="Seven", creation_date=TODAY,
            line_count=3, campaign_nos=["CP1"], date=TODAY, salesperson_code="SP1",
            follow_up_segment_no="FU0009")),
        "log_batch": req(L, log_batch=lw.SegmentLogBatch(
            log_id=b"L1", index=0, packed_entries=packed([entry(i) for i in range(3)]))),
        "log_commit": req(L, log_commit=lw.SegmentLogCommit(log_id=b"L1", count=3)),
        "get_logged": req(L, get_logged_segment=lw.GetLoggedSegment(entry_no=1)),
        "list_logged": req(L, list_logged_segments=lw.ListLoggedSegments(segment_no="S7")),
        "cancel_logged": req(L, set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(
            entry_no=1, canceled=True)),
        "delete_logged": req(L, delete_canceled_logged_segments=lw.DeleteCanceledLoggedSegments()),
        "list_ce": req(L, list_campaign_entries=lw.ListCampaignEntries(campaign_no="CP2")),
        "cancel_ce": req(L, set_campaign_entry_canceled=lw.SetCampaignEntryCanceled(
            entry_no=1, canceled=True)),
        "delete_ce": req(L, delete_canceled_campaign_entries=lw.DeleteCanceledCampaignEntries()),
        "stats": req(L, stats=c.GetStats()),
    }


# ---- hostile variants of a request ----

def hostile(seeds, cmd_field):
    """Hand-made bytes around a valid request: the kinds of bad input the
    workers must answer (or drop) without crashing."""
    base = next(iter(seeds.values())).SerializeToString()
    rid_ = field(1, 2, b"hostile")
    deep = b""
    for _ in range(200):  # nested unknown length-delimited field
        deep = field(99, 2, deep)
    group = varint(99 << 3 | 3) * 100 + varint(99 << 3 | 4) * 100  # start/end groups
    return {
        "truncated": base[:len(base) // 2],
        "garbage": hashlib.sha256(b"garbage").digest() * 3,
        "empty": b"",
        "wrong_wire_type": rid_ + field(cmd_field, 0, varint(5)),
        "huge_varint": rid_ + field(cmd_field, 2, field(1, 0, b"\xff" * 9 + b"\x01")),
        "u64_max": rid_ + field(cmd_field, 2, field(1, 0, varint(2**64 - 1))),
        "deep_nesting": rid_ + field(cmd_field, 2, deep),
        "groups": rid_ + group,
        "invalid_utf8": rid_ + field(cmd_field, 2, field(1, 2, b"\xc3\x28\xff")),
        "nul_in_string": rid_ + field(cmd_field, 2, field(1, 2, b"AB\x00CD")),
        "enum_out_of_range": rid_ + field(cmd_field, 2, field(3, 0, varint(77))),
        "negative_enum": rid_ + field(cmd_field, 2, field(3, 0, varint(2**64 - 1))),
        "many_repeated": rid_ + field(cmd_field, 2, b"".join(field(2, 2, b"X") for _ in range(3000))),
        "long_request_id": field(1, 2, b"x" * 65) + field(cmd_field, 2, b""),
        "two_commands": rid_ + field(cmd_field, 2, b"") + field(cmd_field + 1, 2, b""),
        "unknown_command": rid_ + field(999, 2, b""),
        "bad_length": rid_ + varint(cmd_field << 3 | 2) + varint(2**40),
    }


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def frames16(msgs):
    return b"".join(struct.pack("<H", len(m)) + m for m in msgs)


def logstream_seeds():
    def lreq(**cmd):
        return L(request_id=rid("s"), user_id="seg", **cmd).SerializeToString()

    def begin(log_id, n, seg="S7", **kw):
        return lreq(log_begin=lw.SegmentLogBegin(
            log_id=log_id, segment_no=seg, description="Seg " + seg, creation_date=TODAY,
            line_count=n, campaign_nos=kw.pop("campaigns", ["CP1"]), date=TODAY,
            salesperson_code="SP1", **kw))

    def batch(log_id, index, n, **kw):
        return lreq(log_batch=lw.SegmentLogBatch(log_id=log_id, index=index, packed_entries=packed([
            entry(index + i, **kw) for i in range(n)])))

    def commit(log_id, n):
        return lreq(log_commit=lw.SegmentLogCommit(log_id=log_id, count=n))

    out = {
        "one": [begin(b"A", 1), batch(b"A", 0, 1), commit(b"A", 1)],
        "three_batches": [begin(b"B", 9, follow_up_segment_no="FU0001"), batch(b"B", 0, 4),
                          batch(b"B", 4, 4), batch(b"B", 8, 1), commit(b"B", 9)],
        "two_campaigns": [begin(b"C", 4, campaigns=["CP1", "CP2"]),
                          batch(b"C", 0, 2), batch(b"C", 2, 2, campaign_no="CP2"),
                          commit(b"C", 4)],
        "resend_batch": [begin(b"D", 4), batch(b"D", 0, 2), batch(b"D", 0, 2),
                         batch(b"D", 2, 2), commit(b"D", 4), commit(b"D", 4)],
        "begin_again": [begin(b"E", 2), batch(b"E", 0, 1), begin(b"E", 2), batch(b"E", 0, 2),
                        commit(b"E", 2), begin(b"E", 2)],
        "commit_early": [begin(b"F", 5), batch(b"F", 0, 2), commit(b"F", 5), commit(b"F", 2)],
        "gap": [begin(b"G", 4), batch(b"G", 2, 2), batch(b"G", 0, 2), commit(b"G", 4)],
        "no_begin": [batch(b"H", 0, 2), commit(b"H", 2)],
        "interleaved": [begin(b"I", 2, seg="S8"), begin(b"J", 2, seg="S9"), batch(b"J", 0, 2),
                        batch(b"I", 0, 2), commit(b"I", 2), commit(b"J", 2),
                        lreq(list_entries=lw.ListEntries(limit=10)),
                        lreq(read_events=lw.ReadEvents(from_seq=1))],
        "with_single": [begin(b"K", 2), lreq(write_entry=lw.WriteEntry(entry=entry(50))),
                        batch(b"K", 0, 2), commit(b"K", 2),
                        lreq(get_entry=lw.GetEntry(entry_no=3))],
        "cancel_after": [begin(b"M", 3), batch(b"M", 0, 3), commit(b"M", 3),
                         lreq(set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(
                             entry_no=1, canceled=True)),
                         lreq(delete_canceled_logged_segments=lw.DeleteCanceledLoggedSegments()),
                         lreq(set_campaign_entry_canceled=lw.SetCampaignEntryCanceled(
                             entry_no=1, canceled=True)),
                         lreq(delete_canceled_campaign_entries=lw.DeleteCanceledCampaignEntries()),
                         lreq(list_entries=lw.ListEntries())],
        "same_segment_twice": [begin(b"N", 1), batch(b"N", 0, 1), commit(b"N", 1),
                               begin(b"O", 1), batch(b"O", 0, 1), commit(b"O", 1)],
        "zero_lines": [begin(b"P", 0), commit(b"P", 0)],
        "huge_count": [begin(b"Q", 2**64 - 1), batch(b"Q", 2**64 - 2, 2),
                       commit(b"Q", 2**64 - 1)],
    }
    return {k: frames16(v) for k, v in out.items()}


def config_seeds():
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                       "rapport.conf.example")
    out = {}
    if os.path.exists(src):
        with open(src, "rb") as f:
            out["example"] = f.read()
    out.update({
        "minimal": b"state_dir = /var/lib/rapport\n",
        "all_types": (b"# comment\nrun_dir = /run/rapport\nlog_level = debug\n"
                      b"sndhwm = 1000\ngroup_commit = false\nsync_mode = nometasync\n"
                      b"map_size = 1048576\nrequest_timeout_ms=10\n"
                      b"logwriter_endpoint = tcp://127.0.0.1:5555\n"),
        "bad_lines": b"nokey\n= value\nunknown_key = 1\nsndhwm = -1\nsndhwm = 99999999999999999999\n",
        "quotes_spaces": b'  state_dir  =  "/tmp/with space"  \r\n\tlog_level=warning\r\n',
        "long_value": b"run_dir = " + b"x" * 2000 + b"\n",
        "nul": b"run_dir = a\x00b\nlog_level = info",
        "no_newline": b"batch_max = 512",
        "bools": b"group_commit = yes\ngroup_commit = 0\ngroup_commit = on\ngroup_commit = maybe\n",
    })
    return out


def csv_seeds():
    return {
        "simple": b"no,name,type,company_no,salesperson_code,language_code,correspondence_type,"
                  b"email\nC1,Company,company,,SP1,EN,email,c@x.test\n"
                  b"P1,Person,person,C1,SP1,DE,hard_copy,\n",
        "privacy": b"no,privacy_blocked\nP1,true\nP2,no\n",
        "quoted": b'no,name\r\n"C1","Name, with comma"\r\n"C2","multi\nline ""quoted"""\r\n',
        "bom": b"\xef\xbb\xbfno,name\nC1,x",
        "bad_quote": b'no,name\nC1,ab"c\n',
        "open_quote": b'no,name\nC1,"abc\n',
        "field_count": b"no,name\nC1\nC2,a,b\n",
        "unknown_column": b"no,colour\nC1,red\n",
        "duplicate_column": b"no,no\nC1,C1\n",
        "long_field": b"no,name\nC1," + b"n" * 200 + b"\n",
        "bad_enum": b"no,type,correspondence_type\nC1,robot,fax\n",
        "empty_lines": b"no\n\nC1\n\n\r\nC2",
        "cr_only": b"no,name\rC1,a\rC2,b\r",
        "utf8": "no,name\nC1,Zoë Ünïcødé 中文\n".encode(),
    }


def keys_seeds():
    """Authorized key files; several files of one directory are separated by a
    line "===" (fuzz_keys.c)."""
    a = b"rq:QmVbWl2ff>)xuINI0ow!2x+Rn[Wv3E0P.[A&9"
    b = b"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
    return {
        "one": b"# a client\npublic-key = " + a + b"\nrole = writer\nuser = alice\n",
        "bare": a + b"\n",
        "relay": b'public-key = "' + a + b'"\nrole = admin\nrelay = yes\n',
        "two_roles": b"public-key = " + a + b"\nrole = writer\nrole = admin\n",
        "two_keys": b"public-key = " + a + b"\n" + b + b"\nrole = reader\n",
        "dir": (b"public-key = " + a + b"\nrole = reader\n===\npublic-key = " + b +
                b"\nrole = admin\nuser = bob\n===\nnot a key\n"),
        "dir_twice": b"public-key = " + a + b"\nrole = reader\n===\n" + a + b"\nrole = admin\n",
        "bad_values": b"public-key = " + a + b"\nrole = root\nuser = has space\nrelay = maybe\n",
    }


def main():
    setup = b"".join(bytes([w]) + struct.pack("<I", len(m.SerializeToString()))
                     + m.SerializeToString() for w, m in catalog())
    write(os.path.join(OUT, "setup", "catalog.frames"), setup)
    corpus = os.path.join(OUT, "corpus")
    for name, seeds, fld in (("interaction", interaction_seeds(), 10),
                             ("segment", segment_seeds(), 12),
                             ("logwriter", logwriter_seeds(), 10)):
        d = os.path.join(corpus, name)
        for k, m in seeds.items():
            write(os.path.join(d, k + ".bin"), m.SerializeToString())
        for k, data in hostile(seeds, fld).items():
            write(os.path.join(d, "bad_" + k + ".bin"), data)
    for name, seeds in (("logstream", logstream_seeds()), ("config", config_seeds()),
                        ("csv", csv_seeds()), ("keys", keys_seeds())):
        d = os.path.join(corpus, name)
        for k, data in seeds.items():
            write(os.path.join(d, k + (".conf" if name == "config" else
                                       ".csv" if name == "csv" else ".bin")), data)


if __name__ == "__main__":
    main()
