#!/usr/bin/env python3
"""test_report: `mailbeacon report`, `export`, `forget` and `purge` on a seeded
store.

The store's schema is made by the milter (`mailbeacon-milter -n`); the rows are
inserted here with sqlite3. The expected numbers are computed in this file,
independently, from the same raw rows, and compared with every format: json
(exactly), csv (parsed with the csv module), table (the numbers are on the
lines, nothing wider than 100 columns), html (parsed with html.parser: one
day-open and day-click point per day, one link-bar per link, no external
resources, nothing unescaped). Each link destination appears once in the
per-URL aggregate of every format, checked against a count of the raw rows;
the HTML of 500 messages with 1,500 links, rendered by headless Chromium,
shows each destination once.

    test_report.py BUILDDIR [CASE...]

Prints "ok NAME" / "FAIL NAME: why" per case and "N passed, M failed"; exits 1
on any failure. REPORT_KEEP=1 keeps the temporary directory.

With REPORT_PG_URI (the superuser's URI of database "mailbeacon" on a private
PostgreSQL cluster, run-report.sh starts one) and PG_BIN (its psql and
pg_dump), the same cases run on PostgreSQL: each site is a fresh database,
rows are seeded and counted through psql, "the database's bytes" are a
pg_dump of it, and one more case checks that every report format and export
is byte-identical to the same data on SQLite.
"""
import base64
import calendar
import csv
import hashlib
import hmac
import html.parser
import io
import json
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import struct
import zlib

BUILD = None
ROOT = None

HUMAN_OPEN = ("human", "gmail-proxy")
VERDICTS = ("human", "apple-mpp", "gmail-proxy", "prefetch", "scanner")


def ts(s):
    """'2024-03-10T23:50:00' (UTC) -> unix time."""
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%S"))


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def day_text(d):
    return time.strftime("%Y-%m-%d", time.gmtime(d * 86400))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def new_id(n):
    """A 22-character message id, distinct per n (as the milter's are random)."""
    return b64url(hashlib.sha256(b"msg%d" % n).digest()[:16])


def schema_version(pg):
    """The schema version the programs migrate to, as store/'s header says."""
    name, header = ("PGSTORE_SCHEMA_VERSION", "pg.h") if pg else ("STORE_SCHEMA_VERSION", "store.h")
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "store",
                           header)) as f:
        return int(re.search(r"#define %s (\d+)" % name, f.read()).group(1))


# A SQLite store as schema versions 1 to 3 made it (before the report's
# indexes), for the migration from an older schema.
SCHEMA_V3 = """
CREATE TABLE messages (id TEXT PRIMARY KEY, queue_id TEXT UNIQUE, message_id_header TEXT,
  sender TEXT NOT NULL, sasl_login TEXT, recipient_count INTEGER NOT NULL,
  sent INTEGER NOT NULL, words TEXT NOT NULL, link_count INTEGER NOT NULL, subject TEXT);
CREATE INDEX messages_sender_mid ON messages(sender, message_id_header);
CREATE INDEX messages_sent ON messages(sent);
CREATE TABLE message_recipients (message_id TEXT NOT NULL REFERENCES messages(id)
  ON DELETE CASCADE, recipient_hash BLOB NOT NULL, PRIMARY KEY (message_id, recipient_hash))
  WITHOUT ROWID;
CREATE INDEX message_recipients_hash ON message_recipients(recipient_hash);
CREATE TABLE links (message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  num INTEGER NOT NULL, url TEXT, PRIMARY KEY (message_id, num)) WITHOUT ROWID;
CREATE TABLE events (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('open', 'click', 'optout')), link INTEGER,
  time INTEGER NOT NULL, ip_masked TEXT, client_class TEXT, verdict TEXT NOT NULL,
  dnt INTEGER NOT NULL DEFAULT 0, recipient_hash BLOB);
CREATE INDEX events_message_time ON events(message_id, time);
CREATE TABLE optouts (recipient_hash BLOB PRIMARY KEY, time INTEGER NOT NULL,
  message_id TEXT) WITHOUT ROWID;
CREATE TABLE sync_state (source TEXT PRIMARY KEY, cursor INTEGER NOT NULL);
PRAGMA user_version = 3;
"""


PG_URI = os.environ.get("REPORT_PG_URI") or None
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PG_PASSWORD = os.environ.get("PG_PASSWORD")


def sql_literal(v):
    """A value as PostgreSQL literal text (standard_conforming_strings on)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, bytes):
        return "'\\x%s'::bytea" % v.hex()
    return "'%s'" % str(v).replace("'", "''")


def sql_bind(sql, args):
    """sqlite3's ? placeholders filled with literals, for psql."""
    parts = sql.split("?")
    assert len(parts) == len(args) + 1, (sql, args)
    return parts[0] + "".join(sql_literal(a) + rest for a, rest in zip(args, parts[1:]))


def psql(uri, sql, capture=True):
    p = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-t", "-A",
                        "-v", "ON_ERROR_STOP=1", "-d", uri], input=sql.encode("utf-8"),
                       capture_output=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("psql: %s" % p.stderr.decode("utf-8", "replace")[-500:])
    return p.stdout.decode("utf-8")


class PgConnection:
    """The little of sqlite3's connection the cases use, over psql: writes
    between BEGIN and COMMIT go in one psql run, a SELECT runs at once."""

    def __init__(self, uri):
        self.uri = uri
        self.batch = None

    def execute(self, sql, args=()):
        text = sql_bind(sql, args)
        if sql.startswith("BEGIN"):
            self.batch = ["BEGIN;"]
        elif sql.startswith("COMMIT"):
            psql(self.uri, "\n".join(self.batch + ["COMMIT;"]))
            self.batch = None
        elif self.batch is not None:
            self.batch.append(text + ";")
        else:
            return PgRows(psql(self.uri, text + ";"))
        return self

    def close(self):
        pass


class PgRows:
    def __init__(self, out):
        self.rows = [line.split("|") for line in out.splitlines() if line != ""]

    def fetchone(self):
        row = self.rows[0]
        return [int(v) if v.lstrip("-").isdigit() else v for v in row]

    def fetchall(self):
        # psql -A prints NULL as an empty field
        return [[None if v == "" else int(v) if v.lstrip("-").isdigit() else v for v in row]
                for row in self.rows]


def pg_database(name):
    """A fresh database of the cluster for one site; its URI."""
    db = "rep_" + "".join(c if c.isalnum() else "_" for c in name)
    psql(PG_URI, "DROP DATABASE IF EXISTS %s; CREATE DATABASE %s;" % (db, db))
    return PG_URI.replace("/mailbeacon?", "/%s?" % db, 1)


class Site:
    """A configuration directory with keys, hash key, policy and a store."""

    def __init__(self, name, retention_days=90, backend=None):
        self.dir = os.path.join(ROOT, name)
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "mailbeacon.conf")
        self.pg = (backend or ("pg" if PG_URI else "sqlite")) == "pg"
        self.db = pg_database(name) if self.pg else os.path.join(self.dir, "mb.db")
        self.hash_key = os.urandom(32)
        self.write("keys", "k1 %s\n" % b64url(os.urandom(32)))
        self.write("hash.key", b64url(self.hash_key) + "\n")
        self.write("policy", "* off\n")
        self.write("mailbeacon.conf", "".join("%s = %s\n" % kv for kv in [
            ("beacon_url", "https://t.example.com"),
            ("key_file", "keys"),
            ("hash_key_file", "hash.key"),
            ("database", self.db if self.pg else "mb.db"),
            ("policy_file", "policy"),
            ("milter_socket", "unix:%s/milter.sock" % self.dir),
            ("user", pwd.getpwuid(os.getuid()).pw_name),
            ("retention_days", str(retention_days)),
        ]))
        p = subprocess.run([os.path.join(BUILD, "milter/mailbeacon-milter"), "-n", "-c",
                            self.conf], capture_output=True, text=True, timeout=60)
        if p.returncode != 0 or not (self.pg or os.path.exists(self.db)):
            raise RuntimeError("mailbeacon-milter -n: exit %d: %s" % (p.returncode, p.stderr))
        if self.pg and PG_PASSWORD and PG_PASSWORD in p.stderr + p.stdout:
            raise RuntimeError("mailbeacon-milter -n printed the database password")

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def rhash(self, addr):
        return hmac.new(self.hash_key, addr.strip().lower().encode(), hashlib.sha256).digest()

    def run(self, *args, conf=None, check=None):
        p = subprocess.run([os.path.join(BUILD, "admin/mailbeacon"), "-c", conf or self.conf]
                           + list(args), capture_output=True, timeout=120)
        if check is not None and p.returncode != check:
            raise AssertionError("mailbeacon %s: exit %d, expected %d: %s" % (
                " ".join(args), p.returncode, check, p.stderr.decode("utf-8", "replace")))
        return p

    def connect(self):
        if self.pg:
            return PgConnection(self.db)
        con = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        return con

    def seed(self, messages, events, optouts=()):
        con = self.connect()
        con.execute("BEGIN IMMEDIATE")
        for m in messages:
            con.execute("INSERT INTO messages (id, queue_id, message_id_header, sender,"
                        " sasl_login, recipient_count, sent, words, link_count, subject)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, 'opens clicks footer', ?, ?)",
                        (m["id"], m["queue_id"], m["message_id"], m["sender"], m.get("sasl"),
                         len(m["to"]), m["sent"], len(m["links"]), m.get("subject")))
            for a in m["to"]:
                con.execute("INSERT INTO message_recipients (message_id, recipient_hash)"
                            " VALUES (?, ?)", (m["id"], self.rhash(a)))
            for i, url in enumerate(m["links"]):
                con.execute("INSERT INTO links (message_id, num, url) VALUES (?, ?, ?)",
                            (m["id"], i + 1, url))
        for e in events:
            con.execute("INSERT INTO events (message_id, kind, link, time, ip_masked,"
                        " client_class, verdict, dnt, recipient_hash, country, city)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (e["msg"], e["kind"], e.get("link"), e["time"],
                         None if e.get("dnt") else "192.0.2.0/24",
                         None if e.get("dnt") else "browser", e["verdict"],
                         1 if e.get("dnt") else 0,
                         self.rhash(e["who"]) if e.get("who") else None,
                         e.get("country"), e.get("city")))
        for o in optouts:
            con.execute("INSERT INTO optouts (recipient_hash, time, message_id) VALUES (?, ?, ?)",
                        (self.rhash(o["who"]), o["time"], o.get("msg")))
        con.execute("COMMIT")
        con.close()

    def count(self, sql, args=()):
        con = self.connect()
        try:
            return con.execute(sql, args).fetchone()[0]
        finally:
            con.close()

    def file_bytes(self):
        """What the database holds, as bytes: SQLite's files (freed pages
        included), or PostgreSQL's rows as pg_dump writes them."""
        if self.pg:
            p = subprocess.run([os.path.join(PG_BIN, "pg_dump"), "--data-only", "-d", self.db],
                               capture_output=True, timeout=120)
            if p.returncode != 0:
                raise RuntimeError("pg_dump: %s" % p.stderr.decode()[-300:])
            # bytea columns are hex text in the dump ("\\\\x0a1b..." in COPY's
            # escaping): their bytes are added, so a hash can be looked for
            return p.stdout + b"".join(bytes.fromhex(h.decode()) for h in
                                       re.findall(rb"\\\\x((?:[0-9a-f]{2})+)", p.stdout))
        data = b""
        for suffix in ("", "-wal", "-journal"):
            try:
                with open(self.db + suffix, "rb") as f:
                    data += f.read()
            except FileNotFoundError:
                pass
        return data


