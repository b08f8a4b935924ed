#!/bin/bash
# bench_memory.sh: mailbeacon-milter's memory with many large messages at once.
#
#   bench_memory.sh [--concurrent N] [--size-kb KB] [--sequential M]
#
# A private Postfix instance with the milter (tracking every message, as in
# bench_mailpath.sh) relays to a discarding smtp-sink. Baseline in the same
# run: the milter worker's RSS when idle, then M (default 3) messages of the
# same size one after another; then N (default 50) messages at once
# (smtp-source -s N -m N), then N messages of 60 KB HTML with an attachment
# that makes them as large. The worker's VmRSS is sampled every 20 ms and its
# VmHWM (kernel's peak) read at the end of each phase; a new worker is not
# started between phases, so the HWM of the concurrent phase is taken as a
# difference only when it exceeds the sequential one.
# The message: generated newsletter HTML of --size-kb KB (default 9766 KB:
# a 10 MB message, under the default max_message_size of 10 MiB, so it is
# rewritten, not skipped; 1500 links, under the 2000-link limit). Loopback only; everything is stopped at the end.

. "$(dirname "$0")/lib.sh"
N=50
SIZE_KB=9766
SEQ=3
while [ $# -gt 0 ]; do
	case $1 in
	--concurrent) N=$2; shift 2 ;;
	--size-kb) SIZE_KB=$2; shift 2 ;;
	--sequential) SEQ=$2; shift 2 ;;
	*) echo "usage: $0 [--concurrent N] [--size-kb KB] [--sequential M]" >&2; exit 1 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (private Postfix instance)"; exit 77; }
bench_need postfix postconf smtp-source smtp-sink sqlite3 python3 runuser

. "$MB_SRC/tests/e2e/postfix-lib.sh"
E2E_TMPDIR=/tmp
e2e_init || exit 1
SAMPLER=
bench_cleanup() {
	local rc=$?
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null && wait "$SAMPLER" 2>/dev/null
	(exit $rc)
	e2e_cleanup
}
trap bench_cleanup EXIT

bench_machine
echo "# memory: $N concurrent messages of $SIZE_KB KB HTML; baseline $SEQ sequential"
D=$E2E_DIR
mkdir -p "$D/msgs" && chmod 755 "$D/msgs"
# At most 2000 links are rewritten (more: the message is left untouched),
# so only the first 1500 links of the big HTML are <a href>.
BENCH_GEN_OPTS="--max-links 1500" bench_messages "$D/msgs" "$SIZE_KB" 60 || exit 1
MSG=$D/msgs/msg-${SIZE_KB}k.eml
# The other shape of a big message: 60 KB of HTML and an attachment that
# brings it to the same size (base64, as a PDF would be).
python3 - "$D/msgs/msg-60k.eml" "$(stat -c %s "$MSG")" "$D/msgs/attach.eml" <<'PY'
import base64, os, sys
src, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
head, body = open(src, "rb").read().split(b"\r\n\r\n", 1)
head = b"\r\n".join(l for l in head.split(b"\r\n") if not l.lower().startswith(b"content-"))
b = b"=_bench_mixed"
parts = [head, b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"", b"",
         b"--" + b, b"Content-Type: text/html; charset=utf-8",
         b"Content-Transfer-Encoding: 8bit", b"", body, b"--" + b,
         b"Content-Type: application/pdf; name=\"report.pdf\"",
         b"Content-Disposition: attachment; filename=\"report.pdf\"",
         b"Content-Transfer-Encoding: base64", b""]
