#!/usr/bin/python3
"""Interop: a service written on the Python package `rapport` (python/),
as another service would use it. It starts the three workers on temporary
ipc endpoints and LMDB dirs (tests/integration/harness.py), then through a
rapport.Client: creates an interaction and a postponed one, resumes it,
builds and logs a segment with a follow-up; and through a
rapport.Subscriber checks the events: interaction.logged,
interaction.postponed, interaction.resumed and segment.logged, seq 1..4.
tests/interop/wire_test.py runs the same scenario on the raw wire.
Exits non-zero on any mismatch."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Cluster  # noqa: E402  (puts the built package on the path)
import rapport  # noqa: E402
from rapport import common, ia, sg  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


cl = Cluster(today="2026-03-02")
try:
    c = rapport.Client(run_dir=cl.run_dir, user_id="interop")
    sub = rapport.Subscriber(c, after_seq=None, idle_check=0.2)
    c.put_group(code="calls", description="Calls")
    c.put_salesperson(code="JO", name="Jo")
    c.put_template(code="call", description="Phone call", interaction_group_code="calls",
                   unit_cost_cents=120, unit_duration_min=10,
                   information_flow=common.INFORMATION_FLOW_OUTBOUND)
    c.import_contacts(contacts=[
        ia.Contact(no="K%02d" % i, name="Contact %d" % i, type=common.CONTACT_TYPE_PERSON,
                   salesperson_code="JO") for i in range(20)])

    fields = ia.InteractionFields(contact_no="K01", interaction_template_code="call")
    done = c.create_interaction(origin=ia.ORIGIN_CONTACT, fields=fields)
    check(done.entry_no == 1 and done.cost_cents == 120 and not done.postponed,
          "create: entry 1 with the template's cost")
    check(done.contact_no == "K01" and done.interaction_template_code == "CALL",
          "create: codes are upper-cased")
    check(done.description == "Phone call" and done.date == 20260302,
          "create: description from the template, the work date")
    post = c.create_interaction(origin=ia.ORIGIN_CONTACT, fields=fields, postpone=True)
    check(post.postponed and post.entry_no == 2, "postpone: entry 2, postponed")
    resumed = c.resume_interaction(entry_no=post.entry_no,
                                   fields=ia.InteractionFields(description="Called back"))
    check(resumed.entry_no == 2 and not resumed.postponed and
          resumed.description == "Called back", "resume: same entry, finished")
    try:
        c.resume_interaction(entry_no=99, fields=ia.InteractionFields(description="x"))
        check(False, "resume of a missing entry is refused")
    except rapport.NotFound as e:
        check(e.code == common.NOT_FOUND and e.message, "resume of a missing entry: NOT_FOUND")

    c.set_numbering(prefix="IO", next=1, width=3)
    seg = c.create_segment(no="SPRING", fields=sg.SegmentFields(
        description="Spring calls", salesperson_code="JO", interaction_template_code="call"))
    c.add_contacts(segment_no=seg.no, contact_nos=["K%02d" % i for i in range(20)])
    logged = c.log_segment(segment_no=seg.no, create_follow_up=True, timeout=60)
    check(logged.entry_count == 20 and logged.first_entry_no == 3 and logged.last_entry_no == 22,
          "log segment: 20 entries, 3..22")
    check(logged.follow_up_segment_no == "IO001", "log segment: follow-up IO001")

    want = ["interaction.logged", "interaction.postponed", "interaction.resumed", "segment.logged"]
    got = [sub.get(timeout=10) for _ in want]
    check([e and e.type for e in got] == want, "events: %s" % [e and e.type for e in got])
    if None not in got:
        check([e.seq for e in got] == [1, 2, 3, 4], "events: seq 1..4 without gaps")
        check(got[-1].segment_logged.logged_segment_no == logged.logged_segment_no,
              "segment.logged carries the logged segment no.")
        check(got[0].entry.entry_no == 1 and got[0].user_id == "interop",
              "interaction.logged carries the entry and the user")
    replay = c.read_events(from_seq=1)
    check([e.type for e in replay.events] == want, "ReadEvents replays the same events")
    sub.close()
    c.close()
finally:
    cl.close()

sys.exit(1 if failures else 0)
