#!/bin/sh
# mailbeacon.conf(5) against the settings table (an automake TESTS entry):
# conf-settings prints common/mbconfig.c's cfg_keys[], check-man.py checks the
# page documents each with its default, and no other setting.
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 not found -- mailbeacon.conf(5) was NOT checked"
	exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${top_srcdir:-$here/../..}
builddir=${top_builddir:-$here/../..}
page=${CONF_MAN_PAGE:-$srcdir/doc/mailbeacon.conf.5}
prog=$builddir/tests/conf-settings
if [ ! -x "$prog" ]; then
	echo "FAIL: $prog not built" >&2
	exit 1
fi
tmp=$(mktemp "${TMPDIR:-/tmp}/mb-confdoc.XXXXXX") || exit 1
trap 'rm -f "$tmp"' EXIT
"$prog" >"$tmp" || { echo "FAIL: $prog failed" >&2; exit 1; }
python3 "$here/check-man.py" "$page" <"$tmp"