# ---- the seeded data ----

WEIRD_SENDER = 'o\'brien+"x,y"<script>alert(1)</script>@example.net'
WEIRD_CITY = 'K\u00f6ln, "<b>Dom</b>"'
WEIRD_URL = 'https://example.net/a?x=1&y="><script>alert(2)</script>,z'


def dataset():
    """Messages and events; times around midnights UTC on purpose."""
    M = []

    def msg(n, sender, sent, to, links, **kw):
        m = {"id": new_id(n), "queue_id": "Q%05dABC" % n,
             "message_id": "<m%d.%s@mail.example>" % (n, "x" * 3), "sender": sender,
             "sent": ts(sent), "to": list(to), "links": list(links)}
        m.update(kw)
        M.append(m)
        return m

    a1 = msg(1, "alice@example.com", "2024-03-10T23:50:00", ["bob@example.net", "carol@example.net"],
             ["https://shop.example/p1", "https://shop.example/p2", "https://docs.example/"],
             subject="Proposal")
    a2 = msg(2, "alice@example.com", "2024-03-11T12:00:00", ["dave@example.net"], [])
    a3 = msg(3, "alice@example.com", "2024-03-12T08:00:00", ["bob@example.net"],
             ["https://shop.example/p1", "https://shop.example/p9"])
    b1 = msg(4, WEIRD_SENDER, "2024-03-13T10:00:00",
             ["dave@example.net", "frank@example.net", "grace@example.net"], [WEIRD_URL])
    b2 = msg(5, WEIRD_SENDER, "2024-03-13T11:00:00", ["dave@example.net"],
             ["https://example.net/dave-only"])
    m1 = msg(6, "machines@example.com", "2024-03-14T00:00:00", ["heidi@example.net"],
             ["https://m.example/1"])
    m2 = msg(7, "machines@example.com", "2024-03-14T12:00:00", ["ivan@example.net"], [])
    c1 = msg(8, "Carol@Example.COM", "2024-03-09T00:00:00", ["erin@example.net"],
             ["https://c.example/x", "https://c.example/y"])
    E = []

    def ev(m, kind, when, verdict, link=None, **kw):
        e = {"msg": m["id"] if isinstance(m, dict) else m, "kind": kind, "time": ts(when),
             "verdict": verdict, "link": link}
        e.update(kw)
        E.append(e)

    # a1: every verdict, across midnight
    # (country, city: geoip_database; only human opens count per place)
    ev(a1, "open", "2024-03-10T23:50:05", "apple-mpp", country="US")
    ev(a1, "open", "2024-03-10T23:50:06", "prefetch")
    ev(a1, "open", "2024-03-10T23:59:59", "human", country="FR", city="Lyon")
    ev(a1, "open", "2024-03-11T00:00:00", "gmail-proxy", country="FR", city="Lyon")
    ev(a1, "open", "2024-03-11T09:00:00", "human", dnt=True)
    ev(a1, "open", "2024-03-11T09:00:01", "scanner")
    ev(a1, "click", "2024-03-10T23:50:07", "scanner", 1)
    ev(a1, "click", "2024-03-10T23:59:59", "human", 1, country="FR", city="Lyon")
    ev(a1, "click", "2024-03-11T00:00:01", "human", 1, dnt=True)
    ev(a1, "click", "2024-03-11T00:00:02", "prefetch", 2)
    ev(a1, "click", "2024-03-11T00:10:00", "human", 3)
    ev(a1, "click", "2024-03-11T00:10:00", "human", 9)       # no such link
    ev(a1, "optout", "2024-03-11T10:00:00", "human", who="carol@example.net")
    # a2: no events at all, no links
    # a3: only machine opens, scanner clicks
    ev(a3, "open", "2024-03-12T08:00:02", "apple-mpp")
    ev(a3, "click", "2024-03-12T08:00:03", "scanner", 1)
    ev(a3, "click", "2024-03-12T08:00:03", "scanner", 2)
    # b1
    ev(b1, "open", "2024-03-13T10:30:00", "gmail-proxy", country="DE", city=WEIRD_CITY)
    ev(b1, "open", "2024-03-13T10:31:00", "human", country="DE")
    ev(b1, "click", "2024-03-13T10:32:00", "human", 1)
    ev(b1, "click", "2024-03-13T10:32:00", "gmail-proxy", 1)  # not human: scanner
    # b2: dave's only
    ev(b2, "open", "2024-03-14T23:59:59", "human", country="BR", city="S\u00e3o Paulo")
    ev(b2, "click", "2024-03-15T00:00:00", "human", 1)
    # m1, m2: only machine opens
    ev(m1, "open", "2024-03-14T00:00:01", "apple-mpp")
    ev(m1, "open", "2024-03-14T00:00:01", "apple-mpp", dnt=True)
    ev(m1, "open", "2024-03-14T00:00:02", "prefetch")
    ev(m1, "open", "2024-03-14T00:00:03", "scanner")
    ev(m1, "click", "2024-03-14T00:00:03", "scanner", 1)
    ev(m2, "open", "2024-03-14T12:00:01", "prefetch")
    # c1: sent at midnight, opens either side of the next one
    ev(c1, "open", "2024-03-09T23:59:59", "human", country="GB", city="London")
    ev(c1, "open", "2024-03-10T00:00:00", "human", country="GB", city="London")
    ev(c1, "click", "2024-03-10T00:00:00", "human", 2)
    ev(c1, "optout", "2024-03-10T00:05:00", "human", who="erin@example.net")
    # an event of a message this store never saw
    ev("AAAAAAAAAAAAAAAAAAAAAA", "open", "2024-03-12T00:00:00", "human", country="FR",
       city="Paris")
    O = [{"who": "erin@example.net", "time": ts("2024-03-10T00:05:00"), "msg": c1["id"]}]
    return M, E, O


# ---- the expected report, from the raw rows ----

