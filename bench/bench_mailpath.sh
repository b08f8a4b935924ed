#!/bin/bash
# bench_mailpath.sh: the mail path, smtp-source -> private Postfix ->
# smtp-sink, with no milter, with mailbeacon-milter tracking every message,
# with Debian's OpenDKIM signing every message (a peer milter), and with both
# (mailbeacon first, then OpenDKIM: how they are deployed together).
#
#   bench_mailpath.sh [--msgs N] [--big-msgs N] [--sessions S] [--rounds R]
#                     [--sizes 5,100]
#
# For each round, each configuration (order rotated per round) and each
# size: smtp-source sends N messages over S concurrent sessions; the run
# ends when Postfix has delivered all N to smtp-sink (counted in Postfix's
# log). messages/s = N / (first connection .. last delivery). Latency is
# Postfix's own per-message "delay=" (arrival .. delivered to the sink) and
# its first part "delays=a/..." (arrival .. queued: SMTP receipt including
# the milters). Medians over the rounds; ratios against "no milter".
#
# Before timing, one message per configuration goes to a sink that keeps it,
# to check that mailbeacon rewrote it (X-Mailbeacon) and OpenDKIM signed it
# (DKIM-Signature). During timing, the store's row count proves that every
# message was tracked. Needs root, postfix, smtp-source, smtp-sink, opendkim.
# Loopback only; everything started is stopped and the temp dir removed.

. "$(dirname "$0")/lib.sh"
MSGS=1000
BIG_MSGS=300
SESSIONS=20
ROUNDS=3
SIZES=5,100
while [ $# -gt 0 ]; do
	case $1 in
	--msgs) MSGS=$2; shift 2 ;;
	--big-msgs) BIG_MSGS=$2; shift 2 ;;
	--sessions) SESSIONS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--sizes) SIZES=$2; shift 2 ;;
	*) echo "usage: $0 [--msgs N] [--big-msgs N] [--sessions S] [--rounds R] [--sizes 5,100]" >&2; exit 1 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (private Postfix instance)"; exit 77; }
bench_need postfix postconf smtp-source smtp-sink opendkim opendkim-genkey sqlite3 python3 runuser
[ -x "$MB_BUILD/milter/mailbeacon-milter" ] || { echo "no $MB_BUILD/milter/mailbeacon-milter" >&2; exit 1; }

. "$MB_SRC/tests/e2e/postfix-lib.sh"
E2E_TMPDIR=/tmp
e2e_init || exit 1
DKIM_PID=
bench_cleanup() {
	local rc=$?
	if [ -n "$DKIM_PID" ]; then
		kill "$DKIM_PID" 2>/dev/null
		wait "$DKIM_PID" 2>/dev/null
	fi
	DKIM_PID=
	(exit $rc)
	e2e_cleanup
}
trap bench_cleanup EXIT

bench_machine
echo "# mailpath: msgs=$MSGS (big: $BIG_MSGS) sessions=$SESSIONS rounds=$ROUNDS sizes=$SIZES KB"
D=$E2E_DIR
mkdir -p "$D/msgs" && chmod 755 "$D/msgs"
IFS=, read -r -a sizes <<<"$SIZES"
bench_messages "$D/msgs" "${sizes[@]}" || exit 1
# smtp-source sends the same file each time; without a Message-ID Postfix's
# cleanup adds a unique one (the milter treats a repeated sender+Message-ID
# as a retry of a message it recorded, which would skip the store's insert).
sed -i '/^Message-ID:/d; /^Return-Path:/d' "$D"/msgs/msg-*.eml

# mailbeacon: the configuration of the end-to-end tests (alice opted in,
# 127.0.0.1 internal = outbound).
mb_conf_init "$D/mb" || exit 1
mb_milter_start || exit 1

