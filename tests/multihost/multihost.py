#!/usr/bin/env python3
"""multihost.py: the reader's side and the judge of run-multihost.sh.

  multihost.py hit --sink DIR --beacons PORT PORT... --plan OUT --messages N
      finds the pixel and click URLs in every message at the sink, fetches
      them following a fixed plan (how many opens and clicks, of a person or
      a machine, by each message's sequence number), spreading the requests
      over the beacons in turn; writes the plan with what each hit should
      count as to OUT.
  multihost.py check --report JSON --plan PLAN --normalised OUT
      the report shows every message of the plan exactly once, with exactly
      the planned opens and clicks (per verdict, per link) and per-sender
      totals; writes the report without what differs between runs (random
      ids, queue ids, send and open times) to OUT.
  multihost.py compare A B
      two normalised reports are equal.
"""
import argparse
import concurrent.futures
import email
import json
import os
import re
import sys
import urllib.error
import urllib.request

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from sinkcheck import split_sink, strip_postfix_received, header_value  # noqa: E402

BEACON_URL = "https://t.example.com"
# Request shapes as the beacon suite (tests/beacon/test_beacon.py) uses them:
# Thunderbird's pixel fetch is a person's open, Apple Mail Privacy
# Protection's is a machine's; a browser's click is a person's (the beacons
# run with scanner_window = 0), curl's a scanner's.
READER_OPEN = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 "
                             "Thunderbird/115.6.0", "Accept": "image/avif,image/webp,*/*"}
MACHINE_OPEN = {"User-Agent": "Mozilla/5.0", "Accept": "*/*",
                "Accept-Language": "en-US,en;q=0.9", "Accept-Encoding": "gzip, deflate"}
READER_CLICK = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                              "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
                "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
SCANNER_CLICK = {"User-Agent": "curl/8.4.0", "Accept": "*/*"}


