"""The `rapport` command against a real cluster: every command of issues 2
and 3, with and without --json, and the exit codes 0 (ok), 1 (refused), 2
(usage) and 3 (unreachable).

The binary comes from RAPPORT_BIN_DIR and runs as a subprocess with
RAPPORT_CONFIG=/dev/null and --run-dir pointing at the test cluster. Every
--json output is parsed as one document and checked against the protobuf
descriptor of the result (keys = proto field names, enums lower-case
hyphenated names, dates YYYY-MM-DD, times HH:MM:SS); a few are also
compared with what the workers answer over the wire."""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from google.protobuf.descriptor import FieldDescriptor as FD

from harness import BIN_DIR, TODAY, ClusterTest, c, ia, lw, sg, zmq

RAPPORT = os.path.join(BIN_DIR, "rapport")

ENUM_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME_RE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})$")
ENTRY_NO_RE = re.compile(r"^\d+\n$")

INTS = (FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_SINT32,
        FD.TYPE_SINT64, FD.TYPE_FIXED32, FD.TYPE_FIXED64, FD.TYPE_SFIXED32, FD.TYPE_SFIXED64)

NUMBERING_TEXT = "Segment Nos. must have a value in Marketing Setup."


def no_record(table, field, key):
    return "The %s does not exist. Identification fields and values: %s='%s'" % (
        table, field, key)


# ---- JSON <-> protobuf ------------------------------------------------------


def _enum_number(ed, name):
    prefix = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", ed.name).upper() + "_"
    base = name.upper().replace("-", "_")
    for cand in (prefix + base, base):
        if cand in ed.values_by_name:
            return ed.values_by_name[cand].number
    raise AssertionError("%r is no value of enum %s" % (name, ed.full_name))


def _is_date(fd):
    return fd.type in (FD.TYPE_UINT32, FD.TYPE_FIXED32) and (
        fd.name == "date" or fd.name.endswith("_date") or fd.name in ("date_from", "date_to"))


def _is_time(fd):
    return fd.type in (FD.TYPE_UINT32, FD.TYPE_FIXED32) and fd.name == "time_of_interaction"


def _scalar(fd, v, path):
    if fd.type == FD.TYPE_ENUM:
        assert isinstance(v, str) and ENUM_RE.match(v), "%s: enum %r" % (path, v)
        return _enum_number(fd.enum_type, v)
    if _is_date(fd):
        assert isinstance(v, str) and (v == "" or DATE_RE.match(v)), "%s: date %r" % (path, v)
        return int(v.replace("-", "")) if v else 0
    if _is_time(fd):
        m = TIME_RE.match(v) if isinstance(v, str) else None
        assert m, "%s: time %r" % (path, v)
        return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    if fd.type == FD.TYPE_BOOL:
        assert isinstance(v, bool), "%s: bool %r" % (path, v)
        return v
    if fd.type == FD.TYPE_STRING:
        assert isinstance(v, str), "%s: string %r" % (path, v)
        return v
    if fd.type == FD.TYPE_BYTES:
        assert isinstance(v, str), "%s: bytes as text %r" % (path, v)
        return v.encode()
    if fd.type in INTS:
        assert isinstance(v, int) and not isinstance(v, bool), "%s: integer %r" % (path, v)
        return v
    if fd.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        assert v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)), \
            "%s: number %r" % (path, v)
        return float(v or 0)
    raise AssertionError("%s: unexpected field type %d" % (path, fd.type))


def from_json(doc, cls, path="$"):
    """Check doc against the message type cls (every field present under its
    proto name, at most one member per oneof, values spelled as the CLI
    promises) and return it as a cls message."""
    assert isinstance(doc, dict), "%s: expected an object, got %r" % (path, doc)
    desc = cls.DESCRIPTOR
    plain = {fd.name for fd in desc.fields if fd.containing_oneof is None}
    missing = plain - set(doc)
    assert not missing, "%s (%s): missing keys %s" % (path, desc.name, sorted(missing))
    seen_oneofs = set()
    for k in set(doc) - plain:
        fd = desc.fields_by_name.get(k)
        assert fd is not None, "%s (%s): unknown key %r" % (path, desc.name, k)
        assert fd.containing_oneof.name not in seen_oneofs, "%s: two members of %s" % (
            path, fd.containing_oneof.name)
        seen_oneofs.add(fd.containing_oneof.name)
    msg = cls()
    for k, v in doc.items():
        fd = desc.fields_by_name[k]
        p = "%s.%s" % (path, k)
        if fd.label == FD.LABEL_REPEATED:
            assert isinstance(v, list), "%s: expected a list, got %r" % (p, v)
            for i, item in enumerate(v):
                if fd.type == FD.TYPE_MESSAGE:
                    sub = getattr(msg, k).add()
                    sub.CopyFrom(from_json(item, type(sub), "%s[%d]" % (p, i)))
                else:
                    getattr(msg, k).append(_scalar(fd, item, "%s[%d]" % (p, i)))
        elif fd.type == FD.TYPE_MESSAGE:
            sub = getattr(msg, k)
            sub.CopyFrom(from_json(v, type(sub), p))
        else:
            setattr(msg, k, _scalar(fd, v, p))
    return msg


def parse_fields(out):
    """Top-level "field: value" lines of a record as printed for humans."""
    d = {}
    for line in out.splitlines():
        m = re.match(r"^(\w+):(?: +(.*))?$", line)
        if m:
            d[m.group(1)] = m.group(2) or ""
    return d


