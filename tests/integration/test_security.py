"""Security over tcp (docs/design.md, Security): the three workers on tcp endpoints on
127.0.0.1 behind CURVE and their ZAP handlers, with keys made by `rapport keygen`.

- a client without CURVE and a client whose key is not authorized get no answer at
  all (the handshake fails; the test sees a timeout);
- a reader cannot create or log, a writer cannot cancel or delete: PERMISSION_DENIED,
  and the store is unchanged (entries, postponed entries, logged segments, events);
- an admin can;
- the user id recorded is the key's, whatever the request says, also through the
  workers' own CURVE links (segment -> interaction / logwriter, interaction ->
  logwriter), whose relay keys pass on their caller's authenticated user id;
- the event stream (PUB) takes authorized subscribers only;
- the `rapport` command works over tcp with its keys, reports a refused key, and
  a worker without its keys refuses to start.

The logwriter gets its secret key the systemd way ($CREDENTIALS_DIRECTORY/curve.key),
the other workers through curve_secret_key_file."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest
import uuid

import zmq

from harness import (BIN_DIR, REPLY, TIME_SCALE, TODAY_INT, Cluster, Unavailable, c,
                     free_port, ia, lw, metric, packed, recv_events, sg, wait_subscribed)

REQUEST_OF = {"interaction": ia.InteractionRequest, "segment": sg.SegmentRequest,
              "logwriter": lw.LogRequest}

RAPPORT = os.path.join(BIN_DIR, "rapport")
WORKERS = ("logwriter", "interaction", "segment")
F = ia.InteractionFields
REFUSED_WAIT = 1.5  # seconds a refused client waits for the answer that never comes


def clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RAPPORT_") and k != "CREDENTIALS_DIRECTORY"}
    env.update({"RAPPORT_CONFIG": "/dev/null", "TZ": "UTC", "USER": "tester"})
    return env


def keygen(directory, name, *args):
    """`rapport keygen`; returns the public key it prints."""
    p = subprocess.run([RAPPORT, "keygen", name, "--dir", directory] + list(args),
                       capture_output=True, env=clean_env(), timeout=30)
    if p.returncode != 0:
        raise AssertionError("keygen %s: %s" % (name, p.stderr.decode()))
    return p.stdout.decode().strip()


def read_keys(path):
    """{'public-key': ..., 'secret-key': ...} of a key file."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, _, v = line.partition("=")
                out[k.strip()] = v.strip()
    return out


class SecureCluster(Cluster):
    """A Cluster whose workers serve tcp endpoints with CURVE. Keys (all made with
    `rapport keygen`) live in <dir>/keys/secrets; <dir>/keys/servers holds the
    workers' public keys (curve_server_key_dir) and <dir>/keys/clients the
    authorized ones (curve_client_keys_dir): the workers as relay admins, and
    one key per role, whose user id is "<role>-key"."""

    ROLES = ("reader", "writer", "admin")

    def __init__(self, workers=WORKERS, start=True,
                 tcp=("interaction", "segment", "logwriter", "events")):
        super().__init__(workers, start=False)
        self.eps = {name: "tcp://127.0.0.1:%d" % free_port() for name in tcp}
        keys = os.path.join(self.dir, "keys")
        self.secrets = os.path.join(keys, "secrets")
        self.servers = os.path.join(keys, "servers")
        self.clients = os.path.join(keys, "clients")
        for d in (self.secrets, self.servers, self.clients):
            os.makedirs(d)
        self.public = {}
        for w in WORKERS:
            self.public[w] = keygen(self.secrets, w, "--role", "admin", "--user", "svc-" + w,
                                    "--relay")
            pub = os.path.join(self.secrets, w + ".pub")
            shutil.copy(pub, os.path.join(self.servers, w + ".pub"))
            shutil.copy(pub, os.path.join(self.clients, w + ".pub"))
        for role in self.ROLES:
            keygen(self.secrets, role, "--role", role, "--user", role + "-key")
            shutil.copy(os.path.join(self.secrets, role + ".pub"), self.clients)
        keygen(self.secrets, "outsider")  # never authorized
        self.conf = os.path.join(self.dir, "rapport.conf")
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        self.env["RAPPORT_CONFIG"] = self.conf
        for w in workers:
            if w == "logwriter":
                creds = os.path.join(self.dir, "credentials", w)
                os.makedirs(creds)
                shutil.copy(os.path.join(self.secrets, w + ".key"),
                            os.path.join(creds, "curve.key"))
                os.chmod(os.path.join(creds, "curve.key"), 0o400)
                self.workers[w].env["CREDENTIALS_DIRECTORY"] = creds
            else:
                self.workers[w].env["RAPPORT_CURVE_SECRET_KEY_FILE"] = os.path.join(
                    self.secrets, w + ".key")
        if start:
            for w in workers:
                self.workers[w].start()

    def config_text(self, **extra):
        lines = ["%s_endpoint = %s" % (name, ep) for name, ep in self.eps.items()]
        lines += ["curve_server_key_dir = " + self.servers,
                  "curve_client_keys_dir = " + self.clients]
        lines += ["%s = %s" % kv for kv in extra.items()]
        return "\n".join(lines) + "\n"

    def endpoint(self, name):
        return self.eps.get(name) or super().endpoint(name)

    def curve_socket(self, kind, name, who, server=None, connect=True):
        """A CURVE socket with key `who` (a key name in secrets, or a (public, secret)
        pair) for worker endpoint `name`, connected unless `connect` is false."""
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        if isinstance(who, tuple):
            public, secret = who
        else:
            k = read_keys(os.path.join(self.secrets, who + ".key"))
            public, secret = k["public-key"], k["secret-key"]
        s.curve_publickey = public.encode()
        s.curve_secretkey = secret.encode()
        server = server or ("logwriter" if name == "events" else name)
        s.curve_serverkey = self.public[server].encode()
        if connect:
            s.connect(self.eps[name])
        return s

    def sock(self, name):
        """The harness's default client: the admin key (no key over ipc)."""
        if name not in self.eps:
            return super().sock(name)
        if name not in self.socks:
            self.socks[name] = self.curve_socket(zmq.DEALER, name, "admin")
        return self.socks[name]

    def as_(self, who):
        return KeyClient(self, who)

    def subscribe(self, prefix=b"", who="admin", admitted=True):
        """A SUB with `who`'s key; when `admitted`, returned once the writer
        has taken its subscription."""
        if "events" not in self.eps:
            return super().subscribe(prefix)
        s = self.curve_socket(zmq.SUB, "events", who, connect=False)
        s.setsockopt(zmq.SUBSCRIBE, prefix)
        self.subs.append(s)
        connect = lambda: s.connect(self.eps["events"])  # noqa: E731
        if admitted:
            wait_subscribed(connect, self.event_subscriptions)
        else:
            connect()
        return s


