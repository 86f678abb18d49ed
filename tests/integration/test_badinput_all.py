"""Bad input of every kind on every socket (docs/design.md "Security": no input
can crash a worker or corrupt the store). test_interaction_badinput.py
mutates requests at random and test_logwriter.py sends a few hand-made ones;
this test sends the whole catalogue of hostile inputs, built by hand for
each worker's request type, to the three ROUTERs, plus raw bytes and
mismatched ZMTP peers to every ipc socket including the events PUB:

  garbage, truncation at every length, wrong wire types, huge repeated
  fields, oversized messages (answered below the hard limit, a disconnect
  above it), groups nested deep, invalid UTF-8, NUL inside strings,
  out-of-range enums, dates and times, 2^64-1 numbers, bad request_ids,
  unknown and doubled commands, extra frames.

Each must get an error reply (a read may answer OK or NOT_FOUND) or a
disconnect, never a crash; afterwards every env dumps byte for byte as
before (mdb_dump -a), the event log has not moved, the workers still
serve and stop cleanly."""
import os
import random
import socket
import subprocess
import time
import unittest

from harness import TODAY_INT, ClusterTest, c, field, ia, lw, packed, sg, varint, zmq

REQ = {"logwriter": lw.LogRequest, "interaction": ia.InteractionRequest,
       "segment": sg.SegmentRequest}
REP = {"logwriter": lw.LogReply, "interaction": ia.InteractionReply,
       "segment": sg.SegmentReply}
U64 = 2**64 - 1


def valid_requests():
    """Well-formed mutating requests of each worker, to corrupt."""
    e = c.Entry(contact_no="C1", date=TODAY_INT, description="d", interaction_template_code="T1",
                interaction_group_code="G1", comments=[c.CommentLine(line_no=1, comment="x")])
    F = ia.InteractionFields
    return {
        "logwriter": [
            lw.LogRequest(write_entry=lw.WriteEntry(entry=e)),
            lw.LogRequest(set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[1, 2],
                                                                     canceled=True)),
            lw.LogRequest(log_begin=lw.SegmentLogBegin(
                log_id=b"L", segment_no="S1", description="d", creation_date=TODAY_INT,
                line_count=2, campaign_nos=["CP1"], date=TODAY_INT)),
            lw.LogRequest(log_batch=lw.SegmentLogBatch(log_id=b"L", index=0,
                                                       packed_entries=packed([e, e]))),
        ],
        "interaction": [
            ia.InteractionRequest(put_contact=ia.Contact(no="Z1", name="n",
                                                         type=c.CONTACT_TYPE_PERSON)),
            ia.InteractionRequest(put_template=ia.InteractionTemplate(
                code="TZ", description="d", interaction_group_code="G1",
                languages=[ia.TemplateLanguage(language_code="EN")])),
            ia.InteractionRequest(create_interaction=ia.CreateInteraction(fields=F(
                contact_no="C1", interaction_template_code="T1", salesperson_code="SP1",
                comments=["a"]))),
            ia.InteractionRequest(import_contacts=ia.ImportContacts(contacts=[
                ia.Contact(no="Z2", type=c.CONTACT_TYPE_COMPANY)])),
        ],
        "segment": [
            sg.SegmentRequest(create_segment=sg.CreateSegment(no="SZ", fields=sg.SegmentFields(
                description="d", salesperson_code="SP1"))),
            sg.SegmentRequest(add_contacts=sg.AddContacts(segment_no="S1",
                                                          contact_nos=["C1", "C2"])),
            sg.SegmentRequest(update_line=sg.UpdateLine(segment_no="S1", line_no=10000,
                                                        fields=sg.LineFields(cost_cents=5))),
            sg.SegmentRequest(log_segment=sg.LogSegment(segment_no="S1")),
        ],
    }