def expected(M, E, sender=None, since=None, until=None, message=None, now=None):
    def sender_ok(s):
        if sender is None:
            return True
        if sender.startswith("@"):
            return s.lower().endswith(sender.lower())
        return s.lower() == sender.lower()

    def message_ok(m):
        if message is None:
            return True
        bare = message.strip().strip("<>")
        return bare in (m["id"], m["queue_id"]) or m["message_id"].strip() in (bare, "<%s>" % bare)

    sel = [m for m in M if sender_ok(m["sender"]) and (since is None or m["sent"] >= since)
           and (until is None or m["sent"] < until) and message_ok(m)]
    sel.sort(key=lambda m: (m["sender"].encode(), m["sent"], m["id"]))
    ids = {m["id"] for m in sel}
    detail = {}
    for m in sel:
        evs = [e for e in E if e["msg"] == m["id"]]
        ho = [e for e in evs if e["kind"] == "open" and e["verdict"] in HUMAN_OPEN]
        mo = [e for e in evs if e["kind"] == "open" and e["verdict"] not in HUMAN_OPEN]
        hc = [e for e in evs if e["kind"] == "click" and e["verdict"] == "human"]
        sc = [e for e in evs if e["kind"] == "click" and e["verdict"] != "human"]
        first = min((e["time"] for e in ho), default=None)
        links = []
        for i, url in enumerate(m["links"]):
            links.append({"num": i + 1, "url": url,
                          "human_clicks": sum(1 for e in hc if e["link"] == i + 1),
                          "scanner_clicks": sum(1 for e in sc if e["link"] == i + 1)})
        detail[m["id"]] = {
            "id": m["id"], "queue_id": m["queue_id"], "message_id": m["message_id"],
            "subject": m.get("subject"), "sent": iso(m["sent"]), "recipients": len(m["to"]),
            "opens": {"human": len(ho), "machine": len(mo)},
            "unique_human_opens": 1 if ho else 0,
            "first_human_open": iso(first) if first is not None else None,
            "time_to_open_seconds": first - m["sent"] if first is not None else None,
            "clicks": {"human": len(hc), "scanner": len(sc)},
            "optouts": sum(1 for e in evs if e["kind"] == "optout"),
            "links": links,
            "_last_event": max((e["time"] for e in evs), default=None),
        }

    def counts(ms):
        ds = [detail[m["id"]] for m in ms]
        n = len(ms)
        uniq = sum(d["unique_human_opens"] for d in ds)
        clicked = sum(1 for d in ds if d["clicks"]["human"] > 0)
        return {
            "messages": n, "recipients": sum(d["recipients"] for d in ds),
            "opens": {"human": sum(d["opens"]["human"] for d in ds),
                      "machine": sum(d["opens"]["machine"] for d in ds)},
            "unique_human_opens": uniq,
            "clicks": {"human": sum(d["clicks"]["human"] for d in ds),
                       "scanner": sum(d["clicks"]["scanner"] for d in ds)},
            "messages_clicked": clicked,
            "optouts": sum(d["optouts"] for d in ds),
            "open_rate": uniq / n if n else 0,
            "click_rate": clicked / n if n else 0,
            "first_sent": iso(min(m["sent"] for m in ms)) if ms else None,
            "last_sent": iso(max(m["sent"] for m in ms)) if ms else None,
        }

    senders = []
    for s in sorted({m["sender"] for m in sel}, key=lambda s: s.encode()):
        ms = [m for m in sel if m["sender"] == s]
        c = counts(ms)
        c = dict({"sender": s}, **c)
        c["messages_detail"] = [{k: v for k, v in detail[m["id"]].items() if k[0] != "_"}
                                for m in ms]
        senders.append(c)
    # days: from --since (else the first message) to the latest message or
    # event, or --until/now when a range was given
    days = []
    if sel:
        first = since if since is not None else min(m["sent"] for m in sel)
        last = max([m["sent"] for m in sel] + [d["_last_event"] for d in detail.values()
                                                if d["_last_event"] is not None])
        if since is not None or until is not None:
            end = min(until - 1 if until is not None else now, now)
            last = max(last, end)
        first = min(first, last)
        for d in range(first // 86400, last // 86400 + 1):
            evs = [e for e in E if e["msg"] in ids and e["time"] // 86400 == d]
            days.append({"day": day_text(d),
                         "opens_human": sum(1 for e in evs if e["kind"] == "open"
                                            and e["verdict"] in HUMAN_OPEN),
                         "clicks_human": sum(1 for e in evs if e["kind"] == "click"
                                             and e["verdict"] == "human")})
    return {"totals": counts(sel), "senders": senders, "days": days,
            "filters": {"sender": sender, "since": iso(since) if since is not None else None,
                        "until": iso(until) if until is not None else None,
                        "message": message}}


def expected_places(exp, E, by_message):
    """The report's "places": human opens with a country per sender (or
    message) and place, of the messages exp selected, in its order."""
    out = []
    for s in exp["senders"]:
        groups = [[d["id"] for d in s["messages_detail"]]]
        if by_message:
            groups = [[d["id"]] for d in s["messages_detail"]]
        for ids in groups:
            n = {}
            for e in E:
                if (e["msg"] in ids and e["kind"] == "open" and e["verdict"] in HUMAN_OPEN
                        and e.get("country")):
                    key = (e["country"], e.get("city"))
                    n[key] = n.get(key, 0) + 1
            for (cc, city), v in sorted(n.items(), key=lambda kv: (
                    -kv[1], kv[0][0].encode(), (kv[0][1] or "").encode())):
                p = {"sender": s["sender"]}
                if by_message:
                    p["id"] = ids[0]
                p.update({"country": cc, "city": city, "opens_human": v})
                out.append(p)
    return out


# ---- cases ----

CASES = []


class Skip(Exception):
    pass


def case(fn):
    CASES.append(fn)
    return fn


class Ctx:
    site = None
    M = E = O = None


def main_site():
    if Ctx.site is None:
        Ctx.site = Site("main")
        Ctx.M, Ctx.E, Ctx.O = dataset()
        Ctx.site.seed(Ctx.M, Ctx.E, Ctx.O)
    return Ctx.site


def report_json(site, *args):
    p = site.run("report", "--format", "json", *args, check=0)
    return json.loads(p.stdout.decode("utf-8"))


def compare(got, exp, path="$"):
    """Raises with the first difference."""
    if isinstance(exp, dict):
        if not isinstance(got, dict):
            raise AssertionError("%s: expected an object, got %r" % (path, got))
        for k in exp:
            if k not in got:
                raise AssertionError("%s: missing key %r" % (path, k))
            compare(got[k], exp[k], "%s.%s" % (path, k))
    elif isinstance(exp, list):
        if not isinstance(got, list) or len(got) != len(exp):
            raise AssertionError("%s: expected %d items, got %r" % (
                path, len(exp), got if not isinstance(got, list) else len(got)))
        for i, (g, e) in enumerate(zip(got, exp)):
            compare(g, e, "%s[%d]" % (path, i))
    elif isinstance(exp, float) or isinstance(got, float):
        if not isinstance(got, (int, float)) or got != exp:
            raise AssertionError("%s: expected %r, got %r" % (path, exp, got))
    else:
        if got != exp or type(got) is not type(exp):
            raise AssertionError("%s: expected %r, got %r" % (path, exp, got))


def check_json(args, **filters):
    site = main_site()
    got = report_json(site, *args)
    exp = expected(Ctx.M, Ctx.E, now=int(time.time()), **filters)
    assert got["schema"] == 1, got.get("schema")
    assert got["generated"].endswith("Z")
    compare(got["filters"], exp["filters"], "$.filters")
    compare(got["totals"], exp["totals"], "$.totals")
    compare(got["senders"], exp["senders"], "$.senders")
    compare(got["days"], exp["days"], "$.days")
    compare(got["places"], {"by_sender": expected_places(exp, Ctx.E, False),
                            "by_message": expected_places(exp, Ctx.E, True)}, "$.places")
    return got, exp


@case
def json_all():
    got, exp = check_json([])
    assert len(got["senders"]) == 4, [s["sender"] for s in got["senders"]]
    # the edges the data set was made for
    msgs = {m["id"]: m for s in got["senders"] for m in s["messages_detail"]}
    a2 = msgs[new_id(2)]
    assert a2["links"] == [] and a2["opens"] == {"human": 0, "machine": 0}, a2
    assert a2["first_human_open"] is None and a2["time_to_open_seconds"] is None, a2
    mach = [s for s in got["senders"] if s["sender"] == "machines@example.com"][0]
    assert mach["opens"]["human"] == 0 and mach["opens"]["machine"] == 5, mach
    assert mach["unique_human_opens"] == 0 and mach["open_rate"] == 0, mach
    a1 = msgs[new_id(1)]
    assert a1["first_human_open"] == "2024-03-10T23:59:59Z", a1
    assert a1["time_to_open_seconds"] == 599, a1
    assert a1["opens"] == {"human": 3, "machine": 3}, a1["opens"]
    assert a1["clicks"] == {"human": 4, "scanner": 2}, a1["clicks"]
    days = {d["day"]: d for d in got["days"]}
    assert days["2024-03-09"]["opens_human"] == 1 and days["2024-03-10"]["opens_human"] == 2, days
    assert got["days"][0]["day"] == "2024-03-09" and got["days"][-1]["day"] == "2024-03-15"


@case
def json_sender_filter():
    check_json(["--sender", "ALICE@example.com"], sender="ALICE@example.com")
    # Another spelling of the same mailbox (a quoted local part) is the
    # same sender; the filter is echoed as typed.
    got = report_json(main_site(), "--sender", '"alice"@example.com')
    assert got["filters"]["sender"] == '"alice"@example.com', got["filters"]
    assert [s["sender"] for s in got["senders"]] == ["alice@example.com"], got["senders"]
    got, _ = check_json(["--sender", "@example.com"], sender="@example.com")
    assert sorted(s["sender"] for s in got["senders"]) == [
        "Carol@Example.COM", "alice@example.com", "machines@example.com"], got["senders"]
    got, _ = check_json(["--sender", WEIRD_SENDER], sender=WEIRD_SENDER)
    assert got["senders"][0]["sender"] == WEIRD_SENDER


@case
def json_time_filter():
    # --until a date includes that whole day
    got, exp = check_json(["--since", "2024-03-11", "--until", "2024-03-12"],
                          since=ts("2024-03-11T00:00:00"), until=ts("2024-03-13T00:00:00"))
    assert got["totals"]["messages"] == 2, got["totals"]
    assert got["days"][0]["day"] == "2024-03-11" and got["days"][-1]["day"] == "2024-03-12"
    # times with a zone; a bound equal to a sent time includes the message
    got, _ = check_json(["--since", "2024-03-13T11:00:00+01:00", "--until",
                         "2024-03-14T00:00:00Z"],
                        since=ts("2024-03-13T10:00:00"), until=ts("2024-03-14T00:00:01"))
    assert got["totals"]["messages"] == 3, got["totals"]
    # relative: the data is from 2024, nothing in the last 30 days
    got = report_json(main_site(), "--since", "30d")
    assert got["senders"] == [] and got["totals"]["messages"] == 0 and got["days"] == [], got


@case
def json_message_filter():
    m = Ctx.M[3] if Ctx.M else None
    main_site()
    m = Ctx.M[3]
    for v in (m["id"], m["queue_id"], m["message_id"], m["message_id"].strip("<>")):
        got, _ = check_json(["--message", v], message=v)
        assert got["totals"]["messages"] == 1, (v, got["totals"])
        assert got["senders"][0]["messages_detail"][0]["id"] == m["id"]
    got = report_json(main_site(), "--message", "nonesuch")
    assert got["totals"]["messages"] == 0


def csv_rows(site, *args):
    p = site.run("report", "--format", "csv", *args, check=0)
    raw = p.stdout
    assert raw.endswith(b"\r\n"), raw[-20:]
    lines = raw.split(b"\r\n")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    return raw, rows


@case
def csv_format():
    site = main_site()
    raw, rows = csv_rows(site)
    exp = expected(Ctx.M, Ctx.E)
    # no bare LF: every line ends CRLF (no field here holds a newline)
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF"
    msgs = [r for r in rows if r["scope"] == "message"]
    links = [r for r in rows if r["scope"] == "link"]
    senders = [r for r in rows if r["scope"] == "sender"]
    totals = [r for r in rows if r["scope"] == "total"]
    want = [d for s in exp["senders"] for d in s["messages_detail"]]
    assert [r["id"] for r in msgs] == [d["id"] for d in want], [r["id"] for r in msgs]
    for r, d in zip(msgs, want):
        s = [m for m in Ctx.M if m["id"] == d["id"]][0]
        assert r["sender"] == s["sender"], (r["sender"], s["sender"])
        for col, val in (("queue_id", d["queue_id"]), ("message_id", d["message_id"]),
                         ("sent", d["sent"]), ("recipients", str(d["recipients"])),
                         ("opens_human", str(d["opens"]["human"])),
                         ("opens_machine", str(d["opens"]["machine"])),
                         ("unique_human_opens", str(d["unique_human_opens"])),
                         ("first_human_open", d["first_human_open"] or ""),
                         ("time_to_open_seconds", "" if d["time_to_open_seconds"] is None
                          else str(d["time_to_open_seconds"])),
                         ("clicks_human", str(d["clicks"]["human"])),
                         ("clicks_scanner", str(d["clicks"]["scanner"]))):
            assert r[col] == val, (d["id"], col, r[col], val)
    want_links = [(d["id"], l) for d in want for l in d["links"]]
    assert len(links) == len(want_links), (len(links), len(want_links))
    for r, (mid, l) in zip(links, want_links):
        assert (r["id"], r["link_num"], r["url"], r["clicks_human"], r["clicks_scanner"]) == (
            mid, str(l["num"]), l["url"], str(l["human_clicks"]), str(l["scanner_clicks"])), r
    assert [r["sender"] for r in senders] == [s["sender"] for s in exp["senders"]]
    for r, s in zip(senders + totals, exp["senders"] + [exp["totals"]]):
        for col, val in (("messages", s["messages"]), ("recipients", s["recipients"]),
                         ("opens_human", s["opens"]["human"]),
                         ("opens_machine", s["opens"]["machine"]),
                         ("unique_human_opens", s["unique_human_opens"]),
                         ("clicks_human", s["clicks"]["human"]),
                         ("clicks_scanner", s["clicks"]["scanner"]),
                         ("messages_clicked", s["messages_clicked"])):
            assert r[col] == str(val), (r["scope"], r["sender"], col, r[col], val)
        assert float(r["open_rate"]) == s["open_rate"], (r["open_rate"], s["open_rate"])
        assert float(r["click_rate"]) == s["click_rate"], (r["click_rate"], s["click_rate"])
        assert r["sent"] == s["first_sent"] and r["last_sent"] == s["last_sent"], r
    assert len(totals) == 1
    # the weird URL (comma and quotes) was quoted and survived
    assert any(r["url"] == WEIRD_URL for r in links)


def cols(line):
    return len(line)


@case
def table_format():
    site = main_site()
    p = site.run("report", check=0)
    text = p.stdout.decode("utf-8")
    exp = expected(Ctx.M, Ctx.E)
    lines = text.split("\n")
    for line in lines:
        assert cols(line) <= 100, "%d columns: %r" % (cols(line), line)
        assert not any(ord(c) < 32 for c in line), repr(line)
        assert line == line.rstrip(), "trailing blanks: %r" % line
    for s in exp["senders"]:
        row = [l for l in lines if l.startswith(s["sender"][:29])]
        assert row, "no row for %r" % s["sender"]
        r = row[0]
        for want in ("%d/%d" % (s["opens"]["human"], s["opens"]["machine"]),
                     "%d/%d" % (s["clicks"]["human"], s["clicks"]["scanner"]),
                     "%.1f%%" % (100 * s["open_rate"]), "%.1f%%" % (100 * s["click_rate"])):
            assert want in r.split(), (want, r)
        assert r.split()[-7] == str(s["messages"]) or str(s["messages"]) in r.split(), r
        for d in s["messages_detail"]:
            ml = [l for l in lines if l.strip().startswith(d["id"])]
            assert len(ml) == 1, (d["id"], ml)
            f = ml[0].split()
            assert "%d/%d" % (d["opens"]["human"], d["opens"]["machine"]) in f, (d, ml)
            assert "%d/%d" % (d["clicks"]["human"], d["clicks"]["scanner"]) in f, (d, ml)
            assert str(d["recipients"]) in f
            if d["first_human_open"]:
                assert d["first_human_open"][:16].replace("T", " ") in ml[0], ml
    tot = [l for l in lines if l.startswith("all senders")]
    assert tot and "%d/%d" % (exp["totals"]["opens"]["human"],
                              exp["totals"]["opens"]["machine"]) in tot[0].split(), tot
    # the long sender is cut with an ellipsis, not spilled over
    assert "\u2026" in text
    # every filter shown, still within 100 columns
    long_id = "<" + "x" * 150 + "@example.com>"
    for args in (["--sender", WEIRD_SENDER * 3, "--since", "2024-01-01", "--until",
                  "2024-12-31", "--message", long_id],
                 ["--sender", "@example.com", "--since", "2024-03-10"]):
        text = site.run("report", *args, check=0).stdout.decode("utf-8")
        for line in text.split("\n"):
            assert len(line) <= 100 and line == line.rstrip(), (args, line)


class HTMLCheck(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.texts = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.texts.append(data)


def parse_html(doc):
    p = HTMLCheck()
    p.feed(doc)
    p.close()
    return p


def check_self_contained(p, doc):
    for tag, a in p.tags:
        assert tag not in ("script", "link", "img", "iframe", "object", "embed", "image",
                           "use", "foreignobject"), tag
        for k, v in a.items():
            assert not k.startswith("on"), (tag, k)
            assert k not in ("src", "href", "xlink:href") or v is None, (tag, k, v)
    assert "url(" not in doc and "@import" not in doc


@case
def html_format():
    site = main_site()
    p = site.run("report", "--format", "html", check=0)
    doc = p.stdout.decode("utf-8")
    exp = expected(Ctx.M, Ctx.E)
    h = parse_html(doc)
    check_self_contained(h, doc)
    opens = [a for t, a in h.tags if a.get("class") == "day-open"]
    clicks = [a for t, a in h.tags if a.get("class") == "day-click"]
    assert len(opens) == len(exp["days"]) == len(clicks), (len(opens), len(exp["days"]))
    for o, c, d in zip(opens, clicks, exp["days"]):
        assert o["data-day"] == c["data-day"] == d["day"], (o, d)
        assert int(o["data-count"]) == d["opens_human"], (o, d)
        assert int(c["data-count"]) == d["clicks_human"], (c, d)
    # one bar per destination (issue 17), not one per (message, link)
    bars = [a for t, a in h.tags if t == "rect" and a.get("class") == "link-bar"]
    want = raw_urls(site)
    assert [(b.get("data-url"), int(b["data-messages"]), int(b["data-clicks"]),
             int(b["data-scanner"])) for b in bars] == want, (bars, want)
    assert len({b.get("data-url") for b in bars}) == len(bars)
    rows = [a for t, a in h.tags if t == "tr" and a.get("class") == "message-row"]
    assert len(rows) == sum(s["messages"] for s in exp["senders"])
    srows = [a for t, a in h.tags if t == "tr" and a.get("class") == "sender-row"]
    assert [a["data-sender"] for a in srows] == [s["sender"] for s in exp["senders"]]
    # escaped: the sender's and the URL's <script> are text, not elements
    assert any(WEIRD_SENDER in t for t in h.texts)
    assert "<script>" not in doc
    # the file as a browser would see it: Content-Security-Policy forbids loads
    assert "default-src 'none'" in doc


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def png_pixels(data):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(line)
        prev = line
    return w, h, [[tuple(r[x * bpp:x * bpp + 3]) for x in range(w)] for r in rows]


@case
def html_chromium():
    """The page in headless Chromium: it renders, the DOM Chromium built has
    the expected points and bars, and the screenshot shows both charts."""
    chromium = find_chromium()
    if chromium is None:
        raise Skip("chromium is not installed (Debian package chromium)")
    site = main_site()
    exp = expected(Ctx.M, Ctx.E)
    page = os.path.join(ROOT, "report.html")
    with open(page, "wb") as f:
        f.write(site.run("report", "--format", "html", check=0).stdout)
    outdir = os.path.join(BUILD, "tests", "report")
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError:
        outdir = ROOT
    shot = os.environ.get("REPORT_SCREENSHOT") or os.path.join(outdir, "report-screenshot.png")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--hide-scrollbars", "--user-data-dir=" +
            os.path.join(ROOT, "chromium-profile")]
    env = dict(os.environ, HOME=ROOT)
    p = subprocess.run(base + ["--dump-dom", "file://" + page], capture_output=True,
                       timeout=120, env=env)
    assert p.returncode == 0 and p.stdout, (p.returncode, p.stderr[-500:])
    h = parse_html(p.stdout.decode("utf-8", "replace"))
    n_open = sum(1 for t, a in h.tags if t == "circle" and a.get("class") == "day-open")
    n_click = sum(1 for t, a in h.tags if t == "circle" and a.get("class") == "day-click")
    n_bars = sum(1 for t, a in h.tags if t == "rect" and a.get("class") == "link-bar")
    n_urls = len({l["url"] for s in exp["senders"] for d in s["messages_detail"]
                  for l in d["links"]})
    assert (n_open, n_click, n_bars) == (len(exp["days"]), len(exp["days"]), n_urls), (
        n_open, n_click, n_bars, len(exp["days"]), n_urls)
    assert not any(t == "script" for t, a in h.tags), "a script element in the DOM"
    if os.path.exists(shot):
        os.unlink(shot)
    p = subprocess.run(base + ["--window-size=1100,1800", "--screenshot=" + shot,
                               "file://" + page], capture_output=True, timeout=120, env=env)
    assert p.returncode == 0 and os.path.exists(shot), (p.returncode, p.stderr[-500:])
    with open(shot, "rb") as f:
        w, hgt, px = png_pixels(f.read())
    assert (w, hgt) == (1100, 1800), (w, hgt)
    flat = [c for row in px for c in row]
    blue = sum(1 for c in flat if c == (0x2b, 0x6c, 0xb0))   # open points, link bars
    orange = sum(1 for c in flat if c == (0xd9, 0x77, 0x06))  # click line and points
    assert blue > 2000 and orange > 100, (blue, orange)
    print("# screenshot: %s" % shot)


def raw_urls(site, sender=None):
    """The per-destination aggregate counted here from the raw rows of the
    database (links and events, not the report's counters): [(url,
    messages linking to it, human clicks, scanner clicks)], the most human
    clicks first, then by URL bytes, the links without a URL last."""
    con = site.connect()
    try:
        links = con.execute("SELECT l.message_id, l.num, l.url, m.sender FROM links l"
                            " JOIN messages m ON m.id = l.message_id").fetchall()
        events = con.execute("SELECT message_id, link, verdict FROM events"
                             " WHERE kind = 'click'").fetchall()
    finally:
        con.close()
    where = {}
    agg = {}
    for mid, num, url, snd in links:
        if sender is not None and snd.lower() != sender.lower():
            continue
        where[(mid, num)] = url
        a = agg.setdefault(url, [set(), 0, 0])
        a[0].add(mid)
    for mid, link, verdict in events:
        url = where.get((mid, link), KeyError)
        if url is KeyError:
            continue
        agg[url][1 if verdict == "human" else 2] += 1
    out = [(u, len(a[0]), a[1], a[2]) for u, a in agg.items()]
    out.sort(key=lambda r: (-r[2], r[0] is None, (r[0] or "").encode()))
    return out


@case
def urls_aggregate():
    """Each destination once in every format, its messages and clicks as
    counted independently from the raw rows."""
    site = main_site()
    want = raw_urls(site)
    # a URL in several messages (shop.example/p1 in a1 and a3) is one entry
    assert any(u == "https://shop.example/p1" and n == 2 for u, n, _, _ in want), want
    got = report_json(site)["urls"]
    assert [(u["url"], u["messages"], u["human_clicks"], u["scanner_clicks"]) for u in got] \
        == want, (got, want)
    _, rows = csv_rows(site)
    urls = [r for r in rows if r["scope"] == "url"]
    assert [(r["url"], int(r["messages"]), int(r["clicks_human"]), int(r["clicks_scanner"]))
            for r in urls] == want, (urls, want)
    scopes = [r["scope"] for r in rows]
    at = scopes.index("total") + 1
    assert scopes[at:at + len(urls)] == ["url"] * len(urls), "url rows do not follow the total"
    text = site.run("report", check=0).stdout.decode("utf-8")
    for u, n, hc, sc in want:
        line = [l for l in text.split("\n") if l.endswith(u) and l.split()[0] == "%d/%d" % (
            hc, sc)]
        assert len(line) >= 1 and line[0].split()[1] == str(n), (u, line)
    got = report_json(site, "--sender", "alice@example.com")["urls"]
    assert [(u["url"], u["messages"], u["human_clicks"], u["scanner_clicks"]) for u in got] \
        == raw_urls(site, "alice@example.com"), got


def many_messages(n_messages=500, links_each=3, n_urls=40):
    """n_messages messages of 3 senders with links_each links each, drawn
    from n_urls destinations (a message may link to one twice), and
    clicks on them with every verdict."""
    import random
    rnd = random.Random(17)
    urls = ["https://www.example.com/page/%d" % (4000 + i) for i in range(n_urls)]
    M, E = [], []
    t0 = ts("2024-05-01T08:00:00")
    for n in range(n_messages):
        m = {"id": new_id(1000 + n), "queue_id": "B%06d" % n,
             "message_id": "<many%d@mail.example>" % n,
             "sender": ("ann@example.com", "ben@example.com", "cat@example.org")[n % 3],
             "sent": t0 + n * 600, "to": ["r%d@example.net" % (n % 7)],
             "links": [rnd.choice(urls) for _ in range(links_each)],
             "subject": "Offer %d" % n}
        M.append(m)
        for k in range(rnd.randrange(4)):
            E.append({"msg": m["id"], "kind": "click", "time": m["sent"] + 3600 + k,
                      "verdict": rnd.choice(VERDICTS), "link": rnd.randrange(1, links_each + 1)})
        if rnd.random() < 0.6:
            E.append({"msg": m["id"], "kind": "open", "time": m["sent"] + 60,
                      "verdict": rnd.choice(VERDICTS)})
    return M, E


@case
def urls_500_chromium():
    """500 messages with 1,500 links to 40 destinations: the HTML report,
    as Chromium builds its DOM, shows each destination once, with its
    messages and clicks as counted from the raw rows; the message table
    keeps all 500 messages with their subjects."""
    chromium = find_chromium()
    if chromium is None:
        raise Skip("chromium is not installed (Debian package chromium)")
    site = Site("many")
    M, E = many_messages()
    site.seed(M, E)
    assert site.count("SELECT count(*) FROM links") == 1500
    want = raw_urls(site)
    assert len(want) == 40 and all(n > 1 for _, n, _, _ in want), want
    page = os.path.join(ROOT, "many.html")
    with open(page, "wb") as f:
        f.write(site.run("report", "--format", "html", check=0).stdout)
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-extensions", "--user-data-dir=" +
                        os.path.join(ROOT, "chromium-profile-many"), "--dump-dom",
                        "file://" + page], capture_output=True, timeout=180,
                       env=dict(os.environ, HOME=ROOT))
    assert p.returncode == 0 and p.stdout, (p.returncode, p.stderr[-500:])
    h = parse_html(p.stdout.decode("utf-8", "replace"))
    chart = [a for t, a in h.tags if t == "rect" and a.get("class") == "link-bar"]
    got = [(a.get("data-url"), int(a["data-messages"]), int(a["data-clicks"]),
            int(a["data-scanner"])) for a in chart]
    assert got == want, (got[:5], want[:5])
    rows = [a for t, a in h.tags if t == "tr" and a.get("class") == "message-row"]
    assert len(rows) == 500, len(rows)
    subjects = [t for t in h.texts if t.startswith("Offer ")]
    assert len(subjects) == 500, len(subjects)
    if PG_URI:
        # the same rows in SQLite give the same bytes
        lite = Site("many-sqlite", backend="sqlite")
        lite.seed(M, E)
        for args in (["--format", "json"], ["--format", "csv"], ["--format", "table"]):
            a = site.run("report", *args, check=0).stdout
            b = lite.run("report", *args, check=0).stdout
            strip = re.compile(rb"generated[^\n]*")
            assert strip.sub(b"", a) == strip.sub(b"", b), args


