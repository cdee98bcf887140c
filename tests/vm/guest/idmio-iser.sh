#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs INSIDE the test VM (tests/vm/run-vm.sh, with build/idmio passed beside it): our
# initiator, idmio, over iSER on a Soft-RoCE device (rdma_rxe on a dummy interface):
#   tgtd_*   against tgtd's iSER target (Debian tgt): discovery, inquiry, readcap,
#            write/read/compare, bench;
#   idmd_*   against idmd's iSER transport: discovery, inquiry, readcap, write/read/compare, copy both
#            ways, bench randread and randwrite 4 KiB QD16 (figures and counters printed;
#            bytes_copied must be 0), and idmd's own counters as it logs them: 2 work
#            requests per 4 KiB command, 512 KiB copies registered, not copied; ABORT
#            TASK and LU RESET during 8 large WRITEs (`idmio abort`, copied and registered
#            buffers): idmd alive, the medium holds no part of an aborted WRITE after;
#   config_* idmd from a JSON config: iser_copy_threshold 1 (nothing copied at all) and
#            a target offered over TCP only (neither listed nor found over iSER);
#   auto_*   `--transport auto` falls back to TCP: against a loopback portal (no RDMA
#            route), and against a portal RDMA reaches where no iSER listener answers.
# Prints one "RESULT NAME: PASS|FAIL [why]" line per step; exits 0 only when all passed.
#
# The step functions run through step(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -uo pipefail

ADDR=198.18.0.1
TGT_PORT=3260  # tgtd's iSER portal (all addresses)
IDMD_PORT=3261
LOOP_PORT=3262
TCP_ONLY_PORT=3263
NOCOPY_PORT=3264  # idmd with iser_copy_threshold 1: every transfer registered
TGT_IQN=iqn.2026-11.org.idm:tgt-iser
IQN=iqn.2026-11.org.idm:vm-iser
INAME=iqn.2024-01.org.idm:idmio # idmio's default InitiatorName
OUT=${IDM_VM_OUT:-/tmp}
W=/tmp/idmio
BENCH_SECS=3
IDMD_PID=
LOOP_PID=
TCP_ONLY_PID=
CONFIG_PID=
TGTD_PID=

# shellcheck source=tests/vm/guest/lib.sh
. "$(dirname "$0")/lib.sh"

io() { timeout -k 5 120 idmio "$@"; }

setup_net() {
	modprobe dummy &&
		ip link add idm0 type dummy &&
		ip addr add "$ADDR/24" dev idm0 &&
		ip link set idm0 up
}

# setup_rdma: Soft-RoCE on the dummy interface (RDMA servers started before it serve TCP only).
setup_rdma() {
	modprobe -a rdma_rxe ib_uverbs rdma_ucm &&
		rdma link add rxe0 type rxe netdev idm0 && ibv_devices
}

# wait_port PORT PID: until something listens on TCP PORT (PID must stay alive).
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$2" 2>/dev/null || return 1
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.2
	done
	return 1
}

# ---- checks shared by both targets ----

# inquiry URL: a disk answers INQUIRY, and the session ran over iSER.
check_inquiry() {
	local out
	out=$(io inquiry "$1") || { echo "$out"; return 1; }
	echo "$out"
	grep -q "peripheral type: 0" <<<"$out" || return 1
	out=$(io login "$1") || { echo "$out"; return 1; }
	echo "$out"
	grep -q "transport: iser" <<<"$out"
}

# discover PORTAL-URL IQN: SendTargets over iSER lists the target.
check_discover() {
	local out
	out=$(io discover "$1") || { echo "$out"; return 1; }
	echo "$out"
	grep -q "^$2\$" <<<"$out"
}

# readcap URL BYTES
check_readcap() {
	local out
	out=$(io readcap "$1") || { echo "$out"; return 1; }
	echo "$out"
	grep -q "bytes: $2" <<<"$out"
}

# rw_compare URL LBA BYTES NAME: write random data, read it back, compare.
rw_compare() {
	local url=$1 lba=$2 bytes=$3 name=$4
	head -c "$bytes" /dev/urandom >"$W/$name.in" || return 1
	io write "$url" --lba "$lba" --count $((bytes / 512)) --in "$W/$name.in" || return 1
	io read "$url" --lba "$lba" --count $((bytes / 512)) --out "$W/$name.out" || return 1
	cmp "$W/$name.in" "$W/$name.out"
}

