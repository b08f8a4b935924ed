#!/usr/bin/env python3
"""bench_beacon.py: mailbeacond's pixel and click routes under wrk, against
nginx serving the same 43-byte GIF (and a 302 for the click) on the same
machine, measured in the same run.

    bench_beacon.py [--build DIR] [--duration S] [--rounds R]
                    [--threads T] [--connections C] [--backend sqlite|pg]

mailbeacond runs with its real store (SQLite, WAL, group-commit writer) in a
temporary directory on disk, or with --backend pg on a private PostgreSQL
cluster (tests/pg/cluster.sh, unix socket, fsync and synchronous_commit on);
every pixel/click request it answers records an event committed before the
response. The run checks that the events table grew by exactly the number
of responses wrk counted.

nginx (its own configuration, loopback port, access_log off) serves the GIF
from a file in /dev/shm (tmpfs: memory) with open_file_cache, and the click
route as "return 302 <destination>" from its configuration: both are
answered from memory, nothing is written.

Keep-alive: wrk's default. New connections: wrk with the header
"Connection: close" (both servers then close after each response, and
wrk opens a new connection per request).

Each (route, connection mode) runs both servers once per round, order
alternated; medians over the rounds. Also prints mailbeacond's RSS
(VmRSS at the end, VmHWM the peak) under this load.
Loopback only; both servers are stopped and the temp dirs removed.
"""
import argparse
import atexit
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "beacon"))
import beaconlib as bl  # noqa: E402

UA = ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0")
CLEANUP = []


def cleanup():
    while CLEANUP:
        f = CLEANUP.pop()
        try:
            f()
        except Exception as e:  # noqa: BLE001
            print("# cleanup: %s" % e, file=sys.stderr)


def on_signal(signum, frame):
    sys.exit(1)


