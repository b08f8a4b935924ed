#!/usr/bin/env python3
"""test_geoip: geoip_database and geoip_precision over real HTTP.

A small MaxMind DB is built at test time (make-mmdb.pl) mapping the
documentation ranges to known places, with coordinates, postal codes, ASNs,
time zones and other languages beside them. Requests come through a trusted
proxy (127.0.0.2) naming the client in X-Forwarded-For; the stored rows are
read back (sqlite3, or psql on PostgreSQL) to show the country (and with
city precision the English city name) and nothing finer: no coordinates, no
postal code, no ASN, no full address, anywhere in the database. A missing,
garbage or cut-short database file stops mailbeacond at start with a message
naming it; at SIGHUP the previous one is kept and the reason logged, and a
good new file replaces it.

    test_geoip.py --build BUILD [--pg-uri URI --psql PSQL] [CASE...]

With --pg-uri the beacon cases run on that PostgreSQL database instead of
SQLite. Prints "ok NAME" / "FAIL NAME: why", then "N passed, M failed".
"""
import argparse
import email
import email.policy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "beacon"))
import beaconlib as bl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = "127.0.0.2"
H_UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1"}

# What the test database holds beside the country and the city: none of it
# may reach the store.
FINER = ["45.7485", "4.8467", "69007", "50.9333", "50667", "-23.5475", "01310-100",
         "64500", "64502", "64503", "GeoTest", "Europe/Paris", "Europe/Berlin",
         "America/Sao_Paulo", "France", "Germany", "Brazil", "(fr)", "(pt)", "K\u00f6ln",
         "2996944", "3017382"]
# The full client addresses the tests send: never stored.
FULL = ["192.0.2.77", "198.51.100.20", "2001:db8:5:6::7", "203.0.113.9", "192.0.2.78"]
EVENT_COLUMNS = {"id", "message_id", "kind", "link", "time", "ip_masked", "client_class",
                 "verdict", "dnt", "recipient_hash", "country", "city"}


