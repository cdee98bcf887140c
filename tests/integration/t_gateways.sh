#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A gateway group: three idmd (gateways 1, 2, 3 on 127.0.0.1, .2, .3) export one RBD image
# of a real single-node Ceph cluster (tests/ceph/ceph-cluster.sh) as one LU:
#   1. identity and ALUA: every gateway reports the same LU designator and serial, its own
#      relative port and target port group, and REPORT TARGET PORT GROUPS lists all three
#      groups with the same states everywhere; the first gateway to take the image's lock
#      becomes the optimized one on all three, a write through another only borrows the
#      lock; `idmadm gateway move` moves both;
#   1b. one LU's data: both gateways say WCE=0 (a gateway group opens the image without
#      librbd's cache), and a write completed through one gateway is what a read through
#      another returns, in rounds each way, after a flush (gw_client coherent);
#   2. persistent reservations across gateways (gw_client pr-cross): each type reserved
#      through gateway 1, conflicts through gateway 2 exactly as the type demands; PREEMPT
#      through gateway 2 ends gateway 1's hold;
#   3. libiscsi's iscsi-test-cu --dataloss with its two sessions on two gateways (plain: ALL;
#      ASan: the reservation and multipath suites): 0 failures;
#   4. a gateway restarted while its initiator holds a reservation: still held after;
#   5. the optimized lock holder SIGKILLed: a write through another gateway succeeds once
#      the cluster has found the holder dead (the time is printed), and that gateway becomes
#      the optimized one.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/ceph/test-cluster.sh
. "$IDM_ROOT/tests/ceph/test-cluster.sh"

require_idmd
require_prog ceph-mon ceph-osd rbd iscsi-test-cu
need_test_prog GW gw_client
grep -q rbd_aio_read "$IDMD" || skip "idmd built without librbd (librbd-dev, scripts/deps.sh)"
ADM=$IDM_BUILD/idmadm
[[ -x $ADM ]] || skip "idmadm not built"

IQN=iqn.2026-12.org.idm:gateways
CLUSTER=$TEST_TMP/ceph
ASAN=0
[[ $(ldd "$IDMD" 2>/dev/null) == *libasan* ]] && ASAN=1
declare -A GW_PID GW_LOG GW_CTL

cleanup() {
	local g
	for g in "${!GW_PID[@]}"; do
		[[ -n ${GW_PID[$g]} ]] && kill -KILL "${GW_PID[$g]}" 2>/dev/null
	done
	IDMD_PID=
	ceph_test_cluster_stop
	on_exit
}
trap cleanup EXIT

ceph_test_cluster_start
# How long the cluster waits for a dead client before its lock can be broken (the default
# 30 s would make check 5 wait that long): read when a watch is registered, so before
# any gateway opens the image. A real group sets it for the failover time it wants.
WATCH_TIMEOUT=10
t 20 ceph --conf "$CEPH_CONF" config set osd osd_client_watch_timeout "$WATCH_TIMEOUT" ||
	fail "ceph config set osd_client_watch_timeout"
"${RBD[@]}" create "$CEPH_POOL/gw" --size 256M || fail "rbd create"

PORT=$(free_port)
url() { echo "iscsi://127.0.0.$1:$PORT/$IQN/0"; }

