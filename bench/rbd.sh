#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The rbd store against its ceiling and against tgt-rbd, on one Ceph cluster and image.
#
#   bench/rbd.sh [-t SECS] [-r ROUNDS] [-s SIZE] [--idmd PATH] [-w W1,W2] [--no-tgtd]
#                [--perf FILE]
#
# Starts a single-node cluster (tests/ceph/ceph-cluster.sh), fills one image of SIZE
# (default 1G) so that reads reach the OSD, then serves it with idmd (rbd store) and with
# tgtd (tgt-rbd's bs_rbd, tuned as bench/compare.sh tunes tgtd), and per round runs,
# interleaved on every workload:
#   fio-rbd  fio's rbd engine straight on the image: the ceiling for any gateway
#   idm      idmd's rbd LUN through libiscsi's clients
#   tgtd     tgtd's rbd LUN through the same clients
# for randread4k_qd32 (iscsi-perf -r), randwrite4k_qd32 (iscsi_rwbench -w -r),
# seqread1m_qd8 (iscsi-perf) and seqwrite1m_qd8 (iscsi_rwbench -w); prints the median
# IOPS and MiB/s of each and the ratios idm/fio-rbd and idm/tgtd, then where the CPU went
# (user+system seconds of each process over the whole run) and the spread: the lowest and
# highest idm/fio-rbd ratio of one round. -w runs only the workloads named, --no-tgtd leaves
# tgtd out, --perf FILE records idmd's call graphs (perf record -g) during its runs of the first
# workload. Not part of `make test`.
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.." || exit 1
ROOT=$PWD

IDMD=${IDMD:-$ROOT/build/idmd}
SECS=8 ROUNDS=2 SIZE=1G
WORKLOADS=(randread4k_qd32 randwrite4k_qd32 seqread1m_qd8 seqwrite1m_qd8)
NO_TGTD=0 PERF_OUT=''
while (($#)); do
	case $1 in
	-t) SECS=$2; shift ;;
	-r) ROUNDS=$2; shift ;;
	-s) SIZE=$2; shift ;;
	--idmd) IDMD=$2; shift ;;
	-w) IFS=, read -r -a WORKLOADS <<<"$2"; shift ;;
	--no-tgtd) NO_TGTD=1 ;;
	--perf) PERF_OUT=$2; shift ;;
	-h | --help) sed -n '3,25p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/idm-rbd-bench.XXXXXX")
RESULTS=$WORK/results.tsv
CLUSTER=$WORK/ceph
IDM_IQN=iqn.2026-11.org.idm:rbd-bench
TGT_IQN=iqn.2026-11.org.idm:rbd-bench-tgtd
IDMD_PID='' TGTD_PID=''
TGTD_ENV=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

cleanup() {
	stop_pid "$IDMD_PID"
	tgtd_stop
	[[ -d $CLUSTER ]] && bash "$ROOT/tests/ceph/ceph-cluster.sh" stop "$CLUSTER"
	rm -rf "$WORK"
}
trap cleanup EXIT

# cpu_seconds PID: user+system CPU seconds the process has used so far.
cpu_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# fio_rbd WORKLOAD: IOPS of fio's rbd engine on the image, and its CPU microseconds per I/O
# (fio and librbd's threads in it).
fio_rbd() {
	local rw bs qd
	case $1 in
	randread4k_qd32) rw=randread bs=4k qd=32 ;;
	randwrite4k_qd32) rw=randwrite bs=4k qd=32 ;;
	seqread1m_qd8) rw=read bs=1m qd=8 ;;
	seqwrite1m_qd8) rw=write bs=1m qd=8 ;;
	esac
	# fio's own usr/sys figures count its job thread only: bash's `time` counts every
	# thread of the process, librbd's too.
	local TIMEFORMAT='%U %S'
	{ time CEPH_CONF=$CEPH_CONF timeout $((SECS + 60)) fio --name=rbd --ioengine=rbd \
		--clientname=idm --pool="$CEPH_POOL" --rbdname=bench --rw=$rw --bs=$bs --iodepth=$qd \
		--time_based --runtime="$SECS" --direct=1 --output-format=json \
		>"$WORK/fio.json" 2>/dev/null; } 2>"$WORK/fio.time"
	python3 - "$WORK/fio.json" "$WORK/fio.time" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
