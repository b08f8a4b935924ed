#!/usr/bin/env python3
"""notify.py: the reader's side and the judge of run-notify.sh (notify=mail).

  notify.py tracked --sink DIR --seq N
      prints the pixel path and the click paths (one a line: "o PATH",
      "c NUM PATH") of message N at the sink (the milter's rewrite).
  notify.py hit --port P --path PATH --shape SHAPE [--forwarded-for IP]
      one request to the beacon as SHAPE makes it (through a proxy for
      the client IP when given): reader-open, mpp-open
      (Apple Mail Privacy Protection), prefetch-open, scanner-open,
      dnt-open (a reader's, with DNT: 1), reader-click, scanner-click;
      prints the status, exits 1 unless it is the one the beacon gives
      that route (200 pixel, 302 click).
  notify.py reads --sink DIR [--json]
      the "Read:" mails at the sink: "SUBJECT<TAB>TO<TAB>ENVELOPE-FROM".
  notify.py untouched --handed DIR --sink DIR
      every message handed to sendmail_path (copies in DIR) arrived at the
      sink byte for byte: its body identical, each of its header lines
      present unchanged, and nothing the milter adds (X-Mailbeacon: ID,
      pixel, tracking URLs).
  notify.py check-body --sink DIR --message ID [--want TEXT]... [--never TEXT]...
      every "Read:" mail has what it must and nothing it must not: the
      report line for ID, the time, the client and verdict (and each
      TEXT), no recipient address (no TEXT of --never), no IP address.
  notify.py while-hanging --port P --path PATH --pid-file F --count N
      N pixel requests, each answered (200) while the process in F (the
      hanging sendmail) is still alive; prints the slowest answer.
  notify.py metric --port P --name NAME --result R
      prints the value of NAME{result=R} on /metrics (0 when absent).
"""
import argparse
import email
import email.policy
import os
import re
import sys
import time

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "e2e"))
sys.path.insert(0, os.path.join(here, "..", "multihost"))
sys.path.insert(0, os.path.join(here, "..", "beacon"))
from sinkcheck import split_sink, strip_postfix_received, header_value  # noqa: E402
from multihost import (BEACON_URL, READER_OPEN, MACHINE_OPEN, READER_CLICK,  # noqa: E402
                       SCANNER_CLICK, fetch)
import beaconlib as bl  # noqa: E402

SHAPES = {
    "reader-open": READER_OPEN,
    "mpp-open": MACHINE_OPEN,      # Apple MPP's bare "Mozilla/5.0"
    "prefetch-open": dict(READER_OPEN, **{"Sec-Purpose": "prefetch"}),
    "scanner-open": SCANNER_CLICK,
    "dnt-open": dict(READER_OPEN, DNT="1"),
    "reader-click": READER_CLICK,
    "scanner-click": SCANNER_CLICK,
}


def sink_files(sink):
    for name in sorted(os.listdir(sink)):
        if name.startswith("m."):
            with open(os.path.join(sink, name), "rb") as f:
                records, msg = split_sink(f.read())
            _, msg = strip_postfix_received(msg)
            yield name, records, msg


def cmd_tracked(a):
    for _, _, msg in sink_files(a.sink):
        if (header_value(msg, "X-Test-Seq") or "").strip() != str(a.seq):
            continue
        html = ""
        for part in email.message_from_bytes(msg).walk():
            if part.get_content_type() == "text/html":
                html = part.get_payload(decode=True).decode("utf-8", "replace")
        pixels = re.findall(re.escape(BEACON_URL) + r'(/o/[^"\'\s<>]+)', html)
        clicks = re.findall(re.escape(BEACON_URL) + r'(/c/[^"\'\s<>]+)', html)
        seen = []
        for c in clicks:
            if c not in seen:
                seen.append(c)
        for p in pixels[:1]:
            print("o", p)
        for i, c in enumerate(seen, 1):
            print("c", i, c)
        return 0 if pixels else 1
    print("notify.py: message %d is not at the sink" % a.seq, file=sys.stderr)
    return 1


def cmd_hit(a):
    headers = dict(SHAPES[a.shape])
    if a.forwarded_for:
        headers["X-Forwarded-For"] = a.forwarded_for
    status, _, _ = fetch(a.port, a.path, headers)
    print(status)
    return 0 if status == (302 if a.path.startswith("/c/") else 200) else 1


def reads(sink):
    out = []
    for name, records, msg in sink_files(sink):
        subject = header_value(msg, "Subject") or ""
        if not subject.startswith("Read:"):
            continue
        mail_from = b""
        for r in records.split(b"\n"):
            if r.lower().startswith(b"x-mail-args:"):
                mail_from = r.split(b":", 1)[1].strip()
        out.append((name, subject, header_value(msg, "To") or "",
                    mail_from.decode("utf-8", "replace"), msg))
    return out


def cmd_reads(a):
    for _, subject, to, mail_from, _ in reads(a.sink):
        print("%s\t%s\t%s" % (subject, to, mail_from))
    return 0


