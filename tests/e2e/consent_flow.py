#!/usr/bin/env python3
"""consent_flow.py: the HTTP side of the consent=optin end-to-end suite
(run-consent.sh): reads delivered messages from smtp-sink's directory and
talks to a real mailbeacond.

  consent_flow.py ask SINK SEQ BASE        the message is an ask: X-Mailbeacon
                                           "ID; ask", the consent link, no pixel,
                                           no click link, no opt-out link, valid
                                           MIME; prints the consent URL (on BASE)
  consent_flow.py urls SINK SEQ KIND BASE  prints the message's BEACON/KIND/ URLs
  consent_flow.py get URL                  GET: prints "STATUS FORM ADDRESS
                                           VERSION" (FORM 1 when the page has a
                                           form; ADDRESS 1 when it asks for one;
                                           VERSION the notice version, or -)
  consent_flow.py head URL                 HEAD: prints the status
  consent_flow.py post URL [FIELD=VALUE]...
                                           POST of the form, urlencoded; the
                                           notice field is the one GET shows
                                           unless given; prints "STATUS"
  consent_flow.py scan SINK SEQ BASE       a link scanner: GET and HEAD of every
                                           http(s) URL in the message (ours made
                                           local); prints how many
  consent_flow.py fetch URL                GET without following a redirect:
                                           prints the status
"""
import email
import email.policy
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sinkcheck import split_sink, strip_postfix_received, header_value  # noqa: E402

BEACON = "https://t.example.com"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def request(url, data=None, method=None):
    req = urllib.request.Request(url, data=data, method=method, headers={"User-Agent": UA})
    try:
        r = urllib.request.build_opener(NoRedirect).open(req, timeout=10)
        return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def message(sink, seq):
    for name in sorted(os.listdir(sink)):
        _, msg = strip_postfix_received(split_sink(open(os.path.join(sink, name), "rb").read())[1])
        if (header_value(msg, "X-Test-Seq") or "").strip() == seq:
            return msg
    raise SystemExit("FAIL: message %s is not in the sink" % seq)


def texts(msg):
    """The decoded text/html and text/plain parts, and the MIME defects."""
    m = email.message_from_bytes(msg, policy=email.policy.compat32)
    out, defects = [], list(m.defects)
    for part in m.walk():
        defects += part.defects
        if part.get_content_type() in ("text/html", "text/plain"):
            out.append(part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8",
                                                            "replace"))
    return out, defects


def ours(text, kind):
    return re.findall(re.escape(BEACON) + "/" + kind + r"/[A-Za-z0-9_.-]+", text)


def cmd_ask(sink, seq, base):
    msg = message(sink, seq)
    xmb = header_value(msg, "X-Mailbeacon") or ""
    parts, defects = texts(msg)
    body = "\n".join(parts)
    problems = []
    if not re.fullmatch(r"[A-Za-z0-9_-]{22}; ask", xmb.strip()):
        problems.append("X-Mailbeacon is %r, not 'ID; ask'" % xmb)
    asks = sorted(set(ours(body, "a")))
    if len(asks) != 1:
        problems.append("%d consent links, not 1" % len(asks))
    for kind in ("o", "c", "u"):
        if ours(body, kind):
            problems.append("a BEACON/%s/ URL in an ask" % kind)
    if defects:
        problems.append("MIME defects: %s" % defects)
    if header_value(msg, "Disposition-Notification-To"):
        problems.append("a read receipt in an ask")
    if "would like to know when you read" not in body:
        problems.append("no ask footer text")
    if problems:
        raise SystemExit("FAIL: message %s: %s" % (seq, "; ".join(problems)))
    if asks[0].split("/a/")[1].split(".")[0] != xmb.split(";")[0].strip():
        raise SystemExit("FAIL: the consent link names another message than X-Mailbeacon")
    print(asks[0].replace(BEACON, base))


def cmd_urls(sink, seq, kind, base):
    body = "\n".join(texts(message(sink, seq))[0])
    for u in sorted(set(ours(body, kind))):
        print(u.replace(BEACON, base))


def page_facts(status, body):
    text = body.decode("utf-8", "replace")
    m = re.search(r'name="notice" value="([0-9a-f]+)"', text)
    return "%d %d %d %s" % (status, int("<form" in text), int('name="address"' in text),
                            m.group(1) if m else "-")


def cmd_get(url):
    print(page_facts(*request(url)))


def cmd_post(url, fields):
    form = dict(f.split("=", 1) for f in fields)
    if "notice" not in form:
        facts = page_facts(*request(url)).split()
        form["notice"] = facts[3]
    status, _ = request(url, data=urllib.parse.urlencode(form).encode())
    print(status)


def cmd_scan(sink, seq, base):
    body = "\n".join(texts(message(sink, seq))[0])
    urls = sorted(set(re.findall(r'https?://[^\s"\'<>]+', body)))
    n = 0
    for u in urls:
        if not u.startswith(BEACON):
            continue        # nothing of ours to reach elsewhere
        local = u.replace(BEACON, base)
        request(local)
        request(local, method="HEAD")
        n += 1
    print(n)


def main(argv):
    if len(argv) >= 4 and argv[0] == "ask":
        return cmd_ask(argv[1], argv[2], argv[3])
    if len(argv) == 5 and argv[0] == "urls":
        return cmd_urls(argv[1], argv[2], argv[3], argv[4])
    if len(argv) == 2 and argv[0] == "get":
        return cmd_get(argv[1])
    if len(argv) == 2 and argv[0] == "head":
        return print(request(argv[1], method="HEAD")[0])
    if len(argv) >= 2 and argv[0] == "post":
        return cmd_post(argv[1], argv[2:])
    if len(argv) == 4 and argv[0] == "scan":
        return cmd_scan(argv[1], argv[2], argv[3])
    if len(argv) == 2 and argv[0] == "fetch":
        return print(request(argv[1])[0])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
