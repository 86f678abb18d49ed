#!/usr/bin/python3
"""Crash harness: a mixed workload through the real workers while a random
worker is SIGKILLed at a random moment and restarted, then the invariants
of the promise "no acknowledged interaction is lost or recorded twice".

    crash.py [--rounds N] [--seed S] [--duration SECONDS] [--keep] [--quiet]

Environment as for tests/integration (RAPPORT_BIN_DIR, RAPPORT_PY_PROTO).

One round:
  * a fresh cluster (the three workers, full sync, request_timeout_ms small)
    with a catalog of 6,000 contacts, templates (one with a campaign),
    segment numbering;
  * actors, each with its own socket, run stories on their own records,
    sequentially within an actor and concurrently across actors:
      - interaction actors: create (finished or postponed) -> resume or
        delete a postponed one -> cancel -> delete the canceled one;
      - segment actors: create a segment, add 1 to 5,000 contacts, then log
        it (with or without follow-up) or delete it; cancel some logged
        segments;
    every request is retried with the same request_id, as a real client
    does, on silence and on UNAVAILABLE / RESOURCE_EXHAUSTED / ABORTED,
    until a definitive answer; a request with no definitive answer after
    90 s (a give-up) fails the round: a worker that answers UNAVAILABLE
    forever after a restart is a broken cluster, not bad luck;
  * a killer SIGKILLs a random worker at a random moment, and restarts it,
    sometimes armed with a fault point (RAPPORT_FAULT) so that it dies
    again inside the segment log fan-out;
  * a subscriber records every published event.
After the round, with every worker up and nothing running:
  I1 every acked command's effect is present exactly once (entries by their
     description token, their final postponed / canceled / deleted state;
     an acked entry is present unless a delete of it was acked or left
     unanswered; logged segments once per segment, deleted segments gone,
     a segment created and filled but not logged is there with its lines);
  I2 no entry and no logged segment exists without an acked or retried
     command;
  I3 entry numbers are gapless (every number 1..max was created, per the
     event log, whether or not it was deleted since);
  I4 every logged segment is complete: its entries are the segment's
     contacts in line order, with its number; its campaign entry; its
     follow-up segment with the same contacts; the segment is gone;
  I5 no segment is left in LOGGING after recovery;
  I6 the durable event log has no gap, replaying it gives exactly the
     store's entries (numbers, postponed, canceled, logged segment), no
     event names an entry or logged segment the log has not created, every
     command the client saw acked has exactly one event naming its record
     (create, resume, delete postponed, cancel, delete canceled, segment
     log, logged segment cancel; the events the clients expect are recorded
     as they are acked, not derived from the store), and every event a
     subscriber saw live is the durable event of that seq;
  I7 mdb_stat -rr finds no stale reader slot in any env after the restarts
     (the workers clear them at open), and mdb_stat -a reads every env
     after a clean stop (exit status 0).
With --relay (relay mode), every round also runs nats-server (one node, or
--nats-nodes 3 at R3) and rapport-relay, and the killer's victims include
the relay and a NATS node (crash_relay.py). Then:
  I8 the relay's lag drains to 0 by itself; the stream holds each seq of the
     durable event log exactly once, in order, every event as the log has
     it; and replaying the stream (records, deletions) gives exactly the
     store's entries, logged segments and campaign entries.
With --replica as well (relay mode), a read replica (rapport-logwriter
--replica) follows the stream in every round and is killed -9 every 0.2 to
1.5 s while the workload runs. Then:
  I9 the replica applies the primary's last seq, and every read command
     gives on it the primary's reply at that seq, field by field: every
     event, every listing of entries (paged, filtered), every entry, the
     statistics, every logged segment and the campaign entries
     (tests/relay/replica_reads.py).
Every request, reply and event of a failed round is written to
<round dir>/journal.jsonl and the directory is kept."""
import argparse
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import Cluster, Unavailable, c, ia, lw, sg  # noqa: E402
import zmq  # noqa: E402

N_CONTACTS = 6000
MAX_SEGMENT = 5000
RETRY_CODES = (c.UNAVAILABLE, c.RESOURCE_EXHAUSTED, c.ABORTED, c.DEADLINE_EXCEEDED)
GIVE_UP_S = harness.scaled(90.0)
FAULTS = {
    "segment": ["segment.before_stream", "segment.mid_stream", "segment.after_commit"],
    "logwriter": ["logwriter.mid_stream", "logwriter.after_commit"],
    "interaction": [],
}
WORKER_ARGS = ["--set", "request_timeout_ms=1500", "--set", "log_batch_entries=500"]
RELAY = None  # crash_relay.RelayMode in relay mode (--relay)
# A resume that keeps the entry postponed publishes interaction.postponed
# for the entry it names: the replay counts it under this name.
RESUMED_POSTPONED = "interaction.postponed (resumed)"


class RoundFailure(AssertionError):
    pass


# ---------------------------------------------------------------- journal

