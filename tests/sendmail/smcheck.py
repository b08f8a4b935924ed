#!/usr/bin/env python3
"""smcheck.py: checks one message that went through the private sendmail to
smtp-sink against what send.py sent (the sendmail counterpart of
tests/e2e/sinkcheck.py and preview_match.py, whose helpers it uses).

    smcheck.py --sink DIR --sent DIR --seq N --expect tracked|untouched
               [--preview MAILBEACON CONF DATABASE FROM TO]

The Received: fields sendmail prepended (MTA, and the MSP's for local
submission: "by mbtest.example.org (8.x/8.x...") are removed first; sendmail
adds nothing else to our messages (they carry Date, From, To, Message-ID).

  untouched  the rest is byte-identical to the message as sent;
  tracked    it carries X-Mailbeacon, the pixel and click links, valid MIME,
             no other header changed (sinkcheck.check_tracked); the store
             has exactly one row for its Message-ID, with the X-Mailbeacon id
             and as queue_id the queue id of the sendmail MTA that ran the
             milter (its "with ESMTP id ..." in the topmost Received:); and
             with --preview it is byte-identical (LF line ends) to
             `mailbeacon preview --message-id ID --sent T` of the message as
             sent, ID and T being the ones recorded.

Prints "ok: ..." or "FAIL: ..." lines; exits 1 on any failure.
"""
import argparse
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from sinkcheck import split_sink, header_value, check_tracked  # noqa: E402

MY_HOST = b"by mbtest.example.org ("


def strip_sendmail_received(msg):
    """Removes the leading Received: fields that our sendmail added; returns
    (removed, rest)."""
    lines = msg.split(b"\n")
    removed = []
    i = 0
    while i < len(lines) and lines[i].startswith(b"Received: "):
        j = i + 1
        while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
            j += 1
        field = b"\n".join(lines[i:j])
        if MY_HOST not in field:
            break
        removed.append(field)
        i = j
    return removed, b"\n".join(lines[i:])


def find(sink, seq):
    found = []
    for name in sorted(os.listdir(sink)):
        path = os.path.join(sink, name)
        if not name.startswith("m.") or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            _, msg = split_sink(f.read())
        if (header_value(msg, "X-Test-Seq") or "").strip() == str(seq):
            found.append((path, msg))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sink", required=True)
    ap.add_argument("--sent", required=True)
    ap.add_argument("--seq", required=True, type=int)
    ap.add_argument("--expect", required=True, choices=("tracked", "untouched"))
    ap.add_argument("--preview", nargs=5, metavar=("MAILBEACON", "CONF", "DB", "FROM", "TO"))
    ap.add_argument("--beacon", default="https://t.example.com")
    a = ap.parse_args()
    fails = []

    found = find(a.sink, a.seq)
    if len(found) != 1:
        print("FAIL: seq %d arrived %d times" % (a.seq, len(found)))
        return 1
    path, msg = found[0]
    removed, rest = strip_sendmail_received(msg)
    if not removed:
        fails.append("no Received: field from our sendmail")
    m = re.search(rb"\bwith \S+ id (\S+?);?\s", removed[0]) if removed else None
    mta_qid = m.group(1).decode() if m else None
    with open(os.path.join(a.sent, "%d.eml" % a.seq), "rb") as f:
        sent = f.read().replace(b"\r\n", b"\n")
    tracked = header_value(rest, "X-Mailbeacon") is not None

    if a.expect == "untouched":
        if tracked:
            fails.append("tracked (X-Mailbeacon: %s)" % header_value(rest, "X-Mailbeacon"))
        elif rest != sent:
            x, y = sent.split(b"\n"), rest.split(b"\n")
            k = 0
            while k < min(len(x), len(y)) and x[k] == y[k]:
                k += 1
            fails.append("changed from line %d: sent %r, delivered %r" % (
                k + 1, x[k] if k < len(x) else b"<end>", y[k] if k < len(y) else b"<end>"))
        for f in fails:
            print("FAIL: seq %d: %s: %s" % (a.seq, path, f))
        if not fails:
            print("ok: seq %d untouched, byte-identical but for %d Received: field(s) of sendmail"
                  % (a.seq, len(removed)))
        return 1 if fails else 0

    if not tracked:
        fails.append("not tracked (no X-Mailbeacon; %s)" % (
            "otherwise byte-identical" if rest == sent else "but changed"))
    else:
        fails += check_tracked(rest, a.beacon, sent)
    detail = ""
    db = a.preview[2] if a.preview else None
    if tracked and db:
        xid = header_value(rest, "X-Mailbeacon").split(";", 1)[0].strip()
        msgid = header_value(sent, "Message-ID").strip()
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        rows = con.execute("SELECT id, sent, queue_id FROM messages"
                           " WHERE message_id_header IN (?, ?)",
                           (msgid, msgid.strip("<>"))).fetchall()
        con.close()
        if len(rows) != 1:
            fails.append("%d store rows for %s" % (len(rows), msgid))
        else:
            rid, rsent, rqid = rows[0]
            if rid != xid:
                fails.append("X-Mailbeacon id %s, store row id %s" % (xid, rid))
            if rqid != mta_qid:
                fails.append("store queue_id %r, sendmail's queue id %r" % (rqid, mta_qid))
            mb, conf, _, sender, rcpt = a.preview
            out = subprocess.run([mb, "-c", conf, "preview", "--from", sender, "--to", rcpt,
                                  "--message-id", rid, "--sent", str(rsent)],
                                 input=sent, capture_output=True)
            if out.returncode != 0 or b"untouched" in out.stderr:
                fails.append("preview: %r" % out.stderr)
            else:
                want = out.stdout.replace(b"\r\n", b"\n")
                got = rest.replace(b"\r\n", b"\n")
                if got != want:
                    for i, (x, y) in enumerate(zip(got.split(b"\n"), want.split(b"\n"))):
                        if x != y:
                            fails.append("line %d differs from preview: delivered %r, preview %r"
                                         % (i + 1, x[:120], y[:120]))
                            break
                    else:
                        fails.append("length differs from preview: delivered %d, preview %d"
                                     % (len(got), len(want)))
                else:
                    detail = "; %d octets identical to preview" % len(got)
            detail += "; store row id %s, queue_id %s" % (rid, rqid)
    for f in fails:
        print("FAIL: seq %d: %s: %s" % (a.seq, path, f))
    if not fails:
        print("ok: seq %d tracked (sendmail queue id %s)%s" % (a.seq, mta_qid, detail))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
