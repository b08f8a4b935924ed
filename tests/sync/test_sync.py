#!/usr/bin/env python3
"""test_sync.py: `mailbeacon sync` against a real mailbeacond.

    test_sync.py --build DIR [--keep]

A beacon site (its own configuration, keys, database and api_token_file) runs
mailbeacond on a free loopback port; events are made by GETting the pixel and
click URLs that `mailbeacon preview` produced, and by POSTing an opt-out. Then
`mailbeacon -c LOCAL sync --from http://127.0.0.1:PORT` fills a second
database (another site with the same hash key, as a real mail host has), and
the two events tables must hold the same rows, and the opt-outs the same
recipients. Interruptions, malformed pages, redirects and oversized pages come
from a small proxy in this script that sits in front of the beacon.

Prints "ok NAME" or "FAIL NAME: why" per case, then "N passed, M failed".
"""
import argparse
import atexit
import concurrent.futures
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "beacon"))
import beaconlib as bl  # noqa: E402

TOKEN = "sync-test-token-" + bl.new_secret()
UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0",
      "Accept": "image/avif,image/webp,*/*"}
UA_BROWSER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                            "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
              "Accept": "text/html,*/*;q=0.8"}
SUMMARY_RE = re.compile(r"^(\d+) events, (\d+) opt-outs from (\S+) \(cursor (\d+) -> (\d+)\)")
SANITIZER_HITS = []     # sanitizer reports on the stderr of mailbeacon sync runs
EVENT_COLS = "message_id, kind, link, time, ip_masked, client_class, verdict, dnt, hex(recipient_hash) h"


class Ctx:
    def __init__(self, report):
        self.report = report

    def check(self, name, cond, why, detail=""):
        if cond:
            self.report.ok(name, detail)
        else:
            self.report.fail(name, why)
        return cond


def events_of(site):
    return [tuple(r.values()) for r in site.query("SELECT %s FROM events ORDER BY id" % EVENT_COLS)]


def optouts_of(site):
    return sorted(tuple(r.values()) for r in
                  site.query("SELECT hex(recipient_hash), time, message_id FROM optouts"))


def cursor_of(site, source):
    if not os.path.exists(site.db):
        return None
    rows = site.query("SELECT cursor FROM sync_state WHERE source = ?", (source,))
    return rows[0]["cursor"] if rows else None


def max_id(site):
    return site.query("SELECT coalesce(max(id), 0) m FROM events")[0]["m"]


def sync(site, url, token_file=None, timeout=120, extra=()):
    cmd = [site.tool("admin"), "-c", site.conf, "sync", "--from", url]
    if token_file is not None:
        cmd += ["--token-file", token_file]
    cmd += list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    for line in p.stderr.splitlines():
        if bl.SANITIZER_RE.search(line):
            SANITIZER_HITS.append("%s: %s" % (" ".join(cmd[3:]), line.strip()))
    return p.returncode, p.stdout, p.stderr


def short(s, n=300):
    s = str(s)
    return s if len(s) <= n else s[:n] + "..."


# --- the proxy -------------------------------------------------------------