class KeyClient:
    """Calls a worker with one key (one DEALER per worker)."""

    def __init__(self, cluster, who):
        self.cl, self.who, self.socks = cluster, who, {}

    def sock(self, name):
        if name not in self.socks:
            if self.who is None:
                s = self.cl.ctx.socket(zmq.DEALER)  # no CURVE at all
                s.setsockopt(zmq.LINGER, 0)
                s.connect(self.cl.eps[name])
            else:
                s = self.cl.curve_socket(zmq.DEALER, name, self.who)
            self.socks[name] = s
            self.cl.subs.append(s)  # closed with the cluster
        return self.socks[name]

    def call(self, name, req, timeout=10.0, user="request-user"):
        if not req.request_id:
            req.request_id = uuid.uuid4().hex.encode()
        if not req.user_id:
            req.user_id = user
        s = self.sock(name)
        s.send(req.SerializeToString())
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not s.poll(int(left * 1000)):
                raise Unavailable("%s: no reply within %.1f s" % (name, timeout))
            rep = REPLY[name]()
            rep.ParseFromString(s.recv_multipart()[-1])
            if rep.request_id == req.request_id:
                return rep


class SecureTestCase(unittest.TestCase):
    """A SecureCluster per test, seeded, with the helpers the tests share."""

    def setUp(self):
        self.cl = SecureCluster()
        try:
            self.seed()
        except BaseException:
            self.cl.close()
            raise

    def tearDown(self):
        try:
            # The ZAP handler thread must not keep a worker from stopping cleanly.
            for name, w in self.cl.workers.items():
                self.assertEqual(w.stop(), 0, "%s:\n%s" % (name, w.logtext()[-2000:]))
        finally:
            self.cl.close()

    # ---- helpers ----

    def assertStatus(self, rep, code, message=None):
        self.assertEqual(c.StatusCode.Name(rep.status.code), c.StatusCode.Name(code),
                         rep.status.message)
        if message is not None:
            self.assertEqual(rep.status.message, message)

    def assertDenied(self, rep, command, role):
        self.assertStatus(rep, c.PERMISSION_DENIED, "%s needs the %s role" % (command, role))
        self.assertEqual(rep.status.field, "command")

    def assertInternal(self, rep, command):
        self.assertStatus(rep, c.PERMISSION_DENIED,
                          "%s is internal to rapport: only its workers' keys (relay = yes) may "
                          "send it" % command)
        self.assertEqual(rep.status.field, "command")

    def ix(self, **cmd):
        return self.cl.ok("interaction", ia.InteractionRequest(**cmd))

    def seed(self):
        """As admin: a tiny catalog and the segment numbering."""
        self.ix(put_group=ia.InteractionGroup(code="G1", description="Calls"))
        self.ix(put_salesperson=ia.Salesperson(code="SP1", name="Ann"))
        self.ix(put_template=ia.InteractionTemplate(
            code="CALL", description="Phone call", interaction_group_code="G1",
            unit_cost_cents=100, unit_duration_min=5,
            information_flow=c.INFORMATION_FLOW_OUTBOUND, initiated_by=c.INITIATED_BY_US))
        for no in ("P1", "P2", "P3"):
            self.ix(put_contact=ia.Contact(no=no, name="Name " + no, type=c.CONTACT_TYPE_PERSON,
                                           salesperson_code="SP1"))
        self.cl.ok("segment", sg.SegmentRequest(set_numbering=sg.SegmentNumbering(
            prefix="SEG", next=1, width=3)))

    def create(self, who, postpone=False, contact="P1", user="request-user"):
        return self.cl.as_(who).call("interaction", ia.InteractionRequest(
            create_interaction=ia.CreateInteraction(
                origin=ia.ORIGIN_CONTACT, postpone=postpone,
                fields=F(contact_no=contact, interaction_template_code="CALL",
                         description="call"))), user=user)

    def logged_segment(self, who, contacts=("P1", "P2"), user="request-user"):
        """Create a segment with contacts as `who` and return its No."""
        k = self.cl.as_(who)
        rep = k.call("segment", sg.SegmentRequest(create_segment=sg.CreateSegment(
            fields=sg.SegmentFields(description="mailing", interaction_template_code="CALL"))),
            user=user)
        self.assertStatus(rep, c.OK)
        no = rep.segment.no
        rep = k.call("segment", sg.SegmentRequest(add_contacts=sg.AddContacts(
            segment_no=no, contact_nos=list(contacts))), user=user)
        self.assertStatus(rep, c.OK)
        return no

    def snapshot(self):
        """Everything a refused request could have touched, as admin reads it."""
        entries = self.cl.ok("logwriter", lw.LogRequest(list_entries=lw.ListEntries(
            limit=1000))).entries.SerializeToString()
        postponed = self.cl.ok("interaction", ia.InteractionRequest(
            list_postponed=ia.ListPostponed())).entries.SerializeToString()
        logged = self.cl.ok("logwriter", lw.LogRequest(
            list_logged_segments=lw.ListLoggedSegments())).logged_segments.SerializeToString()
        segments = self.cl.ok("segment", sg.SegmentRequest(
            list_segments=sg.ListSegments())).segments.SerializeToString()
        events = [(e.seq, e.type) for e in self.cl.read_events()]
        return entries, postponed, logged, segments, events

    def no_answer(self, who, name="interaction"):
        """`who` (None: no CURVE; a key name; a (public, secret) pair) gets no reply."""
        req = ia.InteractionRequest(stats=c.GetStats()) if name == "interaction" else \
            lw.LogRequest(stats=c.GetStats())
        with self.assertRaises(Unavailable):
            self.cl.as_(who).call(name, req, timeout=REFUSED_WAIT)


