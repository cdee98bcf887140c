#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The rbd store on a real Ceph cluster (tests/ceph/ceph-cluster.sh: one monitor, one
# bluestore OSD, cephx), started here once for every check, through real clients:
#   1. libiscsi's iscsi-test-cu --dataloss on an rbd LUN: the whole suite (two sessions)
#      in the plain build; under ASan the suites that reach the store's own mapping
#      (reads, writes, flushes, WRITE SAME, UNMAP, COMPARE AND WRITE, GET LBA STATUS),
#      to keep the run short (ASan runs checks 1, 3, 4 and the dead monitor only);
#   2. qemu-io patterns at scattered offsets and a qemu-img convert round trip over iSCSI,
#      then `rbd export` compared byte for byte with the same patterns written locally;
#   3. COMPARE AND WRITE racing from two sessions, then from two idmd processes on one
#      image: exactly one wins each round, the loser gets MISCOMPARE at the right offset;
#   4. `rbd resize` by another client: unit attention, then the new capacity;
#   5. durability: idmd SIGKILLed under a writer; `rbd export` holds every block
#      acknowledged after FUA, after SYNCHRONIZE CACHE, and (WCE=0, librbd's cache off)
#      after a plain WRITE;
#   6. the OSD stopped for 10 s under I/O: I/O resumes, nothing lost, NOP-Outs on another
#      session answered meanwhile; a monitor that does not answer at start: one clear line.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/ceph/test-cluster.sh
. "$IDM_ROOT/tests/ceph/test-cluster.sh"

require_idmd
require_prog ceph-mon ceph-osd rbd iscsi-test-cu qemu-io qemu-img python3
need_test_prog CLIENT rbd_client
grep -q rbd_aio_read "$IDMD" || skip "idmd built without librbd (librbd-dev, scripts/deps.sh)"

IQN=iqn.2026-11.org.idm:rbd
CLUSTER=$TEST_TMP/ceph
ASAN=0
ldd "$IDMD" 2>/dev/null | grep -q libasan && ASAN=1
EXTRA_PIDS=()
# The checks to run (all by default; a subset helps when working on one). Under ASan only
# those where a sanitizer can see something the plain run cannot check: the qemu round
# trip moves the same requests as the conformance suites, a SIGKILLed idmd reports
# nothing, and the OSD outage's NOT READY path is in rbd_ut; that keeps the ASan run short.
if ((ASAN)); then
	RBD_CHECKS=${RBD_CHECKS:-conformance caw resize blocklist}
else
	RBD_CHECKS=${RBD_CHECKS:-conformance qemu caw resize durability fault offline blocklist}
fi
want() { [[ " $RBD_CHECKS " == *" $1 "* ]]; }

cleanup() {
	local p
	for p in "${EXTRA_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [[ -n $IDMD_PID ]]; then
		kill -KILL "$IDMD_PID" 2>/dev/null
		wait "$IDMD_PID" 2>/dev/null
		IDMD_PID=
	fi
	ceph_test_cluster_stop
	on_exit
}
trap cleanup EXIT

ceph_test_cluster_start

# mkimage NAME SIZE: a fresh image in the pool.
mkimage() {
	"${RBD[@]}" create "$CEPH_POOL/$1" --size "$2" || fail "rbd create $1"
}

# lun_json N SPEC: one LUN of the config, with the cluster's options.
lun_json() {
	printf '{ "lun": %d, "spec": "%s", "ceph_conf": "%s", "ceph_id": "%s", "ceph_keyring": "%s" }' \
		"$1" "$2" "$CEPH_CONF" "$CEPH_CLIENT_ID" "$CEPH_CLIENT_KEYRING"
}

# start_rbd_idmd PORT LUN_JSON...: idmd serving the LUNs on PORT (sets IDMD_PID).
start_rbd_idmd() {
	local port=$1 conf luns
	shift
	luns=$(
		IFS=,
		echo "$*"
	)
	conf=$TEST_TMP/idmd-$port.json
	printf '{ "portals": [ { "addr": "127.0.0.1", "port": %d } ],\n  "targets": [ { "iqn": "%s", "luns": [ %s ] } ] }\n' \
		"$port" "$IQN" "$luns" >"$conf"
	IDMD_PORT=$port idmd_start --config "$conf"
}

