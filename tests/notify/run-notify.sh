#!/bin/bash
# run-notify.sh: the policy word notify=mail end to end (issue 17, must-show
# 1 and 2), an automake TESTS entry. A private Postfix with mailbeacon-milter
# relays to smtp-sink; a real mailbeacond sends its "Read:" mails through
# sendmail_path = a wrapper that keeps a copy of what it is handed and runs
# the private Postfix's sendmail -C CONFDIR, so each notification goes
# through Postfix and the milter to the sink.
#
#   1  one "Read:" mail after a reader's open, none for Apple MPP, prefetch,
#      a scanner or a DNT request, one per first click of each link; what it
#      says (subject, report line, never a recipient or an IP); the milter
#      passes it untouched (byte-compared with what sendmail was handed,
#      although its envelope sender is an opted-in address with
#      text-clicks); a restarted beacon sends none again (mail_notifications)
#   2  notify_max_per_hour = 2 with the window shortened to 8 s
#      (MAILBEACON_NOTIFY_WINDOW, mailbeacond(8)): two mails, then one
#      "Read: and 2 more" at the window's end, from the null sender; a
#      sendmail that hangs: pixels are answered while it still hangs, and
#      the retry is counted on /metrics; one that exits 1: counted too
#   then two beacons on one PostgreSQL database (tests/pg/cluster.sh) take
#      the same reader's open and click at once: one mail each
#
# Needs root (a private Postfix instance), postfix, smtp-sink, sqlite3 and
# python3; skips (exit 77) without them. Environment: top_builddir (set by
# "make check"; MB_BUILD, default build/ of the source tree), E2E_KEEP=1
# keeps the temporary directory. Prints "ok NAME" or "FAIL NAME: why" per
# case, then "N passed, M failed".

here=$(cd "$(dirname "$0")" && pwd)
MB_BUILD=${MB_BUILD:-${top_builddir:-$here/../../build}}
MB_BUILD=$(cd "$MB_BUILD" && pwd) || exit 1
export MB_BUILD