def proc_status(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def parse_wrk(out):
    """requests, rps, p50, p99 (ms), errors (non-2xx/3xx + socket errors)."""
    def ms(v, unit):
        v = float(v)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    r = {}
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    for p in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+([\d.]+)(us|ms|s)" % p, out, re.M)
        r["p" + p] = ms(m.group(1), m.group(2)) if m else float("nan")
    err = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        err += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        err += sum(int(x) for x in m.groups())
    r["errors"] = err
    return r


class PgSite(bl.Site):
    """The beacon tests' Site on a PostgreSQL database: rows written and
    counted through psql."""

    def __init__(self, build, root, name, uri, psql, settings=()):
        super().__init__(build, root, name, settings=list(settings))
        self.uri, self.psql = uri, psql
        self.settings = [(k, uri if k == "database" else v) for k, v in self.settings]
        self.write_conf()

    def create_store(self):
        p = subprocess.run([self.tool("milter"), "-n", "-c", self.conf],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("mailbeacon-milter -n: %s" % (p.stderr or p.stdout).strip())

    def sql(self, text):
        p = subprocess.run([self.psql, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                            "-d", self.uri], input=text.encode(), capture_output=True,
                           timeout=60)
        if p.returncode != 0:
            raise RuntimeError("psql: %s" % p.stderr.decode()[-300:])
        return p.stdout.decode()

    def record(self, msgs):
        if isinstance(msgs, bl.Message):
            msgs = [msgs]
        q = ["BEGIN;"]
        for m in msgs:
            q.append("INSERT INTO messages (id, queue_id, message_id_header, sender, "
                     "recipient_count, sent, words, link_count) VALUES ('%s', 'Q%s', "
                     "'<%s@test.example>', '%s', %d, %d, 'opens clicks footer', %d);" % (
                         m.msgid, m.msgid[:12], m.msgid, bl.SENDER, len(m.to), m.sent,
                         len(m.clicks)))
            for a in m.to:
                q.append("INSERT INTO message_recipients VALUES ('%s', '\\x%s');" % (
                    m.msgid, self.recipient_hash(a).hex()))
            for c in m.clicks:
                q.append("INSERT INTO links VALUES ('%s', %d, '%s');" % (
                    m.msgid, c.num, c.dest.split("?")[0].replace("'", "''")))
        q.append("COMMIT;")
        self.sql("\n".join(q))

    def counts(self):
        e, o = self.sql("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM optouts)"
                        ).strip().split("|")
        return int(e), int(o)


def start_cluster():
    """A private cluster for --backend pg: (uri, psql, stop)."""
    lib = os.path.join(SRC, "tests", "pg", "cluster.sh")
    p = subprocess.run(["bash", "-c", '. "$1"; pg_cluster_start >&2 || exit $?; '
                        'printf "%s\\n" "$PG_URI" "$PG_BIN" "$PG_DATA" "$PG_DIR" "$PG_USER"',
                        "sh", lib], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("cannot start a PostgreSQL cluster: %s" % p.stderr[-300:])
    uri, pgbin, data, pgdir, user = p.stdout.split("\n")[:5]

    def stop():
        subprocess.run(["runuser", "-u", user, "--", os.path.join(pgbin, "pg_ctl"), "-D", data,
                        "-m", "fast", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(pgdir, ignore_errors=True)
    return uri, os.path.join(pgbin, "psql"), stop


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("MB_BUILD", os.path.join(SRC, "build-bench")))
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--backend", choices=("sqlite", "pg"), default="sqlite")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    for t in ("wrk", "nginx"):
        if shutil.which(t) is None and not os.path.exists("/usr/sbin/" + t):
            print("SKIP: %s not found" % t)
            return 77
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    root = tempfile.mkdtemp(prefix="mb-bench-beacon.", dir="/tmp")
    CLEANUP.append(lambda: shutil.rmtree(root, ignore_errors=True))
    shm = tempfile.mkdtemp(prefix="mb-bench-nginx.", dir="/dev/shm")
    CLEANUP.append(lambda: shutil.rmtree(shm, ignore_errors=True))

    # The beacon: a site as the beacon tests make it; no rate limit (wrk is
    # one client network), default everything else.
    if a.backend == "pg":
        uri, psql, stop_cluster = start_cluster()
        CLEANUP.append(stop_cluster)
        site = PgSite(build, root, "site", uri, psql, settings=[("beacon_rate_limit", "100000")])
    else:
        site = bl.Site(build, root, "site", settings=[("beacon_rate_limit", "100000")])
    site.create_store()
    msg = site.make_message(links=("https://example.org/landing?x=1&amp;y=2",))
    beacon = bl.Beacon(site)
    beacon.start()
    CLEANUP.append(beacon.stop)
    bport = beacon.port
    pixel, click = msg.pixel, msg.clicks[0].path
    r = bl.request(bport, "GET", pixel, headers={"User-Agent": UA})
    assert r.status == 200 and len(r.body) == 43, (r.status, len(r.body))
    gif = r.body
    r = bl.request(bport, "GET", click, headers={"User-Agent": UA})
    assert r.status == 302, r.status
    dest = r.header("Location")

    # nginx: same GIF from tmpfs, the 302 from its configuration.
    nport = bl.free_port()
    with open(os.path.join(shm, "pixel.gif"), "wb") as f:
        f.write(gif)
    os.chmod(shm, 0o755)    # nginx's workers run unprivileged
    os.chmod(os.path.join(shm, "pixel.gif"), 0o644)
    ndir = os.path.join(root, "nginx")
    os.makedirs(os.path.join(ndir, "tmp"))
    with open(os.path.join(ndir, "nginx.conf"), "w") as f:
        f.write("""# nginx of bench_beacon.py
worker_processes auto;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp; proxy_temp_path %(d)s/tmp;
    fastcgi_temp_path %(d)s/tmp; uwsgi_temp_path %(d)s/tmp; scgi_temp_path %(d)s/tmp;
    keepalive_requests 1000000;
    open_file_cache max=16 inactive=60s;
    server {
        listen 127.0.0.1:%(p)d;
        location /o/ {
            root %(shm)s;
            rewrite ^ /pixel.gif break;
            default_type image/gif;
            add_header Cache-Control no-store;
        }
        location /c/ {
            add_header Cache-Control no-store;
            return 302 "%(dest)s";
        }
    }
}
""" % {"d": ndir, "p": nport, "shm": shm, "dest": dest})
    nproc_ = subprocess.Popen([nginx, "-c", os.path.join(ndir, "nginx.conf"), "-p", ndir],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(ndir, "out.log"), "w"),
                              start_new_session=True)

    def stop_nginx():
        if nproc_.poll() is None:
            nproc_.send_signal(signal.SIGQUIT)
            try:
                nproc_.wait(10)
            except subprocess.TimeoutExpired:
                nproc_.kill()
                nproc_.wait()
    CLEANUP.append(stop_nginx)
    deadline = time.monotonic() + 10
    while True:
        try:
            r = bl.request(nport, "GET", pixel)
            break
        except OSError:
            if time.monotonic() > deadline or nproc_.poll() is not None:
                print("nginx did not start")
                return 1
            time.sleep(0.05)
    assert r.status == 200 and r.body == gif, (r.status, r.body)
    r = bl.request(nport, "GET", click)
    assert r.status == 302 and r.header("Location") == dest

    print("# beacon: wrk -t%d -c%d -d%ds --latency, rounds=%d; mailbeacond (THREADS=4 MHD pool + "
          "writer, store: %s), nginx worker_processes auto (%d)" % (
              a.threads, a.connections, a.duration, a.rounds,
              "PostgreSQL (private cluster, unix socket)" if a.backend == "pg" else "SQLite",
              os.cpu_count()))
    results = {}
    events_ok = True
    for rnd in range(a.rounds):
        for route, path in (("pixel", pixel), ("click", click)):
            for mode in ("keep-alive", "new-conn"):
                servers = [("mailbeacond", bport), ("nginx", nport)]
                if rnd % 2:
                    servers.reverse()
                for name, port in servers:
                    cmd = ["wrk", "-t%d" % a.threads, "-c%d" % a.connections, "-d%ds" % a.duration,
                           "--latency", "-H", "User-Agent: " + UA]
                    if mode == "new-conn":
                        cmd += ["-H", "Connection: close"]
                    cmd.append("http://127.0.0.1:%d%s" % (port, path))
                    e0 = site.counts()[0] if name == "mailbeacond" else 0
                    out = subprocess.run(cmd, capture_output=True, text=True,
                                         timeout=a.duration + 60).stdout
                    w = parse_wrk(out)
                    if name == "mailbeacond":
                        time.sleep(0.2)
                        w["events"] = site.counts()[0] - e0
                        # wrk stops counting at the deadline: requests in
                        # flight then were answered (and recorded) uncounted.
                        if not (w["requests"] - w["errors"] <= w["events"] <=
                                w["requests"] + a.connections):
                            events_ok = False
                    print("#   round %d %-5s %-10s %-11s %9.0f req/s p50 %7.2f ms p99 %7.2f ms"
                          " errors %d%s" % (rnd + 1, route, mode, name, w["rps"], w["p50"], w["p99"],
                                            w["errors"], "  events +%d (requests %d)" %
                                            (w["events"], w["requests"]) if "events" in w else ""))
                    sys.stdout.flush()
                    results.setdefault((route, mode, name), []).append(w)
    bpid = beacon.proc.pid
    rss, hwm = proc_status(bpid, "VmRSS"), proc_status(bpid, "VmHWM")
    # The group-commit writer, from the beacon's own metrics.
    try:
        ms, _ = bl.metrics(bport)
        commits = bl.metric_sum(ms, "mailbeacon_commit_seconds_count") or 0
        commit_s = bl.metric_sum(ms, "mailbeacon_commit_seconds_sum")
        committed = bl.metric_sum(ms, "mailbeacon_committed_events_total")
    except Exception as e:  # noqa: BLE001
        commits = commit_s = committed = 0
        print("# metrics: %s" % e)
    beacon_secs = a.duration * a.rounds * 4

    print("\n== beacon vs nginx: medians of %d rounds of %d s" % (a.rounds, a.duration))
    print("%-6s %-11s %12s %12s %8s %14s %14s %12s" % ("route", "connections", "beacon r/s",
                                                      "nginx r/s", "ratio", "beacon p50/p99",
                                                      "nginx p50/p99", "target 0.5"))
    for route in ("pixel", "click"):
        for mode in ("keep-alive", "new-conn"):
            b = results[(route, mode, "mailbeacond")]
            n = results[(route, mode, "nginx")]
            med = lambda rs, k: statistics.median(x[k] for x in rs)  # noqa: E731
            ratio = med(b, "rps") / med(n, "rps")
            print("%-6s %-11s %12.0f %12.0f %8.2f %6.2f/%-7.2f %6.2f/%-7.2f %12s" % (
                route, mode, med(b, "rps"), med(n, "rps"), ratio, med(b, "p50"), med(b, "p99"),
                med(n, "p50"), med(n, "p99"), "MET" if ratio >= 0.5 else "MISSED"))
    total = sum(w["events"] for k, ws in results.items() if k[2] == "mailbeacond" for w in ws)
    print("durability: events rows added = responses wrk counted (+ at most the %d in flight "
          "at its deadline) in every run: %s (%d events)" % (a.connections,
          "yes" if events_ok else "NO", total))
    if commits:
        print("group commit: %d commits of %.1f events on average, %.2f ms each; the writer "
              "was committing %.0f %% of the %d s of beacon load" % (
                  commits, committed / commits, commit_s / commits * 1000,
                  100 * commit_s / beacon_secs, beacon_secs))
    print("mailbeacond memory under this load: VmRSS %.1f MiB, VmHWM (peak) %.1f MiB" %
          (rss / 1024, hwm / 1024))
    print("# load after: %s" % os.popen("uptime").read().strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