# gw_start N: gateway N of the group 1, 2, 3 on 127.0.0.N.
gw_start() {
	local n=$1 conf=$TEST_TMP/gw$1.json
	printf '{ "gateway": { "id": %d, "group": [ 1, 2, 3 ] },
  "state_dir": "%s",
  "portals": [ { "addr": "127.0.0.%d", "port": %d } ],
  "targets": [ { "iqn": "%s", "luns": [ { "lun": 0, "spec": "rbd:%s/gw", "ceph_conf": "%s",
     "ceph_id": "%s", "ceph_keyring": "%s" } ] } ] }\n' \
		"$n" "$TEST_TMP/state$n" "$n" "$PORT" "$IQN" "$CEPH_POOL" "$CEPH_CONF" \
		"$CEPH_CLIENT_ID" "$CEPH_CLIENT_KEYRING" >"$conf"
	# idmd_start waits for the port on any address: wait for this gateway's own.
	IDMD_PORT=$PORT idmd_start --config "$conf"
	GW_PID[$n]=$IDMD_PID GW_LOG[$n]=$IDMD_LOG GW_CTL[$n]=$IDMD_CTL
	for ((i = 0; i < 100; i++)); do
		ss -Hltn "src 127.0.0.$n and sport = :$PORT" | grep -q . && return 0
		sleep 0.1
	done
	fail "gateway $n does not listen on 127.0.0.$n:$PORT"
}

gw_stop() {
	IDMD_PID=${GW_PID[$1]} IDMD_LOG=${GW_LOG[$1]}
	idmd_stop
	GW_PID[$1]=
}

adm() { c "$ADM" --socket "${GW_CTL[$1]}" "${@:2}"; }

# gw_says N FIELD VALUE: gateway N's idmadm says FIELD (lock_owner: who holds the image's
# lock; optimized: the group's optimized gateway) is VALUE (10 s at most).
gw_says() {
	local i
	for ((i = 0; i < 100; i++)); do
		adm "$1" --json gateway show | python3 -c '
import json, sys
luns = json.load(sys.stdin)["luns"]
sys.exit(0 if luns and luns[0][sys.argv[1]] == int(sys.argv[2]) else 1)' "$2" "$3" && return 0
		sleep 0.1
	done
	echo "gateway $1: $2 is not $3:"
	adm "$1" gateway show
	return 1
}
owner_is() { gw_says "$1" lock_owner "$2"; }
optimized_is() { gw_says "$1" optimized "$2"; }

# alua_of N: gw_client's report through gateway N.
alua_of() { c "$GW" alua "$(url "$1")"; }

# same_view OWNER: every gateway reports the same LU, its own port, and the same groups:
# OWNER active/optimized, the others active/non-optimized (OWNER 0: all of them).
same_view() {
	local n want_lu="" out lu g state
	for n in 1 2 3; do
		out=$(alua_of "$n") || { echo "gateway $n: alua failed"; return 1; }
		lu=$(grep -E '^(LU|SERIAL) ' <<<"$out" | tr '\n' ' ')
		[[ -z $want_lu ]] && want_lu=$lu
		[[ $lu == "$want_lu" ]] || { echo "gateway $n reports LU '$lu', gateway 1 '$want_lu'"; return 1; }
		grep -qx "PORT rel=$n" <<<"$out" && grep -qx "PORT tpg=$n" <<<"$out" ||
			{ echo "gateway $n: port designators: $out"; return 1; }
		grep -qx 'TPGS 3' <<<"$out" || { echo "gateway $n: TPGS not implicit+explicit: $out"; return 1; }
		for g in 1 2 3; do
			state=active/non-optimized
			((g == $1)) && state=active/optimized
			grep -qx "GROUP $g $state ports=$g" <<<"$out" ||
				{ echo "gateway $n: group $g is not $state: $out"; return 1; }
		done
	done
	echo "owner $1: the three gateways report one LU ($want_lu) and the same groups"
}

bad=0
gw_start 1
gw_start 2
gw_start 3

# ---- 1. identity and ALUA ----
# No gateway chosen yet: all three active/non-optimized. The first to take the lock (a
# write through it) becomes optimized; a write through another only borrows the lock.
same_view 0 || bad=1
c "$GW" write "$(url 1)" 100 >/dev/null || fail "write through gateway 1"
for n in 1 2 3; do optimized_is "$n" 1 || bad=1; done
same_view 1 || bad=1
c "$GW" write "$(url 3)" 101 >/dev/null || fail "write through gateway 3"
owner_is 1 3 || bad=1
same_view 1 || bad=1
adm 2 gateway move "$IQN" 0 >/dev/null || fail "idmadm gateway move on gateway 2"
for n in 1 2 3; do optimized_is "$n" 2 && owner_is "$n" 2 || bad=1; done
same_view 2 || bad=1
adm 3 gateway show

