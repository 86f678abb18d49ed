"""A read replica (rapport-logwriter --replica) for the tests, and the
comparison of every read command on it against the primary at the same seq
(test_replica.py, the crash harness's --replica mode).

compare() sends each read to both, in pipelined batches on one socket per
side, and compares the replies field by field. Compared: every field of
the reply, its seq included (both must reflect the same seq). Not compared:
request_id and user_id, the request's own echo (the same request goes to
both, so they are equal anyway), and GetStats, which describes the
process (its gauges and counters), not the store."""
import os
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import TIME_SCALE, Worker, c, lw, zmq  # noqa: E402

# The replica answers LogRequests on its own socket, <run_dir>/replica.sock.
harness.REQUEST["replica"] = lw.LogRequest
harness.REPLY["replica"] = lw.LogReply
harness.STATS["replica"] = "stats"

TRI = (c.TRI_STATE_ANY, c.TRI_STATE_YES, c.TRI_STATE_NO)
IN_FLIGHT = 256  # requests sent before their replies are read


class NamedLogWriter(Worker):
    """A log writer on a state dir and sockets of its own, reached under
    `name` in the cluster (another host's writer)."""

    def __init__(self, cl, name, state, extra_args=()):
        self.state = state
        harness.REQUEST.setdefault(name, lw.LogRequest)
        harness.REPLY.setdefault(name, lw.LogReply)
        harness.STATS.setdefault(name, "stats")
        super().__init__(cl, "logwriter", [
            "--state-dir", state,
            "--set", "logwriter_endpoint=" + cl.endpoint(name),
            "--set", "events_endpoint=ipc://%s/%s-events.sock" % (cl.run_dir, name)]
            + list(extra_args))
        self.log_path = os.path.join(cl.dir, name + ".log")
        self.wname = name
        cl.workers[name] = self

    def start(self, wait=True):
        super().start(wait=False)
        if wait:
            self.cluster.wait_ready(self.wname)
        return self


class Replica(NamedLogWriter):
    """A log writer in replica mode, with its own state dir and sockets."""

    def __init__(self, cl, name="replica", extra_args=()):
        super().__init__(cl, name, os.path.join(cl.dir, name + "-state"), [
            "--replica",
            "--set", "replica_consumer=" + name,
            "--set", "replica_primary=" + cl.endpoint("logwriter")] + list(extra_args))


def primary_seq(cl):
    return cl.ok("logwriter", lw.LogRequest(
        read_events=lw.ReadEvents(from_seq=1, max=1))).events.last_seq


def caught_up(cl, name="replica", timeout=120):
    """The primary's newest seq, once the replica has applied it (a read
    with min_seq answers once it has)."""
    seq = primary_seq(cl)
    if not cl.workers[name].alive():
        raise AssertionError("%s exited:\n%s" % (name, cl.workers[name].logtext()))
    rep = cl.ok(name, lw.LogRequest(read_events=lw.ReadEvents(from_seq=1, max=1),
                                    min_seq=seq, timeout_ms=int(timeout * 1000 * TIME_SCALE)),
                timeout=timeout * TIME_SCALE + 5)
    if rep.seq < seq:
        raise AssertionError("%s answered min_seq %d at seq %d" % (name, seq, rep.seq))
    return seq


def diff(a, b, path="reply", out=None, limit=20):
    """Field-by-field differences of two messages of one type, as
    "path: primary != replica" (at most `limit`)."""
    out = [] if out is None else out
    for f in a.DESCRIPTOR.fields:
        if len(out) >= limit:
            break
        p = "%s.%s" % (path, f.name)
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if f.label == f.LABEL_REPEATED:
            if len(va) != len(vb):
                out.append("%s: %d items != %d" % (p, len(va), len(vb)))
            for i, (x, y) in enumerate(zip(va, vb)):
                if f.message_type is not None:
                    diff(x, y, "%s[%d]" % (p, i), out, limit)
                elif x != y:
                    out.append("%s[%d]: %r != %r" % (p, i, x, y))
        elif f.message_type is not None:
            if a.HasField(f.name) != b.HasField(f.name):
                out.append("%s: %s != %s" % (p, "set" if a.HasField(f.name) else "unset",
                                             "set" if b.HasField(f.name) else "unset"))
            elif a.HasField(f.name):
                diff(va, vb, p, out, limit)
        elif va != vb:
            out.append("%s: %r != %r" % (p, va, vb))
    if not out and a.SerializeToString(deterministic=True) != b.SerializeToString(
            deterministic=True):
        out.append("%s: unknown fields differ" % path)
    return out


