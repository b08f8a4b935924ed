# bench/lib.sh: what the shell benchmarks share (bash). Sourced.
#   BENCH_DIR   this folder;  MB_SRC the source tree
#   MB_BUILD    the optimised build (default $MB_SRC/build-bench)

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MB_SRC=$(cd "$BENCH_DIR/.." && pwd)
MB_BUILD=${MB_BUILD:-$MB_SRC/build-bench}
MB_BUILD=$(cd "$MB_BUILD" 2>/dev/null && pwd) || {
	echo "bench: no build directory ${MB_BUILD}; build with:" >&2
	echo "  mkdir build-bench && cd build-bench && ../configure CFLAGS='-O2 -g' && make -j2" >&2
	exit 1
}
export MB_BUILD
PATH=$PATH:/usr/sbin:/sbin

# bench_machine: the machine and its load, printed with every figure.
bench_machine() {
	echo "# machine: nproc=$(nproc), CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1)," \
		"RAM: $(free -m | awk '/^Mem:/{print $2}') MiB"
	echo "# load: $(uptime | sed 's/^ *//')"
	echo "# build: $MB_BUILD ($(sed -n 's/^CFLAGS = //p' "$MB_BUILD/Makefile" 2>/dev/null))"
}

# bench_need CMD...: exits 77 with a message when a command is missing.
bench_need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t not found" >&2; exit 77; }
	done
}

# bench_messages DIR KB...: generated HTML messages DIR/msg-<KB>k.eml
# (BENCH_GEN_OPTS: more options of bench_rewrite, such as --max-links N).
bench_messages() {
	local dir=$1
	shift
	make -s -C "$BENCH_DIR" BUILD="$MB_BUILD" bench_rewrite >&2 || return 1
	# shellcheck disable=SC2086
	"$BENCH_DIR/bench_rewrite" --sizes "$(IFS=,; echo "$*")" --dump "$dir" --gen-only ${BENCH_GEN_OPTS:-}
}

# bench_stats: reads numbers (one a line), prints "median p50 p95 p99 max n".
bench_stats() {
	python3 -c '
import sys
v = sorted(float(x) for x in sys.stdin.read().split())
if not v:
    print("n=0"); sys.exit()
def q(p):
    return v[min(len(v) - 1, max(0, int(round(p * (len(v) - 1)))))]
print("p50=%.3f p95=%.3f p99=%.3f max=%.3f n=%d" % (q(.5), q(.95), q(.99), v[-1], len(v)))'
}

# bench_median: reads numbers, prints their median.
bench_median() {
	python3 -c '
import sys, statistics
v = [float(x) for x in sys.stdin.read().split()]
print("%.2f" % statistics.median(v) if v else "nan")'
}

now_s() { date +%s.%N; }

# bench_report_runs RUNS TITLE BASELINE_NOTE: the report benchmarks' timing
# (bench_report.sh, bench_report_pg.sh). The caller defines run_named NAME
# (runs one named command, output to stdout), the array names (the first
# is the baseline) and D (a temp dir). Runs each RUNS times after one
# warm-up of the baseline, then prints the medians, their ratio to the
# baseline, the output lines and the 2 s target.
bench_report_runs() {
	local runs=$1 title=$2 note=$3 r n s m v verdict a b base
	declare -A T
	run_named "${names[0]}" >/dev/null
	for ((r = 1; r <= runs; r++)); do
		for n in "${names[@]}"; do
			a=$(now_s)
			if run_named "$n" >"$D/out.$n" 2>"$D/err"; then
				b=$(now_s)
				s=$(python3 -c "print('%.3f' % ($b - $a))")
			else
				echo "FAILED: $n ($(head -c 300 "$D/err"))" >&2
				s=nan
			fi
			T[$n]="${T[$n]} $s"
			echo "#   run $r $n: $s s"
		done
	done
	echo
	echo "== $title: medians of $runs runs"
	base=$(echo ${T[${names[0]}]} | tr ' ' '\n' | bench_median)
	printf '%-15s %9s %10s %12s %s\n' command seconds "x scan" "output lines" "target < 2 s"
	for n in "${names[@]}"; do
		m=$(echo ${T[$n]} | tr ' ' '\n' | bench_median)
		v=$(python3 -c "print('%.2f' % ($m / $base))" 2>/dev/null)
		verdict=MET
		python3 -c "import sys; sys.exit(0 if $m < 2 else 1)" || verdict=MISSED
		[ "$n" = "${names[0]}" ] && verdict=-
		printf '%-15s %9s %10s %12s %s\n' "$n" "$m" "$v" "$(wc -l <"$D/out.$n")" "$verdict"
	done
	echo "$note"
}