# sigkill_idmd: end the idmd we started, as a crash would.
sigkill_idmd() {
	kill -KILL "$IDMD_PID" 2>/dev/null
	wait "$IDMD_PID" 2>/dev/null
	IDMD_PID=
}

# cunit_counts LOG: "ran failed" from CUnit's Run Summary.
cunit_counts() {
	awk '$1 == "tests" && NF >= 6 { print $3, $5; found = 1 } END { if (!found) exit 1 }' "$1"
}

bad=0

# ---- 1. conformance ----
mkimage conf 256M
"${RBD[@]}" namespace create "$CEPH_POOL/ns1" || fail "rbd namespace create"
mkimage ns1/qemu 64M
mkimage grow 64M
PORT=$(free_port)
start_rbd_idmd "$PORT" "$(lun_json 0 "rbd:$CEPH_POOL/conf")" "$(lun_json 1 "rbd:$CEPH_POOL/ns1/qemu")" \
	"$(lun_json 2 "rbd:$CEPH_POOL/grow")"
URL=iscsi://127.0.0.1:$PORT/$IQN
if ((ASAN)); then
	TESTS=ALL.Read16,ALL.Write16,ALL.WriteSame16,ALL.Unmap,ALL.CompareAndWrite,ALL.GetLBAStatus,ALL.SynchronizeCache10,ALL.ReadCapacity16,ALL.ModeSense6
	MIN_RAN=20
else
	TESTS=ALL
	MIN_RAN=200
fi
alog=$TEST_LOGDIR/iscsi-test-cu.log
want conformance || { TESTS=ALL.ReadCapacity16; MIN_RAN=1; }
t 600 iscsi-test-cu --dataloss --test "$TESTS" "$URL/0" "$URL/0" >"$alog" 2>&1
rc=$?
if ! counts=$(cunit_counts "$alog"); then
	echo "iscsi-test-cu: no CUnit summary (exit $rc), see $alog"
	bad=1
else
	read -r ran nfail <<<"$counts"
	echo "iscsi-test-cu $TESTS on rbd: ran $ran, failed $nfail, libiscsi skipped $(grep -c '\[SKIPPED\]' "$alog") (exit $rc)"
	grep -o '\[SKIPPED\].*' "$alog" | sort | uniq -c | sort -rn | sed 's/^/    /'
	if ((ran < MIN_RAN || nfail != 0 || rc != 0)); then
		grep -E '^ *Test: .*FAILED|CU_ASSERT' "$alog" | head -n 20
		bad=1
	fi
fi
idmd_alive || fail "idmd died during iscsi-test-cu"

# ---- 2. qemu-io patterns and qemu-img round trip, checked with rbd export ----
qemu_check() {
QEMU_CMDS=(-c "write -P 0xa1 0 64k" -c "write -P 0xb2 1M 4k" -c "write -P 0xc3 4095k 2k"
	-c "write -P 0xd4 13M 1M" -c "write -P 0xe5 $((64 * 1024 * 1024 - 512)) 512"
	-c "write -z 13M 64k" -c "write -P 0xf6 40M 128k")
local_img=$TEST_TMP/qemu-local.raw
truncate -s 64M "$local_img"
qemu-io -f raw "${QEMU_CMDS[@]}" "$local_img" >/dev/null || fail "qemu-io on a local file"
c qemu-io -f raw "${QEMU_CMDS[@]}" "$URL/1" >"$TEST_LOGDIR/qemu-io.log" 2>&1 || fail "qemu-io over iSCSI (see $TEST_LOGDIR/qemu-io.log)"
"${RBD[@]}" export "$CEPH_POOL/ns1/qemu" "$TEST_TMP/qemu-export.raw" >/dev/null 2>&1 || fail "rbd export"
cmp "$local_img" "$TEST_TMP/qemu-export.raw" || {
	echo "rbd export differs from the qemu-io patterns"
	bad=1
}
head -c 8M /dev/urandom >"$TEST_TMP/src.raw"
c qemu-img convert -n -f raw -O raw "$TEST_TMP/src.raw" "$URL/1" || fail "qemu-img convert to iSCSI"
c qemu-img convert -f raw -O raw "$URL/1" "$TEST_TMP/back.raw" || fail "qemu-img convert from iSCSI"
"${RBD[@]}" export "$CEPH_POOL/ns1/qemu" "$TEST_TMP/qemu-export2.raw" >/dev/null 2>&1 || fail "rbd export"
if cmp -n 8M "$TEST_TMP/src.raw" "$TEST_TMP/back.raw" && cmp "$TEST_TMP/back.raw" "$TEST_TMP/qemu-export2.raw"; then
	echo "qemu-io patterns and qemu-img round trip: rbd export matches"
else
	echo "qemu-img round trip differs"
	bad=1
fi
}
want qemu && qemu_check

