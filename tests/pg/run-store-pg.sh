#!/bin/sh
# run-store-pg.sh: automake TESTS entry for the store on PostgreSQL: starts a
# private cluster (tests/pg/cluster.sh: initdb in a temporary directory,
# unix socket only, password authentication), runs test_store_pg and then
# test_store (the SQLite store's tests, on PostgreSQL) against it, and
# removes it. PG_STOP/PG_START let the test stop the server
# (pg_ctl -m immediate) and start it again.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cluster.sh"
pg_cluster_for_suite "the PostgreSQL store tests" "$here/cluster.sh"
timeout -k 10 300 ${TEST_WRAPPER} ./test_store_pg || exit 1
echo "# test_store on PostgreSQL (the same test body as on SQLite)"
STORE_TEST_PG_URI=$PG_URI timeout -k 10 300 ${TEST_WRAPPER} ./test_store
