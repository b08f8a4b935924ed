#!/bin/sh
# run-pgfaults.sh: automake TESTS entry for PostgreSQL faults: a private
# cluster (tests/pg/cluster.sh) is stopped with pg_ctl stop -m immediate in
# the middle of a run of two milters (miltertest) and a beacon (HTTP), then
# started again, then frozen (SIGSTOP) and woken; pgfaults.py checks
# fail-open within database_timeout, reconnection without a restart, what
# is recorded, and the logs.
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
cluster=$(cd "$here/../pg" && pwd)/cluster.sh
. "$cluster"
pg_cluster_for_suite "the PostgreSQL fault tests" "$cluster"
timeout -k 10 180 python3 "$here/pgfaults.py" "$build"