def hostile(worker, rnd):
    """(name, frames, must_fail) of every kind for one worker."""
    out = []
    rid = field(1, 2, b"bad")
    cmd_fields = [f.number for f in REQ[worker].DESCRIPTOR.oneofs_by_name["command"].fields]
    for i in range(30):
        out.append(("garbage%d" % i, [bytes(rnd.getrandbits(8)
                                            for _ in range(rnd.randint(1, 300)))], True))
    for k, req in enumerate(valid_requests()[worker]):
        req.request_id = b"trunc%d" % k
        data = req.SerializeToString()
        for n in range(1, len(data), 3):
            out.append(("truncated%d@%d" % (k, n), [data[:n]], False))
        # invalid UTF-8 / NUL into each string found in the encoding
        for bad in (b"\xc3\x28", b"\xff\xfe", b"a\x00b", b"\xed\xa0\x80"):
            s = data.replace(b"C1", bad) if b"C1" in data else data.replace(b"S1", bad)
            if s != data:
                out.append(("utf8-%d-%r" % (k, bad), [s.replace(b"trunc", b"utf8_")], True))
    for f in cmd_fields:
        out.append(("wiretype-varint-%d" % f, [rid + field(f, 0, varint(7))], True))
        out.append(("wiretype-fixed64-%d" % f, [rid + field(f, 1, b"\0" * 8)], True))
        out.append(("wiretype-fixed32-%d" % f, [rid + field(f, 5, b"\0" * 4)], True))
        out.append(("group-%d" % f, [rid + varint(f << 3 | 3) * 5000 + varint(f << 3 | 4) * 5000],
                    True))
        # the command's fields with a wrong type, and 2^64-1 everywhere
        # (commands without fields have nothing to get wrong: skipped, an
        # unknown field is ignored as proto3 says)
        if not REQ[worker].DESCRIPTOR.fields_by_number[f].message_type.fields:
            continue
        out.append(("inner-wiretype-%d" % f, [rid + field(f, 2, b"".join(
            field(n, 5, b"\0" * 4) for n in range(1, 16)))], True))
        out.append(("u64max-%d" % f, [rid + field(f, 2, b"".join(
            field(n, 0, varint(U64)) for n in range(1, 16)))], False))
        out.append(("negative-%d" % f, [rid + field(f, 2, b"".join(
            field(n, 0, varint(2**64 - 5)) for n in range(1, 16)))], False))
        out.append(("huge-varint-%d" % f, [rid + field(f, 2, field(1, 0, b"\xff" * 11))], True))
        out.append(("bad-length-%d" % f, [rid + varint(f << 3 | 2) + varint(2**62)], True))
    out.append(("request-id-65", [field(1, 2, b"x" * 65) + field(cmd_fields[0], 2, b"")], True))
    out.append(("request-id-varint", [field(1, 0, varint(5)) + field(cmd_fields[0], 2, b"")], True))
    out.append(("no-command", [rid], True))
    out.append(("unknown-command", [rid + field(999, 2, b"")], True))
    out.append(("empty", [b""], True))
    out.append(("two-frames", [b"junk", valid_requests()[worker][0].SerializeToString()], False))
    out.append(("user-id-utf8", [rid + field(2, 2, b"\xc0\xaf") + field(cmd_fields[0], 2, b"")],
                True))
    out.append(("user-id-long", [rid + field(2, 2, b"u" * 51) + field(cmd_fields[0], 2, b"")], True))
    # field-by-field semantic bombs through the generated classes
    if worker == "logwriter":
        e = dict(contact_no="C1", date=TODAY_INT, description="d",
                 interaction_template_code="T1")
        for k, v in [("date", 20261301), ("date", 99999999), ("date", 1),
                     ("time_of_interaction", 86400), ("time_of_interaction", 2**32 - 1),
                     ("information_flow", 7), ("evaluation", 6), ("correspondence_type", 3),
                     ("cost_cents", 2**63 - 1), ("cost_cents", -(2**63)),
                     ("contact_no", "X" * 21), ("description", "d" * 101)]:
            d = dict(e)
            d[k] = v
            out.append(("entry-%s-%s" % (k, v), [lw.LogRequest(
                request_id=b"sem", write_entry=lw.WriteEntry(entry=c.Entry(**d)))
                .SerializeToString()], True))
        out.append(("repeated-100001", [lw.LogRequest(
            request_id=b"rep", set_entries_canceled=lw.SetEntriesCanceled(
                entry_nos=[1] * 100001, canceled=True)).SerializeToString()], True))
        out.append(("log-begin-u64", [lw.LogRequest(request_id=b"lb", log_begin=lw.SegmentLogBegin(
            log_id=b"L" * 65, segment_no="S1", line_count=U64)).SerializeToString()], True))
        out.append(("log-batch-u64", [lw.LogRequest(request_id=b"lb2", log_batch=lw.SegmentLogBatch(
            log_id=b"NOPE", index=U64, packed_entries=packed([c.Entry(contact_no="C1")]))).SerializeToString()],
            True))
        out.append(("log-commit-u64", [lw.LogRequest(
            request_id=b"lc", log_commit=lw.SegmentLogCommit(log_id=b"NOPE", count=U64))
            .SerializeToString()], True))
        out.append(("events-u64", [lw.LogRequest(read_events=lw.ReadEvents(
            from_seq=U64, max=2**32 - 1)).SerializeToString()], False))
        out.append(("list-u64", [lw.LogRequest(list_entries=lw.ListEntries(
            after=U64, limit=2**32 - 1, filter=lw.EntryFilter(
                entry_no_from=U64, date_from=99999999, canceled=5))).SerializeToString()], False))
    elif worker == "interaction":
        F = ia.InteractionFields
        for k, v in [("date", 20260231), ("time_of_interaction", 86400), ("evaluation", 9),
                     ("cost_cents", -1), ("contact_no", "C" * 21),
                     ("comments", ["x" * 251])]:
            f = F(contact_no="C1", interaction_template_code="T1", salesperson_code="SP1")
            if isinstance(v, list):
                getattr(f, k).extend(v)
            else:
                setattr(f, k, v)
            out.append(("create-%s" % k, [ia.InteractionRequest(
                request_id=b"sem", create_interaction=ia.CreateInteraction(fields=f))
                .SerializeToString()], True))
        out.append(("create-origin", [ia.InteractionRequest(
            request_id=b"org", create_interaction=ia.CreateInteraction(
                origin=9, from_entry_no=U64)).SerializeToString()], True))
        out.append(("resume-u64", [ia.InteractionRequest(
            request_id=b"res", resume_interaction=ia.ResumeInteraction(entry_no=U64))
            .SerializeToString()], True))
        out.append(("import-100001", [ia.InteractionRequest(
            request_id=b"imp", import_contacts=ia.ImportContacts(contacts=[
                ia.Contact(no="I")] * 100001)).SerializeToString()], True))
        out.append(("contact-type", [ia.InteractionRequest(request_id=b"ct", put_contact=ia.Contact(
            no="Q", type=7)).SerializeToString()], True))
        out.append(("template-negative-cost", [ia.InteractionRequest(
            request_id=b"tc", put_template=ia.InteractionTemplate(
                code="TN", interaction_group_code="G1", unit_cost_cents=-5))
            .SerializeToString()], True))
    else:
        out.append(("add-100001", [sg.SegmentRequest(request_id=b"add", add_contacts=sg.AddContacts(
            segment_no="S1", contact_nos=["C1"] * 100001)).SerializeToString()], True))
        out.append(("create-date", [sg.SegmentRequest(
            request_id=b"cd", create_segment=sg.CreateSegment(no="SD", fields=sg.SegmentFields(
                date=20261301, information_flow=5))).SerializeToString()], True))
        out.append(("line-u64", [sg.SegmentRequest(request_id=b"lu", update_line=sg.UpdateLine(
            segment_no="S1", line_no=U64, fields=sg.LineFields(time_of_interaction=86400)))
            .SerializeToString()], True))
        out.append(("numbering-u64", [sg.SegmentRequest(
            request_id=b"nu", set_numbering=sg.SegmentNumbering(
                prefix="P" * 21, next=U64, width=2**32 - 1)).SerializeToString()], True))
        out.append(("remove-u64", [sg.SegmentRequest(request_id=b"rm", remove_lines=sg.RemoveLines(
            segment_no="NOPE", line_nos=[U64, 0])).SerializeToString()], True))
        out.append(("list-lines-u64", [sg.SegmentRequest(list_lines=sg.ListLines(
            segment_no="S1", after=U64, limit=2**32 - 1)).SerializeToString()], False))
    out.append(("oversize-5MiB", [rid + field(cmd_fields[0], 2, b"\0" * (5 << 20))], True))
    return out


