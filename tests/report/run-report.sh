#!/bin/sh
# run-report.sh: automake TESTS entry for `mailbeacon report`, export, forget
# and purge (test_report.py: a seeded store, expected numbers computed
# independently, every format; erasure down to the database file's bytes),
# on SQLite and then on PostgreSQL (a private cluster), where every format
# must also be byte-identical to SQLite's for the same rows.
#
#   run-report.sh [CASE...]
#
# Environment: top_builddir (set by "make check"; default build/ of the source
# tree), REPORT_KEEP=1 keeps the temporary directory. Needs python3 with its
# sqlite3 module. Prints "ok NAME" / "FAIL NAME: why", then "N passed, M failed".
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../../build}
build=$(cd "$build" && pwd) || exit 1

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import sqlite3' 2>/dev/null; then
	echo "SKIP: python3 with sqlite3 is missing: the report tests did NOT run" >&2
	exit 77
fi
for prog in admin/mailbeacon milter/mailbeacon-milter; do
	if [ ! -x "$build/$prog" ]; then
		echo "FAIL: $build/$prog is not built" >&2
		exit 1
	fi
done
timeout -k 10 600 python3 "$here/test_report.py" "$build" "$@" || exit 1

# The same cases on PostgreSQL: a private cluster (tests/pg/cluster.sh), and
# one more case comparing every format with SQLite's byte for byte.
. "$here/../pg/cluster.sh"
pg_cluster_after_sqlite "the report tests"
echo "# the same cases on PostgreSQL"
REPORT_PG_URI=$PG_URI PG_BIN=$PG_BIN timeout -k 10 600 python3 "$here/test_report.py" "$build" "$@"
