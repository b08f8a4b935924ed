#!/bin/sh
# The systemd units of contrib/systemd as "make install" makes them:
# "systemd-analyze verify" must print nothing (it exits 0 on an unknown or
# misspelt setting, so any output is a failure). Their ExecStart= paths are
# pointed at the programs of this build, and MANPATH at doc/, so that the
# programs and the Documentation= man pages are checked to exist too.
# Prints the exposure score of "systemd-analyze security" for information.
# Skips (77) only when systemd-analyze is missing (Debian package systemd).
build=${top_builddir:?top_builddir must name the build directory}
src=${top_srcdir:?top_srcdir must name the source directory}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze is not installed (apt-get install systemd):" \
		"THE SYSTEMD UNITS WERE NOT VERIFIED" >&2
	exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/units" "$dir/man/man1" "$dir/man/man5" "$dir/man/man8"
for p in "$src"/doc/*.[158]; do
	cp "$p" "$dir/man/man${p##*.}/"
done
failed=0
passed=0
for unit in mailbeacon-milter.service mailbeacond.service; do
	sed -e "s|/usr/sbin/mailbeacon-milter|$build/milter/mailbeacon-milter|g" \
	    -e "s|/usr/sbin/mailbeacond|$build/beacon/mailbeacond|g" \
	    "$src/contrib/systemd/$unit" >"$dir/units/$unit"
	if grep -n '/usr/sbin\|/usr/bin' "$dir/units/$unit"; then
		echo "FAIL $unit: a program path was not rewritten to the build"
		failed=$((failed + 1))
		continue
	fi
	out=$(cd "$dir/units" && MANPATH="$dir/man" systemd-analyze verify "$unit" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
		echo "FAIL $unit: systemd-analyze verify (exit $rc):"
		printf '%s\n' "$out" | sed 's/^/  /'
		failed=$((failed + 1))
	else
		echo "ok $unit: systemd-analyze verify says nothing"
		passed=$((passed + 1))
	fi
	for want in 'User=mailbeacon' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
		'CapabilityBoundingSet=$' 'SystemCallFilter=@system-service' \
		'ExecReload=/bin/kill -HUP \$MAINPID' 'StateDirectory=mailbeacon$'; do
		if ! grep -q "^$want" "$dir/units/$unit"; then
			echo "FAIL $unit: no line $want"
			failed=$((failed + 1))
		fi
	done
	(cd "$dir/units" && systemd-analyze security --offline=yes "$unit" 2>/dev/null) |
		grep 'Overall exposure' | sed "s/^/  info: /"
done
grep -q '^RuntimeDirectory=mailbeacon$' "$dir/units/mailbeacon-milter.service" || {
	echo "FAIL mailbeacon-milter.service: no RuntimeDirectory=mailbeacon (its socket)"
	failed=$((failed + 1))
}
echo "systemd-verify: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
