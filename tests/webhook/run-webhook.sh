#!/bin/sh
# run-webhook.sh: automake TESTS entry for the notify=URL webhooks:
# test_webhook.py (a real mailbeacond and a local receiver on 127.0.0.1).
#
# Environment: top_builddir (set by "make check"; default build/ of the source
# tree), BEACON_KEEP=1 keeps the temporary directory. Needs python3 with its
# sqlite3 module. Prints "ok NAME" / "FAIL NAME: why", then "N passed, M failed".
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../../build}
build=$(cd "$build" && pwd)

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import sqlite3' 2>/dev/null; then
	echo "SKIP: python3 with sqlite3 is missing: the webhook tests did NOT run" >&2
	exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM
timeout -k 10 300 python3 "$here/test_webhook.py" --build "$build" "$@" | tee "$out"
last=$(tail -n 1 "$out")
case $last in
*" passed, 0 failed") exit 0 ;;
esac
if ! printf '%s\n' "$last" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
	echo "FAIL test_webhook.py: ended without a summary (timeout or crash)"
	echo "0 passed, 1 failed"
fi
exit 1
