#!/bin/sh
# run-sync.sh: automake TESTS entry for `mailbeacon sync`: test_sync.py runs
# a real mailbeacond on a loopback port with its own database and API token,
# makes events over HTTP, and syncs them into a second database: equal rows,
# a second run adds nothing, interrupted runs (connection lost between pages,
# kill -9 of the sync) resume exactly, malformed lines, redirects, oversized
# pages, a wrong token, plain http to a non-loopback host and an untrusted
# TLS certificate are refused.
#
# Environment: top_builddir (set by "make check"; default build/ of the source
# tree), SYNC_KEEP=1 keeps the temporary directory. Needs python3 with its
# sqlite3 module (and openssl for the TLS case). Loopback only.
# Prints "ok NAME" / "FAIL NAME: why" per case, then "N passed, M failed".
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../../build}
build=$(cd "$build" && pwd)

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import sqlite3' 2>/dev/null; then
	echo "SKIP: python3 with sqlite3 is missing: the sync tests did NOT run" >&2
	exit 77
fi
keep=
[ -n "$SYNC_KEEP" ] && keep=--keep
out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM
timeout -k 10 600 python3 "$here/test_sync.py" --build "$build" $keep | tee "$out"
last=$(tail -n 1 "$out")
if ! printf '%s\n' "$last" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
	echo "FAIL test_sync.py: ended without a summary (timeout or crash)"
	echo "0 passed, 1 failed"
	exit 1
fi
case $last in
*" passed, 0 failed") exit 0 ;;
*) exit 1 ;;
esac
