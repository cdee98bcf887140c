#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Build and run the libFuzzer harnesses of tests/fuzz.
#   fuzz.sh build DIR            configure DIR as a fuzz build (clang, ASan+UBSan) and build it
#   fuzz.sh list DIR             the harnesses DIR has
#   fuzz.sh run DIR SECONDS [RUNS]
#                                run each harness in turn for SECONDS (or RUNS executions,
#                                whichever ends first; 0 = no bound) from its seed corpus,
#                                then print executions and crashes per harness
#   fuzz.sh check DIR NAME SECONDS
#                                replay NAME's seed corpus, then fuzz it SECONDS; one line
#                                of result, exit status 0 when nothing crashed
# FUZZ_HARNESSES="fuzz_keys fuzz_scsi" limits list and run to those.
# Harnesses run one at a time (the machine may be shared). New inputs go to
# DIR/fuzz/corpus/NAME, never into the tree; crashes to DIR/fuzz/artifacts/NAME.
# A crash is fixed with its input kept as tests/fuzz/corpus/NAME/regress-<what>.
set -uo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
SEEDS=$ROOT/tests/fuzz/corpus

# The longest input a mutation makes: room for a few PDUs, records or CDBs
# with their data. Longer seeds (limits of 8 KiB, 64 KiB) are still replayed
# whole; mutations of them are cut to this.
max_len() {
	case $1 in
	fuzz_tcp_rx | fuzz_login) echo 2048 ;;
	*) echo 1024 ;;
	esac
}

# A smaller quarantine keeps the harnesses that allocate LUs per input fast;
# use-after-free is still caught for the recent frees that matter here.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=32:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

cmd_build() {
	local dir=$1
	if [[ ! -f $dir/build.ninja ]]; then
		CC=${FUZZ_CC:-clang} meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined \
			-Db_lundef=false || return 1
	fi
	ninja -C "$dir"
}

# The harnesses DIR has, or those of them named in $FUZZ_HARNESSES.
cmd_list() {
	local dir=$1 f name
	for f in "$dir"/tests/fuzz/fuzz_*; do
		[[ -x $f && -f $f ]] || continue
		name=$(basename "$f")
		[[ -z ${FUZZ_HARNESSES:-} || " $FUZZ_HARNESSES " == *" $name "* ]] && echo "$name"
	done
}

# fuzz_one DIR NAME SECONDS RUNS LOG: fuzz from the seeds and the work corpus.
fuzz_one() {
	local dir=$1 name=$2 secs=$3 runs=$4 log=$5
	local work=$dir/fuzz/corpus/$name art=$dir/fuzz/artifacts/$name
	mkdir -p "$work" "$art"
	(cd "$art" && "$dir/tests/fuzz/$name" -max_total_time="$secs" -runs="${runs:--1}" \
		-max_len="$(max_len "$name")" -timeout=20 -print_final_stats=1 -close_fd_mask=2 \
		-artifact_prefix="$art/" "$work" "$SEEDS/$name") >"$log" 2>&1
}

executions() {
	sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -n 1
}

# How many crash, leak, timeout and out-of-memory inputs NAME has kept.
artifacts() {
	find "$1/fuzz/artifacts/$2" -maxdepth 1 -type f 2>/dev/null | wc -l
}

cmd_run() {
	local dir=$1 secs=$2 runs=${3:-0} name log rc execs crashes total=0 failed=0
	local logs=$dir/fuzz/logs
	mkdir -p "$logs"
	[[ $runs == 0 ]] && runs=-1
	printf '%-14s %14s %8s %9s  %s\n' harness executions crashes seconds log
	for name in $(cmd_list "$dir"); do
		log=$logs/$name.log
		local start=$SECONDS before
		before=$(artifacts "$dir" "$name")
		fuzz_one "$dir" "$name" "$secs" "$runs" "$log"
		rc=$?
		execs=$(executions "$log")
		crashes=$(($(artifacts "$dir" "$name") - before))
		((rc != 0 && crashes == 0)) && crashes=1
		((crashes > 0)) && failed=1
		total=$((total + ${execs:-0}))
		printf '%-14s %14s %8s %9s  %s\n' "$name" "${execs:-?}" "$crashes" \
			$((SECONDS - start)) "$log"
	done
	printf '%-14s %14s\n' total "$total"
	return $failed
}

cmd_check() {
	local dir=$1 name=$2 secs=$3 bin log execs
	bin=$dir/tests/fuzz/$name
	log=$dir/fuzz/logs/check-$name.log
	mkdir -p "$dir/fuzz/logs"
	[[ -x $bin ]] || { echo "$name: not built"; return 1; }
	# every seed and regression input once
	if ! "$bin" -runs=0 -timeout=20 "$SEEDS/$name" >"$log" 2>&1; then
		echo "$name: the seed corpus crashes, see $log"
		return 1
	fi
	# then a short run on a scratch copy of the corpus
	local work
	work=$(mktemp -d)
	(cd "$work" && "$bin" -max_total_time="$secs" -max_len="$(max_len "$name")" -timeout=20 \
		-print_final_stats=1 -close_fd_mask=2 -artifact_prefix="$work/" "$work" \
		"$SEEDS/$name") >>"$log" 2>&1
	local rc=$?
	execs=$(executions "$log")
	if ((rc != 0)); then
		mkdir -p "$dir/fuzz/artifacts/$name"
		cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* \
			"$dir/fuzz/artifacts/$name/" 2>/dev/null
		rm -rf "$work"
		echo "$name: crashed after ${execs:-?} executions, see $log"
		return 1
	fi
	rm -rf "$work"
	echo "$name: corpus replayed, ${execs:-?} executions in ${secs}s, no crash"
}

# DIR as an absolute path (the harnesses run from their artifact directory)
abs_dir() {
	mkdir -p "$1" && (cd "$1" && pwd)
}

case ${1:-} in
build) cmd_build "$2" ;;
list) cmd_list "$(abs_dir "$2")" ;;
run) cmd_run "$(abs_dir "$2")" "$3" "${4:-0}" ;;
check) cmd_check "$(abs_dir "$2")" "$3" "$4" ;;
*)
	sed -n '4,16p' "$0" >&2
	exit 2
	;;
esac