# copy_both URL BYTES: copy FILE URL, copy URL FILE, compare.
copy_both() {
	head -c "$2" /dev/urandom >"$W/copy.in" || return 1
	io copy "$W/copy.in" "$1" 2>/dev/null || return 1
	io copy "$1" "$W/copy.out" 2>/dev/null || return 1
	cmp -n "$2" "$W/copy.in" "$W/copy.out"
}

# bench URL RW NAME: a few seconds of 4 KiB QD16; print the figures; no data copied.
bench() {
	local out copied
	out=$(io bench "$1" --rw "$2" --bs 4k --qd 16 --time "$BENCH_SECS") || {
		echo "$out"
		return 1
	}
	while IFS= read -r line; do echo "BENCH $3 $2: $line"; done <<<"$out"
	grep -q "errors: 0" <<<"$out" || return 1
	copied=$(sed -n 's/.*bytes_copied \([0-9]*\).*/\1/p' <<<"$out")
	[[ $copied == 0 ]] || { echo "bytes_copied $copied, want 0"; return 1; }
}

# abort_writes URL PID BS: idmio's ABORT TASK, then LOGICAL UNIT RESET, each while 8 WRITEs
# of BS are in flight (the target's RDMA Reads outstanding): the medium holds no part of an
# aborted WRITE beside the old data and does not change after the TMF response; the idmd
# of PID stays up and still serves a verified write+read (issue 7).
abort_writes() {
	local url=$1 pid=$2 bs=$3 out rc
	out=$(io abort "$url" --lba 20000 --bs "$bs" --qd 8 2>&1)
	rc=$?
	echo "$out"
	((rc == 0)) || return 1
	kill -0 "$pid" || { echo "idmd died"; return 1; }
	rw_compare "$url" 30000 $((1 << 20)) "after-abort-$bs"
}

# ---- tgtd (tgt 1.0.85: ignores SIGTERM, crashes when an iSER target is deleted) ----

start_tgtd() {
	truncate -s 64M /tmp/tgt-lun1.img || return 1
	tgtd -f --iser pool_sz_mb=128 >"$OUT/tgtd.log" 2>&1 </dev/null &
	TGTD_PID=$!
	wait_port "$TGT_PORT" "$TGTD_PID" || return 1
	sleep 1
	tgtadm --lld iser --op new --mode target --tid 1 -T "$TGT_IQN" &&
		tgtadm --lld iser --op new --mode logicalunit --tid 1 --lun 1 -b /tmp/tgt-lun1.img &&
		tgtadm --lld iser --op bind --mode target --tid 1 -I ALL &&
		tgtadm --lld iser --op bind --mode target --tid 1 -Q "$INAME" # its iSER ACL bug
}

stop_tgtd() {
	[[ -n $TGTD_PID ]] || return 0
	kill -KILL "$TGTD_PID" 2>/dev/null
	wait "$TGTD_PID" 2>/dev/null
	TGTD_PID=
}

# ---- idmd ----
# Several idmd run at once here: each gets its own control socket (the default one,
# /run/idm/idmd.sock, can be held by one daemon only).

start_idmd() {
	idmd --portal "$ADDR:$IDMD_PORT" --target "$IQN" --lun "mem:64M" \
		--control-socket "$W/idmd.sock" >>"$OUT/idmd.log" 2>&1 \
		</dev/null &
	IDMD_PID=$!
	wait_port "$IDMD_PORT" "$IDMD_PID" || { cat "$OUT/idmd.log"; return 1; }
	grep -i "iser" "$OUT/idmd.log"
	return 0
}

# start_idmd_tcp_only: before the RDMA device exists, so this portal has no iSER listener.
start_idmd_tcp_only() {
	idmd --portal "$ADDR:$TCP_ONLY_PORT" --target "$IQN" --lun "mem:16M" \
		--control-socket "$W/idmd-tcp-only.sock" \
		>>"$OUT/idmd-tcp-only.log" 2>&1 </dev/null &
	TCP_ONLY_PID=$!
	wait_port "$TCP_ONLY_PORT" "$TCP_ONLY_PID" || { cat "$OUT/idmd-tcp-only.log"; return 1; }
	grep -i "iser" "$OUT/idmd-tcp-only.log"
	return 0
}