class SecurityTest(SecureTestCase):
    # ---- refused at the handshake ----

    def test_client_without_curve_gets_no_answer(self):
        self.no_answer(None)
        self.no_answer(None, "logwriter")
        # The same request with an authorized key is answered.
        rep = self.cl.as_("reader").call("interaction",
                                         ia.InteractionRequest(stats=c.GetStats()))
        self.assertStatus(rep, c.OK)

    def test_unknown_key_refused_at_handshake(self):
        self.no_answer("outsider")
        self.no_answer(tuple(k.decode() for k in zmq.curve_keypair()), "logwriter")
        self.assertIn("refused CURVE key " + read_keys(os.path.join(
            self.cl.secrets, "outsider.key"))["public-key"], self.cl["interaction"].logtext())
        # Authorizing the key takes effect for the next connection.
        shutil.copy(os.path.join(self.cl.secrets, "outsider.pub"), self.cl.clients)
        with open(os.path.join(self.cl.clients, "outsider.pub"), "a") as f:
            f.write("role = reader\n")
        rep = self.cl.as_("outsider").call("interaction",
                                           ia.InteractionRequest(stats=c.GetStats()))
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.user_id, "outsider")  # the user id defaults to the file's name
        # The same key in a second file: which one counts would be up to readdir,
        # so neither does.
        with open(os.path.join(self.cl.clients, "outsider-too.pub"), "w") as f:
            f.write("public-key = %s\nrole = admin\n" % read_keys(
                os.path.join(self.cl.secrets, "outsider.key"))["public-key"])
        self.no_answer("outsider")
        self.assertIn("authorized twice", self.cl["interaction"].logtext())

    def test_key_for_another_server_gets_no_answer(self):
        """A client holding the wrong server key cannot even finish the handshake."""
        s = self.cl.curve_socket(zmq.DEALER, "interaction", "admin", server="logwriter")
        self.cl.subs.append(s)
        s.send(ia.InteractionRequest(request_id=b"x", stats=c.GetStats()).SerializeToString())
        self.assertFalse(s.poll(int(REFUSED_WAIT * 1000)))

    # ---- roles ----

    def test_reader_reads_but_cannot_create_or_log(self):
        rep = self.create("admin")
        self.assertStatus(rep, c.OK)
        no = self.logged_segment("admin")
        before = self.snapshot()
        reader = self.cl.as_("reader")
        self.assertDenied(self.create("reader"), "create_interaction", "writer")
        self.assertDenied(self.create("reader", postpone=True), "create_interaction", "writer")
        self.assertDenied(reader.call("segment", sg.SegmentRequest(
            log_segment=sg.LogSegment(segment_no=no))), "log_segment", "writer")
        self.assertDenied(reader.call("segment", sg.SegmentRequest(add_contacts=sg.AddContacts(
            segment_no=no, contact_nos=["P3"]))), "add_contacts", "writer")
        self.assertDenied(reader.call("interaction", ia.InteractionRequest(
            put_contact=ia.Contact(no="P9", name="x"))), "put_contact", "writer")
        self.assertInternal(reader.call("logwriter", lw.LogRequest(write_entry=lw.WriteEntry(
            entry=c.Entry(contact_no="P1", date=TODAY_INT, interaction_template_code="CALL")))),
            "write_entry")
        # Reads are allowed.
        rep = reader.call("logwriter", lw.LogRequest(list_entries=lw.ListEntries()))
        self.assertStatus(rep, c.OK)
        self.assertEqual(len(rep.entries.entries), 1)
        rep = reader.call("segment", sg.SegmentRequest(get_segment=sg.SegmentRef(segment_no=no)))
        self.assertStatus(rep, c.OK)
        self.assertEqual(self.snapshot(), before)

    def test_writer_creates_logs_but_cannot_cancel_or_delete(self):
        writer = self.cl.as_("writer")
        e1 = self.create("writer")
        self.assertStatus(e1, c.OK)
        post = self.create("writer", postpone=True, contact="P2")
        self.assertStatus(post, c.OK)
        no = self.logged_segment("writer")
        rep = writer.call("segment", sg.SegmentRequest(log_segment=sg.LogSegment(segment_no=no)),
                          timeout=30)
        self.assertStatus(rep, c.OK)
        lse = rep.logged.logged_segment_no
        # Something canceled for delete-canceled to find (as admin).
        self.assertStatus(self.cl.call("logwriter", lw.LogRequest(
            set_entries_canceled=lw.SetEntriesCanceled(entry_nos=[e1.entry.entry_no],
                                                       canceled=True))), c.OK)
        before = self.snapshot()
        for req, cmd in [
                (lw.LogRequest(set_entries_canceled=lw.SetEntriesCanceled(
                    entry_nos=[e1.entry.entry_no], canceled=False)), "set_entries_canceled"),
                (lw.LogRequest(delete_canceled_entries=lw.DeleteCanceledEntries()),
                 "delete_canceled_entries"),
                (lw.LogRequest(set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(
                    entry_no=lse, canceled=True)), "set_logged_segment_canceled"),
                (lw.LogRequest(delete_canceled_logged_segments=lw.DeleteCanceledLoggedSegments()),
                 "delete_canceled_logged_segments"),
                (lw.LogRequest(delete_postponed_entries=lw.DeletePostponedEntries(
                    entry_nos=[post.entry.entry_no])), "delete_postponed_entries")]:
            self.assertDenied(writer.call("logwriter", req), cmd, "admin")
        self.assertDenied(writer.call("interaction", ia.InteractionRequest(
            delete_postponed=ia.DeletePostponedInteractions(entry_nos=[post.entry.entry_no]))),
            "delete_postponed", "admin")
        self.assertDenied(writer.call("interaction", ia.InteractionRequest(
            delete_contact=ia.NoRef(no="P3"))), "delete_contact", "admin")
        self.assertDenied(writer.call("segment", sg.SegmentRequest(
            set_numbering=sg.SegmentNumbering(prefix="X", next=1, width=2))),
            "set_numbering", "admin")
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.cl.ok("interaction", ia.InteractionRequest(
            get_contact=ia.NoRef(no="P3"))).contact.no, "P3")

        # The admin can do all of it.
        admin = self.cl.as_("admin")
        rep = admin.call("logwriter", lw.LogRequest(
            delete_canceled_entries=lw.DeleteCanceledEntries()))
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.count.count, 1)
        rep = admin.call("interaction", ia.InteractionRequest(
            delete_postponed=ia.DeletePostponedInteractions(entry_nos=[post.entry.entry_no])))
        self.assertStatus(rep, c.OK)
        self.assertStatus(admin.call("logwriter", lw.LogRequest(
            set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(
                entry_no=lse, canceled=True))), c.OK)
        rep = admin.call("logwriter", lw.LogRequest(
            delete_canceled_logged_segments=lw.DeleteCanceledLoggedSegments()))
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.count.count, 1)
        types = [e.type for e in self.cl.read_events()]
        for t in ("entries.deleted", "interaction.postponed_deleted",
                  "logged_segment.canceled", "logged_segments.deleted"):
            self.assertIn(t, types)

    def test_client_metadata_cannot_claim_a_role(self):
        """A peer's own handshake metadata (ZMQ_METADATA) cannot override what the
        ZAP handler says about its key."""
        s = self.cl.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        for prop in (b"X-Role:admin", b"X-Relay:yes",
                     b"X-Key:" + self.cl.public["segment"].encode()):
            s.setsockopt(zmq.METADATA, prop)
        k = read_keys(os.path.join(self.cl.secrets, "reader.key"))
        s.curve_publickey = k["public-key"].encode()
        s.curve_secretkey = k["secret-key"].encode()
        s.curve_serverkey = self.cl.public["logwriter"].encode()
        s.connect(self.cl.eps["logwriter"])
        self.cl.subs.append(s)
        req = lw.LogRequest(request_id=b"claim", user_id="mallory",
                            delete_canceled_entries=lw.DeleteCanceledEntries())
        s.send(req.SerializeToString())
        self.assertTrue(s.poll(10000))
        rep = lw.LogReply()
        rep.ParseFromString(s.recv())
        self.assertDenied(rep, "delete_canceled_entries", "admin")
        self.assertEqual(rep.user_id, "reader-key")

    # ---- the recorded user id ----

    def test_user_id_is_the_keys(self):
        rep = self.create("writer", user="mallory")
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.user_id, "writer-key")  # the reply's envelope
        self.assertEqual(rep.entry.user_id, "writer-key")
        # Through the interaction worker's relay link: the writer's user id, not
        # the interaction worker's own.
        no = self.logged_segment("writer", user="mallory")
        rep = self.cl.as_("writer").call("segment", sg.SegmentRequest(
            log_segment=sg.LogSegment(segment_no=no)), user="mallory", timeout=30)
        self.assertStatus(rep, c.OK)
        lse = rep.logged.logged_segment_no
        got = self.cl.ok("logwriter", lw.LogRequest(get_logged_segment=lw.GetLoggedSegment(
            entry_no=lse))).logged_segment
        self.assertEqual(got.user_id, "writer-key")
        users = {e.entry_no: e.user_id for e in self.cl.ok("logwriter", lw.LogRequest(
            list_entries=lw.ListEntries(limit=1000))).entries.entries}
        self.assertEqual(set(users.values()), {"writer-key"}, users)
        events = self.cl.read_events()
        self.assertTrue(events)
        self.assertEqual({e.user_id for e in events}, {"writer-key"})
        # A writer cannot talk to the log writer's write path directly at all.
        rep = self.cl.as_("writer").call("logwriter", lw.LogRequest(write_entry=lw.WriteEntry(
            entry=c.Entry(contact_no="P1", date=TODAY_INT, interaction_template_code="CALL",
                          interaction_group_code="G1", description="direct",
                          user_id="mallory"))), user="mallory")
        self.assertInternal(rep, "write_entry")

    # ---- events ----

    def test_events_need_an_authorized_key(self):
        good = self.cl.subscribe(who="reader")
        plain = self.cl.ctx.socket(zmq.SUB)
        plain.setsockopt(zmq.LINGER, 0)
        plain.setsockopt(zmq.SUBSCRIBE, b"")
        plain.connect(self.cl.eps["events"])
        self.cl.subs.append(plain)
        outsider = self.cl.subscribe(who="outsider", admitted=False)
        self.assertStatus(self.create("writer"), c.OK)
        got = recv_events(good, 1)
        self.assertEqual([t for t, _ in got], ["interaction.logged"])
        self.assertEqual(got[0][1].user_id, "writer-key")
        self.assertFalse(plain.poll(500))
        self.assertFalse(outsider.poll(200))


