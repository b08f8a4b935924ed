#!/bin/bash
# bench/bench_rewrite_instr.sh: benchmark 1 in instructions instead of seconds,
# for a shared or busy machine where wall-clock ratios are noise. Counts with
# callgrind the instructions of one rewrite (rewrite_message + rewrite_apply,
# bench_rewrite's "rewrite") and of libxml2's no-op SAX parse of the same
# HTML ("sax-noop"), and prints their same-run ratio (sax-noop ÷ rewrite; the
# target is >= 0.8, as in bench_rewrite).
#
#   bench/bench_rewrite_instr.sh [--sizes 5,60,1024] [--qp] [--profile] [BUILD...]
#
# BUILD: build directories to compare (default $MB_BUILD); each one's
# librewrite.a and libmbcommon.a, with the headers of the tree it was
# configured from, are linked into its own copy of this bench_rewrite.c (so
# an older tree's build, e.g. from a git worktree, gives the "before" rows).
# --qp adds the multipart/alternative quoted-printable message.
# --profile prints, per BUILD and size, callgrind_annotate's inclusive
# shares of the rewrite (what is left).
. "$(dirname "$0")/lib.sh"
bench_need valgrind callgrind_annotate
sizes=5,60,1024
forms=(8bit)
profile=0
builds=()
while [ $# -gt 0 ]; do
	case $1 in
	--sizes) sizes=$2; shift ;;
	--qp) forms=(8bit qp) ;;
	--profile) profile=1 ;;
	-*) echo "usage: $0 [--sizes KB,...] [--qp] [--profile] [BUILD...]" >&2; exit 1 ;;
	*) builds+=("$(cd "$1" && pwd)") || exit 1 ;;
	esac
	shift
done
[ ${#builds[@]} -gt 0 ] || builds=("$MB_BUILD")
D=$(mktemp -d /tmp/bench-instr.XXXXXX)
trap 'rm -rf "$D"' EXIT

for i in "${!builds[@]}"; do
	# Headers from the build's own source tree: the structures must match its libraries.
	src=$(sed -n 's/^abs_top_srcdir = //p' "${builds[$i]}/Makefile")
	make -s -C "$BENCH_DIR" BUILD="${builds[$i]}" SRC="${src:-$MB_SRC}" BIN="$D/bench_rewrite.$i" >&2 ||
		exit 1
done

# count BINARY METHOD KB FORM ITERS: instructions per run of METHOD.
count() {
	local out=$D/cg.out form_opt=()
	[ "$4" = qp ] && form_opt=(--qp-only)
	valgrind -q --tool=callgrind --callgrind-out-file="$out" \
		--toggle-collect="m_${2//-/_}" \
		"$1" --sizes "$3" "${form_opt[@]}" --only "$2" --iters "$5" >/dev/null || return 1
	local total
	total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p; s/^summary: *\([0-9]*\).*/\1/p' "$out" | tail -1)
	echo $((total / $5))
}

echo "# instructions per run (callgrind; exact counts, but for the random message id"
echo "# of each run); ratio = sax-noop / rewrite, target >= 0.8"
printf '%-6s %-5s %-42s %14s %14s %7s\n' size form build sax-noop rewrite ratio
IFS=, read -r -a kbs <<<"$sizes"
for kb in "${kbs[@]}"; do
	iters=$((kb >= 512 ? 2 : kb >= 50 ? 5 : 20))
	for form in "${forms[@]}"; do
		for i in "${!builds[@]}"; do
			b=$D/bench_rewrite.$i
			noop=$(count "$b" sax-noop "$kb" "$form" "$iters") || exit 1
			rw=$(count "$b" rewrite "$kb" "$form" "$iters") || exit 1
			printf '%-6s %-5s %-42s %14d %14d %7s\n' "${kb}K" "$form" "${builds[$i]}" \
				"$noop" "$rw" "$(python3 -c "print('%.2f' % ($noop / $rw))")"
			if [ $profile = 1 ]; then
				valgrind -q --tool=callgrind --callgrind-out-file="$D/prof.out" \
					--toggle-collect=m_rewrite "$b" --sizes "$kb" \
					$([ "$form" = qp ] && echo --qp-only) --only rewrite --iters "$iters" >/dev/null
				callgrind_annotate --inclusive=yes "$D/prof.out" 2>/dev/null |
					sed -n '/^-* *$/d; /Ir/,$p' | head -40
			fi
		done
	done
done
