# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
#
# Shared by the bench scripts (compare.sh, rbd.sh): ports, process control, a tgtd tuned
# as a production setup, the libiscsi load clients and the median. Source it after setting
# ROOT (the repository) and WORK (a scratch directory). Loopback only; everything started
# is stopped by PID.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# free_port: a 127.0.0.1 port nobody listens on, below the kernel's ephemeral range
# (32768-60999 by default), where a client's own socket could hold it (bench/sessions.sh
# alone opens 1000 client sockets).
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		port_listening "$p" || {
			echo "$p"
			return 0
		}
	done
	die "no free port"
}

# wait_listen PORT PID: until PORT listens; fails if PID died.
wait_listen() {
	for _ in $(seq 200); do
		port_listening "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# stop_pid PID: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
	local pid=$1
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# tgtd_start IQN: tgtd with one target, tuned: glibc mmap threshold fixed at 32 MiB,
# MaxRecv/MaxXmitDataSegmentLength 256 KiB, FirstBurstLength 256 KiB, MaxBurstLength
# 1 MiB, MaxOutstandingR2T 16. Sets TGTD_PID, TGTD_PORT, TGTD_CTL and TGTADM (tgtadm for
# the target; add LUNs with "${TGTADM[@]}" --op new --mode logicalunit --tid 1 ..., then
# tgtd_bind). Extra environment for tgtd in TGTD_ENV (an array).
tgtd_start() {
	local kv
	command -v tgtd >/dev/null || die "tgtd not installed (apt-get install tgt)"
	TGTD_PORT=$(free_port)
	# the control instance number names tgtd's management socket; tgtd wants it small
	TGTD_CTL=$((1000 + RANDOM % 20000))
	while [[ -e /var/run/tgtd/socket.$TGTD_CTL ]]; do TGTD_CTL=$((TGTD_CTL + 1)); done
	env GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432 "${TGTD_ENV[@]}" \
		tgtd -f -C "$TGTD_CTL" --iscsi "portal=127.0.0.1:$TGTD_PORT" \
		>"$WORK/tgtd.log" 2>&1 </dev/null &
	TGTD_PID=$!
	wait_listen "$TGTD_PORT" "$TGTD_PID" || {
		tail "$WORK/tgtd.log"
		die "tgtd did not start"
	}
	for _ in $(seq 50); do
		[[ -S /var/run/tgtd/socket.$TGTD_CTL ]] && break
		sleep 0.1
	done
	TGTADM=(tgtadm -C "$TGTD_CTL" --lld iscsi)
	"${TGTADM[@]}" --op new --mode target --tid 1 -T "$1" || die "tgtadm: new target"
	for kv in MaxRecvDataSegmentLength=262144 MaxXmitDataSegmentLength=262144 \
		FirstBurstLength=262144 MaxBurstLength=1048576 MaxOutstandingR2T=16; do
		"${TGTADM[@]}" --op update --mode target --tid 1 --name "${kv%%=*}" --value "${kv#*=}" ||
			log "WARN: tgtd: cannot set $kv"
	done
}

tgtd_bind() {
	"${TGTADM[@]}" --op bind --mode target --tid 1 -I ALL || die "tgtadm: bind"
	log "tgtd pid $TGTD_PID on 127.0.0.1:$TGTD_PORT"
}

# tgtd_stop: tgtd ignores SIGTERM while it has targets: take it offline and delete them.
tgtd_stop() {
	[[ -n ${TGTD_PID:-} ]] || return 0
	local T=(tgtadm -C "$TGTD_CTL")
	"${T[@]}" --op update --mode sys --name State -v offline >/dev/null 2>&1
	"${T[@]}" --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1
	"${T[@]}" --op delete --mode system >/dev/null 2>&1
	for _ in $(seq 30); do
		kill -0 "$TGTD_PID" 2>/dev/null || break
		sleep 0.1
	done
	stop_pid "$TGTD_PID"
	TGTD_PID=
}

# build_rwbench: compile bench/iscsi_rwbench.c (libiscsi) next to the build tree.
build_rwbench() {
	RWBENCH=$ROOT/build/bench/iscsi_rwbench
	mkdir -p "$(dirname "$RWBENCH")"
	if [[ ! -x $RWBENCH || $ROOT/bench/iscsi_rwbench.c -nt $RWBENCH ]]; then
		cc -std=gnu11 -O2 -Wall -Wextra -Wno-unused-parameter -o "$RWBENCH" \
			"$ROOT/bench/iscsi_rwbench.c" -liscsi || die "cannot build iscsi_rwbench (libiscsi-dev missing?)"
	fi
}

# measure WORKLOAD URL: print the IOPS of one SECS-long run through libiscsi's clients.
measure() {
	local out
	case $1 in
	randread4k_qd32)
		out=$(timeout $((SECS + 30)) iscsi-perf -t "$SECS" -m 32 -b 8 -r "$2" 2>&1 | tr '\r' '\n')
		sed -n 's/^iops average \([0-9]*\).*/\1/p' <<<"$out" | tail -n 1
		;;
	seqread1m_qd8)
		out=$(timeout $((SECS + 30)) iscsi-perf -t "$SECS" -m 8 -b 2048 "$2" 2>&1 | tr '\r' '\n')
		sed -n 's/^iops average \([0-9]*\).*/\1/p' <<<"$out" | tail -n 1
		;;
	randwrite4k_qd32)
		out=$(timeout $((SECS + 30)) "$RWBENCH" -w -r -b 4096 -q 32 -t "$SECS" "$2" 2>&1)
		sed -n 's/.* iops \([0-9]*\) .*/\1/p' <<<"$out" | tail -n 1
		;;
	seqwrite1m_qd8)
		out=$(timeout $((SECS + 30)) "$RWBENCH" -w -b 1048576 -q 8 -t "$SECS" "$2" 2>&1)
		sed -n 's/.* iops \([0-9]*\) .*/\1/p' <<<"$out" | tail -n 1
		;;
	esac
}

# bytes_of WORKLOAD: its request size.
bytes_of() {
	case $1 in
	*4k*) echo 4096 ;;
	*1m*) echo 1048576 ;;
	esac
}

median() { sort -g | awk '{a[NR] = $1} END {print NR ? (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) : 0}'; }