class WritePathTest(SecureTestCase):
    """The log writer's write commands are internal: they take entries that the
    interaction and segment workers validated, so over tcp only the workers'
    own keys (relay = yes) may send them, and a segment log stream belongs to
    the key that began it. Whoever sends, the writer refuses values outside
    their ranges."""

    def snapshot(self):
        ce = self.cl.ok("logwriter", lw.LogRequest(
            list_campaign_entries=lw.ListCampaignEntries())).campaign_entries
        stats = self.cl.ok("logwriter", lw.LogRequest(statistics=lw.GetEntryStatistics(
            group_by=lw.STATISTICS_GROUP_BY_GROUP))).statistics
        return super().snapshot() + (ce.SerializeToString(), stats.SerializeToString())

    def stream(self, who, log_id, segment_no, contacts, user="request-user"):
        """Begin, one batch and Commit of a segment log straight to the writer."""
        k = self.cl.as_(who)
        begin = k.call("logwriter", lw.LogRequest(log_begin=lw.SegmentLogBegin(
            log_id=log_id, segment_no=segment_no, description="forged",
            creation_date=TODAY_INT, date=TODAY_INT, line_count=len(contacts),
            salesperson_code="SP1")), user=user)
        batch = k.call("logwriter", lw.LogRequest(log_batch=lw.SegmentLogBatch(
            log_id=log_id, index=0, packed_entries=packed([c.Entry(
                contact_no=no, date=TODAY_INT, interaction_template_code="CALL",
                salesperson_code="SP1", description="forged") for no in contacts]))), user=user)
        commit = k.call("logwriter", lw.LogRequest(log_commit=lw.SegmentLogCommit(
            log_id=log_id, count=len(contacts))), user=user)
        return begin, batch, commit

    def test_client_keys_cannot_reach_the_write_path(self):
        post = self.create("admin", postpone=True)
        self.assertStatus(post, c.OK)
        no = self.logged_segment("writer")
        before = self.snapshot()
        for who in ("writer", "admin"):
            k = self.cl.as_(who)
            # An entry no rule would let through: a contact and a template that
            # do not exist, the largest cost, an old date, an unknown campaign.
            ghost = c.Entry(contact_no="NOBODY", date=19000101, interaction_template_code="NOPE",
                            interaction_group_code="G1", cost_cents=1000000000000,
                            duration_min=1000000, campaign_no="NOCAMP", description="ghost")
            self.assertInternal(k.call("logwriter", lw.LogRequest(
                write_entry=lw.WriteEntry(entry=ghost))), "write_entry")
            # Overwriting another user's postponed entry.
            over = c.Entry(entry_no=post.entry.entry_no, contact_no="P2", date=TODAY_INT,
                           interaction_template_code="CALL", description="overwritten",
                           postponed=False)
            self.assertInternal(k.call("logwriter", lw.LogRequest(
                write_entry=lw.WriteEntry(entry=over, resume=True))), "write_entry")
            # A forged stream claiming the real, unlogged segment.
            begin, batch, commit = self.stream(who, b"forged-" + who.encode(), no,
                                               ["GHOST1", "GHOST2"])
            self.assertInternal(begin, "log_begin")
            self.assertInternal(batch, "log_batch")
            self.assertInternal(commit, "log_commit")
        self.assertEqual(self.snapshot(), before)
        # The real log of that segment still works.
        rep = self.cl.as_("writer").call("segment", sg.SegmentRequest(
            log_segment=sg.LogSegment(segment_no=no)), timeout=30)
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.logged.entry_count, 2)
        st = self.cl.ok("logwriter", lw.LogRequest(stats=c.GetStats()))
        for cmd in ("write_entry", "log_begin", "log_batch", "log_commit"):
            self.assertGreaterEqual(metric(st, "rapport_permission_denied_total", command=cmd),
                                    2, cmd)

    def test_the_relays_confirm_is_internal_and_changes_need_a_reader(self):
        self.create("admin")
        for who in ("writer", "admin"):
            rep = self.cl.as_(who).call("logwriter", lw.LogRequest(
                confirm_relayed=lw.ConfirmRelayed(seq=1)))
            self.assertInternal(rep, "confirm_relayed")
        rep = self.cl.as_("reader").call("logwriter", lw.LogRequest(
            read_changes=lw.ReadChanges(from_seq=1)))
        self.assertStatus(rep, c.OK)
        self.assertGreaterEqual(len(rep.changes.changes), 2)
        # A worker's key (relay = yes), as rapport-relay's would be.
        rep = self.cl.as_("segment").call("logwriter", lw.LogRequest(
            confirm_relayed=lw.ConfirmRelayed(seq=1)))
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.relay_status.confirmed_seq, 1)

    def test_a_stream_belongs_to_the_key_that_began_it(self):
        log_id = b"SEGX/stream-1"
        seg, ix = self.cl.as_("segment"), self.cl.as_("interaction")
        rep = seg.call("logwriter", lw.LogRequest(log_begin=lw.SegmentLogBegin(
            log_id=log_id, segment_no="SEGX", description="mine", creation_date=TODAY_INT,
            date=TODAY_INT, line_count=2, salesperson_code="SP1")))
        self.assertStatus(rep, c.OK)
        before = self.snapshot()
        entries = [c.Entry(contact_no=no, date=TODAY_INT, interaction_template_code="CALL",
                           salesperson_code="SP1", description="x") for no in ("P1", "P2")]
        theft = [lw.LogRequest(log_batch=lw.SegmentLogBatch(log_id=log_id, index=0,
                                                            packed_entries=packed(entries))),
                 lw.LogRequest(log_commit=lw.SegmentLogCommit(log_id=log_id, count=2)),
                 lw.LogRequest(log_begin=lw.SegmentLogBegin(
                     log_id=log_id, segment_no="SEGX", description="taken over",
                     creation_date=TODAY_INT, line_count=2))]
        for req in theft:
            rep = ix.call("logwriter", req)
            self.assertStatus(rep, c.PERMISSION_DENIED,
                              "segment log SEGX/stream-1 was begun by another key")
        self.assertEqual(self.snapshot(), before)
        self.assertIn("was begun by key " + self.cl.public["segment"],
                      self.cl["logwriter"].logtext())
        # The key that began it finishes it.
        self.assertStatus(seg.call("logwriter", theft[0]), c.OK)
        rep = seg.call("logwriter", theft[1])
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.segment_logged.entry_count, 2)
        self.assertEqual(rep.segment_logged.description, "mine")

    def test_out_of_range_values_are_refused_whoever_sends_them(self):
        before = self.snapshot()
        k = self.cl.as_("interaction")  # a relay key: the write path is open to it
        good = dict(contact_no="P1", date=TODAY_INT, interaction_template_code="CALL",
                    interaction_group_code="G1", description="x")
        for bad, field in [(dict(duration_min=4000000000), "duration_min"),
                           (dict(cost_cents=1000000000001), "cost_cents"),
                           (dict(cost_cents=-5), "write_entry.entry"),
                           (dict(date=20260230), "write_entry.entry.date"),
                           (dict(time_of_interaction=86400), "write_entry.entry")]:
            rep = k.call("logwriter", lw.LogRequest(write_entry=lw.WriteEntry(
                entry=c.Entry(**dict(good, **bad)))))
            self.assertStatus(rep, c.INVALID_ARGUMENT)
            self.assertIn(field, rep.status.field)
        self.assertEqual(self.snapshot(), before)
        # A stream's entries travel as bytes: the writer reads and checks the
        # fields it must, refusing the batch (begun for this, so the checks are
        # the entries').
        self.assertStatus(k.call("logwriter", lw.LogRequest(log_begin=lw.SegmentLogBegin(
            log_id=b"x", segment_no="SEGR", description="r", creation_date=TODAY_INT,
            line_count=1))), c.OK)
        before = self.snapshot()
        for bad in (dict(duration_min=4000000000), dict(cost_cents=1000000000001),
                    dict(cost_cents=-5), dict(date=20260230), dict(time_of_interaction=86400),
                    dict(canceled=True), dict(contact_no="")):
            rep = k.call("logwriter", lw.LogRequest(log_batch=lw.SegmentLogBatch(
                log_id=b"x", index=0, packed_entries=packed([c.Entry(**dict(good, **bad))]))))
            self.assertStatus(rep, c.INVALID_ARGUMENT)
            self.assertEqual(rep.status.field, "packed_entries")
            self.assertIn("entry 0 of the batch", rep.status.message)
        self.assertEqual(self.snapshot(), before)
        # The interaction worker refuses such a duration from a client too.
        rep = self.cl.as_("writer").call("interaction", ia.InteractionRequest(
            create_interaction=ia.CreateInteraction(origin=ia.ORIGIN_CONTACT, fields=F(
                contact_no="P1", interaction_template_code="CALL", duration_min=4000000000))))
        self.assertStatus(rep, c.INVALID_ARGUMENT)
        self.assertIn("duration_min", rep.status.field)


