#!/bin/bash
# bench/run.sh: runs the benchmarks by hand (not part of "make check").
#
#   bench/run.sh [--quick] [rewrite] [rewrite-instr] [mailpath] [beacon] [report] [memory]
#
# No name: all of them, one after the other. rewrite-instr is benchmark 1
# counted in instructions (callgrind), which a busy machine does not skew. --quick: small sizes and short
# runs (checks that every benchmark works; the figures mean little).
# Needs an optimised build in ../build-bench (or MB_BUILD=DIR):
#   mkdir build-bench && cd build-bench && ../configure CFLAGS='-O2 -g' && make -j2
# and, for mailpath/memory, root, postfix (smtp-source, smtp-sink); for
# mailpath, opendkim and opendkim-tools; for beacon, wrk and nginx (Debian
# packages). Each benchmark prints the machine (nproc, CPU model, load),
# its exact parameters, per-run figures and a summary with ratios against a
# baseline measured in the same run; each stops by itself, uses loopback
# only, and stops what it started and removes its temporary files.
# Output is also written to bench/results/<name>-<date>.txt (not with --quick).
. "$(dirname "$0")/lib.sh"
quick=0
names=()
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	rewrite | rewrite-instr | mailpath | beacon | report | memory) names+=("$a") ;;
	*) echo "usage: $0 [--quick] [rewrite|rewrite-instr|mailpath|beacon|report|memory]..." >&2; exit 1 ;;
	esac
done
[ ${#names[@]} -gt 0 ] || names=(rewrite rewrite-instr mailpath beacon report memory)
mkdir -p "$BENCH_DIR/results"
rc=0
for n in "${names[@]}"; do
	case $n in
	rewrite)
		make -s -C "$BENCH_DIR" BUILD="$MB_BUILD" bench_rewrite || exit 1
		if [ $quick = 1 ]; then
			cmd=("$BENCH_DIR/bench_rewrite" --rounds 3 --sample-ms 30 --qp)
		else
			cmd=("$BENCH_DIR/bench_rewrite" --rounds 9 --sample-ms 300 --qp)
		fi ;;
	rewrite-instr)
		if [ $quick = 1 ]; then
			cmd=("$BENCH_DIR/bench_rewrite_instr.sh" --sizes 5 --qp)
		else
			cmd=("$BENCH_DIR/bench_rewrite_instr.sh" --qp)
		fi ;;
	mailpath)
		if [ $quick = 1 ]; then
			cmd=("$BENCH_DIR/bench_mailpath.sh" --msgs 50 --big-msgs 20 --rounds 1)
		else
			cmd=("$BENCH_DIR/bench_mailpath.sh" --msgs 1000 --big-msgs 300 --rounds 3)
		fi ;;
	beacon)
		if [ $quick = 1 ]; then
			cmd=(python3 "$BENCH_DIR/bench_beacon.py" --duration 2 --rounds 1)
		else
			cmd=(python3 "$BENCH_DIR/bench_beacon.py" --duration 10 --rounds 3)
		fi ;;
	report)
		if [ $quick = 1 ]; then
			cmd=("$BENCH_DIR/bench_report.sh" --messages 20000 --events 100000 --senders 200 --runs 1)
		else
			cmd=("$BENCH_DIR/bench_report.sh" --messages 1000000 --events 5000000 --runs 3)
		fi ;;
	memory)
		if [ $quick = 1 ]; then
			cmd=("$BENCH_DIR/bench_memory.sh" --concurrent 5 --size-kb 1000 --sequential 2)
		else
			cmd=("$BENCH_DIR/bench_memory.sh" --concurrent 50 --size-kb 9766 --sequential 3)
		fi ;;
	esac
	out=$BENCH_DIR/results/$n-$(date +%Y%m%d-%H%M%S).txt
	[ $quick = 1 ] && out=/dev/null	# quick runs are checks, not figures
	echo "### $n: ${cmd[*]}" | tee "$out"
	bench_machine | tee -a "$out"
	"${cmd[@]}" 2>&1 | tee -a "$out"
	r=${PIPESTATUS[0]}
	[ "$r" -ne 0 ] && { echo "### $n: exit $r" | tee -a "$out"; rc=1; }
done
exit $rc
