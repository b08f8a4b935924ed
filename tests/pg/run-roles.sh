#!/bin/sh
# run-roles.sh: contrib/postgresql/setup.sql's two roles on a private cluster
# (cluster.sh). The daemons' role may not create the schema: the milter and
# the beacon stop at start and say to run 'mailbeacon db migrate'. The owner
# migrates, setup.sql's second pass grants the daemons their rights, and
# then, as the daemons' role, the milter records a message and the beacon an
# open and an opt-out, while DROP, DELETE, UPDATE, TRUNCATE, ALTER and
# CREATE are refused (and so are forget and purge); as the owner, forget and
# purge work (purge drops an expired month's partition). No program prints
# either role's password.
#
# Environment: top_builddir (set by "make check"), ROLES_KEEP=1 keeps the
# scratch directory. Prints "ok WHAT" / "FAIL: WHAT"; exit 1 on any failure.
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${top_builddir:?top_builddir must name the build directory}" && pwd) || exit 1
milter=$build/milter/mailbeacon-milter
beacon=$build/beacon/mailbeacond
mb=$build/admin/mailbeacon
setup=$here/../../contrib/postgresql/setup.sql
for tool in miltertest curl python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool is missing: the PostgreSQL roles test did NOT run" >&2
		exit 77
	fi