start_idmd_loopback() {
	idmd --portal "127.0.0.1:$LOOP_PORT" --target "$IQN" --lun "mem:16M" \
		--control-socket "$W/idmd-loopback.sock" \
		>>"$OUT/idmd-loopback.log" 2>&1 </dev/null &
	LOOP_PID=$!
	wait_port "$LOOP_PORT" "$LOOP_PID" || { cat "$OUT/idmd-loopback.log"; return 1; }
}

# idmd_counters: what idmd logged as each iSER connection closed. The bench
# connections took two send-queue work requests per 4 KiB command (RDMA Write or
# Read, then the response's Send); the copies (512 KiB commands, above the copy
# threshold) registered the initiator's buffers and copied nothing but the
# READ CAPACITY data.
idmd_counters() {
	local log=$OUT/idmd.log
	grep 'closed:' "$log" | sed 's/^/COUNTERS idmd: /'
	(($(grep -cE 'closed: [0-9]{4,} commands, .*work requests \(2\.00 per command\)' \
		"$log") >= 2)) || { echo "no bench connection at 2.00 work requests per command"; return 1; }
	grep -qE 'closed: 1[01] commands, copied (0|32) bytes, 1[01] registrations' "$log" ||
		{ echo "no copy connection registering its 512 KiB commands without a copy"; return 1; }
}

# offered_on_tcp_only HOST:PORT: the target "$IQN-tcp" ("transports": ["tcp"]) is
# listed and reached over TCP; over iSER it is neither listed nor found.
offered_on_tcp_only() {
	local out
	out=$(io --transport tcp discover "iscsi://$1") && grep -q "^$IQN-tcp\$" <<<"$out" ||
		{ echo "TCP discovery: $out"; return 1; }
	io --transport tcp inquiry "iscsi://$1/$IQN-tcp/0" >/dev/null || return 1
	out=$(io discover "iser://$1") && ! grep -q "^$IQN-tcp\$" <<<"$out" &&
		grep -q "^$IQN\$" <<<"$out" || { echo "iSER discovery: $out"; return 1; }
	if out=$(io inquiry "iser://$1/$IQN-tcp/0" 2>&1); then
		echo "logged in over iSER to a TCP-only target"
		return 1
	fi
	echo "$out"
	grep -qi "not found\|0x0203\|0203" <<<"$out"
}

# start_idmd_config: idmd from a config file: iser_copy_threshold 1 (every transfer
# registered, none copied), and a second target offered over TCP only.
start_idmd_config() {
	cat >"$W/config.json" <<EOF2
{ "portals": [ { "addr": "$ADDR", "port": $NOCOPY_PORT } ],
  "targets": [ { "iqn": "$IQN", "luns": [ { "spec": "mem:16M" } ] },
               { "iqn": "$IQN-tcp", "transports": [ "tcp" ], "luns": [ { "spec": "mem:1M" } ] } ],
  "tunables": { "iser_copy_threshold": 1 } }
EOF2
	idmd --config "$W/config.json" --control-socket "$W/idmd-config.sock" >>"$OUT/idmd-config.log" 2>&1 </dev/null &
	CONFIG_PID=$!
	wait_port "$NOCOPY_PORT" "$CONFIG_PID" || { cat "$OUT/idmd-config.log"; return 1; }
}

# nocopy_counters: with threshold 1 the 4 KiB bench registered the buffer of every
# command that moves data and copied nothing at all.
nocopy_counters() {
	grep 'closed:' "$OUT/idmd-config.log" | sed 's/^/COUNTERS idmd nocopy: /'
	grep -qE 'closed: [0-9]+ commands, copied 0 bytes, [0-9]{3,} registrations' \
		"$OUT/idmd-config.log"
}

# stop PID: SIGTERM, and idmd must exit 0.
stop_pid() {
	local i
	[[ -n $1 ]] || return 1
	kill -TERM "$1"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.2
	done
	kill -0 "$1" 2>/dev/null && { kill -KILL "$1"; wait "$1"; return 1; }
	wait "$1"
}

check_auto_fallback() {
	local url=iscsi://127.0.0.1:$LOOP_PORT/$IQN/0
	io --transport auto inquiry "$url" >"$W/auto.out" 2>"$W/auto.err"
	local rc=$?
	cat "$W/auto.out" "$W/auto.err"
	((rc == 0)) && grep -qi "falling back" "$W/auto.err" && grep -q "using tcp" "$W/auto.err"
}

