#!/usr/bin/env python3
"""test_beacon.py: mailbeacond over real HTTP on a loopback port.

    test_beacon.py --build DIR [--keep] [CASE...]

Each run makes fresh sites (configuration, keys, hash key, policy, store) in
a temporary directory, starts the beacon (-f, foreground), and stops it at
the end whatever happened. Messages are made by `mailbeacon preview` and
recorded in the store with the rows the milter writes. Every check that a
request wrote nothing counts the events and optouts rows before and after.

Groups (each its own beacon start):
  main    : pixel, clicks, forgeries, verdicts, X-Forwarded-For, opt-out, API,
            metrics (trusted_proxies = 127.0.0.2/32, api_token_file set)
  rotation: restarts with a rotated key file, then with the old key retired
  limits  : beacon_rate_limit = 5, beacon_timeout = 2,
            beacon_max_connections = 20, no API token, no trusted proxies
  hostile : the opt-out form under guessing and after purge (its attempt
            limits are spent, so it has a beacon of its own)
  storefile: the database file removed, replaced, or on a full file system
            (a 1 MiB tmpfs, mounted when run as root; skipped with a
            WARNING line otherwise)
  connlimit: beacon_max_connections_per_network = 4, trusted_proxies =
            127.0.2.1/32

Prints "ok NAME" or "FAIL NAME: why" per case, then "N passed, M failed".
"""
import argparse
import atexit
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beaconlib as bl  # noqa: E402

# User agents and request shapes of real mail clients and proxies.
# Apple Mail Privacy Protection fetches remote content through Apple's proxy
# with the bare user agent "Mozilla/5.0" (from Apple's 17.0.0.0/8).
# Gmail's image proxy (googleusercontent/ggpht) sends this Firefox 11 string
# with "(via ggpht.com GoogleImageProxy)", from 66.249.80.0/20 and nearby.
UA_APPLE_MPP = "Mozilla/5.0"
UA_GMAIL = ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
            "(via ggpht.com GoogleImageProxy)")
UA_OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17231; Pro)"
UA_THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"
UA_IOS_MAIL = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) "
               "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148")
UA_MAC_MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
# Microsoft Defender for Office 365 Safe Links detonates links with an
# ordinary browser's user agent; only the timing gives it away.
UA_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0")

H_APPLE_MPP = {"User-Agent": UA_APPLE_MPP, "Accept": "*/*",
               "Accept-Language": "en-US,en;q=0.9", "Accept-Encoding": "gzip, deflate"}
H_GMAIL = {"User-Agent": UA_GMAIL, "Accept": "*/*", "Accept-Encoding": "gzip, deflate, br"}
H_OUTLOOK = {"User-Agent": UA_OUTLOOK, "Accept": "image/*", "Accept-Encoding": "gzip, deflate"}
H_THUNDERBIRD = {"User-Agent": UA_THUNDERBIRD, "Accept": "image/avif,image/webp,*/*",
                 "Accept-Language": "en-US,en;q=0.5", "Accept-Encoding": "gzip, deflate, br"}
H_IOS_MAIL = {"User-Agent": UA_IOS_MAIL,
              "Accept": "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,"
                        "video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
              "Accept-Language": "en-GB,en;q=0.9", "Accept-Encoding": "gzip, deflate"}
H_BROWSER = {"User-Agent": UA_EDGE,
             "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,"
                       "image/avif,image/webp,*/*;q=0.8",
             "Accept-Language": "en-US,en;q=0.9", "Accept-Encoding": "gzip, deflate, br",
             "Upgrade-Insecure-Requests": "1", "Sec-Fetch-Dest": "document",
             "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "none", "Sec-Fetch-User": "?1"}

CLIENT_CLASSES = {"apple-mail", "gmail", "outlook", "thunderbird", "yahoo", "ios",
                  "android", "windows", "macos", "linux", "bot", "unknown"}
VERDICTS = {"human", "apple-mpp", "gmail-proxy", "prefetch", "scanner"}
MASKED_RE = re.compile(r"^(\d{1,3}\.\d{1,3}\.\d{1,3}\.0/24|[0-9a-f:]+::/48)$")

# Destinations with everything that must survive the round trip: the href as
# written in the HTML (entities allowed) -> the exact Location.
CLICK_LINKS = [
    "https://example.org/",
    "https://example.org/path/page.html?x=1&amp;y=2&amp;z=%20#frag-ment",
    "https://example.org/a%20b/%E2%82%AC/%2F?q=%26%3D%23&amp;r=a+b#x%2Fy",
    "https://example.org/s?a=1&amp;b=&lt;x&gt;&amp;c=&quot;q&quot;&amp;d=&#39;e&#39;",
    "https://b\u00fccher.example/stra\u00dfe?q=\u00fc&amp;w=\u65e5\u672c#\u00e9t\u00e9",
    "https://xn--bcher-kva.example/path?q=1",
    "http://example.com:8080/plain;params?semi=1;2",
    "https://example.org/#/route?x=y&amp;z=%7B%7D",
    "https://example.org/long?" + "&amp;".join("p%d=%s" % (i, "v" * 40) for i in range(40)),
]
FORM = "application/x-www-form-urlencoded"

TRANSPARENT_GIF_LEN = 43


class Ctx:
    def __init__(self, report, name):
        self.report, self.name, self.notes, self.details = report, name, [], []

    def expect(self, cond, msg):
        if not cond:
            self.notes.append(msg)
        return bool(cond)

    def detail(self, msg):
        self.details.append(msg)


CASES = []


def case(name, group="main"):
    def deco(f):
        CASES.append((name, group, f))
        return f
    return deco


def now():
    return int(time.time())


def short(x, n=300):
    s = repr(x) if not isinstance(x, str) else x
    return s if len(s) <= n else s[:n] + "..."


# --- checks shared by cases ---------------------------------------------

def check_no_store(ctx, r, what):
    cc = (r.header("Cache-Control") or "").lower()
    ctx.expect("no-store" in cc, "%s: Cache-Control %r lacks no-store" % (what, cc))
    ctx.expect(r.header("Set-Cookie") is None, "%s: sets a cookie" % what)


def check_gif(ctx, r, what, head=False):
    ctx.expect(r.status == 200, "%s: status %s, want 200" % (what, r.status))
    ct = (r.header("Content-Type") or "").lower()
    ctx.expect(ct.split(";")[0].strip() == "image/gif", "%s: Content-Type %r" % (what, ct))
    check_no_store(ctx, r, what)
    if head:
        ctx.expect(r.body == b"", "%s: HEAD answered with a %d-byte body" % (what, len(r.body)))
        cl = r.header("Content-Length")
        ctx.expect(cl in (None, str(TRANSPARENT_GIF_LEN)), "%s: HEAD Content-Length %r" % (what, cl))
        return
    b = r.body
    if not ctx.expect(len(b) == TRANSPARENT_GIF_LEN, "%s: %d bytes, want 43" % (what, len(b))):
        return
    ctx.expect(b[:6] == b"GIF89a", "%s: starts %r, not GIF89a" % (what, b[:6]))
    ctx.expect(b[6:10] == b"\x01\x00\x01\x00", "%s: not 1x1 (%r)" % (what, b[6:10]))
    gce = b.find(b"\x21\xf9\x04")
    ctx.expect(gce > 0 and b[gce + 3] & 1, "%s: no graphic control extension with transparency" % what)
    ctx.expect(b[-1:] == b"\x3b", "%s: no GIF trailer" % what)


def check_redirect(ctx, r, dest, what):
    ctx.expect(r.status == 302, "%s: status %s, want 302" % (what, r.status))
    loc = r.header_bytes("Location")
    ctx.expect(loc == dest.encode("utf-8"),
               "%s: Location %s, want exactly %s" % (what, short(loc), short(dest.encode("utf-8"))))
    check_no_store(ctx, r, what)


def check_event(ctx, row, what, kind, link=None, verdict=None, ip="127.0.0.0/24",
                client=None, dnt=0, t0=None, t1=None):
    ctx.expect(row["kind"] == kind, "%s: kind %r, want %r" % (what, row["kind"], kind))
    ctx.expect(row["link"] == link, "%s: link %r, want %r" % (what, row["link"], link))
    if verdict is not None:
        want = verdict if isinstance(verdict, (set, tuple, list)) else {verdict}
        ctx.expect(row["verdict"] in want, "%s: verdict %r, want %s" %
                   (what, row["verdict"], "/".join(sorted(want))))
    ctx.expect(row["verdict"] in VERDICTS, "%s: verdict %r unknown" % (what, row["verdict"]))
    if dnt:
        ctx.expect(row["dnt"] == 1, "%s: dnt %r, want 1" % (what, row["dnt"]))
        ctx.expect(row["ip_masked"] in (None, ""), "%s: DNT/GPC event keeps ip %r" % (what, row["ip_masked"]))
        ctx.expect(row["client_class"] in (None, ""),
                   "%s: DNT/GPC event keeps client class %r" % (what, row["client_class"]))
    else:
        ctx.expect(row["dnt"] == 0, "%s: dnt %r, want 0" % (what, row["dnt"]))
        if ip is not None:
            ctx.expect(row["ip_masked"] == ip, "%s: ip_masked %r, want %r" % (what, row["ip_masked"], ip))
        cc = row["client_class"]
        if client is not None:
            want = client if isinstance(client, (set, tuple, list)) else {client}
            ctx.expect(cc in want, "%s: client class %r, want %s" % (what, cc, "/".join(sorted(want))))
        ctx.expect(cc is None or cc in CLIENT_CLASSES, "%s: client class %r is not a class" % (what, cc))
    if t0 is not None:
        ctx.expect(t0 - 2 <= row["time"] <= t1 + 2, "%s: time %r not within the request (%d..%d)" %
                   (what, row["time"], t0, t1))


def one_row(ctx, site, msgid, what, n=1):
    rows = site.events(msgid)
    ctx.expect(len(rows) == n, "%s: %d event rows, want %d%s" %
               (what, len(rows), n, (": " + short(rows)) if rows else ""))
    return rows


# --- the main group -------------------------------------------------------

class World:
    """What the cases of a group share."""


@case("config-check", "pre")
def t_config(ctx, w):
    site = w.site
    p = subprocess.run([site.tool("beacon"), "-n", "-c", site.conf], capture_output=True, text=True, timeout=30)
    ctx.expect(p.returncode == 0, "mailbeacond -n on the test config: exit %d: %s" %
               (p.returncode, (p.stderr + p.stdout).strip()[:300]))
    # The beacon settings are part of the one mailbeacon.conf every program reads.
    for prog in ("milter", "admin"):
        args = [site.tool(prog), "-n", "-c", site.conf] if prog == "milter" else \
            [site.tool(prog), "-c", site.conf, "policy", "check", bl.SENDER]
        p = subprocess.run(args, capture_output=True, text=True, timeout=30)
        ctx.expect(p.returncode == 0, "%s with the beacon settings: exit %d: %s" %
                   (prog, p.returncode, (p.stderr + p.stdout).strip()[:300]))
    bad = [("beacon_rate_limt = 5", "a misspelt setting"),
           ("beacon_rate_limit = fast", "a bad number"),
           ("beacon_timeout = -1", "a negative timeout"),
           ("trusted_proxies = 10.0.0.0/33", "a bad CIDR"),
           ("scanner_window = 30s", "a bad number")]
    for line, what in bad:
        path = os.path.join(site.dir, "bad.conf")
        lines = open(site.conf).read().splitlines()
        lines = [x for x in lines if not x.startswith(line.split("=")[0].strip() + " ")]
        lines.append(line)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = subprocess.run([site.tool("beacon"), "-n", "-c", path], capture_output=True, text=True, timeout=30)
        out = (p.stderr + p.stdout).strip()
        if ctx.expect(p.returncode != 0, "mailbeacond -n accepts %s (%s)" % (what, line)):
            ctx.expect(re.search(r"bad\.conf:%d\b" % len(lines), out),
                       "%s: message does not name bad.conf:%d: %r" % (what, len(lines), out[:200]))


@case("api-token-permissions", "pre")
def t_api_token_permissions(ctx, w):
    # The API token is a secret like the keys: a file others can read is
    # refused at start, as mailbeacon sync refuses it (common/secret.c).
    site = w.site
    token = os.path.join(site.dir, "open.token")
    with open(token, "w") as f:
        f.write(w.api_token + "\n")
    os.chmod(token, 0o644)
    path = os.path.join(site.dir, "open-token.conf")
    lines = [x for x in open(site.conf).read().splitlines() if not x.startswith("api_token_file ")]
    with open(path, "w") as f:
        f.write("\n".join(lines + ["api_token_file = open.token"]) + "\n")
    p = subprocess.run([site.tool("beacon"), "-n", "-c", path], capture_output=True, text=True, timeout=30)
    out = (p.stderr + p.stdout).strip()
    if ctx.expect(p.returncode == 1, "mailbeacond -n with a 0644 token file: exit %d: %r" %
                  (p.returncode, out[:300])):
        ctx.expect(re.search(r"open\.token: readable by other users \(mode 0644\)", out),
                   "message does not say the token file is readable by others: %r" % out[:300])
    os.chmod(token, 0o600)
    p = subprocess.run([site.tool("beacon"), "-n", "-c", path], capture_output=True, text=True, timeout=30)
    ctx.expect(p.returncode == 0, "mailbeacond -n with the token file at 0600: exit %d: %s" %
               (p.returncode, (p.stderr + p.stdout).strip()[:300]))


@case("startup", "main")
def t_startup(ctx, w):
    b = w.beacon
    ctx.expect(b.alive(), "not running")
    try:
        pid = int(open(b.pidfile).read().strip())
        ctx.expect(pid == b.proc.pid, "pid file says %d, the process is %d" % (pid, b.proc.pid))
    except (OSError, ValueError) as e:
        ctx.expect(False, "pid file %s (-p): %s" % (b.pidfile, e))


@case("healthz", "main")
def t_healthz(ctx, w):
    r = bl.request(w.port, "GET", "/healthz")
    ctx.expect(r.status == 200, "status %s" % r.status)
    ctx.expect(r.body.strip() == b"ok", "body %r" % r.body[:100])


@case("privacy", "main")
def t_privacy(ctx, w):
    r = bl.request(w.port, "GET", "/privacy")
    ctx.expect(r.status == 200, "status %s" % r.status)
    ct = (r.header("Content-Type") or "").lower()
    ctx.expect(ct.startswith("text/html"), "Content-Type %r" % ct)
    text = r.body.decode("utf-8", "replace")
    ctx.expect("45" in text, "retention_days (45) not on the page")
    ctx.expect(r.header("Set-Cookie") is None, "sets a cookie")
    ctx.expect("<" in text and "</" in text, "not HTML: %r" % text[:100])


@case("unknown-routes", "main")
def t_unknown(ctx, w):
    before = w.site.counts()
    for path in ("/", "/o/", "/c/", "/u/", "/favicon.ico", "/api/v1/", "/healthz/x", "/privacy/../healthz",
                 "/metrics?x=1&y=" + "a" * 100):
        r = bl.request(w.port, "GET", path)
        want = (404, 200) if path.startswith("/metrics") else (404,)
        ctx.expect(r.status in want, "GET %s: status %s" % (short(path, 60), r.status))
    ctx.expect(w.site.counts() == before, "rows written: %s -> %s" % (before, w.site.counts()))


@case("pixel", "main")
def t_pixel(ctx, w):
    site = w.site
    m = site.make_message()
    t0 = now()
    r = bl.request(w.port, "GET", m.pixel, H_THUNDERBIRD)
    t1 = now()
    check_gif(ctx, r, "GET pixel")
    # Read at once: the event must be committed before the response.
    rows = one_row(ctx, site, m.msgid, "GET pixel")
    if rows:
        check_event(ctx, rows[0], "GET pixel", "open", None, "human", "127.0.0.0/24",
                    "thunderbird", 0, t0, t1)
    # Keep-alive: two pixels on one connection.
    m2 = site.make_message()
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=10)
    try:
        for i in range(2):
            conn.request("GET", m2.pixel, headers={"Host": bl.HOST, "User-Agent": UA_THUNDERBIRD})
            rr = conn.getresponse()
            body = rr.read()
            ctx.expect(rr.status == 200 and len(body) == 43, "keep-alive request %d: %s, %d bytes" %
                       (i + 1, rr.status, len(body)))
    finally:
        conn.close()
    one_row(ctx, site, m2.msgid, "two pixels on one keep-alive connection", n=2)


