#!/bin/sh
# run-store-pg.sh: automake TESTS entry for the store on PostgreSQL: starts a
# private cluster (tests/pg/cluster.sh: initdb in a temporary directory,
# unix socket only, password authentication), runs test_store_pg and then
# test_store (the SQLite store's tests, on PostgreSQL) against it, and
# removes it. PG_STOP/PG_START let the test stop the server
# (pg_ctl -m immediate) and start it again.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cluster.sh"
pg_cluster_start
rc=$?
if [ $rc = 77 ]; then
	echo "SKIP: PostgreSQL 15 (initdb) is not installed: the PostgreSQL store tests did NOT run" >&2
	exit 77
fi
[ $rc = 0 ] || { echo "FAIL: cannot start a PostgreSQL cluster"; exit 1; }
trap 'pg_cluster_remove' EXIT INT TERM
PG_STOP=". '$here/cluster.sh'; PG_BIN='$PG_BIN' PG_USER='$PG_USER' PG_DATA='$PG_DATA' pg_cluster_stop_immediate"
PG_START=". '$here/cluster.sh'; PG_BIN='$PG_BIN' PG_USER='$PG_USER' PG_DATA='$PG_DATA' PG_DIR='$PG_DIR' pg_cluster_restart"
export PG_STOP PG_START
timeout -k 10 300 ${TEST_WRAPPER} ./test_store_pg || exit 1
echo "# test_store on PostgreSQL (the same test body as on SQLite)"
STORE_TEST_PG_URI=$PG_URI timeout -k 10 300 ${TEST_WRAPPER} ./test_store