ios = j["read"]["total_ios"] + j["write"]["total_ios"]
cpu = sum(float(x) for x in open(sys.argv[2]).read().split()[-2:])
print(int(j["read"]["iops"] + j["write"]["iops"]), "%.0f" % (cpu * 1e6 / ios if ios else 0))
PY
}

command -v fio >/dev/null || die "fio missing (scripts/deps.sh)"
command -v iscsi-perf >/dev/null || die "iscsi-perf missing (apt-get install libiscsi-bin)"
[[ -e /usr/lib/tgt/backing-store/bs_rbd.so ]] || die "tgt-rbd missing (scripts/deps.sh)"
[[ -x $IDMD ]] || die "$IDMD not found (build idmd first: make)"
grep -q rbd_aio_read "$IDMD" || die "$IDMD was built without librbd"
build_rwbench

log "starting the Ceph cluster"
bash "$ROOT/tests/ceph/ceph-cluster.sh" start "$CLUSTER" >"$WORK/ceph-start.log" 2>&1 ||
	{ cat "$WORK/ceph-start.log"; die "the cluster did not start"; }
# shellcheck disable=SC1091 # written by ceph-cluster.sh
. "$CLUSTER/env"
RBD=(timeout 120 rbd --conf "$CEPH_CONF" --id "$CEPH_CLIENT_ID")
"${RBD[@]}" create "$CEPH_POOL/bench" --size "$SIZE" || die "rbd create"
log "filling the image"
CEPH_CONF=$CEPH_CONF timeout 600 fio --name=fill --ioengine=rbd --clientname=idm --pool="$CEPH_POOL" \
	--rbdname=bench --rw=write --bs=4m --iodepth=8 --direct=1 >/dev/null 2>&1 || die "fio fill"

port=$(free_port)
cat >"$WORK/idmd.json" <<JSON
{ "portals": [ { "addr": "127.0.0.1", "port": $port } ],
  "targets": [ { "iqn": "$IDM_IQN", "luns": [ { "lun": 0, "spec": "rbd:$CEPH_POOL/bench",
    "ceph_conf": "$CEPH_CONF", "ceph_id": "idm" } ] } ] }
JSON
# A control socket of its own: the default one may be held by another idmd.
"$IDMD" --config "$WORK/idmd.json" --control-socket "$WORK/idmd.sock" >"$WORK/idmd.log" 2>&1 </dev/null &
IDMD_PID=$!
wait_listen "$port" "$IDMD_PID" || { tail "$WORK/idmd.log"; die "idmd did not start"; }
log "idmd pid $IDMD_PID on 127.0.0.1:$port"

