#!/bin/bash
# bench_report.sh: the store and `mailbeacon report` at scale.
#
#   bench_report.sh [--messages N] [--events N] [--senders N] [--days D]
#                   [--runs R] [--keep-db PATH] [--db PATH] [--compare OLD_BUILD]
#
# Makes a store with the real schema (mailbeacon-milter -n creates it), fills
# it with SQL (recursive CTEs, one transaction): N messages (default 1 M)
# sent evenly over the last D days (default 90 = retention_days), from
# --senders senders (default 2000, in 100 domains), 1 recipient hash and 3
# links each; --events events (default 5 M) on random messages, within a
# week after sending: 70 % opens, 29 % clicks, 1 % opt-outs, verdicts mixed.
# Then times (median of R runs, output to a file in the temp dir, page
# cache warm):
#   report --since 30d            (table: totals, senders, every message)
#   report --since 30d --format json
#   report --sender ADDR          (a sender with ~N/senders messages)
#   report --sender @DOMAIN
# Baseline measured in the same run: one full pass over events by the
# sqlite3 shell (SELECT count(*), sum(time) FROM events), i.e. the cost of
# reading the data once. Target: < 2 s each. Prints EXPLAIN QUERY PLAN of
# the report's per-message query for the --since and --sender filters.
#
# --keep-db PATH keeps the store (with its configuration beside it); --db
# PATH uses such a store instead of making one (it is copied, not changed).
# --compare OLD_BUILD: the store is made (or must have been made) with that
# older build's schema; a copy is migrated by this build (the time of the
# migration, its counters' backfill, is printed), both builds are timed,
# and every format of every kind of report (bench_report_compare, lib.sh)
# must be byte-identical between the older build on its store and this one
# on the migrated copy: the script exits 1 when one is not.
. "$(dirname "$0")/lib.sh"
MESSAGES=1000000
EVENTS=5000000
SENDERS=2000
DAYS=90
RUNS=3
KEEP_DB=
REUSE_DB=
COMPARE=
while [ $# -gt 0 ]; do
	case $1 in
	--messages) MESSAGES=$2; shift 2 ;;
	--events) EVENTS=$2; shift 2 ;;
	--senders) SENDERS=$2; shift 2 ;;
	--days) DAYS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--keep-db) KEEP_DB=$2; shift 2 ;;
	--db) REUSE_DB=$2; shift 2 ;;
	--compare) COMPARE=$(cd "$2" && pwd) || exit 1; shift 2 ;;
	*) echo "usage: $0 [--messages N] [--events N] [--senders N] [--days D] [--runs R]" \
		"[--keep-db PATH] [--db PATH] [--compare OLD_BUILD]" >&2; exit 1 ;;
	esac
done
bench_need sqlite3 python3
ADMIN=$MB_BUILD/admin/mailbeacon
MILTER=$MB_BUILD/milter/mailbeacon-milter
[ -x "$ADMIN" ] && [ -x "$MILTER" ] || { echo "not built: $ADMIN $MILTER" >&2; exit 1; }

D=$(mktemp -d /tmp/mb-bench-report.XXXXXX) || exit 1
trap 'rm -rf "$D"' EXIT
trap 'exit 1' INT TERM HUP
bench_machine
echo "# report: messages=$MESSAGES events=$EVENTS senders=$SENDERS days=$DAYS runs=$RUNS"

# The schema is made by the build whose store this is: the older one's
# when comparing.
MB_BUILD=${COMPARE:-$MB_BUILD} bench_admin_site "$D" "mb.db"
DB=$D/mb.db
[ -f "$DB" ] || { echo "no store created"; exit 1; }
NOW=$(date +%s)
if [ -n "$REUSE_DB" ]; then
	echo "# the store of $REUSE_DB (copied)"
	cp "$REUSE_DB" "$DB" || exit 1
	cp "$(dirname "$REUSE_DB")/keys" "$(dirname "$REUSE_DB")/hash.key" "$D/" || exit 1
else

