#!/usr/bin/env python3
"""crash.py: kill -9 of mailbeacond under load; every acknowledged event
must be in the store afterwards, and the store must be intact.

    crash.py --build DIR [--requests 3000] [--connections 20] [--kill-after 1500] [--keep]

1000 messages (made by `mailbeacon preview`, recorded in a fresh store), each
with a pixel and two links: 3000 distinct requests, each identified in the
events table by (message id, kind, link number). 20 threads send them in a
shuffled order over keep-alive connections; the thread that receives the
1500th 200/302 sends SIGKILL to the beacon. Every request that got its
200/302 (the acknowledged ones) must have its event row; rows for requests
whose answer was lost are fine, two rows for one request are not. Then
PRAGMA integrity_check must say ok, and the beacon must start again on the
store and record. Loopback only; bounded by --deadline seconds.

Prints "ok NAME" / "FAIL NAME: why" per check, then "N passed, M failed".
"""
import argparse
import atexit
import concurrent.futures
import http.client
import os
import random
import signal
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beaconlib as bl  # noqa: E402

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("top_builddir") or
                    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--kill-after", type=int, default=1500)
    ap.add_argument("--deadline", type=float, default=180)
    ap.add_argument("--keep", action="store_true", default=bool(os.environ.get("BEACON_KEEP")))
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    report = bl.Report()
    names = ["crash-load", "crash-integrity", "crash-durability", "crash-no-duplicates", "crash-restart"]
    binary = os.path.join(build, "beacon", "mailbeacond")
    if not os.access(binary, os.X_OK):
        for n in names:
            report.fail(n, "%s is not built" % binary)
        return report.summary()
    bl.install_signal_handlers()
    atexit.register(bl.stop_all)
    root = tempfile.mkdtemp(prefix="mb-crash-")
    print("# work directory %s" % root)
    try:
        run(args, build, root, report, names)
        bl.stop_all()
        bl.report_sanitizers(report, root)
    finally:
        status = bl.finish(report, root, args.keep)
    return status


