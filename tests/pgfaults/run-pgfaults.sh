#!/bin/sh
# run-pgfaults.sh: automake TESTS entry for PostgreSQL faults: a private
# cluster (tests/pg/cluster.sh) is stopped with pg_ctl stop -m immediate in
# the middle of a run of two milters (miltertest) and a beacon (HTTP), then
# started again; pgfaults.py checks fail-open, reconnection without a
# restart, what is recorded, and the logs.
#
# Environment: top_builddir (set by "make check"; default build/ of the
# source tree), PGFAULTS_KEEP=1 keeps the temporary directory.
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../../build}
build=$(cd "$build" && pwd) || exit 1
for tool in miltertest python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool is missing: the PostgreSQL fault tests did NOT run" >&2
		exit 77
	fi
done
. "$here/../pg/cluster.sh"
pg_cluster_start
rc=$?
if [ $rc = 77 ]; then
	echo "SKIP: PostgreSQL 15 (initdb) is not installed: the PostgreSQL fault tests did NOT run" >&2
	exit 77
fi
[ $rc = 0 ] || { echo "FAIL: cannot start a PostgreSQL cluster"; exit 1; }
trap 'pg_cluster_remove' EXIT
trap 'exit 1' INT TERM
PG_STOP=". '$here/../pg/cluster.sh'; PG_BIN='$PG_BIN' PG_USER='$PG_USER' PG_DATA='$PG_DATA' pg_cluster_stop_immediate"
PG_START=". '$here/../pg/cluster.sh'; PG_BIN='$PG_BIN' PG_USER='$PG_USER' PG_DATA='$PG_DATA' PG_DIR='$PG_DIR' pg_cluster_restart"
export PG_STOP PG_START PG_BIN
timeout -k 10 180 python3 "$here/pgfaults.py" "$build"