def split_message(data):
    data = data.replace(b"\r\n", b"\n")
    head, _, body = data.partition(b"\n\n")
    fields, cur = [], b""
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and cur:
            cur += b"\n" + line
        else:
            if cur:
                fields.append(cur)
            cur = line
    if cur:
        fields.append(cur)
    return fields, body


def cmd_untouched(a):
    handed = sorted(os.listdir(a.handed))
    arrived = {}
    for name, _, msg in sink_files(a.sink):
        date = header_value(msg, "Date")
        subject = header_value(msg, "Subject")
        if (header_value(msg, "X-Mailbeacon") or "").strip() == "notification":
            arrived[(subject, date)] = arrived.get((subject, date), []) + [(name, msg)]
    problems, n = [], 0
    for h in handed:
        with open(os.path.join(a.handed, h), "rb") as f:
            data = f.read()
        fields, body = split_message(data)
        subject = header_value(data, "Subject")
        date = header_value(data, "Date")
        got = arrived.get((subject, date), [])
        if len(got) != 1:
            problems.append("%s (%s): %d copies at the sink" % (h, subject, len(got)))
            continue
        name, msg = got[0]
        sfields, sbody = split_message(msg)
        n += 1
        if sbody != body:
            problems.append("%s: the body changed on the way (%s)" % (h, name))
        for fld in fields:
            if fld not in sfields:
                problems.append("%s: header %r changed or missing" % (h, fld[:60]))
        for fld in sfields:
            if re.match(rb"(?i)x-mailbeacon:", fld) and fld not in fields:
                problems.append("%s: the milter added %r" % (h, fld[:60]))
        if b"/o/" in sbody or BEACON_URL.encode() in sbody:
            problems.append("%s: tracking in the body" % h)
    for p in problems:
        print("notify.py untouched:", p)
    print("notify.py untouched: %d handed, %d compared" % (len(handed), n))
    return 0 if not problems and n == len(handed) and n > 0 else 1


def cmd_check_body(a):
    problems, n = [], 0
    for name, subject, to, _, msg in reads(a.sink):
        m = email.message_from_bytes(msg, policy=email.policy.default)
        if m["Subject"].startswith("Read: and "):
            continue   # a summary
        n += 1
        body = m.get_content()
        if ("mailbeacon report --message %s" % a.message) not in body:
            problems.append("%s: no report line for %s" % (name, a.message))
        for want in ["Time:", "Client:", "Verdict: human"] + a.want:
            if want not in body:
                problems.append("%s: no %r" % (name, want))
        if m["Auto-Submitted"] != "auto-generated":
            problems.append("%s: Auto-Submitted is %r" % (name, m["Auto-Submitted"]))
        for bad in a.never:
            if bad.lower() in msg.decode("utf-8", "replace").lower():
                problems.append("%s: says %r" % (name, bad))
        if re.search(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", body):
            problems.append("%s: an IP address in the body" % name)
    for p in problems:
        print("notify.py check-body:", p)
    return 0 if n > 0 and not problems else 1


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def cmd_while_hanging(a):
    deadline = time.monotonic() + 10
    pid = None
    while time.monotonic() < deadline and pid is None:
        try:
            with open(a.pid_file) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            time.sleep(0.05)
    if pid is None or not alive(pid):
        print("notify.py while-hanging: sendmail never started (or already ended)")
        return 1
    worst = 0.0
    for _ in range(a.count):
        t0 = time.monotonic()
        status, _, _ = fetch(a.port, a.path, READER_OPEN)
        dt = time.monotonic() - t0
        worst = max(worst, dt)
        if status != 200:
            print("notify.py while-hanging: pixel answered %s" % status)
            return 1
    if not alive(pid):
        print("notify.py while-hanging: sendmail ended before the last pixel (%.3f s)" % worst)
        return 1
    print("%.3f" % worst)
    return 0


def cmd_metric(a):
    ms, _ = bl.metrics(a.port)
    v = bl.metric_sum(ms, a.name, result=a.result)
    print(int(v or 0))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("tracked")
    p.add_argument("--sink", required=True)
    p.add_argument("--seq", type=int, required=True)
    p = sub.add_parser("hit")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--shape", choices=sorted(SHAPES), required=True)
    p.add_argument("--forwarded-for")
    p = sub.add_parser("reads")
    p.add_argument("--sink", required=True)
    p = sub.add_parser("untouched")
    p.add_argument("--handed", required=True)
    p.add_argument("--sink", required=True)
    p = sub.add_parser("check-body")
    p.add_argument("--sink", required=True)
    p.add_argument("--message", required=True)
    p.add_argument("--never", action="append", default=[])
    p.add_argument("--want", action="append", default=[])
    p = sub.add_parser("while-hanging")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--pid-file", required=True)
    p.add_argument("--count", type=int, default=20)
    p = sub.add_parser("metric")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--result", required=True)
    a = ap.parse_args()
    return {"tracked": cmd_tracked, "hit": cmd_hit, "reads": cmd_reads,
            "untouched": cmd_untouched, "check-body": cmd_check_body,
            "while-hanging": cmd_while_hanging, "metric": cmd_metric}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
