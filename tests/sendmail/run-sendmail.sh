#!/bin/bash
# run-sendmail.sh: mailbeacon-milter under Debian's sendmail (an automake
# TESTS entry). Debian's sendmail packages conflict with postfix, which the
# other tests need installed, so they are not installed: their .debs are
# fetched with "apt-get download" (cached under the build directory, so
# reruns are offline) and unpacked with dpkg -x into the temporary
# directory. A sendmail.cf is made with the unpacked cf/m4 files from
# contrib/sendmail/mailbeacon.mc, and sendmail runs from there as a
# foreground daemon on loopback ports, relaying everything to smtp-sink,
# with the milter and its store set up as in tests/e2e (postfix-lib.sh).
#
#   run-sendmail.sh          all cases
#   run-sendmail.sh a b      only the named cases (cf always runs)
#
# Needs root, python3, sqlite3, smtp-sink and the postfix user (as the e2e
# tests; SKIP without them), m4 (Debian package m4; fetched and unpacked like
# sendmail when missing), and the sendmail-bin and sendmail-cf .debs (and
# libwrap0 when it is not installed). Exit 77 ("SKIP ... did NOT run") only
# when something it needs is missing or the .debs cannot be downloaded.
# Environment: top_builddir (set by "make check"), MB_BUILD (default
# $top_builddir, else build/ of the source tree), SM_DEB_CACHE (default
# $MB_BUILD/tests/sendmail-debs), E2E_KEEP=1 keeps the temporary directory.
# Prints "ok NAME" or "FAIL NAME: why" per case, then "N passed, M failed".

# "A && B || note ...": either failing is noted (SC2015 is intended).
# shellcheck disable=SC2015
here=$(cd "$(dirname "$0")" && pwd)
top_src=$(cd "$here/../.." && pwd)
MB_BUILD=${MB_BUILD:-${top_builddir:-$top_src/build}}
MB_BUILD=$(cd "$MB_BUILD" && pwd)
export MB_BUILD

