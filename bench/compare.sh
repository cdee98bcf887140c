#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# idm against tgtd (and against an older idmd build) on loopback, interleaved, same LUN
# kinds, same clients, with each target's CPU time per I/O.
#
#   bench/compare.sh [-t SECS] [-r ROUNDS] [-s SIZE] [--idmd PATH] [--base-idmd PATH]
#                    [--luns "null file mem"] [--workloads "..."] [--no-tgtd]
#
# Starts idmd (LUN 0 = null, LUN 1 = file on /dev/shm, LUN 2 = mem), with --base-idmd a
# second idmd built from an older tree (same LUNs; "base" in the table), and tgtd (null
# backing store, rdwr file on /dev/shm; it has no mem store, tuned: glibc mmap threshold
# fixed at 32 MiB, MaxRecv/MaxXmitDataSegmentLength 256 KiB, FirstBurstLength 256 KiB,
# MaxBurstLength 1 MiB, MaxOutstandingR2T 16), each on its own free 127.0.0.1 port. Per
# round it rotates the order of the targets on every workload:
#   randread4k_qd32   libiscsi iscsi-perf -r, 4 KiB, 32 in flight
#   randwrite4k_qd32  bench/iscsi_rwbench -w -r (iscsi-perf cannot write), 4 KiB, QD 32
#   seqread1m_qd8     libiscsi iscsi-perf, 1 MiB sequential, 8 in flight
# and prints, per LUN kind and workload, the median IOPS, MiB/s and target CPU time per
# I/O (user + system ticks of the target process from /proc/PID/stat over the run, in
# microseconds) of each target, and the ratios idm/base and idm/tgtd.
# Not part of `make test`. Everything stays on loopback; every target is stopped by PID.
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.." || exit 1
ROOT=$PWD

IDMD=${IDMD:-$ROOT/build/idmd}
BASE_IDMD='' WORKLOADS_ARG='' SECS=5 ROUNDS=3 SIZE=1G LUNS='null file' USE_TGTD=1
while (($#)); do
	case $1 in
	-t) SECS=$2; shift ;;
	-r) ROUNDS=$2; shift ;;
	-s) SIZE=$2; shift ;;
	--idmd) IDMD=$2; shift ;;
	--base-idmd) BASE_IDMD=$2; shift ;;
	--luns) LUNS=$2; shift ;;
	--workloads) WORKLOADS_ARG=$2; shift ;;
	--no-tgtd) USE_TGTD=0 ;;
	-h | --help) sed -n '3,23p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/idm-bench.XXXXXX")
RESULTS=$WORK/results.tsv
IDM_IQN=iqn.2026-11.org.idm:bench
TGT_IQN=iqn.2026-11.org.idm:bench-tgtd
TGTD_PID='' TGTD_PORT='' TGTD_CTL=''
SHM_FILES=()
TGTD_ENV=()
declare -A URL PID
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# prefilled_file PATH: a SIZE file on tmpfs with every page allocated (no sparse reads).
prefilled_file() {
	local bytes
	bytes=$(numfmt --from=iec "$SIZE") || die "bad size $SIZE"
	dd if=/dev/zero of="$1" bs=1M count=$((bytes >> 20)) status=none || die "cannot write $1"
	SHM_FILES+=("$1")
}

# start_idmd NAME BINARY: one idmd with LUN 0 null, 1 file, 2 mem.
start_idmd() {
	local name=$1 bin=$2 port file=/dev/shm/idm-bench-$$-$1.img
	[[ -x $bin ]] || die "$bin not found (build idmd first: make)"
	port=$(free_port)
	prefilled_file "$file"
	"$bin" --portal "127.0.0.1:$port" --target "$IDM_IQN" --lun "null:$SIZE" \
		--lun "file:$file:$SIZE" --lun "mem:$SIZE" >"$WORK/$name.log" 2>&1 </dev/null &
	PID[$name]=$!
	wait_listen "$port" "${PID[$name]}" || { tail "$WORK/$name.log"; die "$name did not start"; }
	URL[$name.null]=iscsi://127.0.0.1:$port/$IDM_IQN/0
	URL[$name.file]=iscsi://127.0.0.1:$port/$IDM_IQN/1
	URL[$name.mem]=iscsi://127.0.0.1:$port/$IDM_IQN/2
	log "$name ($bin) pid ${PID[$name]} on 127.0.0.1:$port"
}

