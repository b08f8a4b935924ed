# tests/pg/cluster.sh: a private PostgreSQL cluster for one test run, sourced
# by the suites that need one. initdb into a temporary directory as the
# unprivileged user "postgres" (or the caller when not root), listening on a
# unix socket in that directory only: no TCP port, nothing system-wide.
#
#   . tests/pg/cluster.sh
#   pg_cluster_start         # sets PG_DIR, PG_SOCKDIR, PG_DATA, PG_URI (database
#                            # "mailbeacon", user mbtest with its password)
#   pg_cluster_stop_immediate / pg_cluster_restart   (fault tests)
#   pg_cluster_psql SQL      # runs SQL as the superuser, prints tuples only
#   pg_cluster_remove        # stops the server and removes DIR
#   pg_cluster_for_suite WHAT THIS_FILE   # a runner's start: the cluster or exit
#   pg_cluster_after_sqlite WHAT          # a runner's PostgreSQL half, after SQLite's
#
# Returns 77 (automake's SKIP) from pg_cluster_start when PostgreSQL 15 is
# not installed: dev.sh installs it, so CI never skips (the caller says so
# loudly). The cluster lives in its own mktemp directory (0711: a daemon
# that dropped its privileges can reach the socket, nobody can list it);
# every connection needs a password (scram-sha-256), so PG_URI carries one:
# the tests also check that no program ever prints or logs it.

pg_cluster_bin() {
	for v in 15 16 17; do
		[ -x /usr/lib/postgresql/$v/bin/initdb ] && { echo /usr/lib/postgresql/$v/bin; return 0; }
	done
	command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
	return 1
}

# Runs a command as the cluster's owner.
pg_cluster_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$PG_USER" -- "$@"
	else
		"$@"
	fi
}

pg_cluster_start() {
	PG_BIN=$(pg_cluster_bin) || return 77
	if [ "$(id -u)" = 0 ]; then
		PG_USER=postgres
		id "$PG_USER" >/dev/null 2>&1 || return 77
	else
		PG_USER=$(id -un)
	fi
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mbpg.XXXXXX") || return 1
	chown "$PG_USER" "$PG_DIR" 2>/dev/null
	chmod 0711 "$PG_DIR"
	PG_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
	printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile"
	chown "$PG_USER" "$PG_DIR/pwfile" 2>/dev/null
	chmod 0600 "$PG_DIR/pwfile"
	PG_DATA=$PG_DIR/data
	PG_SOCKDIR=$PG_DIR
	PG_PORT=5432		# names the socket file only: listen_addresses is empty
	pg_cluster_as "$PG_BIN/initdb" -D "$PG_DATA" -U mbtest -A scram-sha-256 \
		--pwfile="$PG_DIR/pwfile" -E UTF8 \
		--locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || {
		cat "$PG_DIR/initdb.log" >&2
		return 1
	}
	cat >>"$PG_DATA/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$PG_SOCKDIR'
unix_socket_permissions = 0777
fsync = on
max_connections = 100
log_min_messages = warning
EOF
	pg_cluster_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t 60 start \
		>/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
	PG_DB=postgres pg_cluster_psql "CREATE DATABASE mailbeacon" >/dev/null || return 1
	PG_URI="postgresql://mbtest:$PG_PASSWORD@/mailbeacon?host=$PG_SOCKDIR&port=$PG_PORT"
	export PG_DIR PG_SOCKDIR PG_DATA PG_URI PG_PORT PG_PASSWORD
	return 0
}

pg_cluster_psql() {
	PGPASSWORD=$PG_PASSWORD "$PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" -p "$PG_PORT" \
		-U mbtest -d "${PG_DB:-mailbeacon}" -c "$1"
}

pg_cluster_stop_immediate() {
	pg_cluster_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null
}

pg_cluster_restart() {
	pg_cluster_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null
}

pg_cluster_remove() {
	[ -n "$PG_DATA" ] && [ -d "$PG_DATA" ] &&
		pg_cluster_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1
	[ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
	PG_DATA=
}

# The second half of a suite that ran on SQLite first: the cluster, removed
# at exit; without PostgreSQL a loud warning that WHAT did not run on it and
# exit 0 (the SQLite half stands), exit 1 when it cannot start.
pg_cluster_after_sqlite() {
	pg_cluster_start
	case $? in
	0) ;;
	77)
		echo "WARNING: SKIPPED: PostgreSQL 15 is not installed: $1 did NOT run on PostgreSQL" >&2
		exit 0 ;;
	*)
		echo "FAIL: cannot start a PostgreSQL cluster"
		exit 1 ;;
	esac
	trap 'pg_cluster_remove' EXIT INT TERM
}

# A suite runner's start: the cluster, removed at exit, or exit 77 (SKIP,
# saying that WHAT did not run) without PostgreSQL, 1 when it cannot start.
# Exports PG_STOP and PG_START, shell commands (sourcing THIS_FILE, the path
# of this file) the suite's programs run to stop the server (pg_ctl stop -m
# immediate) and start it again.
pg_cluster_for_suite() {
	pg_cluster_start
	case $? in
	0) ;;
	77)
		echo "SKIP: PostgreSQL 15 (initdb) is not installed: $1 did NOT run" >&2
		exit 77 ;;
	*)
		echo "FAIL: cannot start a PostgreSQL cluster"
		exit 1 ;;
	esac
	trap 'pg_cluster_remove' EXIT
	trap 'exit 1' INT TERM
	PG_STOP=". '$2'; PG_BIN='$PG_BIN' PG_USER='$PG_USER' PG_DATA='$PG_DATA' pg_cluster_stop_immediate"
	PG_START=". '$2'; PG_BIN='$PG_BIN' PG_USER='$PG_USER' PG_DATA='$PG_DATA' PG_DIR='$PG_DIR' pg_cluster_restart"
	export PG_STOP PG_START PG_BIN
}