class Journal:
    """Every request, final reply and event of a round, in memory; written
    out when the round fails."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, kind, **kw):
        kw["kind"] = kind
        kw["t"] = round(time.monotonic(), 4)
        with self.lock:
            self.items.append(kw)

    def write(self, path):
        with open(path, "w") as f:
            for it in self.items:
                f.write(json.dumps(it, default=str) + "\n")


class Request:
    """One command as its client sees it."""

    def __init__(self, worker, cmd, rid):
        self.worker, self.cmd, self.rid = worker, cmd, rid
        self.sends = 0
        self.reply = None      # the definitive reply
        self.gave_up = False

    @property
    def acked(self):
        return self.reply is not None and self.reply.status.code == c.OK

    @property
    def refused(self):
        return self.reply is not None and self.reply.status.code != c.OK


# ---------------------------------------------------------------- client

class Client:
    """An actor's sockets; call() retries with the same request_id."""

    def __init__(self, ctx, cluster, journal):
        self.ctx, self.cluster, self.journal = ctx, cluster, journal
        self.socks = {}
        self.requests = []

    def sock(self, worker):
        s = self.socks.get(worker)
        if s is None:
            s = self.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.cluster.endpoint(worker))
            self.socks[worker] = s
        return s

    def close(self):
        for s in self.socks.values():
            s.close(0)

    def call(self, worker, **cmd):
        msg = harness.REQUEST[worker](**cmd)
        msg.request_id = uuid.uuid4().hex.encode()
        msg.user_id = "crash"
        data = msg.SerializeToString()
        name = msg.WhichOneof("command")
        r = Request(worker, name, msg.request_id.decode())
        self.requests.append(r)
        self.journal.add("request", rid=r.rid, worker=worker, cmd=name,
                         body=str(getattr(msg, name))[:300])
        deadline = time.monotonic() + GIVE_UP_S
        resend_at = 0.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now >= resend_at:
                s = self.sock(worker)
                try:
                    s.send(data, zmq.NOBLOCK)
                    r.sends += 1
                except zmq.Again:
                    pass  # queue full while the worker is down: try later
                resend_at = now + 1.0
            s = self.sock(worker)
            if not s.poll(int(max(1, (resend_at - time.monotonic()) * 1000))):
                continue
            rep = harness.REPLY[worker]()
            rep.ParseFromString(s.recv_multipart()[-1])
            if rep.request_id != msg.request_id:
                continue  # a late reply to an earlier request of this actor
            if rep.status.code in RETRY_CODES:
                time.sleep(0.1)
                resend_at = 0.0
                continue
            r.reply = rep
            self.journal.add("reply", rid=r.rid, code=c.StatusCode.Name(rep.status.code),
                             message=rep.status.message, sends=r.sends,
                             result=str(getattr(rep, rep.WhichOneof("result")))[:300]
                             if rep.WhichOneof("result") else "")
            return r
        r.gave_up = True
        self.journal.add("gave_up", rid=r.rid, sends=r.sends)
        return r


# ---------------------------------------------------------------- stories

class EntryStory:
    """An interaction actor's entry: what its acked commands say about it."""

    def __init__(self, token):
        self.token = token           # the description of the create
        self.entry_no = None
        self.create = None
        self.postponed = False
        self.canceled = False
        self.deleted = False
        self.description = token
        self.uncertain = False       # a command on it gave up: state unknown
        self.maybe_deleted = False   # a delete of it gave up
        self.resume_tokens = []      # descriptions a resume may have written
        self.acked_events = []       # (event type, entry no.) its acked commands promise


class SegmentStory:
    def __init__(self, no):
        self.no = no
        self.contacts = []           # in line order
        self.campaign = ""
        self.created = False
        self.log = None              # Request
        self.follow_up = False
        self.deleted = False
        self.delete = None
        self.canceled = False
        self.uncertain = False
        self.acked_events = []       # (event type, logged segment no.)


