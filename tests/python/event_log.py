#!/usr/bin/python3
"""A subscriber process for test_subscriber.py: appends "seq type" for every
durable event to FILE, one write per event, and resumes after the last seq
in FILE when it starts again. The seq is stored with the event's effect
(the line), so even SIGKILL cannot make it miss or repeat one.

    event_log.py RUN_DIR FILE"""
import os
import sys

sys.path.insert(0, os.environ.get("RAPPORT_PY_PROTO", "build/py"))
import rapport  # noqa: E402


def saved_seq(path):
    """The seq of the last complete line of the file (0: none)."""
    try:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")[:-1]  # a torn last line has no newline
    except FileNotFoundError:
        return 0
    return int(lines[-1].split()[0]) if lines else 0


def main(run_dir, path):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with rapport.Subscriber(rapport.Client(run_dir=run_dir), after_seq=saved_seq(path),
                            idle_check=0.2) as sub:
        print("ready", flush=True)
        for ev in sub:
            os.write(fd, b"%d %s\n" % (ev.seq, ev.type.encode()))


if __name__ == "__main__":
    main(*sys.argv[1:])
