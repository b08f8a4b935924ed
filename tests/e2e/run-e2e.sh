#!/bin/bash
# run-e2e.sh: end-to-end tests of mailbeacon-milter in a real, private Postfix
# instance that relays everything to smtp-sink (an automake TESTS entry).
#
#   run-e2e.sh            all cases, against $MB_BUILD/milter/mailbeacon-milter
#   run-e2e.sh --harness  the harness alone, without the milter: Postfix to
#                         smtp-sink byte-identical, and a milter that is not
#                         there with milter_default_action=tempfail defers
#   run-e2e.sh a e        only the named cases (config always runs)
#
# Needs root (a private Postfix instance), postfix, smtp-sink, sqlite3 and
# python3; skips (exit 77) without them. Uses only 127.0.0.1 and 127.0.0.2.
# Environment: top_builddir/top_srcdir (set by "make check"), MB_BUILD
# (default $top_builddir, else build/ of the source tree), E2E_KEEP=1 keeps
# the temporary directory.
# Prints "ok NAME" or "FAIL NAME: why" per case, then "N passed, M failed".

here=$(cd "$(dirname "$0")" && pwd)
MB_BUILD=${MB_BUILD:-${top_builddir:-$here/../../build}}
MB_BUILD=$(cd "$MB_BUILD" && pwd)
export MB_BUILD

. "$here/postfix-lib.sh"
e2e_require "the end-to-end tests"

SEND="python3 $here/send.py"
CHECK="python3 $here/sinkcheck.py"
HTML=$here/html.eml
PLAIN=$here/plain.eml
ALICE=alice@example.com
BOB=bob@example.com
RCPT=carol@example.net

passed=0
failed=0
why=

ok() {
	echo "ok $1${2:+ ($2)}"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}
# note TEXT: adds a reason to the current case's failure.
note() { why=${why:+$why; }$*; }

# case_begin NAME: a fresh sink directory and log offsets for the case.
case_begin() {
	CASE=$1
	why=
	sink_clear
	pf_log_mark=$({ wc -l <"$PF_LOG"; } 2>/dev/null || echo 0)
	mb_log_mark=$({ wc -l <"${MB_MILTER_LOG:-/nonexistent}"; } 2>/dev/null || echo 0)
	echo "# --- $CASE"
}
# case_end [DETAIL]: ok or FAIL with the reasons noted; on failure also the
# case's Postfix and milter log lines.
case_end() {
	if [ -z "$why" ]; then
		ok "$CASE" "${1:-}"
	else
		fail "$CASE" "$why"
		echo "# Postfix log of the case (last 40 lines):"
		tail -n +"$((pf_log_mark + 1))" "$PF_LOG" | tail -n 40 | sed 's/^/#   /'
		if [ -n "${MB_MILTER_LOG:-}" ]; then
			echo "# milter log of the case (last 40 lines):"
			tail -n +"$((mb_log_mark + 1))" "$MB_MILTER_LOG" 2>/dev/null | tail -n 40 | sed 's/^/#   /'
		fi
	fi
}
# case_pf_log / case_mb_log: the logs written since case_begin.
case_pf_log() { tail -n +"$((pf_log_mark + 1))" "$PF_LOG"; }
case_mb_log() { tail -n +"$((mb_log_mark + 1))" "$MB_MILTER_LOG" 2>/dev/null; }

