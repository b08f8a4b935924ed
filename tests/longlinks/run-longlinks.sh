#!/bin/sh
# run-longlinks.sh: automake TESTS entry for test_longlinks.py: a click URL
# just under the shared URL limit is redirected by a real mailbeacond, a
# destination just over it is left as written (loopback only).
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../../build}
build=$(cd "$build" && pwd)
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import sqlite3' 2>/dev/null; then
	echo "SKIP: python3 with sqlite3 is missing: the long-link test did NOT run" >&2
	exit 77
fi
exec timeout -k 10 300 python3 "$here/test_longlinks.py" --build "$build"