skip() {
	echo "SKIP: $* -- the notify=mail tests did NOT run"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "not root (a private Postfix instance needs root)"
for t in postfix postconf postqueue smtp-sink sendmail sqlite3 python3 runuser; do
	command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$t" >/dev/null 2>&1 || skip "$t not found (Debian packages postfix, sqlite3, python3)"
done
id postfix >/dev/null 2>&1 || skip "no postfix user"
for prog in milter/mailbeacon-milter beacon/mailbeacond admin/mailbeacon; do
	[ -x "$MB_BUILD/$prog" ] || { echo "FAIL: $MB_BUILD/$prog is not built"; exit 1; }
done

. "$here/../e2e/postfix-lib.sh"
. "$here/../pg/cluster.sh"

DRIVER="python3 $here/notify.py"
SEND="python3 $here/../e2e/send.py"
TEMPLATE=$here/../e2e/html.eml
ALICE=alice@example.com
RCPT=carol@example.net
NOTIFIER=beacon@example.com
SUBJECT="Invoice 2026-1142 and the updated proposal"

passed=0
failed=0
why=
ok() { echo "ok $1${2:+ ($2)}"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
note() { why=${why:+$why; }${*:-a check failed and said nothing}; }
# verdict NAME [DETAIL]: ok or FAIL with what was noted since the last one.
verdict() {
	if [ -z "$why" ]; then ok "$1" "${2:-}"; else fail "$1" "$why"; fi
	why=
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit $?
}

# reads: how many "Read:" mails the sink holds.
reads() { $DRIVER reads --sink "$SINK_DIR" | wc -l; }
# wait_reads N TIMEOUT: until the sink holds N "Read:" mails; 1 on timeout.
wait_reads() {
	local end=$((SECONDS + $2))
	while [ "$(reads)" -lt "$1" ]; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
}
# quiet_reads N: after a moment for a mail that should not come (the beacon
# commits, queues, runs sendmail; Postfix delivers), still N.
quiet_reads() {
	sleep 3
	pf_wait_empty 20
	local n
	n=$(reads)
	[ "$n" -eq "$1" ] || note "$n \"Read:\" mails at the sink, not $1: $($DRIVER reads --sink "$SINK_DIR" | cut -f1 | paste -sd'|')"
}
# hit PATH SHAPE: one request; a reader's comes through the proxy for
# READER_IP when that is set.
hit() {
	local via=
	case $2 in reader-*) via=${READER_IP:+--forwarded-for $READER_IP} ;; esac
	$DRIVER hit --port "$PORT_BEACON" --path "$1" --shape "$2" $via >/dev/null ||
		note "$2 $1 not answered as it should"
}
metric() { $DRIVER metric --port "$PORT_BEACON" --name mailbeacon_notify_mails_total --result "$1"; }
# send_seq N: message N from alice through Postfix; sets PIXEL, LINK1, LINK2.
send_seq() {
	local before out
	before=$(sink_count)
	$SEND --port "$PORT_SMTP" --from "$ALICE" --to "$RCPT" --template "$TEMPLATE" \
		--first "$1" --count 1 --tag "$E2E_TAG" --save "$E2E_DIR/sent" >/dev/null ||
		{ note "send.py failed for message $1"; return 1; }
	sink_wait $((before + 1)) 30 || { note "message $1 did not arrive"; return 1; }
	out=$($DRIVER tracked --sink "$SINK_DIR" --seq "$1") || { note "message $1 is not tracked"; return 1; }
	PIXEL=$(printf '%s\n' "$out" | awk '$1 == "o" { print $2 }')
	LINK1=$(printf '%s\n' "$out" | awk '$1 == "c" && $2 == 1 { print $3 }')
	LINK2=$(printf '%s\n' "$out" | awk '$1 == "c" && $2 == 2 { print $3 }')
	[ -n "$PIXEL" ] && [ -n "$LINK1" ] && [ -n "$LINK2" ] || note "message $1: no pixel or fewer than 2 links"
}
# beacon_restart CONF: stops the beacon, starts it on CONF (with the
# environment of the call: VAR=VALUE beacon_restart CONF).
beacon_restart() {
	mb_beacons_stop
	mb_beacon_start "$1" "$PORT_BEACON" "$BEACON_LOG" >/dev/null 2>&1 ||
		note "the beacon did not start: $(tail -3 "$BEACON_LOG")"
}

notify_cleanup() {
	local rc=$?
	# The daemons first: they hold connections to the cluster.
	mb_beacons_stop >/dev/null 2>&1
	mb_milter_stop >/dev/null 2>&1
	pg_cluster_remove >/dev/null 2>&1
	(exit $rc)
	e2e_cleanup
}

e2e_init || exit 1
trap notify_cleanup EXIT
E2E_TAG=n$$
sink_start "$E2E_DIR/sink" "$PORT_SINK" || { fail setup "smtp-sink did not start"; finish; }
mb_conf_init "$E2E_DIR/mb" 127.0.0.1/32 || exit 1
MB_MILTER_LOG=$E2E_DIR/mb/milter.log
BEACON_LOG=$E2E_DIR/mb/beacon.log
pf_init "$E2E_DIR/pf" "unix:$MB_SOCK" accept || exit 1
PORT_BEACON=$(e2e_free_port_but "$PORT_SMTP" "$PORT_SINK" "$PORT_SUB") || exit 1

# The notifier's address is opted in with text-clicks: only the milter's
# recognising the notification keeps it from tracking the link it names.
cat >"$MB_DIR/policy" <<EOF
# Alice is told when her mail is read; the notifier would be tracked.
$ALICE     opens clicks footer notify=mail
$NOTIFIER  opens clicks text-clicks footer
*          off
EOF
# sendmail_path: a copy of what the beacon hands over, then the private
# Postfix's sendmail (-C CONFDIR is sendmail_path's own argument).
HANDED=$E2E_DIR/handed
mkdir -p "$E2E_DIR/bin" "$HANDED" "$E2E_DIR/hang" && chmod 755 "$E2E_DIR/bin" &&
	chown "$PF_USER" "$HANDED" "$E2E_DIR/hang" || exit 1
cat >"$E2E_DIR/bin/sendmail-copy" <<EOF
#!/bin/sh
# Keeps what mailbeacond hands to sendmail, then hands it on.
f=\$(mktemp "$HANDED/m.XXXXXX") || exit 75
cat >"\$f" || exit 75
exec $(command -v sendmail) "\$@" <"\$f"
EOF
cat >"$E2E_DIR/bin/sendmail-hang" <<EOF
#!/bin/sh
# A local MTA that never answers.
echo \$\$ >"$E2E_DIR/hang/pid"
exec sleep 30
EOF
cat >"$E2E_DIR/bin/sendmail-fail" <<EOF
#!/bin/sh
echo "sendmail-fail: the queue is full" >&2
exit 1
EOF
chmod 755 "$E2E_DIR/bin"/sendmail-* || exit 1
conf_derive "$MB_CONF" "$MB_DIR/base.conf" "store_subject=yes" "scanner_window=0" \
	"beacon_rate_limit=100000" "beacon_listen=127.0.0.1:$PORT_BEACON" \
	"sendmail_path=$E2E_DIR/bin/sendmail-copy -C $PF_CONF" "notify_from=$NOTIFIER" || exit 1
# With geoip_database the mail gives the reader's country: the readers come
# through a proxy on loopback from 198.51.100.7 (Germany in the test MMDB of
# tests/geoip).
COUNTRY=
if perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null &&
    perl "$here/../geoip/make-mmdb.pl" "$MB_DIR/geo.mmdb" first; then
	chmod 644 "$MB_DIR/geo.mmdb"
	conf_derive "$MB_DIR/base.conf" "$MB_DIR/geo.conf" "geoip_database=$MB_DIR/geo.mmdb" \
		"trusted_proxies=127.0.0.1/32" && mv "$MB_DIR/geo.conf" "$MB_DIR/base.conf" || exit 1
	READER_IP=198.51.100.7
	COUNTRY=DE
else
	echo "# perl's MaxMind::DB::Writer::Tree is missing: the mails' country was NOT checked"
fi
mb_milter_start "$MB_DIR/base.conf" || { fail setup "the milter did not start"; finish; }
pf_start || { fail setup "Postfix did not start"; finish; }
beacon_restart "$MB_DIR/base.conf"
[ -z "$why" ] || { fail setup "$why"; finish; }

# --- must-show 1 ------------------------------------------------------------

out=$("$MB_BUILD/admin/mailbeacon" -c "$MB_DIR/base.conf" policy check "$ALICE" 2>&1)
case $out in *" notify=mail "*) ;; *) note "policy check says '$out'" ;; esac
out=$("$MB_BUILD/admin/mailbeacon" -c "$MB_DIR/base.conf" policy check "$NOTIFIER" 2>&1)
case $out in *notify=mail*) note "policy check says '$out'" ;; esac
verdict policy-check-shows-notify-mail