# send ARGS...: send.py to our smtpd, saving what it sent.
send() {
	$SEND --port "$PORT_SMTP" --to "$RCPT" --save "$E2E_DIR/sent" --tag "$E2E_TAG" "$@" |
		sed 's/^/# /'
	return "${PIPESTATUS[0]}"
}
# send_local ARGS...: send.py through Postfix's sendmail command (local
# submission, non_smtpd_milters), as root; the envelope sender is root's
# (MB_LOCAL_SENDER), or LOCAL_FROM with sendmail -f.
send_local() {
	$SEND --sendmail "sendmail -C $PF_CONF -i${LOCAL_FROM:+ -f $LOCAL_FROM}" \
		--from "${LOCAL_FROM:-$MB_LOCAL_SENDER}" --to "$RCPT" \
		--save "$E2E_DIR/sent" --tag "$E2E_TAG" "$@" | sed 's/^/# /'
	return "${PIPESTATUS[0]}"
}
# settle COUNT [TIMEOUT]: waits until the sink holds COUNT messages of this
# case and Postfix's queue is empty.
settle() {
	local t=${2:-60}
	sink_wait "$1" "$t" || note "only $(sink_count) of $1 messages arrived within ${t}s"
	pf_wait_empty "$t" || note "$(pf_queue_count) messages still queued after ${t}s"
	# A late duplicate or a stray message would show up here.
	sleep 0.3
	[ "$(sink_count)" -le "$1" ] || note "$(sink_count) messages arrived, not $1"
}
# check SEQS EXPECT [sinkcheck options]: sinkcheck against the store.
check() {
	local seqs=$1 expect=$2 out
	shift 2
	mb_store_dump "$E2E_DIR/store.txt"
	if ! out=$($CHECK --sink "$SINK_DIR" --sent "$E2E_DIR/sent" --seqs "$seqs" \
	    --expect "$expect" --store "$E2E_DIR/store.txt" "$@"); then
		note "$(printf '%s\n' "$out" | grep -v sinkcheck: | head -5 | sed 's/^ *//' | paste -sd'|')"
	fi
	printf '%s\n' "$out" | sed 's/^ */# /'
	CHECK_SUMMARY=$(printf '%s\n' "$out" | sed -n 's/.*arrived (\(.*\)), .*/\1/p')
}
# msgid SEQ: the Message-ID that send.py gave message SEQ.
msgid() { echo "<e2e.$E2E_TAG.$1@mbtest.example.org>"; }
# store_count SEQ: the store's rows for message SEQ (the value as sent, with
# or without the angle brackets).
store_count() {
	local m
	m=$(msgid "$1")
	mb_sql "SELECT count(*) FROM messages WHERE message_id_header IN ('$m', '${m:1:${#m}-2}')"
}
# log_problems: problem lines in the Postfix log and the milter's stderr
# since case_begin.
log_problems() {
	local p
	p=$(case_pf_log | grep -iE 'error|fatal|panic|warning:.*milter')
	[ -n "$p" ] && note "Postfix log: $(printf '%s\n' "$p" | head -3 | paste -sd'|')"
	p=$(case_mb_log | grep -iE 'error|fatal|panic|warning')
	[ -n "$p" ] && note "milter log: $(printf '%s\n' "$p" | head -3 | paste -sd'|')"
}