@case
def html_empty():
    site = main_site()
    p = site.run("report", "--format", "html", "--sender", "nobody@example.com", check=0)
    h = parse_html(p.stdout.decode("utf-8"))
    assert not [a for t, a in h.tags if a.get("class") in ("day-open", "day-click", "link-bar")]
    p = site.run("report", "--sender", "nobody@example.com", check=0)
    assert b"no tracked messages" in p.stdout, p.stdout


@case
def html_range_chart():
    site = main_site()
    p = site.run("report", "--format", "html", "--since", "2024-03-01", "--until",
                 "2024-03-31", check=0)
    h = parse_html(p.stdout.decode("utf-8"))
    opens = [a for t, a in h.tags if a.get("class") == "day-open"]
    assert len(opens) == 31 and opens[0]["data-day"] == "2024-03-01" and \
        opens[-1]["data-day"] == "2024-03-31", (len(opens), opens[:1], opens[-1:])


@case
def exit_codes():
    site = main_site()
    for args in (["--format", "xml"], ["--since", "yesterday"], ["--since", "2024-02-30"],
                 ["--until", "2024-03-01T25:00:00Z"], ["--bogus"], ["--sender"],
                 ["--since", "2024-03-02", "--until", "2024-03-01"], ["extra"]):
        p = site.run("report", *args)
        assert p.returncode == 1 and p.stderr, (args, p.returncode, p.stderr)
    p = site.run("report", "--help")
    assert p.returncode == 0 and b'"schema": 1' in p.stdout and b"scope" in p.stdout
    p = site.run("export", "--help")
    assert p.returncode == 0 and b"forget" in p.stdout
    for args in (["export"], ["forget"], ["export", "--recipient", "a@b", "--sender", "c@d"],
                 ["purge", "--sender", "a@b"]):
        p = site.run(*args)
        assert p.returncode == 1 and p.stderr, (args, p.returncode, p.stderr)
    # runtime: the database is missing, or not a database
    bad = os.path.join(ROOT, "bad")
    os.makedirs(bad)
    for f in ("keys", "hash.key", "policy"):
        shutil.copy(os.path.join(site.dir, f), bad)
    with open(os.path.join(site.dir, "mailbeacon.conf")) as f:
        conf = f.read()
    for setup in ("missing", "garbage"):
        name = b"mb.db"
        if site.pg:
            # no such database; then one with someone else's tables
            name = ("rep_bad_%s" % setup).encode()
            uri = site.db.replace("/rep_main?", "/%s?" % name.decode(), 1)
            if setup == "garbage":
                psql(PG_URI, "CREATE DATABASE %s;" % name.decode())
                psql(uri, "CREATE TABLE messages (x integer);")
            conf_here = conf.replace(site.db, uri)
        else:
            conf_here = conf
            if setup == "garbage":
                with open(os.path.join(bad, "mb.db"), "wb") as f:
                    f.write(b"this is not a database" * 100)
        with open(os.path.join(bad, "mailbeacon.conf"), "w") as f:
            f.write(conf_here)
        for args in (["report"], ["report", "--format", "html"], ["export", "--sender", "a@b"],
                     ["forget", "--sender", "a@b"], ["purge"]):
            p = site.run(*args, conf=os.path.join(bad, "mailbeacon.conf"))
            # SQLite: a missing or broken file is a runtime error (2);
            # PostgreSQL: the database, role or schema is the configuration's
            # to fix (1), and the message says which line named it
            want = 1 if site.pg else 2
            assert p.returncode == want and name in p.stderr, (setup, args, p.returncode,
                                                               p.stderr)
            assert not site.pg or b"mailbeacon.conf:" in p.stderr, p.stderr
            # a PostgreSQL URI's password is never shown
            assert not PG_PASSWORD or PG_PASSWORD.encode() not in p.stderr, p.stderr
    # a broken configuration is 1
    with open(os.path.join(bad, "mailbeacon.conf"), "a") as f:
        f.write("retention_dayz = 3\n")
    p = site.run("report", conf=os.path.join(bad, "mailbeacon.conf"))
    assert p.returncode == 1 and b"retention_dayz" in p.stderr, p.stderr