class Comparer:
    """Sends reads to the primary and a replica, compares the replies."""

    def __init__(self, cl, name, seq):
        self.cl, self.name, self.seq = cl, name, seq
        self.socks = {}
        for side in ("logwriter", name):
            s = cl.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SNDHWM, 0)
            s.setsockopt(zmq.RCVHWM, 0)
            s.connect(cl.endpoint(side))
            self.socks[side] = s
        self.compared = 0
        self.by_kind = {}
        self.differences = []

    def close(self):
        for s in self.socks.values():
            s.close(0)

    def calls(self, side, reqs, timeout=60):
        """The encoded replies of one side to reqs (each with its own
        request_id), in order; all sent before any reply is read."""
        s = self.socks[side]
        out = {}
        ids = []
        for r in reqs:
            ids.append(r.request_id)
            s.send(r.SerializeToString())
        while len(out) < len(ids):
            if not s.poll(int(timeout * TIME_SCALE * 1000)):
                raise AssertionError("%s: %d of %d replies" % (side, len(out), len(ids)))
            data = s.recv_multipart()[-1]
            out[lw.LogReply.FromString(data).request_id] = data
        return [out[i] for i in ids]

    def run(self, items):
        """items: (what, LogRequest). Returns the primary's replies."""
        wants = []
        for first in range(0, len(items), IN_FLIGHT):
            chunk = items[first:first + IN_FLIGHT]
            reqs = [r for _, r in chunk]
            for r in reqs:  # the same request to both sides
                r.request_id = uuid.uuid4().hex.encode()
                r.user_id = "equivalence"
            want = self.calls("logwriter", reqs)
            got = self.calls(self.name, reqs)
            for (what, req), wb, gb in zip(chunk, want, got):
                self.compared += 1
                self.by_kind[what] = self.by_kind.get(what, 0) + 1
                w, g = lw.LogReply.FromString(wb), lw.LogReply.FromString(gb)
                # The same encoding is the same in every field; diff()
                # names the fields of replies that differ.
                d = [] if wb == gb else diff(w, g)
                for side, rep in (("primary", w), ("replica", g)):
                    if rep.seq != self.seq:
                        d.append("%s answered at seq %d, not %d" % (side, rep.seq, self.seq))
                if d and len(self.differences) < 50:
                    self.differences.append("%s %s: %s" % (
                        what, str(req).replace("\n", " ")[:200], "; ".join(d[:5])))
                wants.append(w)
        return wants

    def pages(self, what, make, result, page_limit=100000):
        """A paged listing, page after page, on both sides: make(after) is
        the request of the page after `after`; the next page starts at the
        primary's next_after (the replica's is compared with it)."""
        after, items = 0, []
        for _ in range(page_limit):
            rep = self.run([(what, make(after))])[0]
            page = getattr(rep, result)
            items.extend(getattr(page, result))
            if rep.status.code != c.OK or not page.next_after:
                break
            after = page.next_after
        return items


def compare(cl, name="replica", seq=None):
    """Every read command on the replica and the primary at the same seq
    (the primary must not move meanwhile): (count, {kind: count},
    differences). Reads: every event (ReadEvents in pages of 7, all at
    once, each type prefix); every listing of entries, paged (ascending in
    pages of 1000 and 97, descending, per contact, per flag, per code,
    segment and logged segment, per entry-no. and date range); every
    entry (entry show); the statistics by template and by group, all
    dates and one date; every logged segment, listed (pages of 2 and
    1000, per segment) and shown; the campaign entries, all and per
    campaign, paged."""
    seq = primary_seq(cl) if seq is None else seq
    cmp = Comparer(cl, name, seq)
    try:
        _compare(cmp, seq)
        if primary_seq(cl) != seq:
            cmp.differences.append("the primary moved from seq %d during the comparison" % seq)
        return cmp.compared, cmp.by_kind, cmp.differences
    finally:
        cmp.close()


def _list(**kw):
    def make(after):
        return lw.LogRequest(list_entries=lw.ListEntries(after=after, **kw))
    return make