class Workload:
    def __init__(self, rnd, cluster, journal, ctx):
        self.rnd, self.cluster, self.journal, self.ctx = rnd, cluster, journal, ctx
        self.stop = threading.Event()
        self.entries = []
        self.segments = []
        self.clients = []
        self.errors = []
        self.lock = threading.Lock()

    def settled(self, story, r, what):
        """Whether r was acked. A request given up on leaves the story
        uncertain; a refusal is an error of the round."""
        if r.gave_up:
            story.uncertain = True
        elif not r.acked:
            self.errors.append("%s refused: %s" % (what, r.reply.status.message))
        return r.acked

    def client(self):
        cl = Client(self.ctx, self.cluster, self.journal)
        self.clients.append(cl)
        return cl

    # -- interaction actor
    def interaction_actor(self, seed, idx):
        rnd = random.Random(seed)
        cl = self.client()
        contacts = ["K%05d" % i for i in range(N_CONTACTS)]
        try:
            n = 0
            while not self.stop.is_set():
                n += 1
                token = "ci:%d:%d:%s" % (idx, n, uuid.uuid4().hex[:8])
                st = EntryStory(token)
                with self.lock:
                    self.entries.append(st)
                postpone = rnd.random() < 0.35
                template = rnd.choice(["LETTER", "CALL", "CAMP"])
                st.create = cl.call("interaction", create_interaction=ia.CreateInteraction(
                    postpone=postpone, fields=ia.InteractionFields(
                        contact_no=rnd.choice(contacts), interaction_template_code=template,
                        salesperson_code="SP1", description=token,
                        comments=["c1", "c2"] if rnd.random() < 0.3 else [])))
                if not self.settled(st, st.create, "create"):
                    continue
                st.entry_no = st.create.reply.entry.entry_no
                st.postponed = postpone
                if postpone:
                    if rnd.random() < 0.6:
                        again = rnd.random() < 0.2
                        rtoken = "rs:%d:%d:%s" % (idx, n, uuid.uuid4().hex[:8])
                        st.resume_tokens.append(rtoken)
                        r = cl.call("interaction", resume_interaction=ia.ResumeInteraction(
                            entry_no=st.entry_no, postpone=again,
                            fields=ia.InteractionFields(description=rtoken)))
                        if r.gave_up:
                            st.uncertain = True
                            continue
                        if r.acked:
                            st.postponed = again
                            st.description = rtoken
                            st.acked_events.append((RESUMED_POSTPONED if again
                                                    else "interaction.resumed", st.entry_no))
                        else:
                            self.errors.append("resume refused: %s" % r.reply.status.message)
                    else:
                        r = cl.call("interaction", delete_postponed=ia.DeletePostponedInteractions(
                            entry_nos=[st.entry_no]))
                        if r.gave_up:
                            st.uncertain = st.maybe_deleted = True
                            continue
                        if r.acked:
                            st.deleted = True
                            st.acked_events.append(("interaction.postponed_deleted",
                                                    st.entry_no))
                        else:
                            self.errors.append("delete postponed refused: %s"
                                               % r.reply.status.message)
                        continue
                if not st.postponed and rnd.random() < 0.35:
                    r = cl.call("logwriter", set_entries_canceled=lw.SetEntriesCanceled(
                        entry_nos=[st.entry_no], canceled=True))
                    if not self.settled(st, r, "cancel"):
                        continue
                    st.canceled = True
                    st.acked_events.append(("entries.canceled", st.entry_no))
                    if rnd.random() < 0.5:
                        r = cl.call("logwriter", delete_canceled_entries=lw.DeleteCanceledEntries(
                            filter=lw.EntryFilter(entry_no_from=st.entry_no,
                                                  entry_no_to=st.entry_no)))
                        if not self.settled(st, r, "delete canceled of %d" % st.entry_no):
                            st.maybe_deleted = r.gave_up
                            continue
                        if r.reply.count.count != 1:
                            self.errors.append("delete canceled of %d: count %d" % (
                                st.entry_no, r.reply.count.count))
                            continue
                        st.deleted = True
                        st.acked_events.append(("entries.deleted", st.entry_no))
        except Exception as e:  # noqa: BLE001 - reported by the round
            self.errors.append("interaction actor %d: %r" % (idx, e))
        finally:
            cl.close()

    # -- segment actor
    def segment_actor(self, seed, idx, round_no):
        rnd = random.Random(seed)
        cl = self.client()
        try:
            n = 0
            while not self.stop.is_set():
                n += 1
                st = SegmentStory("R%dA%dS%d" % (round_no, idx, n))
                with self.lock:
                    self.segments.append(st)
                st.campaign = "CP1" if rnd.random() < 0.7 else ""
                r = cl.call("segment", create_segment=sg.CreateSegment(
                    no=st.no, fields=sg.SegmentFields(
                        description="seg " + st.no, salesperson_code="SP1",
                        interaction_template_code="MAIL", campaign_no=st.campaign)))
                if not self.settled(st, r, "create segment"):
                    continue
                st.created = True
                size = int(math.exp(rnd.uniform(0, math.log(MAX_SEGMENT))))
                picked = rnd.sample(range(N_CONTACTS), size)
                nos = ["K%05d" % i for i in picked]
                r = cl.call("segment", add_contacts=sg.AddContacts(segment_no=st.no,
                                                                   contact_nos=nos))
                if not self.settled(st, r, "add contacts"):
                    continue
                st.contacts = nos
                if rnd.random() < 0.15:
                    st.delete = cl.call("segment", delete_segment=sg.SegmentRef(segment_no=st.no))
                    if st.delete.gave_up:
                        st.uncertain = True
                    elif st.delete.acked:
                        st.deleted = True
                    else:
                        self.errors.append("delete segment refused: %s"
                                           % st.delete.reply.status.message)
                    continue
                st.follow_up = rnd.random() < 0.5
                st.log = cl.call("segment", log_segment=sg.LogSegment(
                    segment_no=st.no, create_follow_up=st.follow_up))
                if not self.settled(st, st.log, "log segment " + st.no):
                    continue
                if rnd.random() < 0.25:
                    r = cl.call("logwriter", set_logged_segment_canceled=lw.SetLoggedSegmentCanceled(
                        entry_no=st.log.reply.logged.logged_segment_no, canceled=True))
                    if r.gave_up:
                        st.uncertain = True
                    elif r.acked:
                        st.canceled = True
                        st.acked_events.append(("logged_segment.canceled",
                                                st.log.reply.logged.logged_segment_no))
                    else:
                        self.errors.append("cancel logged segment refused: %s"
                                           % r.reply.status.message)
        except Exception as e:  # noqa: BLE001
            self.errors.append("segment actor %d: %r" % (idx, e))
        finally:
            cl.close()


# ---------------------------------------------------------------- killer

