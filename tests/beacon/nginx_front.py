#!/usr/bin/env python3
"""nginx_front.py: contrib/nginx/mailbeacon.conf in front of a real
mailbeacond, over TLS with a throw-away self-signed certificate.

    nginx_front.py --build DIR [--sample FILE] [--keep]

Optional: run-beacon.sh calls it only when nginx and openssl are installed
(Debian: nginx-light or nginx, openssl). The sample is used as shipped,
with only its listen ports, upstream port, certificate and log paths
replaced, inside a minimal nginx.conf in a temporary directory.

Checks: nginx -t accepts it; a pixel and a click through TLS; the address
the beacon stores is the one nginx saw (the client connects from
127.1.2.3, so the beacon records 127.1.2.0/24), never the X-Forwarded-For
the client sent; /metrics is refused; plain http redirects to https; %00
and forged tokens record nothing.

Prints "ok NAME" / "FAIL NAME: why" per check, then "N passed, M failed".
"""
import argparse
import atexit
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beaconlib as bl  # noqa: E402

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"
CLIENT = "127.1.2.3"        # loopback too on Linux, in another /24 than 127.0.0.1


def find(tool):
    for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]:
        p = os.path.join(d, tool)
        if os.access(p, os.X_OK):
            return p
    return None


def adapt(sample, tls_port, http_port, beacon_port, d):
    """The sample with test ports and paths; fails loudly if its shape changed."""
    subs = [
        (r"listen 443 ssl http2;", "listen 127.0.0.1:%d ssl http2;" % tls_port),
        (r"listen \[::\]:443 ssl http2;", ""),
        (r"listen 80;", "listen 127.0.0.1:%d;" % http_port),
        (r"listen \[::\]:80;", ""),
        (r"server 127\.0\.0\.1:8025;", "server 127.0.0.1:%d;" % beacon_port),
        (r"/etc/ssl/mailbeacon/fullchain\.pem", os.path.join(d, "cert.pem")),
        (r"/etc/ssl/mailbeacon/privkey\.pem", os.path.join(d, "key.pem")),
        (r"/var/log/nginx/mailbeacon\.error\.log crit", os.path.join(d, "front-error.log") + " info"),
    ]
    text = sample
    for pat, rep in subs:
        text, n = re.subn(pat, rep, text)
        if n == 0:
            raise RuntimeError("the sample no longer contains %r" % pat)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("top_builddir") or
                    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
    ap.add_argument("--sample", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "..", "..", "contrib", "nginx", "mailbeacon.conf"))
    ap.add_argument("--keep", action="store_true", default=bool(os.environ.get("BEACON_KEEP")))
    args = ap.parse_args()
    report = bl.Report()
    nginx, openssl = find("nginx"), find("openssl")
    if not nginx or not openssl:
        print("SKIP: nginx or openssl not installed: the TLS front check did NOT run")
        return 77
    bl.install_signal_handlers()
    atexit.register(bl.stop_all)
    root = tempfile.mkdtemp(prefix="mb-nginx-")
    print("# work directory %s" % root)
    front = None
    try:
        try:
            front = run(args, os.path.abspath(args.build), root, nginx, openssl, report)
        except Exception as e:
            report.fail("nginx-front", "%s: %s" % (type(e).__name__, e))
        bl.stop_all()
        bl.report_sanitizers(report, root)
    finally:
        if front is not None and front.poll() is None:
            front.send_signal(signal.SIGQUIT)
            try:
                front.wait(10)
            except subprocess.TimeoutExpired:
                front.kill()
                front.wait()
        status = bl.finish(report, root, args.keep)
    return status


