#!/usr/bin/env python3
"""sinkcheck.py: checks what smtp-sink received against what send.py sent.

    sinkcheck.py --sink DIR --sent DIR --seqs 1-200 --expect tracked|untouched|any
                 [--store FILE] [--untracked-records none|any] [--beacon URL]

For every expected sequence number (the X-Test-Seq header): the message
arrived exactly once, and
  tracked    it carries X-Mailbeacon, its HTML part has the open pixel
             (BEACON/o/...gif) and click links (BEACON/c/...), no http(s)
             link of the original is left except mailto:/tel:, and it is
             valid MIME (Python's email parser finds no defect);
  untouched  its headers and body are byte-identical to the message as sent
             once smtp-sink's own header lines and the Received: header(s)
             that Postfix prepended are removed (Postfix adds nothing else to
             our messages: they carry Date, From, To and Message-ID, so
             cleanup adds no missing header, and the addresses are complete,
             so no header is rewritten);
  any        either of the two (the fault test: untouched while the milter
             was down).
--store FILE holds the store's rows, "ID<TAB>MESSAGE-ID" a line. Then every
tracked message has exactly one row with its Message-ID and that row's ID is
the one in its X-Mailbeacon header; no Message-ID has two rows; with
--untracked-records none, untouched messages have no row.

Prints one line per problem and a summary; exits 1 on any problem.
"""
import argparse
import email
import email.policy
import os
import re
import sys

SINK_HEADERS = (b"x-client-addr:", b"x-client-proto:", b"x-helo-args:",
                b"x-mail-args:", b"x-rcpt-args:")


def split_sink(data):
    """Strips smtp-sink's dump records (X-Client-Addr..X-Rcpt-Args and its
    three-line Received: header) and the empty line it appends; returns
    (sink_records, message)."""
    lines = data.split(b"\n")
    i = 0
    while i < len(lines) and lines[i].lower().startswith(SINK_HEADERS):
        i += 1
    if i >= len(lines) or not lines[i].startswith(b"Received: "):
        raise ValueError("no smtp-sink Received: header")
    i += 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    recs = b"\n".join(lines[:i]) + b"\n"
    msg = b"\n".join(lines[i:])
    if not msg.endswith(b"\n\n"):
        raise ValueError("dump does not end with smtp-sink's empty line")
    return recs, msg[:-1]


def strip_postfix_received(msg):
    """Removes the Received: header(s) that Postfix prepended (each one has
    "by mbtest.example.org (Postfix" in it); returns (removed, rest)."""
    lines = msg.split(b"\n")
    removed = []
    i = 0
    while i < len(lines) and lines[i].startswith(b"Received: "):
        j = i + 1
        while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
            j += 1
        field = b"\n".join(lines[i:j])
        if b"(Postfix" not in field:
            break
        removed.append(field)
        i = j
    return removed, b"\n".join(lines[i:])


def header_block(msg):
    return msg.split(b"\n\n", 1)[0]


def header_value(msg, name):
    m = re.search(rb"(?im)^" + re.escape(name.encode()) + rb":[ \t]*(.*(?:\n[ \t].*)*)",
                  header_block(msg))
    if not m:
        return None
    return re.sub(rb"\s+", b" ", m.group(1)).strip().decode("utf-8", "replace")


def norm_msgid(v):
    return (v or "").strip().strip("<>").strip()


def parse_seqs(spec):
    out = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            out.update(range(int(a), int(b) + 1))
        else:
            out.add(int(part))
    return out


def header_fields(msg, skip=()):
    """The header fields (with their folding) but those named in skip."""
    fields = []
    for line in header_block(msg).split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        else:
            fields.append(line)
    return [f for f in fields if f.split(b":", 1)[0].strip().lower() not in skip]


# Header fields the milter may add or change.
MILTER_HEADERS = (b"x-mailbeacon", b"disposition-notification-to",
                  b"content-transfer-encoding")


