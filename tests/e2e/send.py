#!/usr/bin/env python3
"""send.py: submits test messages made from a template .eml file.

Each message is the template with its Message-ID header replaced by a unique
one and a header "X-Test-Seq: N" added at the end of the header block, so the
receiving side can match what arrives to what was sent. Messages go over SMTP
(P parallel sessions, optionally from a chosen local source address) or,
with --sendmail, through a sendmail-compatible command (one run a message).

Over SMTP a 4xx reply (or a dropped connection) is retried with backoff, in
a new session, until --deadline; a 5xx reply fails the message at once. Prints a summary;
exits 1 unless every message was accepted.

  send.py --port 2525 --from alice@example.com --to bob@example.net \
      --count 200 --sessions 20 --template html.eml --save DIR
"""
import argparse
import os
import re
import smtplib
import socket
import subprocess
import sys
import threading
import time


def build(template, seq, tag):
    """The message bytes (LF line ends) for sequence number seq."""
    text = template.replace(b"\r\n", b"\n")
    head, sep, body = text.partition(b"\n\n")
    if not sep:
        head, body = text.rstrip(b"\n"), b""
    lines = head.split(b"\n")
    out = []
    skip = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not skip:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        skip = name in (b"message-id", b"x-test-seq")
        if not skip:
            out.append(line)
    msgid = "<e2e.%s.%d@mbtest.example.org>" % (tag, seq)
    out.append(b"Message-ID: " + msgid.encode())
    out.append(b"X-Test-Seq: %d" % seq)
    return b"\n".join(out) + b"\n\n" + body, msgid


def crlf(data):
    return re.sub(rb"\r?\n", b"\r\n", data)


