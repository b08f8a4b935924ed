#!/bin/sh
# automake TESTS entry for the hostile-input test (see run-hostile.py).
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 is missing: the hostile-input test did NOT run" >&2
	exit 77
fi
exec python3 "$here/run-hostile.py" "${top_builddir:?}/admin/mailbeacon" "${top_srcdir:-$here/../..}/tests/corpus"