# ---- 3. COMPARE AND WRITE races ----
caw_check() {
# Two blocks across the first 4 MiB object boundary: librbd refuses to
# compare them atomically, idmd emulates it off its reactors.
c "$CLIENT" caw-cross "$URL/0" $(((4 << 20) / 512 - 1)) || bad=1
c "$CLIENT" caw-race "$URL/0" "$URL/0" 100 20001 || bad=1
# A second idmd on the same image: the cluster makes CAW atomic across gateways.
FIRST_PID=$IDMD_PID
FIRST_LOG=$IDMD_LOG
PORT2=$(free_port)
start_rbd_idmd "$PORT2" "$(lun_json 0 "rbd:$CEPH_POOL/conf")"
c "$CLIENT" caw-race "$URL/0" "iscsi://127.0.0.1:$PORT2/$IQN/0" 30 30003 || bad=1
idmd_stop
IDMD_PID=$FIRST_PID
IDMD_LOG=$FIRST_LOG
}
want caw && caw_check

# ---- 4. resize by another client ----
if want resize; then
	c "$CLIENT" resize "$URL/2" $((96 << 20)) "${RBD[*]} resize $CEPH_POOL/grow --size 96M >/dev/null 2>&1" || bad=1
fi
idmd_stop

# ---- 5. durability under SIGKILL ----
# durability_run MODE IMAGE [CEPH_ARGS]: the writer runs, idmd is killed once 100 blocks
# are acknowledged, then every acknowledged block must be in the image.
durability_run() {
	local mode=$1 image=$2 args=${3:-} out=$TEST_LOGDIR/durability-$1.log port wpid acked i
	mkimage "$image" 64M
	port=$(free_port)
	export CEPH_ARGS=$args # read by librados in idmd (rados_conf_parse_env)
	start_rbd_idmd "$port" "$(lun_json 0 "rbd:$CEPH_POOL/$image")"
	unset CEPH_ARGS
	if [[ $mode == plain ]]; then
		[[ $(c "$CLIENT" wce "iscsi://127.0.0.1:$port/$IQN/0") == "WCE 0" ]] ||
			{
				echo "WCE is not 0 with rbd_cache=false"
				bad=1
			}
	fi
	"$CLIENT" durability "iscsi://127.0.0.1:$port/$IQN/0" 30 "$mode" >"$out" 2>&1 &
	wpid=$!
	EXTRA_PIDS+=("$wpid")
	# Mid-stream: once 100 blocks are acknowledged (at most 25 s).
	for ((i = 0; i < 250; i++)); do
		(($(grep -c '^ACK' "$out") >= 100)) && break
		sleep 0.1
	done
	sigkill_idmd
	wait "$wpid"
	"${RBD[@]}" export "$CEPH_POOL/$image" "$TEST_TMP/$image.raw" >/dev/null 2>&1 || fail "rbd export $image"
	acked=$(python3 - "$out" "$TEST_TMP/$image.raw" <<'PY'
import struct, sys
acks = [int(l.split()[1]) for l in open(sys.argv[1]) if l.startswith("ACK ")]
img = open(sys.argv[2], "rb").read()
missing = [s for s in acks if img[s * 512:s * 512 + 16] != b"IDMSEQ01" + struct.pack("<Q", s)]
print(len(acks), len(missing), missing[:5])
PY
	)
	read -r n nmissing rest <<<"$acked"
	echo "durability ($mode${args:+, $args}): $n blocks acknowledged before SIGKILL, $nmissing missing from rbd export $rest"
	if ((n < 50 || nmissing != 0)); then
		bad=1
	fi
	rm -f "$TEST_TMP/$image.raw"
}
if want durability; then
	durability_run fua dur-fua
	durability_run sync dur-sync
	durability_run plain dur-plain "--rbd_cache=false"