@case("pixel-head", "main")
def t_pixel_head(ctx, w):
    site = w.site
    m = site.make_message()
    # Raw, to see that no body follows the header of a HEAD response.
    st, head, body = bl.raw_request(w.port, ("HEAD %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
                                             "Connection: close\r\n\r\n" % (m.pixel, bl.HOST, UA_THUNDERBIRD)).encode())
    hdrs = [tuple(x.split(": ", 1)) for x in head.decode("latin-1").split("\r\n")[1:] if ": " in x]
    r = bl.Response(st, hdrs, body)
    check_gif(ctx, r, "HEAD pixel", head=True)
    rows = one_row(ctx, site, m.msgid, "HEAD pixel")
    if rows:
        check_event(ctx, rows[0], "HEAD pixel", "open", None, "prefetch")


def raw_head(w, path, headers=""):
    """HEAD on a fresh connection, raw, to see that no body follows."""
    st, head, body = bl.raw_request(w.port, ("HEAD %s HTTP/1.1\r\nHost: %s\r\n%s"
                                             "Connection: close\r\n\r\n" % (path, bl.HOST, headers)).encode())
    hdrs = [tuple(x.split(": ", 1)) for x in head.decode("latin-1").split("\r\n")[1:] if ": " in x]
    return bl.Response(st, hdrs, body)


@case("head-like-get", "main")
def t_head_like_get(ctx, w):
    """HEAD is answered wherever GET is, without a body: link checkers see
    live links. A HEAD on a click redirects and records nothing."""
    site = w.site
    m = site.make_message(["https://example.org/checked?a=1"])
    before = site.counts()
    r = raw_head(w, m.clicks[0].path, "User-Agent: %s\r\n" % UA_EDGE)
    check_redirect(ctx, r, m.clicks[0].dest, "HEAD click")
    ctx.expect(r.body == b"", "HEAD click: a %d-byte body" % len(r.body))
    ctx.expect(site.counts() == before, "HEAD click recorded: %s -> %s" % (before, site.counts()))
    for path in ("/healthz", "/privacy", "/metrics", m.optout):
        g = bl.request(w.port, "GET", path)
        h = raw_head(w, path)
        ctx.expect(h.status == g.status == 200, "%s: HEAD %s, GET %s, want 200 both" % (short(path, 40), h.status, g.status))
        ctx.expect(h.body == b"", "HEAD %s: a %d-byte body" % (short(path, 40), len(h.body)))
        ctx.expect((h.header("Content-Type") or "") == (g.header("Content-Type") or ""),
                   "HEAD %s: Content-Type %r, GET's %r" % (short(path, 40), h.header("Content-Type"),
                                                          g.header("Content-Type")))
    h = raw_head(w, "/api/v1/events?after=0", "Authorization: Bearer %s\r\n" % w.api_token)
    ctx.expect(h.status == 200 and h.body == b"", "HEAD api: %s, %d bytes" % (h.status, len(h.body)))
    ctx.expect(raw_head(w, "/nowhere").status == 404, "HEAD of an unknown path is not 404")
    ctx.expect(site.counts() == before, "HEAD requests wrote rows: %s -> %s" % (before, site.counts()))


@case("clicks", "main")
def t_clicks(ctx, w):
    site = w.site
    m = site.make_message(CLICK_LINKS)
    for c in m.clicks:
        before = len(site.events(m.msgid))
        r = bl.request(w.port, "GET", c.path, H_BROWSER)
        check_redirect(ctx, r, c.dest, "link %d" % c.num)
        rows = site.events(m.msgid)
        new = rows[before:]
        if ctx.expect(len(new) == 1, "link %d: %d new rows, want 1" % (c.num, len(new))):
            check_event(ctx, new[0], "link %d" % c.num, "click", c.num, ip="127.0.0.0/24")
    nums = sorted(c.num for c in m.clicks)
    ctx.expect(nums == list(range(1, len(CLICK_LINKS) + 1)), "link numbers %s" % nums)
    # Clicking the same link again is another event, and the same redirect.
    r = bl.request(w.port, "GET", m.clicks[1].path, H_BROWSER)
    check_redirect(ctx, r, m.clicks[1].dest, "link 2 again")
    ctx.expect(len(site.events(m.msgid)) == len(CLICK_LINKS) + 1, "second click of link 2 not recorded")


@case("click-unknown-message", "main")
def t_click_unknown(ctx, w):
    """A good tag always redirects, also for a message the store never saw."""
    m = w.site.make_message(["https://example.org/never-recorded?x=1"], record=False)
    r = bl.request(w.port, "GET", m.clicks[0].path, H_BROWSER)
    check_redirect(ctx, r, m.clicks[0].dest, "click of an unrecorded message")
    r = bl.request(w.port, "GET", m.pixel, H_THUNDERBIRD)
    check_gif(ctx, r, "pixel of an unrecorded message")


def tamper(s, i):
    c = s[i]
    return s[:i] + ("A" if c != "A" else "B") + s[i + 1:]


PIX_RE = re.compile(r"^/o/([A-Za-z0-9_-]+)\.(\d+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.gif$")
OPT_RE = re.compile(r"^/u/([A-Za-z0-9_-]+)\.(\d+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$")