want_case() {
	[ ${#CASES[@]} -eq 0 ] && return 0
	local c
	for c in "${CASES[@]}"; do [ "$c" = "$1" ] && return 0; done
	return 1
}

# --- the harness alone -----------------------------------------------------

harness() {
	e2e_init || exit 1
	E2E_TAG=h$$
	MB_DIR=$E2E_DIR/mb
	mkdir -p "$MB_DIR/milter"
	MB_SOCK=$MB_DIR/milter/milter.sock
	MB_DB=$MB_DIR/none.db
	MB_LOCAL_SENDER=$(id -un)@mbtest.example.org
	sink_start "$E2E_DIR/sink" "$PORT_SINK" || exit 1
	pf_init "$E2E_DIR/pf" || exit 1
	pf_start || exit 1

	case_begin plumbing
	send --from "$BOB" --template "$HTML" --first 1 --count 4 --sessions 2 || note "send.py failed"
	send --from "$ALICE" --template "$PLAIN" --first 5 --count 2 --source 127.0.0.2 || note "send.py failed"
	send_local --template "$PLAIN" --first 7 || note "sendmail failed"
	send_local --template "$HTML" --first 8 || note "sendmail failed"
	settle 8 30
	check 1-8 untouched
	case_end "8 messages byte-identical"

	case_begin tempfail-no-milter
	pf_set "milter_default_action = tempfail" "smtpd_milters = unix:$MB_SOCK" \
		"non_smtpd_milters = unix:$MB_SOCK"
	pf_reload
	sleep 1
	send --from "$ALICE" --template "$HTML" --first 11 --count 3 --sessions 3 --deadline 3 \
		>/dev/null && note "SMTP accepted mail although the milter is missing"
	send_local --template "$PLAIN" --first 21 --count 2 || note "sendmail failed"
	sleep 3
	[ "$(sink_count)" -eq 0 ] || note "$(sink_count) messages delivered while the milter is missing"
	[ "$(pf_queue_count)" -eq 2 ] || note "queue holds $(pf_queue_count) messages, not 2"
	pf_set "smtpd_milters =" "non_smtpd_milters ="
	pf_reload
	settle 2 30
	check 21-22 untouched
	case_end "SMTP got 4xx, sendmail mail waited in the queue"
}

# --- everything ------------------------------------------------------------

main() {
	e2e_init || exit 1
	E2E_TAG=r$$
	mb_conf_init "$E2E_DIR/mb" 127.0.0.1/32 || exit 1
	MB_MILTER_LOG=$E2E_DIR/mb/milter.log
	sink_start "$E2E_DIR/sink" "$PORT_SINK" || exit 1
	pf_init "$E2E_DIR/pf" "unix:$MB_SOCK" accept || exit 1

	# config: the milter accepts the test configuration (-n).
	CASE=config
	local bin=$MB_BUILD/milter/mailbeacon-milter out
	if [ ! -x "$bin" ]; then
		fail config "$bin not built"
		echo "$passed passed, $failed failed"
		exit 1
	fi
	if ! out=$("$bin" -n -c "$MB_CONF" 2>&1); then
		fail config "mailbeacon-milter -n: $out"
		echo "$passed passed, $failed failed"
		exit 1
	fi
	ok config
	mb_milter_start || { fail milter-start "the milter did not start"; exit 1; }
	pf_start || { fail postfix-start "Postfix did not start"; exit 1; }

	if want_case a; then
		case_begin a-tracked-smtp
		send --from "$ALICE" --template "$HTML" --first 1 || note "send.py failed"
		send --from "$ALICE" --template "$PLAIN" --first 2 || note "send.py failed"
		settle 2 30
		check 1 tracked
		n=$(store_count 1)
		[ "$n" = 1 ] || note "SELECT count(*) for $(msgid 1) gave '$n', not 1"
		# Plain text alone has no pixel and (without text-clicks) no link
		# to rewrite: nothing to track, so no footer either.
		check 2 untouched
		case_end "HTML tracked; plain text from $ALICE untouched (nothing to track)"
	fi

	if want_case b; then
		case_begin b-not-opted-in
		send --from "$BOB" --template "$HTML" --first 101 || note "send.py failed"
		send --from "$BOB" --template "$PLAIN" --first 102 || note "send.py failed"
		LOCAL_FROM=$BOB send_local --template "$HTML" --first 103 || note "sendmail failed"
		settle 3 30
		check 101-103 untouched
		case_end "byte-identical but for Postfix's Received:"
	fi

	if want_case c; then
		case_begin c-inbound
		send --from "$ALICE" --source 127.0.0.2 --template "$HTML" --first 201 || note "send.py failed"
		send --from "$ALICE" --source 127.0.0.2 --template "$PLAIN" --first 202 || note "send.py failed"
		settle 2 30
		check 201-202 untouched
		case_end "$ALICE from 127.0.0.2 byte-identical"
	fi

	if want_case c2; then
		# The submission service (milter_macro_daemon_name=ORIGINATING, as
		# in contrib/postfix/master.cf.snippet) makes mail outbound even
		# from a client outside internal_hosts.
		case_begin c2-submission-originating
		$SEND --port "$PORT_SUB" --to "$RCPT" --save "$E2E_DIR/sent" --tag "$E2E_TAG" \
			--from "$ALICE" --source 127.0.0.2 --template "$HTML" --first 251 | sed 's/^/# /'
		[ "${PIPESTATUS[0]}" = 0 ] || note "send.py failed"
		settle 1 30
		check 251 tracked
		case_end "$ALICE from 127.0.0.2 on the ORIGINATING service tracked"
	fi

	if want_case h; then
		# A 180 KB message with a 3,500-octet 7bit line: larger than
		# miltertest can carry (see tests/milter/lib.lua). It must arrive
		# as quoted-printable with short lines, and exactly as preview
		# shows it for the recorded id and time.
		case_begin h-large-qp-equals-preview
		send --from "$ALICE" --template "$here/large-longline.eml" --first 901 || note "send.py failed"
		settle 1 30
		check 901 tracked
		out=$(python3 "$here/preview_match.py" "$SINK_DIR" "$E2E_DIR/sent" 901 "$MB_DB" \
			"$MB_BUILD/admin/mailbeacon" "$MB_CONF" "$ALICE" "$RCPT" 2>&1)
		printf '%s\n' "$out" | sed 's/^/# /'
		case $out in
		ok:*"Content-Transfer-Encoding quoted-printable"*) ;;
		*) note "preview_match: ${out:-no verdict}" ;;
		esac
		case_end "delivered = preview, quoted-printable"
	fi

	if want_case i; then
		# Opt-out across components: the recipient uses the footer of a
		# delivered message; the beacon records it; the next message to
		# them passes the milter untouched. Its own recipient: the other
		# cases' recipient must stay tracked.
		OPTOUT_RCPT=dave@example.net
		case_begin i-optout-beacon-milter
		PORT_BEACON=$(e2e_free_port)
		cp "$MB_CONF" "$E2E_DIR/beacon.conf"
		printf 'beacon_listen = 127.0.0.1:%s\n' "$PORT_BEACON" >>"$E2E_DIR/beacon.conf"
		sed -i "s#^key_file = .*#key_file = $MB_DIR/keys#; s#^hash_key_file = .*#hash_key_file = $MB_DIR/hash.key#; s#^policy_file = .*#policy_file = $MB_DIR/policy#" "$E2E_DIR/beacon.conf"
		"$MB_BUILD/beacon/mailbeacond" -f -c "$E2E_DIR/beacon.conf" 2>"$E2E_DIR/beacon.log" &
		beacon_pid=$!
		if ! e2e_wait_port "$PORT_BEACON" 10; then
			note "the beacon did not start: $(head -3 "$E2E_DIR/beacon.log")"
		else
			RCPT=$OPTOUT_RCPT send --from "$ALICE" --template "$HTML" --first 951 || note "send.py failed"
			settle 1 30
			check 951 tracked
			out=$(python3 "$here/optout_flow.py" "$SINK_DIR" 951 "$PORT_BEACON" "$MB_DB" 2>&1)
			printf '%s\n' "$out" | sed 's/^/# /'
			case $out in ok:*) ;; *) note "optout_flow: ${out:-no verdict}" ;; esac
			RCPT=$OPTOUT_RCPT send --from "$ALICE" --template "$HTML" --first 952 || note "send.py failed"
			settle 2 30
			check 952 untouched
			grep -q "a recipient opted out of tracking" "$MB_MILTER_LOG" ||
				note "no 'opted out' line in the milter's log"
		fi
		kill "$beacon_pid" 2>/dev/null
		wait "$beacon_pid" 2>/dev/null
		case_end "opted out in the beacon; the next message to $OPTOUT_RCPT untouched"
	fi

	if want_case j; then
		# Issue 11, item 3: an opt-out holds for every spelling of the
		# mailbox. Postfix relays "erin"@example.net as erin@example.net,
		# but hands the milter the RCPT argument as the client wrote it.
		# erin+news@ is another mailbox and stays tracked.
		case_begin j-optout-spellings
		out=$(mb_admin_as_pf -c "$MB_CONF" optout erin@example.net 2>&1) ||
			note "mailbeacon optout: $out"
		RCPT='"erin"@example.net' send --verbatim --from "$ALICE" --template "$HTML" \
			--first 961 || note "send.py failed"
		RCPT='"e\rin"@example.net' send --verbatim --from "$ALICE" --template "$HTML" \
			--first 962 || note "send.py failed"
		RCPT=erin+news@example.net send --from "$ALICE" --template "$HTML" --first 963 ||
			note "send.py failed"
		settle 3 30
		check 961-962 untouched
		check 963 tracked
		n=$(case_mb_log | grep -c "a recipient opted out of tracking")
		[ "$n" = 2 ] || note "$n 'opted out' lines in the milter's log, not 2"
		case_end "opted out as erin@; \"erin\"@ and \"e\\rin\"@ untouched, erin+news@ tracked"
	fi

	if want_case k; then
		# Issue 11, item 17: a chrooted smtpd (chroot "y", as in Debian's
		# master.cf) reaches a milter whose socket is in the queue
		# directory through the queue-relative path
		# unix:mailbeacon/milter.sock, the form the README recommends
		# for both milters. A second milter listens there.
		case_begin k-chroot-smtpd
		local qsock=$PF_DIR/queue/mailbeacon/milter.sock port_chroot
		port_chroot=$(e2e_free_port)
		mkdir -p "$PF_DIR/queue/mailbeacon"
		chown "$PF_USER" "$PF_DIR/queue/mailbeacon"
		chmod 750 "$PF_DIR/queue/mailbeacon"
		sed "s|^milter_socket = .*|milter_socket = unix:$qsock|" "$MB_CONF" >"$MB_DIR/chroot.conf"
		if mb_extra_milter_start "$MB_DIR/chroot.conf" "$qsock" "$MB_DIR/milter-chroot.log"; then
			printf '127.0.0.1:%s inet n - y - - smtpd\n  -o syslog_name=postfix/chroot\n  -o smtpd_milters=unix:mailbeacon/milter.sock\n' \
				"$port_chroot" >>"$PF_CONF/master.cf"
			pf_reload
			e2e_wait_port "$port_chroot" 20 || note "the chrooted smtpd does not answer"
			$SEND --port "$port_chroot" --to "$RCPT" --save "$E2E_DIR/sent" --tag "$E2E_TAG" \
				--from "$ALICE" --template "$HTML" --first 971 | sed 's/^/# /'
			[ "${PIPESTATUS[0]}" = 0 ] || note "send.py failed"
			settle 1 30
			check 971 tracked
			grep -q "tracked from=<$ALICE>" "$MB_DIR/milter-chroot.log" ||
				note "the milter on the queue-relative socket tracked nothing"
			p=$(case_pf_log | grep 'postfix/chroot' | grep -iE 'warning|fatal|error')
			[ -n "$p" ] && note "Postfix log: $(printf '%s\n' "$p" | head -3 | paste -sd'|')"
		else
			note "the milter on $qsock did not start: $(tail -3 "$MB_DIR/milter-chroot.log")"
		fi
		mb_extra_milters_stop
		[ -z "$why" ] || sed 's/^/#   chroot milter: /' "$MB_DIR/milter-chroot.log" | tail -20
		case_end "smtpd chrooted in the queue directory, milter at unix:mailbeacon/milter.sock"
	fi

	if want_case d; then
		case_begin d-tracked-sendmail
		send_local --template "$HTML" --first 301 || note "sendmail failed"
		send_local --template "$PLAIN" --first 302 || note "sendmail failed"
		settle 2 30
		check 301 tracked
		n=$(store_count 301)
		[ "$n" = 1 ] || note "SELECT count(*) for $(msgid 301) gave '$n', not 1"
		check 302 untouched
		case_end "sendmail -C as $MB_LOCAL_SENDER: HTML tracked, plain text untouched"
	fi

	if want_case d2; then
		# Local submission is outbound in its own right, not because
		# 127.0.0.1 happens to be in internal_hosts: with a configuration
		# whose internal_hosts leaves out loopback, sendmail mail of an
		# opted-in sender is still tracked, and SMTP mail from 127.0.0.1
		# (now an outside client) is not. Postfix presents local
		# submissions to non_smtpd_milters as a connection from
		# localhost[127.0.0.1], port 0 (cleanup_milter_client_init).
		case_begin d2-local-submission
		sed 's|^internal_hosts = .*|internal_hosts = 192.0.2.0/24|' "$MB_CONF" \
			>"$MB_DIR/mailbeacon-noloop.conf"
		mb_milter_stop
		mb_milter_start "$MB_DIR/mailbeacon-noloop.conf" || note "the milter did not start"
		send_local --template "$HTML" --first 351 || note "sendmail failed"
		send --from "$ALICE" --template "$HTML" --first 352 || note "send.py failed"
		settle 2 30
		check 351 tracked
		check 352 untouched
		mb_milter_stop
		mb_milter_start || note "the milter did not restart"
		case_end "internal_hosts without loopback: sendmail tracked, SMTP from 127.0.0.1 untouched"
	fi

	if want_case e; then
		case_begin e-200x20
		local t0=$SECONDS
		send --from "$ALICE" --template "$HTML" --first 1001 --count 200 --sessions 20 \
			--deadline 60 || note "send.py failed"
		settle 200 90
		check 1001-1200 tracked
		log_problems
		case_end "200 messages, 20 sessions, $((SECONDS - t0))s"
	fi

	if want_case f; then
		# The whole milter (supervisor and worker) dies; it is started
		# again by hand a second later. Mail in flight and mail sent while
		# it is down goes out untouched (milter_default_action = accept);
		# sessions opened after the restart are tracked again.
		case_begin f-kill9-accept
		send --from "$ALICE" --template "$HTML" --first 2001 --count 100 --sessions 10 \
			--per-session 5 --pause 0.1 --deadline 60 &
		local sp=$! at
		sink_wait 20 30 || note "the flow did not start"
		at=$(sink_count)
		mb_milter_kill9
		echo "# killed the milter (kill -9) after $at of 100 messages"
		sleep 1
		mb_milter_start || note "the milter did not restart"
		wait "$sp" || note "send.py failed"
		[ "$at" -lt 100 ] || note "all messages arrived before the kill; nothing tested"
		# Mail after the restart is tracked again.
		send --from "$ALICE" --template "$HTML" --first 2101 --count 10 --sessions 2 ||
			note "send.py failed"
		settle 110 60
		check 2001-2100 any --untracked-records any
		local s1=$CHECK_SUMMARY
		check 2101-2110 tracked
		case_end "killed after $at of 100: $s1; the 10 after the restart tracked"
	fi

	if want_case f2; then
		# Only the worker dies; the supervisor keeps the listening socket
		# and starts a new worker a second later.
		case_begin f2-kill9-worker
		send --from "$ALICE" --template "$HTML" --first 2501 --count 100 --sessions 10 \
			--per-session 5 --pause 0.1 --deadline 60 &
		local sp=$! at old
		sink_wait 20 30 || note "the flow did not start"
		at=$(sink_count)
		old=$(mb_milter_kill9_worker) || note "no worker process to kill"
		echo "# killed the worker $old (kill -9) after $at of 100 messages"
		mb_milter_wait_worker "$old" 10 || note "the supervisor did not start a new worker"
		wait "$sp" || note "send.py failed"
		[ "$at" -lt 100 ] || note "all messages arrived before the kill; nothing tested"
		send --from "$ALICE" --template "$HTML" --first 2601 --count 10 --sessions 2 ||
			note "send.py failed"
		settle 110 60
		check 2501-2600 any --untracked-records any
		local s1=$CHECK_SUMMARY
		check 2601-2610 tracked
		case_end "killed after $at of 100: $s1; the 10 after the restart tracked"
	fi

	if want_case g; then
		case_begin g-tempfail
		pf_set "milter_default_action = tempfail"
		pf_reload
		mb_milter_stop
		sleep 1
		send --from "$ALICE" --template "$HTML" --first 3001 --count 20 --sessions 5 \
			--deadline 90 &
		local sp=$!
		send_local --template "$HTML" --first 3101 --count 5 || note "sendmail failed"
		sleep 5
		[ "$(sink_count)" -eq 0 ] || note "$(sink_count) messages delivered while the milter was down"
		e2e_alive "$sp" || note "send.py finished while the milter was down"
		echo "# while down: $(sink_count) delivered, $(pf_queue_count) in the queue"
		mb_milter_start || note "the milter did not restart"
		wait "$sp" || note "send.py failed"
		pf_flush >/dev/null 2>&1
		settle 25 60
		check 3001-3020,3101-3105 tracked
		case_end "20 over SMTP, 5 through sendmail"
	fi

	# The milter stops cleanly on SIGTERM, and nothing in the whole run
	# crashed (sanitizer reports land in the milter's stderr).
	CASE=z-clean-stop
	why=
	mb_milter_stop
	[ "$MB_MILTER_STATUS" = 0 ] || note "the milter exited with status $MB_MILTER_STATUS after SIGTERM"
	p=$(grep -E 'Sanitizer|runtime error|fatal|panic|Segmentation|core dumped' "$MB_MILTER_LOG")
	[ -n "$p" ] && note "milter log: $(printf '%s\n' "$p" | head -3 | paste -sd'|')"
	p=$(grep -iE 'fatal|panic' "$PF_LOG")
	[ -n "$p" ] && note "Postfix log: $(printf '%s\n' "$p" | head -3 | paste -sd'|')"
	if [ -z "$why" ]; then ok "$CASE"; else fail "$CASE" "$why"; fi

	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

CASES=()
if [ "${1:-}" = --harness ]; then
	harness
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
fi
CASES=("$@")
main