# ---- export, forget, purge ----

def fresh_site(name):
    site = Site(name)
    M, E, O = dataset()
    site.seed(M, E, O)
    return site, M, E, O


@case
def export_recipient():
    site, M, E, O = fresh_site("export")
    p = site.run("export", "--recipient", "Bob@Example.NET", check=0)
    x = json.loads(p.stdout)
    assert x["recipient_hash"] == site.rhash("bob@example.net").hex(), x["recipient_hash"]
    ids = [m["id"] for m in x["messages"]]
    assert ids == [new_id(1), new_id(3)], ids
    for m in x["messages"]:
        want = [e for e in E if e["msg"] == m["id"]]
        assert len(m["events"]) == len(want), (m["id"], len(m["events"]), len(want))
        src = [s for s in M if s["id"] == m["id"]][0]
        assert [(l["num"], l["url"]) for l in m["links"]] == list(enumerate(src["links"], 1))
        assert m["sender"] == src["sender"] and m["sent"] == iso(src["sent"])
    # carol's opt-out event on a1 does not show bob carol's hash
    a1 = x["messages"][0]
    assert all(e["recipient_hash"] is None for e in a1["events"]), a1["events"]
    assert x["optout"] is None and x["other_events"] == []
    p = site.run("export", "--recipient", "erin@example.net", check=0)
    x = json.loads(p.stdout)
    assert x["optout"] == {"time": iso(O[0]["time"]), "message_id": new_id(8)}, x["optout"]
    opt = [e for e in x["messages"][0]["events"] if e["kind"] == "optout"]
    assert opt and opt[0]["recipient_hash"] == site.rhash("erin@example.net").hex(), opt
    p = site.run("export", "--sender", WEIRD_SENDER, check=0)
    x = json.loads(p.stdout)
    assert [m["id"] for m in x["messages"]] == [new_id(4), new_id(5)]
    assert x["messages"][0]["links"][0]["url"] == WEIRD_URL
    assert sum(len(m["events"]) for m in x["messages"]) == 6