declare -A URL=([idm]=iscsi://127.0.0.1:$port/$IDM_IQN/0)
if ((!NO_TGTD)); then
	tgtd_start "$TGT_IQN"
	"${TGTADM[@]}" --op new --mode logicalunit --tid 1 --lun 1 --bstype rbd \
		--backing-store "$CEPH_POOL/bench" --bsopts "conf=$CEPH_CONF;id=idm" || die "tgtadm: rbd LUN"
	tgtd_bind
	URL[tgtd]=iscsi://127.0.0.1:$TGTD_PORT/$TGT_IQN/1
fi
OSD_PID=$(cat "$CLUSTER/run/osd.0.pid")
declare -A CPU0=([idmd]=$(cpu_seconds "$IDMD_PID") [tgtd]=$(cpu_seconds "$TGTD_PID") [osd]=$(cpu_seconds "$OSD_PID"))
START=$(date +%s)

for ((r = 1; r <= ROUNDS; r++)); do
	for w in "${WORKLOADS[@]}"; do
		order=(fio-rbd idm tgtd)
		((r % 2 == 0)) && order=(tgtd idm fio-rbd)
		for tgt in "${order[@]}"; do
			[[ $tgt == tgtd ]] && ((NO_TGTD)) && continue
			perf_pid=''
			if [[ -n $PERF_OUT && $tgt == idm && $w == "${WORKLOADS[0]}" ]]; then
				perf record -g -p "$IDMD_PID" -o "$PERF_OUT.$r" -- sleep "$SECS" >/dev/null 2>&1 &
				perf_pid=$!
			fi
			cpu0=$(cpu_seconds "$IDMD_PID")
			if [[ $tgt == fio-rbd ]]; then
				read -r iops us <<<"$(fio_rbd "$w")"
			else
				iops=$(measure "$w" "${URL[$tgt]}")
				# idmd's CPU over the run, per I/O (tgtd: not measured here).
				us=$(awk -v a="$(cpu_seconds "$IDMD_PID")" -v b="$cpu0" -v n="${iops:-0}" -v s="$SECS" \
					'BEGIN { printf "%.0f", (n > 0) ? (a - b) * 1e6 / (n * s) : 0 }')
				[[ $tgt == tgtd ]] && us=0
			fi
			[[ -n $perf_pid ]] && wait "$perf_pid"
			log "round $r $w $tgt: ${iops:-failed} IOPS${us:+, ${us} CPU us/IO}"
			printf '%s\t%s\t%s\t%s\n' "$w" "$tgt" "${iops:-0}" "${us:-0}" >>"$RESULTS"
		done
	done
done

printf '\n%-18s %10s %9s %10s %9s %10s %9s %9s %9s  %s\n' workload fio-rbd MiB/s idm MiB/s tgtd \
	MiB/s idm/fio idm/tgtd 'idm/fio per round'
for w in "${WORKLOADS[@]}"; do
	f=$(awk -F'\t' -v w="$w" '$1 == w && $2 == "fio-rbd" {print $3}' "$RESULTS" | median)
	a=$(awk -F'\t' -v w="$w" '$1 == w && $2 == "idm" {print $3}' "$RESULTS" | median)
	b=$(awk -F'\t' -v w="$w" '$1 == w && $2 == "tgtd" {print $3}' "$RESULTS" | median)
	# The spread: idm/fio-rbd of each round (rows in order: one of each per round).
	spread=$(awk -F'\t' -v w="$w" '$1 == w && $2 == "fio-rbd" {f[n1++] = $3}
		$1 == w && $2 == "idm" {a[n2++] = $3}
		END { lo = 1e9; hi = 0; for (i = 0; i < n1 && i < n2; i++) if (f[i] > 0) {
			q = a[i] / f[i]; if (q < lo) lo = q; if (q > hi) hi = q }
		if (hi > 0) printf "%.2f-%.2f", lo, hi; else printf "n/a" }' "$RESULTS")
	awk -v w="$w" -v f="$f" -v a="$a" -v b="${b:-0}" -v sp="$spread" -v sz="$(bytes_of "$w")" 'BEGIN {
		m = sz / 1048576
		printf "%-18s %10.0f %9.1f %10.0f %9.1f %10.0f %9.1f %9s %9s  %s\n", w, f, f * m, a, a * m,
			b, b * m, (f > 0) ? sprintf("%.2f", a / f) : "n/a", (b > 0) ? sprintf("%.2f", a / b) : "n/a", sp }'
done
printf '\nCPU microseconds per I/O (median): fio-rbd = fio with librbd in it; idmd = the gateway with\n'
printf 'librbd in it (the iSCSI client and the OSD not counted in either)\n'
for w in "${WORKLOADS[@]}"; do
	printf '%-18s fio-rbd %6s   idmd %6s\n' "$w" \
		"$(awk -F'\t' -v w="$w" '$1 == w && $2 == "fio-rbd" {print $4}' "$RESULTS" | median)" \
		"$(awk -F'\t' -v w="$w" '$1 == w && $2 == "idm" {print $4}' "$RESULTS" | median)"
done
secs=$(($(date +%s) - START))
printf '\nCPU seconds over the %d s of runs: idmd %.1f, tgtd %.1f, ceph-osd %.1f\n' "$secs" \
	"$(awk -v a="$(cpu_seconds "$IDMD_PID")" -v b="${CPU0[idmd]}" 'BEGIN {print a - b}')" \
	"$(awk -v a="$(cpu_seconds "${TGTD_PID:-0}")" -v b="${CPU0[tgtd]}" 'BEGIN {print a - b}')" \
	"$(awk -v a="$(cpu_seconds "$OSD_PID")" -v b="${CPU0[osd]}" 'BEGIN {print a - b}')"
echo "(median of $ROUNDS interleaved rounds of ${SECS}s; image $SIZE, prefilled; reads: iscsi-perf, writes: iscsi_rwbench)"