send_seq 1
[ -z "$why" ] || { fail message "$why"; finish; }
MSGID=$(mb_sql "SELECT id FROM messages")

for shape in mpp-open prefetch-open scanner-open dnt-open; do hit "$PIXEL" "$shape"; done
quiet_reads 0
verdict no-mail-for-machines-or-dnt "Apple MPP, prefetch, scanner, DNT: none"

hit "$PIXEL" reader-open
wait_reads 1 30 || note "no \"Read:\" mail within 30 s of a reader's open"
hit "$PIXEL" reader-open
quiet_reads 1
verdict one-mail-for-first-open

hit "$LINK1" reader-click
wait_reads 2 30 || note "no \"Read:\" mail within 30 s of the first click of link 1"
hit "$LINK1" reader-click
hit "$LINK2" scanner-click
quiet_reads 2
sleep 1.2	# clicks on two links within a second are a scanner's
hit "$LINK2" reader-click
wait_reads 3 30 || note "no \"Read:\" mail within 30 s of the first click of link 2"
quiet_reads 3
verdict one-mail-per-first-click "link 1, link 2; repeats and the scanner: none"

subjects=$($DRIVER reads --sink "$SINK_DIR" | cut -f1 | sort | paste -sd'|')
want="Read: $SUBJECT|Read: $SUBJECT (link 1 clicked)|Read: $SUBJECT (link 2 clicked)"
[ "$subjects" = "$want" ] || note "subjects '$subjects', not '$want'"
tos=$($DRIVER reads --sink "$SINK_DIR" | cut -f2 | sort -u | paste -sd'|')
[ "$tos" = "<$ALICE>" ] || note "sent to '$tos', not <$ALICE>"
froms=$($DRIVER reads --sink "$SINK_DIR" | cut -f3 | sort -u | paste -sd'|')
case $froms in *"<$NOTIFIER>"*) ;; *) note "envelope sender '$froms', not <$NOTIFIER>" ;; esac
$DRIVER check-body --sink "$SINK_DIR" --message "$MSGID" --never carol --never "$RCPT" \
	--never 127.0.0 --never 198.51.100 ${COUNTRY:+--want "Country: $COUNTRY"} \
	>"$E2E_DIR/check-body.out" 2>&1 || note "check-body: $(paste -sd'|' "$E2E_DIR/check-body.out")"
