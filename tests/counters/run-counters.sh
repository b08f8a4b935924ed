#!/bin/sh
# run-counters.sh: automake TESTS entry for the per-message counters that
# reports read (store/counters.h): test_counters.py drives a real beacon,
# sync, forget and purge, and after each compares every counter with a
# recount of the raw events rows done in Python; on SQLite, then on
# PostgreSQL (a private cluster, tests/pg/cluster.sh).
#
# Environment: top_builddir (set by "make check"; default build/ of the
# source tree), COUNTERS_KEEP=1 keeps the temporary directory. Prints
# "ok NAME" / "FAIL NAME: why", then "N passed, M failed".
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../../build}
build=$(cd "$build" && pwd) || exit 1

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import sqlite3' 2>/dev/null; then
	echo "SKIP: python3 with sqlite3 is missing: the counters tests did NOT run" >&2
	exit 77
fi
for prog in admin/mailbeacon milter/mailbeacon-milter beacon/mailbeacond; do
	if [ ! -x "$build/$prog" ]; then
		echo "FAIL: $build/$prog is not built" >&2
		exit 1
	fi
done
echo "# SQLite"
timeout -k 10 600 python3 "$here/test_counters.py" "$build" || exit 1

. "$here/../pg/cluster.sh"
pg_cluster_after_sqlite "the counters tests"
echo "# PostgreSQL"
REPORT_PG_URI=$PG_URI PG_BIN=$PG_BIN PG_PASSWORD=$PG_PASSWORD \
	timeout -k 10 600 python3 "$here/test_counters.py" "$build"
