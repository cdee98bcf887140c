#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# idm vs tgtd on loopback, interleaved, same LUN kinds, same clients.
#
#   bench/compare.sh [-t SECS] [-r ROUNDS] [-s SIZE] [--idmd PATH]
#                    [--idm-null-url URL --idm-file-url URL]
#
# Starts idmd (LUN 0 = null, LUN 1 = file on /dev/shm) and tgtd (LUN 2 = null backing
# store, LUN 1 = rdwr file on /dev/shm, tuned: glibc mmap threshold fixed at 32 MiB,
# MaxRecv/MaxXmitDataSegmentLength 256 KiB, FirstBurstLength 256 KiB, MaxBurstLength 1 MiB,
# MaxOutstandingR2T 16), each on its own free 127.0.0.1 port. Per round it alternates the
# targets on every workload:
#   randread4k_qd32   libiscsi iscsi-perf -r, 4 KiB, 32 in flight
#   randwrite4k_qd32  bench/iscsi_rwbench -w -r (iscsi-perf cannot write), 4 KiB, QD 32
#   seqread1m_qd8     libiscsi iscsi-perf, 1 MiB sequential, 8 in flight
# on the null LUN and on the file LUN, and prints the median IOPS and MiB/s of each target
# and the idm/tgtd ratio. With --idm-*-url it measures an idmd already running instead.
# Not part of `make test`. Everything stays on loopback; both targets are stopped by PID.
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.." || exit 1
ROOT=$PWD

IDMD=${IDMD:-$ROOT/build/idmd}
SECS=5 ROUNDS=3 SIZE=1G IDM_NULL_URL='' IDM_FILE_URL=''
while (($#)); do
	case $1 in
	-t) SECS=$2; shift ;;
	-r) ROUNDS=$2; shift ;;
	-s) SIZE=$2; shift ;;
	--idmd) IDMD=$2; shift ;;
	--idm-null-url) IDM_NULL_URL=$2; shift ;;
	--idm-file-url) IDM_FILE_URL=$2; shift ;;
	-h | --help) sed -n '3,20p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/idm-bench.XXXXXX")
RESULTS=$WORK/results.tsv
IDM_IQN=iqn.2026-11.org.idm:bench
TGT_IQN=iqn.2026-11.org.idm:bench-tgtd
IDMD_PID='' TGTD_PID='' TGTD_PORT='' TGTD_CTL=''
SHM_FILES=()
TGTD_ENV=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# prefilled_file PATH: a SIZE file on tmpfs with every page allocated (no sparse reads).
prefilled_file() {
	local bytes
	bytes=$(numfmt --from=iec "$SIZE") || die "bad size $SIZE"
	dd if=/dev/zero of="$1" bs=1M count=$((bytes >> 20)) status=none || die "cannot write $1"
	SHM_FILES+=("$1")
}

start_idmd() {
	local port file=/dev/shm/idm-bench-$$-idm.img
	[[ -x $IDMD ]] || die "$IDMD not found (build idmd first: make)"
	port=$(free_port)
	prefilled_file "$file"
	"$IDMD" --portal "127.0.0.1:$port" --target "$IDM_IQN" --lun "null:$SIZE" \
		--lun "file:$file:$SIZE" >"$WORK/idmd.log" 2>&1 </dev/null &
	IDMD_PID=$!
	wait_listen "$port" "$IDMD_PID" || { tail "$WORK/idmd.log"; die "idmd did not start"; }
	IDM_NULL_URL=iscsi://127.0.0.1:$port/$IDM_IQN/0
	IDM_FILE_URL=iscsi://127.0.0.1:$port/$IDM_IQN/1
	log "idmd pid $IDMD_PID on 127.0.0.1:$port"
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
}

cleanup() {
	stop_pid "$IDMD_PID"
	tgtd_stop
	rm -f "${SHM_FILES[@]}"
	rm -rf "$WORK"
}
trap cleanup EXIT

command -v iscsi-perf >/dev/null || die "iscsi-perf missing (apt-get install libiscsi-bin)"
build_rwbench
[[ -n $IDM_NULL_URL && -n $IDM_FILE_URL ]] || start_idmd
start_tgtd
declare -A URL=([idm.null]=$IDM_NULL_URL [idm.file]=$IDM_FILE_URL
	[tgtd.null]=iscsi://127.0.0.1:$TGTD_PORT/$TGT_IQN/2
	[tgtd.file]=iscsi://127.0.0.1:$TGTD_PORT/$TGT_IQN/1)
WORKLOADS=(randread4k_qd32 randwrite4k_qd32 seqread1m_qd8)

for ((r = 1; r <= ROUNDS; r++)); do
	for lun in null file; do
		for w in "${WORKLOADS[@]}"; do
			order=(idm tgtd)
			((r % 2 == 0)) && order=(tgtd idm)
			for tgt in "${order[@]}"; do
				iops=$(measure "$w" "${URL[$tgt.$lun]}")
				log "round $r $lun $w $tgt: ${iops:-failed} IOPS"
				printf '%s\t%s\t%s\t%s\n' "$lun" "$w" "$tgt" "${iops:-0}" >>"$RESULTS"
			done
		done
	done
done

printf '\n%-6s %-18s %12s %10s %12s %10s %8s\n' LUN workload idm_IOPS idm_MiB/s \
	tgtd_IOPS tgtd_MiB/s idm/tgtd
for lun in null file; do
	for w in "${WORKLOADS[@]}"; do
		a=$(awk -F'\t' -v l="$lun" -v w="$w" '$1 == l && $2 == w && $3 == "idm" {print $4}' "$RESULTS" | median)
		b=$(awk -F'\t' -v l="$lun" -v w="$w" '$1 == l && $2 == w && $3 == "tgtd" {print $4}' "$RESULTS" | median)
		awk -v l="$lun" -v w="$w" -v a="$a" -v b="$b" -v sz="$(bytes_of "$w")" 'BEGIN {
			printf "%-6s %-18s %12.0f %10.1f %12.0f %10.1f %8s\n", l, w, a, a * sz / 1048576,
				b, b * sz / 1048576, (b > 0) ? sprintf("%.2f", a / b) : "n/a" }'
	done
done
echo "(median of $ROUNDS interleaved rounds of ${SECS}s; reads: iscsi-perf, writes: iscsi_rwbench)"
