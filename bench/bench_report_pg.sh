#!/bin/bash
# bench_report_pg.sh: `mailbeacon report` on PostgreSQL at scale, the data of
# bench_report.sh (same shape: N messages over D days from --senders senders,
# 1 recipient hash and 3 links each, --events events within a week of
# sending, 70 % opens, 29 % clicks, 1 % opt-outs) in a private cluster
# (tests/pg/cluster.sh: initdb in a temporary directory, unix socket only).
#
#   bench_report_pg.sh [--messages N] [--events N] [--senders N] [--days D] [--runs R] [--keep]
#                      [--compare OLD_BUILD]
#
# --keep leaves the cluster running and its configuration in place (the
# script says where; stop it with pg_ctl -D DATA stop, as user postgres).
# Times (median of R runs, output to a file, caches warm) report --since 30d
# (table and json), --sender ADDR and --sender @DOMAIN. Baseline in the same
# run: one full pass over the events by psql (SELECT count(*), sum(time)
# FROM events). Target: --since 30d < 2 s at 1 M messages / 5 M events.
# --compare OLD_BUILD: the database is made with that older build's schema;
# a copy (CREATE DATABASE ... TEMPLATE) is migrated by this build (the time
# of the migration, its counters' backfill, is printed), both builds are
# timed, and every format of every kind of report (bench_report_compare,
# lib.sh) must be byte-identical between the older build on its database
# and this one on the migrated copy: the script exits 1 when one is not.
. "$(dirname "$0")/lib.sh"
MESSAGES=1000000
EVENTS=5000000
SENDERS=2000
DAYS=90
RUNS=3
KEEP=0
COMPARE=
while [ $# -gt 0 ]; do
	case $1 in
	--messages) MESSAGES=$2; shift 2 ;;
	--events) EVENTS=$2; shift 2 ;;
	--senders) SENDERS=$2; shift 2 ;;
	--days) DAYS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--compare) COMPARE=$(cd "$2" && pwd) || exit 1; shift 2 ;;
	*) echo "usage: $0 [--messages N] [--events N] [--senders N] [--days D] [--runs R] [--keep]" \
		"[--compare OLD_BUILD]" >&2; exit 1 ;;
	esac
done
bench_need python3
ADMIN=$MB_BUILD/admin/mailbeacon
MILTER=$MB_BUILD/milter/mailbeacon-milter
[ -x "$ADMIN" ] && [ -x "$MILTER" ] || { echo "not built: $ADMIN $MILTER" >&2; exit 1; }

. "$MB_SRC/tests/pg/cluster.sh"
pg_cluster_start
rc=$?
[ $rc = 77 ] && { echo "SKIP: PostgreSQL 15 is not installed" >&2; exit 77; }
[ $rc = 0 ] || { echo "cannot start a PostgreSQL cluster" >&2; exit 1; }
D=$(mktemp -d /tmp/mb-bench-report-pg.XXXXXX) || exit 1
trap '[ $KEEP = 1 ] && echo "# kept: $D/mailbeacon.conf, cluster $PG_DATA" || { pg_cluster_remove; rm -rf "$D"; }' EXIT
trap 'exit 1' INT TERM HUP
# A benchmark, not a durability test: the figures are of reading.
cat >>"$PG_DATA/postgresql.conf" <<EOF
shared_buffers = 512MB
work_mem = 64MB
maintenance_work_mem = 256MB
synchronous_commit = off
max_wal_size = 4GB
EOF
pg_cluster_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w restart >/dev/null
bench_machine
echo "# report on PostgreSQL: messages=$MESSAGES events=$EVENTS senders=$SENDERS days=$DAYS runs=$RUNS"
echo "# $("$PG_BIN/postgres" --version)"

# The schema is made by the build whose database this is: the older one's
# when comparing.
MB_BUILD=${COMPARE:-$MB_BUILD} bench_admin_site "$D" "$PG_URI" "database_timeout = 300"

NOW=$(date +%s)
DOMAINS=$(( SENDERS < 100 ? SENDERS : 100 ))
sql() { pg_cluster_psql "$1"; }
t0=$(python3 -c 'import time; print(time.time())')
# The months' partitions first (the programs make them as they write).
sql "SELECT mailbeacon_events_partition(extract(epoch FROM m)::bigint)
     FROM generate_series(date_trunc('month', to_timestamp($NOW - ($DAYS + 1) * 86400) AT TIME ZONE 'UTC'),
                          date_trunc('month', to_timestamp($NOW) AT TIME ZONE 'UTC'),
                          interval '1 month') AS m" >/dev/null || exit 1
sql "
INSERT INTO messages (id, queue_id, message_id_header, sender, sasl_login, recipient_count,
                      sent, words, link_count, subject)
SELECT 'm' || lpad(i::text, 21, '0'), 'Q' || lpad(upper(to_hex(i)), 10, '0'),
       '<' || i || '.bench@example.com>',
       'u' || (i % $SENDERS) || '@d' || ((i % $SENDERS) % $DOMAINS) || '.example', NULL,
       1 + i % 3, $NOW - $DAYS * 86400 + (i::bigint * ($DAYS * 86400 - 3600)) / $MESSAGES,
       'opens clicks footer', 3, NULL
FROM generate_series(1, $MESSAGES) AS i;
INSERT INTO message_recipients (message_id, recipient_hash)
SELECT 'm' || lpad(i::text, 21, '0'), sha256(i::text::bytea) FROM generate_series(1, $MESSAGES) AS i;
INSERT INTO links (message_id, num, url)
SELECT 'm' || lpad(i::text, 21, '0'), k, 'https://www.example.com/page/' || ((i * 7 + k) % 5000)
FROM generate_series(1, $MESSAGES) AS i, generate_series(1, 3) AS k;
INSERT INTO events (message_id, kind, link, time, ip_masked, client_class, verdict, dnt,
                    recipient_hash)