class Killer:
    def __init__(self, rnd, cluster, journal):
        self.rnd, self.cluster, self.journal = rnd, cluster, journal
        self.stop = threading.Event()
        self.kills = 0
        self.fault_deaths = 0
        self.restarts = 0
        self.error = None

    def restart(self, name, arm):
        w = self.cluster[name]
        w.kill()
        env = {}
        if arm and FAULTS[name] and self.rnd.random() < 0.35:
            point = self.rnd.choice(FAULTS[name])
            env["RAPPORT_FAULT"] = "%s:%d" % (point, self.rnd.randint(1, 3))
        w.env = env
        self.journal.add("start", worker=name, fault=env.get("RAPPORT_FAULT", ""))
        w.start(wait=False)
        self.restarts += 1
        # Ready when it answers; it may die at once at an armed fault point.
        deadline = time.monotonic() + harness.scaled(30)
        while time.monotonic() < deadline:
            if not w.alive():
                return
            try:
                req = harness.REQUEST[name]()
                req.stats.SetInParent()
                self.cluster.call(name, req, timeout=0.5)
                return
            except Unavailable:
                self.cluster.reset_sock(name)
        raise RuntimeError("%s did not come back:\n%s" % (name, w.logtext()[-3000:]))

    def revive_dead(self, arm):
        for name in ("logwriter", "interaction", "segment"):
            w = self.cluster[name]
            if not w.alive():
                log = w.logtext()
                if "fault injection: killed at" in log[-2000:]:
                    self.fault_deaths += 1
                self.journal.add("died", worker=name, rc=w.proc.returncode)
                self.restart(name, arm)

    def run(self):
        try:
            while not self.stop.is_set():
                t_end = time.monotonic() + self.rnd.uniform(0.2, 1.2)
                while time.monotonic() < t_end and not self.stop.is_set():
                    self.revive_dead(True)
                    time.sleep(0.05)
                if self.stop.is_set():
                    break
                name = self.rnd.choice(["logwriter", "interaction", "segment", "segment",
                                        "logwriter"] + (RELAY.VICTIMS if RELAY else []))
                if RELAY and name in RELAY.VICTIMS:
                    self.kills += RELAY.kill(self.rnd, name, self.journal)
                    continue
                w = self.cluster[name]
                if w.alive():
                    w.proc.send_signal(signal.SIGKILL)
                    w.proc.wait()
                    self.kills += 1
                    self.journal.add("kill", worker=name)
                time.sleep(self.rnd.uniform(0.0, 0.4))
                self.restart(name, True)
            # leave every worker up and unarmed
            for name in ("logwriter", "interaction", "segment"):
                w = self.cluster[name]
                if not w.alive() or w.env.get("RAPPORT_FAULT"):
                    if w.alive():
                        w.proc.send_signal(signal.SIGKILL)
                        w.proc.wait()
                        self.kills += 1
                    self.restart(name, False)
        except Exception as e:  # noqa: BLE001
            self.error = e


# ---------------------------------------------------------------- checks

