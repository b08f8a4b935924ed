#!/bin/sh
# The MIME corpus test (an automake TESTS entry): runs "mailbeacon preview" on
# every message listed in MANIFEST and checks the output with check.py.
# Uses $top_builddir and $top_srcdir when the test harness exports them, else
# paths relative to this script. MAILBEACON overrides the binary.
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 not found -- the MIME corpus was NOT checked"
	exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
srcdir_corpus=$here
if [ -n "${top_srcdir:-}" ] && [ -f "$top_srcdir/tests/corpus/MANIFEST" ]; then
	srcdir_corpus=$(cd "$top_srcdir/tests/corpus" && pwd)
fi
builddir=${top_builddir:-$here/../..}
builddir=$(cd "$builddir" && pwd)
bin=${MAILBEACON:-$builddir/admin/mailbeacon}

if [ ! -x "$bin" ]; then
	echo "FAIL: $bin not built" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mb-corpus.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
for f in mailbeacon.conf keys policy footer.html footer.txt; do
	cp "$srcdir_corpus/$f" "$tmp/$f" || exit 1
done
chmod 600 "$tmp/keys"

python3 "$srcdir_corpus/check.py" "$bin" "$tmp" "$srcdir_corpus"