# OpenDKIM: own key, configuration and socket, in the foreground.
mkdir -p "$D/dkim" && chmod 755 "$D/dkim"
opendkim-genkey -b 2048 -D "$D/dkim" -d example.com -s bench || exit 1
DKIM_SOCK=$D/dkim/opendkim.sock
cat >"$D/dkim/opendkim.conf" <<EOF
Syslog no
Mode s
Domain example.com
Selector bench
KeyFile $D/dkim/bench.private
Socket local:$DKIM_SOCK
UMask 000
Canonicalization relaxed/simple
SignatureAlgorithm rsa-sha256
InternalHosts 127.0.0.1
PidFile $D/dkim/opendkim.pid
# The key lives under /tmp (world-writable, sticky): allowed for this run.
RequireSafeKeys no
EOF
opendkim -f -x "$D/dkim/opendkim.conf" >"$D/dkim/opendkim.log" 2>&1 &
DKIM_PID=$!
for i in $(seq 50); do [ -S "$DKIM_SOCK" ] && break; sleep 0.1; done
[ -S "$DKIM_SOCK" ] || { echo "opendkim did not start:"; cat "$D/dkim/opendkim.log"; exit 1; }

pf_init "$D/pf" "" accept || exit 1
# 10 MB messages are refused by Postfix's default limit (bench_memory).
pf_set message_size_limit=104857600 || exit 1

# A sink that keeps messages (the check), then one that discards them.
sink_start "$D/sink" "$PORT_SINK" || exit 1
pf_start || exit 1

milters_of() {
	case $1 in
	none) echo "" ;;
	mailbeacon) echo "unix:$MB_SOCK" ;;
	opendkim) echo "unix:$DKIM_SOCK" ;;
	both) echo "unix:$MB_SOCK, unix:$DKIM_SOCK" ;;
	esac
}
use_config() {
	local m
	m=$(milters_of "$1")
	pf_set "smtpd_milters = $m" "non_smtpd_milters = $m" || return 1
	pf_reload
	sleep 1
}
sent_count() { local n; n=$(grep -c " status=sent " "$PF_LOG" 2>/dev/null); echo "${n:-0}"; }
wait_sent() {	# COUNT TIMEOUT
	local end=$((SECONDS + $2))
	while [ "$(sent_count)" -lt "$1" ]; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.05
	done
}
db_count() { local n; n=$(mb_sql "SELECT count(*) FROM messages" 2>/dev/null); echo "${n:-0}"; }

CONFIGS=(none mailbeacon opendkim both)
echo "# check: one ${sizes[0]} KB message per configuration to a keeping sink"
for c in "${CONFIGS[@]}"; do
	use_config "$c" || exit 1
	sink_clear
	n0=$(sent_count)
	smtp-source -f alice@example.com -t carol@example.net -m 1 \
		-F "$D/msgs/msg-${sizes[0]}k.eml" "127.0.0.1:$PORT_SMTP" || exit 1
	wait_sent $((n0 + 1)) 30 || { echo "check $c: not delivered"; pf_log_problems | tail; exit 1; }
	sink_wait 1 10
	f=$(find "$SINK_DIR" -type f -name 'm.*' | head -1)
	mb=$(grep -c '^X-Mailbeacon:' "$f")
	dk=$(grep -c '^DKIM-Signature:' "$f")
	echo "#   $c: X-Mailbeacon=$mb DKIM-Signature=$dk"
	case $c in
	none) want="0 0" ;; mailbeacon) want="1 0" ;; opendkim) want="0 1" ;; both) want="1 1" ;;
	esac
	[ "$mb $dk" = "$want" ] || { echo "check $c failed (want X-Mailbeacon/DKIM $want)"; exit 1; }
done
sink_stop
smtp-sink -4 -u "$PF_USER" -h sink.example.net "127.0.0.1:$PORT_SINK" 512 >"$D/sink2.log" 2>&1 &
SINK_PID=$!
e2e_wait_port "$PORT_SINK" 10 || exit 1