def _compare(cmp, seq):
    R = lw.LogRequest
    # events
    cmp.run([("events by 7", R(read_events=lw.ReadEvents(from_seq=s, max=7)))
             for s in range(1, seq + 2, 7)])
    events = []
    for rep in cmp.run([("events", R(read_events=lw.ReadEvents(from_seq=s, max=1000)))
                        for s in range(1, seq + 1, 1000)]):
        events.extend(rep.events.events)
    for prefix in sorted({e.type.split(".")[0] + "." for e in events}):
        cmp.run([("events " + prefix, R(read_events=lw.ReadEvents(
            from_seq=1, max=100000, type_prefix=prefix)))])
    # entries
    entries = cmp.pages("list", _list(limit=1000), "entries")
    cmp.pages("list by 97", _list(limit=97), "entries")
    cmp.pages("list descending", _list(limit=1000, descending=True), "entries")
    cmp.run([("entry", R(get_entry=lw.GetEntry(entry_no=e.entry_no))) for e in entries] +
            [("missing entry", R(get_entry=lw.GetEntry(entry_no=no)))
             for no in (0, (entries[-1].entry_no if entries else 0) + 1, 10 ** 9)])
    contacts = sorted({e.contact_no for e in entries})
    cmp.run([("by contact", R(list_entries=lw.ListEntries(
        filter=lw.EntryFilter(contact_no=k), limit=50, descending=True))) for k in contacts])
    for k in contacts[:20]:
        cmp.pages("by contact paged", _list(filter=lw.EntryFilter(contact_no=k), limit=2),
                  "entries")
    for canceled in TRI:
        for postponed in TRI:
            cmp.pages("flags", _list(filter=lw.EntryFilter(canceled=canceled,
                                                           postponed=postponed), limit=1000),
                      "entries")
    for field in ("interaction_template_code", "interaction_group_code", "campaign_no",
                  "segment_no", "logged_segment_entry_no", "salesperson_code"):
        for v in sorted({getattr(e, field) for e in entries}):
            if v:
                cmp.pages(field, _list(filter=lw.EntryFilter(**{field: v}), limit=1000),
                          "entries")
    if entries:
        top = entries[-1].entry_no
        for lo, hi in ((1, top // 3), (top // 3, 2 * top // 3), (max(1, top - 5), top + 5)):
            cmp.pages("entry no. range", _list(filter=lw.EntryFilter(
                entry_no_from=lo, entry_no_to=hi), limit=1000, descending=hi > top), "entries")
        dates = sorted({e.date for e in entries})
        cmp.pages("date range", _list(filter=lw.EntryFilter(date_from=dates[0],
                                                            date_to=dates[-1]), limit=1000),
                  "entries")
    # statistics
    dates = sorted({e.date for e in entries})
    for g in (lw.STATISTICS_GROUP_BY_TEMPLATE, lw.STATISTICS_GROUP_BY_GROUP):
        cmp.run([("statistics", R(statistics=lw.GetEntryStatistics(group_by=g)))] +
                [("statistics of a date", R(statistics=lw.GetEntryStatistics(
                    group_by=g, date_from=d, date_to=d))) for d in dates[:3]])
    # logged segments
    lss = cmp.pages("logged", lambda a: R(list_logged_segments=lw.ListLoggedSegments(
        after=a, limit=1000)), "logged_segments")
    cmp.pages("logged by 2", lambda a: R(list_logged_segments=lw.ListLoggedSegments(
        after=a, limit=2)), "logged_segments")
    cmp.run([("logged segment", R(get_logged_segment=lw.GetLoggedSegment(entry_no=ls.entry_no)))
             for ls in lss] +
            [("missing logged segment", R(get_logged_segment=lw.GetLoggedSegment(
                entry_no=10 ** 9)))])
    cmp.run([("logged by segment", R(list_logged_segments=lw.ListLoggedSegments(
        segment_no=no, limit=1000))) for no in sorted({ls.segment_no for ls in lss})])
    # campaign entries
    ces = cmp.pages("campaign entries", lambda a: R(list_campaign_entries=lw.ListCampaignEntries(
        after=a, limit=1000)), "campaign_entries")
    cmp.pages("campaign entries by 3", lambda a: R(
        list_campaign_entries=lw.ListCampaignEntries(after=a, limit=3)), "campaign_entries")
    for no in sorted({ce.campaign_no for ce in ces} | {"NONE"}):
        cmp.pages("campaign entries of " + no, lambda a, no=no: R(
            list_campaign_entries=lw.ListCampaignEntries(after=a, limit=1000, campaign_no=no)),
            "campaign_entries")
