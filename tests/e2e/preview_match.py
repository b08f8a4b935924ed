#!/usr/bin/env python3
"""The message a Postfix delivered equals what `mailbeacon preview` makes
of the message that was sent, given the id and send time the milter
recorded, byte for byte once smtp-sink's and Postfix's Received: lines are
removed and line ends are read as LF. This proves that preview shows
exactly what the milter delivers (the same rewrite, through a real MTA).

usage: preview_match.py SINK_DIR SENT_DIR SEQ DATABASE MAILBEACON CONF FROM TO
"""
import os, sqlite3, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sinkcheck import split_sink, strip_postfix_received, header_value


def main():
    sink, sent_dir, seq, db, mb, conf, sender, rcpt = sys.argv[1:9]
    delivered = None
    for name in os.listdir(sink):
        data = open(os.path.join(sink, name), "rb").read()
        _, msg = strip_postfix_received(split_sink(data)[1])
        if (header_value(msg, "X-Test-Seq") or "").strip() == seq:
            delivered = msg
    if delivered is None:
        print("FAIL: message %s not in the sink" % seq)
        return 1
    sent = open(os.path.join(sent_dir, "%s.eml" % seq), "rb").read()
    msgid = header_value(sent, "Message-ID").strip()
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    row = con.execute("SELECT id, sent FROM messages WHERE message_id_header IN (?, ?)",
                      (msgid, msgid.strip("<>"))).fetchone()
    if row is None:
        # consent=optin's ask: not a message the store records, but an ask
        # under the id of its X-Mailbeacon header, at its send time.
        xmb = (header_value(delivered, "X-Mailbeacon") or "").split(";")[0].strip()
        row = con.execute("SELECT message_id, time FROM consent_asks WHERE message_id = ?",
                          (xmb,)).fetchone()
    if row is None:
        print("FAIL: no store record for %s" % msgid)
        return 1
    out = subprocess.run([mb, "-c", conf, "preview", "--from", sender, "--to", rcpt,
                          "--message-id", row[0], "--sent", str(row[1])],
                         input=sent, capture_output=True)
    if out.returncode != 0 or b"untouched" in out.stderr:
        print("FAIL: preview: %r" % out.stderr)
        return 1
    want = out.stdout.replace(b"\r\n", b"\n")
    got = delivered.replace(b"\r\n", b"\n")
    if got != want:
        for i, (a, b) in enumerate(zip(got.split(b"\n"), want.split(b"\n"))):
            if a != b:
                print("FAIL: line %d differs:\n  delivered %r\n  preview   %r" % (i + 1, a[:120], b[:120]))
                break
        else:
            print("FAIL: lengths differ: delivered %d, preview %d" % (len(got), len(want)))
        return 1
    cte = header_value(delivered, "Content-Transfer-Encoding") or ""
    longest = max(len(l) for l in got.split(b"\n"))
    print("ok: %d octets identical to preview; Content-Transfer-Encoding %s; longest line %d"
          % (len(got), cte.strip(), longest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