def check_tracked(msg, beacon, sent=None):
    """Returns a list of reasons why msg does not look tracked."""
    why = []
    xmb = header_value(msg, "X-Mailbeacon")
    if xmb is None:
        why.append("no X-Mailbeacon header")
    elif not re.match(r"[A-Za-z0-9_-]{22}; [a-z -]+$", xmb):
        why.append("odd X-Mailbeacon header: %r" % xmb)
    if sent is not None:
        a, b = header_fields(sent, MILTER_HEADERS), header_fields(msg, MILTER_HEADERS)
        if a != b:
            diff = [f for f in a if f not in b][:1] + [f for f in b if f not in a][:1]
            why.append("other header fields changed: %r" % diff)
    m = email.message_from_bytes(msg, policy=email.policy.compat32)
    if m.defects:
        why.append("MIME defects: %s" % m.defects)
    html = []
    for part in m.walk():
        if part.defects:
            why.append("MIME defects in a part: %s" % part.defects)
        if part.get_content_type() == "text/html":
            raw = part.get_payload(decode=True) or b""
            html.append(raw.decode(part.get_content_charset() or "utf-8", "replace"))
    if not html:
        return why
    h = "\n".join(html)
    b = re.escape(beacon)
    if not re.search(r'<img[^>]+src="' + b + r'/o/[A-Za-z0-9._~-]+\.gif"', h):
        why.append("no open pixel %s/o/...gif in the HTML" % beacon)
    if not re.search(r'href=["\']' + b + r'/c/[^"\']+["\']', h):
        why.append("no click link %s/c/... in the HTML" % beacon)
    for url in re.findall(r'href=["\'](https?://[^"\']*)["\']', h):
        if not url.startswith(beacon + "/") and "unsubscribe" not in url.lower():
            why.append("link not rewritten: %s" % url)
    return why


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sink", required=True, action="append")
    ap.add_argument("--sent", required=True)
    ap.add_argument("--seqs", required=True)
    ap.add_argument("--expect", choices=("tracked", "untouched", "any"), required=True)
    ap.add_argument("--store")
    ap.add_argument("--untracked-records", choices=("none", "any"), default="none")
    ap.add_argument("--beacon", default="https://t.example.com")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    want = parse_seqs(args.seqs)
    problems = []

    got = {}        # seq -> [(file, message)]
    for d in args.sink:
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if not name.startswith("m.") or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            try:
                _, msg = split_sink(data)
            except ValueError as e:
                problems.append("%s: %s" % (path, e))
                continue
            seq = header_value(msg, "X-Test-Seq")
            if seq is None or not seq.isdigit():
                problems.append("%s: no X-Test-Seq header" % path)
                continue
            got.setdefault(int(seq), []).append((path, msg))

    rows = None
    if args.store:
        rows = {}
        with open(args.store, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                rid, _, mid = line.partition("\t")
                rows.setdefault(norm_msgid(mid), []).append(rid)
        for mid, ids in sorted(rows.items()):
            if len(ids) > 1:
                problems.append("store: %d rows for Message-ID <%s>: %s" % (
                    len(ids), mid, " ".join(ids)))

    n_tracked = n_untouched = 0
    for seq in sorted(want):
        arrivals = got.get(seq, [])
        if not arrivals:
            problems.append("seq %d: never arrived" % seq)
            continue
        if len(arrivals) > 1:
            problems.append("seq %d: arrived %d times: %s" % (
                seq, len(arrivals), " ".join(p for p, _ in arrivals)))
        path, msg = arrivals[0]
        removed, rest = strip_postfix_received(msg)
        if not removed:
            problems.append("seq %d: %s: no Received: header from Postfix" % (seq, path))
        sent_path = os.path.join(args.sent, "%d.eml" % seq)
        try:
            with open(sent_path, "rb") as f:
                sent = f.read().replace(b"\r\n", b"\n")
        except OSError as e:
            problems.append("seq %d: %s" % (seq, e))
            continue
        tracked = header_value(rest, "X-Mailbeacon") is not None
        if tracked:
            n_tracked += 1
        else:
            n_untouched += 1
        if args.expect == "tracked" and not tracked:
            problems.append("seq %d: %s: not tracked (no X-Mailbeacon header; %s)" % (
                seq, path, "otherwise byte-identical" if rest == sent else "but changed"))
        elif args.expect == "tracked" or (args.expect == "any" and tracked):
            for why in check_tracked(rest, args.beacon, sent):
                problems.append("seq %d: %s: %s" % (seq, path, why))
        if args.expect == "untouched" or (args.expect == "any" and not tracked):
            if rest != sent:
                a, b = sent.split(b"\n"), rest.split(b"\n")
                k = 0
                while k < min(len(a), len(b)) and a[k] == b[k]:
                    k += 1
                problems.append("seq %d: %s differs from %s from line %d: sent %r, received %r"
                                % (seq, path, sent_path, k + 1,
                                   a[k] if k < len(a) else b"<end>",
                                   b[k] if k < len(b) else b"<end>"))
        if rows is not None:
            mid = norm_msgid(header_value(rest, "Message-ID"))
            ids = rows.get(mid, [])
            if tracked:
                xmb = header_value(rest, "X-Mailbeacon") or ""
                xid = xmb.split(";", 1)[0].strip()
                if len(ids) != 1:
                    problems.append("seq %d: tracked, but %d store rows for <%s>"
                                    % (seq, len(ids), mid))
                elif ids[0] and xid and ids[0] != xid:
                    problems.append("seq %d: X-Mailbeacon id %s, store row id %s"
                                    % (seq, xid, ids[0]))
            elif ids and args.untracked_records == "none":
                problems.append("seq %d: untouched, but %d store rows for <%s>"
                                % (seq, len(ids), mid))

    for p in problems:
        print("  " + p)
    if not args.quiet or problems:
        print("  sinkcheck: %d expected, %d arrived (%d tracked, %d untouched), %d problems"
              % (len(want), sum(1 for s in want if s in got), n_tracked, n_untouched,
                 len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