@case
def places_formats():
    """geoip_database: the human opens per place in csv, table and html as
    in json (json_all), and each event's place in export."""
    site = main_site()
    exp = expected(Ctx.M, Ctx.E)
    by_s, by_m = expected_places(exp, Ctx.E, False), expected_places(exp, Ctx.E, True)
    assert len(by_s) == 5 and len(by_m) == 5, (by_s, by_m)   # the data set has them
    raw, rows = csv_rows(site)
    got = [(r["sender"], r["id"], r["country"], r["city"], r["opens_human"])
           for r in rows if r["scope"] == "place"]
    want = [(p["sender"], p.get("id", ""), p["country"], p["city"] or "",
             str(p["opens_human"])) for p in by_m + by_s]
    assert got == want, (got, want)
    widths = {len(r) for r in csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))}
    assert widths == {28}, widths   # every row as wide as the header (24 + 4 consent)
    lines = site.run("report", check=0).stdout.decode("utf-8").split("\n")
    at = lines.index("human opens per place (geoip_database)")
    body = lines[at + 2:at + 2 + len(by_s)]
    for line, p in zip(body, by_s):
        f = line.split()
        assert f[-1] == str(p["opens_human"]) and p["country"] in f, (line, p)
        assert line.startswith("  " + p["sender"][:20]), (line, p)
    doc = site.run("report", "--format", "html", check=0).stdout.decode("utf-8")
    h = parse_html(doc)
    check_self_contained(h, doc)
    per_cc = {}
    for p in by_s:
        per_cc[p["country"]] = per_cc.get(p["country"], 0) + p["opens_human"]
    bars = [(a["data-country"], int(a["data-count"])) for t, a in h.tags
            if t == "rect" and a.get("class") == "country-bar"]
    assert bars == sorted(per_cc.items(), key=lambda kv: (-kv[1], kv[0])), bars
    prow = [(a["data-sender"], a["data-country"], a.get("data-city"), int(a["data-count"]))
            for t, a in h.tags if t == "tr" and a.get("class") == "place-row"]
    assert prow == [(p["sender"], p["country"], p["city"], p["opens_human"]) for p in by_s], prow
    assert "<b>Dom" not in doc and any(WEIRD_CITY in t for t in h.texts)
    # export: every event says its place (null when it has none)
    x = json.loads(site.run("export", "--sender", "alice@example.com", check=0).stdout)
    evs = [e for m in x["messages"] for e in m["events"]]
    ids = {m["id"] for m in Ctx.M if m["sender"] == "alice@example.com"}
    assert all("country" in e and "city" in e for e in evs)
    assert sorted((e["country"], e["city"]) for e in evs if e["country"]) == sorted(
        (e["country"], e.get("city")) for e in Ctx.E if e["msg"] in ids and e.get("country"))


@case
def places_absent():
    """Without places (no geoip_database) the reports say nothing of them."""
    site = Site("noplaces")
    M, E, O = dataset()
    site.seed(M, [dict(e, country=None, city=None) for e in E], O)
    got = json.loads(site.run("report", "--format", "json", check=0).stdout)
    assert got["places"] == {"by_sender": [], "by_message": []}, got["places"]
    _, rows = csv_rows(site)
    assert not [r for r in rows if r["scope"] == "place"]
    assert "per place" not in site.run("report", check=0).stdout.decode("utf-8")
    doc = site.run("report", "--format", "html", check=0).stdout.decode("utf-8")
    assert "countries-chart" not in doc and "place-row" not in doc


def table_counts(site):
    return {t: site.count("SELECT count(*) FROM %s" % t)
            for t in ("messages", "message_recipients", "links", "events", "optouts")}


@case
def forget_recipient():
    site, M, E, O = fresh_site("forget-rcpt")
    dave = site.rhash("dave@example.net")
    before = table_counts(site)
    # dave: sole recipient of a2 (no links, no events) and b2 (1 link, 2 events),
    # one of three on b1
    p = site.run("forget", "--recipient", "dave@example.net", check=0)
    out = p.stdout.decode()
    for want in ("messages            2", "message_recipients  3", "links               1",
                 "events              2", "kept: 0 opt-outs"):
        assert want in out, (want, out)
    after = table_counts(site)
    assert after == {"messages": before["messages"] - 2,
                     "message_recipients": before["message_recipients"] - 3,
                     "links": before["links"] - 1, "events": before["events"] - 2,
                     "optouts": before["optouts"]}, (before, after)
    x = json.loads(site.run("export", "--recipient", "dave@example.net", check=0).stdout)
    assert x["messages"] == [] and x["other_events"] == [] and x["optout"] is None, x
    data = site.file_bytes()
    assert dave not in data, "dave's hash is still in the database files"
    for n in (2, 5):
        assert new_id(n).encode() not in data, "message %d's id is still in the files" % n
        assert ("Q%05dABC" % n).encode() not in data
    assert b"https://example.net/dave-only" not in data
    # everything else untouched: b1 keeps its other two recipients and events
    assert site.count("SELECT count(*) FROM message_recipients WHERE message_id = ?",
                      (new_id(4),)) == 2
    for m in M:
        if m["id"] in (new_id(2), new_id(5)):
            continue
        assert site.count("SELECT count(*) FROM events WHERE message_id = ?", (m["id"],)) == \
            sum(1 for e in E if e["msg"] == m["id"]), m["id"]
        assert site.count("SELECT count(*) FROM links WHERE message_id = ?", (m["id"],)) == \
            len(m["links"])
    # forgetting again deletes nothing
    out = site.run("forget", "--recipient", "dave@example.net", check=0).stdout.decode()
    assert "messages            0" in out and "events              0" in out, out