# bench_admin_site DIR DATABASE [SETTING...]: a configuration for the admin
# command and the milter's -n in DIR (keys, hash key, "* off" policy,
# mailbeacon.conf naming DATABASE, then each extra "key = value" line), and
# the store's schema made by mailbeacon-milter -n. Exits on failure.
bench_admin_site() {
	local dir=$1 db=$2 line
	shift 2
	( umask 077
	  printf 'k1 %s\n' "$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n')" >"$dir/keys"
	  printf '%s\n' "$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n')" >"$dir/hash.key"
	  echo '* off' >"$dir/policy"
	  { printf '%s\n' "beacon_url = https://t.example.com" "key_file = keys" \
		"hash_key_file = hash.key" "database = $db" "policy_file = policy" \
		"milter_socket = unix:$dir/milter.sock" "user = $(id -un)"
	    for line in "$@"; do printf '%s\n' "$line"; done; } >"$dir/mailbeacon.conf" )
	"$MB_BUILD/milter/mailbeacon-milter" -n -c "$dir/mailbeacon.conf" >"$dir/milter-n.log" 2>&1 ||
		{ cat "$dir/milter-n.log"; exit 1; }
}

# bench_report_compare OLD_ADMIN OLD_CONF NEW_ADMIN NEW_CONF DIR: every
# format (table, csv, json, html) of report for every kind of filter, by an
# older build on its store and by this one on the same rows (its store
# migrated from the older one's), compared byte for byte with the time of
# generation taken out (--since and --until are absolute, so that the two
# runs select the same messages). Prints a line per pair; returns 1 when
# any differs (the outputs stay in DIR).
bench_report_compare() {
	local old=$1 oc=$2 new=$3 nc=$4 dir=$5 now s u name args fmt r fail=0
	now=$(date +%s)
	s=$((now - 30 * 86400))
	u=$((now - 10 * 86400))
	while IFS='|' read -r name args; do
		for fmt in table csv json html; do
			eval "set -- $args"
			"$old" -c "$oc" report "$@" --format $fmt 2>&1 | bench_report_sans_time >"$dir/old.$name.$fmt"
			"$new" -c "$nc" report "$@" --format $fmt 2>&1 | bench_report_sans_time >"$dir/new.$name.$fmt"
			r=identical
			cmp -s "$dir/old.$name.$fmt" "$dir/new.$name.$fmt" || { r=DIFFERENT; fail=1; }
			printf '%-13s %-5s %11s bytes %s\n' "$name" $fmt "$(wc -c <"$dir/new.$name.$fmt")" $r
		done
	done <<LIST
since30d|--since @$s
since-until|--since @$s --until @$u
sender|--sender u7@d7.example
sender-case|--sender U7@D7.EXAMPLE
domain|--sender @d7.example
message|--message m000000000000000000002
message-hdr|--message '<5.bench@example.com>'
LIST
	return $fail
}

# The report with its time of generation replaced by NOW (table, JSON, HTML).
bench_report_sans_time() {
	sed -E 's/([Gg]enerated"?:? "?)[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/\1NOW/'
}
