"""Client: calls to rapport-interaction, rapport-segment and
rapport-logwriter with the semantics of the `rapport` command.

- One DEALER per worker, opened at the first call, with rapport's socket
  options; a tcp endpoint is reached with CURVE (config.py).
- Every call gets a time-ordered unique request_id (new_request_id()),
  unless the caller names one (to retry a call across its own restarts).
- A call sends its request, waits for the reply carrying its request_id
  (replies may arrive out of order; late replies to earlier calls are
  skipped) and resends the very same bytes, so the same request_id, every
  `retry_interval` without an answer, and after an UNAVAILABLE,
  RESOURCE_EXHAUSTED or in-flight ABORTED reply (retryable()), until its
  deadline (`timeout` seconds). The
  workers keep the first reply of a request_id, so a retried request is
  applied once.
- A refusal raises the RapportError subclass of its code (errors.py); no
  answer in time raises DeadlineExceeded (or the last retryable refusal),
  and a tcp worker that refused this client's CURVE key Unauthenticated.
- `exchange()` sends many requests at once (pipelining) with the same
  retries, for a service with many commands to send.

The commands are those of each worker's request `oneof command` in the
.proto files: `client.interaction.create_interaction(...)`,
`client.segment.log_segment(...)`, `client.logwriter.read_events(...)`; a
command name only one worker has is also a method of the client itself
(`client.create_interaction(...)`). A method takes the command message, or
its fields as keyword arguments, and returns the reply's result (the set
member of its `oneof result`, None when there is none).

A Client is not thread-safe (ZeroMQ sockets are not): use one per thread."""
import functools
import os
import threading
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from rapport import errors
from rapport.config import Config
from rapport.v1 import common_pb2, interaction_pb2, logwriter_pb2, segment_pb2

# worker -> (request type, reply type)
MESSAGES = {
    "interaction": (interaction_pb2.InteractionRequest, interaction_pb2.InteractionReply),
    "segment": (segment_pb2.SegmentRequest, segment_pb2.SegmentReply),
    "logwriter": (logwriter_pb2.LogRequest, logwriter_pb2.LogReply),
}
RETRYABLE = (common_pb2.UNAVAILABLE, common_pb2.RESOURCE_EXHAUSTED)


def retryable(status):
    """Whether a refusal may go away when the same request is sent again:
    UNAVAILABLE, RESOURCE_EXHAUSTED, and the ABORTED of a request whose
    request_id is still on its way to the log writer (its outcome is not
    known yet)."""
    return status.code in RETRYABLE or (status.code == common_pb2.ABORTED and
                                        status.field == "request_id")
DEFAULT_TIMEOUT = 10.0


@functools.lru_cache(maxsize=None)
def commands(worker):
    """{command name: its message class} of a worker's `oneof command`."""
    desc = MESSAGES[worker][0].DESCRIPTOR
    return {f.name: f.message_type._concrete_class
            for f in desc.oneofs_by_name["command"].fields}


_id_lock = threading.Lock()
_id_last = [0, 0]  # milliseconds, sequence within them


def new_request_id():
    """A request_id: 32 hex characters, the Unix time in milliseconds (12),
    a sequence number (4) that keeps ids of the same millisecond ordered
    within the process, and 64 random bits. Ids sort by creation time."""
    ms = time.time_ns() // 1000000
    with _id_lock:
        if ms <= _id_last[0]:
            ms, seq = _id_last[0], _id_last[1] + 1
            if seq > 0xFFFF:
                ms, seq = ms + 1, 0
        else:
            seq = 0
        _id_last[0], _id_last[1] = ms, seq
    return ("%012x%04x" % (ms, seq)).encode() + os.urandom(8).hex().encode()


def result(reply):
    """The set member of a reply's `oneof result`, or None."""
    which = reply.WhichOneof("result")
    return getattr(reply, which) if which else None