verdict what-the-mail-says "subject, sender, report line${COUNTRY:+, country}; no recipient, no IP"

out=$($DRIVER untouched --handed "$HANDED" --sink "$SINK_DIR") || note "$(printf '%s\n' "$out" | paste -sd'|')"
n=$(grep -c 'untouched from=<beacon@example.com>: a mailbeacon notification' "$MB_MILTER_LOG")
[ "$n" -eq 3 ] || note "the milter recognised $n notifications, not 3"
grep -q "tracked from=<$NOTIFIER>" "$MB_MILTER_LOG" && note "the milter tracked a notification"
verdict notification-untouched-by-milter "$(printf '%s\n' "$out" | tail -1 | sed 's/^notify.py untouched: //')"

beacon_restart "$MB_DIR/base.conf"
hit "$PIXEL" reader-open
hit "$LINK1" reader-click
quiet_reads 3
n=$(mb_sql "SELECT count(*) FROM mail_notifications WHERE message_id = '$MSGID'")
[ "$n" = 3 ] || note "mail_notifications holds $n rows for the message, not 3"
verdict none-again-after-restart "3 recorded in the store"

# --- must-show 2 ------------------------------------------------------------

sink_clear
conf_derive "$MB_DIR/base.conf" "$MB_DIR/limit.conf" "notify_max_per_hour=2" \
	"notify_from=<>" || exit 1
MAILBEACON_NOTIFY_WINDOW=8 beacon_restart "$MB_DIR/limit.conf"
t0=$SECONDS
for seq in 2 3 4 5; do
	send_seq "$seq" && hit "$PIXEL" reader-open
done
wait_reads 2 30 || note "not 2 \"Read:\" mails within 30 s"
n=$($DRIVER reads --sink "$SINK_DIR" | grep -c '^Read: and ')
[ "$n" -eq 0 ] || note "a summary came before the window ended"
wait_reads 3 30 || note "no summary within 30 s"
quiet_reads 3
summary=$($DRIVER reads --sink "$SINK_DIR" | grep '^Read: and ' | cut -f1)
[ "$summary" = "Read: and 2 more" ] || note "summary '$summary', not 'Read: and 2 more'"
froms=$($DRIVER reads --sink "$SINK_DIR" | cut -f3 | sort -u | paste -sd'|')
[ "$froms" = "<>" ] || note "envelope sender '$froms', not the null sender"
verdict rate-limit-and-summary "2 mails, then 'Read: and 2 more' after $((SECONDS - t0)) s"

conf_derive "$MB_DIR/base.conf" "$MB_DIR/hang.conf" "sendmail_path=$E2E_DIR/bin/sendmail-hang" || exit 1
beacon_restart "$MB_DIR/hang.conf"
send_seq 6
hit "$PIXEL" reader-open
worst=$($DRIVER while-hanging --port "$PORT_BEACON" --path "$PIXEL" --pid-file "$E2E_DIR/hang/pid" \
	--count 25) || note "$worst"