class IdempotencyTest(SecureTestCase):
    """Idempotency records are keyed by (authenticated user id, request_id)."""

    def test_a_request_id_is_per_principal(self):
        admin, writer = self.cl.as_("admin"), self.cl.as_("writer")
        def create(k, rid, desc):
            return k.call("interaction", ia.InteractionRequest(
                request_id=rid, create_interaction=ia.CreateInteraction(
                    origin=ia.ORIGIN_CONTACT, fields=F(contact_no="P1",
                                                       interaction_template_code="CALL",
                                                       description=desc))))
        a = create(admin, b"shared-1", "admin's")
        w = create(writer, b"shared-1", "writer's")
        self.assertStatus(a, c.OK)
        self.assertStatus(w, c.OK)
        self.assertNotEqual(a.entry.entry_no, w.entry.entry_no)
        self.assertEqual((w.entry.user_id, w.entry.description), ("writer-key", "writer's"))
        # Within one principal a repeat still returns the first reply.
        again = create(writer, b"shared-1", "ignored")
        self.assertEqual(again.SerializeToString(), w.SerializeToString())
        again = create(admin, b"shared-1", "ignored")
        self.assertEqual(again.entry, a.entry)
        self.assertEqual(len(self.cl.all_entries()), 2)
        # An admin's cancel with a request_id a writer used first cancels.
        rep = admin.call("logwriter", lw.LogRequest(
            request_id=b"shared-2", set_entries_canceled=lw.SetEntriesCanceled(
                entry_nos=[w.entry.entry_no], canceled=True)))
        self.assertStatus(rep, c.OK)
        self.assertStatus(create(writer, b"shared-3", "w3"), c.OK)
        rep = admin.call("logwriter", lw.LogRequest(
            request_id=b"shared-3", set_entries_canceled=lw.SetEntriesCanceled(
                entry_nos=[a.entry.entry_no], canceled=True)))
        self.assertStatus(rep, c.OK)
        got = self.cl.ok("logwriter", lw.LogRequest(get_entry=lw.GetEntry(
            entry_no=a.entry.entry_no))).entry
        self.assertTrue(got.canceled)
        # The segment worker too: two principals, one request_id, two segments.
        nos = set()
        for k in (admin, writer):
            rep = k.call("segment", sg.SegmentRequest(request_id=b"seg-rid",
                                                      create_segment=sg.CreateSegment(
                                                          fields=sg.SegmentFields(
                                                              description="s"))))
            self.assertStatus(rep, c.OK)
            nos.add(rep.segment.no)
        self.assertEqual(len(nos), 2)


