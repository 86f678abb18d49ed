"""Where the workers are and how to reach them: the `key = value` file the
workers and the `rapport` command read (rapport.conf), with the same
precedence: explicit settings > RAPPORT_<KEY> environment > file > defaults.

Only the keys a client needs are interpreted; the others are accepted and
ignored (the workers check them)."""
import os

import zmq

DEFAULT_FILE = "/etc/rapport/rapport.conf"
WORKERS = ("interaction", "segment", "logwriter")
# The events endpoint is the log writer's PUB: its server key is the writer's.
SERVER_OF = {"interaction": "interaction", "segment": "segment", "logwriter": "logwriter",
             "events": "logwriter"}

DEFAULTS = {
    "run_dir": "./var/run",
    "interaction_endpoint": "",
    "segment_endpoint": "",
    "logwriter_endpoint": "",
    "events_endpoint": "",
    "sndhwm": "100000",
    "rcvhwm": "100000",
    "max_msg_size": "4194304",
    "handshake_timeout_ms": "5000",
    "curve_server_key_dir": "",
    "curve_client_secret_key_file": "",
    "curve_secret_key_file": "",
}


class ConfigError(Exception):
    """A configuration that cannot work: a bad line, a missing or bad key."""


def _int(key, value):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(value[-1:].upper(), 1)
    try:
        return int(value[:-1] if mult > 1 else value) * mult
    except ValueError:
        raise ConfigError("%s: not an integer: %r" % (key, value)) from None


def _parse(path):
    """{key: value} of a rapport.conf file."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            key, eq, value = line.partition("=")
            if not eq:
                raise ConfigError("%s:%d: expected key = value" % (path, n))
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out[key.strip()] = value
    return out


def read_key_file(path, secret):
    """The Z85 key of a key file made by `rapport keygen`: `secret-key = ...`
    (secret) or `public-key = ...`, or a bare 40-character key on a line."""
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, eq, value = line.partition("=")
            if not eq and len(line) == 40:
                return line
            if eq and key.strip() == ("secret-key" if secret else "public-key"):
                return value.strip()
    raise ConfigError("%s: no %s key" % (path, "secret" if secret else "public"))


class Config:
    """The settings a client needs. `path`: a rapport.conf (default:
    $RAPPORT_CONFIG, else /etc/rapport/rapport.conf when it exists, else
    none). `settings` override everything, by config key
    (interaction_endpoint="tcp://...", curve_client_secret_key_file=...).
    Keys may also be given as Z85 text instead of files: `secret_key` (this
    client's secret key) and `server_keys` ({"interaction": public key, ...};
    the events endpoint uses the logwriter's)."""

    def __init__(self, path=None, *, secret_key=None, server_keys=None, **settings):
        self.secret_key, self.server_keys = secret_key, dict(server_keys or {})
        values = dict(DEFAULTS)
        path = path or os.environ.get("RAPPORT_CONFIG")
        if path is None and os.path.exists(DEFAULT_FILE):
            path = DEFAULT_FILE
        if path:
            values.update(_parse(path))
        for key in values:
            env = os.environ.get("RAPPORT_" + key.upper())
            if env is not None:
                values[key] = env
        values.update({k: str(v) for k, v in settings.items() if v is not None})
        self.values = values
        for key in ("sndhwm", "rcvhwm", "max_msg_size", "handshake_timeout_ms"):
            setattr(self, key, _int(key, values[key]))

    def endpoint(self, name):
        """Endpoint of a worker's ROUTER (interaction, segment, logwriter) or of
        the event PUB (events): ipc://<run_dir>/<name>.sock unless set."""
        ep = self.values.get(name + "_endpoint", "")
        return ep or "ipc://%s/%s.sock" % (self.values["run_dir"], name)

    def socket(self, ctx, kind, name, rcvhwm=None):
        """A socket of `kind` connected to endpoint `name`, with the options
        rapport's own sockets use; a tcp endpoint gets CURVE with the
        worker's public key and this client's key pair."""
        ep = self.endpoint(name)
        s = ctx.socket(kind)
        try:
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SNDHWM, self.sndhwm)
            s.setsockopt(zmq.RCVHWM, rcvhwm or self.rcvhwm)
            # As the C client: a reply may be up to 4x max_msg_size.
            s.setsockopt(zmq.MAXMSGSIZE, 4 * self.max_msg_size)
            if ep.startswith("tcp://"):
                s.setsockopt(zmq.HANDSHAKE_IVL, self.handshake_timeout_ms)
                s.setsockopt(zmq.HEARTBEAT_IVL, 5000)
                s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 15000)
                s.setsockopt(zmq.HEARTBEAT_TTL, 15000)
                self._curve(s, name)
            s.connect(ep)
        except BaseException:
            s.close(0)
            raise
        return s

    def _curve(self, s, name):
        server = SERVER_OF[name]
        key_dir = self.values["curve_server_key_dir"]
        secret_file = (self.values["curve_client_secret_key_file"] or
                       self.values["curve_secret_key_file"])
        if server in self.server_keys:
            server_key = self.server_keys[server]
        elif key_dir:
            server_key = read_key_file(os.path.join(key_dir, server + ".pub"), False)
        else:
            raise ConfigError("a tcp endpoint needs the worker's public key: set "
                              "curve_server_key_dir (a directory holding %s.pub)" % server)
        if self.secret_key:
            secret = self.secret_key
        elif secret_file:
            secret = read_key_file(secret_file, True)
        else:
            raise ConfigError("a tcp endpoint needs a CURVE client key: set "
                              "curve_client_secret_key_file (see rapport keygen)")
        s.curve_serverkey = server_key.encode()
        s.curve_secretkey = secret.encode()
        s.curve_publickey = zmq.curve_public(secret.encode())