# start_tgtd: tgtd tuned (bench/lib.sh) with LUN 1 = rdwr file on /dev/shm, LUN 2 = null.
start_tgtd() {
	local file=/dev/shm/idm-bench-$$-tgtd.img
	prefilled_file "$file"
	tgtd_start "$TGT_IQN"
	"${TGTADM[@]}" --op new --mode logicalunit --tid 1 --lun 1 -b "$file" --bstype rdwr ||
		die "tgtadm: file LUN"
	"${TGTADM[@]}" --op new --mode logicalunit --tid 1 --lun 2 -b nullbs --bstype null ||
		die "tgtadm: null LUN"
	tgtd_bind
	PID[tgtd]=$TGTD_PID
	URL[tgtd.null]=iscsi://127.0.0.1:$TGTD_PORT/$TGT_IQN/2
	URL[tgtd.file]=iscsi://127.0.0.1:$TGTD_PORT/$TGT_IQN/1
}

cleanup() {
	local n
	for n in idm base; do stop_pid "${PID[$n]:-}"; done
	tgtd_stop
	rm -f "${SHM_FILES[@]}"
	rm -rf "$WORK"
}
trap cleanup EXIT

# cpu_ticks PID: user + system clock ticks of a process (fields 14 and 15 of its stat,
# counted after the parenthesised command name).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

command -v iscsi-perf >/dev/null || die "iscsi-perf missing (apt-get install libiscsi-bin)"
build_rwbench
TARGETS=(idm)
start_idmd idm "$IDMD"
[[ -n $BASE_IDMD ]] && { start_idmd base "$BASE_IDMD"; TARGETS+=(base); }
((USE_TGTD)) && { start_tgtd; TARGETS+=(tgtd); }
WORKLOADS=(randread4k_qd32 randwrite4k_qd32 seqread1m_qd8)
[[ -n $WORKLOADS_ARG ]] && read -ra WORKLOADS <<<"$WORKLOADS_ARG"
HZ=$(getconf CLK_TCK)

for ((r = 1; r <= ROUNDS; r++)); do
	for lun in $LUNS; do
		for w in "${WORKLOADS[@]}"; do
			n=${#TARGETS[@]}
			for ((i = 0; i < n; i++)); do
				tgt=${TARGETS[$(((i + r - 1) % n))]}
				[[ -n ${URL[$tgt.$lun]:-} ]] || continue
				t0=$(cpu_ticks "${PID[$tgt]}")
				iops=$(measure "$w" "${URL[$tgt.$lun]}")
				t1=$(cpu_ticks "${PID[$tgt]}")
				us=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v i="${iops:-0}" -v s="$SECS" \
					'BEGIN { printf "%.1f", (i > 0) ? d * 1e6 / hz / (i * s) : 0 }')
				log "round $r $lun $w $tgt: ${iops:-failed} IOPS, $us us CPU/IO"
				printf '%s\t%s\t%s\t%s\t%s\n' "$lun" "$w" "$tgt" "${iops:-0}" "$us" >>"$RESULTS"
			done
		done
	done
done

# col LUN WORKLOAD TARGET FIELD: the median of one column (4 IOPS, 5 CPU us/IO).
col() {
	awk -F'\t' -v l="$1" -v w="$2" -v t="$3" -v f="$4" '$1 == l && $2 == w && $3 == t {print $f}' \
		"$RESULTS" | median
}

printf '\n%-5s %-17s' LUN workload
for t in "${TARGETS[@]}"; do printf ' %9s %8s %7s' "${t}_IOPS" "MiB/s" "us/IO"; done
for t in "${TARGETS[@]:1}"; do printf ' %9s' "idm/$t"; done
printf '\n'
for lun in $LUNS; do
	for w in "${WORKLOADS[@]}"; do
		printf '%-5s %-17s' "$lun" "$w"
		for t in "${TARGETS[@]}"; do
			a=$(col "$lun" "$w" "$t" 4) c=$(col "$lun" "$w" "$t" 5)
			awk -v a="$a" -v c="$c" -v sz="$(bytes_of "$w")" 'BEGIN {
				if (a > 0) printf " %9.0f %8.1f %7.1f", a, a * sz / 1048576, c
				else printf " %9s %8s %7s", "-", "-", "-" }'
		done
		a=$(col "$lun" "$w" idm 4)
		for t in "${TARGETS[@]:1}"; do
			b=$(col "$lun" "$w" "$t" 4)
			awk -v a="$a" -v b="$b" 'BEGIN { printf " %9s", (b > 0) ? sprintf("%.2f", a / b) : "n/a" }'
		done
		printf '\n'
	done
done
echo "(median of $ROUNDS rotated rounds of ${SECS}s; reads: iscsi-perf, writes: iscsi_rwbench;"
echo " us/IO: the target's user+system CPU time over a run divided by the I/Os it served)"