class LineReader:
    """Lines of a child's stdout with a deadline (no blocking readline)."""

    def __init__(self, proc):
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def next(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no line within %.0f s; have %r" % (timeout, self.buf))
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise AssertionError("stdout closed; have %r" % self.buf)
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()


def cli_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update({"RAPPORT_CONFIG": "/dev/null", "TZ": "UTC", "USER": "tester"})
    return env


class CliMixin:
    """Running `rapport` and checking its outputs."""
    run_dir = None

    def rapport(self, *args, rc=0, run_dir=None, timeout=120):
        argv = [RAPPORT, "--run-dir", run_dir or self.run_dir] + [str(a) for a in args]
        p = subprocess.run(argv, capture_output=True, env=cli_env(), timeout=timeout)
        out, err = p.stdout.decode(), p.stderr.decode()
        if rc is not None:
            self.assertEqual(p.returncode, rc, "rapport %s\nstdout: %s\nstderr: %s" % (
                " ".join(argv[3:]), out, err))
        return out, err

    def ok(self, *args):
        """Human output of a command that must succeed quietly on stderr."""
        out, err = self.rapport(*args)
        self.assertEqual(err, "", "rapport %s" % " ".join(map(str, args)))
        return out

    def js(self, *args, cls=None):
        """--json output: exactly one document on stdout, nothing on stderr;
        checked against cls when given."""
        out, err = self.rapport("--json", *args)
        self.assertEqual(err, "")
        doc = json.loads(out)
        if cls is not None:
            from_json(doc, cls)
        return doc

    def refused(self, *args, code, message, field=None):
        """Exit 1 both ways: the message on stderr, and with --json one JSON
        object {"code","message","field"} on stderr; nothing on stdout."""
        out, err = self.rapport(*args, rc=1)
        self.assertEqual(out, "")
        self.assertEqual(err, "rapport: %s\n" % message)
        out, err = self.rapport("--json", *args, rc=1)
        self.assertEqual(out, "")
        doc = json.loads(err)
        self.assertEqual(set(doc), {"code", "message", "field"})
        self.assertRegex(doc["code"], ENUM_RE)
        self.assertEqual(doc["code"], code)
        self.assertEqual(doc["message"], message)
        self.assertIsInstance(doc["field"], str)
        if field is not None:
            self.assertEqual(doc["field"], field)
        return doc

    def usage(self, *args, expect=None):
        """Exit 2 with and without --json; nothing on stdout."""
        for pre in ((), ("--json",)):
            out, err = self.rapport(*(pre + tuple(args)), rc=2)
            self.assertEqual(out, "", args)
            self.assertTrue(err.startswith("rapport: "), err)
            if expect:
                self.assertIn(expect, err)

    def table(self, out, *headers):
        """The rows of a table after checking its header row."""
        lines = out.splitlines()
        self.assertTrue(lines, "no header row")
        cols = re.split(r"\s{2,}", lines[0].strip())
        for h in headers:
            self.assertIn(h, cols, lines[0])
        return lines[1:]

    def first_col(self, out, *headers):
        return [row.split()[0] for row in self.table(out, *headers)]


# ---- without a cluster --------------------------------------------------------


class CliOfflineTest(CliMixin, unittest.TestCase):
    """Help, usage errors (2) and unreachable workers (3)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rapport-cli-")
        self.run_dir = self.dir  # no worker listens here

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_help_lists_every_command(self):
        out, err = self.rapport("--help")
        self.assertEqual(err, "")
        for cmd in ("group put", "group list", "group stats", "template put", "template language",
                    "template list", "template show", "template stats", "contact put",
                    "contact import", "contact list", "contact show", "salesperson put",
                    "campaign put", "interaction create", "interaction resume",
                    "interaction postponed", "interaction delete-postponed", "entry show",
                    "entry cancel", "entry uncancel", "entries", "entries delete-canceled",
                    "events", "stats", "segment numbering", "segment create", "segment set",
                    "segment add", "segment line", "segment remove", "segment show",
                    "segment lines", "segment list", "segment delete", "segment log",
                    "logged-segment list", "logged-segment show", "logged-segment cancel",
                    "logged-segment uncancel", "logged-segment delete-canceled",
                    "campaign-entry list", "campaign-entry cancel", "campaign-entry uncancel",
                    "campaign-entry delete-canceled"):
            self.assertRegex(out, r"(?m)^  rapport %s\b" % re.escape(cmd))
        out, _ = self.rapport("segment", "--help")
        self.assertIn("rapport segment log NO [--follow-up]", out)
        self.assertNotIn("rapport group put", out)

    def test_usage_errors_exit_2(self):
        cases = [
            (("frobnicate",), "unknown command 'frobnicate'"),
            (("group", "frob"), "unknown command 'frob'"),
            (("group",), "missing command"),
            ((), "missing command"),
            (("group", "put"), "missing CODE"),
            (("template", "put", "T"), "missing --group"),
            (("template", "language", "T"), "missing LANG"),
            (("entry", "show"), "missing N"),
            (("entry", "cancel"), "missing N"),
            (("group", "show", "A", "B"), "unexpected argument 'B'"),
            (("group", "list", "--bogus"), "unknown option --bogus"),
            (("--bogus", "group", "list"), "unknown global option --bogus"),
            (("group", "put", "G", "--description"), "option --description needs a value"),
            (("entries", "--from", "2026-13-01"), "expected a date YYYY-MM-DD"),
            (("entries", "--to", "2026-02-30"), "expected a date YYYY-MM-DD"),
            (("interaction", "create", "--date", "yesterday"), "expected a date YYYY-MM-DD"),
            (("interaction", "create", "--time", "25:00"), "expected a time HH:MM"),
            (("template", "put", "T", "--group", "G", "--flow", "sideways"),
             "unknown value 'sideways'"),
            (("interaction", "create", "--evaluation", "great"), "unknown value 'great'"),
            (("contact", "put", "C", "--name", "N", "--type", "robot"), "unknown value 'robot'"),
            (("segment", "set", "S", "--corr-type", "fax"), "unknown value 'fax'"),
            (("entry", "show", "abc"), "expected a whole number"),
            (("entries", "--limit", "ten"), "expected a whole number"),
            (("template", "put", "T", "--group", "G", "--unit-duration", "5m"),
             "expected a whole number"),
            (("interaction", "create", "--cost", "12.345"), "at most 2 decimals"),
            (("interaction", "create", "--cost", "-1"), "amount >= 0"),
            (("--timeout", "soon", "group", "list"), "--timeout"),
            (("--request-id", "x" * 65, "group", "list"), "--request-id: expected 1..64 bytes"),
            (("entries", "--canceled", "--not-canceled"), "exclude each other"),
            (("stats", "--prometheus"), None),  # with --json only; see below
            (("segment", "numbering", "--prefix", "X"), "give --prefix, --next and --width"),
            (("segment", "create", "--campaign-target"), "--campaign-target needs --campaign"),
            (("template", "put", "T", "--group", "G", "--campaign-response"),
             "--campaign-response needs --campaign"),
            (("segment", "add", "S"), "name contacts, a --file, --company or --salesperson"),
            (("contact", "import"), "missing FILE.csv"),
        ]
        for args, expect in cases:
            with self.subTest(args=args):
                if args == ("stats", "--prometheus"):
                    out, err = self.rapport("--json", *args, rc=2)
                    self.assertEqual(out, "")
                    self.assertIn("--prometheus and --json exclude each other", err)
                    continue
                self.usage(*args, expect=expect)

    def test_bad_input_files_exit_2(self):
        def write(name, text):
            path = os.path.join(self.dir, name)
            with open(path, "w", newline="") as f:
                f.write(text)
            return path

        self.usage("contact", "import", os.path.join(self.dir, "missing.csv"),
                   expect="No such file or directory")
        self.usage("contact", "import", write("empty.csv", ""), expect="empty file")
        self.usage("contact", "import", write("col.csv", "no,name,bogus\nX,a,b\n"),
                   expect="unknown column 'bogus'")
        self.usage("contact", "import", write("quote.csv", 'no,name\nX,"open\n'),
                   expect="quote")
        self.usage("contact", "import", write("fields.csv", "no,name\nX,a,b\n"),
                   expect=":2: 3 fields, the header has 2")
        self.usage("contact", "import", write("type.csv", "no,name,type\nX,a,robot\n"),
                   expect=":2: type: unknown value 'robot'")
        self.usage("contact", "import", write("long.csv", "no,name\n%s,a\n" % ("N" * 21)),
                   expect=":2: no is longer than 20 characters")
        self.usage("segment", "add", "S", "--file", write("long.txt", "C1\n%s\n" % ("N" * 21)),
                   expect=":2: contact no. longer than 20 characters")

    def test_unreachable_exit_3(self):
        csv = os.path.join(self.dir, "c.csv")
        with open(csv, "w") as f:
            f.write("no,name\nC1,One\n")
        cases = [
            ("rapport-interaction", ("group", "list")),
            ("rapport-interaction", ("interaction", "create", "--contact", "C1")),
            ("rapport-interaction", ("contact", "import", csv)),
            ("rapport-logwriter", ("entry", "show", "1")),
            ("rapport-logwriter", ("entries", "--all")),
            ("rapport-logwriter", ("events",)),
            ("rapport-logwriter", ("events", "--follow")),
            ("rapport-segment", ("segment", "show", "S1")),
            ("rapport-segment", ("segment", "add", "S1", "C1")),
            ("rapport-segment", ("segment", "log", "S1", "--follow-up")),
            ("rapport-logwriter", ("logged-segment", "list")),
            ("rapport-logwriter", ("campaign-entry", "cancel", "1")),
            (None, ("stats",)),
        ]
        # No socket file: reported at once (the default timeout is 10 s,
        # segment log 600 s), with what to do.
        for process, args in cases:
            with self.subTest(args=args):
                t0 = time.monotonic()
                out, err = self.rapport(*args, rc=3)
                self.assertLess(time.monotonic() - t0, 5)
                self.assertEqual(out, "")
                if process:
                    name = process.split("-")[1]
                    self.assertIn("%s is not running (ipc://%s/%s.sock): start it with "
                                  "`systemctl start rapport.target`, or `deploy/run.sh`"
                                  % (process, self.dir, name), err)
                else:
                    self.assertIn("no worker answered", err)
                out, err = self.rapport("--json", *args, rc=3)
                if out:  # events --json closes its document even after an error
                    json.loads(out)
                if process:
                    doc = json.loads(err.splitlines()[0])
                    self.assertEqual(doc["code"], "unavailable")
                    self.assertIn("%s is not running" % process, doc["message"])
                    self.assertEqual(set(doc), {"code", "message", "field"})
        # A socket file nobody listens on (a worker that died): the same.
        import socket as pysocket
        stale = pysocket.socket(pysocket.AF_UNIX)
        stale.bind(os.path.join(self.dir, "interaction.sock"))
        stale.close()
        t0 = time.monotonic()
        out, err = self.rapport("group", "list", rc=3)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("rapport-interaction is not running", err)
        os.unlink(os.path.join(self.dir, "interaction.sock"))
        # A worker that is there but does not answer gets the whole timeout.
        ctx = zmq.Context()
        mute = ctx.socket(zmq.ROUTER)
        mute.setsockopt(zmq.LINGER, 0)
        mute.bind("ipc://%s/interaction.sock" % self.dir)
        try:
            t0 = time.monotonic()
            out, err = self.rapport("--timeout", "1500", "group", "list", rc=3)
            self.assertGreaterEqual(time.monotonic() - t0, 1.4)
            self.assertIn("no answer from rapport-interaction at ipc://%s/" % self.dir, err)
        finally:
            mute.close(0)
            ctx.term()


# ---- against a cluster ----------------------------------------------------------


class CliTest(CliMixin, ClusterTest):

    def setUp(self):
        super().setUp()
        self.run_dir = self.cl.run_dir

    # ---- helpers ----

    def seed(self):
        """The catalog every test starts from, through the CLI."""
        self.ok("group", "put", "G1", "--description", "Calls")
        self.ok("group", "put", "G2", "--description", "Letters")
        self.ok("salesperson", "put", "SP1", "--name", "Sales One", "--email", "sp1@example.com")
        self.ok("salesperson", "put", "SP2", "--name", "Sales Two")
        self.ok("salesperson", "put", "BLK", "--name", "Gone", "--blocked")
        self.ok("campaign", "put", "CP1", "--description", "Spring")
        self.ok("template", "put", "CALL", "--group", "G1", "--description", "Phone call",
                "--unit-cost", "12.5", "--unit-duration", "5", "--flow", "outbound",
                "--initiated-by", "us", "--corr-type", "hard-copy")
        self.ok("template", "language", "CALL", "EN", "--description", "Call")
        self.ok("template", "language", "CALL", "FR", "--description", "Appel")
        self.ok("template", "put", "LETTER", "--group", "G2", "--description", "Letter",
                "--unit-cost", "2", "--unit-duration", "1", "--flow", "inbound",
                "--initiated-by", "them", "--campaign", "CP1", "--campaign-target")
        self.ok("contact", "put", "CO1", "--name", "Acme", "--type", "company", "--salesperson",
                "SP1", "--email", "info@acme.example")
        self.ok("contact", "put", "P1", "--name", "Pat", "--company", "CO1", "--language", "FR",
                "--email", "pat@acme.example")
        self.ok("contact", "put", "P2", "--name", "Sam", "--company", "CO1", "--salesperson",
                "SP2")
        self.ok("contact", "put", "CO2", "--name", "Beta", "--type", "company")
        self.ok("contact", "put", "P3", "--name", "Kim", "--company", "CO2", "--salesperson",
                "SP1", "--corr-type", "email", "--email", "kim@beta.example")
        self.ok("contact", "put", "PB", "--name", "Private", "--privacy-blocked")

    def create(self, *args):
        """interaction create: prints just the Entry No."""
        out = self.ok("interaction", "create", *args)
        self.assertRegex(out, ENTRY_NO_RE)
        return int(out)

    def wire_entry(self, no):
        return self.cl.ok("logwriter", lw.LogRequest(get_entry=lw.GetEntry(entry_no=no))).entry

    def entry_nos(self, *filters):
        doc = self.js("entries", "--all", *filters, cls=c.Entries)
        return [e["entry_no"] for e in doc["entries"]]

    def counter(self, worker, name, **labels):
        """A counter of `rapport --json stats`."""
        doc = self.js("stats")
        for ws in doc["workers"]:
            if ws["worker"] != worker:
                continue
            for ctr in ws["counters"]:
                got = {lb["name"]: lb["value"] for lb in ctr["labels"]}
                if ctr["name"] == name and all(got.get(k) == v for k, v in labels.items()):
                    return ctr["value"]
        return 0

    # ---- catalog ----

    def test_group_and_template(self):
        out = self.ok("group", "put", "g1", "--description", "Calls")
        self.assertEqual(parse_fields(out), {"code": "G1", "description": "Calls"})
        doc = self.js("group", "put", "G2", "--description", "Letters", cls=ia.InteractionGroup)
        self.assertEqual(doc, {"code": "G2", "description": "Letters"})
        rows = self.table(self.ok("group", "list"), "CODE", "DESCRIPTION")
        self.assertEqual([r.split()[0] for r in rows], ["G1", "G2"])
        doc = self.js("group", "list", cls=ia.Groups)
        self.assertEqual([g["code"] for g in doc["groups"]], ["G1", "G2"])
        self.refused("template", "put", "T", "--group", "NOPE", code="not-found",
                     message=no_record("Interaction Group", "Code", "NOPE"))

        out = self.ok("template", "put", "call", "--group", "g1", "--description", "Phone call",
                      "--unit-cost", "12.5", "--unit-duration", "5", "--flow", "outbound",
                      "--initiated-by", "us", "--corr-type", "hard-copy",
                      "--ignore-contact-corr-type")
        f = parse_fields(out)
        self.assertEqual((f["code"], f["unit_cost"], f["information_flow"],
                          f["correspondence_type"], f["ignore_contact_corr_type"]),
                         ("CALL", "12.50", "outbound", "hard-copy", "yes"))
        self.ok("campaign", "put", "CP1", "--description", "Spring")
        doc = self.js("template", "put", "MAIL", "--group", "G2", "--description", "Mail",
                      "--flow", "inbound",
                      "--initiated-by", "them", "--campaign", "CP1", "--campaign-target",
                      "--campaign-response", cls=ia.InteractionTemplate)
        self.assertEqual((doc["information_flow"], doc["initiated_by"], doc["campaign_no"],
                          doc["campaign_target"], doc["campaign_response"],
                          doc["correspondence_type"]),
                         ("inbound", "them", "CP1", True, True, "email"))  # default: email

        # Language rows, then the default language among them.
        out = self.ok("template", "language", "CALL", "en", "--description", "Call")
        self.assertIn("  - language_code: EN", out)
        doc = self.js("template", "language", "CALL", "FR", "--description", "Appel",
                      cls=ia.InteractionTemplate)
        self.assertEqual([(r["language_code"], r["description"]) for r in doc["languages"]],
                         [("EN", "Call"), ("FR", "Appel")])
        self.ok("template", "put", "CALL", "--group", "G1", "--description", "Phone call",
                "--unit-cost", "12.5", "--unit-duration", "5", "--flow", "outbound",
                "--initiated-by", "us", "--corr-type", "hard-copy", "--language", "FR")

        f = parse_fields(self.ok("template", "show", "CALL"))
        self.assertEqual((f["language_code"], f["unit_duration_min"]), ("FR", "5"))
        doc = self.js("template", "show", "CALL", cls=ia.InteractionTemplate)
        wire = self.cl.ok("interaction", ia.InteractionRequest(
            get_template=ia.CodeRef(code="CALL"))).template
        self.assertEqual(from_json(doc, ia.InteractionTemplate), wire)
        self.assertEqual(doc["unit_cost_cents"], 1250)
        self.refused("template", "show", "NOPE", code="not-found",
                     message=no_record("Interaction Template", "Code", "NOPE"))

        rows = self.table(self.ok("template", "list"), "CODE", "DESCRIPTION", "GROUP")
        self.assertEqual([r.split()[0] for r in rows], ["CALL", "MAIL"])
        doc = self.js("template", "list", cls=ia.Templates)
        self.assertEqual([t["code"] for t in doc["templates"]], ["CALL", "MAIL"])

        # Statistics count neither canceled nor postponed entries.
        self.ok("salesperson", "put", "SP1", "--name", "S")
        self.ok("contact", "put", "C1", "--name", "C", "--salesperson", "SP1")
        e1 = self.create("--contact", "C1", "--template", "CALL", "--date", "2026-06-01")
        self.create("--contact", "C1", "--template", "CALL", "--cost", "7.25", "--duration", "3")
        self.create("--contact", "C1", "--template", "CALL", "--postpone")
        self.create("--contact", "C1", "--template", "MAIL", "--cost", "1")
        e5 = self.create("--contact", "C1", "--template", "MAIL", "--cost", "100")
        self.ok("entry", "cancel", e5)
        rows = self.table(self.ok("template", "stats"), "CODE", "INTERACTIONS", "COST",
                          "DURATION (MIN)")
        self.assertEqual([r.split()[0] for r in rows], ["CALL", "MAIL"])
        self.assertEqual(rows[0].split()[-3:], ["2", "19.75", "8"])
        doc = self.js("template", "stats", cls=c.Statistics)
        self.assertEqual({r["code"]: (r["no_of_interactions"], r["cost_cents"], r["duration_min"])
                          for r in doc["rows"]}, {"CALL": (2, 1975, 8), "MAIL": (1, 100, 0)})
        doc = self.js("template", "stats", "--from", "2026-06-02", "--to", TODAY,
                      cls=c.Statistics)
        self.assertEqual({r["code"]: r["no_of_interactions"] for r in doc["rows"]},
                         {"CALL": 1, "MAIL": 1})
        rows = self.table(self.ok("group", "stats", "--to", "2026-06-01"), "CODE", "COST")
        self.assertEqual(rows[0].split()[0], "G1")
        self.assertEqual(rows[0].split()[-3:], ["1", "12.50", "5"])
        doc = self.js("group", "stats", cls=c.Statistics)
        self.assertEqual({r["code"]: (r["no_of_interactions"], r["cost_cents"])
                          for r in doc["rows"]}, {"G1": (2, 1975), "G2": (1, 100)})
        self.assertEqual(self.wire_entry(e1).cost_cents, 1250)

    def test_contacts_put_import_list_show(self):
        self.ok("salesperson", "put", "SP1", "--name", "S")
        out = self.ok("contact", "put", "co1", "--name", "Acme", "--type", "company",
                      "--salesperson", "sp1", "--corr-type", "email", "--email", "a@acme.example")
        f = parse_fields(out)
        self.assertEqual((f["no"], f["type"], f["company_no"], f["salesperson_code"]),
                         ("CO1", "company", "CO1", "SP1"))
        doc = self.js("contact", "put", "P1", "--name", "Pat", "--company", "CO1", "--language",
                      "EN", "--corr-type", "hard-copy", "--privacy-blocked", cls=ia.Contact)
        self.assertEqual((doc["type"], doc["company_no"], doc["correspondence_type"],
                          doc["privacy_blocked"]), ("person", "CO1", "hard-copy", True))

        path = os.path.join(self.cl.dir, "contacts.csv")
        with open(path, "w", newline="") as f:
            f.write('no,name,type,company_no,salesperson_code,language_code,'
                    'correspondence_type,email\r\n'
                    'P2,"Smith, ""Jo""",person,CO1,SP1,EN,hard-copy,jo@acme.example\r\n'
                    'P3,"two\r\nlines",,CO1,,,,\r\n'
                    '\r\n'
                    'CO2,Beta,company,,SP1,,email,\r\n')
        self.assertEqual(self.ok("contact", "import", path), "3\n")
        self.assertEqual(self.js("contact", "import", path, cls=c.Count), {"count": 3})
        doc = self.js("contact", "show", "P2", cls=ia.Contact)
        self.assertEqual((doc["name"], doc["company_no"], doc["salesperson_code"],
                          doc["language_code"], doc["correspondence_type"], doc["email"]),
                         ('Smith, "Jo"', "CO1", "SP1", "EN", "hard-copy", "jo@acme.example"))
        doc = self.js("contact", "show", "P3", cls=ia.Contact)
        self.assertEqual((doc["name"], doc["type"]), ("two\r\nlines", "person"))
        self.assertEqual(self.js("contact", "show", "CO2")["company_no"], "CO2")
        f = parse_fields(self.ok("contact", "show", "P3"))
        self.assertEqual(f["name"], "two  lines")  # one value, one line
        self.refused("contact", "show", "NOPE", code="not-found",
                     message=no_record("Contact", "No.", "NOPE"))

        # A refused batch names the CSV line and imports nothing.
        bad = os.path.join(self.cl.dir, "bad.csv")
        with open(bad, "w") as f:
            f.write("no,name,company_no\nX1,One,\nX2,Two,NOPE\n")
        out, err = self.rapport("contact", "import", bad, rc=1)
        self.assertEqual(out, "")
        self.assertTrue(err.startswith("rapport: %s:3: " % bad), err)
        self.assertIn(no_record("Contact", "No.", "NOPE"), err)
        out, err = self.rapport("--json", "contact", "import", bad, rc=1)
        self.assertEqual(out, "")
        doc = json.loads(err)
        self.assertEqual(doc["code"], "not-found")
        self.assertTrue(doc["message"].startswith("%s:3: " % bad), doc)
        self.rapport("contact", "show", "X1", rc=1)

        rows = self.table(self.ok("contact", "list"), "NO", "NAME", "TYPE", "COMPANY")
        self.assertEqual([r.split()[0] for r in rows], ["CO1", "CO2", "P1", "P2", "P3"])
        self.assertIn('Smith, "Jo"', rows[3])
        self.assertEqual(self.first_col(self.ok("contact", "list", "--company", "CO1"), "NO"),
                         ["CO1", "P1", "P2", "P3"])
        doc = self.js("contact", "list", "--salesperson", "SP1", cls=ia.Contacts)
        self.assertEqual([x["no"] for x in doc["contacts"]], ["CO1", "CO2", "P2"])
        out, err = self.rapport("contact", "list", "--limit", "2")
        self.assertEqual(self.first_col(out, "NO"), ["CO1", "CO2"])
        self.assertIn("more to list: --after CO2, or --all", err)
        doc = self.js("contact", "list", "--limit", "2", "--after", "CO2", cls=ia.Contacts)
        self.assertEqual(([x["no"] for x in doc["contacts"]], doc["next_after"]),
                         (["P1", "P2"], "P2"))
        doc = self.js("contact", "list", "--limit", "2", "--all", cls=ia.Contacts)
        self.assertEqual([x["no"] for x in doc["contacts"]], ["CO1", "CO2", "P1", "P2", "P3"])
        self.assertEqual(doc["next_after"], "")
        self.assertEqual(self.first_col(self.ok("contact", "list", "--limit", "2", "--all"),
                                        "NO"), ["CO1", "CO2", "P1", "P2", "P3"])

    def test_salesperson_and_campaign(self):
        f = parse_fields(self.ok("salesperson", "put", "sp1", "--name", "Sales One",
                                 "--email", "sp1@example.com"))
        self.assertEqual((f["code"], f["name"], f["email"], f["blocked"]),
                         ("SP1", "Sales One", "sp1@example.com", "no"))
        doc = self.js("salesperson", "put", "BLK", "--name", "Gone", "--blocked",
                      cls=ia.Salesperson)
        self.assertEqual(doc, {"code": "BLK", "name": "Gone", "email": "", "blocked": True})
        rows = self.table(self.ok("salesperson", "list"), "CODE", "NAME", "EMAIL", "BLOCKED")
        self.assertEqual([r.split()[0] for r in rows], ["BLK", "SP1"])
        self.assertEqual(self.js("salesperson", "show", "SP1", cls=ia.Salesperson)["email"],
                         "sp1@example.com")
        self.refused("salesperson", "put", "S" * 11, "--name", "x", code="invalid-argument",
                     message="The length of code is 11, but it must be less than or equal to "
                             "10 characters.")

        f = parse_fields(self.ok("campaign", "put", "cp1", "--description", "Spring"))
        self.assertEqual(f, {"no": "CP1", "description": "Spring"})
        self.assertEqual(self.js("campaign", "put", "CP2", "--description", "Autumn",
                                 cls=ia.Campaign), {"no": "CP2", "description": "Autumn"})
        rows = self.table(self.ok("campaign", "list"), "NO", "DESCRIPTION")
        self.assertEqual([r.split()[0] for r in rows], ["CP1", "CP2"])
        doc = self.js("campaign", "list", cls=ia.Campaigns)
        self.assertEqual([x["description"] for x in doc["campaigns"]], ["Spring", "Autumn"])

    # ---- single interactions ----

    def test_interaction_create_each_origin(self):
        self.seed()
        # From a contact: the salesperson defaults to the contact's.
        no = self.create("--contact", "CO1", "--template", "CALL", "--date", "2026-06-10",
                         "--time", "09:30", "--evaluation", "very-positive", "--comment", "first",
                         "--comment", "second", "--opportunity", "OP1", "--todo", "TD1")
        e = self.wire_entry(no)
        self.assertEqual((e.contact_no, e.contact_company_no, e.salesperson_code, e.date,
                          e.time_of_interaction, e.evaluation, e.cost_cents, e.user_id),
                         ("CO1", "CO1", "SP1", 20260610, 9 * 3600 + 30 * 60,
                          c.EVALUATION_VERY_POSITIVE, 1250, "tester"))
        self.assertEqual([x.comment for x in e.comments], ["first", "second"])
        out = self.ok("entry", "show", no)
        f = parse_fields(out)
        self.assertEqual((f["entry_no"], f["date"], f["time_of_interaction"], f["evaluation"],
                          f["cost"], f["information_flow"], f["correspondence_type"],
                          f["canceled"]),
                         (str(no), "2026-06-10", "09:30:00", "very-positive", "12.50",
                          "outbound", "hard-copy", "no"))
        self.assertIn("    comment: second", out)
        doc = self.js("entry", "show", no, cls=c.Entry)
        self.assertEqual(from_json(doc, c.Entry), e)

        # --json prints the whole entry; a person's company is fixed too.
        doc = self.js("interaction", "create", "--contact", "P1", "--salesperson", "SP2",
                      "--template", "CALL", "--failed", "--flow", "inbound", "--initiated-by",
                      "them", "--corr-type", "email", "--duration", "12", "--description",
                      "Asked back", "--campaign", "CP1", "--campaign-response", cls=c.Entry)
        self.assertEqual(from_json(doc, c.Entry), self.wire_entry(doc["entry_no"]))
        self.assertEqual((doc["contact_company_no"], doc["salesperson_code"],
                          doc["attempt_failed"], doc["information_flow"], doc["initiated_by"],
                          doc["correspondence_type"], doc["duration_min"], doc["subject"],
                          doc["interaction_language_code"], doc["date"], doc["evaluation"],
                          doc["campaign_no"], doc["campaign_response"]),
                         ("CO1", "SP2", True, "inbound", "them", "email", 12, "Asked back",
                          "FR", TODAY, "none", "CP1", True))
        self.assertRegex(doc["time_of_interaction"], TIME_RE)
        self.assertGreater(doc["campaign_entry_no"], 0)

        # From a salesperson: it stays fixed, the command names the contact.
        no2 = self.create("--salesperson", "SP2", "--contact", "P3", "--template", "CALL")
        self.assertEqual(self.wire_entry(no2).salesperson_code, "SP2")
        self.refused("interaction", "create", "--salesperson", "SP1", "--template", "CALL",
                     code="invalid-argument",
                     message="You must select a contact to interact with.")

        # From an entry: contact, company, salesperson, campaign, opportunity
        # and to-do are taken over; the command names the new template.
        base = self.create("--contact", "P1", "--salesperson", "SP2", "--template", "CALL",
                           "--campaign", "CP1", "--opportunity", "OP7", "--todo", "TD7")
        no3 = self.create("--from-entry", base, "--template", "LETTER", "--contact", "P3",
                          "--salesperson", "SP1")
        e3 = self.wire_entry(no3)
        self.assertEqual((e3.contact_no, e3.contact_company_no, e3.salesperson_code,
                          e3.campaign_no, e3.opportunity_no, e3.todo_no,
                          e3.interaction_template_code, e3.information_flow),
                         ("P1", "CO1", "SP2", "CP1", "OP7", "TD7", "LETTER",
                          c.INFORMATION_FLOW_INBOUND))
        doc = self.js("interaction", "create", "--from-entry", no3, "--template", "CALL",
                      cls=c.Entry)
        self.assertEqual((doc["contact_no"], doc["opportunity_no"]), ("P1", "OP7"))
        self.refused("interaction", "create", "--from-entry", 999, "--template", "CALL",
                     code="not-found",
                     message=no_record("Interaction Log Entry", "Entry No.", 999))

        # Refusals in docs/domain.md's order and texts.
        self.refused("interaction", "create", "--template", "CALL", code="invalid-argument",
                     message="You must select a contact to interact with.")
        self.refused("interaction", "create", "--contact", "P1", "--salesperson", "SP1",
                     code="invalid-argument",
                     message="You must fill in the Interaction Template Code field.")
        self.refused("interaction", "create", "--contact", "P1", "--template", "CALL",
                     code="invalid-argument",
                     message="You must fill in the Salesperson Code field.")
        self.refused("interaction", "create", "--contact", "NOPE", "--salesperson", "SP1",
                     "--template", "CALL", code="not-found",
                     message=no_record("Contact", "No.", "NOPE"))
        doc = self.refused("interaction", "create", "--contact", "P1", "--salesperson", "BLK",
                           "--template", "CALL", code="failed-precondition",
                           message=self._blocked_text())
        self.assertNotEqual(doc["field"], "")
        out, err = self.rapport("interaction", "create", "--contact", "PB", "--salesperson",
                                "SP1", "--template", "CALL", rc=1)
        self.assertEqual(out, "")
        self.assertIn("PB", err)
        # Nothing of the refusals was written.
        self.assertEqual(self.entry_nos(), [1, 2, 3, 4, 5, 6])

    def _blocked_text(self):
        """The text the interaction worker gives a blocked salesperson."""
        rep = self.cl.call("interaction", ia.InteractionRequest(
            create_interaction=ia.CreateInteraction(fields=ia.InteractionFields(
                contact_no="P1", salesperson_code="BLK", interaction_template_code="CALL"))))
        self.assertEqual(rep.status.code, c.FAILED_PRECONDITION, rep.status.message)
        self.assertIn("BLK", rep.status.message)
        return rep.status.message

    def test_postponed_resume_and_delete(self):
        self.seed()
        p1 = self.create("--contact", "P2", "--template", "CALL", "--postpone", "--comment",
                         "call back")
        doc = self.js("interaction", "create", "--contact", "P3", "--template", "LETTER",
                      "--postpone", cls=c.Entry)
        p2 = doc["entry_no"]
        self.assertTrue(doc["postponed"])
        self.assertEqual(doc["campaign_entry_no"], 0)  # postponed: no campaign entry
        done = self.create("--contact", "P3", "--template", "CALL")

        out = self.ok("interaction", "postponed")
        self.assertEqual(self.first_col(out, "NO.", "CONTACT", "TEMPLATE", "POSTPONED"),
                         [str(p1), str(p2)])
        self.assertEqual(self.first_col(self.ok("interaction", "postponed", "--contact", "P3"),
                                        "NO."), [str(p2)])
        self.assertEqual(self.first_col(self.ok("interaction", "postponed", "--template",
                                                "LETTER", "--from", TODAY, "--to", TODAY),
                                        "NO."), [str(p2)])
        self.assertEqual(self.js("interaction", "postponed", "--to", "2026-06-14",
                                 cls=c.Entries)["entries"], [])
        doc = self.js("interaction", "postponed", "--salesperson", "SP2", cls=c.Entries)
        self.assertEqual([e["entry_no"] for e in doc["entries"]], [p1])
        self.assertEqual(doc["entries"][0]["comments"][0]["comment"], "call back")
        self.assertEqual(self.entry_nos(), [done])
        self.assertEqual(self.entry_nos("--postponed"), [p1, p2])
        self.assertEqual(self.entry_nos("--any-postponed"), [p1, p2, done])

        # Resume keeps the Entry No.; --postpone keeps it postponed.
        out = self.ok("interaction", "resume", p1, "--postpone", "--description", "later")
        self.assertEqual(out, "%d\n" % p1)
        self.assertTrue(self.wire_entry(p1).postponed)
        out = self.ok("interaction", "resume", p1, "--evaluation", "positive", "--date",
                      "2026-06-12", "--time", "14:05", "--comment", "done")
        self.assertEqual(out, "%d\n" % p1)
        e = self.wire_entry(p1)
        self.assertEqual((e.postponed, e.evaluation, e.date, e.time_of_interaction,
                          e.description, [x.comment for x in e.comments]),
                         (False, c.EVALUATION_POSITIVE, 20260612, 14 * 3600 + 5 * 60, "later",
                          ["done"]))
        doc = self.js("interaction", "resume", p2, "--salesperson", "SP1", cls=c.Entry)
        self.assertEqual((doc["entry_no"], doc["postponed"], doc["salesperson_code"]),
                         (p2, False, "SP1"))
        self.refused("interaction", "resume", p1, code="failed-precondition",
                     message="Interaction Log Entry %d is not postponed." % p1)
        self.assertEqual(self.ok("interaction", "postponed").splitlines()[1:], [])
        self.assertEqual(self.js("interaction", "postponed", cls=c.Entries)["entries"], [])

        # delete-postponed: only postponed entries go; prints the count.
        p3 = self.create("--contact", "P2", "--template", "CALL", "--postpone")
        p4 = self.create("--contact", "P2", "--template", "CALL", "--postpone")
        p5 = self.create("--contact", "P2", "--template", "CALL", "--postpone")
        self.assertEqual(self.ok("interaction", "delete-postponed", p3, p4), "2\n")
        self.assertEqual(self.js("interaction", "delete-postponed", p5, cls=c.Count),
                         {"count": 1})
        self.refused("interaction", "delete-postponed", done, code="failed-precondition",
                     message="Interaction Log Entry %d is not postponed." % done)
        self.refused("interaction", "resume", p3, code="not-found",
                     message=no_record("Interaction Log Entry", "Entry No.", p3))
        self.assertEqual(self.entry_nos("--any-postponed"), [p1, p2, done])

    def test_entries_filters_paging_cancel_and_delete(self):
        self.seed()
        nos = [
            self.create("--contact", "P1", "--salesperson", "SP1", "--template", "CALL",
                        "--date", "2026-06-01"),
            self.create("--contact", "P2", "--template", "CALL", "--date", "2026-06-05"),
            self.create("--contact", "P1", "--salesperson", "SP1", "--template", "LETTER"),
            self.create("--contact", "P3", "--template", "CALL", "--campaign", "CP1"),
            self.create("--contact", "P3", "--template", "LETTER", "--date", "2026-06-20"),
        ]
        self.assertEqual(nos, [1, 2, 3, 4, 5])
        out = self.ok("entries")
        rows = self.table(out, "NO.", "DATE", "TIME", "CONTACT", "TEMPLATE", "SALESPERSON",
                          "COST", "CANCELED", "POSTPONED")
        self.assertEqual([r.split()[0] for r in rows], ["1", "2", "3", "4", "5"])
        self.assertIn("2026-06-01", rows[0])
        doc = self.js("entries", cls=c.Entries)
        self.assertEqual(([e["entry_no"] for e in doc["entries"]], doc["next_after"]),
                         (nos, 0))

        filters = [
            (("--contact", "P1"), [1, 3]),
            (("--from", "2026-06-05"), [2, 3, 4, 5]),
            (("--to", "2026-06-05"), [1, 2]),
            (("--from", "2026-06-02", "--to", TODAY), [2, 3, 4]),
            (("--template", "letter"), [3, 5]),
            (("--group", "G1"), [1, 2, 4]),
            (("--salesperson", "SP1"), [1, 3, 4, 5]),  # P3's own salesperson is SP1
            (("--salesperson", "SP2"), [2]),
            (("--campaign", "CP1"), [3, 4, 5]),  # LETTER carries CP1
            (("--entry-from", "2", "--entry-to", "4"), [2, 3, 4]),
            (("--contact", "P3", "--template", "CALL"), [4]),
            (("--segment", "NONE"), []),
            (("--logged-segment", "1"), []),
            (("--descending",), [5, 4, 3, 2, 1]),
            (("--after", "3"), [4, 5]),
        ]
        for args, want in filters:
            with self.subTest(args=args):
                self.assertEqual(self.entry_nos(*args), want)
                self.assertEqual(self.first_col(self.ok("entries", *args), "NO."),
                                 [str(n) for n in want])

        # Paging: a page, the hint, then --all across pages.
        out, err = self.rapport("entries", "--limit", "2")
        self.assertEqual(self.first_col(out, "NO."), ["1", "2"])
        self.assertIn("more to list: --after 2, or --all", err)
        doc = self.js("entries", "--limit", "2", "--after", "2", cls=c.Entries)
        self.assertEqual(([e["entry_no"] for e in doc["entries"]], doc["next_after"]), ([3, 4], 4))
        out = self.ok("entries", "--limit", "2", "--all")
        self.assertEqual(self.first_col(out, "NO."), ["1", "2", "3", "4", "5"])
        doc = self.js("entries", "--limit", "2", "--all", cls=c.Entries)
        self.assertEqual(([e["entry_no"] for e in doc["entries"]], doc["next_after"]), (nos, 0))
        doc = self.js("entries", "--limit", "2", "--all", "--contact", "NOBODY", cls=c.Entries)
        self.assertEqual(doc["entries"], [])

        # Cancel and un-cancel.
        self.assertEqual(self.ok("entry", "cancel", 1, 2, 5), "3\n")
        self.assertEqual(self.js("entry", "cancel", 3, cls=c.Count), {"count": 1})
        self.refused("entry", "cancel", 4, 99, code="not-found",
                     message=no_record("Interaction Log Entry", "Entry No.", 99))
        self.assertFalse(self.wire_entry(4).canceled)  # all or nothing
        self.assertEqual(self.entry_nos("--canceled"), [1, 2, 3, 5])
        self.assertEqual(self.entry_nos("--not-canceled"), [4])
        self.assertEqual(parse_fields(self.ok("entry", "show", 2))["canceled"], "yes")
        self.assertEqual(self.ok("entry", "uncancel", 3), "1\n")
        self.assertEqual(self.js("entry", "uncancel", 5, cls=c.Count), {"count": 1})
        self.assertEqual(self.entry_nos("--canceled"), [1, 2])
        self.assertTrue(self.js("entry", "show", 1, cls=c.Entry)["canceled"])

        # Delete canceled entries by filter; prints the count.
        self.assertEqual(self.ok("entries", "delete-canceled", "--contact", "P2"), "1\n")
        self.assertEqual(self.entry_nos(), [1, 3, 4, 5])
        self.assertEqual(self.js("entries", "delete-canceled", "--contact", "P3", cls=c.Count),
                         {"count": 0})
        self.assertEqual(self.js("entries", "delete-canceled", cls=c.Count), {"count": 1})
        self.assertEqual(self.entry_nos(), [3, 4, 5])
        self.refused("entry", "show", 1, code="not-found",
                     message=no_record("Interaction Log Entry", "Entry No.", 1))
        self.usage("entries", "delete-canceled", "--from", "06/01/2026")

    def test_request_id_and_user(self):
        self.seed()
        args = ("--user", "alice", "--request-id", "cli-rid-1", "interaction", "create",
                "--contact", "P1", "--salesperson", "SP1", "--template", "CALL")
        first = self.ok(*args)
        self.assertRegex(first, ENTRY_NO_RE)
        self.assertEqual(self.ok(*args), first)
        self.assertEqual(self.entry_nos(), [int(first)])
        self.assertEqual(self.wire_entry(int(first)).user_id, "alice")
        # The same id with --json answers the stored entry.
        doc = self.js(*args, cls=c.Entry)
        self.assertEqual((doc["entry_no"], doc["user_id"]), (int(first), "alice"))
        # Global options may come after the command words too.
        out = self.ok("interaction", "create", "--contact", "P1", "--salesperson", "SP1",
                      "--template", "CALL", "--user", "bob", "--request-id", "cli-rid-2")
        self.assertEqual(self.ok("interaction", "create", "--request-id", "cli-rid-2",
                                 "--contact", "P1", "--salesperson", "SP1", "--template",
                                 "CALL", "--user", "bob"), out)
        self.assertEqual(self.wire_entry(int(out)).user_id, "bob")
        # The default user is $USER.
        no = self.create("--contact", "P1", "--salesperson", "SP1", "--template", "CALL")
        self.assertEqual(self.js("entry", "show", no)["user_id"], "tester")
        self.assertEqual(self.entry_nos(), [1, 2, 3])
        logged = [e for e in self.cl.read_events() if e.type == "interaction.logged"]
        self.assertEqual([(e.entry.entry_no, e.user_id, e.request_id) for e in logged],
                         [(1, "alice", b"cli-rid-1"), (2, "bob", b"cli-rid-2"),
                          (3, "tester", logged[2].request_id)])
        # A refused request is not remembered: the same id may then succeed.
        rid = ("--request-id", "cli-rid-3")
        self.rapport(*rid, "interaction", "create", "--contact", "P1", "--template", "CALL",
                     rc=1)
        out = self.ok(*rid, "interaction", "create", "--contact", "P1", "--salesperson", "SP1",
                      "--template", "CALL")
        self.assertEqual(out, "4\n")

    # ---- events and stats ----

    def test_events(self):
        self.seed()
        self.create("--contact", "P1", "--salesperson", "SP1", "--template", "CALL",
                    "--description", "first call")
        self.create("--contact", "P2", "--template", "CALL", "--postpone")
        self.ok("entry", "cancel", 1)
        lines = self.ok("events").splitlines()
        self.assertEqual(len(lines), 3)
        self.assertEqual(lines[0], '1 interaction.logged entry 1 contact P1 template CALL %s '
                                   '"first call"' % TODAY)
        self.assertTrue(lines[1].startswith("2 interaction.postponed entry 2 contact P2"))
        self.assertTrue(lines[1].endswith("(postponed)"))
        self.assertEqual(lines[2], "3 entries.canceled entries 1")
        self.assertEqual(self.ok("events", "--from", "2").splitlines(), lines[1:])
        self.assertEqual(self.ok("events", "--type", "entries.").splitlines(), lines[2:])
        self.assertEqual(self.ok("events", "--from", "4"), "")

        doc = self.js("events")
        self.assertEqual(set(doc), {"events", "last_seq"})
        self.assertEqual(doc["last_seq"], 3)
        for ev in doc["events"]:
            from_json(ev, c.Event)
        self.assertEqual([(e["seq"], e["type"]) for e in doc["events"]],
                         [(1, "interaction.logged"), (2, "interaction.postponed"),
                          (3, "entries.canceled")])
        self.assertEqual(doc["events"][0]["entry"]["date"], TODAY)
        self.assertEqual(doc["events"][0]["user_id"], "tester")
        self.assertEqual(doc["events"][2]["entries"]["ranges"], [{"first": 1, "last": 1}])
        doc = self.js("events", "--from", "2", "--type", "interaction")
        self.assertEqual([e["seq"] for e in doc["events"]], [2])
        self.assertEqual(self.js("events", "--from", "9")["events"], [])

    def test_events_pages(self):
        """More events than one ReadEvents page (1,000): every one printed
        once, in order, as lines and in the one JSON document."""
        n = 1205
        for i in range(n):  # pipelined: the writer commits them in groups
            self.cl.send_raw("logwriter", [lw.LogRequest(
                request_id=b"pages-%d" % i, user_id="bulk", write_entry=lw.WriteEntry(
                    entry=c.Entry(contact_no="C%d" % (i % 7), interaction_template_code="T",
                                  interaction_group_code="G", description="e%d" % i,
                                  date=20260615))).SerializeToString()])
        for _ in range(n):
            self.cl.recv_raw("logwriter", timeout=30)
        lines = self.ok("events").splitlines()
        self.assertEqual([int(x.split()[0]) for x in lines], list(range(1, n + 1)))
        self.assertEqual(lines[-1], '%d interaction.logged entry %d contact C%d template T %s '
                                    '"e%d"' % (n, n, (n - 1) % 7, TODAY, n - 1))
        doc = self.js("events", "--from", "150")
        self.assertEqual([e["seq"] for e in doc["events"]], list(range(150, n + 1)))
        self.assertEqual(doc["last_seq"], n)
        self.assertEqual(len(self.ok("events", "--type", "interaction.logged").splitlines()), n)
        self.assertEqual(self.ok("events", "--type", "entries."), "")

    def _follow(self, *args):
        errf = open(os.path.join(self.cl.dir, "follow.err"), "w+b")
        argv = [RAPPORT, "--run-dir", self.run_dir, "events", "--follow"] + list(args)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf, env=cli_env())
        self.addCleanup(errf.close)

        def reap():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self.addCleanup(reap)
        return proc, LineReader(proc)

    def _stop(self, proc):
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(20), 0)

    def test_events_follow(self):
        self.seed()
        self.create("--contact", "P1", "--salesperson", "SP1", "--template", "CALL")
        # By default only what happens from now on.
        nproc, nlines = self._follow()
        # With --from-start (or --from SEQ) the history first.
        proc, lines = self._follow("--from-start")
        jproc, jlines = self._follow("--json", "--type", "interaction.logged", "--from", "1")
        self.assertTrue(lines.next().startswith("1 interaction.logged entry 1 "))
        first = json.loads(jlines.next())
        self.assertEqual((first["seq"], first["type"], first["entry"]["entry_no"]),
                         (1, "interaction.logged", 1))
        self.ok("entry", "cancel", 1)
        no = self.create("--contact", "P2", "--template", "CALL", "--user", "carol")
        self.assertEqual(lines.next(), "2 entries.canceled entries 1")
        self.assertTrue(lines.next().startswith("3 interaction.logged entry %d contact P2 " % no))
        ev = json.loads(jlines.next())  # entries.canceled is filtered out
        from_json(ev, c.Event)
        self.assertEqual((ev["seq"], ev["type"], ev["user_id"], ev["entry"]["entry_no"],
                          ev["entry"]["contact_no"]), (3, "interaction.logged", "carol", no, "P2"))
        self.assertEqual(nlines.next(), "2 entries.canceled entries 1")
        self.assertTrue(nlines.next().startswith("3 interaction.logged entry %d " % no))
        self._stop(nproc)
        self._stop(proc)
        self._stop(jproc)

    def test_stats_and_prometheus(self):
        self.seed()
        self.create("--contact", "P1", "--salesperson", "SP1", "--template", "CALL")
        out = self.ok("stats")
        for worker in ("interaction", "segment", "logwriter"):
            self.assertRegex(out, r"(?m)^%s \(ipc://%s/%s\.sock\): up [0-9.]+ (ms|s), "
                                  r"version \d+\.\d+\.\d+$" % (
                                      worker, re.escape(self.run_dir), worker))
        # Aligned columns: the total and the rate per second.
        self.assertRegex(out, r'(?m)^  requests_total\{command=create_interaction,code=ok\} +1 '
                              r'+\d+\.\d\d$')
        self.assertRegex(out, r'(?m)^  store_map_bytes +1\.0 GiB$')
        self.assertRegex(out, r'(?m)^  histogram +count +mean +p99 <=$')
        # status: a line per worker.
        out = self.ok("status")
        lines = out.splitlines()
        self.assertEqual(lines[0].split()[:3], ["WORKER", "STATE", "VERSION"])
        self.assertEqual([ln.split()[:2] for ln in lines[1:]],
                         [["rapport-interaction", "up"], ["rapport-segment", "up"],
                          ["rapport-logwriter", "up"]])
        doc = self.js("status")
        self.assertEqual([(w["worker"], w["up"], w["last_event_seq"]) for w in doc["workers"]],
                         [("rapport-interaction", True, None), ("rapport-segment", True, None),
                          ("rapport-logwriter", True, 1)])
        self.cl["segment"].stop()
        out, err = self.rapport("status", rc=3)
        self.assertRegex(out, r"(?m)^rapport-segment +down .*rapport-segment is not running")
        self.cl["segment"].start()
        doc = self.js("stats")
        self.assertEqual(set(doc), {"workers"})
        for ws in doc["workers"]:
            from_json(ws, c.WorkerStats)
        self.assertEqual([w["worker"] for w in doc["workers"]],
                         ["interaction", "segment", "logwriter"])
        self.assertEqual(self.counter("interaction", "rapport_requests_total",
                                      command="create_interaction", code="ok"), 1)

        prom, err = self.rapport("stats", "--prometheus")
        self.assertEqual(err, "")
        self.assertRegex(prom, r"(?m)^# TYPE rapport_requests_total counter$")
        for worker in ("interaction", "segment", "logwriter"):
            self.assertIn('worker="%s"' % worker, prom)
        self.assertRegex(prom, r'(?m)^rapport_requests_total\{worker="interaction",'
                               r'command="create_interaction",code="ok"\} 1$')
        # A worker that does not answer is a warning, not a failure.
        self.cl["segment"].stop()
        out, err = self.rapport("--timeout", "500", "stats")
        self.assertIn("rapport: warning: rapport-segment is not running", err)
        self.assertNotRegex(out, r"(?m)^segment ")
        self.assertRegex(out, r"(?m)^logwriter ")
        out, err = self.rapport("--json", "--timeout", "500", "stats")
        self.assertEqual([w["worker"] for w in json.loads(out)["workers"]],
                         ["interaction", "logwriter"])
        self.rapport("--timeout", "300", "segment", "list", rc=3)

        # deploy/deps.sh installs it: no silent skip
        promtool = shutil.which("promtool", path=os.environ.get("PATH", "") + ":/usr/bin")
        self.assertTrue(promtool, "promtool not installed (Debian package prometheus): "
                        "`rapport stats --prometheus` cannot be validated")
        p = subprocess.run([promtool, "check", "metrics"], input=prom.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())

    def _on_terminal(self, args, answer=None):
        """Run rapport with stdin, stdout and stderr on a pseudo-terminal;
        type `answer` when it asks. Returns (exit code, what it printed)."""
        import pty
        master, slave = pty.openpty()
        p = subprocess.Popen([RAPPORT, "--run-dir", self.run_dir] + list(args), stdin=slave,
                             stdout=slave, stderr=slave, env=cli_env(), close_fds=True)
        os.close(slave)
        out = b""
        asked = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                out += chunk
                if answer is not None and not asked and b"[y/N] " in out:
                    os.write(master, answer.encode() + b"\n")
                    asked = True
            elif p.poll() is not None:
                break
        os.close(master)
        return p.wait(10), out.decode(errors="replace").replace("\r\n", "\n")

    def test_destructive_commands_look_first(self):
        self.seed()
        for _ in range(3):
            self.create("--contact", "P1", "--salesperson", "SP1", "--template", "CALL")
        self.ok("entry", "cancel", 1, 2)
        # --dry-run: the count and the first records; nothing changes.
        out = self.ok("entries", "delete-canceled", "--dry-run")
        self.assertRegex(out, r"^would delete 2 canceled entries:\nNO\. +DATE ")
        self.assertRegex(out, r"(?m)^ +1 +\d{4}-\d\d-\d\d +P1 +CALL ")
        doc = self.js("entries", "delete-canceled", "--dry-run")
        self.assertEqual((doc["dry_run"], doc["count"], [e["entry_no"] for e in doc["first"]]),
                         (True, 2, [1, 2]))
        self.assertIn("would delete 1 interaction group:\n  code:        G2", self.ok(
            "group", "delete", "G2", "--dry-run"))
        self.assertEqual(len(self.js("entries", "--canceled")["entries"]), 2)
        # On a terminal it asks; anything but yes changes nothing (exit 1).
        rc, out = self._on_terminal(["entries", "delete-canceled"], answer="n")
        self.assertEqual(rc, 1, out)
        self.assertIn("about to delete 2 canceled entries:", out)
        self.assertIn("delete 2 canceled entries? [y/N] ", out)
        self.assertIn("nothing was changed", out)
        self.assertEqual(len(self.js("entries", "--canceled")["entries"]), 2)
        rc, out = self._on_terminal(["entries", "delete-canceled"], answer="y")
        self.assertEqual((rc, out.splitlines()[-1]), (0, "2"), out)
        self.assertEqual(self.js("entries", "--canceled")["entries"], [])
        # --yes: no question on a terminal; without a terminal none either.
        self.ok("group", "put", "G9")
        rc, out = self._on_terminal(["group", "delete", "G9", "--yes"])
        self.assertEqual(rc, 0, out)
        self.assertNotIn("[y/N]", out)
        self.rapport("group", "show", "G9", rc=1)
        self.ok("segment", "create", "S9", "--description", "x")
        self.assertEqual(self.ok("segment", "delete", "S9"), "deleted segment S9 and its 0 lines\n")

    def test_lost_output_is_no_success(self):
        """Output that cannot be written (here: /dev/full) ends in exit 1
        with "write error on stdout", never in 0."""
        self.seed()
        self.create("--contact", "P1", "--salesperson", "SP1", "--template", "CALL")
        cases = [("group", "list"), ("--json", "group", "list"), ("entries", "--all"),
                 ("--json", "entries", "--all"), ("entry", "show", "1"), ("events",),
                 ("--json", "events"), ("events", "--follow", "--from-start"),
                 ("--json", "events", "--follow", "--from", "1"),
                 ("stats",), ("--json", "stats"), ("stats", "--prometheus"), ("--help",),
                 ("segment", "--help")]
        with open("/dev/full", "wb") as full:
            for args in cases:
                with self.subTest(args=args):
                    p = subprocess.run([RAPPORT, "--run-dir", self.run_dir] + list(args),
                                       stdout=full, stderr=subprocess.PIPE, env=cli_env(),
                                       timeout=30)
                    self.assertEqual(p.returncode, 1, p.stderr.decode())
                    self.assertIn(b"rapport: write error on stdout", p.stderr)

    # ---- segments ----

    def lines(self, no, *args):
        doc = self.js("segment", "lines", no, "--all", *args, cls=sg.SegmentLines)
        return doc["lines"]

    def test_segment_commands(self):
        self.seed()
        f = parse_fields(self.ok("segment", "numbering"))
        self.assertEqual((f["prefix"], f["next"], f["width"]), ("", "0", "0"))
        self.refused("segment", "create", "--description", "x", code="failed-precondition",
                     message=NUMBERING_TEXT)
        f = parse_fields(self.ok("segment", "numbering", "--prefix", "SEG", "--next", "7",
                                 "--width", "4"))
        self.assertEqual((f["prefix"], f["next"], f["width"]), ("SEG", "7", "4"))
        self.assertEqual(self.js("segment", "numbering", cls=sg.SegmentNumbering),
                         {"prefix": "SEG", "next": 7, "width": 4})

        # create: prints the No.
        self.assertEqual(self.ok("segment", "create", "--description", "Mailing",
                                 "--salesperson", "SP1", "--date", "2026-06-20", "--campaign",
                                 "CP1", "--campaign-target"), "SEG0007\n")
        self.assertEqual(self.ok("segment", "create", "--description", "Other"), "SEG0008\n")
        doc = self.js("segment", "create", "man-1", "--description", "Manual", "--template",
                      "CALL", "--subject", "Hello", "--corr-type", "email",
                      "--ignore-contact-corr-type", cls=sg.SegmentHeader)
        self.assertEqual((doc["no"], doc["date"], doc["interaction_template_code"],
                          doc["unit_cost_cents"], doc["information_flow"], doc["initiated_by"],
                          doc["correspondence_type"], doc["ignore_contact_corr_type"],
                          doc["subject"], doc["interaction_group_code"], doc["no_of_lines"]),
                         ("MAN-1", TODAY, "CALL", 1250, "outbound", "us", "email", True,
                          "Hello", "G1", 0))
        self.refused("segment", "create", "MAN-1", "--description", "again",
                     code="already-exists", message=self._exists_text("MAN-1"))

        # set: header fields; without lines first.
        f = parse_fields(self.ok("segment", "set", "SEG0007", "--template", "CALL"))
        self.assertEqual((f["interaction_template_code"], f["unit_cost"], f["date"],
                          f["campaign_no"], f["correspondence_type"]),
                         ("CALL", "12.50", "2026-06-20", "CP1", "hard-copy"))

        # add: a list, a file, a company, a salesperson; never twice.
        path = os.path.join(self.cl.dir, "contacts.txt")
        with open(path, "w") as fh:
            fh.write("P2\n\n# a comment\n  CO2  \n")
        f = parse_fields(self.ok("segment", "add", "SEG0007", "P1", "--file", path))
        self.assertEqual((f["added"], f["skipped"], f["no_of_lines"]), ("3", "0", "3"))
        self.assertEqual(self.js("segment", "add", "SEG0007", "--company", "CO1",
                                 cls=sg.AddedContacts),
                         {"added": 0, "skipped": 2, "no_of_lines": 3})
        self.assertEqual(self.js("segment", "add", "SEG0007", "--salesperson", "SP1",
                                 cls=sg.AddedContacts),
                         {"added": 2, "skipped": 0, "no_of_lines": 5})
        self.refused("segment", "add", "SEG0007", "NOPE", code="not-found",
                     message=no_record("Contact", "No.", "NOPE"))

        # lines: a table, pages, JSON.
        out = self.ok("segment", "lines", "SEG0007")
        rows = self.table(out, "LINE", "CONTACT", "COMPANY", "SALESPERSON", "TEMPLATE",
                          "DESCRIPTION", "LANG", "COST", "DATE", "UNIQUE")
        self.assertEqual([r.split()[:2] for r in rows],
                         [["10000", "P1"], ["20000", "P2"], ["30000", "CO2"], ["40000", "CO1"],
                          ["50000", "P3"]])
        out, err = self.rapport("segment", "lines", "SEG0007", "--limit", "2")
        self.assertEqual(self.first_col(out, "LINE"), ["10000", "20000"])
        self.assertIn("more to list: --after 20000, or --all", err)
        doc = self.js("segment", "lines", "SEG0007", "--after", "20000", "--limit", "2",
                      cls=sg.SegmentLines)
        self.assertEqual(([x["line_no"] for x in doc["lines"]], doc["next_after"]),
                         ([30000, 40000], 40000))
        lines = self.lines("SEG0007", "--limit", "2")
        self.assertEqual([x["contact_no"] for x in lines], ["P1", "P2", "CO2", "CO1", "P3"])
        p1 = lines[0]
        self.assertEqual((p1["segment_no"], p1["description"], p1["campaign_no"],
                          p1["interaction_template_code"], p1["cost_cents"], p1["date"],
                          p1["language_code"], p1["salesperson_code"], p1["evaluation"],
                          p1["contact_company_no"]),
                         ("SEG0007", "Mailing", "CP1", "CALL", 1250, "2026-06-20", "FR", "SP1",
                          "none", "CO1"))

        # line: personalize one; another template marks it unique.
        f = parse_fields(self.ok("segment", "line", "SEG0007", 20000, "--subject", "Special",
                                 "--evaluation", "very-negative", "--cost", "3.5", "--time",
                                 "10:15", "--corr-type", "email"))
        self.assertEqual((f["subject"], f["evaluation"], f["cost"], f["time_of_interaction"],
                          f["correspondence_type"]),
                         ("Special", "very-negative", "3.50", "10:15:00", "email"))
        doc = self.js("segment", "line", "SEG0007", 30000, "--template", "LETTER",
                      cls=sg.SegmentLine)
        self.assertEqual((doc["interaction_template_code"], doc["personalized"],
                          doc["information_flow"], doc["cost_cents"]),
                         ("LETTER", True, "inbound", 200))
        self.refused("segment", "line", "SEG0007", 90000, "--subject", "x", code="not-found",
                     message="The Segment Line does not exist. Identification fields and "
                             "values: Segment No.='SEG0007',Line No.='90000'")

        # set pushes to the lines of the header's template only;
        # --no-update-lines changes only the header.
        self.ok("segment", "set", "SEG0007", "--description", "Mailing 2")
        doc = self.js("segment", "set", "SEG0007", "--unit-duration", "9", "--no-update-lines",
                      cls=sg.SegmentHeader)
        self.assertEqual((doc["description"], doc["unit_duration_min"]), ("Mailing 2", 9))
        lines = self.lines("SEG0007")
        self.assertEqual([(x["line_no"], x["description"], x["duration_min"]) for x in lines],
                         [(10000, "Mailing 2", 5), (20000, "Mailing 2", 5),
                          (30000, "Mailing", 1), (40000, "Mailing 2", 5),
                          (50000, "Mailing 2", 5)])

        # remove, show, list, delete.
        self.assertEqual(self.ok("segment", "remove", "SEG0007", 40000, 50000), "2\n")
        self.assertEqual(self.js("segment", "remove", "SEG0007", 10000, cls=c.Count),
                         {"count": 1})
        self.refused("segment", "remove", "SEG0007", 10000, code="not-found",
                     message="The Segment Line does not exist. Identification fields and "
                             "values: Segment No.='SEG0007',Line No.='10000'")
        f = parse_fields(self.ok("segment", "show", "SEG0007"))
        self.assertEqual((f["no"], f["description"], f["no_of_lines"], f["total_cost"],
                          f["total_duration_min"]), ("SEG0007", "Mailing 2", "2", "5.50", "6"))
        doc = self.js("segment", "show", "SEG0007", cls=sg.SegmentHeader)
        wire = self.cl.ok("segment", sg.SegmentRequest(
            get_segment=sg.SegmentRef(segment_no="SEG0007"))).segment
        self.assertEqual(from_json(doc, sg.SegmentHeader), wire)
        rows = self.table(self.ok("segment", "list"), "NO", "DESCRIPTION", "SALESPERSON",
                          "TEMPLATE", "LINES", "COST")
        self.assertEqual([r.split()[0] for r in rows], ["MAN-1", "SEG0007", "SEG0008"])
        doc = self.js("segment", "list", cls=sg.Segments)
        self.assertEqual([(s["no"], s["no_of_lines"]) for s in doc["segments"]],
                         [("MAN-1", 0), ("SEG0007", 2), ("SEG0008", 0)])
        self.assertEqual(self.ok("segment", "delete", "SEG0007"), "deleted segment SEG0007 and its 2 lines\n")
        self.assertEqual(self.js("segment", "delete", "SEG0008", cls=c.Count), {"count": 0})
        self.refused("segment", "show", "SEG0007", code="not-found",
                     message=no_record("Segment Header", "No.", "SEG0007"))
        self.assertEqual(self.first_col(self.ok("segment", "list"), "NO"), ["MAN-1"])

    def _exists_text(self, no):
        rep = self.cl.call("segment", sg.SegmentRequest(create_segment=sg.CreateSegment(
            no=no, fields=sg.SegmentFields(description="probe"))))
        self.assertEqual(rep.status.code, c.ALREADY_EXISTS, rep.status.message)
        return rep.status.message

    def test_segment_template_change_updates_lines(self):
        self.seed()
        self.ok("segment", "create", "S1", "--description", "Mailing", "--salesperson", "SP1")
        self.ok("segment", "add", "S1", "P1", "P2", "P3")
        self.ok("segment", "set", "S1", "--template", "CALL")
        lines = self.lines("S1")
        self.assertEqual([(x["contact_no"], x["interaction_template_code"], x["cost_cents"])
                          for x in lines],
                         [("P1", "CALL", 1250), ("P2", "CALL", 1250), ("P3", "CALL", 1250)])
        self.ok("segment", "set", "S1", "--template", "LETTER", "--no-update-lines")
        self.assertEqual({x["interaction_template_code"] for x in self.lines("S1")}, {"CALL"})
        self.assertEqual(self.js("segment", "show", "S1")["interaction_template_code"], "LETTER")

    def test_segment_log_and_logged_segments(self):
        self.seed()
        self.ok("segment", "numbering", "--prefix", "SEG", "--next", "1", "--width", "5")
        self.assertEqual(self.ok("segment", "create", "--description", "Mailing",
                                 "--salesperson", "SP1", "--template", "CALL"), "SEG00001\n")
        self.ok("segment", "add", "SEG00001", "P1", "P2", "CO2")
        self.ok("segment", "line", "SEG00001", 20000, "--subject", "Personal")

        out = self.ok("--user", "dana", "segment", "log", "SEG00001", "--follow-up")
        self.assertEqual(out, "logged segment: 1\nentries: 1..3 (3)\n"
                              "follow-up segment: SEG00002\n")
        entries = self.js("entries", "--segment", "SEG00001", cls=c.Entries)["entries"]
        self.assertEqual([(e["entry_no"], e["contact_no"], e["logged_segment_entry_no"],
                           e["user_id"], e["segment_no"]) for e in entries],
                         [(1, "P1", 1, "dana", "SEG00001"), (2, "P2", 1, "dana", "SEG00001"),
                          (3, "CO2", 1, "dana", "SEG00001")])
        self.assertEqual(entries[1]["subject"], "Personal")
        self.assertEqual(self.first_col(self.ok("entries", "--logged-segment", 1), "NO."),
                         ["1", "2", "3"])
        self.refused("segment", "show", "SEG00001", code="not-found",
                     message=no_record("Segment Header", "No.", "SEG00001"))
        doc = self.js("segment", "show", "SEG00002", cls=sg.SegmentHeader)
        self.assertEqual((doc["description"], doc["interaction_template_code"],
                          doc["no_of_lines"], doc["date"]),
                         ("Follow-up on segment SEG00001", "", 3, TODAY))
        self.assertEqual([x["contact_no"] for x in self.lines("SEG00002")], ["P1", "P2", "CO2"])

        # Refusals: already logged, empty, a line without salesperson.
        self.ok("segment", "create", "SEG00001", "--description", "Again", "--salesperson",
                "SP1", "--template", "CALL")
        self.ok("segment", "add", "SEG00001", "P3")
        self.refused("segment", "log", "SEG00001", code="already-exists",
                     message="Logged Segment for Segment No. SEG00001 already exists.")
        self.ok("segment", "create", "EMPTY", "--description", "Nobody")
        self.refused("segment", "log", "EMPTY", code="failed-precondition",
                     message="Segment EMPTY is empty.")
        self.ok("segment", "create", "NOSP", "--description", "No salesperson", "--template",
                "CALL")
        self.ok("segment", "add", "NOSP", "P1")  # P1 has no salesperson
        self.refused("segment", "log", "NOSP", code="failed-precondition",
                     message="Salesperson Code must have a value in Segment Line: "
                             "Segment No.=NOSP, Line No.=10000.")
        self.refused("segment", "log", "NOPE", code="not-found",
                     message=no_record("Segment Header", "No.", "NOPE"))

        # --json: the SegmentLogged result.
        self.ok("segment", "create", "S2", "--description", "Second", "--salesperson", "SP2",
                "--template", "CALL")
        self.ok("segment", "add", "S2", "P2", "P3")
        doc = self.js("segment", "log", "S2", cls=c.SegmentLogged)
        self.assertEqual((doc["logged_segment_no"], doc["segment_no"], doc["entry_count"],
                          doc["first_entry_no"], doc["last_entry_no"],
                          doc["follow_up_segment_no"], doc["campaign_entries"]),
                         (2, "S2", 2, 4, 5, "", []))
        # The follow-up segment has no salesperson (P1 has none either) and
        # no template: the line checks come in docs/domain.md's order.
        self.refused("segment", "log", "SEG00002", code="failed-precondition",
                     message="Salesperson Code must have a value in Segment Line: "
                             "Segment No.=SEG00002, Line No.=10000.")
        self.ok("segment", "line", "SEG00002", 10000, "--salesperson", "SP2")
        self.refused("segment", "log", "SEG00002", code="failed-precondition",
                     message="Interaction Template Code must have a value in Segment Line: "
                             "Segment No.=SEG00002, Line No.=10000.")

        # logged-segment list / show.
        rows = self.table(self.ok("logged-segment", "list"), "NO.", "SEGMENT", "DESCRIPTION",
                          "CREATED", "USER", "INTERACTIONS", "FIRST", "LAST", "CANCELED")
        self.assertEqual([r.split()[:2] for r in rows], [["1", "SEG00001"], ["2", "S2"]])
        self.assertIn("dana", rows[0])
        doc = self.js("logged-segment", "list", "--segment", "S2", cls=lw.LoggedSegments)
        self.assertEqual([x["entry_no"] for x in doc["logged_segments"]], [2])
        f = parse_fields(self.ok("logged-segment", "show", 1))
        self.assertEqual((f["segment_no"], f["description"], f["creation_date"], f["user_id"],
                          f["no_of_interactions"], f["follow_up_segment_no"], f["canceled"]),
                         ("SEG00001", "Mailing", TODAY, "dana", "3", "SEG00002", "no"))
        doc = self.js("logged-segment", "show", 1, cls=c.LoggedSegment)
        wire = self.cl.ok("logwriter", lw.LogRequest(
            get_logged_segment=lw.GetLoggedSegment(entry_no=1))).logged_segment
        self.assertEqual(from_json(doc, c.LoggedSegment), wire)

        # cancel / uncancel toggle the entries too.
        f = parse_fields(self.ok("logged-segment", "cancel", 1))
        self.assertEqual(f["canceled"], "yes")
        self.assertEqual(self.entry_nos("--logged-segment", "1", "--canceled"), [1, 2, 3])
        self.refused("entry", "uncancel", 2, code="failed-precondition",
                     message="Canceled must be equal to 'No' in Logged Segment: Entry No.=1.")
        doc = self.js("logged-segment", "uncancel", 1, cls=c.LoggedSegment)
        self.assertFalse(doc["canceled"])
        self.assertEqual(self.entry_nos("--canceled"), [])
        self.refused("logged-segment", "cancel", 9, code="not-found",
                     message=no_record("Logged Segment", "Entry No.", 9))

        # delete-canceled: only canceled ones; entries stay, links zeroed.
        self.assertEqual(self.js("logged-segment", "cancel", 1, cls=c.LoggedSegment)["canceled"],
                         True)
        self.assertEqual(self.ok("logged-segment", "delete-canceled"), "1\n")
        self.assertEqual(self.js("logged-segment", "delete-canceled", cls=c.Count),
                         {"count": 0})
        self.assertEqual(self.first_col(self.ok("logged-segment", "list"), "NO."), ["2"])
        self.assertEqual([self.wire_entry(n).logged_segment_entry_no for n in (1, 2, 3, 4)],
                         [0, 0, 0, 2])

    def test_segment_log_when_durable(self):
        # --when-durable answers at the log's commit; the logged segment and
        # the follow-up become visible a moment later, all at once.
        self.seed()
        self.ok("segment", "numbering", "--prefix", "FU", "--next", "1", "--width", "3")
        self.ok("segment", "create", "S1", "--description", "Early", "--salesperson", "SP1",
                "--template", "CALL")
        self.ok("segment", "add", "S1", "P1", "P2", "P3")
        doc = self.js("segment", "log", "S1", "--follow-up", "--when-durable",
                      cls=c.SegmentLogged)
        self.assertEqual((doc["logged_segment_no"], doc["entry_count"], doc["first_entry_no"],
                          doc["last_entry_no"]), (1, 3, 1, 3))
        fu = doc["follow_up_segment_no"]
        self.assertTrue(fu)
        deadline = time.monotonic() + 30
        while True:
            shown = self.cl.call("logwriter", lw.LogRequest(
                get_logged_segment=lw.GetLoggedSegment(entry_no=1)))
            follow = self.cl.call("segment", sg.SegmentRequest(
                get_segment=sg.SegmentRef(segment_no=fu)))
            if shown.status.code == c.OK and follow.status.code == c.OK:
                break
            self.assertLess(time.monotonic(), deadline, "not visible after 30 s")
            time.sleep(0.02)
        self.assertEqual(shown.logged_segment.no_of_interactions, 3)
        self.assertEqual(follow.segment.no_of_lines, 3)
        self.refused("segment", "show", "S1", code="not-found",
                     message=no_record("Segment Header", "No.", "S1"))

    def test_campaign_entries(self):
        self.seed()
        single = self.create("--contact", "P1", "--salesperson", "SP2", "--template", "CALL",
                             "--campaign", "CP1")
        self.ok("segment", "create", "S1", "--description", "Spring mailing", "--salesperson",
                "SP1", "--campaign", "CP1", "--campaign-target")
        self.ok("segment", "set", "S1", "--template", "CALL")
        self.ok("segment", "add", "S1", "P2", "P3")
        self.assertEqual(self.ok("segment", "log", "S1"),
                         "logged segment: 1\nentries: 2..3 (2)\n")
        self.ok("segment", "create", "S2", "--description", "Autumn", "--salesperson", "SP2",
                "--campaign", "CP1", "--template", "CALL")
        self.ok("segment", "add", "S2", "P1")
        doc = self.js("--user", "erin", "segment", "log", "S2", cls=c.SegmentLogged)
        self.assertEqual((doc["logged_segment_no"], doc["first_entry_no"], doc["entry_count"]),
                         (2, 4, 1))
        self.assertEqual(doc["campaign_entries"], [{
            "entry_no": 3, "campaign_no": "CP1", "description": "Autumn", "date": TODAY,
            "user_id": "erin", "segment_no": "S2", "register_no": 2, "salesperson_code": "SP2",
            "canceled": False, "no_of_entries": 1}])
        rows = self.table(self.ok("campaign-entry", "list"), "NO.", "CAMPAIGN", "DESCRIPTION",
                          "DATE", "USER", "SEGMENT", "REGISTER", "SALESPERSON", "ENTRIES",
                          "CANCELED")
        self.assertEqual([r.split()[:2] for r in rows], [["1", "CP1"], ["2", "CP1"], ["3", "CP1"]])
        doc = self.js("campaign-entry", "list", "--campaign", "CP1", cls=lw.CampaignEntries)
        ces = doc["campaign_entries"]
        self.assertEqual([(x["entry_no"], x["description"], x["register_no"], x["segment_no"],
                           x["no_of_entries"], x["salesperson_code"], x["date"]) for x in ces],
                         [(1, "Interactions", 0, "", 1, "SP2", TODAY),
                          (2, "Spring mailing", 1, "S1", 2, "SP1", TODAY),
                          (3, "Autumn", 2, "S2", 1, "SP2", TODAY)])
        self.assertEqual(self.wire_entry(single).campaign_entry_no, 1)
        self.assertEqual(self.js("campaign-entry", "list", "--campaign", "CP9",
                                 cls=lw.CampaignEntries)["campaign_entries"], [])

        f = parse_fields(self.ok("campaign-entry", "cancel", 2))
        self.assertEqual((f["entry_no"], f["canceled"]), ("2", "yes"))
        self.assertEqual(self.entry_nos("--canceled"), [2, 3])
        doc = self.js("campaign-entry", "uncancel", 2, cls=c.CampaignEntry)
        self.assertFalse(doc["canceled"])
        self.assertEqual(self.entry_nos("--canceled"), [])
        self.refused("campaign-entry", "cancel", 7, code="not-found",
                     message=no_record("Campaign Entry", "Entry No.", 7))

        # delete-canceled: the campaign entry's entries go too.
        self.assertTrue(self.js("campaign-entry", "cancel", 2)["canceled"])
        self.assertEqual(self.ok("campaign-entry", "delete-canceled"), "1\n")
        self.assertEqual(self.js("campaign-entry", "delete-canceled", cls=c.Count),
                         {"count": 0})
        self.assertEqual(self.entry_nos(), [single, 4])
        self.assertEqual(self.first_col(self.ok("campaign-entry", "list"), "NO."), ["1", "3"])

    def test_bulk_import_and_add_in_batches(self):
        """10,005 contacts: the import and `segment add --file` each go in two
        requests; a repeat with the same --request-id changes nothing.
        (The segment has no template: adding 10,000 contacts to a segment
        with one is a known open worker bug being fixed elsewhere.)"""
        n = 10005
        csv_path = os.path.join(self.cl.dir, "bulk.csv")
        txt_path = os.path.join(self.cl.dir, "bulk.txt")
        with open(csv_path, "w") as f:
            f.write("name,no\n")
            f.writelines('"Bulk, %d",B%05d\n' % (i, i) for i in range(n))
        with open(txt_path, "w") as f:
            f.writelines("B%05d\n" % i for i in range(n))
        self.assertEqual(self.ok("--request-id", "bulk-1", "contact", "import", csv_path),
                         "%d\n" % n)
        self.assertEqual(self.counter("interaction", "rapport_requests_total",
                                      command="import_contacts", code="ok"), 2)
        self.ok("contact", "put", "B00000", "--name", "Renamed")
        # The repeat answers from the dedup records: the rename stays.
        self.assertEqual(self.ok("--request-id", "bulk-1", "contact", "import", csv_path),
                         "%d\n" % n)
        self.assertEqual(self.js("contact", "show", "B00000")["name"], "Renamed")
        doc = self.js("contact", "list", "--all", cls=ia.Contacts)
        self.assertEqual(len(doc["contacts"]), n)
        self.assertEqual(doc["contacts"][-1], {
            "no": "B%05d" % (n - 1), "name": "Bulk, %d" % (n - 1), "type": "person",
            "company_no": "", "salesperson_code": "", "language_code": "",
            "correspondence_type": "none", "email": "", "privacy_blocked": False})

        self.ok("segment", "create", "BIG", "--description", "Bulk")
        f = parse_fields(self.ok("--request-id", "bulk-2", "segment", "add", "BIG", "--file",
                                 txt_path))
        self.assertEqual((f["added"], f["skipped"], f["no_of_lines"]), (str(n), "0", str(n)))
        self.assertEqual(self.counter("segment", "rapport_requests_total",
                                      command="add_contacts", code="ok"), 2)
        doc = self.js("segment", "add", "BIG", "--file", txt_path, cls=sg.AddedContacts)
        self.assertEqual(doc, {"added": 0, "skipped": n, "no_of_lines": n})
        lines = self.lines("BIG")
        self.assertEqual(len(lines), n)
        self.assertEqual([x["line_no"] for x in lines[:2]] + [lines[-1]["line_no"]],
                         [10000, 20000, n * 10000])
        self.assertEqual(lines[-1]["contact_no"], "B%05d" % (n - 1))
        rows = self.table(self.ok("segment", "lines", "BIG", "--all"), "LINE", "CONTACT")
        self.assertEqual(len(rows), n)

        # A refused second batch: the first stays, and --json keeps stderr
        # one JSON object with the note inside its message.
        bad_csv = os.path.join(self.cl.dir, "bad.csv")
        with open(bad_csv, "w") as f:
            f.write("no,name,company_no\n")
            f.writelines("X%05d,x,%s\n" % (i, "NOPE" if i == 10001 else "")
                         for i in range(10003))
        out, err = self.rapport("contact", "import", bad_csv, rc=1)
        self.assertEqual(err.splitlines(), [
            "rapport: %s:10003: Contact 2 of 3 (No. 'X10001'): %s Nothing was imported." % (
                bad_csv, no_record("Contact", "No.", "NOPE")),
            "rapport: 10000 contacts were imported before the error"])
        out, err = self.rapport("--json", "contact", "import", bad_csv, rc=1)
        self.assertEqual(out, "")
        doc = json.loads(err)
        self.assertEqual((doc["code"], doc["field"]),
                         ("not-found", "import_contacts.contacts[1].company_no"))
        self.assertTrue(doc["message"].endswith(
            "Nothing was imported. (10000 contacts were imported before the error)"), doc)
        self.assertEqual(self.js("contact", "show", "X09999")["no"], "X09999")
        self.rapport("contact", "show", "X10000", rc=1)
        bad_txt = os.path.join(self.cl.dir, "bad.txt")
        with open(bad_txt, "w") as f:
            f.writelines("X%05d\n" % i for i in range(10001))
        self.ok("segment", "create", "BAD", "--description", "Partial")
        out, err = self.rapport("--json", "segment", "add", "BAD", "--file", bad_txt, rc=1)
        self.assertEqual(out, "")
        doc = json.loads(err)
        self.assertEqual(doc["message"], no_record("Contact", "No.", "X10000") +
                         " (the first 10000 contacts were sent before the error)")
        self.assertEqual(self.js("segment", "show", "BAD")["no_of_lines"], 10000)


if __name__ == "__main__":
    unittest.main()