# ---- 1b. a write through one gateway is read through another ----
c "$GW" coherent "$(url 1)" "$(url 3)" || bad=1

# ---- 2. persistent reservations across gateways ----
c "$GW" pr-cross "$(url 1)" "$(url 2)" || bad=1

# ---- 3. iscsi-test-cu with its sessions on two gateways ----
if ((ASAN)); then
	TESTS=ALL.ProutReserve,ALL.PrinReadKeys,ALL.ProutRegister,ALL.ProutClear,ALL.ProutPreempt,ALL.Reserve6,ALL.MultipathIO
	MIN_RAN=15
else
	TESTS=ALL
	MIN_RAN=200
fi
TESTS=${GW_CU_TESTS:-$TESTS}
alog=$TEST_LOGDIR/iscsi-test-cu.log
t 900 iscsi-test-cu --dataloss --test "$TESTS" "$(url 1)" "$(url 2)" >"$alog" 2>&1
rc=$?
counts=$(awk '$1 == "tests" && NF >= 6 { print $3, $5; found = 1 } END { if (!found) exit 1 }' "$alog") || {
	echo "iscsi-test-cu: no CUnit summary (exit $rc), see $alog"
	bad=1
}
if [[ -n ${counts:-} ]]; then
	read -r ran nfail <<<"$counts"
	echo "iscsi-test-cu $TESTS across gateways 1 and 2: ran $ran, failed $nfail (exit $rc)"
	if ((ran < MIN_RAN || nfail != 0 || rc != 0)); then
		grep -E '^ *Test: .*FAILED|CU_ASSERT|FAILED' "$alog" | head -n 30
		bad=1
	fi
fi

# ---- 4. a gateway restart keeps a reservation ----
c "$GW" pr-hold "$(url 1)" 0x1d3a || fail "reserve through gateway 1"
gw_stop 1
gw_start 1
for n in 1 3; do
	out=$(c "$GW" pr-show "$(url "$n")")
	if grep -qx 'RESERVATION key=1d3a type=1' <<<"$out"; then
		echo "after gateway 1's restart, gateway $n reports the reservation"
	else
		echo "after gateway 1's restart, gateway $n reports: $out"
		bad=1
	fi
done
c "$GW" pr-clear "$(url 3)" 0x1d3a || bad=1

# ---- 5. the lock holder dies ----
c "$GW" write "$(url 2)" 200 >/dev/null || fail "write through gateway 2"
owner_is 3 2 || bad=1
kill -KILL "${GW_PID[2]}"
wait "${GW_PID[2]}" 2>/dev/null
GW_PID[2]=
t0=$(date +%s%N)
ok=0
for ((i = 0; i < 12; i++)); do
	if t 20 "$GW" write "$(url 3)" 300 >/dev/null 2>&1; then
		ok=1
		break
	fi
done
t1=$(date +%s%N)
if ((ok)); then
	echo "holder SIGKILLed: a write through gateway 3 succeeded after $(((t1 - t0) / 1000000)) ms (osd_client_watch_timeout $WATCH_TIMEOUT s)"
	owner_is 3 3 && optimized_is 3 3 && optimized_is 1 3 || bad=1
else
	echo "holder SIGKILLed: gateway 3 could not write for $(((t1 - t0) / 1000000)) ms"
	bad=1
fi

gw_stop 1
gw_stop 3
for g in 1 2 3; do
	sanitizer_report "${GW_LOG[$g]}" && { grep -m 5 -A 5 'Sanitizer\|runtime error' "${GW_LOG[$g]}"; bad=1; }
done
((bad == 0)) || fail "see above"
echo PASS