fi

# ---- 6. cluster faults ----
fault_check() {
mkimage fault 64M
PORT=$(free_port)
start_rbd_idmd "$PORT" "$(lun_json 0 "rbd:$CEPH_POOL/fault")"
flog=$TEST_LOGDIR/fault.log
# The client writes until told to stop, 8 s after the OSD is back (at most 120 s).
stop=$TEST_TMP/fault.stop
"$CLIENT" fault "iscsi://127.0.0.1:$PORT/$IQN/0" 120 "$stop" >"$flog" 2>&1 &
FPID=$!
EXTRA_PIDS+=("$FPID")
sleep 3
bash "$IDM_ROOT/tests/ceph/ceph-cluster.sh" kill-osd "$CLUSTER"
sleep 10
t 90 bash "$IDM_ROOT/tests/ceph/ceph-cluster.sh" start-osd "$CLUSTER" || fail "the OSD did not come back"
sleep 8
touch "$stop"
wait "$FPID"
frc=$?
cat "$flog"
# The slowest NOP answer: the reactors went on while the cluster stalled.
worst=$(sed -n 's/.*slowest NOP \([0-9]*\) ms.*/\1/p' "$flog")
last=$(sed -n 's/.*last good write at \([0-9]*\) s of.*/\1/p' "$flog")
total=$(sed -n 's/.*last good write at [0-9]* s of \([0-9]*\).*/\1/p' "$flog")
nfailed=$(sed -n 's/.* ok, \([0-9]*\) failed.*/\1/p' "$flog")
if ((frc != 0)) || [[ -z $worst ]] || ((worst > 1000 || last + 3 < total || nfailed != 0)); then
	echo "cluster fault: I/O did not resume cleanly, or a NOP waited (client exit $frc, see $flog)"
	bad=1
fi
idmd_stop
}
want fault && fault_check

# A monitor that does not answer: idmd stops with one line naming the image.
# A cluster that does not answer at start, with the LUN's "start_offline":
# idmd starts, the LUN reports NOT READY, and comes online (with its real
# capacity) once the monitor is back.
offline_check() {
	local port olog=$TEST_LOGDIR/offline.log rpid rrc
	bash "$IDM_ROOT/tests/ceph/ceph-cluster.sh" kill-mon "$CLUSTER"
	port=$(free_port)
	start_rbd_idmd "$port" "$(lun_json 0 "rbd:$CEPH_POOL/conf" | sed 's/ }$/, "start_offline": true }/')"
	"$CLIENT" ready "iscsi://127.0.0.1:$port/$IQN/0" 90 >"$olog" 2>&1 &
	rpid=$!
	EXTRA_PIDS+=("$rpid")
	sleep 3
	t 60 bash "$IDM_ROOT/tests/ceph/ceph-cluster.sh" start-mon "$CLUSTER" || fail "the monitor did not come back"
	wait "$rpid"
	rrc=$?
	echo "LUN started with the monitor down: $(grep -o 'starting offline' "$IDMD_LOG" | head -n 1); $(tr '\n' ';' <"$olog")"
	if ((rrc != 0)) || ! grep -q '^first NOT READY' "$olog" ||
		! grep -q "^ready after .* ms, $((256 << 11)) blocks" "$olog" || ! grep -q 'starting offline' "$IDMD_LOG"; then
		echo "start_offline: the LUN did not go from NOT READY to online (see $olog, $IDMD_LOG)"
		bad=1
	fi
	idmd_stop
}
want offline && offline_check