def forgeries(w, m, foreign, unknown):
    """(label, method, path, statuses, counts as a bad tag). Each must write
    nothing and never redirect."""
    out = []
    p = PIX_RE.match(m.pixel)
    u = OPT_RE.match(m.optout)
    c1, c2 = m.click(1), m.click(2)
    c = bl.CLICK_RE.match(c1.path)
    if not (p and u and c):
        return None
    mid, sent, kid, ptag = p.groups()
    _, _, ukid, utag = u.groups()
    _, _, link, ckid, ctag, cdest = c.groups()
    d2 = bl.CLICK_RE.match(c2.path).group(6)
    N = (404,)

    def pix(mid=mid, sent=sent, kid=kid, tag=ptag):
        return "/o/%s.%s.%s.%s.gif" % (mid, sent, kid, tag)

    def clk(mid=mid, sent=sent, link=link, kid=ckid, tag=ctag, dest=cdest):
        return "/c/%s.%s.%s.%s.%s/%s" % (mid, sent, link, kid, tag, dest)

    def opt(mid=mid, sent=sent, kid=ukid, tag=utag):
        return "/u/%s.%s.%s.%s" % (mid, sent, kid, tag)

    for i in range(22):
        bad = i < 21    # the last character also has 4 padding bits
        out.append(("pixel tag[%d]" % i, "GET", pix(tag=tamper(ptag, i)), N, bad))
        out.append(("click tag[%d]" % i, "GET", clk(tag=tamper(ctag, i)), N, bad))
        out.append(("opt-out page tag[%d]" % i, "GET", opt(tag=tamper(utag, i)), N, bad))
        out.append(("opt-out POST tag[%d]" % i, "POST", opt(tag=tamper(utag, i)), N, bad))
    for i in (0, 10):
        out.append(("pixel msgid[%d]" % i, "GET", pix(mid=tamper(mid, i)), N, True))
        out.append(("click msgid[%d]" % i, "GET", clk(mid=tamper(mid, i)), N, True))
        out.append(("opt-out POST msgid[%d]" % i, "POST", opt(mid=tamper(mid, i)), N, True))
    for s2, bad in ((str(int(sent) + 1), True), (str(int(sent) - 1), True),
                    ("0" + sent, False), (sent + "0", True), (sent[:-1], True)):
        out.append(("pixel sent %s" % s2, "GET", pix(sent=s2), N, bad))
        out.append(("click sent %s" % s2, "GET", clk(sent=s2), N, bad))
    for l2, bad in (("2", True), ("0", False), ("01", False), ("1000000", False), ("", False)):
        out.append(("click link %r" % l2, "GET", clk(link=l2), N, bad))
    for k2 in ("k2", "K1", "", "k1k1", "k" * 17):
        out.append(("pixel kid %r" % k2, "GET", pix(kid=k2), N, False))
        out.append(("click kid %r" % k2, "GET", clk(kid=k2), N, False))
    out.append(("swapped destination (link 2's under link 1's token)", "GET", clk(dest=d2), N, True))
    evil = bl.b64url(b"https://evil.example/")
    out.append(("click with an unsigned destination", "GET", clk(dest=evil), N, True))
    out.append(("destination + '@evil.example'", "GET",
                clk(dest=bl.b64url(c1.dest.encode() + b"@evil.example")), N, True))
    out.append(("destination b64 + 'A'", "GET", clk(dest=cdest + "A"), N, False))
    out.append(("destination b64 padded '='", "GET", clk(dest=cdest + "=" * (-len(cdest) % 4 or 4)), N, False))
    out.append(("destination b64 minus 1", "GET", clk(dest=cdest[:-1]), N, False))
    out.append(("destination b64 minus 3", "GET", clk(dest=cdest[:-3]), N, False))
    out.append(("destination in standard base64", "GET",
                clk(dest=__import__("base64").b64encode(c1.dest.encode()).decode().rstrip("=")
                    .replace("/", "%2F").replace("+", "%2B")), N, False))
    # Kinds crossed: the tag covers the kind.
    out.append(("pixel token as opt-out", "POST", opt(kid=kid, tag=ptag), N, True))
    out.append(("opt-out token as pixel", "GET", pix(kid=ukid, tag=utag), N, True))
    out.append(("click tag on a pixel", "GET", pix(kid=ckid, tag=ctag), N, True))
    out.append(("pixel token at /c/", "GET", "/c/%s.%s.%s.%s/%s" % (mid, sent, kid, ptag, cdest), N, False))
    # Foreign key (same id, other secret) and an unknown key id.
    fp, fc, fu = foreign.pixel, foreign.clicks[0].path, foreign.optout
    out += [("foreign-key pixel", "GET", fp, N, True), ("foreign-key click", "GET", fc, N, True),
            ("foreign-key opt-out POST", "POST", fu, N, True)]
    out += [("unknown key id pixel", "GET", unknown.pixel, N, False),
            ("unknown key id click", "GET", unknown.clicks[0].path, N, False),
            ("unknown key id opt-out POST", "POST", unknown.optout, N, False)]
    # Truncated.
    for n in range(3, len(m.pixel), 9):
        out.append(("pixel cut to %d" % n, "GET", m.pixel[:n], N, False))
    out.append(("pixel without .gif", "GET", m.pixel[:-4], N, False))
    out.append(("pixel tag minus 1", "GET", pix(tag=ptag[:-1]), N, False))
    out.append(("click without destination", "GET", clk().rsplit("/", 1)[0], N, False))
    out.append(("click with empty destination", "GET", clk().rsplit("/", 1)[0] + "/", N, False))
    for n in range(3, len(c1.path) - len(cdest), 11):
        out.append(("click cut to %d" % n, "GET", c1.path[:n], N, False))
    out.append(("opt-out tag minus 1", "POST", opt(tag=utag[:-1]), N, False))
    # Extra path segments.
    out += [("pixel + /x", "GET", m.pixel + "/x", N, False),
            ("pixel + /", "GET", m.pixel + "/", N, False),
            ("/o/x/ + pixel", "GET", "/o/x" + m.pixel[2:], N, False),
            ("click + /x", "GET", c1.path + "/x", N, False),
            ("click + /", "GET", c1.path + "/", N, False),
            ("opt-out + /x", "POST", m.optout + "/x", N, False),
            ("opt-out + .gif", "GET", m.optout + ".gif", N, False),
            ("/x + pixel", "GET", "/x" + m.pixel, N, False)]
    # Malformed.
    out += [("pixel %00 after .gif", "GET", m.pixel + "%00", N, False),
            ("pixel %00.png", "GET", m.pixel + "%00.png", N, False),
            ("pixel %00 inside", "GET", m.pixel.replace(".gif", "%00.gif"), N, False),
            ("click %00 + evil", "GET", c1.path + "%00https://evil.example/", N, False),
            ("click %0d%0a header", "GET", c1.path + "%0d%0aLocation:%20https://evil.example/", N, False),
            ("pixel ..", "GET", "/o/../o/" + m.pixel[3:], N, False),
            ("pixel /..", "GET", m.pixel + "/..", N, False),
            ("click ../evil", "GET", c1.path + "/../" + evil, N, False),
            ("click ..", "GET", "/c/../" + c1.path[3:], N, False),
            ("msgid with '*'", "GET", pix(mid="*" + mid[1:]), N, False),
            ("msgid with '+'", "GET", pix(mid="+" + mid[1:]), N, False),
            ("msgid with '='", "GET", pix(mid=mid[:-1] + "="), N, False),
            ("tag with '*'", "GET", pix(tag=ptag[:5] + "*" + ptag[6:]), N, False),
            ("uppercase .GIF", "GET", m.pixel[:-4] + ".GIF", N, False),
            ("uppercase /O/", "GET", "/O/" + m.pixel[3:], N, False),
            ("uppercase /C/", "GET", "/C/" + c1.path[3:], N, False),
            ("//o/", "GET", "/" + m.pixel, N, False),
            ("/o//", "GET", "/o//" + m.pixel[3:], N, False),
            ("click //dest", "GET", c1.path.replace("/" + cdest, "//" + cdest), N, False),
            ("/c//evil.example", "GET", "/c//evil.example/", N, False),
            ("/c/https://evil.example/", "GET", "/c/https://evil.example/", N, False),
            ("/c/?url=", "GET", "/c/?url=https://evil.example/", N, False),
            ("/c/<b64 evil>", "GET", "/c/" + evil, N, False),
            ("pixel .gif.gif", "GET", m.pixel + ".gif", N, False),
            ("pixel ;x", "GET", m.pixel + ";x", N, False),
            ("pixel with space %20", "GET", m.pixel.replace(".gif", "%20.gif"), N, False)]
    # Very long paths.
    out += [("10 KB path", "GET", "/o/" + "A" * 10240 + ".gif", (404, 414), False),
            ("100 KB path", "GET", "/o/" + "A" * 102400 + ".gif", (404, 414), False),
            ("10 KB destination", "GET", clk(dest="QUFB" * 2560), (404, 414), False),
            ("100 KB click", "GET", c1.path + "A" * 102400, (404, 414), False),
            ("100 KB junk", "GET", "/" + "x/" * 51200, (404, 414), False)]
    # Other methods on good tokens record nothing.
    out += [("PUT pixel", "PUT", m.pixel, (404, 405, 501), False),
            ("DELETE pixel", "DELETE", m.pixel, (404, 405, 501), False),
            ("POST pixel", "POST", m.pixel, (404, 405, 501), False),
            ("DELETE click", "DELETE", c1.path, (404, 405, 501), False),
            ("TRACE click", "TRACE", c1.path, (404, 405, 501), False)]
    return out


@case("forgeries", "main")
def t_forgeries(ctx, w):
    site = w.site
    m = site.make_message(["https://example.org/one?a=1", "https://example.org/two#2"])
    foreign = w.foreign.make_message(["https://example.org/one?a=1"], record=False, msgid=m.msgid, sent=m.sent)
    unknown = w.unknown.make_message(["https://example.org/one?a=1"], record=False, msgid=m.msgid, sent=m.sent)
    cases = forgeries(w, m, foreign, unknown)
    if cases is None:
        ctx.expect(False, "the token paths do not have the contract's format: %s %s %s" %
                   (m.pixel, m.clicks[0].path, m.optout))
        return
    ms0, _ = bl.metrics(w.port)
    f0 = bl.metric_sum(ms0, "mailbeacon_forgeries_total")
    before = site.counts()
    bad_tags = 0
    for label, method, path, statuses, badtag in cases:
        body = "address=bob%40example.net" if method == "POST" else None
        hdrs = {"User-Agent": UA_THUNDERBIRD}
        if body is not None:
            hdrs["Content-Type"] = FORM
        try:
            r = bl.request(w.port, method, path, hdrs, body.encode() if body else None)
        except Exception as e:   # a refused connection is not a 404
            ctx.expect(False, "%s: %s" % (label, e))
            continue
        ctx.expect(r.status in statuses, "%s: status %s, want %s" %
                   (label, r.status, "/".join(map(str, statuses))))
        ctx.expect(r.header("Location") is None, "%s: redirects to %s" % (label, short(r.header("Location"))))
        if r.status == 200 and path.startswith("/o/"):
            ctx.expect(False, "%s: served the pixel" % label)
        after = site.counts()
        if not ctx.expect(after == before, "%s: wrote rows (events, optouts) %s -> %s" % (label, before, after)):
            before = after
        bad_tags += 1 if badtag else 0
    ctx.expect(site.events(m.msgid) == [], "rows for the message: %s" % short(site.events(m.msgid)))
    ctx.expect(w.beacon.alive(), "the beacon died")
    ms1, _ = bl.metrics(w.port)
    f1 = bl.metric_sum(ms1, "mailbeacon_forgeries_total")
    if ctx.expect(f0 is not None and f1 is not None, "no mailbeacon_forgeries_total in /metrics"):
        ctx.expect(f1 - f0 >= bad_tags, "mailbeacon_forgeries_total rose by %d, fewer than the %d bad tags sent"
                   % (f1 - f0, bad_tags))
    # The genuine URLs still work afterwards.
    r = bl.request(w.port, "GET", m.pixel, H_THUNDERBIRD)
    check_gif(ctx, r, "genuine pixel after the forgeries")
    r = bl.request(w.port, "GET", m.clicks[0].path, H_BROWSER)
    check_redirect(ctx, r, m.clicks[0].dest, "genuine click after the forgeries")
    ctx.detail("%d forged requests, %d bad tags" % (len(cases), bad_tags))