class Ctx:
    def __init__(self, args, root, report):
        self.build = args.build
        self.pg_uri = args.pg_uri
        self.psql = args.psql
        self.root = root
        self.report = report
        self.mmdb = {}
        for variant in ("first", "second"):
            path = os.path.join(root, "%s.mmdb" % variant)
            subprocess.run(["perl", os.path.join(HERE, "make-mmdb.pl"), path, variant],
                           check=True, timeout=120)
            self.mmdb[variant] = path
        self.n = 0

    def site(self, settings, api_token=None, create=True):
        self.n += 1
        db = []
        if self.pg_uri:
            db = [("database", self.pg_uri)]
        s = bl.Site(self.build, self.root, "site%d" % self.n,
                    settings=[("trusted_proxies", PROXY + "/32")] + settings + db,
                    api_token=api_token)
        if self.pg_uri:
            s.settings = [kv for kv in s.settings if kv != ("database", "mb.db")]
            s.write_conf()
        if create and self.pg_uri:
            # The schema, as the milter makes it at start.
            p = subprocess.run([s.tool("milter"), "-n", "-c", s.conf],
                               capture_output=True, text=True, timeout=60)
            if p.returncode != 0:
                raise RuntimeError("mailbeacon-milter -n: %s" % p.stderr.strip())
        elif create:
            s.create_store()
        return s

    def message(self, site):
        m = site.make_message(record=not self.pg_uri)
        if self.pg_uri:
            # The rows the milter writes (beaconlib's record, for SQLite).
            sql = ("INSERT INTO messages (id, queue_id, message_id_header, sender, sasl_login,"
                   " recipient_count, sent, words, link_count, subject) VALUES"
                   " ('%s', 'Q%s', '<%s@test.example>', '%s', NULL, %d, %d,"
                   " 'opens clicks footer', %d, NULL);" % (m.msgid, m.msgid[:12], m.msgid,
                                                           bl.SENDER, len(m.to), m.sent,
                                                           len(m.clicks)))
            for a in m.to:
                sql += ("INSERT INTO message_recipients (message_id, recipient_hash) VALUES"
                        " ('%s', '\\x%s');" % (m.msgid, site.recipient_hash(a).hex()))
            for c in m.clicks:
                sql += ("INSERT INTO links (message_id, num, url) VALUES ('%s', %d, '%s');"
                        % (m.msgid, c.num, c.dest.split("?")[0].replace("'", "''")))
            self.psql_rows(sql)
        return m

    def psql_rows(self, sql):
        p = subprocess.run([self.psql, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                            "-d", self.pg_uri, "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("psql: %s" % p.stderr.strip())
        return [line for line in p.stdout.splitlines() if line]

    def events(self, site, msgid):
        """The message's event rows, every column, as dicts."""
        if self.pg_uri:
            return [json.loads(r) for r in self.psql_rows(
                "SELECT row_to_json(e) FROM (SELECT * FROM events WHERE message_id = '%s'"
                " ORDER BY id) e" % msgid)]
        return site.query("SELECT * FROM events WHERE message_id = ? ORDER BY id", (msgid,))

    def everything(self, site):
        """All the database holds, as text: every table's rows (PostgreSQL),
        or the SQLite dump and the raw bytes of the file and its WAL."""
        if self.pg_uri:
            tables = self.psql_rows("SELECT tablename FROM pg_tables WHERE schemaname ="
                                    " current_schema()")
            text = ""
            for t in tables:
                text += "\n".join(self.psql_rows("SELECT t::text FROM %s t" % t)) + "\n"
            return text
        con = site.connect_db()
        try:
            text = "\n".join(con.iterdump())
        finally:
            con.close()
        for suffix in ("", "-wal"):
            try:
                with open(site.db + suffix, "rb") as f:
                    text += f.read().decode("latin-1")
            except OSError:
                pass
        return text

    def reset(self):
        """An empty PostgreSQL database for the next site."""
        if self.pg_uri:
            self.psql_rows("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


def via_proxy(port, path, client, extra=None, method="GET"):
    h = dict(H_UA)
    h["X-Forwarded-For"] = client
    h.update(extra or {})
    return bl.request(port, method, path, h, source=PROXY)


def expect(report, name, cond, why):
    if cond:
        report.ok(name)
    else:
        report.fail(name, why)
    return cond


def check_nothing_finer(ctx, name, site, extra_forbidden=()):
    text = ctx.everything(site)
    found = [s for s in FINER + FULL + list(extra_forbidden) if s in text]
    expect(ctx.report, name, not found, "the database holds %r" % found)


def case_country(ctx):
    """geoip_precision = country (the default): the ISO code only."""
    ctx.reset()
    site = ctx.site([("geoip_database", ctx.mmdb["first"])], api_token="t" * 32)
    b = bl.Beacon(site).start()
    try:
        m = ctx.message(site)
        r1 = via_proxy(site.port, m.pixel, "203.0.113.9, 192.0.2.77")   # the proxy names it last
        r2 = via_proxy(site.port, m.clicks[0].path, "198.51.100.20")
        r3 = via_proxy(site.port, m.pixel, "2001:db8:5:6::7")
        r4 = via_proxy(site.port, m.pixel, "10.20.30.40")                 # not in the database
        # Not from a trusted proxy: its X-Forwarded-For is not believed.
        r5 = bl.request(site.port, "GET", m.pixel, dict(H_UA, **{"X-Forwarded-For": "192.0.2.77"}))
        r6 = via_proxy(site.port, m.pixel, "192.0.2.78", {"Sec-GPC": "1"})   # counted, not attributed
        statuses = [r.status for r in (r1, r2, r3, r4, r5, r6)]
        expect(ctx.report, "country-responses", statuses == [200, 302, 200, 200, 200, 200],
               "statuses %r" % statuses)
        rows = ctx.events(site, m.msgid)
        got = [(e["kind"], e["ip_masked"], e["country"], e["city"]) for e in rows]
        want = [("open", "192.0.2.0/24", "FR", None),
                ("click", "198.51.100.0/24", "DE", None),
                ("open", "2001:db8:5::/48", "BR", None),
                ("open", "10.20.30.0/24", None, None),
                ("open", "127.0.0.0/24", None, None),
                ("open", None, None, None)]
        expect(ctx.report, "country-rows", got == want, "rows %r, want %r" % (got, want))
        cols = set(rows[0].keys()) if rows else set()
        expect(ctx.report, "country-columns", cols == EVENT_COLUMNS,
               "events has columns %r" % sorted(cols ^ EVENT_COLUMNS))
        check_nothing_finer(ctx, "country-nothing-finer", site,
                            extra_forbidden=["Lyon", "Cologne", "S\u00e3o Paulo"])
        page = bl.request(site.port, "GET", "/privacy").body.decode()
        expect(ctx.report, "country-privacy-page",
               "records the country your network is in" in page and "city" not in page,
               "the privacy page does not say the country alone is recorded")
        api = bl.request(site.port, "GET", "/api/v1/events",
                         {"Authorization": "Bearer " + "t" * 32}).body.decode()
        lines = [json.loads(x) for x in api.splitlines()]
        places = [(x.get("country"), "city" in x) for x in lines]
        expect(ctx.report, "country-api-lines",
               places == [("FR", False), ("DE", False), ("BR", False), (None, False),
                          (None, False), (None, False)], "API places %r" % places)
    finally:
        b.stop()


def case_city(ctx):
    """geoip_precision = city: the English name beside the ISO code."""
    ctx.reset()
    site = ctx.site([("geoip_database", ctx.mmdb["first"]), ("geoip_precision", "city")],
                    api_token="u" * 32)
    b = bl.Beacon(site).start()
    try:
        m = ctx.message(site)
        for client in ("192.0.2.77", "198.51.100.20", "2001:db8:5:6::7", "203.0.113.9"):
            via_proxy(site.port, m.pixel, client)
        rows = ctx.events(site, m.msgid)
        got = [(e["country"], e["city"]) for e in rows]
        want = [("FR", "Lyon"), ("DE", "Cologne"), ("BR", "S\u00e3o Paulo"), ("NZ", None)]
        expect(ctx.report, "city-rows", got == want, "rows %r, want %r" % (got, want))
        check_nothing_finer(ctx, "city-nothing-finer", site)
        page = bl.request(site.port, "GET", "/privacy").body.decode()
        expect(ctx.report, "city-privacy-page",
               "records the city and country your network is in" in page,
               "the privacy page does not say the city is recorded")
        api = bl.request(site.port, "GET", "/api/v1/events",
                         {"Authorization": "Bearer " + "u" * 32}).body.decode()
        lines = [json.loads(x) for x in api.splitlines()]
        places = [(x.get("country"), x.get("city")) for x in lines]
        expect(ctx.report, "city-api-lines", places == want, "API places %r" % places)
        # mailbeacon sync copies them into another host's store (SQLite),
        # through the same line format.
        other = bl.Site(ctx.build, ctx.root, "sync%d" % ctx.n)
        other.create_store()
        token = os.path.join(other.dir, "remote.token")
        bl.write_private(token, "u" * 32 + "\n")
        p = subprocess.run([other.tool("admin"), "-c", other.conf, "sync", "--from",
                            "http://127.0.0.1:%d" % site.port, "--token-file", token],
                           capture_output=True, text=True, timeout=120)
        synced = [(e["country"], e["city"]) for e in
                  other.query("SELECT country, city FROM events WHERE message_id = ?"
                              " ORDER BY id", (m.msgid,))]
        expect(ctx.report, "city-sync", p.returncode == 0 and synced == want,
               "sync exit %d (%s), rows %r" % (p.returncode, p.stderr.strip(), synced))
        # The report counts the human opens per place, and export shows
        # each event's.
        p = subprocess.run([site.tool("admin"), "-c", site.conf, "report", "--format", "json",
                            "--message", m.msgid], capture_output=True, text=True, timeout=120)
        got = json.loads(p.stdout)["places"]["by_message"] if p.returncode == 0 else p.stderr
        expect(ctx.report, "city-report",
               got == [{"sender": bl.SENDER, "id": m.msgid, "country": c, "city": t,
                        "opens_human": 1} for c, t in sorted(want, key=lambda x: (x[0], x[1] or ""))],
               "report places %r" % (got,))
        p = subprocess.run([site.tool("admin"), "-c", site.conf, "export", "--sender", bl.SENDER],
                           capture_output=True, text=True, timeout=120)
        evs = [e for x in (json.loads(p.stdout)["messages"] if p.returncode == 0 else [])
               for e in x["events"]]
        expect(ctx.report, "city-export",
               [(e["country"], e["city"]) for e in evs] == want,
               "export events %r (%s)" % ([(e.get("country"), e.get("city")) for e in evs],
                                          p.stderr.strip()))
        # The footer of a message says so too (preview renders it as the
        # milter does).
        text = footer_of(site)
        expect(ctx.report, "city-footer",
               "(and the city and country they come from) are recorded" in text,
               "the footer does not say the city is recorded")
    finally:
        b.stop()


def case_off(ctx):
    """Without geoip_database nothing changes: no place, no notice."""
    ctx.reset()
    site = ctx.site([])
    b = bl.Beacon(site).start()
    try:
        m = ctx.message(site)
        via_proxy(site.port, m.pixel, "192.0.2.77")
        rows = ctx.events(site, m.msgid)
        got = [(e["ip_masked"], e["country"], e["city"]) for e in rows]
        expect(ctx.report, "off-rows", got == [("192.0.2.0/24", None, None)], "rows %r" % got)
        page = bl.request(site.port, "GET", "/privacy").body.decode()
        text = footer_of(site)
        expect(ctx.report, "off-notices",
               "your network is in" not in page and "they come from" not in text,
               "the privacy page or the footer speaks of a place")
    finally:
        b.stop()


def footer_of(site):
    """The HTML and text of a message as the milter would send it."""
    to = ["footer@example.net"]
    rc, out, err = site.preview(to, bl.html_mail(["https://example.org/"], to))
    if rc != 0:
        raise RuntimeError("mailbeacon preview: %s" % err.strip())
    msg = email.message_from_bytes(out, policy=email.policy.compat32)
    return "".join(part.get_payload(decode=True).decode("utf-8", "replace")
                   for part in msg.walk() if not part.is_multipart())


def start_fails(ctx, site, args=()):
    p = subprocess.run([site.tool("beacon"), "-c", site.conf, "-f"] + list(args),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stderr


def case_start_errors(ctx):
    """A missing, garbage or cut-short file stops mailbeacond at start."""
    ctx.reset()
    garbage = os.path.join(ctx.root, "garbage.mmdb")
    with open(garbage, "wb") as f:
        f.write(b"this is not a MaxMind database\n" * 100)
    short = os.path.join(ctx.root, "short.mmdb")
    with open(ctx.mmdb["first"], "rb") as f:
        data = f.read()
    with open(short, "wb") as f:
        f.write(data[:len(data) // 2])
    missing = os.path.join(ctx.root, "missing.mmdb")
    for name, path, reason in (("missing", missing, "No such file or directory"),
                               ("garbage", garbage, "not a MaxMind DB"),
                               ("short", short, "not a MaxMind DB")):
        site = ctx.site([("geoip_database", path)])
        for args in ((), ("-n",)):
            rc, err = start_fails(ctx, site, args)
            expect(ctx.report, "start-%s%s" % (name, "-check" if args else ""),
                   rc != 0 and path in err and reason in err and "geoip_database" in err,
                   "exit %d, stderr %r" % (rc, err.strip()))
    site = ctx.site([("geoip_precision", "town")], create=False)
    rc, err = start_fails(ctx, site, ("-n",))
    expect(ctx.report, "start-bad-precision", rc != 0 and "geoip_precision" in err,
           "exit %d, stderr %r" % (rc, err.strip()))


def case_reload(ctx):
    """SIGHUP reopens the file; a bad or missing one keeps the old, logged."""
    ctx.reset()
    live = os.path.join(ctx.root, "live.mmdb")
    shutil.copyfile(ctx.mmdb["first"], live)
    site = ctx.site([("geoip_database", live)])
    b = bl.Beacon(site).start()
    log = os.path.join(site.dir, "beacon.log")

    def hup_and_wait(marker):
        before = open(log, "rb").read().count(marker)
        os.kill(b.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if open(log, "rb").read().count(marker) > before:
                return True
            time.sleep(0.05)
        return False

    def country_now():
        m = ctx.message(site)
        via_proxy(site.port, m.pixel, "192.0.2.77")
        rows = ctx.events(site, m.msgid)
        return rows[-1]["country"] if rows else "no event"

    try:
        expect(ctx.report, "reload-before", country_now() == "FR", "not FR before reload")
        # Garbage copied over the file in place (as cp does): the running
        # beacon reads its own copy, and the reload keeps it.
        with open(live, "r+b") as f:
            f.truncate(0)
            f.write(b"garbage\n" * 64)
        logged = hup_and_wait(b"keeping the previous one")
        expect(ctx.report, "reload-garbage-logged", logged,
               "no 'keeping the previous one' in the log: %r" % site.log_tail(3))
        text = open(log, "rb").read().decode("utf-8", "replace")
        expect(ctx.report, "reload-garbage-names-file", live in text and "not a MaxMind DB" in text,
               "the log does not name the file and the reason: %r" % site.log_tail(3))
        expect(ctx.report, "reload-garbage-kept", b.alive() and country_now() == "FR",
               "the previous database is not in use after a bad reload")
        os.unlink(live)
        logged = hup_and_wait(b"keeping the previous one")
        expect(ctx.report, "reload-missing-kept",
               logged and b.alive() and country_now() == "FR",
               "a missing file at reload: logged %s, alive %s" % (logged, b.alive()))
        # The update: a new file with 192.0.2.0/24 moved to Italy.
        shutil.copyfile(ctx.mmdb["second"], live)
        reloaded = hup_and_wait(b"reloaded geoip_database")
        expect(ctx.report, "reload-update", reloaded and country_now() == "IT",
               "the new file is not in use after SIGHUP")
    finally:
        b.stop()


CASES = [("country", case_country), ("city", case_city), ("off", case_off),
         ("start_errors", case_start_errors), ("reload", case_reload)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--pg-uri")
    ap.add_argument("--psql", default="psql")
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    bl.install_signal_handlers()
    report = bl.Report()
    root = tempfile.mkdtemp(prefix="mb-geoip-")
    keep = os.environ.get("GEOIP_KEEP") == "1"
    try:
        ctx = Ctx(args, root, report)
        for name, f in CASES:
            if args.cases and name not in args.cases:
                continue
            try:
                f(ctx)
            except Exception as e:  # a broken case fails, the others still run
                report.fail(name, "%s: %s" % (type(e).__name__, e))
        bl.report_sanitizers(report, root)
    finally:
        status = bl.finish(report, root, keep)
    return status


if __name__ == "__main__":
    sys.exit(main())
