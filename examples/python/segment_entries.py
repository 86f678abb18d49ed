#!/usr/bin/python3
"""segment_entries: prints the entries of every logged segment as rapport
logs them, with the Python package `rapport`, and survives a restart
without missing or repeating one.

    segment_entries.py [--config FILE] --output FILE [--idle-exit SECONDS]

For each segment.logged event it appends to FILE one line per entry of the
logged segment, "<seq> <logged segment no.> <entry no.> <contact no.>", then
"<seq> end". The output is also where it stands: at start it cuts what
follows the last "end" line (a segment a crash interrupted) and resumes
the events after that seq, so that each logged segment is printed exactly
once, whatever stopped it (kill -9 included). Exit 0 when no event came for
--idle-exit seconds (default: run until SIGINT or SIGTERM)."""
import argparse
import os
import signal
import sys

import rapport

PAGE = 1000


def resume(path):
    """Cut a partly printed segment; the seq of the last complete one."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    lines = data.split(b"\n")
    ends = [i for i, line in enumerate(lines) if line.endswith(b" end")]
    keep = b"".join(line + b"\n" for line in lines[:ends[-1] + 1]) if ends else b""
    if keep != data:
        with open(path, "r+b") as f:
            f.truncate(len(keep))
    return int(lines[ends[-1]].split()[0]) if ends else 0


def entries(client, logged_segment_no):
    """The entries of a logged segment, page by page."""
    after = 0
    while True:
        page = client.list_entries(filter=rapport.lw.EntryFilter(
            logged_segment_entry_no=logged_segment_no), after=after, limit=PAGE)
        yield from page.entries
        if not page.next_after:
            return
        after = page.next_after


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="rapport.conf (default $RAPPORT_CONFIG or /etc/rapport)")
    ap.add_argument("--output", required=True)
    ap.add_argument("--idle-exit", type=float)
    args = ap.parse_args()
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    saved = resume(args.output)
    fd = os.open(args.output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with rapport.Client(args.config) as client, \
            rapport.Subscriber(client, after_seq=saved, types=("segment.logged",)) as sub:
        while not stop:
            ev = sub.get(timeout=args.idle_exit if args.idle_exit else 1.0)
            if ev is None:
                if args.idle_exit:
                    break
                continue
            no = ev.segment_logged.logged_segment_no
            for e in entries(client, no):
                os.write(fd, b"%d %d %d %s\n" % (ev.seq, no, e.entry_no, e.contact_no.encode()))
            os.write(fd, b"%d end\n" % ev.seq)
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