class Client:
    """Connection to the workers. `config`: a Config, or the path of a
    rapport.conf (default: $RAPPORT_CONFIG, else /etc/rapport/rapport.conf);
    `settings` override config keys (interaction_endpoint=..., run_dir=...,
    curve_server_key_dir=..., curve_client_secret_key_file=...).
    `user_id`: recorded on requests over ipc (default $USER; over tcp the
    key's user id wins). `timeout`: each call's deadline in seconds, unless
    the call names its own; `retry_interval` defaults to a quarter of it.
    `secret_key` and `server_keys`: CURVE keys as Z85 text (config.Config)."""

    def __init__(self, config=None, *, user_id=None, timeout=DEFAULT_TIMEOUT, retry_interval=None,
                 context=None, secret_key=None, server_keys=None, **settings):
        self.config = config if isinstance(config, Config) else Config(
            config, secret_key=secret_key, server_keys=server_keys, **settings)
        self.user_id = user_id or os.environ.get("USER") or "python"
        self.timeout, self.retry_interval = timeout, retry_interval
        self._ctx = context or zmq.Context.instance()
        self._socks, self._monitors = {}, {}
        self._refused = set()
        for worker in MESSAGES:
            setattr(self, worker, _WORKER_CLASSES[worker](self))

    def close(self):
        for name, s in self._socks.items():
            if name in self._monitors:
                s.disable_monitor()
                self._monitors[name].close(0)
            s.close(0)
        self._socks, self._monitors = {}, {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def socket(self, worker):
        """The DEALER to a worker (for zmq.Poller in an event loop)."""
        if worker not in self._socks:
            s = self.config.socket(self._ctx, zmq.DEALER, worker)
            if self.config.endpoint(worker).startswith("tcp://"):
                self._monitors[worker] = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
            self._socks[worker] = s
        return self._socks[worker]

    def request(self, worker, command, message=None, request_id=None, user_id=None, **fields):
        """A worker's request message for `command`, with its envelope."""
        req_type = MESSAGES[worker][0]
        if command not in commands(worker):
            raise ValueError("%s has no command %r" % (req_type.DESCRIPTOR.name, command))
        req = req_type(request_id=request_id or new_request_id(),
                       user_id=user_id or self.user_id)
        body = getattr(req, command)
        body.SetInParent()
        if message is not None:
            body.CopyFrom(message)
        for key, value in fields.items():
            if hasattr(value, "DESCRIPTOR") or isinstance(value, (list, tuple)):
                field = getattr(body, key)
                if isinstance(value, (list, tuple)):
                    field.extend(value)
                else:
                    field.CopyFrom(value)
            else:
                setattr(body, key, value)
        return req

    def call(self, worker, command, message=None, *, timeout=None, request_id=None, user_id=None,
             **fields):
        """Run one command and return the whole reply (status OK)."""
        req = self.request(worker, command, message, request_id, user_id, **fields)
        return self.send(worker, req, timeout)

    def send(self, worker, req, timeout=None):
        """Send a request message (its request_id set) with retries and
        return its reply; raises on a refusal or no answer."""
        reply = self.exchange(worker, [req], timeout)[0]
        if isinstance(reply, errors.RapportError):
            raise reply
        return reply

    def exchange(self, worker, reqs, timeout=None):
        """Pipelining: send every request message of `reqs` (each with its
        own request_id) at once and wait for all their replies, with the
        retries of a single call, within one deadline. Returns, in the order
        of `reqs`, each reply (status OK) or the RapportError it would have
        raised. A worker takes what arrives together in one group commit."""
        timeout = self.timeout if timeout is None else timeout
        retry = self.retry_interval or max(timeout / 4, 0.001)
        index = {req.request_id: i for i, req in enumerate(reqs)}
        if len(index) != len(reqs) or b"" in index:
            raise ValueError("every request needs its own request_id")
        data = [req.SerializeToString() for req in reqs]
        out = [None] * len(reqs)
        waiting = set(range(len(reqs)))  # no final answer yet
        s = self.socket(worker)
        deadline = time.monotonic() + timeout
        next_send = 0.0
        while waiting:
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_send:
                for i in sorted(waiting):
                    try:
                        s.send(data[i], zmq.NOBLOCK)
                    except zmq.Again:
                        break  # queue full: the next round sends the rest
                next_send = now + retry
            if not s.poll(max(1, int((min(next_send, deadline) - now) * 1000))):
                continue
            while s.poll(0):
                reply = MESSAGES[worker][1]()
                try:
                    reply.ParseFromString(s.recv_multipart()[-1])
                except Exception:  # noqa: BLE001 - not a reply: keep waiting
                    continue
                i = index.get(reply.request_id)
                if i is None or i not in waiting:
                    continue  # a late reply to an earlier request, or a repeat
                if reply.status.code == common_pb2.OK:
                    out[i] = reply
                    waiting.discard(i)
                    continue
                out[i] = errors.from_status(reply.status, reply.request_id)
                if not retryable(reply.status):
                    waiting.discard(i)
        for i in waiting:
            if out[i] is None:  # else the retryable refusal stands
                out[i] = self._silence(worker, timeout, reqs[i].request_id)
        return out

    def _silence(self, worker, timeout, rid):
        """The error for no answer by the deadline."""
        if self._key_refused(worker):
            return errors.error(common_pb2.UNAUTHENTICATED,
                                "rapport-%s at %s refused this client's CURVE key" %
                                (worker, self.config.endpoint(worker)), request_id=rid)
        return errors.error(common_pb2.DEADLINE_EXCEEDED, "no answer from rapport-%s at %s "
                            "within %g s" % (worker, self.config.endpoint(worker), timeout),
                            request_id=rid)

    def _key_refused(self, worker):
        mon = self._monitors.get(worker)
        while mon is not None and mon.poll(0):
            if recv_monitor_message(mon)["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self._refused.add(worker)
        return worker in self._refused


class _Worker:
    """The commands of one worker, as methods."""
    name = None

    def __init__(self, client):
        self._client = client

    def __repr__(self):
        return "<rapport %s commands>" % self.name


def _method(worker, command, cls):
    def call(self, message=None, /, *, timeout=None, request_id=None, user_id=None, **fields):
        client = self if isinstance(self, Client) else self._client
        return result(client.call(worker, command, message, timeout=timeout,
                                  request_id=request_id, user_id=user_id, **fields))
    call.__name__ = command
    call.__doc__ = ("rapport-%s %s: a %s (the message or its fields); returns the reply's "
                    "result." % (worker, command, cls.DESCRIPTOR.name))
    return call


_WORKER_CLASSES = {}
_seen = {}
for _worker in MESSAGES:
    _methods = {"name": _worker, "__doc__": "rapport-%s's commands." % _worker}
    for _command, _cls in commands(_worker).items():
        _methods[_command] = _method(_worker, _command, _cls)
        _seen.setdefault(_command, []).append(_methods[_command])
    _WORKER_CLASSES[_worker] = type(_worker.capitalize() + "Commands", (_Worker,), _methods)
for _command, _fns in _seen.items():
    if len(_fns) == 1 and not hasattr(Client, _command):
        setattr(Client, _command, _fns[0])
