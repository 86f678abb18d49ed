"""rapport-interaction under a few thousand mutated requests through its
real socket (well-formed ones with fields out of their bounds; truncated,
byte-flipped and spliced ones; random bytes): every one gets a decodable
reply, the worker stays up, and afterwards it still answers correctly and
stops cleanly. The mutations come from a fixed seed."""
import random
import time
import unittest
import uuid

from google.protobuf.descriptor import FieldDescriptor as FD

from harness import ClusterTest, c, ia, lw

T = ia.InteractionRequest
F = ia.InteractionFields
N_MESSAGES = 6000
WINDOW = 100  # requests in flight at most, well under every HWM


def base_requests(rnd):
    """Valid requests of every command family, in an order that works."""
    reqs = [
        T(put_group=ia.InteractionGroup(code="g", description="Group")),
        T(put_template=ia.InteractionTemplate(code="t", interaction_group_code="g",
                                              description="Call", unit_cost_cents=100,
                                              unit_duration_min=5)),
        T(put_contact=ia.Contact(no="c", name="Company", type=c.CONTACT_TYPE_COMPANY)),
        T(put_contact=ia.Contact(no="p", name="Person", type=c.CONTACT_TYPE_PERSON,
                                 company_no="c")),
        T(put_salesperson=ia.Salesperson(code="s", name="Sales")),
        T(put_campaign=ia.Campaign(no="cp", description="Campaign")),
        T(put_template_language=ia.PutTemplateLanguage(template_code="t", language_code="en")),
        T(delete_template_language=ia.DeleteTemplateLanguage(template_code="t",
                                                             language_code="en")),
        T(create_interaction=ia.CreateInteraction(fields=F(
            contact_no="p", interaction_template_code="t", salesperson_code="s",
            comments=["a", "b"], evaluation=c.EVALUATION_POSITIVE, cost_cents=5))),
        T(create_interaction=ia.CreateInteraction(postpone=True, fields=F(
            contact_no="c", interaction_template_code="t", salesperson_code="s"))),
        T(create_interaction=ia.CreateInteraction(origin=ia.ORIGIN_ENTRY, from_entry_no=1,
                                                  fields=F(interaction_template_code="t"))),
        T(resume_interaction=ia.ResumeInteraction(entry_no=2, postpone=True,
                                                  fields=F(subject="z"))),
        T(list_contacts=ia.ListCatalog(company_no="c", limit=3)),
        T(list_postponed=ia.ListPostponed(contact_no="c")),
        T(lookup=ia.Lookup(contact_nos=["c", "x"], template_codes=["t"])),
        T(template_statistics=ia.GetInteractionStatistics(date_from=20260101)),
        T(group_statistics=ia.GetInteractionStatistics()),
        T(get_template=ia.CodeRef(code="t")),
        T(import_contacts=ia.ImportContacts(contacts=[
            ia.Contact(no="q%d" % i, type=rnd.choice([1, 2]), company_no=rnd.choice(["", "c"]))
            for i in range(20)])),
    ]
    for r in reqs:
        r.request_id = uuid.UUID(int=rnd.getrandbits(128)).hex.encode()
        r.user_id = "fuzz"
    return reqs


def set_random_field(rnd, msg, depth=0):
    """Give one field somewhere in msg a random, often out-of-bounds value."""
    fields = [f for f in msg.DESCRIPTOR.fields if f.name not in ("request_id", "user_id")]
    f = rnd.choice(fields)
    if f.type == FD.TYPE_MESSAGE:
        if f.label == FD.LABEL_REPEATED:
            sub = getattr(msg, f.name).add()
        else:
            sub = getattr(msg, f.name)
        if depth < 3 and sub.DESCRIPTOR.fields:
            set_random_field(rnd, sub, depth + 1)
        else:
            sub.SetInParent()
        return
    if f.type == FD.TYPE_STRING:
        n = rnd.choice([0, 1, 5, 10, 11, 20, 21, 100, 101, 251])
        value = "".join(rnd.choice("aZ9-_ \u00e9\u4e2d") for _ in range(n))
    elif f.type == FD.TYPE_BYTES:
        value = bytes(rnd.getrandbits(8) for _ in range(rnd.choice([0, 1, 64, 65])))
    elif f.type == FD.TYPE_BOOL:
        value = rnd.random() < 0.5
    elif f.type == FD.TYPE_ENUM:
        value = rnd.randint(-2, 8)
    elif f.type in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_INT32):
        value = rnd.choice([-1, 0, 1, 2**31 - 1, -2**31, 20260615])
    else:  # unsigned
        value = rnd.choice([0, 1, 59, 86399, 86400, 20260231, 20261301, 2**32 - 1])
    if f.type in (FD.TYPE_UINT64, FD.TYPE_FIXED64) and rnd.random() < 0.3:
        value = 2**64 - 1
    if f.label == FD.LABEL_REPEATED:
        getattr(msg, f.name).append(value)
    else:
        setattr(msg, f.name, value)