done
. "$here/cluster.sh"
pg_cluster_for_suite "the roles test" "$here/cluster.sh"
dir=$(mktemp -d)
chmod 0755 "$dir"
beacon_pid=
cleanup() {
	if [ -n "$beacon_pid" ]; then
		kill "$beacon_pid" 2>/dev/null
		wait "$beacon_pid" 2>/dev/null
	fi
	pg_cluster_remove
	if [ "${ROLES_KEEP:-0}" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
pass() { echo "ok $*"; }
# Everything the programs print goes through here too: the password check.
record() { cat "$1" >>"$dir/all-output"; }

# run CMD...: its output (both streams) in $dir/out, recorded; rc its status.
run() {
	"$@" >"$dir/out" 2>&1
	rc=$?
	record "$dir/out"
}
# daemons_check starts|stops PATTERN WHAT: mailbeacon-milter -n and
# mailbeacond -n as the daemons' role exit 0 (starts) or not (stops), and
# print PATTERN.
daemons_check() {
	for prog in "$milter" "$beacon"; do
		run "$prog" -n -c "$dir/daemons.conf"
		if { { [ "$1" = starts ] && [ $rc = 0 ]; } || { [ "$1" = stops ] && [ $rc != 0 ]; }; } &&
			grep -q "$2" "$dir/out"; then
			pass "$(basename "$prog") -n as the daemons' role $3"
		else
			fail "$(basename "$prog") -n as the daemons' role $3: exit $rc: $(cat "$dir/out")"
		fi
	done
}
secret() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }
owner_pw=$(secret)
daemons_pw=$(secret)
# setup.sql as ROLE with PASSWORD on DATABASE, then any psql options.
run_setup() {
	role=$1 pw=$2 db=$3
	shift 3
	PGPASSWORD=$pw "$PG_BIN/psql" -X -q -h "$PG_SOCKDIR" -p "$PG_PORT" -U "$role" -d "$db" \
		-v owner=mb_owner -v daemons=mb_daemons -v dbname=mbroles "$@" -f "$setup"
}
# One SQL statement on mbroles as ROLE with PASSWORD; tuples only.
psql_as() {
	PGPASSWORD=$2 "$PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" \
		-p "$PG_PORT" -U "$1" -d mbroles -c "$3"
}
owner_sql() { psql_as mb_owner "$owner_pw" "$1"; }

# ---- the configurations: the same but for the database's role ----
newkey() { head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n'; }
(umask 077 && printf 'k1 %s\n' "$(newkey)" >"$dir/keys" && printf '%s\n' "$(newkey)" >"$dir/hash.key")
printf 'alice@example.com  opens clicks footer\n' >"$dir/policy"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for who in owner daemons; do
	if [ $who = owner ]; then pw=$owner_pw; else pw=$daemons_pw; fi
	cat >"$dir/$who.conf" <<CONF
beacon_url = https://t.example.com
beacon_listen = 127.0.0.1:$port
key_file = keys
hash_key_file = hash.key
policy_file = policy
milter_socket = unix:$dir/milter.sock
user = $(id -un)
on_error = accept
internal_hosts = 127.0.0.0/8
retention_days = 30
database = postgresql://mb_$who:$pw@/mbroles?host=$PG_SOCKDIR&port=$PG_PORT
CONF
done
chmod 0644 "$dir"/*.conf "$dir/policy"

# ---- pass 1: roles and database; the daemons cannot create the schema ----
if run_setup mbtest "$PG_PASSWORD" postgres -v owner_password="$owner_pw" \
	-v daemons_password="$daemons_pw" >"$dir/setup1.out" 2>&1 &&
	grep -q "now run mailbeacon db migrate" "$dir/setup1.out"; then
	pass "setup.sql, first pass: roles and database"
else
	fail "setup.sql, first pass: $(cat "$dir/setup1.out")"
fi
daemons_check stops "may not create or migrate it.*run 'mailbeacon db migrate'" \
	"without a schema: stops, says to run db migrate"
[ "$(owner_sql "SELECT to_regclass('mailbeacon_schema') IS NULL")" = t ] ||
	fail "the daemons' role created the schema"

# ---- the owner migrates ----
run "$mb" -c "$dir/owner.conf" db migrate
# the version this program migrates to, as store/pg.h says
schema=$(sed -n 's/^#define PGSTORE_SCHEMA_VERSION \([0-9]*\).*/\1/p' "$here/../../store/pg.h")
if [ $rc = 0 ] && grep -q "as mb_owner: schema created (version $schema)" "$dir/out"; then
	pass "db migrate as the owner"
else
	fail "db migrate as the owner: exit $rc: $(cat "$dir/out")"
fi
daemons_check stops "contrib/postgresql/setup.sql" "before the grants: stops, names setup.sql"

# ---- pass 2 (as the owner): the daemons' rights; they start ----
if run_setup mb_owner "$owner_pw" mbroles >"$dir/setup2.out" 2>&1 &&
	grep -q "the daemons role has its rights" "$dir/setup2.out"; then
	pass "setup.sql, second pass as the owner: the daemons' rights"
else
	fail "setup.sql, second pass: $(cat "$dir/setup2.out")"
fi
daemons_check starts "is OK" "with its rights: starts"

# ---- the milter records a message as the daemons' role ----
: >"$dir/milter.log"
if timeout 120 miltertest -D MILTER="$milter" -D MB="$mb" -D CONF="$dir/daemons.conf" \
	-D DIR="$dir" -D LOG="$dir/milter.log" -D SRCDIR="$here/../milter" \
	-D SCRIPT="$here/roles-milter.lua" -s "$here/../milter/driver.lua" >"$dir/mt.out" 2>>"$dir/milter.log"; then
	pass "the milter tracks a message as the daemons' role"
else
	fail "miltertest: $(tail -5 "$dir/milter.log")"
fi
record "$dir/milter.log"
row=$(owner_sql "SELECT m.id || ' ' || m.sent || ' ' || (SELECT count(*) FROM links l WHERE l.message_id = m.id)
	|| ' ' || (SELECT count(*) FROM message_recipients r WHERE r.message_id = m.id)
	FROM messages m WHERE queue_id = 'QROLES1'")
set -- $row
msgid=$1 sent=$2
if [ $# = 4 ] && [ "$3" = 1 ] && [ "$4" = 1 ]; then
	pass "the message, its link and its recipient are in the database"
else
	fail "the milter's record: '$row'"
fi

# ---- the beacon records an open and an opt-out as the daemons' role ----
"$beacon" -f -c "$dir/daemons.conf" 2>"$dir/beacon.log" &
beacon_pid=$!
up=0
for _ in $(seq 1 100); do
	if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then up=1; break; fi
	sleep 0.1
done
[ $up = 1 ] || fail "mailbeacond did not start: $(cat "$dir/beacon.log")"
printf 'From: alice@example.com\r\nTo: bob@example.net\r\nSubject: Roles\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p><a href="https://example.com/offer">offer</a></p></body></html>\r\n' >"$dir/msg.eml"
"$mb" -c "$dir/daemons.conf" preview --from alice@example.com --to bob@example.net \
	--message-id "$msgid" --sent "$sent" <"$dir/msg.eml" >"$dir/preview.eml" 2>"$dir/out"
record "$dir/out"
# The pixel's and the opt-out's paths, from the decoded HTML part.
paths=$(python3 - "$dir/preview.eml" <<'PY'
import email, email.policy, re, sys
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.compat32)
html = "".join(p.get_payload(decode=True).decode() for p in msg.walk()
               if p.get_content_type() == "text/html")
for kind in "ou":
    print(re.findall(r"https://t\.example\.com(/%s/[A-Za-z0-9._/-]+)" % kind, html)[0])
PY
)
set -- $paths
pixel=$1 optout=$2
code_o=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: t.example.com' "http://127.0.0.1:$port$pixel")
code_u=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: t.example.com' -X POST --data '' \
	"http://127.0.0.1:$port$optout")
counts=
for _ in $(seq 1 100); do
	counts=$(owner_sql "SELECT (SELECT count(*) FROM events WHERE message_id = '$msgid') || ' ' ||
		(SELECT count(*) FROM optouts)")
	[ "$counts" = "2 1" ] && break
	sleep 0.1
done
if [ "$code_o" = 200 ] && [ "$code_u" = 200 ] && [ "$counts" = "2 1" ]; then
	pass "the beacon records an open and an opt-out as the daemons' role"
else
	fail "beacon: pixel $code_o, opt-out $code_u, events and opt-outs '$counts': $(cat "$dir/beacon.log")"
fi
kill "$beacon_pid"
wait "$beacon_pid" 2>/dev/null
beacon_pid=
record "$dir/beacon.log"

# ---- what the daemons' role may not do ----
partition=$(owner_sql "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	WHERE i.inhparent = 'events'::regclass AND c.relname LIKE 'events_y%' LIMIT 1")
for sql in "DROP TABLE events" "DELETE FROM messages" "UPDATE messages SET sender = 'x'" \
	"TRUNCATE optouts" "ALTER TABLE events ADD COLUMN x integer" "CREATE TABLE x (a integer)" \
	"DROP TABLE $partition" "DELETE FROM events_default" "UPDATE mailbeacon_schema SET version = 99" \
	"INSERT INTO mailbeacon_schema VALUES (99)" "DELETE FROM optouts"; do
	if psql_as mb_daemons "$daemons_pw" "$sql" >"$dir/out" 2>&1; then
		fail "the daemons' role may: $sql"
	elif grep -q "permission denied\|must be owner" "$dir/out"; then
		pass "the daemons' role may not: $sql"
	else
		fail "$sql as the daemons' role: $(cat "$dir/out")"
	fi
done
run "$mb" -c "$dir/daemons.conf" forget --sender alice@example.com
[ $rc = 2 ] && [ "$(owner_sql "SELECT count(*) FROM messages")" = 1 ] &&
	pass "forget as the daemons' role is refused" ||
	fail "forget as the daemons' role: exit $rc: $(cat "$dir/out")"

# ---- the owner: purge drops an expired month, forget erases ----
old=$(date -u -d "$(date -u +%Y-%m-01) -24 months" +%s)
old_name=events_y$(date -u -d "@$old" +%Ym%m)
owner_sql "SELECT mailbeacon_events_partition($old)" >/dev/null
owner_sql "INSERT INTO events (message_id, kind, time, verdict) VALUES ('$msgid', 'open', $((old + 60)), 'human')"
run "$mb" -c "$dir/daemons.conf" purge
[ $rc = 2 ] && [ "$(owner_sql "SELECT to_regclass('$old_name') IS NOT NULL")" = t ] &&
	pass "purge as the daemons' role is refused" ||
	fail "purge as the daemons' role: exit $rc: $(cat "$dir/out")"
run "$mb" -c "$dir/owner.conf" purge
if [ $rc = 0 ] && [ "$(owner_sql "SELECT to_regclass('$old_name') IS NULL")" = t ]; then
	pass "purge as the owner drops the expired partition $old_name"
else
	fail "purge as the owner: exit $rc: $(cat "$dir/out")"
fi
run "$mb" -c "$dir/owner.conf" forget --sender alice@example.com
left=$(owner_sql "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM links) +
	(SELECT count(*) FROM message_recipients) + (SELECT count(*) FROM events WHERE kind <> 'optout')")
if [ $rc = 0 ] && [ "$left" = 0 ]; then
	pass "forget as the owner erases the sender's messages and events"
else
	fail "forget as the owner: exit $rc, $left rows left: $(cat "$dir/out")"
fi

# ---- no password anywhere ----
leaked=0
for pw in "$owner_pw" "$daemons_pw" "$PG_PASSWORD"; do
	grep -qF -- "$pw" "$dir/all-output" && leaked=1
done
if [ $leaked = 0 ] && [ -s "$dir/all-output" ]; then
	pass "no password in any output"
else
	fail "a password was printed or logged (or nothing was recorded)"
fi

echo "$failed failed"
[ $failed = 0 ]