class BadInputEverySocketTest(ClusterTest):
    def setUp(self):
        super().setUp()
        ix = lambda **cmd: self.cl.ok("interaction", ia.InteractionRequest(**cmd))
        ix(put_group=ia.InteractionGroup(code="G1"))
        ix(put_salesperson=ia.Salesperson(code="SP1"))
        ix(put_campaign=ia.Campaign(no="CP1"))
        ix(put_template=ia.InteractionTemplate(code="T1", description="Call",
                                               interaction_group_code="G1"))
        ix(import_contacts=ia.ImportContacts(contacts=[
            ia.Contact(no="C%d" % i, type=c.CONTACT_TYPE_PERSON, salesperson_code="SP1")
            for i in range(1, 4)]))
        ix(create_interaction=ia.CreateInteraction(fields=ia.InteractionFields(
            contact_no="C1", interaction_template_code="T1", salesperson_code="SP1")))
        self.cl.ok("segment", sg.SegmentRequest(create_segment=sg.CreateSegment(
            no="S1", fields=sg.SegmentFields(description="d", salesperson_code="SP1",
                                             interaction_template_code="T1"))))
        self.cl.ok("segment", sg.SegmentRequest(add_contacts=sg.AddContacts(
            segment_no="S1", contact_nos=["C1", "C2"])))

    def dumps(self):
        out = {}
        for w in ("logwriter", "interaction", "segment"):
            r = subprocess.run(["mdb_dump", "-a", os.path.join(self.cl.state_dir, w)],
                               capture_output=True, check=True)
            out[w] = r.stdout
        return out

    def last_seq(self):
        return self.cl.ok("logwriter", lw.LogRequest(read_events=lw.ReadEvents(
            from_seq=1, max=1))).events.last_seq

    def test_every_kind_on_every_socket(self):
        rnd = random.Random(615)
        before, seq = self.dumps(), self.last_seq()
        counts = {}
        for worker in ("logwriter", "interaction", "segment"):
            for name, frames, must_fail in hostile(worker, rnd):
                self.cl.send_raw(worker, frames)
                self.assertTrue(self.cl.sock(worker).poll(20000),
                                "%s: no reply to %s" % (worker, name))
                rep = REP[worker]()
                rep.ParseFromString(self.cl.sock(worker).recv_multipart()[-1])
                code = rep.status.code
                counts[c.StatusCode.Name(code)] = counts.get(c.StatusCode.Name(code), 0) + 1
                if must_fail:
                    self.assertNotEqual(code, c.OK, "%s: %s was accepted" % (worker, name))
                self.assertNotIn(code, (c.INTERNAL, c.UNAVAILABLE, c.DATA_LOSS, c.UNKNOWN),
                                 "%s: %s -> %s %s" % (worker, name, c.StatusCode.Name(code),
                                                      rep.status.message))
                if code != c.OK:
                    self.assertTrue(rep.status.message, name)
            # above the hard limit (4 x max_msg_size) libzmq drops the
            # connection: no reply, and a new connection is served
            self.cl.send_raw(worker, [b"\0" * (17 << 20)])
            self.assertFalse(self.cl.sock(worker).poll(1500), "%s: replied to 17 MiB" % worker)
            self.cl.reset_sock(worker)
            self.assertTrue(self.cl[worker].alive(), worker)
        self.raw_sockets()
        for w in ("logwriter", "interaction", "segment"):
            self.assertTrue(self.cl[w].alive(), w)
        self.assertEqual(self.last_seq(), seq, "bad input published events")
        after = self.dumps()
        for w in before:
            self.assertEqual(before[w], after[w], "bad input changed the %s store" % w)
        # still serving, correctly
        self.cl.ok("segment", sg.SegmentRequest(log_segment=sg.LogSegment(segment_no="S1")))
        self.assertEqual(self.last_seq(), seq + 1)
        for w in ("segment", "interaction", "logwriter"):
            self.assertEqual(self.cl[w].stop(), 0, w)
        print("\nreplies by code: %s" % counts)

    def raw_sockets(self):
        """Non-ZMTP bytes, a cut greeting, and mismatched ZMTP peers on
        every ipc socket, the events PUB included."""
        for name in ("logwriter", "interaction", "segment", "events"):
            path = os.path.join(self.cl.run_dir, name + ".sock")
            for payload in (b"GET / HTTP/1.0\r\n\r\n", b"\xff" + b"\0" * 8 + b"\x7f",
                            b"\xff\0\0\0\0\0\0\0\x01\x7f\x03\x00NULL" + b"\0" * 16 +
                            b"\x04\xff\xff\xff\xff\xff\xff\xff\xff",
                            os.urandom(100000)):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(2)
                s.connect(path)
                try:
                    s.sendall(payload)
                    s.recv(4096)
                except OSError:
                    pass
                s.close()
            # a socket type the peer does not pair with
            bad = self.cl.ctx.socket(zmq.DEALER if name == "events" else zmq.PUB)
            bad.setsockopt(zmq.LINGER, 0)
            bad.connect("ipc://" + path)
            time.sleep(0.1)
            for _ in range(10):
                try:
                    bad.send(b"\xff" * 1000, zmq.NOBLOCK)
                except zmq.Again:
                    pass
            bad.close(0)
        # a subscriber with odd subscriptions
        sub = self.cl.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        for prefix in (b"\x00", b"\xff" * 65536, b"segment.logged\x00"):
            sub.setsockopt(zmq.SUBSCRIBE, prefix)
        sub.connect(self.cl.endpoint("events"))
        time.sleep(0.2)
        sub.close(0)


if __name__ == "__main__":
    unittest.main()
