#!/usr/bin/env python3
"""pgfaults.py: PostgreSQL stopped (pg_ctl stop -m immediate) in the middle
of a run and started again, under two running milters (on_error = accept and
on_error = tempfail, driven by miltertest: send.lua) and a running beacon
under a steady load of pixel and click hits, all on one database.

While it is down: each message is delivered untouched (or deferred) within
database_timeout + 1 s; clicks redirect to their destination and pixels
answer the GIF, counted as lost; opt-outs answer 503; /healthz fails. When
it is back: the same processes track and record again by themselves. Then:
every message tracked before and after is in the database once (recorded
before eom returned), none delivered untouched is; every event the beacon
answered while the server was up is there exactly once and none from the
outage; every hit is counted as committed or lost; the acknowledged opt-out
holds; each program logged the outage once when it began and once when it
ended, with no line per message or request, and never the password.
Then a restart while nothing was asked (no call fails, nothing is logged)
and a server that stops answering without closing anything (SIGSTOP of the
cluster, as a hung host or a lost network would): every call still gives up
within database_timeout, and all is recorded again once it answers.

    pgfaults.py BUILD_DIR      (run-pgfaults.sh starts the cluster and sets
                                PG_URI, PG_BIN, PG_STOP, PG_START)
Prints "ok NAME" / "FAIL NAME: why", then "N passed, M failed".
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "beacon"))
import beaconlib as bl  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
PG_URI = os.environ["PG_URI"]
PG_PASSWORD = os.environ["PG_PASSWORD"]
PSQL = os.path.join(os.environ["PG_BIN"], "psql")
DATABASE_TIMEOUT = 2                    # seconds, in the configuration
BOUND = DATABASE_TIMEOUT + 1.0          # what any answer may take while it is down
LOADER_INTERVAL = 0.1                   # seconds between the loader's hits
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"
BROWSER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
           "(KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0",
           "Accept": "text/html"}

report = bl.Report()


def check(name, cond, why, detail=""):
    if cond:
        report.ok(name, detail)
    else:
        report.fail(name, why)
    return cond


def psql(sql):
    p = subprocess.run([PSQL, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", PG_URI,
                        "-c", sql], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("psql: %s" % p.stderr.strip()[-300:])
    return [line.split("|") for line in p.stdout.splitlines() if line != ""]


def pg(action):
    """PG_STOP (pg_ctl stop -m immediate) or PG_START, from run-pgfaults.sh."""
    p = subprocess.run(["sh", "-c", os.environ[action]], capture_output=True, text=True,
                       timeout=90)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (action, p.returncode, p.stderr.strip()))


# --- the milters ------------------------------------------------------------

class Milter:
    """A mailbeacon-milter in the foreground: its supervisor and worker."""

    def __init__(self, site, name, conf, socket):
        self.name, self.conf, self.socket = name, conf, socket
        self.log = os.path.join(site.dir, name + ".log")
        self.pidfile = os.path.join(site.dir, name + ".pid")
        self.tool = site.tool("milter")
        self.proc = None

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.tool, "-f", "-c", self.conf, "-p", self.pidfile],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start: %s" % (self.name, self.log_text()[-500:]))
            if "started: socket" in self.log_text() and os.path.exists(self.socket) \
                    and self.worker() is not None:
                return
            time.sleep(0.05)
        raise RuntimeError("%s did not start: %s" % (self.name, self.log_text()[-500:]))

    def worker(self):
        """The worker's pid (the supervisor's only child), or None."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                kids = f.read().split()
        except OSError:
            return None
        return int(kids[0]) if len(kids) == 1 else None

    def pids(self):
        return (self.proc.pid if self.proc.poll() is None else None, self.worker())

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def send(self, root, qids, expect):
        """Runs send.lua for these queue ids; returns {qid: (reply, ms, msgid)}."""
        row_cmd = os.path.join(root, "row.sh")
        p = subprocess.run(["miltertest", "-D", "SOCK=" + self.socket, "-D", "QIDS=" + ",".join(qids),
                            "-D", "EXPECT=" + expect, "-D", "ROW_CMD=" + row_cmd,
                            "-s", os.path.join(HERE, "send.lua")],
                           capture_output=True, text=True, timeout=120)
        out = {}
        for line in p.stdout.splitlines():
            f = line.split()
            if len(f) == 4:
                out[f[0]] = (f[1], int(f[2]), f[3])
        if p.returncode != 0 or len(out) != len(qids):
            raise RuntimeError("%s: miltertest (%s %s): exit %d: %s %s" %
                               (self.name, expect, ",".join(qids), p.returncode,
                                p.stdout.strip()[-300:], p.stderr.strip()[-500:]))
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# --- the beacon's hits ------------------------------------------------------

