#!/bin/sh
# run-beacon.sh: automake TESTS entry for the beacon: test_beacon.py (real
# HTTP against a running mailbeacond: pixel, clicks, forgeries, verdicts,
# opt-out, API, metrics, key rotation, limits), crash.py (kill -9 under
# load; every acknowledged event durable, the store intact) and, only when
# nginx and openssl are installed, nginx_front.py (contrib/nginx's TLS front
# before a real beacon).
#
#   run-beacon.sh [CASE...]   CASEs are test_beacon.py's (the others then skipped)
#
# Environment: top_builddir (set by "make check"; default build/ of the source
# tree), BEACON_KEEP=1 keeps the temporary directories. Needs python3 with its
# sqlite3 module. Loopback only (127.0.0.1 and 127.0.0.2).
# Prints "ok NAME" / "FAIL NAME: why" per case, then "N passed, M failed".
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../../build}
build=$(cd "$build" && pwd)
PATH=$PATH:/usr/sbin:/sbin
export PATH

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import sqlite3' 2>/dev/null; then
	echo "SKIP: python3 with sqlite3 is missing: the beacon tests did NOT run" >&2
	exit 77
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM
status=0
totals=
# part SECONDS SCRIPT ARGS...: runs one script; its closing line is added to
# the totals (a script that died without one counts as one failure).
part() {
	limit=$1
	shift
	timeout -k 10 "$limit" python3 "$@" | tee "$out"
	last=$(tail -n 1 "$out")
	case $last in
	*" passed, 0 failed") ;;
	*) status=1 ;;
	esac
	if ! printf '%s\n' "$last" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
		echo "FAIL $(basename "$1"): ended without a summary (timeout or crash)"
		last="0 passed, 1 failed"
	fi
	totals="$totals$last
"
}
part 900 "$here/test_beacon.py" --build "$build" "$@"
if [ $# -eq 0 ]; then
	part 400 "$here/crash.py" --build "$build"
	# Optional: the contrib/nginx TLS front, when nginx and openssl are here.
	if command -v nginx >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; then
		part 300 "$here/nginx_front.py" --build "$build"
	else
		echo "WARNING: SKIPPED: nginx or openssl is not installed, so the contrib/nginx TLS front was NOT tested (apt-get install nginx-light openssl to run it)" | tee /dev/stderr
	fi
fi
# One closing line for the whole entry.
printf '%s' "$totals" | awk '{ p += $1; f += $3 } END { print p " passed, " f " failed" }'
exit $status