class Proxy:
    """A loopback HTTP server in front of the beacon. mode decides what it does
    with request number N (1-based, counted since the mode was set)."""

    def __init__(self, beacon_port):
        self.beacon_port = beacon_port
        self.mode = "pass"
        self.count = 0
        self.lock = threading.Lock()
        self.second = threading.Event()     # request 2 arrived (hang mode)
        self.release = threading.Event()
        self.corrupt = None                  # fn(page bytes) -> bytes (bad mode)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with proxy.lock:
                    proxy.count += 1
                    n = proxy.count
                mode = proxy.mode
                if mode == "redirect":
                    return self.send(302, b"moved\n", "text/plain",
                                     [("Location", "http://127.0.0.1:9/elsewhere")])
                if mode == "html":
                    return self.send(200, b"<html>login</html>\n", "text/html")
                if mode in ("huge", "huge-no-length"):
                    # With a Content-Length libcurl refuses at once; without
                    # one the size is counted while reading.
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    if mode == "huge":
                        self.send_header("Content-Length", str(17 * 1024 * 1024))
                    else:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    try:
                        chunk = b"x" * 65536
                        for _ in range(17 * 16):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    return
                if mode in ("drop-after-1", "hang-after-1") and n >= 2:
                    if mode == "drop-after-1":
                        # As if the beacon went away between pages.
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    proxy.second.set()
                    proxy.release.wait(60)
                    self.close_connection = True
                    return
                r = bl.request(proxy.beacon_port, "GET", self.path,
                               {"Authorization": self.headers.get("Authorization")})
                body = r.body
                if mode == "bad" and r.status == 200 and proxy.corrupt is not None:
                    body = proxy.corrupt(body)
                self.send(r.status, body, r.header("Content-Type") or "text/plain")

            def send(self, status, body, ctype, headers=()):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None   # dropped on purpose
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set(self, mode, corrupt=None):
        with self.lock:
            self.mode = mode
            self.count = 0
            self.corrupt = corrupt
            self.second.clear()
            self.release.clear()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# --- making events ---------------------------------------------------------

def optout_post(port, path):
    return bl.request(port, "POST", path, dict(UA_BROWSER, **{
        "Content-Type": "application/x-www-form-urlencoded", "Origin": bl.BEACON_URL}), b"")


def hit_many(port, paths, headers=UA, workers=16):
    def one(p):
        r = bl.request(port, "GET", p, headers)
        return r.status
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(one, paths))


def new_site(build, root, name, remote=None, api_token=None, settings=None):
    s = bl.Site(build, root, name, settings=settings, api_token=api_token)
    if remote is not None:
        # One hash key for the beacon and the mail host: opt-outs match.
        bl.write_private(os.path.join(s.dir, "hash.key"), remote.hash_key_text + "\n")
        s.hash_key_text, s.hash_key = remote.hash_key_text, remote.hash_key
    return s


# --- the cases -------------------------------------------------------------