class Checker:
    def __init__(self, cluster, wl, events_live):
        self.cl, self.wl, self.live = cluster, wl, events_live
        self.counts = {}
        self.failures = []

    def check(self, inv, cond, msg):
        self.counts[inv] = self.counts.get(inv, 0) + 1
        if not cond:
            self.failures.append("%s: %s" % (inv, msg))

    def lw(self, **cmd):
        return self.cl.ok("logwriter", lw.LogRequest(**cmd), timeout=60)

    def seg(self, **cmd):
        return self.cl.call("segment", sg.SegmentRequest(**cmd), timeout=60)

    def all_entries(self):
        return self.cl.all_entries(timeout=60)

    def all_logged(self):
        return self.cl.list_all("logwriter", "list_logged_segments", "logged_segments",
                                timeout=60)

    def all_segments(self):
        return self.cl.list_all("segment", "list_segments", "segments", after="", timeout=60)

    def lines(self, no):
        out, after = [], 0
        while True:
            rep = self.cl.ok("segment", sg.SegmentRequest(list_lines=sg.ListLines(
                segment_no=no, after=after, limit=1000)), timeout=60)
            out.extend(rep.lines.lines)
            if len(rep.lines.lines) < 1000:
                return out
            after = rep.lines.lines[-1].line_no

    def replay(self, events):
        """The store as the event log says it is: (entry_no -> dict, the
        entry numbers created, logged segment no. -> SegmentLogged, and
        (event type, entry or logged segment no.) -> how many events name
        it). An event that names an entry or logged segment that no earlier
        event created fails I6."""
        model, created, lss, named = {}, set(), {}, {}

        def name(ev, no, known):
            named[(ev.type, no)] = named.get((ev.type, no), 0) + 1
            self.check("I6", no in known, "event %d (%s) names %d, which the log has not "
                       "created (or has deleted)" % (ev.seq, ev.type, no))
            return no in known

        def entry_nos(ev):
            return [no for rg in ev.entries.ranges for no in range(rg.first, rg.last + 1)]

        for ev in events:
            body = ev.WhichOneof("body")
            e = ev.entry
            if ev.type == "interaction.postponed" and model.get(e.entry_no, {}).get("postponed"):
                # a resume that keeps the entry postponed
                key = (RESUMED_POSTPONED, e.entry_no)
                named[key] = named.get(key, 0) + 1
            elif ev.type in ("interaction.logged", "interaction.postponed"):
                self.check("I6", e.entry_no not in created,
                           "event %d creates entry %d again" % (ev.seq, e.entry_no))
                created.add(e.entry_no)
                named[(ev.type, e.entry_no)] = named.get((ev.type, e.entry_no), 0) + 1
            elif ev.type == "interaction.resumed":
                if not name(ev, e.entry_no, model):
                    continue
            if ev.type in ("interaction.logged", "interaction.postponed", "interaction.resumed"):
                model[e.entry_no] = dict(postponed=e.postponed, canceled=e.canceled,
                                         lse=e.logged_segment_entry_no,
                                         description=e.description)
            elif ev.type in ("entries.canceled", "entries.uncanceled"):
                for no in entry_nos(ev):
                    if name(ev, no, model):
                        model[no]["canceled"] = ev.type == "entries.canceled"
            elif ev.type in ("entries.deleted", "interaction.postponed_deleted"):
                for no in entry_nos(ev):
                    if name(ev, no, model):
                        model.pop(no)
            elif ev.type == "segment.logged":
                s = ev.segment_logged
                lss[s.logged_segment_no] = s
                for no in range(s.first_entry_no, s.last_entry_no + 1):
                    self.check("I6", no not in created,
                               "event %d creates entry %d again" % (ev.seq, no))
                    created.add(no)
                    model[no] = dict(postponed=False, canceled=False,
                                     lse=s.logged_segment_no, description=s.description)
            elif ev.type in ("logged_segment.canceled", "logged_segment.uncanceled"):
                nos = {no for no in ev.logged_segments.logged_segment_nos if name(ev, no, lss)}
                for m in model.values():
                    if m["lse"] in nos:
                        m["canceled"] = ev.type == "logged_segment.canceled"
            elif ev.type == "logged_segments.deleted":
                nos = {no for no in ev.logged_segments.logged_segment_nos if name(ev, no, lss)}
                for m in model.values():
                    if m["lse"] in nos:
                        m["lse"] = 0
                for no in nos:
                    lss.pop(no)
            else:
                self.check("I6", False, "unexpected event type %s (body %s)" % (ev.type, body))
        return model, created, lss, named

    def acked_events(self, story, named):
        """I6: each event the story's acked commands promise is in the log,
        once."""
        for kind, no in story.acked_events:
            self.check("I6", named.get((kind, no), 0) == 1,
                       "acked %s of %d: %d such events in the log" % (
                           kind, no, named.get((kind, no), 0)))

    def run(self):
        wl = self.wl
        events = self.cl.read_events()
        seqs = [e.seq for e in events]
        self.check("I6", seqs == list(range(1, len(seqs) + 1)),
                   "event log seqs are not 1..%d (first %s, last %s)" % (
                       len(seqs), seqs[:1], seqs[-1:]))
        durable = {e.seq: e for e in events}
        for topic, ev in self.live:
            if topic == "segment.log.progress":
                continue
            d = durable.get(ev.seq)
            self.check("I6", d is not None and d.event_id == ev.event_id and d.type == topic,
                       "live event seq %d (%s) is not the durable one" % (ev.seq, topic))
        model, created, lss_model, named = self.replay(events)
        entries = self.all_entries()
        store = {e.entry_no: e for e in entries}
        # I6: the replayed event log is the store
        self.check("I6", set(store) == set(model),
                   "entries in the store but not in the event log: %s; in the log only: %s" % (
                       sorted(set(store) - set(model))[:10], sorted(set(model) - set(store))[:10]))
        for no, e in store.items():
            m = model.get(no)
            if m is None:
                continue
            self.check("I6", (e.postponed, e.canceled, e.logged_segment_entry_no,
                              e.description) == (m["postponed"], m["canceled"], m["lse"],
                                                 m["description"]),
                       "entry %d differs from the event log: store %s, log %s" % (
                           no, (e.postponed, e.canceled, e.logged_segment_entry_no,
                                e.description), m))
        # I3: gapless
        top = max(created) if created else 0
        self.check("I3", created == set(range(1, top + 1)),
                   "entry numbers never created: %s" % sorted(set(range(1, top + 1)) - created)[:20])
        self.check("I3", not store or max(store) <= top, "an entry beyond the last created")

        created_desc = {}
        for ev in events:
            if ev.type in ("interaction.logged", "interaction.postponed") and \
                    ev.entry.entry_no in created:
                created_desc.setdefault(ev.entry.description, set()).add(ev.entry.entry_no)
        # I1 / I2 for interaction entries
        known_tokens = set()
        for st in wl.entries:
            known_tokens.add(st.token)
            known_tokens.update(st.resume_tokens)
            made = created_desc.get(st.token, set())
            self.check("I1", len(made) <= 1, "%s created %d times: %s" % (st.token, len(made),
                                                                        sorted(made)))
            if st.create is None or st.create.refused:
                self.check("I2", not made, "%s refused but created as %s" % (st.token, made))
                continue
            if st.create.gave_up:
                continue  # the round fails on the give-up
            self.check("I1", made == {st.entry_no},
                       "acked create %s (entry %s) has creation events %s" % (
                           st.token, st.entry_no, sorted(made)))
            self.acked_events(st, named)
            e = store.get(st.entry_no)
            if st.deleted:
                self.check("I1", e is None, "entry %d was deleted (acked) but exists" % st.entry_no)
                continue
            if not st.maybe_deleted:
                self.check("I1", e is not None, "acked entry %d (%s) is missing" % (
                    st.entry_no, st.token))
            if e is None or st.uncertain:
                continue
            self.check("I1", (e.description, e.postponed, e.canceled) ==
                       (st.description, st.postponed, st.canceled),
                       "entry %d is %s, the acks say %s" % (
                           st.entry_no, (e.description, e.postponed, e.canceled),
                           (st.description, st.postponed, st.canceled)))
        for e in entries:
            if e.logged_segment_entry_no or e.segment_no:
                continue
            self.check("I2", e.description in known_tokens,
                       "entry %d (%s) matches no command" % (e.entry_no, e.description))

        # segments
        logged = self.all_logged()
        by_segment = {}
        for ls in logged:
            by_segment.setdefault(ls.segment_no, []).append(ls)
        segs = {s.no: s for s in self.all_segments()}
        for s in segs.values():
            self.check("I5", not s.logging, "segment %s left in LOGGING" % s.no)
        ours = {st.no for st in wl.segments}
        for ls in logged:
            self.check("I2", ls.segment_no in ours, "logged segment %d of unknown segment %s" % (
                ls.entry_no, ls.segment_no))
        seg_logged_events = {}
        for ev in events:
            if ev.type == "segment.logged":
                seg_logged_events.setdefault(ev.segment_logged.segment_no, []).append(
                    ev.segment_logged)
        ces = []
        after = 0
        while True:
            rep = self.lw(list_campaign_entries=lw.ListCampaignEntries(after=after, limit=1000))
            ces.extend(rep.campaign_entries.campaign_entries)
            if not rep.campaign_entries.next_after:
                break
            after = rep.campaign_entries.next_after
        ce_by_register = {}
        for ce in ces:
            ce_by_register.setdefault(ce.register_no, []).append(ce)
        for st in wl.segments:
            got = by_segment.get(st.no, [])
            evs = seg_logged_events.get(st.no, [])
            self.check("I1", len(got) <= 1 and len(evs) <= 1,
                       "segment %s logged %d times (%d events)" % (st.no, len(got), len(evs)))
            if st.log is None or st.log.refused or st.deleted or (
                    st.delete is not None and st.delete.refused):
                self.check("I2", not got and not evs, "segment %s logged without an acked "
                           "or retried LogSegment" % st.no)
                if st.deleted:
                    self.check("I1", st.no not in segs, "deleted segment %s exists" % st.no)
                elif st.created and st.log is None and st.delete is None:
                    # the actor stopped before logging it: it is there, filled
                    self.check("I1", st.no in segs, "created segment %s is missing" % st.no)
                    if st.no in segs and not st.uncertain:
                        self.check("I1", [l.contact_no for l in self.lines(st.no)] ==
                                   st.contacts, "segment %s: lines are not the contacts added"
                                   % st.no)
                continue
            if st.log.gave_up or st.uncertain and not st.log.acked:
                continue
            self.acked_events(st, named)
            out = st.log.reply.logged
            self.check("I1", len(got) == 1 and got[0].entry_no == out.logged_segment_no,
                       "acked log of %s: logged segments %s, reply %d" % (
                           st.no, [x.entry_no for x in got], out.logged_segment_no))
            self.check("I6", len(evs) == 1 and evs[0] == out,
                       "acked log of %s: segment.logged events differ from the reply" % st.no)
            if not got:
                continue
            ls = got[0]
            # I4: complete
            n = len(st.contacts)
            self.check("I4", (ls.no_of_interactions, out.entry_count) == (n, n),
                       "logged segment %d of %s has %d interactions, reply %d, lines %d" % (
                           ls.entry_no, st.no, ls.no_of_interactions, out.entry_count, n))
            rng = [store.get(no) for no in range(out.first_entry_no, out.last_entry_no + 1)]
            self.check("I4", all(e is not None and e.logged_segment_entry_no == ls.entry_no
                                 and (st.uncertain or e.canceled == st.canceled) for e in rng),
                       "logged segment %d: entries %d..%d missing, foreign or wrongly canceled"
                       % (ls.entry_no, out.first_entry_no, out.last_entry_no))
            self.check("I4", [e.contact_no for e in rng if e] == st.contacts,
                       "logged segment %d: entries are not the segment's contacts in line "
                       "order" % ls.entry_no)
            if st.campaign:
                mine = ce_by_register.get(ls.entry_no, [])
                self.check("I4", len(mine) == 1 and mine[0].campaign_no == st.campaign and
                           mine[0].no_of_entries == n and
                           (st.uncertain or mine[0].canceled == st.canceled),
                           "logged segment %d: campaign entries %s" % (
                               ls.entry_no, [(x.campaign_no, x.no_of_entries) for x in mine]))
                self.check("I4", all(e.campaign_entry_no == mine[0].entry_no for e in rng if e)
                           if mine else False,
                           "logged segment %d: entries without their campaign entry"
                           % ls.entry_no)
            else:
                self.check("I4", not ce_by_register.get(ls.entry_no),
                           "logged segment %d without campaign has campaign entries"
                           % ls.entry_no)
            self.check("I4", st.no not in segs, "logged segment %s still exists" % st.no)
            if st.follow_up:
                fu = out.follow_up_segment_no
                self.check("I4", fu in segs, "follow-up %r of %s is missing" % (fu, st.no))
                if fu in segs:
                    self.check("I4", [l.contact_no for l in self.lines(fu)] == st.contacts,
                               "follow-up %s of %s: lines are not the contacts" % (fu, st.no))
                    self.check("I4", segs[fu].description ==
                               ("Follow-up on segment " + st.no)[:50],
                               "follow-up %s description %r" % (fu, segs[fu].description))
            else:
                self.check("I4", not out.follow_up_segment_no,
                           "%s logged without follow-up names one" % st.no)
        # follow-ups exist only for acked (or retried) logs with follow-up
        fus = {st.log.reply.logged.follow_up_segment_no for st in wl.segments
               if st.log is not None and st.log.acked and st.follow_up}
        retried_fu = any(st.log is not None and st.log.gave_up and st.follow_up
                         for st in wl.segments)
        for no in segs:
            if no.startswith("FU"):
                self.check("I2", no in fus or retried_fu,
                           "follow-up segment %s matches no acked log" % no)
        return self.failures