msg = b"\r\n".join(parts) + b"\r\n"
raw = os.urandom(max(0, (size - len(msg) - 40) * 57 // 78))
enc = base64.encodebytes(raw).replace(b"\n", b"\r\n")
open(out, "wb").write(msg + enc + b"--" + b + b"--\r\n")
PY
ATT=$D/msgs/attach.eml
sed -i '/^Message-ID:/d; /^Return-Path:/d' "$MSG" "$ATT"
echo "# messages: HTML $(stat -c %s "$MSG") bytes; 60 KB HTML + attachment $(stat -c %s "$ATT") bytes"

mb_conf_init "$D/mb" || exit 1
mb_milter_start || exit 1
pf_init "$D/pf" "unix:$MB_SOCK" accept || exit 1
pf_set message_size_limit=1073741824 milter_content_timeout=600s \
	smtpd_timeout=600s default_process_limit=$((N + 20)) || exit 1
smtp-sink -4 -u "$PF_USER" -h sink.example.net "127.0.0.1:$PORT_SINK" 512 >"$D/sink.log" 2>&1 &
SINK_PID=$!
e2e_wait_port "$PORT_SINK" 10 || exit 1
pf_start || exit 1

WORKER=$(mb_milter_workers | head -1)
[ -n "$WORKER" ] || { echo "no milter worker"; exit 1; }
kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status" 2>/dev/null; }
sent_count() { local n; n=$(grep -c " status=sent " "$PF_LOG" 2>/dev/null); echo "${n:-0}"; }
db_count() { local n; n=$(mb_sql "SELECT count(*) FROM messages" 2>/dev/null); echo "${n:-0}"; }
mib() { python3 -c "print('%.1f' % ($1 / 1024))"; }

# phase NAME SESSIONS COUNT FILE: sends, samples RSS until all are delivered.
phase() {
	local name=$1 s=$2 n=$3 msg=$4 n0 db0 t0 t1 max
	n0=$(sent_count)
	db0=$(db_count)
	( while :; do kib "$WORKER" VmRSS; sleep 0.02; done ) >"$D/rss.$name" 2>/dev/null &
	SAMPLER=$!
	t0=$(now_s)
	smtp-source -s "$s" -m "$n" -f alice@example.com -t carol@example.net -F "$msg" \
		"127.0.0.1:$PORT_SMTP" || { echo "smtp-source failed"; return 1; }
	local end=$((SECONDS + 900))
	while [ "$(sent_count)" -lt $((n0 + n)) ]; do
		[ "$SECONDS" -ge "$end" ] && { echo "timeout in $name"; pf_log_problems | tail; return 1; }
		sleep 0.1
	done
	t1=$(now_s)
	kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null; SAMPLER=
	max=$(sort -n "$D/rss.$name" | tail -1)
	echo "$name $n $(python3 -c "print('%.1f' % ($t1 - $t0))") ${max:-0} $(kib "$WORKER" VmHWM) $(($(db_count) - db0))" >>"$D/phases"
	tail -1 "$D/phases" | awk '{printf "#   %-10s %3d msgs in %6.1f s: sampled RSS max %.1f MiB, VmHWM %.1f MiB, tracked %d\n", $1, $2, $3, $4/1024, $5/1024, $6}'
}
: >"$D/phases"
IDLE=$(kib "$WORKER" VmRSS)
IDLE_HWM=$(kib "$WORKER" VmHWM)
echo "#   idle: VmRSS $(mib "$IDLE") MiB, VmHWM $(mib "$IDLE_HWM") MiB"
phase sequential 1 "$SEQ" "$MSG" || exit 1
phase concurrent "$N" "$N" "$MSG" || exit 1
phase attachment "$N" "$N" "$ATT" || exit 1
[ "$(mb_milter_workers | head -1)" = "$WORKER" ] || echo "# WARNING: the worker was restarted during the run"
grep -c 'untouched' "$MB_MILTER_LOG" | sed 's/^/#   messages left untouched (milter log): /'

MSGSZ=$(stat -c %s "$MSG")
python3 - "$D/phases" "$IDLE" "$MSGSZ" "$N" <<'PY'
import sys
rows = {l.split()[0]: l.split() for l in open(sys.argv[1])}
idle, size, n = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
seq, con, att = rows["sequential"], rows["concurrent"], rows["attachment"]
s_peak, c_peak = max(int(seq[3]), int(seq[4])), max(int(con[3]), int(con[4]))
per1 = (s_peak - idle) * 1024 / size
perN = (c_peak - idle) * 1024 / size / n
print()
print("== milter memory (worker process; message %.1f MB)" % (size / 1e6))
print("idle RSS                       %8.1f MiB" % (idle / 1024))
print("one message at a time, peak    %8.1f MiB  = idle + %.2f x message size" % (s_peak / 1024, per1))
print("%d at once, peak                %8.1f MiB  = idle + %d x %.2f x message size"
      % (n, c_peak / 1024, n, perN))
print("%d at once, 60 KB HTML + attachment, sampled peak %8.1f MiB  = idle + %d x %.2f x message size"
      % (n, int(att[3]) / 1024, n, (int(att[3]) - idle) * 1024 / size / n))
print("tracked: sequential %s/%s, concurrent %s/%s, attachment %s/%s" % (
    seq[5], seq[1], con[5], con[1], att[5], att[1]))
print("bound: RSS <= idle + concurrent messages x %.1f x max_message_size "
      "(%.0f MiB for %d x 10 MiB)" % (max(per1, perN), (idle + max(per1, perN) * n * 10485760 / 1024) / 1024, n))
PY
echo "# load after: $(uptime | sed 's/^ *//')"