def run(build, root, report):
    ctx = Ctx(report)
    remote = new_site(build, root, "beacon", api_token=TOKEN,
                      settings=[("beacon_rate_limit", "100000")])
    remote.create_store()
    beacon = bl.Beacon(remote).start()
    direct = "http://127.0.0.1:%d" % remote.port

    # Events of every shape: opens, clicks, a do-not-track open, an opt-out.
    msgs = [remote.make_message(["https://example.org/a?x=1", "https://example.org/b"])
            for _ in range(4)]
    paths = []
    for m in msgs:
        paths += [m.pixel, m.pixel, m.clicks[0].path, m.clicks[1].path]
    st = hit_many(remote.port, paths, UA_BROWSER)
    ctx.check("beacon-recorded", all(s in (200, 302) for s in st),
              "beacon answers: %s" % st)
    bl.request(remote.port, "GET", msgs[1].pixel, dict(UA, DNT="1"))
    gone = msgs[3]
    r = optout_post(remote.port, gone.optout)
    ctx.check("beacon-optout", r.status == 200, "opt-out POST: HTTP %s" % r.status)
    n_remote = len(events_of(remote))
    ctx.check("beacon-events", n_remote == 4 * 4 + 2,
              "beacon has %d events, want %d" % (n_remote, 4 * 4 + 2))

    # A mail host: its own database, the same hash key, the token in its
    # configuration (api_token_file is the default of --token-file).
    local = new_site(build, root, "local", remote=remote, api_token=TOKEN)

    rc, out, err = sync(local, direct)
    m = SUMMARY_RE.match(out)
    ctx.check("first-sync", rc == 0 and m is not None,
              "exit %d, stdout %r, stderr %r" % (rc, out, err))
    ctx.check("first-sync-summary",
              m is not None and int(m.group(1)) == n_remote and m.group(2) == "1" and
              m.group(3) == direct and m.group(4) == "0" and int(m.group(5)) == max_id(remote),
              "summary %r, want %d events, 1 opt-out, cursor 0 -> %d" % (out.strip(), n_remote,
                                                                          max_id(remote)))
    ctx.check("first-sync-events", events_of(local) == events_of(remote),
              "local events differ: %s vs %s" % (short(events_of(local)), short(events_of(remote))))
    ctx.check("first-sync-optouts", optouts_of(local) == optouts_of(remote) and
              len(optouts_of(local)) == 1,
              "optouts local %s, remote %s" % (optouts_of(local), optouts_of(remote)))
    ctx.check("first-sync-cursor", cursor_of(local, direct) == max_id(remote),
              "sync_state cursor %s, want %s" % (cursor_of(local, direct), max_id(remote)))
    # The milter on the mail host (preview: same code and database) now
    # leaves mail to the recipient who opted out at the remote beacon alone.
    body = bl.html_mail(["https://example.org/next"], gone.to)
    prc, pout, perr = local.preview(gone.to, body)
    ctx.check("optout-honoured", prc == 0 and "opted out" in perr and pout == body,
              "preview to %s after sync: exit %d, %r, %s" %
              (gone.to, prc, perr.strip(), "unchanged" if pout == body else "edited"))
    other = ["someone-else@example.net"]
    prc, pout, perr = local.preview(other, bl.html_mail(["https://example.org/next"], other))
    ctx.check("others-still-tracked", prc == 0 and b"/o/" in pout,
              "preview to another recipient: exit %d, %r" % (prc, perr.strip()))

    # A second run adds nothing.
    before = (events_of(local), optouts_of(local))
    rc, out, err = sync(local, direct)
    c = max_id(remote)
    ctx.check("second-sync-adds-nothing",
              rc == 0 and out.startswith("0 events, 0 opt-outs from %s (cursor %d -> %d)" %
                                         (direct, c, c)) and
              (events_of(local), optouts_of(local)) == before,
              "exit %d, %r, %r; rows %s" % (rc, out, err,
                                           "unchanged" if (events_of(local), optouts_of(local))
                                           == before else "changed"))
    # The same source written with a trailing slash is the same source.
    rc, out, err = sync(local, direct + "/")
    ctx.check("trailing-slash-same-source", rc == 0 and out.startswith("0 events") and
              events_of(local) == before[0], "exit %d, %r, %r" % (rc, out, err))

    # New events after that: only they come.
    hit_many(remote.port, [msgs[0].pixel, msgs[2].clicks[1].path], UA_BROWSER)
    rc, out, err = sync(local, direct)
    ctx.check("incremental-sync", rc == 0 and out.startswith("2 events, 0 opt-outs") and
              events_of(local) == events_of(remote),
              "exit %d, %r, %r, local %d rows, remote %d" %
              (rc, out, err, len(events_of(local)), len(events_of(remote))))

    # The beacon is down: exit 2, nothing changes, and it resumes after.
    beacon.stop()
    rc, out, err = sync(local, direct)
    ctx.check("beacon-down", rc == 2 and "mailbeacon sync:" in err and
              cursor_of(local, direct) == max_id(remote),
              "exit %d, %r, %r" % (rc, out, err))
    beacon.start()

    # Wrong token: refused, exit 2, nothing written.
    bad_token = os.path.join(root, "wrong.token")
    bl.write_private(bad_token, "not-the-token-0123456789\n")
    before = events_of(local)
    rc, out, err = sync(local, direct, token_file=bad_token)
    ctx.check("wrong-token", rc == 2 and "refused" in err and events_of(local) == before,
              "exit %d, %r, %r" % (rc, out, err))

    # Plain http to anything but loopback: refused before any connection.
    for url in ("http://192.0.2.1:8080", "http://t.example.com", "http://localhost:%d" % remote.port,
                "http://[::2]:80", "http://10.0.0.1", "http://127.0.0.1.example.com"):
        t0 = time.monotonic()
        rc, out, err = sync(local, url, timeout=30)
        ctx.check("plain-http-refused %s" % url,
                  rc in (1, 2) and "refusing plain http" in err and time.monotonic() - t0 < 5,
                  "exit %d, %r, %r" % (rc, out, err))
    for url, why in (("ftp://127.0.0.1/", "not an http"), ("http://u:p@127.0.0.1/", "not an http"),
                     ("https://127.0.0.1/?x=1", "not an http")):
        rc, out, err = sync(local, url, timeout=30)
        ctx.check("bad-url %s" % url, rc == 1 and why in err, "exit %d, %r" % (rc, err))

    # Usage and configuration errors: exit 1.
    p = subprocess.run([local.tool("admin"), "-c", local.conf, "sync"], capture_output=True,
                       text=True, timeout=30)
    ctx.check("usage-no-from", p.returncode == 1 and "--from" in p.stderr,
              "exit %d, %r" % (p.returncode, p.stderr))
    p = subprocess.run([local.tool("admin"), "-c", local.conf, "sync", "--help"],
                       capture_output=True, text=True, timeout=30)
    ctx.check("usage-help", p.returncode == 0 and "--token-file" in p.stdout,
              "exit %d, %r" % (p.returncode, p.stdout))
    notoken = new_site(build, root, "notoken", remote=remote)
    rc, out, err = sync(notoken, direct)
    ctx.check("no-token-configured", rc == 1 and "token" in err, "exit %d, %r" % (rc, err))
    open_token = os.path.join(root, "open.token")
    with open(open_token, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(open_token, 0o644)
    rc, out, err = sync(notoken, direct, token_file=open_token)
    ctx.check("token-readable-by-others", rc == 1 and "readable" in err,
              "exit %d, %r" % (rc, err))

    # TLS verification is on: a self-signed certificate is refused.
    tls_case(ctx, root, notoken)

    # >1000 events: several pages, and interruptions between them.
    big = [remote.make_message(["https://example.org/big"]) for _ in range(3)]
    paths = [big[i % 3].pixel for i in range(2100)]
    st = hit_many(remote.port, paths, UA)
    ctx.check("beacon-2100-more", all(s == 200 for s in st),
              "statuses: %s" % sorted(set(st)))
    total = len(events_of(remote))

    proxy = Proxy(remote.port)
    try:
        pages_case(ctx, build, root, remote, local, proxy, direct, total)
        malformed_cases(ctx, build, root, remote, proxy)
        transport_cases(ctx, build, root, remote, proxy)
    finally:
        proxy.close()
    beacon.stop()
    consent_case(ctx, build, root)


CONSENT_SUMMARY_RE = re.compile(r"^(\d+) consents, (\d+) asks from (\S+) \(since (\d+) -> (\d+)\)$",
                                re.M)
CONSENT_COLS = "hex(recipient_hash) h, sender, time, message_id, source, notice_version"


def consents_of(site):
    return sorted(tuple(r.values()) for r in site.query("SELECT %s FROM consents" % CONSENT_COLS))


def asks_of(site):
    return sorted(tuple(r.values()) for r in site.query(
        "SELECT hex(recipient_hash) h, sender, message_id, tracked, time FROM consent_asks"))


def admin(site, *args):
    p = subprocess.run([site.tool("admin"), "-c", site.conf] + list(args), capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def consent_case(ctx, build, root):
    """consent=optin on a beacon host: the consents given there (on the
    consent page, with its notice version, and outside mail) and the asks
    recorded there reach the mail host's store, once; a recipient who opted
    out on the mail host gets no consent from the sync (the withdrawal wins);
    the mail host then tracks the one who consented."""
    optin = "%s  opens clicks footer consent=optin\n" % bl.SENDER
    remote = new_site(build, root, "cbeacon", api_token=TOKEN)
    local = new_site(build, root, "clocal", remote=remote, api_token=TOKEN)
    for site in (remote, local):
        with open(os.path.join(site.dir, "policy"), "w") as f:
            f.write(optin)
    remote.create_store()
    local.create_store()
    beacon = bl.Beacon(remote).start()
    url = "http://127.0.0.1:%d" % remote.port
    try:
        bob, dave = "bob@example.net", "dave@example.net"
        # The ask footer of a message to bob (preview shows it: nothing
        # consented yet), and the ask the milter records with it.
        sent = int(time.time()) - 5
        rc, out, err = remote.preview([bob], bl.html_mail(["https://example.org/x"], [bob]))
        ask = re.search(rb"/a/[A-Za-z0-9_.-]+", out)
        xmb = re.search(rb"X-Mailbeacon: ([A-Za-z0-9_-]{22}); ask", out)
        ctx.check("consent-ask-footer", rc == 0 and ask is not None and xmb is not None and
                  b"/o/" not in out, "preview: exit %d, %r" % (rc, err.strip()))
        msgid = xmb.group(1).decode() if xmb else bl.new_msgid()
        con = remote.connect_db()
        con.execute("INSERT INTO consent_asks (message_id, recipient_hash, sender, tracked,"
                    " time) VALUES (?, ?, ?, 'opens and link clicks', ?)",
                    (msgid, remote.recipient_hash(bob), bl.SENDER, sent))
        con.close()
        path = ask.group(0).decode() if ask else "/a/none"
        page = bl.request(remote.port, "GET", path, UA_BROWSER)
        notice = re.search(rb'name="notice" value="([0-9a-f]+)"', page.body)
        r = bl.request(remote.port, "POST", path, dict(UA_BROWSER, **{
            "Content-Type": "application/x-www-form-urlencoded", "Origin": bl.BEACON_URL}),
            b"notice=" + (notice.group(1) if notice else b""))
        ctx.check("consent-given-at-beacon", r.status == 200 and len(consents_of(remote)) == 1,
                  "POST %s: HTTP %s; consents %s" % (path, r.status, consents_of(remote)))
        # Outside mail at the beacon host: dave, who opted out at the mail host.
        rc, out, err = admin(remote, "consent", "--sender", bl.SENDER, dave, "--source",
                             "contract 9")
        rc2, out2, err2 = admin(local, "optout", dave)
        ctx.check("consent-setup", rc == 0 and rc2 == 0 and len(consents_of(remote)) == 2,
                  "consent: %d %r; optout: %d %r" % (rc, err, rc2, err2))
        # The mail host asks bob still: it knows nothing of his consent.
        body = bl.html_mail(["https://example.org/y"], [bob])
        rc, out, err = local.preview([bob], body)
        ctx.check("consent-before-sync", rc == 0 and b"/o/" not in out and b"/a/" in out,
                  "preview at the mail host before the sync: exit %d, %r" % (rc, err.strip()))

        rc, out, err = sync(local, url)
        m = CONSENT_SUMMARY_RE.search(out)
        bobs = [c for c in consents_of(remote) if c[0] == remote.recipient_hash(bob).hex().upper()]
        ctx.check("consent-sync", rc == 0 and m is not None and m.group(1) == "1" and
                  m.group(2) == "1" and consents_of(local) == bobs and
                  asks_of(local) == asks_of(remote),
                  "exit %d, %r, %r; local consents %s, remote %s; asks %s vs %s" %
                  (rc, out, err, consents_of(local), consents_of(remote), asks_of(local),
                   asks_of(remote)))
        ctx.check("consent-proof-carried", len(bobs) == 1 and bobs[0][3] == msgid and
                  notice is not None and bobs[0][5] == notice.group(1).decode(),
                  "bob's consent at the mail host: %s (message %s)" % (bobs, msgid))
        ctx.check("consent-withdrawal-wins",
                  not [c for c in consents_of(local)
                       if c[0] == local.recipient_hash(dave).hex().upper()],
                  "dave opted out at the mail host but has a consent there: %s" %
                  consents_of(local))
        rc, out, err = local.preview([bob], body)
        ctx.check("consent-tracked-after-sync", rc == 0 and b"/o/" in out and b"/a/" not in out,
                  "preview at the mail host after the sync: exit %d, %r" % (rc, err.strip()))
        rc, out, err = local.preview([dave], bl.html_mail(["https://example.org/y"], [dave]))
        ctx.check("consent-optout-untracked", rc == 0 and b"/o/" not in out and b"/a/" not in out,
                  "preview to dave after the sync: exit %d, %r" % (rc, err.strip()))
        # Again: nothing new (the minute before the cursor is read again,
        # nothing of it written twice).
        before = (consents_of(local), asks_of(local))
        rc, out, err = sync(local, url)
        m = CONSENT_SUMMARY_RE.search(out)
        ctx.check("consent-second-sync-adds-nothing",
                  rc == 0 and m is not None and m.group(1) == "0" and m.group(2) == "0" and
                  (consents_of(local), asks_of(local)) == before and
                  int(m.group(5)) >= sent,
                  "exit %d, %r, %r" % (rc, out, err))
        # The API: both kinds of line, behind the same bearer token.
        r = bl.request(remote.port, "GET", "/api/v1/consents?since=0",
                       {"Authorization": "Bearer " + TOKEN})
        lines = [json.loads(l) for l in r.body.decode().splitlines()]
        ctx.check("consent-api-lines", r.status == 200 and
                  sorted(l["kind"] for l in lines) == ["ask", "consent", "consent"] and
                  bl.request(remote.port, "GET", "/api/v1/consents?since=0",
                             {"Authorization": "Bearer wrong"}).status == 401,
                  "HTTP %s, %r" % (r.status, r.body[:300]))
    finally:
        beacon.stop()


def pages_case(ctx, build, root, remote, local, proxy, direct, total):
    # The direct source first: three pages in one run.
    rc, out, err = sync(local, direct)
    ctx.check("multi-page-sync", rc == 0 and events_of(local) == events_of(remote),
              "exit %d, %r, %r; local %d rows, remote %d" %
              (rc, out, err, len(events_of(local)), total))

    # Through the proxy, into a fresh database (a new source, a new cursor).
    site = new_site(build, root, "resume", remote=remote, api_token=TOKEN)
    remote_ids = [r["id"] for r in remote.query("SELECT id FROM events ORDER BY id")]
    # 1. The connection dies after the first page: page 1 kept, exit 2.
    proxy.set("drop-after-1")
    rc, out, err = sync(site, proxy.url)
    n = len(events_of(site))
    ctx.check("interrupted-between-pages", rc == 2 and n == 1000 and
              cursor_of(site, proxy.url) == remote_ids[999] and
              events_of(site) == events_of(remote)[:1000],
              "exit %d, %r, %r; %d rows, cursor %s (want 1000, %d)" %
              (rc, out, err, n, cursor_of(site, proxy.url), remote_ids[999]))
    # 2. kill -9 of the sync while it waits for the page after the next one.
    proxy.set("hang-after-1")
    p = subprocess.Popen([site.tool("admin"), "-c", site.conf, "sync", "--from", proxy.url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = proxy.second.wait(60)
    # The request for page N+1 comes after page N is committed.
    p.send_signal(signal.SIGKILL)
    p.wait()
    proxy.release.set()
    n = len(events_of(site))
    ctx.check("killed-after-a-page", got and n == 2000 and
              cursor_of(site, proxy.url) == remote_ids[1999] and
              events_of(site) == events_of(remote)[:2000],
              "second request seen: %s; %d rows, cursor %s (want 2000, %d)" %
              (got, n, cursor_of(site, proxy.url), remote_ids[1999]))
    # 3. The rerun resumes: totals exact, nothing twice.
    proxy.set("pass")
    rc, out, err = sync(site, proxy.url)
    m = SUMMARY_RE.match(out)
    ctx.check("resumed", rc == 0 and events_of(site) == events_of(remote) and
              m is not None and int(m.group(1)) == total - 2000 and
              int(m.group(4)) == remote_ids[1999] and int(m.group(5)) == remote_ids[-1],
              "exit %d, %r, %r; %d rows, want %d" % (rc, out, err, len(events_of(site)), total))
    dups = site.query("SELECT count(*) n FROM (SELECT message_id, kind, time, count(*) c FROM events"
                      " GROUP BY message_id, kind, link, time, ip_masked, client_class, verdict,"
                      " dnt HAVING c > 1)")[0]["n"]
    rdups = remote.query("SELECT count(*) n FROM (SELECT message_id, kind, time, count(*) c FROM events"
                         " GROUP BY message_id, kind, link, time, ip_masked, client_class, verdict,"
                         " dnt HAVING c > 1)")[0]["n"]
    ctx.check("no-duplicates", dups == rdups and len(events_of(site)) == total,
              "duplicate groups local %d, remote %d; rows %d/%d" %
              (dups, rdups, len(events_of(site)), total))
    ctx.check("resumed-optouts", optouts_of(site) == optouts_of(remote),
              "optouts %s vs %s" % (optouts_of(site), optouts_of(remote)))


def replace_line(k, fn):
    """A corruption: line k (1-based) of the page becomes fn(line)."""
    def corrupt(body):
        lines = body.split(b"\n")
        lines[k - 1] = fn(lines[k - 1])
        return b"\n".join(lines)
    return corrupt


MALFORMED = [
    ("not-json", 1, lambda l: b"hello"),
    ("empty-line", 1, lambda l: b""),
    ("trailing-text", 1, lambda l: l + b" x"),
    ("nested-object", 1, lambda l: l.replace(b'"ip":', b'"x":{"a":1},"ip":')),
    ("array", 1, lambda l: l.replace(b'"ip":', b'"x":[1],"ip":')),
    ("duplicate-key", 1, lambda l: l.replace(b'"kind":', b'"time":1,"kind":', 1)),
    ("fraction-time", 1, lambda l: re.sub(rb'"time":(\d+)', rb'"time":\1.5', l)),
    # Each rewrite matches whatever the first events are: their order
    # (open or click first, dnt or not) depends on timing.
    ("dnt-string", 1, lambda l: re.sub(rb'"dnt":(true|false)', b'"dnt":"no"', l)),
    ("bad-kind", 1, lambda l: re.sub(rb'"kind":"[a-z]+"', b'"kind":"view"', l)),
    ("missing-verdict", 1, lambda l: re.sub(rb',"verdict":"[^"]*"', b"", l)),
    ("bad-utf8", 1, lambda l: l.replace(b'"ip":', b'"note":"\xff\xfe","ip":')),
    ("nul-escape", 1, lambda l: l.replace(b'"ip":', b'"note":"a\\u0000b","ip":')),
    ("lone-surrogate", 1, lambda l: l.replace(b'"ip":', b'"note":"\\ud800","ip":')),
    ("unterminated", 1, lambda l: l[:-5]),
    ("cursor-backwards", 2, lambda l: re.sub(rb'"cursor":\d+', b'"cursor":1', l)),
    ("bad-hash", 1, lambda l: re.sub(rb'"dnt":(true|false)', rb'"dnt":\1,"recipient_hash":"zz"', l)),
    ("injected-sql-message", 1, lambda l: re.sub(rb'"message":"[^"]*"', b'"message":"x\'; DROP TABLE events;--"', l)),
]


def malformed_cases(ctx, build, root, remote, proxy):
    site = new_site(build, root, "malformed", remote=remote, api_token=TOKEN)
    first = remote.query("SELECT id FROM events ORDER BY id LIMIT 2")
    for name, k, fn in MALFORMED:
        for f in ("mb.db", "mb.db-wal", "mb.db-shm"):
            try:
                os.unlink(os.path.join(site.dir, f))
            except FileNotFoundError:
                pass
        proxy.set("bad", replace_line(k, fn))
        rc, out, err = sync(site, proxy.url)
        n = len(events_of(site)) if os.path.exists(site.db) else 0
        want_cursor = None if k == 1 else first[k - 2]["id"]
        ctx.check("malformed %s" % name,
                  rc == 2 and "malformed" in err and "line %d" % k in err and n == k - 1 and
                  cursor_of(site, proxy.url) == want_cursor and
                  events_of(site) == events_of(remote)[:k - 1],
                  "exit %d, %r, %r; %d rows (want %d), cursor %s (want %s)" %
                  (rc, out, err.strip(), n, k - 1, cursor_of(site, proxy.url), want_cursor))
    # A malformed line in the middle of a page: the lines before it are
    # kept, the cursor is the last good line's, and a rerun finishes.
    remote_ids = [r["id"] for r in remote.query("SELECT id FROM events ORDER BY id")]
    for f in ("mb.db", "mb.db-wal", "mb.db-shm"):
        try:
            os.unlink(os.path.join(site.dir, f))
        except FileNotFoundError:
            pass
    proxy.set("bad", replace_line(5, lambda l: l.replace(b'"dnt":', b'"dnt":1,"x":')))
    rc, out, err = sync(site, proxy.url)
    ctx.check("malformed-mid-page", rc == 2 and len(events_of(site)) == 4 and
              cursor_of(site, proxy.url) == remote_ids[3] and "cursor 0 -> %d" % remote_ids[3] in out,
              "exit %d, %r, %r; cursor %s" % (rc, out, err.strip(), cursor_of(site, proxy.url)))
    proxy.set("pass")
    rc, out, err = sync(site, proxy.url)
    ctx.check("malformed-then-resumed", rc == 0 and events_of(site) == events_of(remote),
              "exit %d, %r, %r" % (rc, out, err.strip()))


def transport_cases(ctx, build, root, remote, proxy):
    site = new_site(build, root, "transport", remote=remote, api_token=TOKEN)
    proxy.set("redirect")
    rc, out, err = sync(site, proxy.url)
    ctx.check("redirect-not-followed", rc == 2 and "redirect" in err and "302" in err and
              cursor_of(site, proxy.url) is None, "exit %d, %r" % (rc, err.strip()))
    proxy.set("html")
    rc, out, err = sync(site, proxy.url)
    ctx.check("not-ndjson", rc == 2 and "Content-Type" in err, "exit %d, %r" % (rc, err.strip()))
    proxy.set("huge")
    rc, out, err = sync(site, proxy.url)
    ctx.check("oversized-page", rc == 2 and "larger than 16 MB" in err,
              "exit %d, %r" % (rc, err.strip()))
    proxy.set("huge-no-length")
    rc, out, err = sync(site, proxy.url)
    ctx.check("oversized-page-no-length", rc == 2 and "larger than 16 MB" in err and
              cursor_of(site, proxy.url) is None, "exit %d, %r" % (rc, err.strip()))
    proxy.set("pass")


def tls_case(ctx, root, site):
    """https:// to a server with a self-signed certificate: refused (exit 2)."""
    if shutil.which("openssl") is None:
        print("SKIP tls-verification: openssl is not installed", flush=True)
        return
    key, crt = os.path.join(root, "tls.key"), os.path.join(root, "tls.crt")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        ctx.check("tls-verification", False, "openssl: %s" % p.stderr.strip())
        return
    hits = []

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            hits.append(self.path)
            body = b""
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(crt, key)
    srv.socket = c.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = "https://127.0.0.1:%d" % srv.server_address[1]
        rc, out, err = sync(site, url, token_file=os.path.join(site.dir, "..", "open-ok.token"))
        ctx.check("tls-verification", rc == 2 and not hits and
                  re.search(r"certificate|SSL", err, re.I) is not None,
                  "exit %d, %r, requests served: %s" % (rc, err.strip(), hits))
    finally:
        srv.shutdown()
        srv.server_close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    root = tempfile.mkdtemp(prefix="mb-sync-")
    bl.install_signal_handlers()
    atexit.register(bl.stop_all)
    if not args.keep:
        atexit.register(shutil.rmtree, root, True)
    else:
        print("# keeping %s" % root, flush=True)
    bl.write_private(os.path.join(root, "open-ok.token"), TOKEN + "\n")
    report = bl.Report()
    try:
        run(build, root, report)
    except Exception:
        report.fail("test-sync", "exception: %s" % traceback.format_exc().strip().replace("\n", " | "))
    finally:
        bl.stop_all()
    bl.report_sanitizers(report, root)
    if SANITIZER_HITS:
        report.fail("sync-sanitizers", "; ".join(SANITIZER_HITS[:5]))
    else:
        report.ok("sync-sanitizers", "no sanitizer reports from mailbeacon sync")
    sys.exit(report.summary())


if __name__ == "__main__":
    main()