end=$((SECONDS + 20))
while [ "$(metric retried)" -lt 1 ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.3; done
[ "$(metric retried)" -ge 1 ] || note "/metrics counts no retry after sendmail hung"
grep -q 'did not finish within' "$BEACON_LOG" || note "the beacon did not log the hang"
verdict pixel-answered-while-sendmail-hangs "25 pixels while it hung, slowest ${worst}s; retried $(metric retried)"

conf_derive "$MB_DIR/base.conf" "$MB_DIR/fail.conf" "sendmail_path=$E2E_DIR/bin/sendmail-fail" || exit 1
beacon_restart "$MB_DIR/fail.conf"
send_seq 7
hit "$PIXEL" reader-open
end=$((SECONDS + 10))
while [ "$(metric retried)" -lt 1 ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.3; done
[ "$(metric retried)" -ge 1 ] || note "/metrics counts no retry after sendmail exited 1"
grep -q 'exited with status 1: sendmail-fail: the queue is full' "$BEACON_LOG" ||
	note "the beacon did not log sendmail's failure"
verdict failing-sendmail-counted "retried $(metric retried)"

# Without store_subject's subject (the message has none) the mail names the
# message by its recipients and send time.
sink_clear
beacon_restart "$MB_DIR/base.conf"
grep -v '^Subject:' "$TEMPLATE" >"$E2E_DIR/nosubject.eml"
TEMPLATE=$E2E_DIR/nosubject.eml send_seq 8
hit "$PIXEL" reader-open
wait_reads 1 30 || note "no \"Read:\" mail within 30 s of a reader's open"
subject=$($DRIVER reads --sink "$SINK_DIR" | cut -f1)
printf '%s\n' "$subject" | grep -Eq '^Read: your message to 1 recipient of [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC$' ||
	note "subject '$subject'"
verdict subject-without-subject "$subject"

# Two beacons on one PostgreSQL database, each taking the same reader's
# open and click at the same moment: one mail each, not two (and not none).
mb_beacons_stop
pg_cluster_start
rc=$?
if [ $rc = 77 ]; then
	echo "# PostgreSQL 15 (initdb) is not installed: the two-beacon case did NOT run"
elif [ $rc != 0 ]; then
	fail two-beacons-on-postgresql "cannot start a PostgreSQL cluster"
else
	sink_clear
	PORT_BEACON2=$(e2e_free_port_but "$PORT_SMTP" "$PORT_SINK" "$PORT_SUB" "$PORT_BEACON") || exit 1
	conf_derive "$MB_DIR/base.conf" "$MB_DIR/pg.conf" "database=$PG_URI" || exit 1
	conf_derive "$MB_DIR/pg.conf" "$MB_DIR/pg2.conf" "beacon_listen=127.0.0.1:$PORT_BEACON2" || exit 1
	mb_milter_stop
	mb_milter_start "$MB_DIR/pg.conf" || note "the milter did not start on PostgreSQL"
	beacon_restart "$MB_DIR/pg.conf"
	mb_beacon_start "$MB_DIR/pg2.conf" "$PORT_BEACON2" "$BEACON_LOG" >/dev/null 2>&1 ||
		note "the second beacon did not start"
	send_seq 9
	both() {
		$DRIVER hit --port "$PORT_BEACON" --path "$1" --shape "$2" >/dev/null &
		$DRIVER hit --port "$PORT_BEACON2" --path "$1" --shape "$2" >/dev/null ||
			note "$2 not answered by the second beacon"
		wait $! || note "$2 not answered by the first beacon"
	}
	both "$PIXEL" reader-open
	sleep 1.2
	both "$LINK1" reader-click
	wait_reads 2 30 || note "not 2 \"Read:\" mails within 30 s"
	PORT_BEACON=$PORT_BEACON2 hit "$PIXEL" reader-open
	quiet_reads 2
	n=$(pg_cluster_psql "SELECT count(*) FROM mail_notifications")
	[ "$n" = 2 ] || note "mail_notifications holds $n rows, not 2"
	verdict two-beacons-on-postgresql "one open and one click mail for the same hits on both beacons"
fi

mb_beacons_stop
p=$(grep -iE 'sanitizer|runtime error|leak' "$BEACON_LOG" "$MB_MILTER_LOG" | head -3 | paste -sd'|')
[ -z "$p" ] || note "$p"
verdict daemon-logs-clean
finish