def run(args, build, root, nginx, openssl, report):
    d = os.path.join(root, "front")
    os.makedirs(d)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(d, sub))
    site = bl.Site(build, root, "beacon", [("trusted_proxies", "127.0.0.1/32"),
                                            ("beacon_rate_limit", "100000")])
    site.create_store()
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=t.example.com", "-keyout", os.path.join(d, "key.pem"),
                    "-out", os.path.join(d, "cert.pem")], check=True, capture_output=True, timeout=120)
    tls_port, http_port = bl.free_port(), bl.free_port()
    with open(args.sample) as f:
        server = adapt(f.read(), tls_port, http_port, site.port, d)
    with open(os.path.join(d, "mailbeacon.conf"), "w") as f:
        f.write(server)
    user = "user root root;\n" if os.getuid() == 0 else ""
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write("%sworker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log info;\n"
                "events { worker_connections 64; }\n"
                "http {\n  access_log off;\n  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
                "  fastcgi_temp_path %s/fastcgi;\n  uwsgi_temp_path %s/uwsgi;\n  scgi_temp_path %s/scgi;\n"
                "  include %s/mailbeacon.conf;\n}\n" % ((user,) + (d,) * 8))
    conf = os.path.join(d, "nginx.conf")
    p = subprocess.run([nginx, "-t", "-p", d, "-c", conf], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        report.fail("nginx-t", (p.stderr + p.stdout).strip()[-400:])
        return None
    report.ok("nginx-t")
    beacon = bl.Beacon(site).start()
    front = subprocess.Popen([nginx, "-p", d, "-c", conf], stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(d, "stderr.log"), "wb"), start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", tls_port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)

    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE

    def get(path, headers=None, method="GET", body=None):
        c = http.client.HTTPSConnection("127.0.0.1", tls_port, timeout=10, context=tls,
                                        source_address=(CLIENT, 0))
        try:
            c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            h = {"Host": bl.HOST, "User-Agent": UA}
            h.update(headers or {})
            if body is not None:
                h["Content-Length"] = str(len(body))
            for k, v in h.items():
                c.putheader(k, v)
            c.endheaders(body)
            r = c.getresponse()
            return bl.Response(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def check(name, problems):
        if problems:
            report.fail(name, "; ".join(problems))
        else:
            report.ok(name)

    m = site.make_message(["https://b\u00fccher.example/stra\u00dfe?q=1&amp;r=2#x"])
    # The client forges X-Forwarded-For; nginx replaces it with the address it saw.
    r = get(m.pixel, {"X-Forwarded-For": "203.0.113.77"})
    rows = site.events(m.msgid)
    pr = []
    if r.status != 200 or len(r.body) != 43:
        pr.append("pixel through nginx: %s, %d bytes" % (r.status, len(r.body)))
    if "no-store" not in (r.header("Cache-Control") or ""):
        pr.append("Cache-Control %r" % r.header("Cache-Control"))
    if "max-age" not in (r.header("Strict-Transport-Security") or ""):
        pr.append("no Strict-Transport-Security")
    if len(rows) != 1:
        pr.append("%d rows" % len(rows))
    elif rows[0]["ip_masked"] != "127.1.2.0/24":
        pr.append("stored address %r, want 127.1.2.0/24 (the client nginx saw, not the forged header)"
                  % rows[0]["ip_masked"])
    check("front-pixel-real-client", pr)

    c = m.clicks[0]
    r = get(c.path, {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
    pr = []
    if r.status != 302 or r.header_bytes("Location") != c.dest.encode():
        pr.append("click through nginx: %s Location %r, want %r" % (r.status, r.header_bytes("Location"),
                                                                    c.dest.encode()))
    rows = site.events(m.msgid)
    if len(rows) != 2 or rows[-1]["ip_masked"] != "127.1.2.0/24":
        pr.append("rows %s" % [(x["kind"], x["ip_masked"]) for x in rows])
    check("front-click", pr)

    before = site.counts()
    pr = []
    r = get("/metrics")
    if r.status != 403:
        pr.append("/metrics from outside: %s, want 403" % r.status)
    r = get(m.pixel + "%00")
    if r.status not in (400, 404):
        pr.append("pixel + %%00: %s" % r.status)
    r = get(m.pixel.replace(".gif", "A.gif"))
    if r.status != 404:
        pr.append("forged pixel: %s" % r.status)
    r = get(m.pixel, method="PUT", body=b"x")
    if r.status not in (403, 405):
        pr.append("PUT: %s" % r.status)
    r = get(m.optout, {"Content-Type": "application/x-www-form-urlencoded"}, "POST", b"address=" + b"a" * 8000)
    if r.status != 413:
        pr.append("8 KB opt-out body: %s, want 413" % r.status)
    if site.counts() != before:
        pr.append("rows written: %s -> %s" % (before, site.counts()))
    check("front-refusals", pr)

    pr = []
    try:
        hc = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        hc.request("GET", m.pixel, headers={"Host": bl.HOST})
        r = hc.getresponse()
        r.read()
        if r.status != 301 or r.getheader("Location") != bl.BEACON_URL + m.pixel:
            pr.append("http: %s %r" % (r.status, r.getheader("Location")))
        hc.close()
    except OSError as e:
        pr.append(str(e))
    check("front-http-redirect", pr)
    beacon.stop()
    return front


if __name__ == "__main__":
    sys.exit(main())