def plan_for(seq):
    """What is done with message seq: counts of each kind of hit, and which
    of its links is clicked (one link a message: several links of one
    message within a second would make the clicks a scanner's)."""
    return {"opens_human": seq % 3, "opens_machine": 1 if seq % 5 == 0 else 0,
            "clicks_human": seq % 4, "clicks_scanner": 1 if seq % 7 == 0 else 0,
            "link": seq % 3}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def fetch(port, path, headers):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers)
    try:
        with OPENER.open(req, timeout=20) as r:
            return r.status, r.headers.get("Location"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location"), b""


def sink_messages(sink):
    """(seq, Message-ID, sender, HTML part) of every message at the sink."""
    out = []
    for name in sorted(os.listdir(sink)):
        if not name.startswith("m."):
            continue
        with open(os.path.join(sink, name), "rb") as f:
            _, msg = strip_postfix_received(split_sink(f.read())[1])
        seq = int((header_value(msg, "X-Test-Seq") or "0").strip())
        msgid = (header_value(msg, "Message-ID") or "").strip()
        html = None
        for part in email.message_from_bytes(msg).walk():
            if part.get_content_type() == "text/html":
                html = part.get_payload(decode=True).decode("utf-8", "replace")
        out.append((seq, msgid, html))
    return out


def cmd_hit(a):
    msgs = sink_messages(a.sink)
    problems = []
    if len(msgs) != a.messages:
        problems.append("%d messages at the sink, not %d" % (len(msgs), a.messages))
    seqs = [m[0] for m in msgs]
    if len(set(seqs)) != len(seqs):
        problems.append("a message arrived twice")
    hits = []      # (msgid, kind, path, headers)
    plan = {}
    for seq, msgid, html in sorted(msgs):
        pixel = re.findall(re.escape(BEACON_URL) + r'(/o/[^"\'\s<>]+)', html or "")
        clicks = re.findall(re.escape(BEACON_URL) + r'(/c/[^"\'\s<>]+)', html or "")
        if len(pixel) != 1 or not clicks:
            problems.append("message %d (%s) is not tracked: %d pixels, %d links"
                            % (seq, msgid, len(pixel), len(clicks)))
            continue
        p = plan_for(seq)
        # The rewriter numbers a message's links in the order of the HTML.
        num = p["link"] % len(clicks) + 1
        link = clicks[num - 1]
        plan[msgid] = dict(p, seq=seq, link_path=link, link_num=num)
        hits += [(msgid, "open", pixel[0], READER_OPEN)] * p["opens_human"]
        hits += [(msgid, "open", pixel[0], MACHINE_OPEN)] * p["opens_machine"]
        hits += [(msgid, "click", link, READER_CLICK)] * p["clicks_human"]
        hits += [(msgid, "click", link, SCANNER_CLICK)] * p["clicks_scanner"]

    # Hit i goes to beacon i modulo their number.
    def one(i_hit):
        i, (msgid, kind, path, headers) = i_hit
        port = a.beacons[i % len(a.beacons)]
        return i, port, kind, msgid, fetch(port, path, headers)

    per_beacon = {p: 0 for p in a.beacons}
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        for i, port, kind, msgid, (status, location, body) in pool.map(one, enumerate(hits)):
            want = 200 if kind == "open" else 302
            if status != want:
                problems.append("hit %d (%s of %s) on port %d: HTTP %d, not %d"
                                % (i, kind, msgid, port, status, want))
                continue
            per_beacon[port] += 1
            if kind == "click":
                dest = plan[msgid].setdefault("link_url", location)
                if dest != location:
                    problems.append("%s: one link redirected to %s and %s" % (msgid, dest, location))
    for problem in problems[:10]:
        print("multihost: " + problem, file=sys.stderr)
    with open(a.plan, "w") as f:
        json.dump(plan, f, indent=1, sort_keys=True)
    print("# %d hits on %s" % (len(hits), ", ".join("port %d: %d" % kv for kv in per_beacon.items())))
    if any(n == 0 for n in per_beacon.values()):
        problems.append("a beacon got no hit")
    return 1 if problems else 0


STRIP = ("id", "queue_id", "sent", "first_human_open", "time_to_open_seconds")
RUN_DEPENDENT_TOTALS = ("first_sent", "last_sent")


def normalise(report):
    """What must be equal whichever backend and run: messages by their
    Message-ID header, without ids, queue ids and times; days summed."""
    def counts(c):
        return {k: v for k, v in c.items()
                if k not in RUN_DEPENDENT_TOTALS and k not in ("sender", "messages_detail")}
    senders = {}
    for s in report["senders"]:
        msgs = {}
        for m in s["messages_detail"]:
            msgs.setdefault(m["message_id"], []).append({k: v for k, v in m.items() if k not in STRIP})
        senders[s["sender"]] = {"totals": counts(s), "messages": msgs}
    return {"totals": counts(report["totals"]), "senders": senders,
            "days": {"opens_human": sum(d["opens_human"] for d in report["days"]),
                     "clicks_human": sum(d["clicks_human"] for d in report["days"])}}


def cmd_check(a):
    with open(a.report) as f:
        report = json.load(f)
    with open(a.plan) as f:
        plan = json.load(f)
    problems = []
    seen = {}
    for s in report["senders"]:
        for m in s["messages_detail"]:
            seen.setdefault(m["message_id"], []).append((s["sender"], m))
    for msgid in sorted(set(seen) - set(plan)):
        problems.append("%s is in the report but was not sent" % msgid)
    for msgid in sorted(set(plan) - set(seen)):
        problems.append("%s is missing from the report" % msgid)
    totals = {"messages": 0, "opens_human": 0, "opens_machine": 0, "clicks_human": 0,
              "clicks_scanner": 0}
    for msgid, p in sorted(plan.items()):
        rows = seen.get(msgid, [])
        if len(rows) > 1:
            problems.append("%s appears %d times" % (msgid, len(rows)))
        if len(rows) != 1:
            continue
        sender, m = rows[0]
        for k in totals:
            totals[k] += 1 if k == "messages" else p[k]
        got = (m["opens"]["human"], m["opens"]["machine"], m["clicks"]["human"], m["clicks"]["scanner"])
        want = (p["opens_human"], p["opens_machine"], p["clicks_human"], p["clicks_scanner"])
        if got != want:
            problems.append("%s: opens human/machine, clicks human/scanner %s, not %s"
                            % (msgid, got, want))
        for link in m["links"]:
            lw = (p["clicks_human"], p["clicks_scanner"]) if link["num"] == p["link_num"] else (0, 0)
            lg = (link["human_clicks"], link["scanner_clicks"])
            if lg != lw:
                problems.append("%s: link %d (%s) clicks human/scanner %s, not %s"
                                % (msgid, link["num"], link["url"], lg, lw))
            # The report names the link by what the store keeps of its URL
            # (store_link_urls): a beginning of where the click led.
            if link["num"] == p["link_num"] and p.get("link_url") is not None and \
                    not p["link_url"].startswith(link["url"]):
                problems.append("%s: link %d is %s in the report, the beacon redirected to %s"
                                % (msgid, link["num"], link["url"], p["link_url"]))
        if p["link_num"] not in [x["num"] for x in m["links"]]:
            problems.append("%s: the clicked link %d is not in the report" % (msgid, p["link_num"]))
    t = report["totals"]
    got = {"messages": t["messages"], "opens_human": t["opens"]["human"],
           "opens_machine": t["opens"]["machine"], "clicks_human": t["clicks"]["human"],
           "clicks_scanner": t["clicks"]["scanner"]}
    if got != totals:
        problems.append("totals %s, not %s" % (got, totals))
    for s in report["senders"]:
        sums = {"messages": len(s["messages_detail"]),
                "opens": sum(m["opens"]["human"] for m in s["messages_detail"]),
                "clicks": sum(m["clicks"]["human"] for m in s["messages_detail"])}
        said = {"messages": s["messages"], "opens": s["opens"]["human"], "clicks": s["clicks"]["human"]}
        if sums != said:
            problems.append("sender %s: totals %s, its messages add up to %s" % (s["sender"], said, sums))
    for problem in problems[:10]:
        print("multihost: " + problem, file=sys.stderr)
    if len(problems) > 10:
        print("multihost: ... %d problems in all" % len(problems), file=sys.stderr)
    with open(a.normalised, "w") as f:
        json.dump(normalise(report), f, indent=1, sort_keys=True)
    if not problems:
        print("# report: %d messages, %d/%d opens human/machine, %d/%d clicks human/scanner"
              % tuple(totals[k] for k in ("messages", "opens_human", "opens_machine",
                                          "clicks_human", "clicks_scanner")))
    return 1 if problems else 0


def cmd_compare(a):
    with open(a.a) as f:
        x = json.load(f)
    with open(a.b) as f:
        y = json.load(f)
    if x == y:
        print("%d messages of %d senders, every count equal"
              % (x["totals"]["messages"], len(x["senders"])))
        return 0
    diffs = []

    def walk(p, u, v):
        if isinstance(u, dict) and isinstance(v, dict):
            for k in sorted(set(u) | set(v)):
                walk("%s.%s" % (p, k), u.get(k), v.get(k))
        elif u != v:
            diffs.append("%s: %r / %r" % (p, u, v))
    walk("$", x, y)
    for d in diffs[:10]:
        print(d)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hit")
    h.add_argument("--sink", required=True)
    h.add_argument("--beacons", type=int, nargs="+", required=True)
    h.add_argument("--plan", required=True)
    h.add_argument("--messages", type=int, required=True)
    c = sub.add_parser("check")
    c.add_argument("--report", required=True)
    c.add_argument("--plan", required=True)
    c.add_argument("--normalised", required=True)
    m = sub.add_parser("compare")
    m.add_argument("a")
    m.add_argument("b")
    a = ap.parse_args()
    return {"hit": cmd_hit, "check": cmd_check, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