def mutate(rnd, reqs, blobs):
    k = rnd.random()
    if k < 0.35:  # well-formed, with fields out of their bounds
        req = T()
        req.CopyFrom(rnd.choice(reqs))
        req.request_id = b"s%d" % rnd.getrandbits(48)
        cmd = getattr(req, req.WhichOneof("command"))
        for _ in range(rnd.randint(1, 3)):
            set_random_field(rnd, cmd)
        return req.SerializeToString()
    if k < 0.45:
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 80)))
    if rnd.random() < 0.5:
        data = bytearray(rnd.choice(blobs))  # a repeat of a request_id
    else:  # a new request_id, so that mutating commands really run
        req = T()
        req.CopyFrom(rnd.choice(reqs))
        req.request_id = b"f%d" % rnd.getrandbits(48)
        data = bytearray(req.SerializeToString())
    if k < 0.6 and data:
        return bytes(data[:rnd.randrange(len(data))])  # truncated
    for _ in range(rnd.randint(1, 4)):
        op = rnd.random()
        if not data:
            break
        at = rnd.randrange(len(data))
        if op < 0.6:
            data[at] = rnd.getrandbits(8)  # flip a byte
        elif op < 0.8:
            data[at:at] = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 8)))
        else:
            del data[at:at + rnd.randint(1, 8)]
    if rnd.random() < 0.3:
        data += rnd.choice(blobs)  # two messages spliced into one
    return bytes(data)


class BadInputFuzzTest(ClusterTest):
    WORKERS = ("logwriter", "interaction")

    def test_mutated_requests(self):
        rnd = random.Random(20260615)
        cl = self.cl
        reqs = base_requests(rnd)
        for r in reqs:
            self.assertIn(cl.call("interaction", r).status.code,
                          (c.OK, c.NOT_FOUND, c.FAILED_PRECONDITION))
        blobs = [r.SerializeToString() for r in reqs]
        sock = cl.sock("interaction")
        codes = {}
        t0 = time.monotonic()
        sent = 0
        while sent < N_MESSAGES:
            n = min(WINDOW, N_MESSAGES - sent)
            for _ in range(n):
                sock.send(mutate(rnd, reqs, blobs))
            sent += n
            for _ in range(n):  # one reply per request, each decodable
                self.assertTrue(sock.poll(20000), "no reply after %d requests:\n%s"
                                % (sent, cl["interaction"].logtext()[-2000:]))
                rep = ia.InteractionReply()
                rep.ParseFromString(sock.recv_multipart()[-1])
                if rep.status.code != c.OK:
                    self.assertTrue(rep.status.message)
                codes[rep.status.code] = codes.get(rep.status.code, 0) + 1
        took = time.monotonic() - t0
        self.assertTrue(cl["interaction"].alive())
        self.assertTrue(cl["logwriter"].alive())
        self.assertGreater(codes.get(c.INVALID_ARGUMENT, 0), N_MESSAGES // 4, codes)

        stats = cl.ok("interaction", T(stats=c.GetStats())).stats
        malformed = sum(x.value for x in stats.counters
                        if x.name == "rapport_malformed_requests_total")
        self.assertGreater(malformed, N_MESSAGES // 10)

        # Still correct afterwards: new records read back, a fresh create
        # is resolved from the template and numbered after what the writer
        # has, and a repeat of a request_id still returns the first reply.
        cl.ok("interaction", T(put_group=ia.InteractionGroup(code="after", description="x")))
        self.assertEqual(cl.ok("interaction", T(get_group=ia.CodeRef(code="after")))
                         .group.description, "x")
        cl.ok("interaction", T(put_template=ia.InteractionTemplate(
            code="t2", interaction_group_code="after", description="Visit",
            unit_cost_cents=777)))
        cl.ok("interaction", T(put_contact=ia.Contact(no="z", type=c.CONTACT_TYPE_COMPANY)))
        cl.ok("interaction", T(put_salesperson=ia.Salesperson(code="s2")))
        req = T(request_id=b"after-fuzz", create_interaction=ia.CreateInteraction(fields=F(
            contact_no="z", interaction_template_code="t2", salesperson_code="s2")))
        newest = cl.ok("logwriter", lw.LogRequest(list_entries=lw.ListEntries(
            limit=1, descending=True))).entries.entries
        first = cl.ok("interaction", req).entry
        self.assertEqual(first.entry_no, (newest[0].entry_no if newest else 0) + 1)
        self.assertEqual((first.interaction_group_code, first.cost_cents, first.description),
                         ("AFTER", 777, "Visit"))
        again = cl.ok("interaction", req).entry
        self.assertEqual(first, again)
        self.assertEqual(cl["interaction"].stop(), 0)
        log = cl["interaction"].logtext()
        self.assertNotIn("runtime error", log)
        self.assertNotIn("Sanitizer", log)
        print("\n%d mutated requests in %.1f s, replies by code: %s" % (
            N_MESSAGES, took, {c.StatusCode.Name(k): v for k, v in sorted(codes.items())}))


if __name__ == "__main__":
    unittest.main()