NOW=$(date +%s)
# The store's indexes on events, dropped while filling and made again after
# (whatever the schema version names them).
EVENT_INDEXES=$(sqlite3 "$DB" "SELECT group_concat(sql, ';') FROM sqlite_master
	WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL")
DROP_EVENT_INDEXES=$(sqlite3 "$DB" "SELECT group_concat('DROP INDEX ' || name, ';')
	FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL")
DOMAINS=$(( SENDERS < 100 ? SENDERS : 100 ))
t0=$(now_s)
# Message i: id "m" + 21 digits (22 characters, as a real id), sender
# u<i % SENDERS>@d<(i % SENDERS) % DOMAINS>.example, sent evenly over DAYS.
sqlite3 "$DB" >/dev/null <<EOF || exit 1
PRAGMA synchronous = OFF;
PRAGMA cache_size = -400000;
$DROP_EVENT_INDEXES;
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $MESSAGES)
INSERT INTO messages (id, queue_id, message_id_header, sender, sasl_login, recipient_count,
                      sent, words, link_count, subject)
SELECT printf('m%021d', i), printf('Q%010X', i), printf('<%d.bench@example.com>', i),
       printf('u%d@d%d.example', i % $SENDERS, (i % $SENDERS) % $DOMAINS), NULL,
       1 + i % 3, $NOW - $DAYS * 86400 + (i * ($DAYS * 86400 - 3600)) / $MESSAGES,
       'opens clicks footer', 3, NULL
FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $MESSAGES)
INSERT INTO message_recipients (message_id, recipient_hash)
SELECT printf('m%021d', i), randomblob(32) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $MESSAGES),
     n(k) AS (VALUES (1), (2), (3))
INSERT INTO links (message_id, num, url)
SELECT printf('m%021d', i), k, printf('https://www.example.com/page/%d', (i * 7 + k) % 5000)
FROM c, n;
WITH RECURSIVE c(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM c WHERE j < $EVENTS),
     r(j, mi, x, y) AS (SELECT j, 1 + abs(random()) % $MESSAGES, abs(random()) % 1000,
                        abs(random()) % 604800 FROM c)
INSERT INTO events (message_id, kind, link, time, ip_masked, client_class, verdict, dnt,
                    recipient_hash)
SELECT printf('m%021d', mi),
       CASE WHEN x < 700 THEN 'open' WHEN x < 990 THEN 'click' ELSE 'optout' END,
       CASE WHEN x >= 700 AND x < 990 THEN 1 + x % 3 END,
       min($NOW, $NOW - $DAYS * 86400 + (mi * ($DAYS * 86400 - 3600)) / $MESSAGES + 60 + y),
       printf('198.51.%d.0/24', x % 256),
       CASE x % 5 WHEN 0 THEN 'gmail' WHEN 1 THEN 'outlook' WHEN 2 THEN 'apple-mail'
                  WHEN 3 THEN 'ios' ELSE 'thunderbird' END,
       CASE WHEN x < 700 THEN CASE x % 10 WHEN 0 THEN 'apple-mpp' WHEN 1 THEN 'gmail-proxy'
                                          WHEN 2 THEN 'prefetch' ELSE 'human' END
            WHEN x < 990 THEN CASE x % 4 WHEN 0 THEN 'scanner' ELSE 'human' END
            ELSE 'human' END,
       (x % 50 = 0), NULL
FROM r;
COMMIT;
$EVENT_INDEXES;
ANALYZE;
PRAGMA wal_checkpoint(TRUNCATE);
EOF
t1=$(now_s)
echo "# generated in $(python3 -c "print('%.1f' % ($t1 - $t0))") s"
fi
if [ -n "$COMPARE" ]; then
	# The older build reads the store as it made it; this one a migrated
	# copy (the counters backfilled from the events).
	cp "$DB" "$D/old.db" || exit 1
	sed 's/^database = .*/database = old.db/' "$D/mailbeacon.conf" >"$D/old.conf"
	t0=$(now_s)
	"$ADMIN" -c "$D/mailbeacon.conf" db migrate || exit 1
	t1=$(now_s)
	echo "# migrated (counters backfilled) in $(python3 -c "print('%.1f' % ($t1 - $t0))") s"
fi
SIZE=$(du -m "$DB" | cut -f1)
echo "# store: $(sqlite3 "$DB" \
	'SELECT (SELECT count(*) FROM messages) || " messages, " || (SELECT count(*) FROM events)
	 || " events, " || (SELECT count(*) FROM links) || " links"'), ${SIZE} MiB"
# The schema is the store's: the admin command opens it without migrating.
"$ADMIN" -c "$D/mailbeacon.conf" report --message m000000000000000000001 >/dev/null ||
	{ echo "report cannot read the generated store"; exit 1; }

