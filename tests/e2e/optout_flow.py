#!/usr/bin/env python3
"""Opt-out across components: from the footer of a delivered message, a GET
of the opt-out page records nothing; a POST records the opt-out. After it,
the old message's pixel and link still answer (GIF, 302) but write no
event.

usage: optout_flow.py SINK_DIR SEQ BEACON_PORT DATABASE
Prints "ok: ..." or "FAIL: ..."."""
import email, os, re, sqlite3, sys, urllib.error, urllib.request
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sinkcheck import split_sink, strip_postfix_received, header_value


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, data=None):
    req = urllib.request.Request(url, data=data, headers={
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"})
    try:
        r = urllib.request.build_opener(NoRedirect).open(req, timeout=10)
        return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def count(db, sql, *args):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


def main():
    sink, seq, port, db = sys.argv[1:5]
    html = None
    for name in os.listdir(sink):
        _, msg = strip_postfix_received(split_sink(open(os.path.join(sink, name), "rb").read())[1])
        if (header_value(msg, "X-Test-Seq") or "").strip() == seq:
            for part in email.message_from_bytes(msg).walk():
                if part.get_content_type() == "text/html":
                    html = part.get_payload(decode=True).decode("utf-8", "replace")
    if html is None:
        print("FAIL: no HTML part for message %s in the sink" % seq)
        return 1
    base = "http://127.0.0.1:%s" % port
    local = lambda u: u.replace("https://t.example.com", base)
    optout = local(re.search(r'https://t\.example\.com/u/[^"]+', html).group(0))
    pixel = local(re.search(r'https://t\.example\.com/o/[^"]+', html).group(0))
    click = local(re.search(r'https://t\.example\.com/c/[^"]+', html).group(0))
    msgid = re.search(r'/o/([A-Za-z0-9_-]{22})\.', pixel).group(1)
    events = lambda: count(db, "SELECT count(*) FROM events WHERE message_id = ?", msgid)
    optouts = lambda: count(db, "SELECT count(*) FROM optouts")

    status, body = fetch(optout)
    if status != 200 or b"<form" not in body or optouts() != 0 or events() != 0:
        print("FAIL: GET of the opt-out page: %d, %d opt-outs, %d events" % (status, optouts(), events()))
        return 1
    status, body = fetch(optout, data=b"")
    if status != 200 or optouts() != 1 or events() != 1:
        print("FAIL: POST: %d, %d opt-outs, %d events (want 1 and 1: the optout event)"
              % (status, optouts(), events()))
        return 1
    before = events()
    s1, gif = fetch(pixel)
    s2, _ = fetch(click)
    if s1 != 200 or len(gif) != 43 or s2 != 302 or events() != before:
        print("FAIL: after the opt-out: pixel %d (%d octets), click %d, events %d -> %d"
              % (s1, len(gif), s2, before, events()))
        return 1
    print("ok: GET recorded nothing; POST recorded the opt-out; later pixel and click answered "
          "(200, 302) and recorded nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
