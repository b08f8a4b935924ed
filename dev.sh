#!/bin/sh
# dev.sh: the README's two commands. "./dev.sh demo" runs the demo and
# "./dev.sh test" runs every test (twice: plain, then under ASan+UBSan; the
# milter tests a third time under valgrind).
# Both first install any missing Debian package and build what is stale, so
# a fresh Debian 12 machine needs nothing else.
set -eu

top=$(cd "$(dirname "$0")" && pwd)
cd "$top"

# Build, test and demo dependencies, by Debian package name. chromium renders
# the HTML report in its test; postfix provides a private test instance;
# debhelper builds the .debs, systemd provides systemd-analyze (it does not
# become PID 1 by being installed); m4 and libwrap0 serve the sendmail test,
# which fetches sendmail's own debs (they conflict with postfix);
# postgresql-15 provides initdb and pg_ctl for the tests' private clusters
# (tests/pg/cluster.sh; Debian's own "main" cluster is never used); clang
# builds the libFuzzer targets.
DEPS="gcc make autoconf automake pkgconf libc6-dev
libmilter-dev libxml2-dev libsqlite3-dev sqlite3 libcurl4-openssl-dev
libsodium-dev libmicrohttpd-dev libidn2-dev libjansson-dev libpq-dev postgresql-15
libmaxminddb-dev libmaxmind-db-writer-perl
libcmocka-dev miltertest python3 postfix
chromium valgrind debhelper systemd groff-base curl psmisc m4 libwrap0
clang libclang-rt-dev"

say() { printf '==> %s\n' "$*"; }

install_deps() {
	missing=""
	for p in $DEPS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "installing Debian packages:$missing"
	if [ "$(id -u)" -eq 0 ]; then
		sudo=""
	elif command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "dev.sh: missing packages:$missing; run as root or install sudo" >&2
		exit 1
	fi
	case " $missing " in *" postfix "*)
		# Only the binaries: our tests run private instances, and the
		# system's own Postfix stays unconfigured and stopped.
		echo "postfix postfix/main_mailer_type select No configuration" |
			$sudo debconf-set-selections ;;
	esac
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}

# build DIR [configure arguments...]: an out-of-tree build in DIR.
build() {
	dir=$1
	shift
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		say "generating configure"
		./autogen.sh >/dev/null 2>&1 || ./autogen.sh
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		say "configuring $dir"
		(cd "$dir" && ../configure -q "$@")
	fi
	say "building $dir"
	make -s -C "$dir" -j"$(nproc)" >/dev/null
}

passed=0
failed=0

# check DIR: runs the suite in DIR and adds to the totals.
check() {
	dir=$1
	say "testing $dir"
	rc=0
	make -s -C "$dir" check >"$dir/check.out" 2>&1 || rc=$?
	grep -E '^(PASS|FAIL|XFAIL|XPASS|ERROR|SKIP):' "$dir/check.out" || true
	dir_failed=0
	for log in "$dir"/tests/test-suite.log; do
		[ -f "$log" ] || continue
		p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
		f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
		e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
		s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
		passed=$((passed + ${p:-0}))
		dir_failed=$((${f:-0} + ${e:-0}))
		if [ "${s:-0}" -gt 0 ]; then
			echo "WARNING: $s test(s) SKIPPED in $dir; see $log" >&2
		fi
	done
	if [ "$rc" -ne 0 ]; then
		echo "---- $dir failed; its logs follow ----"
		cat "$dir/check.out"
		cat "$dir"/tests/test-suite.log 2>/dev/null || true
		# A failure outside the test harness (the man-page lint, a
		# build step) counts too.
		[ "$dir_failed" -eq 0 ] && dir_failed=1
	fi
	failed=$((failed + dir_failed))
}

# step NAME COMMAND...: one more test outside "make check", its output kept
# in build/NAME.out (shown on failure). Exit 77 is a loud skip.
step() {
	name=$1
	shift
	say "testing: $name"
	rc=0
	"$@" >"build/$name.out" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "PASS: $name"
		passed=$((passed + 1))
	elif [ "$rc" -eq 77 ]; then
		echo "WARNING: $name was SKIPPED; see build/$name.out" >&2
		tail -5 "build/$name.out" >&2
	else
		echo "FAIL: $name"
		cat "build/$name.out"
		failed=$((failed + 1))
	fi
}

# valgrind_start DIR / valgrind_end DIR: the miltertest cases once more,
# with the milter under valgrind's memcheck (no memory errors, nothing
# definitely lost at exit). It runs in the background beside the steps
# that follow it: valgrind keeps one core busy for minutes while the
# fuzzers, distcheck and the package build use the other.
valgrind_start() {
	dir=$1
	say "testing $dir: the milter under valgrind (in the background)"
	(
		rc=0
		MILTER_VALGRIND=1 top_builddir="$top/$dir" top_srcdir="$top" \
			sh tests/milter/run-milter.sh >"$dir/valgrind.out" 2>&1 || rc=$?
		echo "$rc" >"$dir/valgrind.rc"
	) &
	valgrind_pid=$!
}

valgrind_end() {
	dir=$1
	wait "$valgrind_pid" || true
	if [ "$(cat "$dir/valgrind.rc" 2>/dev/null)" = 0 ]; then
		echo "PASS: milter/run-milter.sh under valgrind"
		passed=$((passed + 1))
	else
		echo "FAIL: milter/run-milter.sh under valgrind"
		cat "$dir/valgrind.out"
		failed=$((failed + 1))
	fi
}

SAN_FLAGS="-g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"

case "${1:-}" in
demo)
	install_deps
	build build
	exec bash contrib/demo/demo.sh "$top/build"
	;;
test)
	install_deps
	build build
	check build
	valgrind_start build
	# The tarball builds and passes its quick tests out of tree, and the
	# Debian packages build, install and run (once: dpkg is system-wide).
	step distcheck make -C build distcheck
	step debian-package sh tests/package/run-deb.sh
	# Each libFuzzer target for a short fixed time (make fuzz, clang); a
	# crash fails the run and names the input to add to tests/fuzz/regress.
	step fuzz make -C build fuzz FUZZ_SECONDS=15
	valgrind_end build
	build build-asan CFLAGS="$SAN_FLAGS" LDFLAGS="-fsanitize=address,undefined"
	# The rewrite differential test runs its 100,000 mutations in the plain
	# build above; under the sanitizers a quarter of them finds the memory
	# errors as well and saves the suite a minute.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		REWRITEDIFF_MUTATIONS=25000 check build-asan
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	;;
*)
	echo "usage: ./dev.sh demo | ./dev.sh test" >&2
	exit 1
	;;
esac
