#!/usr/bin/env python3
"""bs.py: sends one test message (send.py's template, Message-ID and
X-Test-Seq) by speaking SMTP to "sendmail -bs" over its stdin and stdout,
the way some mail user agents and libraries submit mail. sendmail runs its
milters on -bs sessions; the milter sees a client without an address.

    bs.py --from A --to B --template F --seq N --tag T --save DIR -- CMD...

Waits for each reply before the next command (sendmail 8.17 rejects input
that arrives before its greeting). Prints the SMTP dialogue's replies.
Exit status: 0 when the message was accepted, 4 on a 4xx reply, 5 on a 5xx
reply, 1 on anything else.
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from send import build, crlf  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="sender", required=True)
    ap.add_argument("--to", dest="rcpt", required=True)
    ap.add_argument("--template", required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--save")
    ap.add_argument("cmd", nargs="+")
    a = ap.parse_args()
    with open(a.template, "rb") as f:
        data, _ = build(f.read(), a.seq, a.tag)
    p = subprocess.Popen(a.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def reply():
        lines = []
        while True:
            line = p.stdout.readline()
            if not line:
                return 0, lines
            lines.append(line.decode(errors="replace").rstrip("\r\n"))
            print("# <<< " + lines[-1])
            if len(line) < 4 or line[3:4] != b"-":
                try:
                    return int(line[:3]), lines
                except ValueError:
                    return 0, lines

    def cmd(text):
        print("# >>> " + text)
        p.stdin.write(text.encode() + b"\r\n")
        p.stdin.flush()
        return reply()[0]

    code = reply()[0]
    steps = [("EHLO client.example.com", 250), ("MAIL FROM:<%s>" % a.sender, 250),
             ("RCPT TO:<%s>" % a.rcpt, 250), ("DATA", 354)]
    for text, want in steps:
        if code // 100 != 2:
            break
        code = cmd(text)
        if code != want:
            break
    else:
        body = crlf(data)
        body = b"\r\n".join(b"." + l if l.startswith(b".") else l for l in body.split(b"\r\n"))
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        p.stdin.write(body + b".\r\n")
        p.stdin.flush()
        code = reply()[0]
        if code == 250 and a.save:
            with open(os.path.join(a.save, "%d.eml" % a.seq), "wb") as f:
                f.write(data)
    try:
        cmd("QUIT")
        p.stdin.close()
    except OSError:
        pass
    p.wait(timeout=30)
    if code == 250:
        return 0
    return {4: 4, 5: 5}.get(code // 100, 1)


if __name__ == "__main__":
    sys.exit(main())