@case("raw-request-junk", "main")
def t_raw_junk(ctx, w):
    """Bytes http.client will not send: raw non-ASCII, NUL, bare LF."""
    site = w.site
    m = site.make_message()
    before = site.counts()
    for label, line in (("raw UTF-8 in the path", b"GET /o/\xc3\xa9" + m.pixel[3:].encode() + b" HTTP/1.1"),
                        ("raw NUL in the path", b"GET " + m.pixel.encode() + b"\x00x HTTP/1.1"),
                        ("absolute-form evil host", b"GET https://evil.example" + m.pixel.encode() + b" HTTP/1.1"),
                        ("HTTP/0.9", b"GET " + m.pixel.encode())):
        st, head, body = bl.raw_request(w.port, line + b"\r\nHost: t.example.com\r\nConnection: close\r\n\r\n",
                                        timeout=5)
        # libmicrohttpd 0.9.75 ends the URL at a raw NUL before the beacon
        # sees it: the genuine pixel in front of it may be served.
        ctx.expect(st != 200 or label.startswith(("absolute-form", "raw NUL")), "%s: status %s" % (label, st))
        ctx.expect(b"evil.example" not in head, "%s: evil.example in the answer" % label)
    after = site.counts()
    # An absolute-form request for a genuine pixel may be served (RFC 9112 3.2.2).
    ctx.expect(after[1] == before[1] and after[0] - before[0] <= 2, "rows %s -> %s" % (before, after))
    ctx.expect(w.beacon.alive(), "the beacon died")


@case("open-redirect", "main")
def t_open_redirect(ctx, w):
    """Whatever is added to a genuine click URL, the only place it redirects
    to is its signed destination."""
    site = w.site
    m = site.make_message(["https://example.org/safe?a=1#f"])
    c = m.clicks[0]
    for extra in ("?url=https://evil.example/", "?next=//evil.example", "#https://evil.example/",
                  "?%0d%0aLocation:%20https://evil.example/"):
        r = bl.request(w.port, "GET", c.path + extra, H_BROWSER)
        if r.status == 302:
            check_redirect(ctx, r, c.dest, "click + %s" % extra)
        else:
            ctx.expect(r.status == 404, "click + %s: status %s" % (extra, r.status))
            ctx.expect(r.header("Location") is None, "click + %s: Location %r" % (extra, r.header("Location")))
    # Host and forwarding headers change nothing about the destination.
    r = bl.request(w.port, "GET", c.path, dict(H_BROWSER, Host="evil.example",
                                                **{"X-Forwarded-Host": "evil.example"}))
    if r.status == 302:
        check_redirect(ctx, r, c.dest, "click with Host: evil.example")


# --- verdicts -------------------------------------------------------------

def verdict_case(name, kind, headers, verdict, client=None, sent_ago=3 * 3600, method="GET",
                 source=None, xff=None, ip="127.0.0.0/24", dnt=0):
    @case(name, "main")
    def f(ctx, w):
        site = w.site
        m = site.make_message(["https://example.org/v?x=1"], sent=now() - sent_ago)
        path = m.pixel if kind == "open" else m.clicks[0].path
        h = dict(headers)
        if xff:
            h["X-Forwarded-For"] = xff
        t0 = now()
        r = bl.request(w.port, method, path, h, source=source)
        t1 = now()
        if kind == "open":
            check_gif(ctx, r, name, head=(method == "HEAD"))
        else:
            check_redirect(ctx, r, m.clicks[0].dest, name)
        rows = one_row(ctx, site, m.msgid, name)
        if rows:
            check_event(ctx, rows[0], name, kind, None if kind == "open" else 1, verdict, ip, client,
                        dnt, t0, t1)
            ctx.detail("verdict %s, client %s" % (rows[0]["verdict"], rows[0]["client_class"]))
    return f


verdict_case("verdict-apple-mpp", "open", H_APPLE_MPP, "apple-mpp")
verdict_case("verdict-apple-mpp-range", "open", H_APPLE_MPP, "apple-mpp",
             source="127.0.0.2", xff="17.58.63.1", ip="17.58.63.0/24")
verdict_case("verdict-gmail-proxy", "open", H_GMAIL, "gmail-proxy", client={"gmail"})
verdict_case("verdict-gmail-proxy-range", "open", H_GMAIL, "gmail-proxy", client={"gmail"},
             source="127.0.0.2", xff="66.249.84.23", ip="66.249.84.0/24")
verdict_case("verdict-outlook", "open", H_OUTLOOK, "human", client={"outlook"})
verdict_case("verdict-thunderbird", "open", H_THUNDERBIRD, "human", client={"thunderbird"})
verdict_case("verdict-ios-mail", "open", H_IOS_MAIL, "human", client={"ios", "apple-mail"})
verdict_case("verdict-mac-mail", "open", dict(H_IOS_MAIL, **{"User-Agent": UA_MAC_MAIL}), "human",
             client={"apple-mail", "macos"})
verdict_case("verdict-safelinks-early", "click", H_BROWSER, "scanner", sent_ago=40)   # window 60
verdict_case("verdict-safelinks-seconds", "click", H_BROWSER, "scanner", sent_ago=2)
verdict_case("verdict-click-hours-later", "click", H_BROWSER, "human", client={"windows"})
verdict_case("verdict-click-after-window", "click", H_BROWSER, "human", sent_ago=90)
verdict_case("verdict-head-pixel", "open", H_THUNDERBIRD, "prefetch", method="HEAD")
verdict_case("verdict-purpose-prefetch-click", "click", dict(H_BROWSER, Purpose="prefetch"), "prefetch")
verdict_case("verdict-sec-purpose-prefetch-click", "click",
             dict(H_BROWSER, **{"Sec-Purpose": "prefetch"}), "prefetch")
verdict_case("verdict-sec-purpose-prerender-click", "click",
             dict(H_BROWSER, **{"Sec-Purpose": "prefetch;prerender"}), "prefetch")
verdict_case("verdict-purpose-prefetch-pixel", "open", dict(H_THUNDERBIRD, Purpose="prefetch"), "prefetch")
verdict_case("dnt-pixel", "open", dict(H_THUNDERBIRD, DNT="1"), "human", dnt=1)
verdict_case("gpc-click", "click", dict(H_BROWSER, **{"Sec-GPC": "1"}), "human", dnt=1)
verdict_case("gpc-via-proxy", "open", dict(H_THUNDERBIRD, **{"Sec-GPC": "1"}), "human", dnt=1,
             source="127.0.0.2", xff="203.0.113.50")
verdict_case("dnt-0-is-attributed", "open", dict(H_THUNDERBIRD, DNT="0"), "human", client={"thunderbird"})


@case("verdict-several-links-one-second", "main")
def t_burst(ctx, w):
    site = w.site
    m = site.make_message(["https://example.org/%d?x=1" % i for i in range(1, 6)])
    t0 = time.monotonic()
    for c in m.clicks:
        r = bl.request(w.port, "GET", c.path, H_BROWSER)
        check_redirect(ctx, r, c.dest, "link %d" % c.num)
    elapsed = time.monotonic() - t0
    rows = one_row(ctx, site, m.msgid, "five links in %.2fs" % elapsed, n=5)
    if len(rows) == 5 and elapsed < 0.9:
        verdicts = [r["verdict"] for r in rows]
        ctx.expect(all(v == "scanner" for v in verdicts[1:]),
                   "verdicts %s: the clicks after the first within a second must be scanner" % verdicts)
        ctx.detail("verdicts %s" % ",".join(verdicts))
    # One link a few seconds later, another message: human.
    m2 = site.make_message(["https://example.org/a", "https://example.org/b"])
    bl.request(w.port, "GET", m2.clicks[0].path, H_BROWSER)
    time.sleep(1.5)
    bl.request(w.port, "GET", m2.clicks[1].path, H_BROWSER)
    rows = one_row(ctx, site, m2.msgid, "two links 1.5 s apart", n=2)
    if len(rows) == 2:
        ctx.expect([r["verdict"] for r in rows] == ["human", "human"],
                   "two links 1.5 s apart: verdicts %s" % [r["verdict"] for r in rows])


# --- X-Forwarded-For ------------------------------------------------------