class Sender:
    def __init__(self, args, template):
        self.args = args
        self.template = template
        self.lock = threading.Lock()
        self.queue = list(range(args.first, args.first + args.count))
        self.accepted = {}
        self.failed = {}
        self.retries = 0
        self.deadline = time.monotonic() + args.deadline

    def next_seq(self):
        with self.lock:
            return self.queue.pop(0) if self.queue else None

    def save(self, seq, data, msgid):
        if self.args.save:
            with open(os.path.join(self.args.save, "%d.eml" % seq), "wb") as f:
                f.write(data)
        with self.lock:
            self.accepted[seq] = msgid

    def fail(self, seq, why):
        with self.lock:
            self.failed[seq] = why

    def connect(self):
        a = self.args
        src = (a.source, 0) if a.source else None
        s = smtplib.SMTP(a.host, a.port, local_hostname=a.helo, timeout=60,
                         source_address=src)
        code, msg = s.ehlo()
        if code != 250:
            s.close()
            raise smtplib.SMTPResponseException(code, msg)
        return s

    def send_smtp(self, smtp, seq, data):
        """Returns (smtp, None) on success, (smtp-or-None, reason) to retry
        (reason starts with "4") or to give up (starts with "5")."""
        a = self.args
        try:
            if smtp is None:
                smtp = self.connect()
            smtp.sendmail(a.sender, [a.rcpt] + a.also_to, crlf(data))
            return smtp, None
        except smtplib.SMTPRecipientsRefused as e:
            code, msg = list(e.recipients.values())[0]
            why = "%d %s" % (code, msg.decode(errors="replace"))
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
                smtplib.SMTPResponseException) as e:
            why = "%d %s" % (e.smtp_code, e.smtp_error.decode(errors="replace")
                             if isinstance(e.smtp_error, bytes) else e.smtp_error)
        except (OSError, smtplib.SMTPException) as e:
            why = "4xx connection: %s" % e
            self.close(smtp)
            return None, why
        # Retry in a new session, as an MTA would: Postfix keeps the milter
        # connection (or its failure) for the whole SMTP session.
        self.close(smtp)
        return None, why

    @staticmethod
    def close(smtp):
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            try:
                smtp.close()
            except OSError:
                pass

    def worker(self):
        smtp = None
        sent_here = 0
        while True:
            seq = self.next_seq()
            if seq is None:
                break
            data, msgid = build(self.template, seq, self.args.tag)
            delay = 0.2
            while True:
                smtp, why = self.send_smtp(smtp, seq, data)
                if why is None:
                    self.save(seq, data, msgid)
                    break
                if why.startswith("5") or time.monotonic() + delay > self.deadline:
                    self.fail(seq, why)
                    break
                with self.lock:
                    self.retries += 1
                if self.args.verbose:
                    print("seq %d: %s; retrying" % (seq, why.strip()), file=sys.stderr)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            sent_here += 1
            if self.args.per_session and sent_here >= self.args.per_session:
                self.close(smtp)
                smtp, sent_here = None, 0
            if self.args.pause:
                time.sleep(self.args.pause)
        self.close(smtp)

    def run_sendmail(self):
        cmd = self.args.sendmail.split() + [self.args.rcpt] + self.args.also_to
        for seq in list(self.queue):
            data, msgid = build(self.template, seq, self.args.tag)
            try:
                p = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
                if p.returncode == 0:
                    self.save(seq, data, msgid)
                else:
                    self.fail(seq, "sendmail exit %d: %s" % (
                        p.returncode, p.stderr.decode(errors="replace").strip()))
            except subprocess.TimeoutExpired:
                self.fail(seq, "sendmail timed out")
        self.queue = []

    def run(self):
        if self.args.sendmail:
            self.run_sendmail()
            return
        threads = [threading.Thread(target=self.worker)
                   for _ in range(max(1, min(self.args.sessions, self.args.count)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--source", help="local address to send from, e.g. 127.0.0.2")
    ap.add_argument("--helo", default="client.example.com")
    ap.add_argument("--from", dest="sender", required=True, help="envelope sender")
    ap.add_argument("--to", dest="rcpt", required=True, help="envelope recipient")
    ap.add_argument("--also-to", action="append", default=[],
                    help="another envelope recipient of the same message (repeatable)")
    ap.add_argument("--template", required=True, help=".eml file")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--first", type=int, default=1, help="first sequence number")
    ap.add_argument("--sessions", type=int, default=1, help="parallel SMTP sessions")
    ap.add_argument("--deadline", type=float, default=30,
                    help="seconds to keep retrying 4xx replies")
    ap.add_argument("--per-session", type=int, default=0,
                    help="messages per SMTP session (0: no limit)")
    ap.add_argument("--pause", type=float, default=0,
                    help="seconds each session waits after a message")
    ap.add_argument("--tag", default="%d" % os.getpid(),
                    help="goes into every Message-ID (unique per run)")
    ap.add_argument("--save", help="directory for the messages as sent, N.eml")
    ap.add_argument("--sendmail", help="submit with this command instead of SMTP, "
                    "e.g. '/usr/sbin/sendmail -C DIR -i'")
    ap.add_argument("--verbatim", action="store_true",
                    help="MAIL FROM and RCPT TO exactly as given, in <>: smtplib would "
                    "re-quote a quoted local part (\"b\\ob\"@x becomes \"b\\\\ob\"@x)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.verbatim:
        smtplib.quoteaddr = lambda addr: "<%s>" % addr
    with open(args.template, "rb") as f:
        template = f.read()
    if args.save:
        os.makedirs(args.save, exist_ok=True)
    s = Sender(args, template)
    t0 = time.monotonic()
    s.run()
    dt = time.monotonic() - t0
    print("send.py: %d of %d accepted in %.1fs (%d retries), %d failed" % (
        len(s.accepted), args.count, dt, s.retries, len(s.failed)))
    for seq in sorted(s.failed):
        print("send.py: seq %d not accepted: %s" % (seq, s.failed[seq].strip()))
    return 0 if len(s.accepted) == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