RES=$D/results
: >"$RES"
# run_one CONFIG KB N ROUND: one timed run; appends a result line.
run_one() {
	local c=$1 kb=$2 n=$3 r=$4 n0 db0 db1 t0 t1 t2 mark
	n0=$(sent_count)
	mark=$(wc -l <"$PF_LOG")
	db0=$(db_count)
	t0=$(now_s)
	smtp-source -s "$SESSIONS" -m "$n" -f alice@example.com -t carol@example.net \
		-F "$D/msgs/msg-${kb}k.eml" "127.0.0.1:$PORT_SMTP" || { echo "smtp-source failed"; return 1; }
	t1=$(now_s)
	wait_sent $((n0 + n)) 600 || { echo "timeout: $c ${kb}k"; pf_log_problems | tail; return 1; }
	t2=$(now_s)
	db1=$(db_count)
	tail -n +"$((mark + 1))" "$PF_LOG" | grep ' status=sent ' >"$D/run.log"
	python3 - "$c" "$kb" "$n" "$r" "$t0" "$t1" "$t2" "$((db1 - db0))" "$D/run.log" >>"$RES" <<'PY'
import re, sys
c, kb, n, r, t0, t1, t2, tracked, path = sys.argv[1:]
n, t0, t1, t2 = int(n), float(t0), float(t1), float(t2)
d, a = [], []
for line in open(path):
    m = re.search(r' delay=([\d.]+), delays=([\d.]+)/', line)
    if m:
        d.append(float(m.group(1))); a.append(float(m.group(2)))
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))] if v else float("nan")
print(c, kb, r, n, "%.2f" % (n / (t2 - t0)), "%.2f" % (n / (t1 - t0)),
      "%.3f" % q(d, .5), "%.3f" % q(d, .99), "%.3f" % q(a, .5), "%.3f" % q(a, .99), tracked)
PY
	tail -n 1 "$RES" | awk '{printf "#   round %s %-10s %4s KB: %7.1f msg/s delivered (%7.1f accepted), delay p50 %s p99 %s s, receipt p50 %s p99 %s s, tracked %s\n", $3, $1, $2, $5, $6, $7, $8, $9, $10, $11}'
}

for ((r = 1; r <= ROUNDS; r++)); do
	for ((k = 0; k < ${#CONFIGS[@]}; k++)); do
		c=${CONFIGS[$(((k + r - 1) % ${#CONFIGS[@]}))]}
		use_config "$c" || exit 1
		for kb in "${sizes[@]}"; do
			n=$MSGS
			[ "$kb" -ge 50 ] && n=$BIG_MSGS
			run_one "$c" "$kb" "$n" "$r" || exit 1
		done
	done
done

echo
echo "== mail path: medians of $ROUNDS rounds, $SESSIONS concurrent SMTP sessions"
python3 - "$RES" "$SIZES" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
sizes = sys.argv[2].split(",")
configs = ["none", "mailbeacon", "opendkim", "both"]
med = lambda v: statistics.median(v) if v else float("nan")
print("%-11s %5s %10s %8s %10s %9s %9s %11s %11s %8s" % (
    "config", "KB", "msg/s", "x none", "accepted/s", "delay p50", "delay p99",
    "receipt p50", "receipt p99", "tracked"))
for kb in sizes:
    base = None
    for c in configs:
        rs = [r for r in rows if r[0] == c and r[1] == kb]
        if not rs:
            continue
        f = lambda i: med([float(r[i]) for r in rs])
        rate = f(4)
        if c == "none":
            base = rate
        tracked = "%d/%d" % (sum(int(r[10]) for r in rs), sum(int(r[3]) for r in rs)) \
            if c in ("mailbeacon", "both") else "-"
        print("%-11s %5s %10.1f %8.2f %10.1f %9.3f %9.3f %11.3f %11.3f %8s" % (
            c, kb, rate, rate / base if base else float("nan"), f(5), f(6), f(7), f(8), f(9), tracked))
    get = lambda c: med([float(r[4]) for r in rows if r[0] == c and r[1] == kb])
    n, m, o = get("none"), get("mailbeacon"), get("opendkim")
    print("target %s KB: mailbeacon %.2f x no milter (>= 0.9: %s); cost vs no milter: "
          "mailbeacon %.2f ms/msg, opendkim %.2f ms/msg (cheaper: %s)" % (
          kb, m / n, "MET" if m / n >= 0.9 else "MISSED",
          1000 / m - 1000 / n, 1000 / o - 1000 / n, "MET" if m >= o else "MISSED"))
PY
echo "# load after: $(uptime | sed 's/^ *//')"