class PruningTest(SecureTestCase):
    """Every worker prunes its idempotency records after dedup_retention_days, and
    the log writer its committed segment logs: records made by workers whose
    clock ran ten days behind are gone a few seconds after a restart."""

    def setUp(self):
        self.cl = SecureCluster(start=False)
        try:
            self.cl.env["RAPPORT_CLOCK_SHIFT_DAYS"] = "-10"
            for w in WORKERS:
                self.cl.workers[w].start()
            self.seed()
        except BaseException:
            self.cl.close()
            raise

    def stats(self):
        return {w: self.cl.ok(w, REQUEST_OF[w](stats=c.GetStats())) for w in WORKERS}

    def test_old_records_are_pruned_in_every_worker(self):
        rep = self.cl.ok("interaction", ia.InteractionRequest(
            create_interaction=ia.CreateInteraction(origin=ia.ORIGIN_CONTACT, fields=F(
                contact_no="P1", interaction_template_code="CALL", description="d"))))
        seg = self.cl.ok("segment", sg.SegmentRequest(
            request_id=b"seg-create", create_segment=sg.CreateSegment(fields=sg.SegmentFields(
                description="m", interaction_template_code="CALL")))).segment.no
        self.cl.ok("segment", sg.SegmentRequest(add_contacts=sg.AddContacts(
            segment_no=seg, contact_nos=["P1", "P2"])))
        self.cl.ok("segment", sg.SegmentRequest(log_segment=sg.LogSegment(segment_no=seg)),
                   timeout=30)
        before = self.stats()
        for w in WORKERS:
            self.assertGreater(metric(before[w], "rapport_dedup_records"), 0, w)
        self.assertEqual(metric(before["logwriter"], "rapport_segment_log_records"), 1)
        for w in WORKERS:
            self.assertEqual(self.cl.workers[w].stop(), 0)
        del self.cl.env["RAPPORT_CLOCK_SHIFT_DAYS"]
        for w in WORKERS:
            self.cl.workers[w].start()
        deadline = time.monotonic() + 30 * TIME_SCALE
        while True:
            now = self.stats()
            left = {w: metric(now[w], "rapport_dedup_records") for w in WORKERS}
            left["segment logs"] = metric(now["logwriter"], "rapport_segment_log_records")
            if not any(left.values()):
                break
            self.assertLess(time.monotonic(), deadline, "not pruned: %s" % left)
            time.sleep(0.2)
        # A request_id whose record is gone runs again.
        again = self.cl.ok("segment", sg.SegmentRequest(
            request_id=b"seg-create", create_segment=sg.CreateSegment(fields=sg.SegmentFields(
                description="m"))))
        self.assertNotEqual(again.segment.no, seg)
        self.assertTrue(rep.entry.entry_no)