SELECT 'm' || lpad(mi::text, 21, '0'),
       CASE WHEN x < 700 THEN 'open' WHEN x < 990 THEN 'click' ELSE 'optout' END,
       CASE WHEN x >= 700 AND x < 990 THEN 1 + x % 3 END,
       least($NOW, $NOW - $DAYS * 86400 + (mi * ($DAYS * 86400 - 3600)) / $MESSAGES + 60 + y),
       '198.51.' || (x % 256) || '.0/24',
       CASE x % 5 WHEN 0 THEN 'gmail' WHEN 1 THEN 'outlook' WHEN 2 THEN 'apple-mail'
                  WHEN 3 THEN 'ios' ELSE 'thunderbird' END,
       CASE WHEN x < 700 THEN CASE x % 10 WHEN 0 THEN 'apple-mpp' WHEN 1 THEN 'gmail-proxy'
                                          WHEN 2 THEN 'prefetch' ELSE 'human' END
            WHEN x < 990 THEN CASE x % 4 WHEN 0 THEN 'scanner' ELSE 'human' END
            ELSE 'human' END,
       (x % 50 = 0)::int, NULL
FROM (SELECT 1 + floor(random() * $MESSAGES)::bigint AS mi, floor(random() * 1000)::int AS x,
             floor(random() * 604800)::bigint AS y
      FROM generate_series(1, $EVENTS)) AS r;" >/dev/null || exit 1
sql "VACUUM ANALYZE" >/dev/null || exit 1
t1=$(python3 -c 'import time; print(time.time())')
SIZE=$(sql "SELECT pg_database_size(current_database()) / 1048576")
echo "# generated in $(python3 -c "print('%.1f' % ($t1 - $t0))") s:" \
	"$(sql "SELECT (SELECT count(*) FROM messages) || ' messages, ' || (SELECT count(*) FROM events)
	        || ' events, ' || (SELECT count(*) FROM links) || ' links'"), ${SIZE} MiB," \
	"$(sql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass") events partitions"
CONF=$D/mailbeacon.conf
if [ -n "$COMPARE" ]; then
	# The older build reads the database as it made it; this one a
	# migrated copy (the counters backfilled from the events).
	PG_DB=postgres pg_cluster_psql "CREATE DATABASE mb_new TEMPLATE mailbeacon" || exit 1
	CONF=$D/new.conf
	{ grep -v '^database = ' "$D/mailbeacon.conf"
	  echo "database = ${PG_URI/\/mailbeacon?//mb_new?}"; } >"$CONF"
	t0=$(now_s)
	"$ADMIN" -c "$CONF" db migrate || exit 1
	t1=$(now_s)
	PG_DB=mb_new pg_cluster_psql "VACUUM ANALYZE" || exit 1
	echo "# migrated (counters backfilled) in $(python3 -c "print('%.1f' % ($t1 - $t0))") s," \
		"then VACUUM ANALYZE"
fi
"$ADMIN" -c "$CONF" report --message m000000000000000000001 >/dev/null ||
	{ echo "report cannot read the generated store"; exit 1; }

SENDER=u7@d7.example
DOMAIN=@d7.example
names=(baseline since30d since30d-json sender sender-domain)
[ -n "$COMPARE" ] && names+=(old-since30d old-since30d-json old-sender old-sender-domain)
OLD_ADMIN=$COMPARE/admin/mailbeacon
run_named() {
	case $1 in
	baseline) sql 'SELECT count(*), sum(time) FROM events' ;;
	since30d) "$ADMIN" -c "$CONF" report --since 30d ;;
	since30d-json) "$ADMIN" -c "$CONF" report --since 30d --format json ;;
	sender) "$ADMIN" -c "$CONF" report --sender "$SENDER" ;;
	sender-domain) "$ADMIN" -c "$CONF" report --sender "$DOMAIN" ;;
	old-since30d) "$OLD_ADMIN" -c "$D/mailbeacon.conf" report --since 30d ;;
	old-since30d-json) "$OLD_ADMIN" -c "$D/mailbeacon.conf" report --since 30d --format json ;;
	old-sender) "$OLD_ADMIN" -c "$D/mailbeacon.conf" report --sender "$SENDER" ;;
	old-sender-domain) "$OLD_ADMIN" -c "$D/mailbeacon.conf" report --sender "$DOMAIN" ;;
	esac
}
bench_report_runs "$RUNS" "report on PostgreSQL (database ${SIZE} MiB, caches warm)" \
	"(baseline = psql 'SELECT count(*), sum(time) FROM events': one pass over the events)"
echo "(sender = $SENDER, sender-domain = $DOMAIN; old-*: $COMPARE)"
SAME=0
if [ -n "$COMPARE" ]; then
	echo "== every format, $COMPARE on its database vs this build on the migrated copy"
	mkdir -p "$D/compare"
	bench_report_compare "$OLD_ADMIN" "$D/mailbeacon.conf" "$ADMIN" "$CONF" "$D/compare" || SAME=1
	[ $SAME = 0 ] && echo "(all byte-identical)" || echo "SOME REPORTS DIFFER"
fi
echo "# EXPLAIN of pass 1 for --since 30d:"
PG_DB=${COMPARE:+mb_new} sql "EXPLAIN SELECT m.rowid, m.sender, m.sent, m.recipient_count,
     m.opens_human, m.opens_machine, m.clicks_human, m.clicks_scanner, m.optouts,
     m.first_human_open, m.last_event
     FROM messages m WHERE true AND m.sent >= $NOW - 30 * 86400 ORDER BY m.sender, m.sent, m.id" |
	sed 's/^/#   /'
exit $SAME