@case
def forget_recipient_keeps_optout():
    site, M, E, O = fresh_site("forget-optout")
    p = site.run("forget", "--recipient", "erin@example.net", check=0)
    out = p.stdout.decode()
    assert "messages            1" in out and "kept: 1 opt-out " in out, out
    assert site.count("SELECT count(*) FROM optouts") == 1
    x = json.loads(site.run("export", "--recipient", "erin@example.net", check=0).stdout)
    assert x["messages"] == [] and x["optout"] is not None, x
    # c1 was erin's alone: its events went with it
    assert site.count("SELECT count(*) FROM events WHERE message_id = ?", (new_id(8),)) == 0


@case
def forget_sender():
    site, M, E, O = fresh_site("forget-sender")
    # consent=optin: consents given to the sender (one withdrawn since by
    # an opt-out), and another sender's, which stays.
    site.run("consent", "--sender", "machines@example.com", "cx1@example.net",
             "cx2@example.net", "--source", "contract 1", check=0)
    site.run("consent", "--sender", "other@example.com", "cx1@example.net", "--source", "c 2",
             check=0)
    site.run("optout", "cx2@example.net", check=0)
    before = table_counts(site)
    p = site.run("forget", "--sender", "MACHINES@example.com", check=0)
    out = p.stdout.decode()
    assert "consents            2" in out, out
    assert site.run("consent", "--list", "--sender", "machines@example.com", check=0).stdout \
        .strip().count(b"\n") == 0, "consents of the forgotten sender are listed"
    for who, others in (("cx1@example.net", 1), ("cx2@example.net", 0)):
        x = json.loads(site.run("export", "--recipient", who, check=0).stdout)
        assert [c["sender"] for c in x["consents"]] == ["other@example.com"] * others, x
    x = json.loads(site.run("export", "--recipient", "cx2@example.net", check=0).stdout)
    assert x["optout"] is not None, x
    mine = [m for m in M if m["sender"] == "machines@example.com"]
    nev = sum(1 for e in E if e["msg"] in {m["id"] for m in mine})
    for want in ("messages            2", "message_recipients  2", "links               1",
                 "events              %d" % nev):
        assert want in out, (want, out)
    after = table_counts(site)
    assert after["messages"] == before["messages"] - 2 and \
        after["events"] == before["events"] - nev, (before, after)
    data = site.file_bytes()
    assert b"machines@example.com" not in data
    assert b"https://m.example/1" not in data
    x = json.loads(site.run("export", "--sender", "machines@example.com", check=0).stdout)
    assert x["messages"] == []
    got = report_json(site)
    assert [s["sender"] for s in got["senders"]] == sorted(
        {m["sender"] for m in M} - {"machines@example.com"}, key=lambda s: s.encode())


@case
def purge():
    site = Site("purge", retention_days=90)
    now = int(time.time())
    old, new = now - 200 * 86400, now - 86400

    def m(n, sent, to):
        return {"id": new_id(100 + n), "queue_id": "P%05d" % n, "message_id": "<p%d@x>" % n,
                "sender": "alice@example.com", "sent": sent, "to": to,
                "links": ["https://p.example/%d" % n]}
    M = [m(1, old, ["old@example.net"]), m(2, old + 10, ["old2@example.net"]),
         m(3, new, ["new@example.net"])]
    E = [{"msg": M[0]["id"], "kind": "open", "time": old + 60, "verdict": "human"},
         {"msg": M[0]["id"], "kind": "click", "link": 1, "time": old + 70, "verdict": "human"},
         {"msg": M[2]["id"], "kind": "open", "time": new + 60, "verdict": "human"},
         # an old event of a message this store does not have
         {"msg": "BBBBBBBBBBBBBBBBBBBBBB", "kind": "open", "time": old, "verdict": "human"},
         {"msg": "CCCCCCCCCCCCCCCCCCCCCC", "kind": "open", "time": new, "verdict": "human"}]
    O = [{"who": "old@example.net", "time": old + 100, "msg": M[0]["id"]}]
    site.seed(M, E, O)
    p = site.run("purge", check=0)
    out = p.stdout.decode()
    for want in ("messages            2", "message_recipients  2", "links               2",
                 "events              3", "kept: 1 opt-out "):
        assert want in out, (want, out)
    assert table_counts(site) == {"messages": 1, "message_recipients": 1, "links": 1,
                                  "events": 2, "optouts": 1}, table_counts(site)
    assert site.count("SELECT count(*) FROM messages WHERE id = ?", (M[2]["id"],)) == 1
    out = site.run("purge", "--vacuum", check=0).stdout.decode()
    assert "messages            0" in out and "vacuumed" in out, out
    # (M[0]'s id stays: the kept opt-out names the message it came from)
    assert M[1]["id"].encode() not in site.file_bytes()
    assert b"https://p.example/1" not in site.file_bytes()


@case
def preview_asks_the_store():
    """preview consults the opt-outs of the configured database, on either
    backend, and says so: an opted-out recipient means untouched."""
    site = Site("preview")
    site.write("policy", "alice@example.com opens clicks footer\n* off\n")
    msg = (b"From: alice@example.com\r\nTo: bob@example.net\r\nSubject: hi\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<html><body><p>Hello <a href=\"https://example.org/x\">x</a></p></body></html>\r\n")

    def preview():
        return subprocess.run([os.path.join(BUILD, "admin/mailbeacon"), "-c", site.conf,
                               "preview", "--from", "alice@example.com", "--to",
                               "bob@example.net"], input=msg, capture_output=True, timeout=60)
    p = preview()
    assert p.returncode == 0 and b"X-Mailbeacon" in p.stdout, (p.returncode, p.stderr)
    site.run("optout", "bob@example.net", check=0)
    p = preview()
    assert p.returncode == 0 and p.stdout == msg, (p.returncode, p.stdout[:200])
    assert b"opted out" in p.stderr, p.stderr