class Hit:
    """One pixel or click of its own (message, link): each can be found in
    the events table as one row, or as none."""

    def __init__(self, msgid, path, link, dest):
        self.msgid, self.path, self.link, self.dest = msgid, path, link, dest
        self.start = self.end = None
        self.problem = None

    def key(self):
        return (self.msgid, "click" if self.dest else "open", self.link)

    def send(self, port):
        self.start = time.monotonic()
        try:
            r = bl.request(port, "GET", self.path, {"User-Agent": UA}, timeout=15)
        except OSError as e:
            self.end = time.monotonic()
            self.problem = "no answer: %s" % e
            return
        self.end = time.monotonic()
        if self.dest is not None:
            if r.status != 302 or r.header_bytes("Location") != self.dest.encode():
                self.problem = "click answered %s to %r, want 302 to %r" % (
                    r.status, r.header("Location"), self.dest)
        elif r.status != 200 or (r.header("Content-Type") or "") != "image/gif" or \
                len(r.body) != 43 or not r.body.startswith(b"GIF89a"):
            self.problem = "pixel answered %s %r (%d bytes)" % (
                r.status, r.header("Content-Type"), len(r.body))
        if self.end - self.start > BOUND and self.problem is None:
            self.problem = "answered after %.2f s" % (self.end - self.start)


def make_hits(site, messages, links):
    """Previewed messages (not in the store: events need no message row) of
    many links each; their pixels and clicks, each a distinct event."""
    hits = []
    for m in range(messages):
        dests = ["https://example.org/m%d/l%d" % (m, i) for i in range(1, links + 1)]
        msg = site.make_message(dests, record=False)
        hits.append(Hit(msg.msgid, msg.pixel, 0, None))
        hits += [Hit(msg.msgid, c.path, c.num, c.dest) for c in msg.clicks]
    return hits


class Loader(threading.Thread):
    """Sends the hits one after the other, LOADER_INTERVAL apart, until
    told to stop or out of hits: the run the server stops in the middle of."""

    def __init__(self, port, hits):
        super().__init__(daemon=True)
        self.port, self.hits = port, hits
        self.sent = []
        self.halt = threading.Event()

    def run(self):
        for h in self.hits:
            if self.halt.is_set():
                break
            h.send(self.port)
            self.sent.append(h)
            self.halt.wait(LOADER_INTERVAL)


def metric(port, name):
    ms, r = bl.metrics(port)
    if ms is None:
        raise RuntimeError("/metrics answered %s" % r.status)
    return bl.metric_sum(ms, name) or 0


def optout_post(port, path):
    body = urllib.parse.urlencode({}).encode()
    return bl.request(port, "POST", path, dict(BROWSER, **{
        "Content-Type": "application/x-www-form-urlencoded", "Origin": bl.BEACON_URL}), body)


def optout_path(site, msgid, sent, rcpt):
    """The opt-out link the milter put in that message (preview makes the
    same for the same id and send time)."""
    return site.make_message(["https://example.org/x"], to=(rcpt,), sent=sent, msgid=msgid,
                             record=False).optout


def events_in_db():
    """{(msgid, kind, link): rows} of every open and click."""
    out = {}
    for mid, kind, link, n in psql("SELECT message_id, kind, coalesce(link, 0), count(*) FROM events"
                                   " WHERE kind IN ('open', 'click') GROUP BY 1, 2, 3"):
        out[(mid, kind, int(link))] = int(n)
    return out


def outage_lines(text):
    """The outage's lines of a log: (unreachable, answers again)."""
    lines = text.splitlines()
    return ([x for x in lines if ": unreachable: " in x],
            [x for x in lines if ": answers again after " in x])