class KeyFilesTest(SecureTestCase):
    """A key file holds one key and each line once; otherwise the key is left out
    (refused at the handshake) and the worker says which file and line."""

    def test_repeated_lines_and_second_keys_are_refused(self):
        keygen(self.cl.secrets, "eve")
        pub = read_keys(os.path.join(self.cl.secrets, "eve.key"))["public-key"]
        other = zmq.curve_keypair()[0].decode()
        for body, text in [("public-key = %s\nrole = writer\nrole = admin\n" % pub,
                            "eve.pub:3: a second role line"),
                           ("public-key = %s\nrole = reader\npublic-key = %s\n" % (pub, other),
                            "eve.pub:3: a second key"),
                           ("public-key = %s\nrole = reader\nuser = a\nuser = b\n" % pub,
                            "eve.pub:4: a second user line")]:
            with open(os.path.join(self.cl.clients, "eve.pub"), "w") as f:
                f.write(body)
            self.no_answer("eve")
            self.assertIn(text, self.cl["interaction"].logtext())
        # Fixed, the key is admitted at the next connection, no restart.
        with open(os.path.join(self.cl.clients, "eve.pub"), "w") as f:
            f.write("public-key = %s\nrole = reader\n" % pub)
        rep = self.cl.as_("eve").call("interaction", ia.InteractionRequest(stats=c.GetStats()))
        self.assertStatus(rep, c.OK)
        self.assertEqual(rep.user_id, "eve")
        self.assertGreaterEqual(metric(rep, "rapport_handshakes_refused_total"), 3)
        self.assertEqual(metric(rep, "rapport_authorized_keys"), 7)

    def test_a_removed_key_is_refused_at_the_next_connection(self):
        rep = self.cl.as_("reader").call("interaction", ia.InteractionRequest(stats=c.GetStats()))
        self.assertStatus(rep, c.OK)
        os.unlink(os.path.join(self.cl.clients, "reader.pub"))
        self.no_answer("reader")


