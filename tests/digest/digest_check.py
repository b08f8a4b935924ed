#!/usr/bin/env python3
"""digest_check.py: checks the digests smtp-sink received (run-digest.sh).

  digest_check.py SINK_DIR MESSAGES NOW --since-days N SENDER...

MESSAGES holds the store's messages as "id|sender|sent" lines. There must be
exactly one mail per SENDER, to that sender, from the null envelope sender,
with Auto-Submitted: auto-generated and X-Mailbeacon: notification, a text
part and an HTML part. The HTML part, parsed with html.parser, must list as
message rows exactly that sender's messages sent in the last N days before
NOW, and one sender row, theirs; neither part may name another sender or
any other stored message id. Prints "info: ..." lines; exits 1 with the
reasons on failure.
"""
import argparse
import email
import email.policy
import glob
import os
import sys
from html.parser import HTMLParser

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from sinkcheck import split_sink  # noqa: E402


class Rows(HTMLParser):
    """The data-id of every <tr class="message-row"> and the data-sender of
    every <tr class="sender-row">."""

    def __init__(self):
        super().__init__()
        self.ids, self.senders = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag != "tr":
            return
        if a.get("class") == "message-row":
            self.ids.append(a.get("data-id"))
        elif a.get("class") == "sender-row":
            self.senders.append(a.get("data-sender"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sink")
    ap.add_argument("messages")
    ap.add_argument("now", type=int)
    ap.add_argument("--since-days", type=int, required=True)
    ap.add_argument("senders", nargs="+")
    a = ap.parse_args()

    stored = []
    for line in open(a.messages):
        mid, sender, sent = line.rstrip("\n").split("|")
        stored.append((mid, sender, int(sent)))
    since = a.now - a.since_days * 86400
    errors = []
    files = sorted(glob.glob(os.path.join(a.sink, "m.*")))
    by_rcpt = {}
    for path in files:
        recs, raw = split_sink(open(path, "rb").read())
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        to = str(msg["To"]).strip()
        if to in by_rcpt:
            errors.append("two digests to %s" % to)
        by_rcpt[to] = (recs, msg)
    if sorted(by_rcpt) != sorted(a.senders):
        errors.append("digests went to %s, expected %s" % (sorted(by_rcpt), sorted(a.senders)))
    for sender, (recs, msg) in sorted(by_rcpt.items()):
        if b"\nX-Mail-Args: <>\n" not in recs:
            errors.append("%s: the envelope sender is not <>: %r" % (sender, recs))
        if msg.get_all("Auto-Submitted") != ["auto-generated"]:
            errors.append("%s: Auto-Submitted is %r" % (sender, msg.get_all("Auto-Submitted")))
        if msg.get_all("X-Mailbeacon") != ["notification"]:
            errors.append("%s: X-Mailbeacon is %r" % (sender, msg.get_all("X-Mailbeacon")))
        if msg.get_content_type() != "multipart/alternative":
            errors.append("%s: %s, not multipart/alternative" % (sender, msg.get_content_type()))
        text = html = None
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                text = part.get_content()
            elif part.get_content_type() == "text/html":
                html = part.get_content()
        if text is None or html is None:
            errors.append("%s: no text or no HTML part" % sender)
            continue
        rows = Rows()
        rows.feed(html)
        want = sorted(m for m, s, t in stored if s == sender and t >= since)
        if sorted(rows.ids) != want:
            errors.append("%s: HTML message rows %s, expected %s" % (sender, sorted(rows.ids), want))
        if rows.senders != [sender]:
            errors.append("%s: HTML sender rows %s" % (sender, rows.senders))
        for mid, s, t in stored:
            if mid in want:
                continue
            for name, body in (("HTML", html), ("text", text)):
                if mid in body:
                    errors.append("%s: the %s part names message %s (of %s, sent %d)"
                                  % (sender, name, mid, s, t))
        for other in {s for _, s, _ in stored} - {sender}:
            for name, body in (("HTML", html), ("text", text)):
                if other in body:
                    errors.append("%s: the %s part names %s" % (sender, name, other))
        if "%d message" % len(want) not in text:
            errors.append("%s: the text part does not say %d messages" % (sender, len(want)))
        print("info: %s: %d messages in the HTML part (%d bytes), text %d bytes"
              % (sender, len(rows.ids), len(html), len(text)))
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