def outage_said(down_l, back_l):
    """What the two lines said, without the database's name."""
    return "unreachable: %s | answers again %s" % (
        down_l[0].split(": unreachable: ", 1)[1][:70] if down_l else "-",
        back_l[0].split(": answers again ", 1)[1] if back_l else "-")


# --- the run ----------------------------------------------------------------

def run(root):
    site = bl.Site(BUILD, root, "site", settings=[
        ("milter_socket", "unix:%s/a.sock" % root),
        ("on_error", "accept"),
        ("internal_hosts", "127.0.0.0/8"),
        ("database_timeout", str(DATABASE_TIMEOUT)),
        ("beacon_rate_limit", "1000"),
    ])
    # The connection URI with its password, exactly as a user writes it.
    site.settings = [(k, PG_URI if k == "database" else v) for k, v in site.settings]
    site.write_conf()
    tempfail_conf = os.path.join(site.dir, "tempfail.conf")
    with open(site.conf) as f:
        text = f.read()
    with open(tempfail_conf, "w") as f:
        f.write(text.replace("on_error = accept", "on_error = tempfail")
                .replace("%s/a.sock" % root, "%s/b.sock" % root))
    row_sh = os.path.join(site.dir, "row.sh")
    bl.write_private(row_sh, "#!/bin/sh\nexec '%s' -X -q -t -A -d '%s' -c \"SELECT id FROM messages"
                     " WHERE queue_id = '$1'\"\n" % (PSQL, PG_URI))
    os.chmod(row_sh, 0o700)

    # The schema, as the milter creates it (-n).
    p = subprocess.run([site.tool("milter"), "-n", "-c", site.conf], capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("mailbeacon-milter -n: exit %d: %s" % (p.returncode, p.stderr.strip()))
    hits = make_hits(site, 8, 15)
    a = Milter(site, "milter-accept", site.conf, "%s/a.sock" % root)
    b = Milter(site, "milter-tempfail", tempfail_conf, "%s/b.sock" % root)
    beacon = bl.Beacon(site)
    milters = (a, b)
    try:
        for m in milters:
            m.start()
        beacon.start()
        return phases(site, a, b, beacon, hits)
    finally:
        for m in milters:
            m.stop()
        beacon.stop()


def phases(site, a, b, beacon, hits):
    port = beacon.port
    pids = {m.name: m.pids() for m in (a, b)}
    beacon_pid = beacon.proc.pid
    tracked = {}

    # -- before: tracked, recorded, acknowledged
    tracked.update(a.send(site.dir, ["PRE1", "PRE2", "PRE3"], "tracked"))
    tracked.update(b.send(site.dir, ["PREB1"], "tracked"))
    before_hits = hits[:12]
    for h in before_hits:
        h.send(port)
    pre1 = psql("SELECT id, sent FROM messages WHERE queue_id = 'PRE1'")[0]
    pre2 = psql("SELECT id, sent FROM messages WHERE queue_id = 'PRE2'")[0]
    opt1 = optout_path(site, pre1[0], int(pre1[1]), "pre1@example.net")
    opt2 = optout_path(site, pre2[0], int(pre2[1]), "pre2@example.net")
    r = optout_post(port, opt1)
    check("optout-before", r.status == 200, "opt-out POST before the outage answered %s" % r.status)

    # -- the server stops in the middle of the beacon's run
    loader = Loader(port, hits[12:-9])    # the last 9: for what follows
    loader.start()
    time.sleep(1.0)
    t_stop = time.monotonic()
    pg("PG_STOP")
    t_down = time.monotonic()

    # -- while it is down
    down = a.send(site.dir, ["DOWN%d" % i for i in range(1, 6)], "untouched")
    downb = b.send(site.dir, ["DOWNB%d" % i for i in range(1, 4)], "tempfail")
    slowest = max(v[1] for v in list(down.values()) + list(downb.values()))
    check("milter-bounded", slowest < BOUND * 1000,
          "a message took %d ms while the server was down (bound %d ms)" % (slowest, BOUND * 1000),
          "untouched or deferred, the slowest in %d ms" % slowest)
    r = optout_post(port, opt2)
    body = r.body.decode("utf-8", "replace")
    check("optout-down-503", r.status == 503 and "try again" in body,
          "opt-out POST while down answered %s: %s" % (r.status, body[:200]))
    r = bl.request(port, "GET", "/healthz")
    check("healthz-down", r.status == 503, "/healthz answered %s while down" % r.status)
    time.sleep(1.5)     # the loader's hits of a settled outage
    t_restart = time.monotonic()
    pg("PG_START")

    # -- back: the same processes reconnect by themselves
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = bl.request(port, "GET", "/healthz")
        if r.status == 200:
            break
        time.sleep(0.1)
    t_back = time.monotonic()
    check("healthz-back", r.status == 200, "/healthz still %s 10 s after the restart" % r.status,
          "200 again %.1f s after the restart" % (t_back - t_restart))
    time.sleep(1.0)     # the milters retry an unreachable server once a second
    tracked.update(a.send(site.dir, ["POST1", "POST2", "POST3"], "tracked"))
    tracked.update(b.send(site.dir, ["POSTB1"], "tracked"))
    # The opt-out acknowledged before the outage holds: mail to pre1 is left alone.
    a.send(site.dir, ["OPTED1/pre1"], "untouched")
    r = optout_post(port, opt2)
    check("optout-after", r.status == 200, "opt-out POST after the restart answered %s" % r.status)
    time.sleep(1.5)     # some of the loader's hits after the recovery
    loader.halt.set()
    loader.join(30)
    after_hits = [h for h in loader.sent if h.start > t_back]
    extra = [h for h in hits[12:-9] if h not in loader.sent][:5]
    for h in extra:
        h.send(port)
    after_hits += extra

    # -- a restart while nothing was asked of the server: no call fails and
    # nothing is logged; each idle connection is found closed and replaced
    pg("PG_STOP")
    pg("PG_START")
    tracked.update(a.send(site.dir, ["IDLE1"], "tracked"))
    tracked.update(b.send(site.dir, ["IDLEB1"], "tracked"))
    pre3 = psql("SELECT id, sent FROM messages WHERE queue_id = 'PRE3'")[0]
    r = optout_post(port, optout_path(site, pre3[0], int(pre3[1]), "pre3@example.net"))
    check("optout-after-idle-restart", r.status == 200,
          "opt-out POST after a restart while idle answered %s" % r.status)
    idle = hits[-9:-6]
    for h in idle:
        h.send(port)
    after_hits += idle

    # -- the processes are the same ones
    for m in (a, b):
        check("%s-same-process" % m.name, m.pids() == pids[m.name] and None not in pids[m.name],
              "supervisor and worker pids %s, before the outage %s" % (m.pids(), pids[m.name]),
              "supervisor %d, worker %d" % pids[m.name])
    check("beacon-same-process", beacon.alive() and beacon.proc.pid == beacon_pid,
          "the beacon is gone or restarted")

    # -- every message: tracked ones once, untouched ones not at all
    rows = psql("SELECT queue_id, id FROM messages ORDER BY queue_id")
    want = sorted((q, v[2]) for q, v in tracked.items())
    check("messages", sorted((q, i) for q, i in rows) == want,
          "messages in the database %s, want the tracked ones %s" % (rows, want),
          "%d tracked before and after, each once; none of the %d delivered untouched or deferred"
          % (len(want), len(down) + len(downb) + 1))

    # -- every hit: answered right and in time, recorded exactly when acknowledged
    sent = before_hits + loader.sent + extra + idle
    problems = ["%s: %s" % (h.path[:12], h.problem) for h in sent if h.problem]
    check("hits-answered", not problems, "; ".join(problems[:5]),
          "%d hits: clicks redirected to their destination, pixels the GIF, each within %.0f s"
          % (len(sent), BOUND))
    db = events_in_db()
    dup = {k: n for k, n in db.items() if n != 1}
    check("events-no-duplicate", not dup, "events recorded more than once: %s" % dup)
    up = [h for h in sent if h.end < t_stop] + after_hits
    missing = [h.key() for h in up if h.key() not in db]
    check("events-acknowledged", not missing,
          "hits answered while the server was up are not in the database: %s" % missing[:5],
          "%d hits while it was up, all recorded" % len(up))
    outage = [h for h in sent if h.start > t_down and h.end < t_restart]
    recorded = [h.key() for h in outage if h.key() in db]
    check("events-outage", len(outage) >= 5 and not recorded,
          "%d hits during the outage, recorded: %s" % (len(outage), recorded[:5]),
          "%d hits during the outage: none recorded" % len(outage))
    committed = metric(port, "mailbeacon_committed_events_total")
    lost = metric(port, "mailbeacon_events_lost_total")
    # A COMMIT whose answer died with the server may have been written:
    # counted lost, yet in the database. Only hits near the stop can be.
    near = [h for h in sent if h.start <= t_down and h.end >= t_stop]
    check("metrics-lost", committed + lost == len(sent) and lost >= len(outage)
          and committed <= len(db) <= committed + len(near),
          "committed %d + lost %d, %d hits sent (%d in the outage); %d events in the database"
          % (committed, lost, len(sent), len(outage), len(db)),
          "%d committed + %d lost = %d hits" % (committed, lost, len(sent)))

    # -- the opt-outs: the acknowledged one, and the one retried after
    hashes = {bytes.hex(site.recipient_hash(x)) for x in ("pre1@example.net", "pre2@example.net",
                                                           "pre3@example.net")}
    opt_rows = psql("SELECT encode(recipient_hash, 'hex') FROM optouts")
    opt_events = psql("SELECT message_id FROM events WHERE kind = 'optout' ORDER BY message_id")
    check("optouts", sorted(r[0] for r in opt_rows) == sorted(hashes)
          and sorted(r[0] for r in opt_events) == sorted([pre1[0], pre2[0], pre3[0]]),
          "optouts %s, opt-out events %s" % (opt_rows, opt_events))

    # -- the logs: the outage once when it began and once when it ended
    logs = {m.name: m.log_text() for m in (a, b)}
    with open(os.path.join(site.dir, "beacon.log"), "rb") as f:
        logs["beacon"] = f.read().decode("utf-8", "replace")
    for name, text in logs.items():
        down_l, back_l = outage_lines(text)
        lines = text.splitlines()
        first = lines.index(down_l[0]) if down_l else 0
        last = lines.index(back_l[0]) if back_l else len(lines)
        # Besides the outage's two lines, only the beacon's /healthz
        # state may change, once each way.
        during = [x for x in lines[first + 1:last] if not re.search(
            r"^mailbeacond: database (not writable|writable again): ", x)]
        check("%s-log-once" % name, len(down_l) == 1 and len(back_l) == 1 and not during,
              "unreachable %d times, answers again %d times, %d other lines between: %s"
              % (len(down_l), len(back_l), len(during), (down_l + back_l + during)[:6]),
              outage_said(down_l, back_l))
        per_message = [x for x in lines if re.search(r"DOWN|delivered untouched|deferred|not recorded", x)]
        check("%s-log-no-per-message" % name, not per_message,
              "lines per message or event: %s" % per_message[:3])
        check("%s-log-no-password" % name, PG_PASSWORD not in text,
              "the log holds the database password")
    return frozen(site, a, beacon, hits[-6:-3], hits[-3:], logs, committed, lost)


def freeze_postgres(pids):
    """SIGSTOP to the postmaster, then (it forks no more) to its children:
    backends, checkpointer, ...; each is added to pids as it stops."""
    with open(os.path.join(os.environ["PG_DATA"], "postmaster.pid")) as f:
        master = int(f.readline())
    pids.append(master)
    os.kill(master, signal.SIGSTOP)
    with open("/proc/%d/task/%d/children" % (master, master)) as f:
        children = [int(x) for x in f.read().split()]
    pids += children
    signal_all(children, signal.SIGSTOP)


def signal_all(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass        # an autovacuum worker that just finished


def frozen(site, a, beacon, during, after, logs_before, committed0, lost0):
    """A server that stops answering without closing anything (SIGSTOP: a
    hung host, a network partition): no call waits past database_timeout;
    once it answers again, the same processes record again."""
    port = beacon.port
    post1 = psql("SELECT id, sent FROM messages WHERE queue_id = 'POST1'")[0]
    optout = optout_path(site, post1[0], int(post1[1]), "post1@example.net")
    pids = []
    try:
        freeze_postgres(pids)
        t0 = time.monotonic()
        fr = a.send(site.dir, ["FROZEN1", "FROZEN2", "FROZEN3"], "untouched")
        slowest = max(v[1] for v in fr.values())
        check("frozen-milter-bounded", slowest < BOUND * 1000,
              "a message took %d ms while the server did not answer (bound %d ms)"
              % (slowest, BOUND * 1000), "untouched, the slowest in %d ms" % slowest)
        for h in during:
            h.send(port)
        t = time.monotonic()
        r = optout_post(port, optout)
        check("frozen-optout-503", r.status == 503 and time.monotonic() - t < BOUND,
              "opt-out POST answered %s after %.1f s" % (r.status, time.monotonic() - t))
        problems = ["%s: %s" % (h.path[:12], h.problem) for h in during if h.problem]
        check("frozen-hits-answered", not problems, "; ".join(problems),
              "clicks redirected, pixels served, the slowest in %.2f s"
              % max(h.end - h.start for h in during))
        t = time.monotonic()
        r = bl.request(port, "GET", "/healthz", timeout=15)
        check("frozen-healthz", r.status == 503 and time.monotonic() - t < BOUND,
              "/healthz answered %s after %.1f s" % (r.status, time.monotonic() - t))
        frozen_for = time.monotonic() - t0
    finally:
        signal_all(pids, signal.SIGCONT)
    time.sleep(1.1)     # the once-a-second retry
    tracked = a.send(site.dir, ["THAWED1"], "tracked")
    r = optout_post(port, optout)
    check("frozen-optout-after", r.status == 200 and len(psql(
        "SELECT 1 FROM optouts WHERE message_id = '%s'" % post1[0])) == 1,
        "opt-out POST after the server answered again: %s" % r.status)
    for h in after:
        h.send(port)
    db = events_in_db()
    committed = metric(port, "mailbeacon_committed_events_total")
    lost = metric(port, "mailbeacon_events_lost_total")
    # An INSERT sent to the frozen server runs when it wakes: counted lost,
    # yet it may be there (at most once).
    check("frozen-events", all(h.key() in db for h in after)
          and all(db.get(h.key(), 0) <= 1 for h in during)
          and committed - committed0 == len(after) and lost - lost0 == len(during),
          "after: %s in the database; during: %s; committed +%d, lost +%d"
          % ([h.key() in db for h in after], [db.get(h.key(), 0) for h in during],
             committed - committed0, lost - lost0),
          "%d hits while frozen counted lost, %d after recorded" % (len(during), len(after)))
    rows = psql("SELECT id FROM messages WHERE queue_id LIKE 'FROZEN%' OR queue_id = 'THAWED1'")
    check("frozen-messages", rows == [[tracked["THAWED1"][2]]],
          "messages of the frozen time and after: %s" % rows)
    # The logs again: this outage too said once each way, nothing per message.
    texts = {a.name: a.log_text()}
    with open(os.path.join(site.dir, "beacon.log"), "rb") as f:
        texts["beacon"] = f.read().decode("utf-8", "replace")
    for name, text in texts.items():
        new = text[len(logs_before[name]):]
        down_l, back_l = outage_lines(new)
        others = [x for x in new.splitlines() if x not in down_l + back_l and not re.search(
            r"^mailbeacond: database (not writable|writable again): |: THAWED1: tracked "
            r"|^mailbeacond: opt-out recorded for message ", x)]
        check("frozen-%s-log-once" % name, len(down_l) == 1 and len(back_l) == 1 and not others,
              "unreachable %d times, answers again %d times, other lines: %s"
              % (len(down_l), len(back_l), others[:4]),
              "frozen %.1f s: %s" % (frozen_for, outage_said(down_l, back_l)))
    return 0


def main():
    bl.install_signal_handlers()
    root = tempfile.mkdtemp(prefix="mbpgfaults.")
    try:
        run(root)
    except Exception as e:
        report.fail("run", "%s: %s" % (type(e).__name__, e))
    finally:
        bl.stop_all()
    # Built with sanitizers, the daemons report into their logs, leaks at exit.
    found = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".log"):
                with open(os.path.join(dirpath, name), "rb") as f:
                    found += ["%s: %s" % (name, x.strip()) for x in
                              f.read().decode("utf-8", "replace").splitlines()
                              if bl.SANITIZER_RE.search(x)]
    check("sanitizers", not found, "; ".join(found[:5]), "no sanitizer report in the logs")
    keep = os.environ.get("PGFAULTS_KEEP") == "1"
    if keep or report.failed:
        print("# kept %s" % root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