@case
def pg_settings():
    """PostgreSQL only: database_password_file (and its permission check),
    report_database read by report and export but not by forget, and a
    malformed URI or an unknown role stopping the command with the line of
    the setting and exit 1, the password never shown."""
    if not PG_URI:
        return
    site = main_site()
    with open(site.conf) as f:
        conf = f.read()
    d = os.path.join(ROOT, "pg-settings")
    os.makedirs(d)
    for name in ("keys", "hash.key", "policy"):
        shutil.copy(os.path.join(site.dir, name), d)
    conf_path = os.path.join(d, "mailbeacon.conf")

    def run(text, *args):
        with open(conf_path, "w") as f:
            f.write(text)
        p = site.run(*args, conf=conf_path)
        out = p.stdout + p.stderr
        assert not PG_PASSWORD or PG_PASSWORD.encode() not in out, out
        return p
    # the password from a file, not the URI
    bare = re.sub(r"//([^:/@]+):[^@]*@", r"//\1@", site.db)
    assert bare != site.db and PG_PASSWORD not in bare, bare
    pw = os.path.join(d, "db.password")
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, (PG_PASSWORD + "\n").encode())
    os.close(fd)
    with_file = conf.replace(site.db, bare) + "database_password_file = %s\n" % pw
    p = run(with_file, "report", "--format", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["totals"]["messages"] == len(Ctx.M), \
        p.stderr
    os.chmod(pw, 0o644)
    p = run(with_file, "report")
    assert p.returncode != 0 and b"readable by other users" in p.stderr, p.stderr
    os.chmod(pw, 0o600)
    p = run(conf.replace(site.db, bare), "report")   # no password at all
    assert p.returncode == 1 and b"mailbeacon.conf:" in p.stderr, p.stderr
    # report_database: report and export read it, forget writes database
    other = pg_database("pg_settings_replica")
    with_replica = conf + "report_database = %s\n" % other
    with open(conf_path, "w") as f:
        f.write(conf.replace(site.db, other))
    assert site.run("db", "migrate", conf=conf_path).returncode == 0
    p = run(with_replica, "report", "--format", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["totals"]["messages"] == 0, p.stdout[:300]
    p = run(with_replica, "export", "--sender", "alice@example.com")
    assert p.returncode == 0 and json.loads(p.stdout)["messages"] == [], p.stdout[:300]
    p = run(with_replica, "forget", "--sender", "nobody@example.org")
    assert p.returncode == 0, p.stderr
    # a URI libpq cannot read, a role that does not exist: exit 1, the line
    lines = conf.splitlines()
    line_no = 1 + next(i for i, l in enumerate(lines) if l.startswith("database ="))
    for bad in ("postgresql://[bad", re.sub(r"//[^:/@]+:", "//nosuchrole:", site.db)):
        p = run(conf.replace(site.db, bad), "report")
        want = ("mailbeacon.conf:%d: database:" % line_no).encode()
        assert p.returncode == 1 and want in p.stderr, (bad, p.returncode, p.stderr)
        assert bad.encode() not in p.stderr, p.stderr


@case
def same_on_sqlite():
    """PostgreSQL only: every format of report, and export, give the same
    bytes as the same rows in a SQLite store, but for the time they ran."""
    if not PG_URI:
        return  # the SQLite run is the reference this case compares with
    pg = main_site()
    lite = Site("main-sqlite", backend="sqlite")
    # the same hash key: the rows (and export --recipient) hash alike
    lite.hash_key = pg.hash_key
    lite.write("hash.key", b64url(pg.hash_key) + "\n")
    lite.seed(Ctx.M, Ctx.E, Ctx.O)
    stamp = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?Z?")

    def without_time(out):
        # only the line that says when the report was generated may differ
        return [stamp.sub(b"TIME", line) if b"enerated" in line else line
                for line in out.split(b"\n")]
    for args in (["--format", "json"], ["--format", "csv"], ["--format", "table"],
                 ["--format", "html"], ["--format", "json", "--sender", "@example.com"],
                 ["--format", "json", "--sender", WEIRD_SENDER],
                 ["--format", "table", "--sender", "ALICE@Example.com"],
                 ["--format", "json", "--since", "2024-03-10", "--until", "2024-03-12"],
                 ["--format", "json", "--message", new_id(4)]):
        a = without_time(pg.run("report", *args, check=0).stdout)
        b = without_time(lite.run("report", *args, check=0).stdout)
        if a != b:
            diff = next((x, y) for x, y in zip(a + [b""], b + [b""]) if x != y)
            raise AssertionError("report %s: PostgreSQL %r, SQLite %r" % (" ".join(args),
                                                                          *diff))
    for args in (["--recipient", "erin@example.net"], ["--recipient", "dave@example.net"],
                 ["--sender", WEIRD_SENDER], ["--sender", "ALICE@example.com"]):
        # (export says when it was generated too: the two runs may fall
        # on either side of a second)
        a = without_time(pg.run("export", *args, check=0).stdout)
        b = without_time(lite.run("export", *args, check=0).stdout)
        if a != b:
            diff = next((x, y) for x, y in zip(a + [b""], b + [b""]) if x != y)
            raise AssertionError("export %s: PostgreSQL %r, SQLite %r" % (" ".join(args), *diff))


# ---- db status, db migrate ----

def conf_with_database(site, name, database):
    """A copy of the site's configuration naming another database."""
    with open(site.conf) as f:
        text = f.read()
    site.write(name, re.sub(r"(?m)^database = .*$", lambda _: "database = " + database, text))
    return os.path.join(site.dir, name)


def db_lines(p):
    """db status's "name: value" lines; no password in anything it printed."""
    if PG_PASSWORD:
        assert PG_PASSWORD.encode() not in p.stdout + p.stderr, "db printed the password"
    return dict(line.split(": ", 1) for line in p.stdout.decode().splitlines())


def month_text(t):
    return time.strftime("%Y-%m", time.gmtime(t))


@case
def db_status():
    """The backend (never the password), the schema version, and the rows of
    each table as seeded here; on PostgreSQL the monthly partitions of events
    (the milter made this month's and the next: the 2024 rows went to the
    default partition)."""
    site, M, E, O = fresh_site("db_status")
    got = db_lines(site.run("db", "status", check=0))
    want = {"messages": len(M), "message_recipients": sum(len(m["to"]) for m in M),
            "links": sum(len(m["links"]) for m in M), "events": len(E), "optouts": len(O)}
    assert {k: int(got[k]) for k in want} == want, (got, want)
    assert min(want.values()) > 0, want
    if site.pg:
        db = site.db.split("/")[3].split("?")[0]
        assert got["backend"].startswith("postgresql database %s on " % db), got
        assert got["backend"].endswith(" as mbtest"), got
        assert got["schema"] == "version %d (this program: %d)" % ((schema_version(True),) * 2), got
        month = calendar.timegm(time.gmtime()[:2] + (1, 0, 0, 0))
        assert got["events_partitions"] == "2 (oldest %s, newest %s)" % (
            month_text(month), month_text(month + 32 * 86400)), got
    else:
        assert got["backend"] == "sqlite " + site.db, got
        assert got["schema"] == "version %d (this program: %d)" % ((schema_version(False),) * 2), got
        assert "events_partitions" not in got, got
    # one more row of each kind counts
    site.seed([{"id": new_id(900), "queue_id": "S1", "message_id": "<s1@x>",
                "sender": "s@example.com", "sent": ts("2024-03-01T00:00:00"),
                "to": ["s1@example.net", "s2@example.net"], "links": ["https://s.example/"]}],
              [{"msg": new_id(900), "kind": "open", "time": ts("2024-03-01T01:00:00"),
                "verdict": "human"}], [{"who": "s1@example.net", "time": ts("2024-03-02T00:00:00")}])
    got = db_lines(site.run("db", "status", check=0))
    want.update(messages=want["messages"] + 1, links=want["links"] + 1, events=want["events"] + 1,
                optouts=want["optouts"] + 1, message_recipients=want["message_recipients"] + 2)
    assert {k: int(got[k]) for k in want} == want, (got, want)


@case
def db_migrate():
    """migrate creates a schema, says so, then has nothing to do; status
    changes nothing (a database without a schema, or an older one, stays as
    it is); a newer schema is shown by status and refused by migrate."""
    site = Site("db_migrate")
    program = schema_version(site.pg)
    if site.pg:
        database = pg_database("db_migrate_new")
    else:
        database = os.path.join(site.dir, "new.db")
    conf = conf_with_database(site, "new.conf", database)
    p = site.run("db", "status", conf=conf)
    if site.pg:
        got = db_lines(p)
        assert p.returncode == 0, p.stderr
        assert got["schema"] == "none (this program: %d): run 'mailbeacon db migrate'" % program, got
        assert "messages" not in got, got
        assert psql(database, "SELECT to_regclass('mailbeacon_schema') IS NULL;").strip() == "t"
    else:
        # no file: nothing to show, and status does not make one
        assert p.returncode == 2 and b"new.db" in p.stderr, (p.returncode, p.stderr)
        assert not os.path.exists(database)
    p = site.run("db", "migrate", conf=conf, check=0)
    out = p.stdout.decode()
    assert out.endswith(": schema created (version %d)\n" % program), out
    assert PG_PASSWORD is None or PG_PASSWORD not in out + p.stderr.decode()
    got = db_lines(site.run("db", "status", conf=conf, check=0))
    assert got["schema"] == "version %d (this program: %d)" % (program, program), got
    assert got["messages"] == got["events"] == "0", got
    out = site.run("db", "migrate", conf=conf, check=0).stdout.decode()
    assert out.endswith(": schema already at version %d, nothing to do\n" % program), out
    if not site.pg:
        # an older schema (version 3: before the report's indexes) is only
        # shown by status, and brought forward by migrate
        old = os.path.join(site.dir, "old.db")
        con = sqlite3.connect(old, isolation_level=None)
        con.executescript(SCHEMA_V3)
        con.close()
        old_conf = conf_with_database(site, "old.conf", old)
        got = db_lines(site.run("db", "status", conf=old_conf, check=0))
        assert got["schema"] == ("version 3 (this program: %d): run 'mailbeacon db migrate'"
                                 % program), got
        assert site_version(old) == 3
        out = site.run("db", "migrate", conf=old_conf, check=0).stdout.decode()
        assert out == "sqlite %s: schema migrated from version 3 to %d\n" % (old, program), out
        assert site_version(old) == program
    # a schema from the future
    if site.pg:
        psql(database, "UPDATE mailbeacon_schema SET version = 99;")
    else:
        sqlite3.connect(database, isolation_level=None).execute("PRAGMA user_version = 99")
    got = db_lines(site.run("db", "status", conf=conf, check=0))
    assert got["schema"] == "version 99 (this program: %d): newer than this program" % program
    # (on PostgreSQL a database that cannot be opened is the configuration's
    # to fix: 1; a SQLite file that cannot be, a runtime error: 2)
    p = site.run("db", "migrate", conf=conf, check=1 if site.pg else 2)
    assert b"schema version 99 is newer than this program" in p.stderr, p.stderr
    # usage, and a server that is not there (its password is not shown)
    for args in (["db"], ["db", "bogus"], ["db", "status", "extra"], ["db", "migrate", "-x"]):
        p = site.run(*args, check=1)
        assert b"usage: mailbeacon [-c FILE] db status|migrate" in p.stderr, p.stderr
    gone = conf_with_database(site, "gone.conf",
                              "postgresql://u:zz-db-secret@/mb?host=/nonexistent-dir")
    for sub in ("status", "migrate"):
        p = site.run("db", sub, conf=gone, check=1)
        assert b"zz-db-secret" not in p.stdout + p.stderr, p.stderr
        assert b"postgresql database mb on /nonexistent-dir as u" in p.stderr, p.stderr


def site_version(path):
    con = sqlite3.connect(path, isolation_level=None)
    try:
        return con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()


def main():
    global BUILD, ROOT
    if len(sys.argv) < 2:
        print("usage: test_report.py BUILDDIR [CASE...]", file=sys.stderr)
        return 2
    BUILD = os.path.abspath(sys.argv[1])
    only = sys.argv[2:]
    ROOT = tempfile.mkdtemp(prefix="mb-report-")
    passed = failed = 0
    try:
        for fn in CASES:
            if only and fn.__name__ not in only:
                continue
            try:
                fn()
                print("ok %s" % fn.__name__)
                passed += 1
            except Skip as e:
                # Loud: a check that did not run must not pass for one that did.
                msg = "WARNING: SKIPPED %s: %s (this check did NOT run)" % (fn.__name__, e)
                print(msg)
                print(msg, file=sys.stderr)
            except Exception as e:  # noqa: BLE001 -- every failure is reported
                msg = str(e) or type(e).__name__
                if os.environ.get("REPORT_VERBOSE"):
                    traceback.print_exc()
                print("FAIL %s: %s" % (fn.__name__, msg.replace("\n", " ")[:600]))
                failed += 1
            sys.stdout.flush()
    finally:
        if os.environ.get("REPORT_KEEP"):
            print("# kept %s" % ROOT, file=sys.stderr)
        else:
            shutil.rmtree(ROOT, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
