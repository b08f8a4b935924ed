#!/bin/sh
# run-report.sh: automake TESTS entry for `mailbeacon report`, export, forget
# and purge (test_report.py: a seeded store, expected numbers computed
# independently, every format; erasure down to the database file's bytes).
#
#   run-report.sh [CASE...]
#
# Environment: top_builddir (set by "make check"; default build/ of the source
# tree), REPORT_KEEP=1 keeps the temporary directory. Needs python3 with its
# sqlite3 module. Prints "ok NAME" / "FAIL NAME: why", then "N passed, M failed".
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../../build}
build=$(cd "$build" && pwd) || exit 1

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import sqlite3' 2>/dev/null; then
	echo "SKIP: python3 with sqlite3 is missing: the report tests did NOT run" >&2
	exit 77
fi
for prog in admin/mailbeacon milter/mailbeacon-milter; do
	if [ ! -x "$build/$prog" ]; then
		echo "FAIL: $build/$prog is not built" >&2
		exit 1
	fi
done
exec timeout -k 10 600 python3 "$here/test_report.py" "$build" "$@"
