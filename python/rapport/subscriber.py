"""Subscriber: the log writer's events, each durable one exactly once and
in seq order, from a saved seq.

Durable events have gapless seqs from 1. The PUB socket drops events for a
subscriber that does not keep up (past the high-water marks), and a
subscriber that was not connected missed some; so the Subscriber reads
the PUB stream only while it is contiguous with what it handed out, and
otherwise replays from the writer's durable log with ReadEvents, page by
page, until it has caught up. When the stream is quiet it asks the log
for what came after its seq every `idle_check` seconds, so that the last
events before a silence are never held back by a drop.

`seq` is the seq of the last durable event handed out (or passed over by
the `types` filter). An application that persists `seq` after handling
each event, and passes it back as `after_seq` when it starts again, sees
every event exactly once: exactly once across crashes when it stores the
seq in the same transaction as the event's effect."""
import collections
import time

import zmq

from rapport import errors
from rapport.client import Client
from rapport.v1 import common_pb2

PROGRESS = "segment.log.progress"  # published only, seq 0
NEWEST = (1 << 64) - 1


class Subscriber:
    """Events after `after_seq` (0: from the first retained one; None: only
    events to come). `client`: a Client, or a Config / config path for a
    new one. `types`: type prefixes to hand out (default all); the others
    are passed over. `include_progress`: also hand out the
    segment.log.progress notifications (seq 0, never replayed). `rcvhwm`:
    the SUB socket's receive high-water mark (default the config's).
    `page`: events per ReadEvents. Raises DataLoss when the events after
    after_seq are no longer retained (event_retention_days), and the
    client's errors when the log writer does not answer a replay (the next
    get() goes on from the same seq). Not thread-safe, as its client."""

    def __init__(self, client=None, *, after_seq=0, types=(), include_progress=False,
                 idle_check=1.0, rcvhwm=None, page=1000):
        self._own_client = not isinstance(client, Client)
        self.client = client if not self._own_client else Client(client)
        self.types, self.include_progress = tuple(types), include_progress
        self.idle_check, self.page = idle_check, page
        self._pending = collections.deque()
        self._sub = self.client.config.socket(self.client._ctx, zmq.SUB, "events", rcvhwm)
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        if after_seq is None:
            after_seq = self._read(NEWEST, 1).last_seq
        self.seq = after_seq
        self._behind = True  # catch up from the log first
        self.replayed = 0  # events taken from the log rather than the PUB

    def close(self):
        self._sub.close(0)
        if self._own_client:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return self

    def __next__(self):
        return self.get()

    def get(self, timeout=None):
        """The next event, waiting at most `timeout` seconds (None: for
        ever); None when none came."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            while self._pending:
                ev = self._pending.popleft()
                self.seq = ev.seq
                if self._wanted(ev):
                    return ev
            if self._behind:
                self._fetch()
                continue
            wait = self.idle_check
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
            if wait > 0 and self._sub.poll(max(1, int(wait * 1000))):
                ev = self._receive()
                if ev is not None and ev.seq == 0:
                    return ev
                continue
            self._fetch()  # quiet: did the stream drop the newest events?
            if not self._pending and deadline is not None and time.monotonic() >= deadline:
                return None

    def _wanted(self, ev):
        return not self.types or ev.type.startswith(self.types)

    def _receive(self):
        """Take one published event: queue it when it follows seq, note a
        gap (replayed from the log) when it does not. Returns a progress
        notification to hand out."""
        topic, body = self._sub.recv_multipart()[-2:]
        ev = common_pb2.Event()
        ev.ParseFromString(body)
        if ev.seq == 0:
            return ev if self.include_progress and self._wanted(ev) else None
        if ev.seq == self.seq + 1:
            self._pending.append(ev)
        elif ev.seq > self.seq + 1:
            self._behind = True
        return None

    def _read(self, from_seq, max_events):
        return self.client.logwriter.read_events(from_seq=from_seq, max=max_events)

    def _fetch(self):
        """One ReadEvents page after seq; caught up when it reaches the end."""
        batch = self._read(self.seq + 1, self.page)
        if batch.first_seq > self.seq + 1:
            raise errors.error(common_pb2.DATA_LOSS,
                               "events %d..%d are no longer retained (the oldest is %d)" %
                               (self.seq + 1, batch.first_seq - 1, batch.first_seq))
        fresh = [ev for ev in batch.events if ev.seq > self.seq]
        self._pending.extend(fresh)
        self.replayed += len(fresh)
        self._behind = batch.next_seq <= batch.last_seq