# ---------------------------------------------------------------- a round

def seed_catalog(cl):
    def ix(**cmd):
        cl.ok("interaction", ia.InteractionRequest(**cmd), timeout=60)
    ix(put_group=ia.InteractionGroup(code="G1", description="Letters"))
    ix(put_group=ia.InteractionGroup(code="G2", description="Calls"))
    ix(put_campaign=ia.Campaign(no="CP1", description="Spring"))
    ix(put_salesperson=ia.Salesperson(code="SP1", name="Sales"))
    ix(put_template=ia.InteractionTemplate(code="LETTER", description="Letter",
                                           interaction_group_code="G1", unit_cost_cents=100))
    ix(put_template=ia.InteractionTemplate(code="CALL", description="Call",
                                           interaction_group_code="G2", unit_duration_min=5))
    ix(put_template=ia.InteractionTemplate(code="CAMP", description="Campaign call",
                                           interaction_group_code="G2", campaign_no="CP1"))
    ix(put_template=ia.InteractionTemplate(
        code="MAIL", description="Mailing", interaction_group_code="G1", unit_cost_cents=150,
        correspondence_type=c.CORRESPONDENCE_TYPE_HARD_COPY))
    nos = ["K%05d" % i for i in range(N_CONTACTS)]
    for first in range(0, N_CONTACTS, 3000):
        ix(import_contacts=ia.ImportContacts(contacts=[
            ia.Contact(no=no, name="n", type=c.CONTACT_TYPE_PERSON, salesperson_code="SP1")
            for no in nos[first:first + 3000]]))
    cl.ok("segment", sg.SegmentRequest(set_numbering=sg.SegmentNumbering(
        prefix="FU", next=1, width=6)), timeout=60)


