#!/bin/sh
# run-geoip.sh: automake TESTS entry for geoip_database and geoip_precision
# (test_geoip.py: a MaxMind DB built at test time, requests through a trusted
# proxy over real HTTP, the stored rows read back; bad and missing files at
# start and at SIGHUP), on SQLite and then on PostgreSQL (a private cluster).
#
#   run-geoip.sh [CASE...]
#
# Environment: top_builddir (set by "make check"; default build/ of the source
# tree), GEOIP_KEEP=1 keeps the temporary directories. Needs python3 with its
# sqlite3 module and Debian's libmaxmind-db-writer-perl (dev.sh installs it).
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../../build}
build=$(cd "$build" && pwd) || exit 1

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import sqlite3' 2>/dev/null; then
	echo "SKIP: python3 with sqlite3 is missing: the GeoIP tests did NOT run" >&2
	exit 77
fi
if ! perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null; then
	echo "FAIL: perl's MaxMind::DB::Writer::Tree is missing (apt-get install libmaxmind-db-writer-perl)" >&2
	exit 1
fi
timeout -k 10 600 python3 "$here/test_geoip.py" --build "$build" "$@" || exit 1

. "$here/../pg/cluster.sh"
pg_cluster_after_sqlite "the GeoIP tests"
echo "# the same cases on PostgreSQL"
PGPASSWORD=$PG_PASSWORD timeout -k 10 600 python3 "$here/test_geoip.py" --build "$build" \
	--pg-uri "$PG_URI" --psql "$PG_BIN/psql" "$@"