skip() {
	echo "SKIP: $* -- the sendmail tests did NOT run"
	echo "SKIP: $* -- the sendmail tests did NOT run" >&2
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "not root (sendmail and the milter's postfix user need root)"
for t in smtp-sink sqlite3 python3 runuser dpkg apt-get; do
	command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$t" >/dev/null 2>&1 || skip "$t not found (Debian packages postfix, sqlite3, python3)"
done
id postfix >/dev/null 2>&1 || skip "no postfix user"

# shellcheck source=../e2e/postfix-lib.sh
. "$here/../e2e/postfix-lib.sh"

SEND="python3 $here/../e2e/send.py"
HTML=$here/../e2e/html.eml
ALICE=alice@example.com
BOB=bob@example.com
RCPT=carol@example.net
SNIPPET=$top_src/contrib/sendmail/mailbeacon.mc
MB=$MB_BUILD/admin/mailbeacon

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
note() { why=${why:+$why; }$*; }
# die NAME WHY: fails NAME and stops the run.
die() {
	fail "$1" "$2"
	echo "$passed passed, $failed failed"
	exit 1
}

# --- the sendmail .debs ----------------------------------------------------

# sm_fetch: makes sure SM_DEB_CACHE holds the .debs (downloads what is
# missing; apt-get update once if the package lists are stale).
SM_DEB_CACHE=${SM_DEB_CACHE:-$MB_BUILD/tests/sendmail-debs}
sm_fetch() {
	local want=(sendmail-bin sendmail-cf) missing=() p
	command -v m4 >/dev/null 2>&1 || want+=(m4)
	# The sendmail binary links libwrap.so.0 (Debian package libwrap0).
	ldconfig -p 2>/dev/null | grep -q 'libwrap\.so\.0 ' || want+=(libwrap0)
	mkdir -p "$SM_DEB_CACHE" || return 1
	for p in "${want[@]}"; do
		ls "$SM_DEB_CACHE/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "# downloading ${missing[*]} into $SM_DEB_CACHE"
	# apt-get download writes to the current directory, as _apt when it
	# can: the directory must be writable by _apt.
	chmod 755 "$SM_DEB_CACHE"
	chown _apt "$SM_DEB_CACHE" 2>/dev/null
	if ! (cd "$SM_DEB_CACHE" && apt-get download -q "${missing[@]}") >"$SM_DEB_CACHE/download.log" 2>&1; then
		apt-get update -q >>"$SM_DEB_CACHE/download.log" 2>&1
		(cd "$SM_DEB_CACHE" && apt-get download -q "${missing[@]}") >>"$SM_DEB_CACHE/download.log" 2>&1 ||
			{ tail -n 5 "$SM_DEB_CACHE/download.log" | sed 's/^/# /'; return 1; }
	fi
}

# sm_unpack DIR: the .debs unpacked in DIR; sets SM_BIN, SM_CFDIR, SM_M4,
# SM_LIBS.
sm_unpack() {
	local d
	mkdir -p "$1" || return 1
	for d in "$SM_DEB_CACHE"/*.deb; do
		dpkg -x "$d" "$1" || return 1
	done
	SM_BIN=$1/usr/libexec/sendmail/sendmail
	[ -x "$SM_BIN" ] || SM_BIN=$1/usr/lib/sm.bin/sendmail
	SM_CFDIR=$1/usr/share/sendmail/cf
	SM_M4=$(command -v m4 || echo "$1/usr/bin/m4")
	# The directories of the unpacked shared libraries (libwrap0).
	SM_LIBS=$(find "$1" -name 'lib*.so.*' -printf '%h\n' | sort -u | paste -sd:)
	# Set-gid in the package: the loader would then ignore
	# LD_LIBRARY_PATH, and we run it as root anyway.
	chmod g-s "$SM_BIN"
	[ -x "$SM_BIN" ] && [ -f "$SM_CFDIR/m4/cf.m4" ] && [ -x "$SM_M4" ]
}

# sendmail reads its host name before its configuration and, when the name
# has no dot and does not resolve to one, sleeps 60 s at every start ("My
# unqualified host name ... unknown; sleeping for retry"). Then each run
# gets a UTS namespace of its own named mbtest.example.org; the machine's
# host name is not changed.
SM_UTS=
sm_hostname() {
	case $(hostname) in *.*) return 0 ;; esac
	case $(python3 -c 'import socket; print(socket.getfqdn())' 2>/dev/null) in *.*) return 0 ;; esac
	if unshare --uts true 2>/dev/null; then
		SM_UTS=1
	else
		echo "# the host name has no domain and unshare --uts is not permitted:"
		echo "# every sendmail start sleeps 60 s"
	fi
}
# sm_wrapper FILE: a script that runs the unpacked sendmail (with its
# libraries, and in its own UTS namespace when needed); SM is its path.
sm_wrapper() {
	SM=$1
	{
		echo '#!/bin/sh'
		printf 'LD_LIBRARY_PATH=%s\nexport LD_LIBRARY_PATH\n' "$SM_LIBS"
		if [ -n "$SM_UTS" ]; then
			printf 'exec unshare --uts sh -c '"'"'hostname mbtest.example.org && exec "$@"'"'"' sh %s "$@"\n' "$SM_BIN"
		else
			printf 'exec %s "$@"\n' "$SM_BIN"
		fi
	} >"$SM"
	chmod 755 "$SM"
}
# sm ARGS...: runs the unpacked sendmail.
sm() { "$SM" "$@"; }

# --- configuration -----------------------------------------------------------

# sm_mc FILE FILTER_LINES: the MTA's sendmail.mc: everything relayed to
# smtp-sink, a daemon "MTA" on PORT_SMTP and "MSA" on PORT_SUB; then the
# FILTER_LINES (the contrib snippet); then the mailers.
sm_mc() {
	cat >"$1" <<EOF
divert(-1)
include(\`$SM_CFDIR/m4/cf.m4')
divert(0)dnl
VERSIONID(\`mailbeacon tests/sendmail')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mbtest.example.org')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
dnl The temporary directory lives under /tmp (world-writable, sticky).
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`QUEUE_DIR', \`$SM_DIR/mqueue')dnl
define(\`STATUS_FILE', \`$SM_DIR/sendmail.st')dnl
define(\`confPID_FILE', \`$SM_DIR/sendmail.pid')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
define(\`ALIAS_FILE', \`')dnl
define(\`confHELP_FILE', \`')dnl
define(\`confCW_FILE', \`$SM_DIR/local-host-names')dnl
define(\`confSERVICE_SWITCH_FILE', \`$SM_DIR/service.switch')dnl
define(\`confHOSTS_FILE', \`/etc/hosts')dnl
define(\`confDEF_USER_ID', \`$PF_USER:$PF_USER')dnl
define(\`confDELIVERY_MODE', \`background')dnl
define(\`confTO_ICONNECT', \`5s')dnl
define(\`SMART_HOST', \`esmtp:[127.0.0.1]')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $PORT_SINK')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`promiscuous_relay')dnl
FEATURE(\`no_default_msa')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MTA, Port=$PORT_SMTP, Addr=127.0.0.1')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MSA, Port=$PORT_SUB, Addr=127.0.0.1, M=E')dnl
EOF
	printf '%s\n' "$2" >>"$1"
	printf 'MAILER(`local'"'"')dnl\nMAILER(`smtp'"'"')dnl\n' >>"$1"
}

# sm_submit_mc FILE: the MSP's submit.mc, as Debian's (FEATURE(msp) relaying
# to the MTA on 127.0.0.1), with our port and directories.
sm_submit_mc() {
	cat >"$1" <<EOF
divert(-1)
include(\`$SM_CFDIR/m4/cf.m4')
divert(0)dnl
VERSIONID(\`mailbeacon tests/sendmail submit')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mbtest.example.org')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
dnl The MSP refuses to run as root; Debian's runs as smmsp.
define(\`confRUN_AS_USER', \`$PF_USER')dnl
define(\`MSP_QUEUE_DIR', \`$SM_DIR/clientmqueue')dnl
define(\`STATUS_FILE', \`$SM_DIR/submit.st')dnl
define(\`confPID_FILE', \`$SM_DIR/submit.pid')dnl
define(\`confSERVICE_SWITCH_FILE', \`$SM_DIR/service.switch')dnl
define(\`confHOSTS_FILE', \`/etc/hosts')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $PORT_SMTP')dnl
FEATURE(\`msp', \`[127.0.0.1]')dnl
EOF
}

# sm_cf MC CF: m4 MC > CF.
sm_cf() {
	"$SM_M4" "$1" >"$2" 2>"$2.m4err" || { cat "$2.m4err" >&2; return 1; }
}

# sm_start CF: sendmail -bD (a daemon in the foreground) with CF; waits for
# its ports. -X traces every SMTP session into SM_DIR/trace.
sm_start() {
	# "$SM", not the function sm: a function in the background runs in a
	# subshell, and $! would be that subshell, not sendmail.
	"$SM" -bD -C "$1" -X "$SM_DIR/trace" >>"$SM_DIR/sendmail.out" 2>&1 &
	SM_PID=$!
	e2e_wait_port "$PORT_SMTP" 90 && e2e_wait_port "$PORT_SUB" 10 && return 0
	echo "sm_start: sendmail does not answer:" >&2
	tail -n 5 "$SM_DIR/sendmail.out" >&2
	return 1
}
# mb2_start CONF SOCKET: a second milter (MB2_PID, log MB2_LOG).
mb2_start() {
	MB2_LOG=$MB_DIR/milter2.log
	"$MB_BUILD/milter/mailbeacon-milter" -f -c "$1" >>"$MB2_LOG" 2>&1 &
	MB2_PID=$!
	for _ in $(seq 100); do
		e2e_alive "$MB2_PID" || break
		python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])' "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$MB2_LOG" >&2
	return 1
}
mb2_stop() {
	[ -n "${MB2_PID:-}" ] || return 0
	kill "$MB2_PID" 2>/dev/null
	wait "$MB2_PID" 2>/dev/null
	MB2_PID=
}
sm_stop() {
	[ -n "${SM_PID:-}" ] || return 0
	e2e_stop_pids "$SM_PID"
	SM_PID=
}

# --- the cases ---------------------------------------------------------------

# case_begin NAME / case_end DETAIL, as in tests/e2e/run-e2e.sh.
case_begin() {
	CASE=$1
	why=
	sink_clear
	mb_log_mark=$({ wc -l <"${MB_MILTER_LOG:-/nonexistent}"; } 2>/dev/null || echo 0)
	echo "# --- $CASE"
}
case_end() {
	if [ -z "$why" ]; then
		ok "$CASE" "${1:-}"
	else
		fail "$CASE" "$why"
		echo "# milter log of the case:"
		tail -n +"$((mb_log_mark + 1))" "$MB_MILTER_LOG" 2>/dev/null | tail -n 20 | sed 's/^/#   /'
		echo "# sendmail's SMTP trace (last 20 lines):"
		tail -n 20 "$SM_DIR/trace" 2>/dev/null | sed 's/^/#   /'
	fi
}
case_mb_log() { tail -n +"$((mb_log_mark + 1))" "$MB_MILTER_LOG" 2>/dev/null; }
want_case() {
	[ ${#CASES[@]} -eq 0 ] && return 0
	local c
	for c in "${CASES[@]}"; do [ "$c" = "$1" ] && return 0; done
	return 1
}

# send PORT ARGS...: send.py over SMTP to the sendmail daemon on PORT.
send() {
	local port=$1
	shift
	$SEND --port "$port" --to "$RCPT" --save "$E2E_DIR/sent" --tag "$E2E_TAG" "$@" |
		sed 's/^/# /'
	return "${PIPESTATUS[0]}"
}
# settle COUNT: waits until the sink holds COUNT messages (and no more).
settle() {
	sink_wait "$1" 30 || note "only $(sink_count) of $1 messages arrived within 30s"
	sleep 0.3
	[ "$(sink_count)" -le "$1" ] || note "$(sink_count) messages arrived, not $1"
}
# check SEQ tracked|untouched [FROM]: smcheck.py; a tracked message is also
# compared with mailbeacon preview (the sender FROM, default alice).
check() {
	local out args=()
	[ "$2" = tracked ] && args=(--preview "$MB" "$MB_CONF" "$MB_DB" "${3:-$ALICE}" "$RCPT")
	out=$(python3 "$here/smcheck.py" --sink "$SINK_DIR" --sent "$E2E_DIR/sent" --seq "$1" \
		--expect "$2" "${args[@]}" 2>&1)
	printf '%s\n' "$out" | sed 's/^/# /'
	case $out in ok:*) ;; *) note "$(printf '%s\n' "$out" | head -2 | paste -sd'|')" ;; esac
}
# msgid SEQ: the Message-ID that send.py gave message SEQ.
msgid() { echo "<e2e.$E2E_TAG.$1@mbtest.example.org>"; }

main() {
	sm_fetch || skip "cannot download the sendmail .debs (apt-get download sendmail-bin sendmail-cf)"
	e2e_init || exit 1
	trap 'sm_stop; mb2_stop; e2e_cleanup' EXIT
	E2E_TAG=s$$
	SM_DIR=$E2E_DIR/sm
	mkdir -p "$SM_DIR/mqueue" "$SM_DIR/clientmqueue" "$E2E_DIR/sent" || exit 1
	chmod 700 "$SM_DIR/mqueue"
	chown "$PF_USER" "$SM_DIR/clientmqueue"
	chmod 770 "$SM_DIR/clientmqueue"
	printf 'hosts files\naliases files\n' >"$SM_DIR/service.switch"
	: >"$SM_DIR/local-host-names"
	sm_unpack "$E2E_DIR/root" || die unpack "the .debs in $SM_DEB_CACHE do not unpack to a sendmail"
	sm_hostname
	sm_wrapper "$SM_DIR/sendmail"
	echo "# $(sm -d0.1 -bt -C /dev/null </dev/null 2>&1 | head -1)"
	mb_conf_init "$E2E_DIR/mb" 127.0.0.1/32 || exit 1
	# The submission daemon of our sendmail.mc is called MSA.
	echo "outbound_daemon_names = MSA" >>"$MB_CONF"
	MB_MILTER_LOG=$E2E_DIR/mb/milter.log
	sink_start "$E2E_DIR/sink" "$PORT_SINK" || exit 1

	# cf: sendmail.cf made from contrib/sendmail/mailbeacon.mc (our socket
	# instead of /run/mailbeacon/milter.sock) has the X line, the filter
	# in InputMailFilters and the macros; the variants used below too.
	CASE=cf
	why=
	local snippet
	snippet=$(sed "s#/run/mailbeacon/milter.sock#$MB_SOCK#" "$SNIPPET")
	sm_mc "$SM_DIR/sendmail.mc" "$snippet" && sm_cf "$SM_DIR/sendmail.mc" "$SM_DIR/sendmail.cf" ||
		note "m4 sendmail.mc failed"
	# Variants for -bs runs: without a milter at the socket (none.sock),
	# with no F= and with F=T; and with global macro lists that hold none
	# of the macros the milter reads (i, {auth_authen}, {daemon_name}),
	# for a second milter on noloop.sock.
	local none=$MB_DIR/milter/none.sock noloop=$MB_DIR/milter/noloop.sock
	printf '%s\n' "$snippet" | sed "s#$MB_SOCK#$none#" >"$SM_DIR/down.snippet"
	sm_mc "$SM_DIR/sendmail-down.mc" "$(cat "$SM_DIR/down.snippet")" &&
		sm_cf "$SM_DIR/sendmail-down.mc" "$SM_DIR/sendmail-down.cf" || note "m4 sendmail-down.mc failed"
	sm_mc "$SM_DIR/sendmail-T.mc" "$(sed 's/S=local:\([^,]*\), /S=local:\1, F=T, /' "$SM_DIR/down.snippet")" &&
		sm_cf "$SM_DIR/sendmail-T.mc" "$SM_DIR/sendmail-T.cf" || note "m4 sendmail-T.mc failed"
	sm_mc "$SM_DIR/sendmail-nomacros.mc" "$(printf '%s\n' "$snippet" | grep -v confMILTER_MACROS |
		sed "s#$MB_SOCK#$noloop#"
		echo "define(\`confMILTER_MACROS_CONNECT', \`j')dnl"
		echo "define(\`confMILTER_MACROS_ENVFROM', \`{mail_addr}')dnl"
		echo "define(\`confMILTER_MACROS_ENVRCPT', \`{rcpt_addr}')dnl"
		echo "define(\`confMILTER_MACROS_EOM', \`{msg_id}')dnl")" &&
		sm_cf "$SM_DIR/sendmail-nomacros.mc" "$SM_DIR/sendmail-nomacros.cf" ||
		note "m4 sendmail-nomacros.mc failed"
	sm_submit_mc "$SM_DIR/submit.mc" && sm_cf "$SM_DIR/submit.mc" "$SM_DIR/submit.cf" ||
		note "m4 submit.mc failed"
	local cf=$SM_DIR/sendmail.cf line
	line=$(grep '^Xmailbeacon' "$cf")
	[ "$line" = "Xmailbeacon, S=local:$MB_SOCK, T=C:10s;S:30s;R:30s;E:2m" ] ||
		note "X line: '$line'"
	grep -qx 'O InputMailFilters=mailbeacon' "$cf" || note "no 'O InputMailFilters=mailbeacon'"
	grep -qx 'O Milter.macros.connect=.*{daemon_name}.*' "$cf" || note "connect macros lack {daemon_name}"
	grep -qx 'O Milter.macros.envfrom=i, .*{auth_authen}.*' "$cf" || note "envfrom macros lack i or {auth_authen}"
	grep -qx 'O Milter.macros.envrcpt=i, .*' "$cf" || note "envrcpt macros lack i"
	grep -qx 'O Milter.macros.eom=i, .*' "$cf" || note "eom macros lack i"
	grep -qx "Xmailbeacon, S=local:$none, T=.*" "$SM_DIR/sendmail-down.cf" ||
		note "sendmail-down.cf: no X line without F="
	grep -qx "Xmailbeacon, S=local:$none, F=T, T=.*" "$SM_DIR/sendmail-T.cf" ||
		note "sendmail-T.cf: no X line with F=T"
	grep -q '^O Milter.macros.envfrom={mail_addr}$' "$SM_DIR/sendmail-nomacros.cf" &&
		grep -q '^O Milter.macros.eom={msg_id}$' "$SM_DIR/sendmail-nomacros.cf" ||
		note "sendmail-nomacros.cf: the macro lists are not the minimal ones"
	grep '^Xmailbeacon\|^O InputMailFilters\|^O Milter.macros' "$cf" | sed 's/^/# /'
	if [ -z "$why" ]; then ok cf "X line, InputMailFilters, macros"; else die cf "$why"; fi

	local bin=$MB_BUILD/milter/mailbeacon-milter out
	[ -x "$bin" ] || die milter-start "$bin not built"
	out=$("$bin" -n -c "$MB_CONF" 2>&1) || die milter-start "mailbeacon-milter -n: $out"
	mb_milter_start "$MB_CONF" || die milter-start "the milter did not start"
	local t0=$SECONDS
	sm_start "$cf" || die sendmail-start "sendmail did not start"
	ok sendmail-start "sendmail -bD on 127.0.0.1:$PORT_SMTP (MTA) and :$PORT_SUB (MSA), $((SECONDS - t0))s"

	if want_case a; then
		# Client 127.0.0.1 is in internal_hosts: outbound.
		case_begin a-tracked-smtp
		send "$PORT_SMTP" --from "$ALICE" --template "$HTML" --first 1 || note "send.py failed"
		settle 1
		check 1 tracked
		case_mb_log | grep -q ': tracked from=<alice@example.com> ' ||
			note "no 'tracked' line in the milter's log"
		case_mb_log | grep -q 'NOQUEUE' && note "the milter logged NOQUEUE: no i macro"
		case_end "HTML from $ALICE tracked; = preview; store queue_id = sendmail's queue id"
	fi

	if want_case b; then
		case_begin b-not-opted-in
		send "$PORT_SMTP" --from "$BOB" --template "$HTML" --first 101 || note "send.py failed"
		settle 1
		check 101 untouched
		n=$(mb_sql "SELECT count(*) FROM messages WHERE message_id_header LIKE '%e2e.$E2E_TAG.101@%'")
		[ "$n" = 0 ] || note "$n store rows for a message of $BOB"
		case_end "HTML from $BOB byte-identical but for sendmail's Received:, not stored"
	fi

	if want_case c; then
		# 127.0.0.2 is not in internal_hosts and MTA is not an outbound
		# daemon name: inbound.
		case_begin c-inbound
		send "$PORT_SMTP" --from "$ALICE" --source 127.0.0.2 --template "$HTML" --first 201 ||
			note "send.py failed"
		settle 1
		check 201 untouched
		case_end "$ALICE from 127.0.0.2 on MTA untouched"
	fi

	if want_case c2; then
		# {daemon_name} = MSA (DaemonPortOptions Name=), listed in
		# outbound_daemon_names: outbound whatever the client.
		case_begin c2-daemon-name
		send "$PORT_SUB" --from "$ALICE" --source 127.0.0.2 --template "$HTML" --first 251 ||
			note "send.py failed"
		settle 1
		check 251 tracked
		case_end "$ALICE from 127.0.0.2 on the daemon named MSA tracked"
	fi

	if want_case h; then
		# 180 KB with a 3,500-octet 7bit line: the milter switches the part
		# to quoted-printable (smfi_chgheader of Content-Transfer-Encoding
		# after smfi_replacebody); what arrives equals preview.
		case_begin h-large-qp
		send "$PORT_SMTP" --from "$ALICE" --template "$here/../e2e/large-longline.eml" --first 901 ||
			note "send.py failed"
		settle 1
		check 901 tracked
		grep -q '^Content-Transfer-Encoding: quoted-printable' "$SINK_DIR"/m.* ||
			note "no part became quoted-printable"
		case_end "180 KB, long line: quoted-printable, = preview"
	fi

	if want_case d; then
		# Local submission as on Debian: sendmail(1) with submit.cf (the
		# MSP) relays over SMTP to the MTA on 127.0.0.1, which runs the
		# milter; the client is 127.0.0.1 (in internal_hosts).
		case_begin d-msp-local-submission
		$SEND --sendmail "$SM -C $SM_DIR/submit.cf -i -f $ALICE" \
			--from "$ALICE" --to "$RCPT" --save "$E2E_DIR/sent" --tag "$E2E_TAG" \
			--template "$HTML" --first 301 | sed 's/^/# /'
		[ "${PIPESTATUS[0]}" = 0 ] || note "sendmail -C submit.cf failed"
		settle 1
		check 301 tracked
		case_end "sendmail -C submit.cf -f $ALICE: through the MTA, tracked, = preview"
	fi

	if want_case g; then
		# A known limit of sendmail, not of the milter: command-line mail
		# that bypasses the MSP (sendmail -Am, straight with sendmail.cf)
		# never reaches any milter. It arrives untouched.
		case_begin g-Am-bypasses-milters
		$SEND --sendmail "$SM -C $SM_DIR/sendmail.cf -Am -odi -i -f $ALICE" \
			--from "$ALICE" --to "$RCPT" --save "$E2E_DIR/sent" --tag "$E2E_TAG" \
			--template "$HTML" --first 501 | sed 's/^/# /'
		[ "${PIPESTATUS[0]}" = 0 ] || note "sendmail -Am failed"
		settle 1
		check 501 untouched
		[ -z "$(case_mb_log)" ] || note "the milter saw the message: $(case_mb_log | head -2 | paste -sd'|')"
		case_end "sendmail -Am: no milter runs (use the MSP, as Debian does)"
	fi

	if want_case e; then
		# sendmail -bs (SMTP on stdin) with sendmail.cf: sendmail runs the
		# milter with no client address, which the milter takes for local
		# submission, even with an internal_hosts without loopback. A
		# second milter with such a configuration on noloop.sock;
		# sendmail-nomacros.cf's global macro lists have no i at all: the
		# milter gets the queue id only by asking for it (smfi_setsymlist).
		case_begin e-bs-local
		sed "s|^internal_hosts = .*|internal_hosts = 192.0.2.0/24|; s|^milter_socket = .*|milter_socket = unix:$noloop|" \
			"$MB_CONF" >"$MB_DIR/mailbeacon-noloop.conf"
		if ! mb2_start "$MB_DIR/mailbeacon-noloop.conf" "$noloop"; then
			note "the second milter did not start"
		else
			python3 "$here/bs.py" --from "$ALICE" --to "$RCPT" --template "$HTML" --seq 351 \
				--tag "$E2E_TAG" --save "$E2E_DIR/sent" -- "$SM" -C "$SM_DIR/sendmail-nomacros.cf" -bs |
				grep -v '^# <<< 250-'
			[ "${PIPESTATUS[0]}" = 0 ] || note "sendmail -bs did not accept the message"
			settle 1
			check 351 tracked
			grep -q ': tracked from=<alice@example.com> ' "$MB2_LOG" ||
				note "no 'tracked' line in the second milter's log"
			grep -q 'NOQUEUE' "$MB2_LOG" && note "the second milter logged NOQUEUE: no i macro"
			# It stops while the other cases run.
			kill "$MB2_PID"
		fi
		case_end "-bs, internal_hosts without loopback, no i in the macro lists: tracked, = preview, queue id stored"
	fi

	if want_case f; then
		# No milter at the socket (sendmail -bs): with no F= flag sendmail
		# carries on without it, the mail goes out untouched; with F=T it
		# answers 4xx and takes nothing.
		case_begin f-milter-down
		python3 "$here/bs.py" --from "$ALICE" --to "$RCPT" --template "$HTML" --seq 401 \
			--tag "$E2E_TAG" --save "$E2E_DIR/sent" -- "$SM" -C "$SM_DIR/sendmail-down.cf" -bs |
			grep -v '^# <<< 250-'
		rc=${PIPESTATUS[0]}
		[ "$rc" = 0 ] || note "no F=: bs.py exit $rc, not 0 (accepted)"
		python3 "$here/bs.py" --from "$ALICE" --to "$RCPT" --template "$HTML" --seq 402 \
			--tag "$E2E_TAG" -- "$SM" -C "$SM_DIR/sendmail-T.cf" -bs | grep -v '^# <<< 250-'
		rc=${PIPESTATUS[0]}
		[ "$rc" = 4 ] || note "F=T: bs.py exit $rc, not 4 (a 4xx reply)"
		settle 1
		check 401 untouched
		case_end "no F=: delivered untouched; F=T: 4xx, nothing delivered"
	fi

	CASE=z-clean-stop
	why=
	local smpid=$SM_PID
	sm_stop
	e2e_alive "$smpid" && note "sendmail $smpid still runs after SIGTERM"
	# No sendmail of this run is left (their working directory is the
	# queue under SM_DIR).
	for p in $(pgrep -f '^sendmail' 2>/dev/null); do
		case $(readlink "/proc/$p/cwd" 2>/dev/null) in
		"$SM_DIR"/*) note "sendmail process $p of this run is left" ;;
		esac
	done
	mb_milter_stop
	if [ -n "${MB2_PID:-}" ]; then
		wait "$MB2_PID"
		rc=$?
		MB2_PID=
		[ "$rc" = 0 ] || note "the second milter exited with status $rc after SIGTERM"
		cat "$MB2_LOG" >>"$MB_MILTER_LOG"
	fi
	[ "$MB_MILTER_STATUS" = 0 ] || note "the milter exited with status $MB_MILTER_STATUS after SIGTERM"
	p=$(grep -E 'Sanitizer|runtime error|fatal|panic|Segmentation|core dumped' "$MB_MILTER_LOG")
	[ -n "$p" ] && note "milter log: $(printf '%s\n' "$p" | head -3 | paste -sd'|')"
	if [ -z "$why" ]; then ok "$CASE"; else fail "$CASE" "$why"; fi

	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

CASES=("$@")
main
