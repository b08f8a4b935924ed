#!/bin/sh
# The systemd units of contrib/systemd as "make install" makes them:
# "systemd-analyze verify" must print nothing (it exits 0 on an unknown or
# misspelt setting, so any output is a failure). Their ExecStart= paths are
# pointed at the programs of this build, and MANPATH at doc/, so that the
# programs and the Documentation= man pages are checked to exist too.
# Prints the exposure score of "systemd-analyze security" for information.
# Then the same for the timers of purge and digest and their services.
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
# verify UNIT FILE: FILE (UNIT's file in $dir/units) names no system
# program path, and systemd-analyze verify UNIT says nothing; 1 otherwise.
verify() {
	if grep -n '/usr/sbin\|/usr/bin' "$2"; then
		echo "FAIL $1: a program path was not rewritten to the build"
		failed=$((failed + 1))
		return 1
	fi
	out=$(cd "$dir/units" && MANPATH="$dir/man" systemd-analyze verify "$1" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
		echo "FAIL $1: systemd-analyze verify (exit $rc):"
		printf '%s\n' "$out" | sed 's/^/  /'
		failed=$((failed + 1))
		return 1
	fi
	echo "ok $1: systemd-analyze verify says nothing"
	passed=$((passed + 1))
}
for unit in mailbeacon-milter.service mailbeacond.service; do
	sed -e "s|/usr/sbin/mailbeacon-milter|$build/milter/mailbeacon-milter|g" \
	    -e "s|/usr/sbin/mailbeacond|$build/beacon/mailbeacond|g" \
	    "$src/contrib/systemd/$unit" >"$dir/units/$unit"
	verify "$unit" "$dir/units/$unit"
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

# The timers and the oneshot services they start (mailbeacon purge, and
# mailbeacon digest as the template mailbeacon-digest@.service, one
# instance per period). Verifying a timer loads the service it names, and
# verifying an instance loads the template; a timer's Unit= that names no
# file is not an error to systemd-analyze, so it is checked here.
for unit in mailbeacon-purge.service mailbeacon-purge.timer mailbeacon-digest@.service \
	mailbeacon-digest-daily.timer mailbeacon-digest-weekly.timer; do
	sed -e "s|/usr/bin/mailbeacon |$build/admin/mailbeacon |g" \
	    "$src/contrib/systemd/$unit" >"$dir/units/$unit"
done
for unit in mailbeacon-purge.service mailbeacon-digest@daily.service \
	mailbeacon-digest@weekly.service mailbeacon-purge.timer mailbeacon-digest-daily.timer \
	mailbeacon-digest-weekly.timer; do
	file=$dir/units/$(printf '%s' "$unit" | sed 's/@[a-z]*\./@./')
	verify "$unit" "$file" || continue
	case $unit in
	*.timer)
		target=$(sed -n 's/^Unit=//p' "$file")
		tfile=$dir/units/$(printf '%s' "$target" | sed 's/@[a-z]*\./@./')
		if [ -z "$target" ] || [ ! -f "$tfile" ]; then
			echo "FAIL $unit: Unit=$target names no unit of contrib/systemd"
			failed=$((failed + 1))
		fi
		grep -q '^WantedBy=timers.target$' "$file" || {
			echo "FAIL $unit: not WantedBy=timers.target"
			failed=$((failed + 1))
		} ;;
	*)
		for want in 'Type=oneshot' 'User=mailbeacon' 'CapabilityBoundingSet=$' \
			'StateDirectory=mailbeacon$'; do
			grep -q "^$want" "$file" || {
				echo "FAIL $unit: no line $want"
				failed=$((failed + 1))
			}
		done ;;
	esac
done
# The instance name is the period digest --period takes.
grep -q '^ExecStart=.* digest --period %i$' "$dir/units/mailbeacon-digest@.service" || {
	echo "FAIL mailbeacon-digest@.service: ExecStart= does not run digest --period %i"
	failed=$((failed + 1))
}
echo "systemd-verify: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