# The cluster fences idmd's client off (osd blocklist add of its address,
# found as the image's watcher): commands get NOT READY, never hang, and
# the store opens the image again with a new client: I/O resumes, no
# acknowledged write lost, no restart.
blocklist_check() {
	local port flog=$TEST_LOGDIR/blocklist.log stop=$TEST_TMP/blocklist.stop fpid frc addr newaddr i nr
	local ceph=(timeout -k 2 20 ceph --conf "$CEPH_CONF")
	mkimage fence 64M
	port=$(free_port)
	start_rbd_idmd "$port" "$(lun_json 0 "rbd:$CEPH_POOL/fence")"
	watcher() { "${RBD[@]}" status "$CEPH_POOL/fence" 2>/dev/null | sed -n 's/.*watcher=\([^ ]*\).*/\1/p' | head -n 1; }
	addr=$(watcher)
	[[ -n $addr ]] || fail "idmd's client is not watching the image"
	"$CLIENT" fault "iscsi://127.0.0.1:$port/$IQN/0" 90 "$stop" >"$flog" 2>&1 &
	fpid=$!
	EXTRA_PIDS+=("$fpid")
	sleep 2
	"${ceph[@]}" osd blocklist add "$addr" >/dev/null 2>&1 || fail "ceph osd blocklist add $addr"
	for ((i = 0; i < 600; i++)); do
		grep -q "': online (" "$IDMD_LOG" && break
		sleep 0.1
	done
	sleep 3
	touch "$stop"
	wait "$fpid"
	frc=$?
	newaddr=$(watcher)
	"${ceph[@]}" osd blocklist rm "$addr" >/dev/null 2>&1
	nr=$(grep -c 'NOT READY' "$flog")
	echo "blocklisted $addr: $nr writes NOT READY; $(grep -c "': online (" "$IDMD_LOG") reopen(s), now watching as $newaddr; $(grep '^fault:' "$flog")"
	local last total nfailed worst
	worst=$(sed -n 's/.*slowest NOP \([0-9]*\) ms.*/\1/p' "$flog")
	last=$(sed -n 's/.*last good write at \([0-9]*\) s of.*/\1/p' "$flog")
	total=$(sed -n 's/.*last good write at [0-9]* s of \([0-9]*\).*/\1/p' "$flog")
	nfailed=$(sed -n 's/.* ok, \([0-9]*\) failed.*/\1/p' "$flog")
	if ((frc != 0 || nr == 0)) || [[ -z $worst || -z $newaddr || $newaddr == "$addr" ]] ||
		((worst > 1000 || last + 3 < total || nfailed != 0)); then
		echo "blocklist: no NOT READY, or no recovery, or a failure (client exit $frc, see $flog, $IDMD_LOG)"
		bad=1
	fi
	idmd_stop
}
want blocklist && blocklist_check

sed "s/^mon host = .*/mon host = v2:127.0.0.1:$(free_port)/" "$CEPH_CONF" >"$TEST_TMP/dead.conf"
PORT=$(free_port)
printf '{ "portals": [ { "addr": "127.0.0.1", "port": %d } ], "targets": [ { "iqn": "%s", "luns": [ { "lun": 0, "spec": "rbd:%s/conf", "ceph_conf": "%s", "ceph_id": "idm", "ceph_keyring": "%s" } ] } ] }\n' \
	"$PORT" "$IQN" "$CEPH_POOL" "$TEST_TMP/dead.conf" "$CEPH_CLIENT_KEYRING" >"$TEST_TMP/dead.json"
start=$(date +%s)
# shellcheck disable=SC2086 # the wrapper is a word list on purpose
t 60 $IDMD_WRAPPER "$IDMD" --config "$TEST_TMP/dead.json" >"$TEST_LOGDIR/dead-mon.log" 2>&1
drc=$?
took=$(($(date +%s) - start))
line=$(grep -m1 "cannot connect to the Ceph cluster" "$TEST_LOGDIR/dead-mon.log")
echo "monitor down at start: exit $drc after ${took}s: $line"
if ((drc == 0 || drc == 124)) || [[ $line != *"$CEPH_POOL/conf"* ]]; then
	bad=1
fi

((bad == 0)) || fail "rbd checks failed (logs in $TEST_LOGDIR)"
echo "PASS"
