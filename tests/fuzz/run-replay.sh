#!/bin/sh
# The fuzz regression test (an automake TESTS entry): each fuzz target, built
# by make check around replay.c, replays its seeds and every input under
# tests/fuzz/regress/TARGET/. A target aborts on a crash or a broken
# invariant; this prints PASS or FAIL per target and exits 1 on any FAIL.
here=$(cd "$(dirname "$0")" && pwd)
src=${top_srcdir:-$here/../..}
src=$(cd "$src" && pwd)
builddir=${top_builddir:-$here/../..}
builddir=$(cd "$builddir" && pwd)
fuzz=$src/tests/fuzz

inputs() {
	case $1 in
	rewrite) echo "$src/tests/corpus/"*.eml "$src/tests/e2e/"*.eml ;;
	html) echo "$src/tests/corpus/"*.eml ;;
	token | route | eventline) echo "$fuzz/seeds/$1" ;;
	config) echo "$fuzz/seeds/config" "$src/tests/corpus/mailbeacon.conf" ;;
	policy) echo "$fuzz/seeds/policy" "$src/tests/corpus/policy" ;;
	esac
	echo "$fuzz/regress/$1"
}

failed=0
for t in rewrite html token config policy route eventline; do
	bin=$builddir/tests/fuzz_$t
	if [ ! -x "$bin" ]; then
		echo "FAIL $t: $bin not built"
		failed=$((failed + 1))
		continue
	fi
	files=""
	for f in $(inputs "$t"); do
		[ -e "$f" ] && files="$files $f"
	done
	# shellcheck disable=SC2086
	if out=$("$bin" $files 2>&1); then
		echo "PASS $t: $(echo "$out" | tail -1 | sed 's/^.*: //')"
	else
		echo "FAIL $t:"
		echo "$out" | tail -30
		failed=$((failed + 1))
	fi
done
echo "fuzz replay: $failed of 7 targets failed"
[ "$failed" -eq 0 ]