@case("xff-trusted-proxy", "main")
def t_xff(ctx, w):
    site = w.site
    for label, source, xff, ip in (
            ("trusted proxy, IPv4", "127.0.0.2", "203.0.113.77", "203.0.113.0/24"),
            ("trusted proxy, rightmost of a list", "127.0.0.2", "198.51.100.9, 203.0.113.78", "203.0.113.0/24"),
            ("trusted proxy, IPv6", "127.0.0.2", "2001:db8:1234:5678::1", "2001:db8:1234::/48"),
            ("trusted proxy, IPv4-mapped IPv6", "127.0.0.2", "::ffff:192.0.2.55", "192.0.2.0/24"),
            # 6to4 and Teredo embed the client's IPv4 address: masked as it.
            ("trusted proxy, 6to4", "127.0.0.2", "2002:c633:6417::1", "198.51.100.0/24"),
            ("trusted proxy, Teredo", "127.0.0.2", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.0/24"),
            ("untrusted client, IPv4", "127.0.0.1", "203.0.113.77", "127.0.0.0/24"),
            ("untrusted client, list", "127.0.0.1", "203.0.113.77, 198.51.100.1", "127.0.0.0/24"),
            ("trusted proxy, no header", "127.0.0.2", None, "127.0.0.0/24")):
        m = site.make_message()
        h = dict(H_THUNDERBIRD)
        if xff:
            h["X-Forwarded-For"] = xff
        r = bl.request(w.port, "GET", m.pixel, h, source=source)
        check_gif(ctx, r, label)
        rows = one_row(ctx, site, m.msgid, label)
        if rows:
            ctx.expect(rows[0]["ip_masked"] == ip, "%s: ip_masked %r, want %r" % (label, rows[0]["ip_masked"], ip))
    m = site.make_message()
    r = bl.request(w.port, "GET", m.pixel, dict(H_THUNDERBIRD, **{"X-Forwarded-For": "nonsense, <script>"}),
                   source="127.0.0.2")
    ctx.expect(r.status in (200, 400), "garbage X-Forwarded-For: status %s" % r.status)
    for row in site.events(m.msgid):
        ctx.expect(row["ip_masked"] in (None, "", "127.0.0.0/24"),
                   "garbage X-Forwarded-For stored as %r" % row["ip_masked"])


# --- opt-out --------------------------------------------------------------

def form_fields(page):
    """The form's method, action and its hidden inputs, roughly."""
    fm = re.search(r"<form\b([^>]*)>", page, re.I)
    attrs = fm.group(1) if fm else ""
    method = re.search(r"method\s*=\s*[\"']?(\w+)", attrs, re.I)
    action = re.search(r"action\s*=\s*[\"']([^\"']*)[\"']", attrs, re.I)
    hidden = {}
    for inp in re.findall(r"<input\b[^>]*>", page, re.I):
        if re.search(r"type\s*=\s*[\"']?hidden", inp, re.I):
            n = re.search(r"name\s*=\s*[\"']([^\"']*)[\"']", inp, re.I)
            v = re.search(r"value\s*=\s*[\"']([^\"']*)[\"']", inp, re.I)
            if n:
                import html
                hidden[html.unescape(n.group(1))] = html.unescape(v.group(1)) if v else ""
    return (method.group(1).upper() if method else None), (action.group(1) if action else None), hidden


def optout_post(w, path, address=None, hidden=None, source=None):
    fields = dict(hidden or {})
    if address is not None:
        fields["address"] = address
    body = urllib.parse.urlencode(fields).encode()
    return bl.request(w.port, "POST", path, dict(H_BROWSER, **{"Content-Type": FORM,
                                                                "Origin": bl.BEACON_URL}), body,
                      source=source)


@case("optout", "main")
def t_optout(ctx, w):
    site = w.site
    bob = ["bob@example.net"]
    old = site.make_message(["https://example.org/old"], to=bob)          # an earlier message to Bob
    m = site.make_message(["https://example.org/a?x=1", "https://example.org/b"], to=bob)
    before = site.counts()
    r = bl.request(w.port, "GET", m.optout, H_BROWSER)
    ctx.expect(r.status == 200, "GET page: status %s" % r.status)
    page = r.body.decode("utf-8", "replace")
    ctx.expect((r.header("Content-Type") or "").lower().startswith("text/html"),
               "GET page: Content-Type %r" % r.header("Content-Type"))
    method, action, hidden = form_fields(page)
    ctx.expect(method == "POST", "GET page: no form with method=post")
    ctx.expect(action in (None, "", m.optout, bl.BEACON_URL + m.optout),
               "GET page: form action %r is not this URL" % action)
    ctx.expect(not re.search(r"name\s*=\s*[\"']?address", page, re.I),
               "single-recipient page asks for an address")
    ctx.expect(re.search(r"open|pixel|click|link", page, re.I), "the page does not say what is tracked")
    ctx.expect("bob@example.net" not in page, "the page shows the recipient's address")
    # Link scanners follow GETs: GET (again, HEAD too) changes nothing.
    bl.request(w.port, "GET", m.optout, {"User-Agent": UA_APPLE_MPP})
    bl.request(w.port, "HEAD", m.optout, H_BROWSER)
    ctx.expect(site.counts() == before, "GET/HEAD of the opt-out page wrote rows: %s -> %s" %
               (before, site.counts()))
    t0 = now()
    r = optout_post(w, m.optout, None, hidden)
    t1 = now()
    ctx.expect(r.status == 200, "POST: status %s: %s" % (r.status, short(r.body.decode("utf-8", "replace"), 200)))
    ctx.expect((r.header("Content-Type") or "").lower().startswith("text/html"), "POST: not HTML")
    h = site.recipient_hash("bob@example.net")
    rows = site.query("SELECT * FROM optouts WHERE recipient_hash = ?", (h,))
    if ctx.expect(len(rows) == 1, "optouts rows for Bob's hash: %d, want 1 (all: %s)" %
                  (len(rows), short(site.query("SELECT hex(recipient_hash) h, message_id FROM optouts")))):
        ctx.expect(rows[0]["message_id"] in (None, m.msgid), "optouts.message_id %r" % rows[0]["message_id"])
        ctx.expect(t0 - 2 <= rows[0]["time"] <= t1 + 2, "optouts.time %r" % rows[0]["time"])
    ev = site.events(m.msgid)
    ctx.expect([e["kind"] for e in ev] == ["optout"], "events of the message after POST: %s" % short(ev))
    # From now on: the GIF and the redirect, and nothing recorded.
    before = site.counts()
    r = bl.request(w.port, "GET", m.pixel, H_THUNDERBIRD)
    check_gif(ctx, r, "pixel after opt-out")
    r = bl.request(w.port, "GET", m.clicks[0].path, H_BROWSER)
    check_redirect(ctx, r, m.clicks[0].dest, "click after opt-out")
    r = bl.request(w.port, "HEAD", m.pixel, H_THUNDERBIRD)
    r = bl.request(w.port, "GET", old.pixel, H_THUNDERBIRD)
    check_gif(ctx, r, "pixel of Bob's earlier message")
    r = bl.request(w.port, "GET", old.clicks[0].path, H_BROWSER)
    check_redirect(ctx, r, old.clicks[0].dest, "click in Bob's earlier message")
    ctx.expect(site.counts() == before, "events after the opt-out were recorded: %s -> %s" %
               (before, site.counts()))
    # A second POST is harmless.
    r = optout_post(w, m.optout, None, hidden)
    ctx.expect(r.status == 200, "second POST: status %s" % r.status)
    ctx.expect(len(site.query("SELECT * FROM optouts WHERE recipient_hash = ?", (h,))) == 1,
               "second POST made a second optouts row")
    # The milter (preview, same code and database) now leaves mail to Bob alone.
    body = bl.html_mail(["https://example.org/next"], ["bob@example.net"])
    rc, out, err = site.preview(["bob@example.net"], body)
    ctx.expect(rc == 0 and "untouched: a recipient opted out" in err and out == body,
               "preview to Bob after the opt-out: exit %d, %r, %s" %
               (rc, err.strip(), "unchanged" if out == body else "edited"))
    rc, out, err = site.preview(["carol@example.net"], bl.html_mail(["https://example.org/next"],
                                                                     ["carol@example.net"]))
    ctx.expect(rc == 0 and b"/o/" in out, "preview to Carol (not opted out) is untouched: %r" % err.strip())
    w.optout_msg = m


@case("optout-multi-recipient", "main")
def t_optout_multi(ctx, w):
    site = w.site
    rcpts = ["carol@example.net", "Dave@Example.net"]
    m = site.make_message(["https://example.org/m"], to=rcpts)
    r = bl.request(w.port, "GET", m.optout, H_BROWSER)
    page = r.body.decode("utf-8", "replace")
    ctx.expect(r.status == 200, "GET page: status %s" % r.status)
    ctx.expect(re.search(r"<input\b[^>]*name\s*=\s*[\"']?address", page, re.I),
               "the page of a two-recipient message has no address field")
    for a in rcpts:
        ctx.expect(a.lower() not in page.lower(), "the page lists the recipient %s" % a)
    _, _, hidden = form_fields(page)
    before = site.counts()
    for label, addr in (("no address", None), ("empty address", "")):
        r = optout_post(w, m.optout, addr, hidden)
        ctx.expect(r.status == 400, "POST with %s: status %s, want 400" % (label, r.status))
        ctx.expect(site.counts() == before, "POST with %s wrote rows: %s -> %s" % (label, before, site.counts()))
    # Not a recipient: the answer a recipient gets (no oracle), nothing written.
    answers = set()
    for label, addr in (("someone else", "mallory@example.org"),
                        ("two addresses", "carol@example.net,dave@example.net"),
                        ("an address of another message", "bob@example.net")):
        r = optout_post(w, m.optout, addr, hidden)
        answers.add((r.status, r.body))
        ctx.expect(site.counts() == before, "POST with %s wrote rows: %s -> %s" % (label, before, site.counts()))
    r = optout_post(w, m.optout, " DAVE@example.NET ", hidden)
    ctx.expect(r.status == 200, "POST with Dave's address (other case, blanks): status %s" % r.status)
    answers.add((r.status, r.body))
    ctx.expect(len(answers) == 1, "strangers and Dave get %d different answers" % len(answers))
    ctx.expect(len(site.query("SELECT * FROM optouts WHERE recipient_hash = ?",
                              (site.recipient_hash("dave@example.net"),))) == 1,
               "no optouts row for Dave's hash")
    ctx.expect(not site.query("SELECT * FROM optouts WHERE recipient_hash = ?",
                              (site.recipient_hash("carol@example.net"),)),
               "Carol was opted out too")
    before = site.counts()
    bl.request(w.port, "GET", m.pixel, H_THUNDERBIRD)
    ctx.expect(site.counts() == before, "an open of the message was recorded after Dave opted out")
    rc, out, err = site.preview(["erin@example.net", "dave@example.net"],
                                bl.html_mail(["https://example.org/n"], ["erin@example.net", "dave@example.net"]))
    ctx.expect("untouched: a recipient opted out" in err, "preview to Erin and Dave: %r" % err.strip())


# --- hostile opt-out form (a beacon of its own: its limits are spent) ------

@case("optout-no-oracle", "hostile")
def t_optout_oracle(ctx, w):
    """A recipient of a message with several recipients cannot learn from
    the opt-out form who else (Bcc) received it, nor opt them out by
    guessing: a typed address gets the same answer whether it received the
    message or not, a stranger's is not recorded, and typed attempts are
    limited per message and per client network."""
    site = w.site
    rcpts = ["carol@example.net", "dave@example.net", "erin@example.net"]   # Erin: Bcc
    m = site.make_message(["https://example.org/o"], to=rcpts)
    r = bl.request(w.port, "GET", m.optout, H_BROWSER)
    _, _, hidden = form_fields(r.body.decode("utf-8", "replace"))
    before = site.counts()
    wrong = optout_post(w, m.optout, "mallory@example.org", hidden)
    ctx.expect(site.counts() == before, "a stranger's address wrote rows: %s -> %s" % (before, site.counts()))
    right = optout_post(w, m.optout, "dave@example.net", hidden)
    ctx.expect(right.status == 200, "Dave's address: status %s" % right.status)
    ctx.expect(len(site.query("SELECT 1 FROM optouts WHERE recipient_hash = ?",
                              (site.recipient_hash("dave@example.net"),))) == 1, "Dave not opted out")
    ctx.expect((wrong.status, wrong.header("Content-Type"), wrong.body) ==
               (right.status, right.header("Content-Type"), right.body),
               "a stranger gets %s %s, a recipient %s %s: the form tells who received the message" %
               (wrong.status, short(wrong.body, 80), right.status, short(right.body, 80)))
    # 40 guesses in a row: most are refused unanswered, whatever they are.
    statuses = [optout_post(w, m.optout, "guess%d@example.net" % i, hidden).status for i in range(40)]
    answered = statuses.count(200)
    ctx.detail("40 guesses: %d answered, %d refused" % (answered, statuses.count(429)))
    ctx.expect(set(statuses) <= {200, 429}, "guesses: statuses %s" % sorted(set(statuses)))
    ctx.expect(answered <= 5, "%d of 40 guessed addresses were answered (no limit per message)" % answered)
    # Over the limit a real recipient's address is refused the same way.
    before = site.counts()
    r = optout_post(w, m.optout, "erin@example.net", hidden)
    ctx.expect(r.status == 429, "Erin's address over the limit: status %s, want 429" % r.status)
    ctx.expect(site.counts() == before, "an attempt over the limit wrote rows")
    # The same network is out of attempts for another message too; another
    # network is not.
    m2 = site.make_message(["https://example.org/o2"], to=["frank@example.net", "gina@example.net"])
    r = optout_post(w, m2.optout, "x@example.org", hidden)
    ctx.expect(r.status == 429, "another message from the same network: status %s, want 429" % r.status)
    r = bl.request(w.port, "POST", m2.optout, dict(H_BROWSER, **{"Content-Type": FORM}),
                   urllib.parse.urlencode({"address": "gina@example.net"}).encode(), source="127.0.1.1")
    ctx.expect(r.status == 200, "another network: status %s, want 200" % r.status)
    ctx.expect(len(site.query("SELECT 1 FROM optouts WHERE recipient_hash = ?",
                              (site.recipient_hash("gina@example.net"),))) == 1, "Gina not opted out")


@case("optout-many-recipients", "hostile")
def t_optout_many(ctx, w):
    """Every recipient of a message to 70 can opt out by typing their
    address, also the one whose hash the store lists last (from a network
    of its own: the guesses above spent this one's)."""
    site = w.site
    rcpts = ["r%02d@example.net" % i for i in range(1, 71)]
    last = max(rcpts, key=site.recipient_hash)
    m = site.make_message(["https://example.org/many"], to=rcpts)
    r = optout_post(w, m.optout, last, {}, source="127.0.3.1")
    ctx.expect(r.status == 200, "the last-listed of 70 recipients: status %s" % r.status)
    ctx.expect(len(site.query("SELECT 1 FROM optouts WHERE recipient_hash = ?",
                              (site.recipient_hash(last),))) == 1,
               "the last-listed of 70 recipients was not opted out")


@case("optout-expired", "hostile")
def t_optout_expired(ctx, w):
    """After purge removed a message, its still valid opt-out link trusts
    nothing typed: the page says the message expired, records nothing, and
    answers the same whatever the address."""
    site = w.site
    rcpts = ["hal@example.net", "ivy@example.net"]
    m = site.make_message(["https://example.org/e"], to=rcpts, sent=now() - 100 * 86400)
    p = subprocess.run([site.tool("admin"), "-c", site.conf, "purge"], capture_output=True, text=True,
                       timeout=60)
    ctx.expect(p.returncode == 0, "mailbeacon purge: exit %d: %s" % (p.returncode, p.stderr.strip()[:200]))
    ctx.expect(not site.query("SELECT 1 FROM messages WHERE id = ?", (m.msgid,)), "purge kept the message")
    r = bl.request(w.port, "GET", m.optout, H_BROWSER)
    page = r.body.decode("utf-8", "replace")
    ctx.expect(r.status == 200 and "expired" in page, "GET: status %s, page %s" % (r.status, short(page, 200)))
    ctx.expect(not re.search(r"name\s*=\s*[\"']?address", page, re.I), "the expired page asks for an address")
    ctx.expect("stop tracking" in page.lower(), "the page does not say how to opt out instead")
    before = site.counts()
    answers = set()
    for addr in ("nobody@example.org", "ivy@example.net", None):
        r = optout_post(w, m.optout, addr, {})
        answers.add((r.status, r.body))
        ctx.expect(r.status == 200 and b"expired" in r.body, "POST %s: status %s %s" % (addr, r.status, short(r.body, 100)))
    ctx.expect(len(answers) == 1, "the expired page depends on the typed address")
    ctx.expect(site.counts() == before, "POSTs to an expired message wrote rows: %s -> %s" % (before, site.counts()))
    # A message this beacon never saw, sent recently (a beacon on another
    # host): the address is still taken as typed.
    m2 = site.make_message(["https://example.org/r"], to=rcpts, record=False)
    r = optout_post(w, m2.optout, "ivy@example.net", {}, source="127.0.2.1")
    ctx.expect(r.status == 200 and b"expired" not in r.body, "a recent unknown message: %s" % r.status)


# --- the database file under a running beacon (a beacon of its own) --------

def db_files(site):
    return [site.db + sfx for sfx in ("", "-wal", "-shm")]


def warm_handles(w, m):
    """Every HTTP thread opens its database handle, the writer too."""
    for _ in range(12):
        bl.request(w.port, "GET", m.optout, H_BROWSER)
    bl.request(w.port, "GET", m.pixel, H_THUNDERBIRD)


def lost_events(w):
    ms, _ = bl.metrics(w.port)
    return bl.metric_sum(ms, "mailbeacon_events_lost_total") or 0


@case("database-removed", "storefile")
def t_db_removed(ctx, w):
    """The database file deleted under a running beacon: no opt-out is
    acknowledged (it would go into the deleted file), /healthz fails,
    events are counted lost; once the file is back, all goes to it."""
    site = w.site
    msgs = [site.make_message(["https://example.org/d"]) for _ in range(8)]
    warm_handles(w, msgs[0])
    for f in db_files(site):
        if os.path.exists(f):
            os.unlink(f)
    statuses = [optout_post(w, m.optout).status for m in msgs]
    ctx.expect(statuses == [503] * 8, "8 opt-outs after the file was deleted: %s, want 503 each" % statuses)
    r = bl.request(w.port, "GET", "/healthz")
    ctx.expect(r.status == 503, "healthz with the database deleted: %s" % r.status)
    lost = lost_events(w)
    r = bl.request(w.port, "GET", msgs[0].pixel, H_THUNDERBIRD)
    check_gif(ctx, r, "pixel with the database deleted")
    ctx.expect(lost_events(w) == lost + 1, "the pixel's event was not counted lost (%s -> %s)" %
               (lost, lost_events(w)))
    # The file is made again (the milter does at start): everything goes there.
    site.create_store()
    site.record(msgs)
    r = optout_post(w, msgs[1].optout)
    ctx.expect(r.status == 200, "opt-out after the file came back: %s" % r.status)
    ctx.expect(len(site.query("SELECT 1 FROM optouts WHERE recipient_hash = ?",
                              (site.recipient_hash(msgs[1].to[0]),))) == 1,
               "the acknowledged opt-out is not in the database file")
    r = bl.request(w.port, "GET", "/healthz")
    ctx.expect(r.status == 200, "healthz after the file came back: %s" % r.status)


@case("database-replaced", "storefile")
def t_db_replaced(ctx, w):
    """The database file replaced (restored from a copy) under a running
    beacon: what it acknowledges is in the new file, the one the milter
    reads."""
    site = w.site
    msgs = [site.make_message(["https://example.org/r"]) for _ in range(8)]
    warm_handles(w, msgs[0])
    copy = site.db + ".copy"
    src, dst = sqlite3.connect(site.db), sqlite3.connect(copy)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    os.replace(copy, site.db)
    for f in db_files(site)[1:]:
        if os.path.exists(f):
            os.unlink(f)
    statuses = [optout_post(w, m.optout).status for m in msgs]
    ctx.expect(set(statuses) <= {200, 503}, "opt-outs after the file was replaced: %s" % statuses)
    for m, st in zip(msgs, statuses):
        if st == 200:
            ctx.expect(site.query("SELECT 1 FROM optouts WHERE recipient_hash = ?",
                                  (site.recipient_hash(m.to[0]),)),
                       "an acknowledged opt-out is not in the file at the database's path")
    ctx.expect(statuses.count(200) >= 7, "only %d of 8 opt-outs answered after the replacement" %
               statuses.count(200))
    m = site.make_message(["https://example.org/r2"])
    r = bl.request(w.port, "GET", m.pixel, H_THUNDERBIRD)
    check_gif(ctx, r, "pixel after the replacement")
    one_row(ctx, site, m.msgid, "pixel after the replacement")


@case("disk-full", "storefile")
def t_disk_full(ctx, w):
    """The database on a full file system (a small tmpfs): pixels are still
    answered, their events counted lost, and /healthz says the store is not
    writable until space is back."""
    mnt = os.path.join(w.root, "tiny")
    os.makedirs(mnt)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", mnt],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print("WARNING: SKIPPED disk-full: cannot mount a tmpfs (needs root): %s" % p.stderr.strip())
        ctx.detail("SKIPPED: cannot mount a tmpfs")
        return
    site = beacon = None
    try:
        site = bl.Site(w.build, w.root, "diskfull", [("beacon_timeout", "10")])
        site.db = os.path.join(mnt, "mb.db")
        site.settings = [(k, site.db if k == "database" else v) for k, v in site.settings]
        site.write_conf()
        site.create_store()
        msgs = [site.make_message() for _ in range(20)]
        w.extra = beacon = bl.Beacon(site).start()
        wp = World()
        wp.port = site.port
        with open(os.path.join(mnt, "filler"), "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        lost0, answered = lost_events(wp), []
        for m in msgs:
            r = bl.request(wp.port, "GET", m.pixel, H_THUNDERBIRD)
            answered.append(r.status)
            if lost_events(wp) > lost0:
                break
        ctx.expect(set(answered) == {200}, "pixels on a full disk: %s, want 200" % answered)
        ctx.expect(lost_events(wp) > lost0, "%d pixels on a full disk, no event counted lost" % len(answered))
        r = bl.request(wp.port, "GET", "/healthz")
        ctx.expect(r.status == 503, "healthz with the disk full: %s %s" % (r.status, short(r.body, 80)))
        time.sleep(1.1)
        r = bl.request(wp.port, "GET", "/healthz")
        ctx.expect(r.status == 503, "healthz a second later, disk still full: %s" % r.status)
        os.unlink(os.path.join(mnt, "filler"))
        time.sleep(1.1)
        r = bl.request(wp.port, "GET", "/healthz")
        ctx.expect(r.status == 200, "healthz once space is back: %s" % r.status)
        m = site.make_message()
        r = bl.request(wp.port, "GET", m.pixel, H_THUNDERBIRD)
        one_row(ctx, site, m.msgid, "a pixel once space is back")
    finally:
        if beacon is not None:
            beacon.stop()
        subprocess.run(["umount", mnt], capture_output=True)


# --- API, metrics -----------------------------------------------------------

def api_get(w, after, auth):
    h = {"Accept": "application/json"}
    if auth is not None:
        h["Authorization"] = auth
    return bl.request(w.port, "GET", "/api/v1/events?after=%s" % after, h)


def values(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from values(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from values(v)
    else:
        yield obj


@case("api", "main")
def t_api(ctx, w):
    site = w.site
    for label, auth in (("no token", None), ("wrong token", "Bearer " + "x" * 32),
                        ("token prefix", "Bearer " + w.api_token[:-1]),
                        ("token + x", "Bearer " + w.api_token + "x"),
                        ("token as Basic", "Basic " + w.api_token),
                        ("bare token", w.api_token), ("empty bearer", "Bearer ")):
        r = api_get(w, 0, auth)
        ctx.expect(r.status == 401, "%s: status %s, want 401" % (label, r.status))
        ctx.expect(b"cursor" not in r.body, "%s: events in the body" % label)
    lines, cursor, pages = [], 0, 0
    while pages < 1000:
        r = api_get(w, cursor, "Bearer " + w.api_token)
        if not ctx.expect(r.status == 200, "after=%s: status %s: %s" % (cursor, r.status, short(r.body, 200))):
            return
        page = [ln for ln in r.body.decode("utf-8").splitlines() if ln.strip()]
        pages += 1
        if not page:
            break
        for ln in page:
            try:
                obj = json.loads(ln)
            except ValueError:
                ctx.expect(False, "not a JSON line: %r" % ln[:200])
                return
            c = obj.get("cursor")
            if not ctx.expect(isinstance(c, int) and c > cursor,
                              "cursor %r does not follow %r: %s" % (c, cursor, ln[:200])):
                return
            cursor = c
            lines.append(obj)
    ctx.detail("%d lines in %d pages, last cursor %d" % (len(lines), pages, cursor))
    r = api_get(w, cursor, "Bearer " + w.api_token)
    ctx.expect(r.status == 200 and not r.body.strip(), "after the last cursor: %s %s" % (r.status, short(r.body, 200)))
    events = site.query("SELECT * FROM events ORDER BY id")
    per_msg = {}
    for obj in lines:
        for v in values(obj):
            if isinstance(v, str) and len(v) == 22:
                per_msg[v] = per_msg.get(v, 0) + 1
    want = {}
    for e in events:
        want[e["message_id"]] = want.get(e["message_id"], 0) + 1
    missing = [k for k, n in want.items() if per_msg.get(k, 0) < n]
    ctx.expect(not missing, "%d messages have fewer API lines than event rows (e.g. %s)" %
               (len(missing), missing[:3]))
    ctx.expect(len(lines) >= len(events), "%d API lines for %d event rows" % (len(lines), len(events)))
    kinds = {v for obj in lines for v in values(obj) if v in ("open", "click", "optout")}
    ctx.expect(kinds == {"open", "click", "optout"}, "kinds in the API: %s" % sorted(kinds))
    text = "\n".join(json.dumps(o) for o in lines)
    for leak in ("bob@example.net", "dave@example.net", "203.0.113.77", "127.0.0.1\"", "Thunderbird/", "Mozilla"):
        ctx.expect(leak not in text, "the API output contains %r" % leak)
    ctx.expect(re.search(r'"203\.0\.113\.0/24"', text), "the masked address 203.0.113.0/24 is not in the API")
    r = api_get(w, "abc", "Bearer " + w.api_token)
    ctx.expect(r.status == 400, "after=abc: status %s, want 400" % r.status)


@case("stored-values", "main")
def t_stored(ctx, w):
    """Nothing on disk is a full address or a user agent."""
    rows = w.site.query("SELECT * FROM events")
    for r in rows:
        ip = r["ip_masked"]
        ctx.expect(ip in (None, "") or MASKED_RE.match(ip), "event %d: ip_masked %r" % (r["id"], ip))
        ctx.expect(r["client_class"] in (None, "") or r["client_class"] in CLIENT_CLASSES,
                   "event %d: client_class %r" % (r["id"], r["client_class"]))
        ctx.expect(r["verdict"] in VERDICTS, "event %d: verdict %r" % (r["id"], r["verdict"]))
    con = w.site.connect_db()
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    for leak in ("Thunderbird/", "GoogleImageProxy", "Mozilla", "127.0.0.1'", "127.0.0.2'", "203.0.113.77",
                 "17.58.63.1'", "bob@example.net", "dave@example.net"):
        ctx.expect(leak not in dump, "the store contains %r" % leak)


@case("metrics", "main")
def t_metrics(ctx, w):
    ms, r = bl.metrics(w.port)
    if not ctx.expect(ms is not None, "status %s" % r.status):
        return
    ct = (r.header("Content-Type") or "").lower()
    ctx.expect(ct.startswith("text/plain"), "Content-Type %r" % ct)
    text = r.body.decode()
    for route, status in (("pixel", "200"), ("click", "302"), (None, "404")):
        found = [(n, ls) for (n, ls) in ms if n == "mailbeacon_requests_total" and ("status", status) in ls]
        ctx.expect(found, "no mailbeacon_requests_total{status=\"%s\"}" % status)
        if found:
            ctx.expect(all(any(k == "route" for k, _ in ls) for _, ls in found),
                       "mailbeacon_requests_total without a route label")
    for v in ("human", "prefetch", "scanner", "apple-mpp", "gmail-proxy"):
        val = bl.metric_sum(ms, "mailbeacon_events_total", verdict=v)
        ctx.expect(val and val > 0, "mailbeacon_events_total{verdict=\"%s\"} is %r" % (v, val))
    ctx.expect((bl.metric_sum(ms, "mailbeacon_forgeries_total") or 0) > 0, "mailbeacon_forgeries_total is 0")
    hist = bl.metric_sum(ms, "mailbeacon_commit_seconds_count")
    ctx.expect(hist and hist > 0, "mailbeacon_commit_seconds_count is %r" % hist)
    ctx.expect(re.search(r"^# TYPE mailbeacon_commit_seconds (histogram|summary)$", text, re.M),
               "no TYPE line for mailbeacon_commit_seconds")
    ctx.expect(re.search(r"^# TYPE mailbeacon_requests_total counter$", text, re.M),
               "no TYPE counter line for mailbeacon_requests_total")
    ctx.expect(not re.search(r"[A-Za-z0-9_-]{22}\.\d{9,}", text), "token-like text in /metrics")
    ctx.expect(w.beacon.alive(), "the beacon died")


# --- rotation --------------------------------------------------------------

@case("rotation", "rotation")
def t_rotation(ctx, w):
    site = w.site
    old_key = site.keys[0]
    m_old = site.make_message(["https://example.org/rot?a=1"])      # signed with k1
    m_old2 = site.make_message(["https://example.org/rot2"])
    st = w.beacon.stop()
    ctx.expect(st == 0, "SIGTERM: exit status %r, want 0" % st)
    new_key = ("k2", bl.new_secret())
    site.write_keys([new_key, old_key])
    w.beacon = bl.Beacon(site).start()
    r = bl.request(w.port, "GET", m_old.pixel, H_THUNDERBIRD)
    check_gif(ctx, r, "k1 pixel with k2 current")
    one_row(ctx, site, m_old.msgid, "k1 pixel with k2 current")
    r = bl.request(w.port, "GET", m_old.clicks[0].path, H_BROWSER)
    check_redirect(ctx, r, m_old.clicks[0].dest, "k1 click with k2 current")
    m_new = site.make_message(["https://example.org/rot-new"])
    ctx.expect(".k2." in m_new.pixel, "preview did not sign with the first key k2: %s" % m_new.pixel)
    r = bl.request(w.port, "GET", m_new.pixel, H_THUNDERBIRD)
    check_gif(ctx, r, "k2 pixel")
    one_row(ctx, site, m_new.msgid, "k2 pixel")
    # k1 retired: its tokens are forgeries now.
    w.beacon.stop()
    site.write_keys([new_key])
    w.beacon = bl.Beacon(site).start()
    before = site.counts()
    r = bl.request(w.port, "GET", m_old2.pixel, H_THUNDERBIRD)
    ctx.expect(r.status == 404, "k1 pixel after k1 was removed: status %s" % r.status)
    r = bl.request(w.port, "GET", m_old2.clicks[0].path, H_BROWSER)
    ctx.expect(r.status == 404 and r.header("Location") is None,
               "k1 click after k1 was removed: status %s" % r.status)
    ctx.expect(site.counts() == before, "rows written for retired-key tokens")
    r = bl.request(w.port, "GET", m_new.clicks[0].path, H_BROWSER)
    check_redirect(ctx, r, m_new.clicks[0].dest, "k2 click")


@case("shutdown", "rotation")
def t_shutdown(ctx, w):
    st = w.beacon.stop()
    ctx.expect(st == 0, "SIGTERM: exit status %r, want 0" % st)
    ctx.expect(not os.path.exists(w.beacon.pidfile), "pid file left behind after SIGTERM")
    con = w.site.connect_db()
    try:
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
    ctx.expect(ok == "ok", "integrity_check: %s" % ok)


# --- limits group --------------------------------------------------------------

@case("api-disabled", "limits")
def t_api_disabled(ctx, w):
    r = api_get(w, 0, "Bearer anything")
    ctx.expect(r.status == 404, "without api_token_file: status %s, want 404" % r.status)
    r = api_get(w, 0, None)
    ctx.expect(r.status == 404, "without api_token_file, no token: status %s, want 404" % r.status)


@case("xff-ignored-by-default", "limits")
def t_xff_default(ctx, w):
    site = w.site
    for source in ("127.0.0.1", "127.0.0.2"):
        m = site.make_message()
        r = bl.request(w.port, "GET", m.pixel, dict(H_THUNDERBIRD, **{"X-Forwarded-For": "203.0.113.77"}),
                       source=source)
        check_gif(ctx, r, "from %s" % source)
        rows = one_row(ctx, site, m.msgid, "from %s" % source)
        if rows:
            ctx.expect(rows[0]["ip_masked"] == "127.0.0.0/24", "from %s with X-Forwarded-For: ip_masked %r" %
                       (source, rows[0]["ip_masked"]))


@case("scanner-window-default", "limits")
def t_window_default(ctx, w):
    site = w.site
    for ago, want in ((15, "scanner"), (50, "human")):
        m = site.make_message(["https://example.org/w"], sent=now() - ago)
        r = bl.request(w.port, "GET", m.clicks[0].path, H_BROWSER)
        check_redirect(ctx, r, m.clicks[0].dest, "click %ds after sending" % ago)
        rows = one_row(ctx, site, m.msgid, "click %ds after sending" % ago)
        if rows:
            ctx.expect(rows[0]["verdict"] == want, "click %ds after sending (default window 30): %r, want %s"
                       % (ago, rows[0]["verdict"], want))
        time.sleep(0.3)


@case("rate-limit", "limits")
def t_rate(ctx, w):
    site = w.site
    msgs = [site.make_message() for _ in range(30)]
    time.sleep(2.2)         # a fresh budget
    before = site.counts()
    statuses = []
    t0 = time.monotonic()
    for m in msgs:
        r = bl.request(w.port, "GET", m.pixel, H_THUNDERBIRD)
        statuses.append(r.status)
        if r.status == 429:
            ctx.expect(not site.events(m.msgid), "a 429 request was recorded")
    elapsed = time.monotonic() - t0
    n200, n429 = statuses.count(200), statuses.count(429)
    ctx.detail("30 requests in %.2fs: %d x 200, %d x 429" % (elapsed, n200, n429))
    ctx.expect(set(statuses) <= {200, 429}, "statuses %s" % statuses)
    ctx.expect(statuses[:5] == [200] * 5, "the first 5 requests: %s" % statuses[:5])
    if elapsed < 1.0:
        ctx.expect(n429 >= 30 - 5 * 2 - 1, "only %d of 30 requests in %.2fs got 429 (limit 5/s)" % (n429, elapsed))
    ctx.expect(site.counts()[0] - before[0] == n200, "%d rows for %d answered opens" %
               (site.counts()[0] - before[0], n200))
    time.sleep(2.2)
    m = site.make_message()
    r = bl.request(w.port, "GET", m.pixel, H_THUNDERBIRD)
    ctx.expect(r.status == 200, "2 s later: status %s" % r.status)
    time.sleep(1.1)
    ms, _ = bl.metrics(w.port)
    ctx.expect(bl.metric_sum(ms, "mailbeacon_requests_total", status="429"),
               "no mailbeacon_requests_total{status=\"429\"}")
    time.sleep(1.1)


def closed_within(sock, limit):
    """Seconds until the peer closed sock (EOF, reset, or an error answer
    such as 408 followed by EOF), or None if still open after limit."""
    t0 = time.monotonic()
    sock.settimeout(0.1)
    while time.monotonic() - t0 < limit:
        try:
            d = sock.recv(4096)
            if not d:
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0
    return None


@case("slow-client", "limits")
def t_slow(ctx, w):
    time.sleep(1.1)
    s = socket.create_connection(("127.0.0.1", w.port), timeout=5)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t.example.com\r\n")
        t = closed_within(s, 8)
        ctx.expect(t is not None, "half a request: still connected after 8 s (beacon_timeout = 2)")
        if t is not None:
            ctx.expect(t >= 1.0, "half a request: closed after %.1f s, before beacon_timeout = 2" % t)
            ctx.detail("half request closed after %.1fs" % t)
    finally:
        s.close()
    s = socket.create_connection(("127.0.0.1", w.port), timeout=5)
    try:
        t = closed_within(s, 8)
        ctx.expect(t is not None, "idle connection: still connected after 8 s")
    finally:
        s.close()
    time.sleep(1.1)
    r = bl.request(w.port, "GET", "/healthz")
    ctx.expect(r.status == 200, "healthz afterwards: %s" % r.status)


@case("max-connections", "limits")
def t_maxconn(ctx, w):
    """beacon_max_connections = 20: 40 idle connections are opened; a
    request on one more is then not served while they hold every slot (it
    waits in the listen queue or is closed), only after beacon_timeout = 2
    frees them. Afterwards the beacon serves as before."""
    socks = []
    try:
        for _ in range(40):
            try:
                socks.append(socket.create_connection(("127.0.0.1", w.port), timeout=2))
            except OSError:
                break
        ctx.expect(len(socks) == 40, "only %d connections could be opened" % len(socks))
        time.sleep(0.3)
        t0 = time.monotonic()
        extra = socket.create_connection(("127.0.0.1", w.port), timeout=2)
        socks.append(extra)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: t.example.com\r\nConnection: close\r\n\r\n")
        extra.settimeout(0.1)
        answer, closed = None, False
        while time.monotonic() - t0 < 8:
            try:
                d = extra.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
            if not d:
                closed = True
                break
            answer = d
            break
        t = time.monotonic() - t0
        if answer is not None:
            ctx.detail("the 41st request was answered after %.1fs" % t)
            ctx.expect(t >= 1.0, "the 41st request was served after %.2fs while 40 connections were open "
                       "(beacon_max_connections = 20)" % t)
        elif closed:
            ctx.detail("the 41st connection was closed after %.1fs" % t)
        else:
            ctx.expect(False, "the 41st request: no answer within 8 s")
        closed_idle = 0
        for s in socks[:40]:
            s.setblocking(False)
            try:
                if not s.recv(16):
                    closed_idle += 1
            except BlockingIOError:
                pass
            except OSError:
                closed_idle += 1
        ctx.detail("%d of the 40 idle connections closed by then" % closed_idle)
    finally:
        for s in socks:
            s.close()
    time.sleep(2.5)
    r = bl.request(w.port, "GET", "/healthz")
    ctx.expect(r.status == 200, "healthz after the connections closed: %s" % r.status)


@case("keep-alive", "limits")
def t_keepalive(ctx, w):
    """Two requests on one HTTP/1.1 connection (pixels through a proxy or a
    mail client reuse connections)."""
    time.sleep(1.1)
    s = socket.create_connection(("127.0.0.1", w.port), timeout=5)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t.example.com\r\n\r\n")
        time.sleep(0.3)
        s.settimeout(1)
        first = s.recv(65536)
        ctx.expect(first.startswith(b"HTTP/1.1 200"), "first answer %r" % first[:40])
        ctx.expect(b"connection: close" not in first.lower(),
                   "the beacon answers an HTTP/1.1 request with Connection: close")
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t.example.com\r\n\r\n")
            second = s.recv(65536)
        except OSError as e:
            second = repr(e).encode()
        ctx.expect(second.startswith(b"HTTP/1.1 200"), "second request on the connection: %r" % second[:40])
    finally:
        s.close()


@case("connections-per-network", "connlimit")
def t_conn_per_network(ctx, w):
    """beacon_max_connections_per_network = 4: one client network holding 4
    idle connections cannot open a fifth, but another network is served at
    once; the trusted proxy is not counted; a freed slot is usable again."""
    held = []
    try:
        for _ in range(4):
            held.append(socket.create_connection(("127.0.0.1", w.port), timeout=2))
        time.sleep(0.3)
        fifth = socket.create_connection(("127.0.0.1", w.port), timeout=2)
        held.append(fifth)
        fifth.sendall(b"GET /healthz HTTP/1.1\r\nHost: t.example.com\r\nConnection: close\r\n\r\n")
        t = closed_within(fifth, 3)
        ctx.expect(t is not None, "a fifth connection from 127.0.0.0/24 was kept open")
        r = bl.request(w.port, "GET", "/healthz", source="127.0.1.1", timeout=3)
        ctx.expect(r.status == 200, "another network (127.0.1.0/24) while 127.0.0.0/24 is at its cap: %s"
                   % r.status)
        # The trusted proxy (127.0.2.1) speaks for many readers: not capped.
        proxied = [socket.create_connection(("127.0.0.1", w.port), timeout=2,
                                            source_address=("127.0.2.1", 0)) for _ in range(6)]
        held.extend(proxied)
        time.sleep(0.3)
        r = bl.request(w.port, "GET", "/healthz", source="127.0.2.1", timeout=3)
        ctx.expect(r.status == 200, "the trusted proxy with 6 connections open: %s" % r.status)
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)
    r = bl.request(w.port, "GET", "/healthz", timeout=3)
    ctx.expect(r.status == 200, "127.0.0.1 once its connections closed: %s" % r.status)
    ms, _ = bl.metrics(w.port)
    ctx.expect((bl.metric_sum(ms, "mailbeacon_connections_refused_total") or 0) >= 1,
               "mailbeacon_connections_refused_total did not count the refused connection")


# --- running ----------------------------------------------------------------

def run_group(report, group, w, only, pause=0):
    for name, g, f in CASES:
        if g != group or (only and name not in only):
            continue
        time.sleep(pause)
        ctx = Ctx(report, name)
        try:
            f(ctx, w)
        except Exception as e:
            ctx.notes.append("exception %s: %s (%s)" % (type(e).__name__, e,
                             traceback.format_exc().strip().splitlines()[-3].strip()))
        if ctx.notes:
            why = "; ".join(ctx.notes[:8]) + ("; ... %d more" % (len(ctx.notes) - 8) if len(ctx.notes) > 8 else "")
            report.fail(name, why)
            if len(ctx.notes) > 8:
                for n in ctx.notes[8:60]:
                    print("#   " + n)
            if w.beacon is not None and not w.beacon.alive():
                print("#   the beacon is not running; its log:")
            for line in w.site.log_tail(8):
                print("#   log: " + line)
        else:
            report.ok(name, "; ".join(ctx.details))


def group_failed(report, group, why, only):
    for name, g, _ in CASES:
        if g == group and (not only or name in only):
            report.fail(name, why)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("top_builddir") or
                    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
    ap.add_argument("--keep", action="store_true", default=bool(os.environ.get("BEACON_KEEP")))
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    only = set(args.cases)
    unknown = only - {n for n, _, _ in CASES}
    if unknown:
        print("unknown cases: %s" % ", ".join(sorted(unknown)))
        return 2
    bl.install_signal_handlers()
    atexit.register(bl.stop_all)
    report = bl.Report()
    root = tempfile.mkdtemp(prefix="mb-beacon-")
    print("# work directory %s" % root)
    try:
        binary = os.path.join(build, "beacon", "mailbeacond")
        if not os.access(binary, os.X_OK):
            for g in ("pre", "main", "rotation", "limits", "hostile", "storefile", "connlimit"):
                group_failed(report, g, "%s is not built" % binary, only)
        else:
            run_main(report, build, root, only)
            run_limits(report, build, root, only)
            run_own(report, build, root, only, "hostile", [("retention_days", "45")])
            run_own(report, build, root, only, "storefile", [("beacon_rate_limit", "100000")])
            run_own(report, build, root, only, "connlimit", [("beacon_max_connections_per_network", "4"),
                                                             ("trusted_proxies", "127.0.2.1/32"),
                                                             ("beacon_timeout", "10")])
            bl.stop_all()
            bl.report_sanitizers(report, root)
    finally:
        status = bl.finish(report, root, args.keep)
    return status


def wanted(group, only):
    return any(g == group and (not only or n in only) for n, g, _ in CASES)


def run_main(report, build, root, only):
    if not any(wanted(g, only) for g in ("pre", "main", "rotation")):
        return
    w = World()
    w.beacon = None
    w.api_token = bl.b64url(os.urandom(24))
    try:
        w.site = bl.Site(build, root, "main", [
            ("retention_days", "45"),
            ("trusted_proxies", "127.0.0.2/32"),
            ("scanner_window", "60"),
            ("beacon_max_connections", "1000"),
            ("beacon_rate_limit", "100000"),
            ("beacon_timeout", "10")], api_token=w.api_token)
        w.port = w.site.port
        w.site.create_store()
        # Same key id, other secret; and a key id the beacon does not have.
        w.foreign = bl.Site(build, root, "foreign", keys=[("k1", bl.new_secret())])
        w.unknown = bl.Site(build, root, "unknown", keys=[("k9", bl.new_secret())])
    except Exception as e:
        for g in ("pre", "main", "rotation"):
            group_failed(report, g, "setup: %s" % e, only)
        return
    run_group(report, "pre", w, only)
    if not (wanted("main", only) or wanted("rotation", only)):
        return
    try:
        w.beacon = bl.Beacon(w.site).start()
    except Exception as e:
        for g in ("main", "rotation"):
            group_failed(report, g, "start: %s" % e, only)
        return
    run_group(report, "main", w, only)
    run_group(report, "rotation", w, only)
    w.beacon.stop()


def run_limits(report, build, root, only):
    if not wanted("limits", only):
        return
    w = World()
    w.beacon = None
    try:
        w.site = bl.Site(build, root, "limits", [
            ("beacon_rate_limit", "5"),
            ("beacon_timeout", "2"),
            ("beacon_max_connections", "20")])
        w.port = w.site.port
        w.site.create_store()
        w.beacon = bl.Beacon(w.site).start()
    except Exception as e:
        group_failed(report, "limits", "setup: %s" % e, only)
        return
    # Under beacon_rate_limit = 5 every case starts with a fresh second.
    run_group(report, "limits", w, only, pause=1.2)
    w.beacon.stop()


def run_own(report, build, root, only, group, settings):
    """A group with a site and a beacon of its own."""
    if not wanted(group, only):
        return
    w = World()
    w.beacon = w.extra = None
    w.build, w.root = build, root
    try:
        w.site = bl.Site(build, root, group, settings)
        w.port = w.site.port
        w.site.create_store()
        w.beacon = bl.Beacon(w.site).start()
    except Exception as e:
        group_failed(report, group, "setup: %s" % e, only)
        return
    run_group(report, group, w, only)
    w.beacon.stop()


if __name__ == "__main__":
    sys.exit(main())
