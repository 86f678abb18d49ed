"""The README says what the code does: its `rapport` command table against
the command's own table, and its package list against deploy/deps.sh.

The command table comes from `rapport completion bash`, which is generated
from the table the command parses its arguments with. Every command must
have a row in the README, every command a row names must exist, and every
option of a command must be in the row that names it (a row may say
"[the fields of create]" or "[the filters of entries]" for another command's
options), while a row names no option the command does not take."""
import os
import re
import subprocess
import unittest

SRC = os.environ.get("RAPPORT_SOURCE_DIR",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("RAPPORT_BIN_DIR", os.path.join(SRC, "build", "bin"))


def cli_table():
    """{"group name" or "group": set of options} from the completion script."""
    out = subprocess.run([os.path.join(BIN, "rapport"), "completion", "bash"],
                         capture_output=True, check=True, env=dict(os.environ,
                                                                   RAPPORT_CONFIG="/dev/null"),
                         timeout=30).stdout.decode()
    cmds = {}
    for m in re.finditer(r'^  "([a-z-]+) ([a-z-]*)"\) opts=\'([^\']*)\'', out, re.M):
        cmds[(m.group(1) + " " + m.group(2)).strip()] = set(m.group(3).split())
    globals_ = set(re.search(r"local globals='([^']*)'", out).group(1).split())
    return cmds, globals_


def readme():
    with open(os.path.join(SRC, "README.md")) as f:
        return f.read()


def readme_rows(text):
    """The backticked snippets of the first cell of each row of the command
    table in "The `rapport` command"."""
    section = text[text.index("## The `rapport` command"):]
    section = section[:section.index("\n## ", 1)]
    snippets = []
    for line in section.splitlines():
        if line.startswith("| `"):
            cell = line.split(" | ")[0]
            snippets += re.findall(r"`([^`]+)`", cell.replace("\\|", "|"))
    return snippets


def command_of(snippet, cmds):
    words = snippet.split()
    if len(words) > 1 and words[0] + " " + words[1] in cmds:
        return words[0] + " " + words[1]
    return words[0]


class ReadmeTest(unittest.TestCase):
    def test_command_table(self):
        cmds, globals_ = cli_table()
        self.assertGreater(len(cmds), 50)
        rows = {}
        for snippet in readme_rows(readme()):
            cmd = command_of(snippet, cmds)
            self.assertIn(cmd, cmds, "the README names `%s`, which the command lacks" % snippet)
            rows.setdefault(cmd, []).append(snippet)
        missing = sorted(set(cmds) - set(rows))
        self.assertEqual(missing, [], "commands without a README row")
        for cmd, snippets in rows.items():
            group = cmd.split()[0]
            named = set()
            for snippet in snippets:
                named |= set(re.findall(r"--[a-z][a-z-]*", snippet))
                for ref in re.findall(r"\[the (?:fields|filters) of ([a-z-]+)\]", snippet):
                    other = ref if ref in cmds else group + " " + ref
                    self.assertIn(other, cmds, snippet)
                    named |= cmds[other] & cmds[cmd]  # the options they share
            with self.subTest(command=cmd):
                self.assertEqual(sorted(cmds[cmd] - named), [],
                                 "options of `rapport %s` the README does not show" % cmd)
                self.assertEqual(sorted(named - cmds[cmd] - globals_), [],
                                 "options the README shows that `rapport %s` lacks" % cmd)

    def test_package_list(self):
        with open(os.path.join(SRC, "deploy", "deps.sh")) as f:
            deps = f.read()
        wanted = set(re.search(r"RAPPORT_PACKAGES=\(([^)]*)\)", deps).group(1).split())
        text = readme()
        para = text[text.index("Both scripts install the Debian packages"):]
        para = para[:para.index("\n\n", para.index("- to build"))]
        listed = set(re.findall(r"`([a-z0-9][a-z0-9.+-]+)`", para)) - {"deploy/deps.sh"}
        listed = {p for p in listed if not p.startswith(("apt-get", "mdb_", "promtool"))}
        self.assertEqual(sorted(listed - wanted), [], "in the README, not in deps.sh")
        self.assertEqual(sorted(wanted - listed), [], "in deps.sh, not in the README")


if __name__ == "__main__":
    unittest.main()
