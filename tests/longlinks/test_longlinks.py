#!/usr/bin/env python3
"""test_longlinks.py: the milter never writes a click URL the beacon refuses.

    test_longlinks.py --build DIR [--keep]

One message (made by `mailbeacon preview`, the milter's code path) carries
three destinations: the longest whose click URL fits the shared limit (8192
octets, common/url_limit.h), one octet longer, and 6,500 octets. The first
must become a click URL that a real mailbeacond, on a loopback port,
answers with 302 to exactly that destination; the others must stay as
written (their click URLs would pass the limit), and be counted on
preview's standard error (the count the milter logs as long=N). The
beacon follows a signed click whose path is 8192 octets and answers 414
to one of 8193.
Prints "ok NAME" / "FAIL NAME: why", then "N passed, M failed".
"""
import argparse
import atexit
import hashlib
import hmac
import os
import re
import sys
import tempfile

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "beacon"))
import beaconlib as bl  # noqa: E402

URL_MAX = 8192
CLICK_RE = re.compile(re.escape(bl.BEACON_URL) +
                      r"/c/([A-Za-z0-9_-]+)\.(\d+)\.(\d+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)")


def b64_len(n):
    """Unpadded base64url length of n octets."""
    return (4 * n + 2) // 3


def destination(n):
    """A plausible destination of exactly n octets (a long tracking query)."""
    head = "https://shop.example.com/landing?utm_source=mail&state="
    filler = "".join("abcdefghijklmnopqrstuvwxyz0123456789-_"[i % 38] for i in range(n - len(head)))
    return head + filler


def sign_click(key, msgid, sent, link, kid, dest):
    """The click URL token_format() would write (common/token.h)."""
    data = b"\0".join([b"mailbeacon-v1", b"c", msgid.encode(), str(sent).encode(),
                       str(link).encode(), kid.encode(), dest])
    tag = bl.b64url(hmac.new(key, data, hashlib.sha256).digest()[:16])
    return "%s/c/%s.%s.%s.%s.%s/%s" % (bl.BEACON_URL, msgid, sent, link, kid, tag, bl.b64url(dest))


def html_body(output):
    import email
    import email.policy
    msg = email.message_from_bytes(output, policy=email.policy.compat32)
    return "".join(p.get_payload(decode=True).decode("utf-8") for p in msg.walk()
                   if p.get_content_type() == "text/html")


def run(report, build, root):
    site = bl.Site(build, root, "long")
    site.create_store()
    beacon = bl.Beacon(site).start()
    msgid, sent = bl.new_msgid(), 1700000000 + 86400 * 365 * 3
    kid, key = site.keys[0][0], bl.b64url_decode(site.keys[0][1])
    # The click URL's length less its destination's base64url, from the
    # token's own fields: link number 1 has one digit.
    fixed = len(sign_click(key, msgid, sent, 1, kid, b""))
    under = max(n for n in range(5000, 7000) if fixed + b64_len(n) <= URL_MAX)
    # The third is the issue's: 6,500 octets once became an 8,763-octet URL
    # that the beacon answered with 414.
    dests = [destination(under), destination(under + 1), destination(6500)]
    rc, out, err = site.preview(["rcpt@example.net"], bl.html_mail(dests, ["rcpt@example.net"]),
                                msgid, sent)
    if rc != 0:
        report.fail("preview", "exit %d: %s" % (rc, err.strip()))
        return
    text = html_body(out)
    clicks = [m.group(0) for m in CLICK_RE.finditer(text)]

    name = "under-the-limit-is-rewritten"
    want = sign_click(key, msgid, sent, 1, kid, dests[0].encode())
    if clicks[:1] != [want]:
        report.fail(name, "%d octets: expected click URL of %d octets, got %s" %
                    (under, len(want), [len(c) for c in clicks]))
    elif len(want) > URL_MAX:
        report.fail(name, "click URL of %d octets, over %d" % (len(want), URL_MAX))
    else:
        report.ok(name, "%d-octet destination, %d-octet click URL" % (under, len(want)))

    name = "beacon-redirects-under-the-limit"
    r = bl.request(beacon.port, "GET", want[len(bl.BEACON_URL):], {"User-Agent": "Mozilla/5.0"})
    loc = r.header_bytes("Location")
    if r.status == 302 and loc == dests[0].encode():
        report.ok(name, "302 to the exact destination")
    else:
        report.fail(name, "HTTP %s, Location %r..." % (r.status, (loc or b"")[:80]))

    name = "over-the-limit-stays-as-written"
    kept = ['<a href="%s">link %d</a>' % (d, i + 2) in text for i, d in enumerate(dests[1:])]
    if len(clicks) != 1:
        report.fail(name, "%d click URLs in the output, want 1: only the %d-octet destination fits" %
                    (len(clicks), under))
    elif not all(kept):
        report.fail(name, "hrefs of %d and 6500 octets as written in the output: %s" % (under + 1, kept))
    else:
        report.ok(name, "destinations of %d and 6500 octets left alone" % (under + 1))

    # Counted: the milter logs long=N from the same count.
    name = "long-links-counted"
    said = "2 links left as written: click URL over %d octets" % URL_MAX
    if said in err:
        report.ok(name, said)
    else:
        report.fail(name, "preview's standard error does not say %r: %r" % (said, err.strip()))

    # The beacon's side of the same limit: a click whose request path is
    # exactly URL_MAX octets is followed, one octet more is 414. (The milter
    # counts the whole URL, of which the path is a part.)
    name = "beacon-takes-paths-up-to-the-limit"
    got = []
    for path_len in (URL_MAX, URL_MAX + 1):
        # base64url skips some lengths; the link number's digits fill them.
        fits = [p for link in (1, 10, 100) for n in range(under, under + 40)
                for p in [sign_click(key, msgid, sent, link, kid, destination(n).encode())[len(bl.BEACON_URL):]]
                if len(p) == path_len]
        r = bl.request(beacon.port, "GET", fits[0], {"User-Agent": "Mozilla/5.0"})
        got.append(r.status)
    if got == [302, 414]:
        report.ok(name, "a %d-octet path 302, %d octets 414" % (URL_MAX, URL_MAX + 1))
    else:
        report.fail(name, "paths of %d and %d octets: HTTP %s, want [302, 414]" % (URL_MAX, URL_MAX + 1, got))
    beacon.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("top_builddir") or
                    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    bl.install_signal_handlers()
    atexit.register(bl.stop_all)
    report = bl.Report()
    root = tempfile.mkdtemp(prefix="mb-longlinks-")
    try:
        run(report, os.path.abspath(args.build), root)
        bl.stop_all()
        bl.report_sanitizers(report, root)
    except Exception as e:    # a crash of the test is a failure, with its cause
        report.fail("longlinks", "%s: %s" % (type(e).__name__, e))
    finally:
        status = bl.finish(report, root, args.keep)
    return status


if __name__ == "__main__":
    sys.exit(main())
