#!/usr/bin/env python3
"""test_counters: the per-message counters that reports read (store/counters.h:
messages' opens, clicks, opt-outs, first human open and latest event, links'
clicks, message_days) equal a recount from the raw events rows, done here in
Python, after real beacon traffic (mailbeacond), a sync import (mailbeacon
sync from a second beacon), forget --recipient, forget --sender and purge.

    test_counters.py BUILD        # SQLite; on PostgreSQL when REPORT_PG_URI is set

Prints "ok NAME" / "FAIL NAME: why", then "N passed, M failed".
"""
import calendar
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "beacon"))
sys.path.insert(0, os.path.join(HERE, "..", "report"))
import beaconlib as bl  # noqa: E402
import test_report as tr  # noqa: E402  (psql, PgConnection, pg_database)

HUMAN_OPEN = ("human", "gmail-proxy")
SENDERS = ("alice@example.com", "bob@example.org")
UA_HUMAN = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101"
            " Thunderbird/115.6.0"}
UA_GMAIL = {"User-Agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0"
            " (via ggpht.com GoogleImageProxy)"}
UA_SCANNER = {"User-Agent": "Proofpoint URL Defense"}
UA_PREFETCH = dict(UA_HUMAN, Purpose="prefetch")
TOKEN = "counters-api-token-0123456789abcdef"
RETENTION_DAYS = 30


class Store:
    """The database of a site, SQLite or PostgreSQL, as rows."""

    def __init__(self, path, uri):
        self.path, self.uri = path, uri

    def connect(self):
        if self.uri:
            return tr.PgConnection(self.uri)
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def rows(self, sql, args=()):
        con = self.connect()
        try:
            return [tuple(r) for r in con.execute(sql, args).fetchall()]
        finally:
            con.close()

    def write(self, statements):
        """[(sql, args)] in one transaction."""
        con = self.connect()
        try:
            con.execute("BEGIN")
            for sql, args in statements:
                con.execute(sql, args)
            con.execute("COMMIT")
        finally:
            con.close()