# auto where RDMA reaches the address but no iSER listener answers: the RDMA connect is
# refused, and the login falls back to TCP.
check_auto_connect_fallback() {
	local url=iscsi://$ADDR:$TCP_ONLY_PORT/$IQN/0
	io --transport auto login "$url" >"$W/auto2.out" 2>"$W/auto2.err"
	local rc=$?
	cat "$W/auto2.out" "$W/auto2.err"
	((rc == 0)) && grep -q "using iser" "$W/auto2.err" && grep -qi "falling back" "$W/auto2.err" &&
		grep -q "using tcp" "$W/auto2.err" && grep -q "transport: tcp" "$W/auto2.out"
}

check_iser_refused_on_loopback() {
	local url=iscsi://127.0.0.1:$LOOP_PORT/$IQN/0
	if io --transport iser inquiry "$url" 2>"$W/noiser.err"; then
		echo "--transport iser worked on a loopback portal"
		return 1
	fi
	cat "$W/noiser.err"
	grep -qi "iser" "$W/noiser.err"
}

main() {
	mkdir -p "$W"
	ulimit -l unlimited # iSER registers memory
	step setup_net setup_net || {
		echo "RESULT all: FAIL (no network)"
		exit 1
	}
	step tcp_only_start start_idmd_tcp_only
	step setup_rdma setup_rdma || {
		echo "RESULT all: FAIL (no Soft-RoCE device)"
		exit 1
	}
	local turl=iser://$ADDR:$TGT_PORT/$TGT_IQN/1
	local url=iser://$ADDR:$IDMD_PORT/$IQN/0

	if step tgtd_start start_tgtd; then
		step tgtd_discover check_discover "iser://$ADDR:$TGT_PORT" "$TGT_IQN"
		step tgtd_inquiry check_inquiry "$turl"
		step tgtd_readcap check_readcap "$turl" $((64 << 20))
		step tgtd_rw_small rw_compare "$turl" 0 4096 tgt-small
		step tgtd_rw_large rw_compare "$turl" 100 $((3 << 20)) tgt-large
		step tgtd_bench_randread bench "$turl" randread tgtd
		step tgtd_bench_randwrite bench "$turl" randwrite tgtd
	fi
	stop_tgtd

	if step idmd_start start_idmd; then
		step idmd_discover check_discover "iser://$ADDR:$IDMD_PORT" "$IQN"
		step idmd_inquiry check_inquiry "$url"
		step idmd_readcap check_readcap "$url" $((64 << 20))
		step idmd_rw_small rw_compare "$url" 0 4096 small
		step idmd_rw_odd rw_compare "$url" 7 $((256 * 1024 + 512)) odd
		step idmd_rw_large rw_compare "$url" 1000 $((3 << 20)) large
		step idmd_copy copy_both "$url" $((5 << 20))
		step idmd_bench_randread bench "$url" randread idmd
		step idmd_bench_randwrite bench "$url" randwrite idmd
		step idmd_abort_copied abort_writes "$url" "$IDMD_PID" 64k     # below the copy threshold
		step idmd_abort_registered abort_writes "$url" "$IDMD_PID" 512k # above: registered
		step idmd_sigterm stop_pid "$IDMD_PID"
		step idmd_counters idmd_counters
	fi
	if step config_start start_idmd_config; then
		step config_bench_nocopy io bench "iser://$ADDR:$NOCOPY_PORT/$IQN/0" --rw randread \
			--bs 4k --qd 8 --time 1
		step config_target_tcp_only offered_on_tcp_only "$ADDR:$NOCOPY_PORT"
		step config_abort_registered abort_writes "iser://$ADDR:$NOCOPY_PORT/$IQN/0" \
			"$CONFIG_PID" 64k
		step config_sigterm stop_pid "$CONFIG_PID"
		step config_nocopy_counters nocopy_counters
	fi

	if step auto_start start_idmd_loopback; then
		step auto_falls_back_to_tcp check_auto_fallback
		step iser_refused_on_loopback check_iser_refused_on_loopback
		step auto_sigterm stop_pid "$LOOP_PID"
	fi
	if [[ -n $TCP_ONLY_PID ]]; then
		step auto_connect_falls_back_to_tcp check_auto_connect_fallback
		step tcp_only_sigterm stop_pid "$TCP_ONLY_PID"
	fi

	if ((failures == 0)); then
		result all PASS
		exit 0
	fi
	result all FAIL "$failures step(s) failed"
	exit 1
}

main