def mdb_checks(checker, state_dir, stopped):
    for name in ("logwriter", "interaction", "segment"):
        env = os.path.join(state_dir, name)
        if not stopped:
            out = subprocess.run(["mdb_stat", "-rr", env], capture_output=True, text=True)
            m = re.search(r"(\d+) stale readers cleared", out.stdout)
            checker.check("I7", m is not None and m.group(1) == "0",
                          "mdb_stat -rr %s: %s%s" % (name, out.stdout[-300:], out.stderr[-300:]))
        else:
            out = subprocess.run(["mdb_stat", "-a", env], capture_output=True, text=True)
            checker.check("I7", out.returncode == 0 and "Status of Main DB" in out.stdout,
                          "mdb_stat -a %s exit %d: %s" % (name, out.returncode, out.stderr[-300:]))


def run_round(round_no, seed, duration, keep, quiet):
    rnd = random.Random(seed)
    journal = Journal()
    cl = Cluster(start=False)
    for w in cl.workers.values():
        w.extra_args = list(WORKER_ARGS)
    stats = dict(round=round_no, seed=seed)
    failures = []
    relay = RELAY.round(cl) if RELAY else None
    try:
        for w in ("logwriter", "interaction", "segment"):
            cl[w].start()
        seed_catalog(cl)
        if relay:
            relay.start(random.Random(rnd.random()), journal)
        sub = cl.subscribe()
        live = []
        sub_stop = threading.Event()

        def listen():
            while not sub_stop.is_set():
                if sub.poll(100):
                    topic, body = sub.recv_multipart()
                    ev = c.Event()
                    ev.ParseFromString(body)
                    live.append((topic.decode(), ev))
                    journal.add("event", seq=ev.seq, type=topic.decode())
        listener = threading.Thread(target=listen, daemon=True)
        listener.start()

        wl = Workload(rnd, cl, journal, cl.ctx)
        killer = Killer(random.Random(rnd.random()), cl, journal)
        actors = [threading.Thread(target=wl.interaction_actor, args=(rnd.random(), i))
                  for i in range(3)]
        actors += [threading.Thread(target=wl.segment_actor, args=(rnd.random(), i, round_no))
                   for i in range(2)]
        kt = threading.Thread(target=killer.run)
        for t in actors:
            t.start()
        kt.start()
        time.sleep(duration)
        killer.stop.set()
        kt.join(120)
        wl.stop.set()
        for t in actors:
            t.join(GIVE_UP_S * 3 + 60)
        if killer.error:
            raise killer.error
        if any(t.is_alive() for t in actors):
            raise RoundFailure("an actor did not finish")
        # recovery: nothing left in LOGGING
        deadline = time.monotonic() + 60
        checker = Checker(cl, wl, live)
        while time.monotonic() < deadline:
            if not any(s.logging for s in checker.all_segments()):
                break
            time.sleep(0.2)
        time.sleep(0.3)  # let the subscriber drain
        sub_stop.set()
        listener.join(5)
        failures = checker.run()
        if relay:
            relay.check(checker)
        mdb_checks(checker, cl.state_dir, stopped=False)
        for name in ("segment", "interaction", "logwriter"):
            rc = cl[name].stop(timeout=60)
            checker.check("I7", rc == 0, "%s exited %s at SIGTERM" % (name, rc))
        mdb_checks(checker, cl.state_dir, stopped=True)
        failures = checker.failures + ["actor: " + e for e in wl.errors]
        reqs = [r for cli in wl.clients for r in cli.requests]
        gave_up = [r for r in reqs if r.gave_up]
        if gave_up:
            failures.append("%d requests had no definitive answer within %.0f s (first: %s %s "
                            "to %s, sent %d times)" % (len(gave_up), GIVE_UP_S, gave_up[0].cmd,
                                                       gave_up[0].rid, gave_up[0].worker,
                                                       gave_up[0].sends))
        stats.update(
            requests=len(reqs), acked=sum(r.acked for r in reqs),
            refused=sum(r.refused for r in reqs), gave_up=sum(r.gave_up for r in reqs),
            resent=sum(r.sends > 1 for r in reqs), kills=killer.kills,
            fault_deaths=killer.fault_deaths, restarts=killer.restarts,
            segments_logged=sum(1 for st in wl.segments if st.log and st.log.acked),
            lines_logged=sum(len(st.contacts) for st in wl.segments if st.log and st.log.acked),
            events=len(live), checks=sum(checker.counts.values()),
            checks_by_invariant=dict(sorted(checker.counts.items())))
    except Exception as e:  # noqa: BLE001
        failures.append("round error: %r" % (e,))
    finally:
        if relay:
            stats.update(relay.stats())
            relay.close()
        if failures:
            try:
                journal.write(os.path.join(cl.dir, "journal.jsonl"))
            except OSError:
                pass
            os.environ["RAPPORT_KEEP_TEST_DIRS"] = "1"
        try:
            cl.close()
        except AssertionError as e:
            failures.append("sanitizer: %s" % e)
        if failures or keep:
            stats["dir"] = cl.dir
        if failures:
            os.environ.pop("RAPPORT_KEEP_TEST_DIRS", None)
    stats["failures"] = failures
    return stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--duration", type=float, default=6.0, help="seconds of kills per round")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--stop-on-failure", action="store_true")
    ap.add_argument("--relay", action="store_true", help="NATS and rapport-relay in every round")
    ap.add_argument("--nats-nodes", type=int, default=1, choices=(1, 3))
    ap.add_argument("--replica", action="store_true",
                    help="a read replica in every round, compared with the primary (I9)")
    args = ap.parse_args()
    if args.replica and not args.relay:
        ap.error("--replica needs --relay")
    if args.relay:
        global RELAY
        import crash_relay
        if not crash_relay.have_nats():
            print("nats-server is not installed: skipped", flush=True)
            return 77
        RELAY = crash_relay.RelayMode(args.nats_nodes, args.replica)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print("crash harness: %d rounds, seed %d, %.1f s of kills per round%s" % (
        args.rounds, seed, args.duration,
        ", relay mode (%d NATS node%s%s)" % (args.nats_nodes, "s" if args.nats_nodes > 1 else "",
                                             ", a read replica" if args.replica else "")
        if args.relay else ""), flush=True)
    total = dict(rounds=0, failed=0, requests=0, acked=0, kills=0, fault_deaths=0,
                 segments_logged=0, lines_logged=0, checks=0)
    if args.relay:
        total.update(relay_kills=0, nats_kills=0, stream_msgs=0)
    if args.replica:
        total.update(replica_kills=0, replica_reads_compared=0)
    t0 = time.monotonic()
    for i in range(args.rounds):
        st = run_round(i + 1, seed + i, args.duration, args.keep, args.quiet)
        total["rounds"] += 1
        for k in ("requests", "acked", "kills", "fault_deaths", "segments_logged",
                  "lines_logged", "checks", "relay_kills", "nats_kills", "stream_msgs",
                  "replica_kills", "replica_reads_compared"):
            if k in total:
                total[k] += st.get(k) or 0
        if st["failures"]:
            total["failed"] += 1
        print("round %d %s %s" % (i + 1, "FAIL" if st["failures"] else "ok",
                                  json.dumps({k: v for k, v in st.items() if k != "failures"})),
              flush=True)
        for f in st["failures"][:30]:
            print("    " + f, flush=True)
        if st["failures"] and args.stop_on_failure:
            break
    total["seconds"] = round(time.monotonic() - t0, 1)
    print("TOTAL " + json.dumps(total), flush=True)
    return 1 if total["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
