"""deploy/run.sh as a user runs it, in a temporary demo dir.

1. `run.sh --demo-only` with its output redirected: exit 0, a quiet build,
   no escape codes, and every command it ran printed on a "$ " line that the
   shell parses.
2. `run.sh` serving: a printed command pasted into a shell works against
   the running workers and keeps its quoting; Ctrl-C (SIGINT) stops it.
After each, nothing it started is left: no process whose command line names
the demo dir, and none in the session it ran in."""
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SRC = os.path.abspath(os.environ.get("RAPPORT_SOURCE_DIR",
                                     os.path.join(os.path.dirname(__file__), "..", "..")))


def leftovers(marker, sid):
    """Processes naming `marker` in their command line, or in session sid."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat[0] == "Z":
            continue
        if marker in cmd or int(stat[3]) == sid:
            found.append("%s %s" % (pid, cmd))
    return found


class RunShTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rapport-runsh-")
        self.env = dict(os.environ, RAPPORT_DEMO_DIR=os.path.join(self.dir, "var"))
        self.env.pop("RAPPORT_CONFIG", None)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *args):
        out = open(os.path.join(self.dir, "out.txt"), "wb")
        self.addCleanup(out.close)
        p = subprocess.Popen([os.path.join(SRC, "deploy", "run.sh")] + list(args), cwd=SRC,
                             env=self.env, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        return p

    def output(self):
        with open(os.path.join(self.dir, "out.txt"), "rb") as f:
            return f.read().decode(errors="replace")

    def assert_nothing_left(self, p):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and leftovers(self.dir, p.pid):
            time.sleep(0.1)
        self.assertEqual(leftovers(self.dir, p.pid), [])

    def test_demo_only(self):
        p = self.start("--demo-only")
        self.assertEqual(p.wait(300), 0, self.output())
        out = self.output()
        self.assert_nothing_left(p)
        self.assertNotIn("\033", out)
        self.assertNotIn("Building C object", out)  # the build is quiet
        cmds = [ln[2:] for ln in out.splitlines() if ln.startswith("$ ")]
        self.assertGreater(len(cmds), 25)
        for cmd in cmds:
            argv = shlex.split(cmd)
            self.assertEqual(argv[:3], ["build/bin/rapport", "--run-dir",
                                        os.path.join(self.dir, "var", "run")], cmd)
        # Every command is shown, those whose output the demo reads too.
        for words in (["interaction", "create", "--contact", "CT0001"], ["--postpone"],
                      ["segment", "create"], ["events", "--follow"], ["logged-segment", "list"]):
            self.assertTrue(any(all(w in shlex.split(c) for w in words) for c in cmds), words)
        self.assertIn("--description 'Phone calls'", out)
        self.assertRegex(out, r"(?m)^\d+ segment\.logged ")  # the subscriber's line

    def test_serve_then_ctrl_c(self):
        p = self.start()
        deadline = time.monotonic() + 300
        while "rapport is running" not in self.output():
            self.assertIsNone(p.poll(), self.output())
            self.assertLess(time.monotonic(), deadline, self.output())
            time.sleep(0.2)
        line = next(ln for ln in self.output().splitlines()
                    if ln.startswith("$ ") and " group put CALLS " in ln)
        paste = subprocess.run(["bash", "-c", line[2:]], cwd=SRC, capture_output=True,
                               timeout=60)
        self.assertEqual(paste.returncode, 0, paste.stderr)
        self.assertIn(b"description: Phone calls", paste.stdout)
        os.killpg(p.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's process group
        self.assertEqual(p.wait(60), 130, self.output())
        self.assertIn("== stopping the workers", self.output())
        self.assert_nothing_left(p)


if __name__ == "__main__":
    unittest.main()