def recount(store):
    """(counters as stored, counters as the raw events say), each a triple of
    dicts: per message, per link, per message and UTC day."""
    msgs = {r[0]: r for r in store.rows(
        "SELECT id, sent, opens_human, opens_machine, clicks_human, clicks_scanner, optouts,"
        " first_human_open, last_event FROM messages")}
    want = {mid: [0, 0, 0, 0, 0, None, None] for mid in msgs}
    want_links = {(m, n): [0, 0] for m, n in store.rows("SELECT message_id, num FROM links")}
    want_days = {}
    for mid, kind, link, t, verdict in store.rows(
            "SELECT message_id, kind, link, time, verdict FROM events"):
        if mid not in want:
            continue        # a message this store does not have: nothing to count
        w = want[mid]
        human_open = kind == "open" and verdict in HUMAN_OPEN
        human_click = kind == "click" and verdict == "human"
        if kind == "open":
            w[0 if human_open else 1] += 1
        elif kind == "click":
            w[2 if human_click else 3] += 1
            if (mid, link) in want_links:
                want_links[(mid, link)][0 if human_click else 1] += 1
        elif kind == "optout":
            w[4] += 1
        if human_open and (w[5] is None or t < w[5]):
            w[5] = t
        if w[6] is None or t > w[6]:
            w[6] = t
        if human_open or human_click:
            d = want_days.setdefault((mid, t // 86400), [msgs[mid][1], 0, 0])
            d[1 if human_open else 2] += 1
    got = {mid: list(r[2:]) for mid, r in msgs.items()}
    got_links = {(m, n): [h, s] for m, n, h, s in store.rows(
        "SELECT message_id, num, clicks_human, clicks_scanner FROM links")}
    got_days = {(m, d): [s, o, c] for m, d, s, o, c in store.rows(
        "SELECT message_id, day, sent, opens_human, clicks_human FROM message_days")}
    return (got, got_links, got_days), (want, want_links, want_days)


def check_counters(store, what):
    got, want = recount(store)
    for name, g, w in zip(("messages", "links", "days"), got, want):
        if g != w:
            diff = {k: (g.get(k), w.get(k)) for k in set(g) | set(w) if g.get(k) != w.get(k)}
            raise AssertionError("%s: %s counters differ from the events (stored, recounted):"
                                 " %s" % (what, name, dict(list(diff.items())[:5])))
    return want


class Site(bl.Site):
    """A beacon site whose store may be PostgreSQL, and whose messages come
    from any sender."""

    def __init__(self, build, root, name, pg_uri=None, **kw):
        super().__init__(build, root, name, **kw)
        with open(os.path.join(self.dir, "policy"), "w") as f:
            f.write("* opens clicks footer\n")
        self.uri = tr.pg_database("counters_" + name) if pg_uri else None
        if self.uri:
            self.settings = [(k, self.uri if k == "database" else v) for k, v in self.settings]
        self.settings += [("retention_days", str(RETENTION_DAYS)),
                          ("beacon_rate_limit", "100000")]
        self.write_conf()
        self.store = Store(self.db, self.uri)
        p = subprocess.run([self.tool("milter"), "-n", "-c", self.conf], capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("mailbeacon-milter -n: %s" % p.stderr.strip())

    def message(self, sender, to, links, sent=None):
        """A message previewed (tokens signed with this site's keys) and its
        rows recorded as the milter writes them."""
        msgid = bl.new_msgid()
        sent = int(sent if sent is not None else time.time() - 3 * 3600)
        body = bl.html_mail(links, to).replace(bl.SENDER.encode(), sender.encode())
        p = subprocess.run([self.tool("admin"), "-c", self.conf, "preview", "--from", sender,
                            "--to", ",".join(to), "--message-id", msgid, "--sent", str(sent)],
                           input=body, capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("preview: %s" % p.stderr.decode())
        m = bl.Message(msgid, sent, to, links, p.stdout)
        rows = [("INSERT INTO messages (id, queue_id, message_id_header, sender, sasl_login,"
                 " recipient_count, sent, words, link_count, subject)"
                 " VALUES (?, ?, ?, ?, NULL, ?, ?, 'opens clicks footer', ?, NULL)",
                 (msgid, "Q" + msgid[:12], "<%s@test.example>" % msgid, sender, len(to), sent,
                  len(m.clicks)))]
        rows += [("INSERT INTO message_recipients (message_id, recipient_hash) VALUES (?, ?)",
                  (msgid, self.recipient_hash(a))) for a in to]
        rows += [("INSERT INTO links (message_id, num, url) VALUES (?, ?, ?)",
                  (msgid, c.num, c.dest)) for c in m.clicks]
        self.store.write(rows)
        return m


def traffic(port, msgs):
    """Opens and clicks of every kind of verdict on the messages."""
    statuses = []
    for i, m in enumerate(msgs):
        for ua in (UA_HUMAN, UA_GMAIL, UA_SCANNER, UA_PREFETCH)[:1 + i % 4]:
            statuses.append(bl.request(port, "GET", m.pixel, ua).status)
        for j, c in enumerate(m.clicks):
            for ua in (UA_HUMAN, UA_SCANNER)[:1 + (i + j) % 2]:
                statuses.append(bl.request(port, "GET", c.path, ua).status)
    bl.request(port, "GET", msgs[0].pixel, dict(UA_HUMAN, DNT="1"))
    assert all(s in (200, 302) for s in statuses), statuses


def month_start(t):
    y, mo = time.gmtime(t)[:2]
    return calendar.timegm((y, mo, 1, 0, 0, 0))


def admin(site, *args):
    p = subprocess.run([site.tool("admin"), "-c", site.conf] + list(args), capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("mailbeacon %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                            p.stderr.strip()))
    return p.stdout


def run(build, root, pg_uri, results):
    def step(name, fn):
        try:
            fn()
            print("ok %s" % name)
            results.append(True)
        except Exception:
            print("FAIL %s: %s" % (name, traceback.format_exc().strip().splitlines()[-1]))
            results.append(False)
        sys.stdout.flush()

    site = Site(build, root, "mail", pg_uri, api_token=TOKEN)
    st = site.store
    now = int(time.time())
    shared = "shared@example.net"
    msgs = [site.message(SENDERS[0], ["a%d@example.net" % i], ["https://example.org/a%d" % i,
                                                              "https://example.org/b"])
            for i in range(4)]
    msgs.append(site.message(SENDERS[0], [shared], ["https://example.org/only-shared"]))
    both = site.message(SENDERS[0], [shared, "other@example.net"], ["https://example.org/both"])
    msgs.append(both)
    msgs += [site.message(SENDERS[1], ["c%d@example.net" % i], ["https://example.com/c%d" % i])
             for i in range(3)]
    old = site.message(SENDERS[0], ["old@example.net"], ["https://example.org/old"],
                       sent=now - (RETENTION_DAYS + 30) * 86400)
    msgs.append(old)
    beacon = bl.Beacon(site).start()

    def beacon_traffic():
        traffic(site.port, msgs)
        r = bl.request(site.port, "POST", msgs[1].optout,
                       dict(UA_HUMAN, **{"Content-Type": "application/x-www-form-urlencoded",
                                         "Origin": bl.BEACON_URL}), b"")
        assert r.status == 200, r.status
        kinds = {v for (v,) in st.rows("SELECT DISTINCT verdict FROM events")}
        assert {"human", "gmail-proxy", "scanner"} <= kinds, kinds
        assert st.rows("SELECT count(*) FROM events WHERE kind = 'optout'")[0][0] == 1
        want = check_counters(st, "after beacon traffic")
        assert sum(w[2] for w in want[0].values()) > 0 and len(want[2]) > 0, want
    step("beacon_traffic", beacon_traffic)

    def sync_import():
        # A second beacon (its own SQLite store, the same keys) records
        # events for these messages; sync brings them into this store.
        remote = bl.Site(build, root, "remote", keys=site.keys, api_token=TOKEN,
                         settings=[("beacon_rate_limit", "100000")])
        bl.write_private(os.path.join(remote.dir, "hash.key"), site.hash_key_text + "\n")
        remote.create_store()
        rb = bl.Beacon(remote).start()
        try:
            traffic(remote.port, msgs[3:7])
            before = st.rows("SELECT count(*) FROM events")[0][0]
            admin(site, "sync", "--from", "http://127.0.0.1:%d" % remote.port)
            after = st.rows("SELECT count(*) FROM events")[0][0]
            assert after > before, (before, after)
        finally:
            rb.stop()
        check_counters(st, "after sync")
    step("sync_import", sync_import)

    def forget_recipient():
        # An event naming the shared recipient on a message that keeps
        # another recipient (an opt-out event without its opt-out row):
        # forget deletes it, and the message's counters lose it.
        st.write([("INSERT INTO events (message_id, kind, link, time, verdict, recipient_hash)"
                   " VALUES (?, 'optout', NULL, ?, 'human', ?)",
                   (both.msgid, now, site.recipient_hash(shared)))])
        assert st.rows("SELECT optouts FROM messages WHERE id = ?", (both.msgid,))[0][0] == 1
        admin(site, "forget", "--recipient", shared)
        assert st.rows("SELECT count(*) FROM messages WHERE id = ?", (msgs[4].msgid,))[0][0] == 0
        assert st.rows("SELECT optouts FROM messages WHERE id = ?", (both.msgid,))[0][0] == 0
        check_counters(st, "after forget --recipient")
    step("forget_recipient", forget_recipient)

    def forget_sender():
        admin(site, "forget", "--sender", SENDERS[1].upper())
        assert st.rows("SELECT count(*) FROM messages WHERE sender = ?", (SENDERS[1],))[0][0] == 0
        assert st.rows("SELECT count(*) FROM message_days d WHERE NOT EXISTS"
                       " (SELECT 1 FROM messages m WHERE m.id = d.message_id)")[0][0] == 0
        check_counters(st, "after forget --sender")
    step("forget_sender", forget_sender)

    def purge():
        # Events older than the retention on a message that stays (a clock
        # far off): purge deletes them (on PostgreSQL, with their month's
        # partition), and the message's counters lose them; the old message
        # goes with its events.
        t = now - (RETENTION_DAYS + 15) * 86400
        if st.uri:
            tr.psql(st.uri, "SELECT mailbeacon_events_partition(%d);" % month_start(t))
        keep = msgs[0]
        st.write([("INSERT INTO events (message_id, kind, link, time, verdict)"
                   " VALUES (?, 'open', NULL, ?, 'human')", (keep.msgid, t)),
                  ("INSERT INTO events (message_id, kind, link, time, verdict)"
                   " VALUES (?, 'click', 1, ?, 'scanner')", (keep.msgid, t + 60))])
        first = st.rows("SELECT first_human_open FROM messages WHERE id = ?", (keep.msgid,))[0][0]
        assert first == t, (first, t)
        check_counters(st, "before purge")
        admin(site, "purge")
        if st.uri:
            name = time.strftime("events_y%Ym%m", time.gmtime(t))
            assert tr.psql(st.uri, "SELECT to_regclass('%s') IS NULL;" % name).strip() == "t", \
                "partition %s not dropped" % name
        assert st.rows("SELECT count(*) FROM messages WHERE id = ?", (old.msgid,))[0][0] == 0
        assert st.rows("SELECT count(*) FROM events WHERE time < ?", (t + 3600,))[0][0] == 0
        first = st.rows("SELECT first_human_open FROM messages WHERE id = ?", (keep.msgid,))[0][0]
        assert first is None or first > t, first
        check_counters(st, "after purge")
    step("purge", purge)

    def traffic_after_erasure():
        traffic(site.port, msgs[:4])
        check_counters(st, "after more traffic")
    step("traffic_after_erasure", traffic_after_erasure)
    beacon.stop()


def main():
    build = os.path.abspath(sys.argv[1])
    root = tempfile.mkdtemp(prefix="mb-counters-")
    tr.ROOT = root
    pg_uri = os.environ.get("REPORT_PG_URI") or None
    results = []
    bl.install_signal_handlers()
    try:
        run(build, root, pg_uri, results)
    except Exception:
        traceback.print_exc()
        results.append(False)
    finally:
        bl.stop_all()
    failed = results.count(False)
    print("%d passed, %d failed" % (results.count(True), failed))
    if failed == 0 and not os.environ.get("COUNTERS_KEEP"):
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("# kept %s" % root)
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