class IpcPermissionsTest(unittest.TestCase):
    """An ipc socket's only guard is its directory: a worker refuses a run dir that
    others may enter or write, and makes its sockets 0660 whatever the umask."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rapport-perm-")
        self.run = os.path.join(self.dir, "run")
        os.makedirs(self.run)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def worker(self, name):
        return subprocess.Popen([os.path.join(BIN_DIR, "rapport-" + name), "--run-dir", self.run,
                                 "--state-dir", os.path.join(self.dir, "state")],
                                env=clean_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, preexec_fn=lambda: os.umask(0))

    def test_open_run_dir_refused(self):
        for mode in (0o1777, 0o777, 0o755, 0o771):
            os.chmod(self.run, mode)
            for name in WORKERS:
                p = self.worker(name)
                out = p.communicate(timeout=30 * TIME_SCALE)[0].decode()
                self.assertEqual(p.returncode, 1, out)
                self.assertIn("the run directory %s is open to others (mode %04o)" % (
                    self.run, mode), out)
                self.assertFalse(os.path.exists(os.path.join(self.run, name + ".sock")))

    def test_sockets_are_0660_whatever_the_umask(self):
        os.chmod(self.run, 0o770)
        p = self.worker("logwriter")
        try:
            socks = [os.path.join(self.run, n) for n in ("logwriter.sock", "events.sock")]
            deadline = time.monotonic() + 20 * TIME_SCALE

            def modes():
                return [stat.S_IMODE(os.stat(x).st_mode) if os.path.exists(x) else None
                        for x in socks]
            # The worker makes each socket 0660 right after binding it.
            while modes() != [0o660, 0o660]:
                self.assertIsNone(p.poll(), "the log writer exited")
                self.assertLess(time.monotonic(), deadline, "socket modes: %s" % modes())
                time.sleep(0.05)
        finally:
            p.terminate()
            self.assertEqual(p.wait(30 * TIME_SCALE), 0)


class MixedEndpointsTest(unittest.TestCase):
    """Only the log writer on tcp: its ipc event stream and the interaction
    worker's ipc ROUTER keep working as before (admin, the request's user id),
    while the interaction worker reaches the writer over CURVE with its relay
    key."""

    def setUp(self):
        self.cl = SecureCluster(workers=("logwriter", "interaction"), tcp=("logwriter",))

    def tearDown(self):
        self.cl.close()

    def test_ipc_clients_and_a_relay_link(self):
        sub = self.cl.subscribe()  # ipc
        for cmd in (dict(put_group=ia.InteractionGroup(code="G1", description="Calls")),
                    dict(put_salesperson=ia.Salesperson(code="SP1", name="Ann")),
                    dict(put_template=ia.InteractionTemplate(
                        code="CALL", description="Call", interaction_group_code="G1")),
                    dict(put_contact=ia.Contact(no="P1", name="P", type=c.CONTACT_TYPE_PERSON,
                                                salesperson_code="SP1"))):
            self.cl.ok("interaction", ia.InteractionRequest(**cmd))
        rep = self.cl.ok("interaction", ia.InteractionRequest(
            user_id="ipc-user", create_interaction=ia.CreateInteraction(
                origin=ia.ORIGIN_CONTACT, fields=F(contact_no="P1",
                                                   interaction_template_code="CALL"))))
        self.assertEqual(rep.entry.user_id, "ipc-user")
        got = recv_events(sub, 1)
        self.assertEqual([(t, e.user_id) for t, e in got], [("interaction.logged", "ipc-user")])
        # ipc callers are admins, and the relay key passes a delete on.
        post = self.cl.ok("interaction", ia.InteractionRequest(
            create_interaction=ia.CreateInteraction(
                origin=ia.ORIGIN_CONTACT, postpone=True,
                fields=F(contact_no="P1", interaction_template_code="CALL")))).entry
        rep = self.cl.ok("interaction", ia.InteractionRequest(
            delete_postponed=ia.DeletePostponedInteractions(entry_nos=[post.entry_no])))
        self.assertEqual(rep.count.count, 1)
        # On the tcp side the keys decide.
        reader = self.cl.as_("reader")
        self.assertStatus(reader.call("logwriter", lw.LogRequest(
            list_entries=lw.ListEntries())), c.OK)
        rep = reader.call("logwriter", lw.LogRequest(
            delete_canceled_entries=lw.DeleteCanceledEntries()))
        self.assertEqual(c.StatusCode.Name(rep.status.code), "PERMISSION_DENIED")

    def assertStatus(self, rep, code):
        self.assertEqual(c.StatusCode.Name(rep.status.code), c.StatusCode.Name(code),
                         rep.status.message)


class CliOverTcpTest(unittest.TestCase):
    """The `rapport` command with its own key on tcp endpoints."""

    def setUp(self):
        self.cl = SecureCluster(workers=("logwriter", "interaction"))
        self.cl.ok("interaction", ia.InteractionRequest(
            put_group=ia.InteractionGroup(code="G1", description="Calls")))
        self.cl.ok("interaction", ia.InteractionRequest(
            put_salesperson=ia.Salesperson(code="SP1", name="Ann")))
        self.cl.ok("interaction", ia.InteractionRequest(put_template=ia.InteractionTemplate(
            code="CALL", description="Phone call", interaction_group_code="G1")))
        self.cl.ok("interaction", ia.InteractionRequest(put_contact=ia.Contact(
            no="P1", name="Name P1", type=c.CONTACT_TYPE_PERSON, salesperson_code="SP1")))

    def tearDown(self):
        self.cl.close()

    def config(self, name, **extra):
        path = os.path.join(self.cl.dir, name + ".conf")
        with open(path, "w") as f:
            f.write(self.cl.config_text(**extra))
        return path

    def rapport(self, conf, *args, rc=0, timeout=60):
        p = subprocess.run([RAPPORT, "--config", conf] + list(args), capture_output=True,
                           env=clean_env(), timeout=timeout)
        out, err = p.stdout.decode(), p.stderr.decode()
        if rc is not None:
            self.assertEqual(p.returncode, rc, "rapport %s\nstdout: %s\nstderr: %s" % (
                " ".join(args), out, err))
        return out, err

    def test_cli_with_keys(self):
        pub = keygen(self.cl.secrets, "alice", "--role", "writer", "--user", "alice")
        key = os.path.join(self.cl.secrets, "alice.key")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertEqual(read_keys(key)["public-key"], pub)
        self.assertEqual(read_keys(os.path.join(self.cl.secrets, "alice.pub")),
                         {"public-key": pub, "role": "writer", "user": "alice"})
        shutil.copy(os.path.join(self.cl.secrets, "alice.pub"), self.cl.clients)
        conf = self.config("alice", curve_client_secret_key_file=key)

        out, _ = self.rapport(conf, "--json", "--user", "mallory", "interaction", "create",
                              "--contact", "P1", "--template", "CALL")
        entry_no = json.loads(out)["entry_no"]
        out, _ = self.rapport(conf, "--json", "entry", "show", str(entry_no))
        self.assertEqual(json.loads(out)["user_id"], "alice")
        out, _ = self.rapport(conf, "template", "show", "CALL")
        self.assertIn("Phone call", out)
        _, err = self.rapport(conf, "entry", "cancel", str(entry_no), rc=1)
        self.assertIn("set_entries_canceled needs the admin role", err)
        _, err = self.rapport(conf, "--json", "entries", "delete-canceled", rc=1)
        self.assertEqual(json.loads(err)["code"], "permission-denied")

    def test_cli_refused_or_unconfigured(self):
        keygen(self.cl.secrets, "mallory")  # not authorized
        conf = self.config("mallory", curve_client_secret_key_file=os.path.join(
            self.cl.secrets, "mallory.key"))
        _, err = self.rapport(conf, "--timeout", str(int(3000 * TIME_SCALE)), "template", "show",
                              "CALL", rc=3)
        self.assertIn("refused this client's CURVE key", err)
        # No client key configured: a configuration error, before any traffic.
        _, err = self.rapport(self.config("nokey"), "template", "show", "CALL", rc=2)
        self.assertIn("curve_client_secret_key_file", err)
        # A secret key others may read is refused.
        loose = os.path.join(self.cl.secrets, "admin.key")
        os.chmod(loose, 0o644)
        _, err = self.rapport(self.config("loose", curve_client_secret_key_file=loose),
                              "template", "show", "CALL", rc=2)
        self.assertIn("must not be accessible to others", err)

    def test_keygen_never_overwrites(self):
        d = os.path.join(self.cl.dir, "kg")
        os.makedirs(d)
        first = keygen(d, "bob")
        p = subprocess.run([RAPPORT, "keygen", "bob", "--dir", d], capture_output=True,
                           env=clean_env())
        self.assertEqual(p.returncode, 2)
        self.assertIn("exists", p.stderr.decode())
        self.assertEqual(read_keys(os.path.join(d, "bob.key"))["public-key"], first)
        p = subprocess.run([RAPPORT, "keygen", "../evil", "--dir", d], capture_output=True,
                           env=clean_env())
        self.assertEqual(p.returncode, 2)
        p = subprocess.run([RAPPORT, "keygen", "x", "--dir", d, "--role", "root"],
                           capture_output=True, env=clean_env())
        self.assertEqual(p.returncode, 2)
        self.assertFalse(os.path.exists(os.path.join(d, "x.key")))

    def test_worker_without_keys_does_not_start(self):
        for env, text in [({}, "curve_secret_key_file"),
                          ({"RAPPORT_CURVE_SECRET_KEY_FILE": os.path.join(
                              self.cl.secrets, "segment.key"),
                            "RAPPORT_CURVE_CLIENT_KEYS_DIR": os.path.join(self.cl.dir, "none")},
                           "curve_client_keys_dir")]:
            e = clean_env()
            e["RAPPORT_CONFIG"] = self.cl.conf
            e.update(env)
            p = subprocess.run([os.path.join(BIN_DIR, "rapport-segment"), "--run-dir",
                                self.cl.run_dir, "--state-dir", self.cl.state_dir],
                               capture_output=True, env=e, timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(text, p.stderr.decode())


if __name__ == "__main__":
    unittest.main()