SENDER=u7@d7.example
DOMAIN=@d7.example
names=(baseline since30d since30d-json sender sender-domain)
[ -n "$COMPARE" ] && names+=(old-since30d old-since30d-json old-sender old-sender-domain)
OLD_ADMIN=$COMPARE/admin/mailbeacon
run_named() {
	case $1 in
	old-since30d) "$OLD_ADMIN" -c "$D/old.conf" report --since 30d ;;
	old-since30d-json) "$OLD_ADMIN" -c "$D/old.conf" report --since 30d --format json ;;
	old-sender) "$OLD_ADMIN" -c "$D/old.conf" report --sender "$SENDER" ;;
	old-sender-domain) "$OLD_ADMIN" -c "$D/old.conf" report --sender "$DOMAIN" ;;
	baseline) sqlite3 "$DB" 'SELECT count(*), sum(time) FROM events' ;;
	since30d) "$ADMIN" -c "$D/mailbeacon.conf" report --since 30d ;;
	since30d-json) "$ADMIN" -c "$D/mailbeacon.conf" report --since 30d --format json ;;
	sender) "$ADMIN" -c "$D/mailbeacon.conf" report --sender "$SENDER" ;;
	sender-domain) "$ADMIN" -c "$D/mailbeacon.conf" report --sender "$DOMAIN" ;;
	esac
}
bench_report_runs "$RUNS" "report (store ${SIZE} MiB on disk, page cache warm)" \
	"(baseline = sqlite3 'SELECT count(*), sum(time) FROM events': one pass over the events)"
echo "(sender = $SENDER, sender-domain = $DOMAIN; old-*: $COMPARE)"
echo
SAME=0
if [ -n "$COMPARE" ]; then
	echo "== every format, $COMPARE on its store vs this build on the migrated copy"
	mkdir -p "$D/compare"
	bench_report_compare "$OLD_ADMIN" "$D/old.conf" "$ADMIN" "$D/mailbeacon.conf" "$D/compare" ||
		SAME=1
	[ $SAME = 0 ] && echo "(all byte-identical)" || echo "SOME REPORTS DIFFER"
	echo
fi
# The report's two queries (store/report.c) as --since and --sender @DOMAIN
# compose them: pass 1 (messages and their counters), pass 2 (messages and
# links with theirs).
P1="SELECT m.rowid, m.sender, m.sent, m.recipient_count, m.opens_human, m.opens_machine,
 m.clicks_human, m.clicks_scanner, m.optouts, m.first_human_open, m.last_event"
P2="SELECT m.rowid, m.id, m.queue_id, m.message_id_header, m.sender, m.subject, m.sent,
 m.recipient_count, m.link_count, l.num, l.url, l.clicks_human, l.clicks_scanner"
J1=""
J2="LEFT JOIN links l ON l.message_id = m.id"
SINCE="FROM messages m INDEXED BY messages_report %s WHERE 1 AND m.sent >= $NOW - 30*86400
 ORDER BY m.sender, m.sent, m.id"
DOM="FROM messages m INDEXED BY messages_domain %s WHERE 1 AND ((substr(?1, 1, 1) = '@'
 AND length(m.sender) >= length(?1) AND lower(substr(m.sender, -length(?1))) = lower(?1))
 OR (substr(?1, 1, 1) <> '@' AND m.sender = ?1 COLLATE NOCASE))
 AND lower(substr(m.sender, length(rtrim(m.sender, replace(m.sender, '@', ''))) + 1)) = lower(?6)
 ORDER BY m.sender, m.sent, m.id"
for q in "$P1 $(printf "$SINCE" "$J1")" "$P2 $(printf "$SINCE" "$J2")" \
	"$P1 $(printf "$DOM" "$J1")" "$P2 $(printf "$DOM" "$J2")"; do
	echo "# EXPLAIN QUERY PLAN: $(echo "$q" | tr '\n' ' ' | cut -c1-150)..."
	sqlite3 "$DB" "EXPLAIN QUERY PLAN $q" | sed 's/^/#   /'
done
if [ -n "$KEEP_DB" ]; then
	cp "$DB" "$KEEP_DB" && cp "$D/mailbeacon.conf" "$D/keys" "$D/hash.key" "$D/policy" "$(dirname "$KEEP_DB")/" &&
		echo "# kept the store as $KEEP_DB"
fi
echo "# load after: $(uptime | sed 's/^ *//')"
exit $SAME
