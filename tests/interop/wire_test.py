#!/usr/bin/python3
"""The wire, documented by a client that uses nothing of rapport's: only
Debian's python3, python3-zmq and python3-protobuf, and Python code
generated here from proto/ with `protoc --python_out` (not the rapport
package, which tests/interop/interop_test.py uses for the same scenario).
One DEALER per worker, one protobuf request per message, the reply matched
by request_id, a resend of the same bytes as the retry. It starts the three
workers on temporary ipc endpoints and LMDB dirs, then over the wire:
creates an interaction and a postponed one, resumes it, builds and logs a
segment with a follow-up, and checks the events a subscriber receives:
interaction.logged, interaction.postponed, interaction.resumed and
segment.logged. Exits non-zero on any mismatch."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

SRC = os.environ.get("RAPPORT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("RAPPORT_BIN_DIR", os.path.join(SRC, "build", "bin"))

tmp = tempfile.mkdtemp(prefix="rapport-interop-")
gen = os.path.join(tmp, "py")
os.makedirs(gen)
protos = sorted(os.path.join(SRC, "proto", "rapport", "v1", p)
                for p in os.listdir(os.path.join(SRC, "proto", "rapport", "v1"))
                if p.endswith(".proto"))
subprocess.run(["protoc", "-I", os.path.join(SRC, "proto"), "--python_out=" + gen] + protos,
               check=True)
sys.path.insert(0, gen)

import zmq  # noqa: E402
from rapport.v1 import common_pb2, interaction_pb2, logwriter_pb2, segment_pb2  # noqa: E402

# The suite's waits (no protobuf in there): bounds scaled for the build.
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from waits import scaled, wait_subscribed  # noqa: E402

run_dir, state_dir = os.path.join(tmp, "run"), os.path.join(tmp, "state")
env = dict(os.environ, RAPPORT_CONFIG="/dev/null", RAPPORT_TODAY="2026-03-02", TZ="UTC")
procs = []
ctx = zmq.Context()
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def endpoint(name):
    return "ipc://%s/%s.sock" % (run_dir, name)


socks = {}


def call(worker, req, reply_type, timeout=20.0):
    if worker not in socks:
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint(worker))
        socks[worker] = s
    req.request_id = uuid.uuid4().hex.encode()
    req.user_id = "interop"
    data = req.SerializeToString()
    deadline = time.time() + scaled(timeout)
    socks[worker].send(data)
    while time.time() < deadline:
        if socks[worker].poll(200):
            rep = reply_type()
            rep.ParseFromString(socks[worker].recv())
            if rep.request_id == req.request_id:
                return rep
        elif time.time() + 1 < deadline:
            socks[worker].send(data)  # same request_id: a safe retry
    raise SystemExit("no reply from rapport-%s" % worker)


def ok(worker, req, reply_type):
    rep = call(worker, req, reply_type)
    if rep.status.code != common_pb2.OK:
        raise SystemExit("%s refused: %s" % (worker, rep.status.message))
    return rep


def I(**kw):
    return ok("interaction", interaction_pb2.InteractionRequest(**kw), interaction_pb2.InteractionReply)


def S(**kw):
    return ok("segment", segment_pb2.SegmentRequest(**kw), segment_pb2.SegmentReply)


try:
    for w in ("logwriter", "interaction", "segment"):
        log = open(os.path.join(tmp, w + ".log"), "wb")
        procs.append(subprocess.Popen([os.path.join(BIN, "rapport-" + w), "--run-dir", run_dir,
                                       "--state-dir", state_dir], stdout=log, stderr=log, env=env))
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")

    def subscriptions():
        st = ok("logwriter", logwriter_pb2.LogRequest(stats=common_pb2.GetStats()),
                logwriter_pb2.LogReply).stats
        return sum(g.value for g in st.gauges if g.name == "rapport_event_subscriptions")
    # call() resends until the workers are up; the subscription is in effect
    # once the writer counts it, so no event is missed (no slow joiner)
    wait_subscribed(lambda: sub.connect(endpoint("events")), subscriptions)

    I(put_group=interaction_pb2.InteractionGroup(code="calls", description="Calls"))
    I(put_salesperson=interaction_pb2.Salesperson(code="JO", name="Jo"))
    I(put_template=interaction_pb2.InteractionTemplate(
        code="call", description="Phone call", interaction_group_code="calls",
        unit_cost_cents=120, unit_duration_min=10,
        information_flow=common_pb2.INFORMATION_FLOW_OUTBOUND))
    I(import_contacts=interaction_pb2.ImportContacts(contacts=[
        interaction_pb2.Contact(no="K%02d" % i, name="Contact %d" % i,
                                type=common_pb2.CONTACT_TYPE_PERSON, salesperson_code="JO")
        for i in range(20)]))

    fields = interaction_pb2.InteractionFields(contact_no="K01", interaction_template_code="call")
    done = I(create_interaction=interaction_pb2.CreateInteraction(
        origin=interaction_pb2.ORIGIN_CONTACT, fields=fields)).entry
    check(done.entry_no == 1 and done.cost_cents == 120 and not done.postponed,
          "create: entry 1 with the template's cost")
    check(done.contact_no == "K01" and done.interaction_template_code == "CALL",
          "create: codes are upper-cased")
    check(done.description == "Phone call" and done.subject == "Phone call",
          "create: description and subject from the template")
    check(done.date == 20260302, "create: the work date")
    post = I(create_interaction=interaction_pb2.CreateInteraction(
        origin=interaction_pb2.ORIGIN_CONTACT, fields=fields, postpone=True)).entry
    check(post.postponed and post.entry_no == 2, "postpone: entry 2, postponed")
    resumed = I(resume_interaction=interaction_pb2.ResumeInteraction(
        entry_no=post.entry_no, fields=interaction_pb2.InteractionFields(
            description="Called back"))).entry
    check(resumed.entry_no == 2 and not resumed.postponed and
          resumed.description == "Called back", "resume: same entry, finished")

    S(set_numbering=segment_pb2.SegmentNumbering(prefix="IO", next=1, width=3))
    seg = S(create_segment=segment_pb2.CreateSegment(no="SPRING", fields=segment_pb2.SegmentFields(
        description="Spring calls", salesperson_code="JO",
        interaction_template_code="call"))).segment
    S(add_contacts=segment_pb2.AddContacts(segment_no=seg.no,
                                           contact_nos=["K%02d" % i for i in range(20)]))
    logged = call("segment", segment_pb2.SegmentRequest(log_segment=segment_pb2.LogSegment(
        segment_no=seg.no, create_follow_up=True)), segment_pb2.SegmentReply, timeout=60).logged
    check(logged.entry_count == 20 and logged.first_entry_no == 3 and logged.last_entry_no == 22,
          "log segment: 20 entries, 3..22")
    check(logged.follow_up_segment_no == "IO001", "log segment: follow-up IO001")

    want = ["interaction.logged", "interaction.postponed", "interaction.resumed", "segment.logged"]
    got = []
    deadline = time.time() + scaled(10)
    while len([t for t, _ in got if t != "segment.log.progress"]) < len(want) and \
            time.time() < deadline:
        if sub.poll(200):
            topic, body = sub.recv_multipart()
            ev = common_pb2.Event()
            ev.ParseFromString(body)
            got.append((topic.decode(), ev))
    durable = [(t, ev) for t, ev in got if t != "segment.log.progress"]
    check([t for t, _ in durable] == want, "events: %s" % [t for t, _ in durable])
    check([ev.seq for _, ev in durable] == [1, 2, 3, 4], "events: seq 1..4 without gaps")
    check(durable[-1][1].segment_logged.logged_segment_no == logged.logged_segment_no,
          "segment.logged carries the logged segment no.")
    check(durable[0][1].entry.entry_no == 1 and durable[0][1].user_id == "interop",
          "interaction.logged carries the entry and the user")
    replay = ok("logwriter", logwriter_pb2.LogRequest(read_events=logwriter_pb2.ReadEvents(
        from_seq=1)), logwriter_pb2.LogReply).events
    check([e.type for e in replay.events] == want, "ReadEvents replays the same events")
finally:
    for p in procs:
        p.terminate()
    codes = [p.wait(timeout=30) for p in procs]
    check(codes == [0, 0, 0], "workers exit 0 on SIGTERM")
    ctx.destroy(0)
    if failures:
        for w in ("logwriter", "interaction", "segment"):
            print("--- %s log" % w)
            print(open(os.path.join(tmp, w + ".log"), errors="replace").read()[-3000:])
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(1 if failures else 0)
