#!/bin/bash
# run-multihost.sh: several hosts on one store (issue 13, must-show 3), an
# automake TESTS entry. Two private Postfix instances, each with its own
# mailbeacon-milter (two relays), and two mailbeacond on different ports,
# all on one PostgreSQL database (tests/pg/cluster.sh); 200 messages split
# across the relays, pixel and click hits spread over both beacons; then
# `mailbeacon report --format json` from a third configuration must show
# every message and event exactly once, and equal the same scenario run with
# all four daemons on one SQLite file.
#
# Needs root (private Postfix instances), postfix, smtp-sink, python3 and
# PostgreSQL 15 (dev.sh installs it); skips (exit 77) without them.
# Environment: top_builddir (set by "make check"; MB_BUILD, default build/
# of the source tree), E2E_KEEP=1 keeps the temporary directory.
# Prints "ok NAME" or "FAIL NAME: why" per step, then "N passed, M failed".

here=$(cd "$(dirname "$0")" && pwd)
MB_BUILD=${MB_BUILD:-${top_builddir:-$here/../../build}}
MB_BUILD=$(cd "$MB_BUILD" && pwd) || exit 1
export MB_BUILD

skip() {
	echo "SKIP: $* -- the multi-host test did NOT run"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "not root (a private Postfix instance needs root)"
for t in postfix postconf postqueue smtp-sink python3 runuser; do
	command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$t" >/dev/null 2>&1 || skip "$t not found (Debian packages postfix, python3)"
done
id postfix >/dev/null 2>&1 || skip "no postfix user"
for prog in milter/mailbeacon-milter beacon/mailbeacond admin/mailbeacon; do
	[ -x "$MB_BUILD/$prog" ] || { echo "FAIL: $MB_BUILD/$prog is not built"; exit 1; }
done

. "$here/../e2e/postfix-lib.sh"
. "$here/../pg/cluster.sh"

DRIVER="python3 $here/multihost.py"
SEND="python3 $here/../e2e/send.py"
TEMPLATE=$here/../e2e/html.eml
SENDERS="alice@example.com frank@example.com"
RCPT=carol@example.net
MESSAGES=200

passed=0
failed=0
ok() { echo "ok $1${2:+ ($2)}"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit $?
}

multihost_cleanup() {
	local rc=$?
	[ -n "$SEND_PIDS" ] && kill $SEND_PIDS 2>/dev/null
	# The daemons first: they hold connections to the cluster.
	mb_beacons_stop >/dev/null 2>&1
	mb_extra_milters_stop >/dev/null 2>&1
	pg_cluster_remove >/dev/null 2>&1
	(exit $rc)
	e2e_cleanup
}

e2e_init || exit 1
trap multihost_cleanup EXIT
pg_cluster_start
rc=$?
[ $rc = 77 ] && skip "PostgreSQL 15 (initdb) is not installed (dev.sh installs postgresql-15)"
[ $rc = 0 ] || { fail postgresql "cannot start a PostgreSQL cluster"; finish; }

E2E_TAG=mh$$
sink_start "$E2E_DIR/sink" "$PORT_SINK" || { fail sink "smtp-sink did not start"; finish; }
# The relays' milter sockets do not depend on the backend, so the two
# Postfix instances run through both scenarios; only the milters change.
mkdir -p "$E2E_DIR/sock" && chown "$PF_USER" "$E2E_DIR/sock" || exit 1
RELAYS="a b"
SEND_PIDS=	# the senders running in the background (the cleanup stops them)
declare -A sent_before	# the deliveries each relay's log showed before a scenario
for r in $RELAYS; do
	pf_instance "$r" || exit 1
	pf_init "$E2E_DIR/pf-$r" "unix:$E2E_DIR/sock/$r.sock" accept || exit 1
	pf_start || { fail "postfix-$r" "the Postfix instance did not start"; finish; }
done

# daemon_problems LOG...: the error lines in the daemons' logs.
daemon_problems() {
	grep -hiE 'error|fatal|panic|warning|unreachable|sanitizer' "$@" 2>/dev/null | head -3 |
		paste -sd'|'
}

# scenario NAME DATABASE: the whole scenario on one store; leaves
# $E2E_DIR/NAME/normalised.json for the comparison of the backends.
scenario() {
	local name=$1 database=$2 dir=$E2E_DIR/$1 r i port ports= logs= n why
	echo "# --- $name: two relays, two beacons on $(printf '%s' "$database" | sed 's#://[^@]*@#://...@#')"
	mb_conf_init "$dir" 127.0.0.1/32 || return 1
	cat >"$MB_DIR/policy" <<EOF
# The two senders of the scenario opted in; everybody else is off.
alice@example.com     opens clicks footer
frank@example.com     opens clicks footer
*                     off
EOF
	conf_derive "$MB_CONF" "$dir/base.conf" "database=$database" || return 1
	# Every click here is a reader's: no scanner window, no rate limit for
	# the one client network all requests come from.
	for i in 1 2; do
		port=$(e2e_free_port_but $ports) || return 1
		ports="$ports $port"
		conf_derive "$dir/base.conf" "$dir/beacon-$i.conf" "beacon_listen=127.0.0.1:$port" \
			"scanner_window=0" "beacon_rate_limit=100000" || return 1
	done
	for r in $RELAYS; do
		conf_derive "$dir/base.conf" "$dir/relay-$r.conf" \
			"milter_socket=unix:$E2E_DIR/sock/$r.sock" || return 1
		mb_extra_milter_start "$dir/relay-$r.conf" "$E2E_DIR/sock/$r.sock" "$dir/milter-$r.log" ||
			{ fail "$name-start" "milter $r did not start: $(tail -3 "$dir/milter-$r.log")"; return 1; }
		logs="$logs $dir/milter-$r.log"
	done
	i=0
	for port in $ports; do
		i=$((i + 1))
		mb_beacon_start "$dir/beacon-$i.conf" "$port" "$dir/beacon-$i.log" ||
			{ fail "$name-start" "beacon $i did not start"; return 1; }
		logs="$logs $dir/beacon-$i.log"
	done
	# The third configuration, a reporting host's: its own directory with
	# copies of the keys and the policy, and the database.
	mkdir -p "$dir/report" && cp -p "$MB_DIR/keys" "$MB_DIR/hash.key" "$MB_DIR/policy" "$dir/report/" &&
		printf '# The reporting host of the multi-host test.\n%s\n%s\n%s\n%s\n%s\n' \
		"beacon_url = https://t.example.com" "key_file = keys" "hash_key_file = hash.key" \
		"policy_file = policy" "database = $database" >"$dir/report/mailbeacon.conf" || return 1
	ok "$name-start" "2 milters, 2 beacons on ports$ports"

	# 200 messages: each relay takes half, from both senders.
	sink_clear
	mkdir -p "$dir/sent"
	local per=$((MESSAGES / 4)) first=1 s
	for r in $RELAYS; do
		pf_instance "$r"
		for s in $SENDERS; do
			$SEND --port "$PORT_SMTP" --from "$s" --to "$RCPT" --template "$TEMPLATE" \
				--first "$first" --count "$per" --sessions 4 --deadline 90 \
				--tag "$E2E_TAG" --save "$dir/sent" >"$dir/send-$r-$first.log" 2>&1 &
			SEND_PIDS="$SEND_PIDS $!"
			first=$((first + per))
		done
	done
	why=
	for i in $SEND_PIDS; do wait "$i" || why="send.py failed (see $(basename "$dir")/send-*.log)"; done
	SEND_PIDS=
	sink_wait "$MESSAGES" 120 || why="${why:+$why; }only $(sink_count) of $MESSAGES messages arrived"
	# Each relay delivered its half, and its own milter tracked every one.
	for r in $RELAYS; do
		pf_instance "$r"
		pf_wait_empty 60 || why="${why:+$why; }relay $r still queues $(pf_queue_count)"
		# postlogd writes the log a moment after the queue is empty.
		for i in $(seq 50); do
			n=$(($(grep -c 'status=sent' "$PF_LOG") - ${sent_before[$r]:-0}))
			[ "$n" -ge $((MESSAGES / 2)) ] && break
			sleep 0.1
		done
		sent_before[$r]=$((${sent_before[$r]:-0} + n))
		[ "$n" -eq $((MESSAGES / 2)) ] ||
			why="${why:+$why; }relay $r delivered $n messages, not $((MESSAGES / 2))"
		n=$(grep -c ': tracked from=' "$dir/milter-$r.log")
		[ "$n" -eq $((MESSAGES / 2)) ] ||
			why="${why:+$why; }the milter of relay $r tracked $n messages, not $((MESSAGES / 2))"
	done
	[ -z "$why" ] || { fail "$name-mail" "$why"; return 1; }
	ok "$name-mail" "$MESSAGES messages, each relay delivered and tracked half"

	# Hits on both beacons, then the beacons and milters stop (the beacons
	# commit what they hold), and the report reads the store.
	if ! $DRIVER hit --sink "$SINK_DIR" --beacons $ports --plan "$dir/plan.json" \
	    --messages "$MESSAGES"; then
		fail "$name-hits" "the beacons did not answer every hit as expected"
		return 1
	fi
	ok "$name-hits"
	mb_beacons_stop
	mb_extra_milters_stop
	why=$(daemon_problems $logs)
	[ -z "$why" ] || fail "$name-logs" "$why"
	case $database in
	postgres*) "$MB_BUILD/admin/mailbeacon" -c "$dir/report/mailbeacon.conf" report --format json ;;
	*) mb_admin_as_pf -c "$dir/report/mailbeacon.conf" report --format json ;;
	esac >"$dir/report.json" 2>"$dir/report.err" || {
		fail "$name-report" "mailbeacon report: $(head -3 "$dir/report.err")"
		return 1
	}
	if ! $DRIVER check --report "$dir/report.json" --plan "$dir/plan.json" \
	    --normalised "$dir/normalised.json"; then
		fail "$name-report" "the report does not show every message and event exactly once"
		return 1
	fi
	ok "$name-report" "every message and event exactly once"
}

scenario postgresql "$PG_URI"
# The same on SQLite: the milters and beacons of this host on one file.
scenario sqlite "$E2E_DIR/sqlite/db/mailbeacon.db"

if [ -f "$E2E_DIR/postgresql/normalised.json" ] && [ -f "$E2E_DIR/sqlite/normalised.json" ]; then
	if out=$($DRIVER compare "$E2E_DIR/postgresql/normalised.json" "$E2E_DIR/sqlite/normalised.json"); then
		ok same-report "$out"
	else
		printf '%s\n' "$out" | sed 's/^/# /'
		fail same-report "the PostgreSQL and SQLite reports differ"
	fi
else
	fail same-report "a scenario did not finish"
fi
# No program may print the cluster's password anywhere.
if grep -rlF "$PG_PASSWORD" "$E2E_DIR" --include='*.log' --include='*.err' --include='*.json' \
    2>/dev/null | grep -q .; then
	fail password "the PostgreSQL password appears in a log or output"
else
	ok password "no log or output carries the PostgreSQL password"
fi
finish
