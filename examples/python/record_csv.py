#!/usr/bin/python3
"""record_csv: a service that records an interaction for every line of a
CSV file, with the Python package `rapport`.

    record_csv.py [--config FILE] [--user ID] FILE.csv

Each line is `contact_no,template_code[,description]` (a first line naming
these columns is skipped). Each line's request_id is the file's SHA-256
(16 hex digits) and the line number, so running the same file again, after
a crash or on purpose, records nothing twice: the workers answer a repeated
request_id with the first reply. The lines go to rapport-interaction CHUNK
at a time, pipelined (Client.exchange). Prints "line N: entry E" per line; a line
the workers refuse is reported on stderr with its error code, message and
field, and the others go on. Exit status 0, or 1 when a line was refused."""
import argparse
import csv
import hashlib
import sys

import rapport
from rapport import ia

CHUNK = 500


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="rapport.conf (default $RAPPORT_CONFIG or /etc/rapport)")
    ap.add_argument("--user", help="user id recorded over ipc (default $USER)")
    ap.add_argument("csv")
    args = ap.parse_args()
    with open(args.csv, "rb") as f:
        data = f.read()
    batch = hashlib.sha256(data).hexdigest()[:16]
    refused = 0
    with rapport.Client(args.config, user_id=args.user) as client:
        lines = []  # (line number, request)
        for n, row in enumerate(csv.reader(data.decode("utf-8").splitlines()), 1):
            if not row or (n == 1 and row[0] == "contact_no"):
                continue
            fields = ia.InteractionFields(contact_no=row[0], interaction_template_code=row[1])
            if len(row) > 2 and row[2]:
                fields.description = row[2]
            lines.append((n, client.request("interaction", "create_interaction",
                                            origin=ia.ORIGIN_CONTACT, fields=fields,
                                            request_id=("%s-%d" % (batch, n)).encode())))
        # CHUNK requests at once (pipelined: the log writer commits them together).
        for at in range(0, len(lines), CHUNK):
            chunk = lines[at:at + CHUNK]
            replies = client.exchange("interaction", [req for _, req in chunk], timeout=60)
            for (n, _), reply in zip(chunk, replies):
                if isinstance(reply, rapport.RapportError):
                    print("line %d: %s" % (n, reply), file=sys.stderr)
                    refused += 1
                else:
                    print("line %d: entry %d" % (n, reply.entry.entry_no), flush=True)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
