#!/bin/sh
# fuzz.sh [SECONDS] [BUILD_DIR]: builds every libFuzzer target with clang
# (-fsanitize=fuzzer,address,undefined) in BUILD_DIR (default build-fuzzer)
# and runs each for SECONDS (default 60), seeded from the test messages,
# the sample files and tests/fuzz/regress. Exits 1 when a target crashed or
# broke an invariant; the input that did it is copied to BUILD_DIR/crashes,
# from where it belongs in tests/fuzz/regress/TARGET/ once fixed.
# FUZZ_TARGETS="rewrite html" runs only those; FUZZ_AUTOCONF_H names the
# autoconf.h of an existing build instead of configuring BUILD_DIR.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${1:-60}
build=${2:-$top/build-fuzzer}
targets=${FUZZ_TARGETS:-rewrite html token config policy route eventline}
CLANG=${CLANG:-clang}

say() { printf '==> %s\n' "$*"; }

if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "fuzz.sh: $CLANG not found; on Debian: apt-get install clang" >&2
	exit 1
fi
mkdir -p "$build"
build=$(cd "$build" && pwd)

# mbconfig.c takes its default paths from autoconf.h.
autoconf_h=${FUZZ_AUTOCONF_H:-$build/autoconf.h}
if [ ! -f "$autoconf_h" ]; then
	if [ ! -x "$top/configure" ]; then
		say "generating configure"
		(cd "$top" && ./autogen.sh >/dev/null 2>&1)
	fi
	say "configuring $build with $CLANG"
	(cd "$build" && CC="$CLANG" "$top/configure" -q --disable-unit-tests)
fi

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=gnu11 -g -O1 -fno-omit-frame-pointer $san -Wall -Wextra -Werror
 -include $autoconf_h -I$top/common -I$top/rewrite -I$top/beacon -I$top/store -I$here
 $(pkg-config --cflags libxml-2.0 libsodium libidn2 jansson)"
libs="$(pkg-config --libs libxml-2.0 libsodium libidn2 jansson libcurl)"

# The libraries once, instrumented for coverage; then one binary a target.
say "building the fuzz targets in $build"
mkdir -p "$build/obj"
objs=""
for src in "$top"/common/*.c "$top"/rewrite/*.c "$top"/beacon/route.c "$top"/store/eventline.c \
    "$here"/undo.c; do
	# common/'s start-up (load.c, daemon.c: libmbstartup) sits above the
	# store and is no part of what the targets fuzz.
	case $src in */common/load.c | */common/daemon.c) continue ;; esac
	obj="$build/obj/$(basename "$(dirname "$src")")_$(basename "$src" .c).o"
	# Stale when the source, autoconf.h or any of our headers is newer.
	if [ ! -f "$obj" ] || [ -n "$(find "$src" "$autoconf_h" "$top/common" "$top/rewrite" \
	    "$top/beacon" "$top/store" "$here" -newer "$obj" \( -name '*.h' -o -name "$(basename "$src")" \) \
	    2>/dev/null | head -1)" ]; then
		# shellcheck disable=SC2086
		"$CLANG" $cflags -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
	fi
	objs="$objs $obj"
done
for t in $targets; do
	# shellcheck disable=SC2086
	"$CLANG" $cflags -fsanitize=fuzzer "$here/fuzz_$t.c" $objs $libs -o "$build/fuzz_$t"
done

# Seeds: the inputs each target is meant for, wherever the tree has them.
seeds() {
	case $1 in
	rewrite) echo "$top/tests/corpus/"*.eml "$top/tests/e2e/"*.eml ;;
	html) echo "$build/seeds/html" ;;
	token) echo "$here/seeds/token" ;;
	route) echo "$here/seeds/route" ;;
	eventline) echo "$here/seeds/eventline" ;;
	config) echo "$here/seeds/config" "$top/tests/corpus/mailbeacon.conf" \
		"$top/conf/mailbeacon.conf.in" ;;
	policy) echo "$here/seeds/policy" "$top/tests/corpus/policy" "$top/conf/policy" ;;
	esac
}
# Messages and HTML up to 16 KiB: the seeds are smaller, and longer inputs
# mostly slow the search down (the long-line cases need no more).
max_len() {
	case $1 in
	rewrite | html) echo 16384 ;;
	*) echo 4096 ;;
	esac
}
dict() {
	case $1 in
	rewrite) echo "-dict=$here/mime.dict" ;;
	html) echo "-dict=$here/html.dict" ;;
	config) echo "-dict=$here/config.dict" ;;
	policy) echo "-dict=$here/policy.dict" ;;
	esac
}
# The HTML target gets the HTML parts of the corpus (python3 decodes them).
mkdir -p "$build/seeds/html"
if command -v python3 >/dev/null 2>&1; then
	python3 - "$top/tests/corpus" "$build/seeds/html" <<'EOF'
import os, sys
from email import policy
from email.parser import BytesParser
src, dst = sys.argv[1:]
for name in sorted(os.listdir(src)):
    if not name.endswith('.eml'):
        continue
    with open(os.path.join(src, name), 'rb') as f:
        msg = BytesParser(policy=policy.compat32).parse(f)
    for k, part in enumerate(msg.walk()):
        if part.get_content_type() == 'text/html':
            body = part.get_payload(decode=True)
            if body:
                with open(os.path.join(dst, '%s.%d.html' % (name, k)), 'wb') as out:
                    out.write(body)
EOF
fi

status=0
crashed=0
mkdir -p "$build/crashes"
for t in $targets; do
	corpus="$build/corpus/$t"
	artifacts="$build/artifacts/$t"
	mkdir -p "$corpus" "$artifacts"
	# libFuzzer reads directories only: the seed files are gathered.
	mkdir -p "$build/seeds/$t"
	for s in $(seeds "$t"); do
		if [ -d "$s" ]; then
			[ "$s" = "$build/seeds/$t" ] || cp "$s"/* "$build/seeds/$t/" 2>/dev/null || true
		elif [ -f "$s" ]; then
			cp "$s" "$build/seeds/$t/"
		fi
	done
	in="$build/seeds/$t"
	[ -d "$here/regress/$t" ] && in="$in $here/regress/$t"
	say "fuzzing $t for $secs s"
	rc=0
	# The first directory collects what libFuzzer finds; the rest are read.
	# shellcheck disable=SC2046,SC2086
	"$build/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$artifacts/" \
		$(dict "$t") "$corpus" $in >"$build/fuzz_$t.log" 2>&1 || rc=$?
	grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|#[0-9]+ *DONE)' \
		"$build/fuzz_$t.log" | sed 's/^/    /' || true
	grep -E 'cov: [0-9]+' "$build/fuzz_$t.log" | tail -1 | sed 's/^/    last: /' || true
	if [ "$rc" -ne 0 ]; then
		status=1
		crashed=$((crashed + 1))
		echo "FAIL: fuzz_$t exited $rc; see $build/fuzz_$t.log" >&2
		grep -E 'ERROR|invariant broken|runtime error' "$build/fuzz_$t.log" | head -5 >&2 || true
		for a in "$artifacts"/*; do
			[ -f "$a" ] || continue
			mkdir -p "$build/crashes/$t"
			cp "$a" "$build/crashes/$t/"
			echo "    input saved: $build/crashes/$t/$(basename "$a")" \
			    "(fix, then add it to tests/fuzz/regress/$t/)" >&2
		done
	else
		echo "    ok: no crash in $secs s"
	fi
done
echo "fuzz: $crashed of $(echo "$targets" | wc -w) targets failed, $secs s each"
exit $status