def run(args, build, root, report, names):
    t_start = time.monotonic()
    try:
        site = bl.Site(build, root, "crash", [
            ("beacon_rate_limit", "100000"),
            ("beacon_max_connections", "1000"),
            ("beacon_timeout", "10")])
        site.create_store()
        n_msgs = (args.requests + 2) // 3
        sent = int(time.time()) - 7200
        links = ["https://example.org/crash/a?x=1", "https://example.org/crash/b#f"]
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            msgs = list(ex.map(lambda i: site.make_message(links, sent=sent, record=False), range(n_msgs)))
        site.record(msgs)
    except Exception as e:
        for n in names:
            report.fail(n, "setup: %s" % e)
        return
    reqs = []
    for m in msgs:
        reqs.append((m.msgid, "open", None, m.pixel))
        for c in m.clicks:
            reqs.append((m.msgid, "click", c.num, c.path))
    reqs = reqs[:args.requests]
    random.Random(4).shuffle(reqs)
    print("# %d messages, %d requests, setup %.1fs" % (len(msgs), len(reqs), time.monotonic() - t_start))

    beacon = bl.Beacon(site)
    try:
        beacon.start()
    except Exception as e:
        for n in names:
            report.fail(n, "start: %s" % e)
        return
    pid = beacon.proc.pid

    lock = threading.Lock()
    state = {"next": 0, "acked": [], "killed_at": None, "other": {}, "errors_before_kill": [],
             "t_first": None}
    killed = threading.Event()
    deadline = time.monotonic() + args.deadline

    def take():
        with lock:
            if state["next"] >= len(reqs) or killed.is_set() or time.monotonic() > deadline:
                return None
            r = reqs[state["next"]]
            state["next"] += 1
            return r

    def worker():
        conn = None
        while True:
            req = take()
            if req is None:
                break
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=20)
            try:
                conn.request("GET", req[3], headers={"Host": bl.HOST, "User-Agent": UA})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = None
                if killed.is_set():
                    break
                with lock:
                    state["errors_before_kill"].append("%s: %s" % (type(e).__name__, e))
                continue
            with lock:
                if status in (200, 302):
                    state["acked"].append(req)
                    if state["t_first"] is None:
                        state["t_first"] = time.monotonic()
                    if len(state["acked"]) == args.kill_after and not killed.is_set():
                        os.kill(pid, signal.SIGKILL)
                        state["killed_at"] = time.monotonic()
                        killed.set()
                else:
                    state["other"][status] = state["other"].get(status, 0) + 1
        if conn is not None:
            conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic() + 30))
    beacon.kill9()
    beacon.stop()
    acked = state["acked"]
    if state["killed_at"]:
        rate = args.kill_after / max(1e-6, state["killed_at"] - t0)
        print("# killed after %d acknowledged responses in %.2fs (%.0f requests/s over %d connections); "
              "%d acknowledged in all, %d of %d requests sent" %
              (args.kill_after, state["killed_at"] - t0, rate, args.connections, len(acked),
               state["next"], len(reqs)))
    why = []
    if not state["killed_at"]:
        why.append("the beacon was never killed: only %d acknowledged (other statuses %s, errors %s)" %
                   (len(acked), state["other"], state["errors_before_kill"][:3]))
    if state["other"]:
        why.append("statuses other than 200/302: %s" % state["other"])
    if state["errors_before_kill"]:
        why.append("%d connection errors before the kill, e.g. %s" %
                   (len(state["errors_before_kill"]), state["errors_before_kill"][0]))
    if state["killed_at"] and state["next"] >= len(reqs):
        why.append("all requests were sent before the kill took effect: not mid-run")
    if why:
        report.fail("crash-load", "; ".join(why))
    else:
        report.ok("crash-load", "%d acknowledged before and around the kill" % len(acked))

    # The store after the crash (opening it recovers the WAL).
    try:
        con = site.connect_db()
        ic = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
        rows = con.execute("SELECT message_id, kind, link, count(*) FROM events GROUP BY 1, 2, 3").fetchall()
        con.close()
    except Exception as e:
        for n in names[1:]:
            report.fail(n, "cannot read the store: %s" % e)
        return
    if ic == ["ok"]:
        report.ok("crash-integrity")
    else:
        report.fail("crash-integrity", "integrity_check: %s" % "; ".join(ic[:5]))
    have = {(r[0], r[1], r[2]): r[3] for r in rows}
    missing = [a for a in acked if (a[0], a[1], a[2]) not in have]
    total = sum(have.values())
    if missing:
        report.fail("crash-durability", "%d of %d acknowledged requests have no event row, e.g. %s" %
                    (len(missing), len(acked), ["%s %s %s" % m[:3] for m in missing[:3]]))
    else:
        report.ok("crash-durability", "%d acknowledged, %d rows (%d for answers lost in the crash)" %
                  (len(acked), total, total - len(acked)))
    dups = {k: n for k, n in have.items() if n > 1}
    known = {(r[0], r[1], r[2]) for r in reqs}
    strays = [k for k in have if k not in known]
    if dups or strays:
        report.fail("crash-no-duplicates", "%d requests recorded more than once (e.g. %s), %d rows for no request" %
                    (len(dups), list(dups.items())[:2], len(strays)))
    else:
        report.ok("crash-no-duplicates")

    # The beacon starts again on the crashed store and records.
    try:
        beacon = bl.Beacon(site).start()
        todo = [r for r in reqs if (r[0], r[1], r[2]) not in have][:5]
        why = []
        for r in todo:
            resp = bl.request(site.port, "GET", r[3], {"User-Agent": UA})
            if resp.status not in (200, 302):
                why.append("status %s" % resp.status)
        con = site.connect_db()
        for r in todo:
            n = con.execute("SELECT count(*) FROM events WHERE message_id = ? AND kind = ? AND link IS ?",
                            r[:3]).fetchone()[0]
            if n != 1:
                why.append("%d rows for a request after the restart" % n)
        con.close()
        st = beacon.stop()
        if st != 0:
            why.append("exit status %r after SIGTERM" % st)
        if why:
            report.fail("crash-restart", "; ".join(why[:5]))
        else:
            report.ok("crash-restart", "%d new events after the restart" % len(todo))
    except Exception as e:
        report.fail("crash-restart", str(e))
    return


if __name__ == "__main__":
    sys.exit(main())
