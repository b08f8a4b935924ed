#!/bin/sh
# lint-man.sh PAGE...: fails when a man page makes groff (all warnings,
# -ww), man(1) at 80 columns, or mandoc -T lint (if installed) say
# anything. With no arguments, lints the pages next to this script.
set -u
here=$(dirname "$0")
if [ $# -eq 0 ]; then
	set -- "$here"/mailbeacon-milter.8 "$here"/mailbeacond.8 \
	    "$here"/mailbeacon.1 "$here"/mailbeacon.conf.5 \
	    "$here"/mailbeacon-policy.5
fi
if ! command -v groff >/dev/null 2>&1; then
	echo "lint-man.sh: groff is not installed (apt-get install groff-base)" >&2
	exit 1
fi
have_mandoc=no
command -v mandoc >/dev/null 2>&1 && have_mandoc=yes
have_man=no
command -v man >/dev/null 2>&1 && have_man=yes
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
fail=0
for page in "$@"; do
	if [ ! -r "$page" ]; then
		echo "FAIL $page: cannot read it" >&2
		fail=1
		continue
	fi
	# troff device and the nroff (terminal) device both, every warning.
	groff -ww -z -man "$page" >"$tmp" 2>&1
	groff -ww -z -man -Tutf8 "$page" >>"$tmp" 2>&1
	if [ "$have_man" = yes ]; then
		MANWIDTH=80 MAN_KEEP_FORMATTING= man --warnings -l "$page" \
		    2>>"$tmp" >/dev/null
	fi
	if [ "$have_mandoc" = yes ]; then
		# mandoc -T lint prints nothing for a clean page.
		mandoc -T lint -W all "$page" >>"$tmp" 2>&1
	fi
	if [ -s "$tmp" ]; then
		echo "FAIL $page:" >&2
		cat "$tmp" >&2
		fail=1
	else
		echo "ok   $page"
	fi
done
[ "$have_mandoc" = yes ] ||
	echo "lint-man.sh: mandoc is not installed; mandoc -T lint skipped" >&2
exit $fail
