#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs INSIDE the test VM (tests/vm/failover.sh boots it with the "gw" tree flavour, which
# adds Ceph and multipath-tools, and a scratch disk /dev/vdb): gateway failover under the
# Linux initiator with dm-multipath.
#   - a single-node Ceph cluster (tests/ceph/ceph-cluster.sh) on the scratch disk, its OSDs'
#     osd_client_watch_timeout lowered to WATCH_TIMEOUT s (a dead lock holder is found
#     sooner than Ceph's 30 s);
#   - two idmd gateways (ids 1 and 2 of one group) on 198.18.0.1 and 198.18.0.2 (a dummy
#     interface: the addresses exist only here) export one RBD image as LUN 0;
#   - open-iscsi logs in to both (replacement_timeout REPLACEMENT_TIMEOUT s), multipathd
#     (no systemd: started by hand, udevd too) groups the two paths by ALUA priority: the
#     lock holder (gateway 1) active/optimized prio 50, gateway 2 active/non-optimized 10;
#   - a writer (seqblocks.py) writes sequence-numbered 4 KiB blocks with O_DIRECT|O_DSYNC to
#     the multipath device; gateway 1 gets SIGKILL; the writes go on through gateway 2 once
#     it has broken the dead holder's lock. failover_gap is the longest time between two
#     acknowledged writes (must stay under GAP_LIMIT_MS, no write may fail);
#   - gateway 1 restarts while the writer goes on: its path comes back non-optimized
#     (multipath -ll prio 10, and REPORT TARGET PORT GROUPS through it: group 2 optimized,
#     group 1 non-optimized) and stays so; return_gap is the longest pause after the restart;
#   - every acknowledged block is in the image afterwards (rbd export).
# One "RESULT NAME: PASS|FAIL [why]" line per step; exits 0 only when every step passed.
# The step functions run through step(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -uo pipefail

PORT=3260
IQN=iqn.2026-12.org.idm:gw-failover
OUT=${IDM_VM_OUT:-/tmp}
HERE=$(dirname "$0")
SCRATCH=/scratch
CLUSTER=$SCRATCH/ceph
WATCH_TIMEOUT=${GW_WATCH_TIMEOUT:-5}
REPLACEMENT_TIMEOUT=${GW_REPLACEMENT_TIMEOUT:-5}
GAP_LIMIT_MS=${GW_GAP_LIMIT_MS:-30000}
WRITE_BEFORE=${GW_WRITE_BEFORE:-5} # seconds of writes before the kill
WRITE_AFTER=${GW_WRITE_AFTER:-10}  # seconds of writes after they resumed
WLOG=/tmp/writer.log
WSTOP=/tmp/writer.stop
declare -A GW_PID GW_DISK
ISCSID_PID=
MPATHD_PID=
WRITER_PID=
MPDEV=
KILL_NS=
BACK_NS=

# shellcheck source=tests/vm/guest/lib.sh
. "$HERE/lib.sh"

iscsi() { timeout -k 5 120 iscsiadm "$@"; }
ceph_cli() { timeout -k 5 60 ceph --conf "$CLUSTER/ceph.conf" "$@"; }
rbd_cli() { timeout -k 5 300 rbd --conf "$CLUSTER/ceph.conf" --id idm "$@"; }
addr() { echo "198.18.0.$1"; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# wait_until SECONDS CMD...: retry CMD every 0.5 s until it succeeds.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.5
	done
}

setup_net() {
	modprobe dummy &&
		ip link add idm0 type dummy &&
		ip addr add "$(addr 1)/24" dev idm0 &&
		ip addr add "$(addr 2)/24" dev idm0 &&
		ip link set idm0 up
}

setup_scratch() {
	mkfs.ext4 -q -F /dev/vdb && mkdir -p "$SCRATCH" && mount /dev/vdb "$SCRATCH"
}

start_ceph() {
	local t0=$SECONDS
	# every ceph CLI call is a Python start, slow under emulation: more time for each
	CEPH_TIMEOUT=120 OSD_BLOCK_BYTES=$((4 << 30)) bash "$HERE/ceph-cluster.sh" start "$CLUSTER" ||
		return 1
	echo "cluster up after $((SECONDS - t0)) s"
	# Read by the OSD when a watch registers: set before any client opens the image. Clients
	# ping their watches every objecter tick (5 s by default): tick each second instead, so
	# a live gateway's watch never comes near the lowered timeout.
	ceph_cli config set osd osd_client_watch_timeout "$WATCH_TIMEOUT" &&
		printf '[client]\nobjecter tick interval = 1\n' >>"$CLUSTER/ceph.conf" &&
		rbd_cli create rbd/gw --size 256M
}

# start_gw N: gateway N of the group 1, 2 on 198.18.0.N, its log in $OUT/idmd-gwN.log.
start_gw() {
	local n=$1 conf=/tmp/gw$1.json
	# shellcheck disable=SC1091 # written by ceph-cluster.sh
	. "$CLUSTER/env"
	printf '{ "gateway": { "id": %d, "group": [ 1, 2 ] },
  "state_dir": "/tmp/state%d",
  "portals": [ { "addr": "%s", "port": %d } ],
  "targets": [ { "iqn": "%s", "luns": [ { "lun": 0, "spec": "rbd:%s/gw", "ceph_conf": "%s",
     "ceph_id": "%s", "ceph_keyring": "%s" } ] } ] }\n' \
		"$n" "$n" "$(addr "$n")" "$PORT" "$IQN" "$CEPH_POOL" "$CEPH_CONF" \
		"$CEPH_CLIENT_ID" "$CEPH_CLIENT_KEYRING" >"$conf"
	idmd --config "$conf" --control-socket "/tmp/gw$n.sock" >>"$OUT/idmd-gw$n.log" 2>&1 </dev/null &
	GW_PID[$n]=$!
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "${GW_PID[$n]}" 2>/dev/null || {
			tail -n 20 "$OUT/idmd-gw$n.log"
			GW_PID[$n]=
			return 1
		}
		ss -Hltn "src $(addr "$n") and sport = :$PORT" | grep -q . && return 0
		sleep 0.2
	done
	echo "gateway $n does not listen"
	return 1
}

adm() { timeout -k 5 60 idmadm --socket "/tmp/gw$1.sock" "${@:2}"; }

start_udevd() {
	/lib/systemd/systemd-udevd --daemon &&
		udevadm trigger --action=add && udevadm settle -t 60
}

start_iscsid() {
	local i
	modprobe -a iscsi_tcp sd_mod scsi_dh_alua dm_multipath || return 1
	setsid iscsid -f >"$OUT/iscsid.log" 2>&1 </dev/null &
	ISCSID_PID=$!
	for ((i = 0; i < 50; i++)); do
		ss -Hlx | grep -q ISCSIADM_ABSTRACT_NAMESPACE && return 0
		sleep 0.2
	done
	return 1
}

# login_both: discovery and login through each gateway's portal, a short replacement
# timeout first (a dead path's commands fail over after it, not after 120 s).
login_both() {
	local n p
	for n in 1 2; do
		p=$(addr "$n"):$PORT
		iscsi -m discovery -t sendtargets -p "$p" | tee "/tmp/discovery$n.txt" &&
			grep -q "^$p,$n $IQN\$" "/tmp/discovery$n.txt" &&
			iscsi -m node -T "$IQN" -p "$p" -o update \
				-n node.session.timeo.replacement_timeout -v "$REPLACEMENT_TIMEOUT" &&
			iscsi -m node -T "$IQN" -p "$p" --login || return 1
	done
}

# find_disks: GW_DISK[N] = the sdX the session to gateway N attached.
find_disks() {
	local n
	iscsiadm -m session -P3 >/tmp/sessions.txt 2>&1 || return 1
	for n in 1 2; do
		GW_DISK[$n]=$(awk -v p="$(addr "$n"):$PORT," '
			/Current Portal:/ { here = index($3, p) == 1 }
			here && /Attached scsi disk/ { print $4; exit }' /tmp/sessions.txt)
		[[ -n ${GW_DISK[$n]} && -b /dev/${GW_DISK[$n]} ]] || return 1
	done
	echo "gateway 1: ${GW_DISK[1]}, gateway 2: ${GW_DISK[2]}"
}

# rtpg_state DISK GROUP: the asymmetric access state (hex) REPORT TARGET PORT GROUPS
# through DISK gives GROUP.
rtpg_state() {
	local line id=
	sg_rtpg -d "/dev/$1" >"/tmp/rtpg-$1.txt" 2>&1 || return 1
	while read -r line; do
		if [[ $line =~ group\ id\ *:\ *0x([0-9a-fA-F]+) ]]; then
			id=$((16#${BASH_REMATCH[1]}))
		elif [[ $line =~ access\ state\ *:\ *(0x[0-9a-fA-F]+) && $id == "$2" ]]; then
			echo "${BASH_REMATCH[1]}"
			return 0
		fi
	done <"/tmp/rtpg-$1.txt"
	return 1
}

# alua_is DISK OPTIMIZED_GROUP: through DISK, that group is active/optimized (0x00) and
# the other active/non-optimized (0x1).
alua_is() {
	local other=$((3 - $2)) s1 s2
	s1=$(rtpg_state "$1" "$2")
	s2=$(rtpg_state "$1" "$other")
	if ! [[ -n $s1 && -n $s2 ]] || (((s1 & 0xf) != 0 || (s2 & 0xf) != 1)); then
		echo "through $1: group $2 state '$s1', group $other state '$s2'"
		cat "/tmp/rtpg-$1.txt"
		return 1
	fi
}

holder_is() {
	alua_is "${GW_DISK[1]}" "$1" && alua_is "${GW_DISK[2]}" "$1"
}

take_lock_gw1() {
	adm 1 gateway move "$IQN" 0 && wait_until 20 holder_is 1 && adm 1 gateway show
}

# One path per group ("failover"), ordered by ALUA prio. Not group_by_prio: that put the
# dead gateway's path, its prio still the 50 it had, in the survivor's group; when it came
# back dm-multipath activated both paths of that group, the kernel's ALUA handler sent SET
# TARGET PORT GROUPS through each, and the gateways traded the lock until one of them won
# (in 1 of 3 runs the returned gateway ended optimized).
write_mpath_conf() {
	cat >/etc/multipath.conf <<CONF
defaults {
	user_friendly_names no
	find_multipaths no
	polling_interval 1
}
blacklist {
	devnode "^vd[a-z]"
}
devices {
	device {
		vendor "IDM"
		product ".*"
		path_grouping_policy failover
		prio alua
		hardware_handler "1 alua"
		path_checker tur
		failback immediate
		no_path_retry 10
	}
}
CONF
}

start_multipathd() {
	write_mpath_conf || return 1
	setsid multipathd -d -s -v3 >"$OUT/multipathd.log" 2>&1 </dev/null &
	MPATHD_PID=$!
	# the new map's udev events (blkid, kpartx, lvm) done before the groups are set up
	wait_until 60 mpath_found && udevadm settle -t 60
}

# mpath_found: MPDEV = the multipath device holding both gateways' disks.
mpath_found() {
	local wwid
	wwid=$(multipath -ll 2>/dev/null | awk '/dm-[0-9]/ { print $1; exit }')
	[[ -n $wwid && -b /dev/mapper/$wwid ]] || return 1
	[[ $(multipath -ll "$wwid" | grep -cE " (${GW_DISK[1]}|${GW_DISK[2]}) ") == 2 ]] || return 1
	MPDEV=/dev/mapper/$wwid
}

# path_is DISK PRIO GROUP_STATUS PATH_STATE: multipath -ll puts DISK in a group of PRIO
# with that status, and the path's dm state is PATH_STATE (active or failed).
path_is() {
	multipath -ll >/tmp/mpath.txt 2>&1
	awk -v d="$1" '
		/prio=/ { match($0, /prio=[0-9]+/); p = substr($0, RSTART + 5, RLENGTH - 5)
		          match($0, /status=[a-z]+/); s = substr($0, RSTART + 7, RLENGTH - 7) }
		$0 ~ " " d " " { for (i = 1; i <= NF; i++) if ($i == d) st = $(i + 2); print p, s, st; exit }' \
		/tmp/mpath.txt >/tmp/path.txt
	read -r prio status state </tmp/path.txt
	[[ ${prio:-} == "$2" && ${status:-} == "$3" && ${state:-} == "$4" ]]
}

groups_by_alua() {
	multipath -ll
	path_is "${GW_DISK[1]}" 50 active active && path_is "${GW_DISK[2]}" 10 enabled active
}

# sleep_then CMD...: CMD, 3 s later (nothing moved the groups meanwhile).
sleep_then() {
	sleep 3
	"$@"
}

start_writer() {
	rm -f "$WSTOP" "$WLOG"
	python3 "$HERE/seqblocks.py" write "$MPDEV" "$WLOG" "$WSTOP" >"$OUT/writer.out" 2>&1 &
	WRITER_PID=$!
	wait_until 60 test -s "$WLOG"
}

stop_writer() {
	[[ -n $WRITER_PID ]] || return 0
	touch "$WSTOP"
	wait "$WRITER_PID"
	WRITER_PID=
}

acks() { grep -cv '^ERR' "$WLOG"; }
acks_above() { (($(acks) > $1)); }

# kill_holder: SIGKILL gateway 1 while the writer runs, wait until writes go on (through
# gateway 2: 20 more acknowledged), then let it write WRITE_AFTER s more (it goes on
# writing while gateway 1 comes back).
kill_holder() {
	local at_kill
	sleep "$WRITE_BEFORE"
	KILL_NS=$(date +%s%N)
	kill -KILL "${GW_PID[1]}"
	at_kill=$(acks)
	wait "${GW_PID[1]}" 2>/dev/null
	GW_PID[1]=
	echo "gateway 1 killed after $at_kill acknowledged writes"
	wait_until 120 acks_above "$((at_kill + 20))" || {
		echo "writes did not go on within 120 s of the kill ($(acks) acknowledged)"
		return 1
	}
	echo "20 more writes acknowledged $(ms_since "$KILL_NS") ms after the kill"
	sleep "$WRITE_AFTER"
	multipath -ll
}

# check_gaps: the longest time between two acknowledged writes up to gateway 1's restart
# (failover_gap) and after it (return_gap), and no write failed.
check_gaps() {
	local out ms errs
	out=$(python3 "$HERE/seqblocks.py" gap "$WLOG" "$KILL_NS" ${BACK_NS:+"$BACK_NS"}) || return 1
	echo "$out"
	errs=$(sed -n 's/.*write errors \([0-9]*\)$/\1/p' <<<"$out")
	ms=$(sed -n 's/^GAP \([0-9]*\) ms.*/\1/p' <<<"$out")
	if [[ -n $ms && -n $errs ]] && ((ms <= GAP_LIMIT_MS && errs == 0)); then
		result failover_gap PASS "$ms ms"
	else
		result failover_gap FAIL "${ms:-?} ms, limit $GAP_LIMIT_MS ms, ${errs:-?} write errors"
	fi
	ms=$(sed -n 's/^RETURN_GAP \([0-9]*\) ms.*/\1/p' <<<"$out")
	if [[ -n $ms ]] && ((ms <= GAP_LIMIT_MS)); then
		result return_gap PASS "$ms ms"
	else
		result return_gap FAIL "${ms:-?} ms, limit $GAP_LIMIT_MS ms"
	fi
}

holder_is_gw2() {
	adm 2 gateway show && alua_is "${GW_DISK[2]}" 2
}

verify_export() {
	rbd_cli export rbd/gw "$SCRATCH/export.img" &&
		python3 "$HERE/seqblocks.py" verify "$WLOG" "$SCRATCH/export.img"
}

# back_non_optimized: gateway 1 restarted while the writer runs; the initiator logs in
# again by itself, its path is reinstated in the non-optimized group, RTPG through it
# names gateway 2 optimized, and so it stays while the writer goes on WRITE_AFTER s.
# Reported, not judged: how often the returning gateway was optimized meanwhile (Linux's
# scsi_dh_alua sends SET TARGET PORT GROUPS through a path it activates when the target
# supports explicit ALUA, and dm-multipath may activate the returning path first).
back_non_optimized() {
	local from took
	from=$(($(wc -l <"$OUT/idmd-gw1.log") + 1))
	BACK_NS=$(date +%s%N)
	start_gw 1 || return 1
	wait_until 90 path_is "${GW_DISK[1]}" 10 enabled active || {
		multipath -ll
		return 1
	}
	echo "gateway 1's path is back $(ms_since "$BACK_NS") ms after its restart"
	multipath -ll
	sleep "$WRITE_AFTER"
	multipath -ll
	took=$(tail -n "+$from" "$OUT/idmd-gw1.log" | grep -c 'this gateway is optimized')
	echo "INFO gateway 1 was optimized $took time(s) on its way back"
	path_is "${GW_DISK[1]}" 10 enabled active && path_is "${GW_DISK[2]}" 50 active active &&
		alua_is "${GW_DISK[1]}" 2 && alua_is "${GW_DISK[2]}" 2
}

stop_gw() {
	local n=$1 i
	[[ -n ${GW_PID[$n]:-} ]] || return 0
	kill -TERM "${GW_PID[$n]}"
	for ((i = 0; i < 100; i++)); do
		kill -0 "${GW_PID[$n]}" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "${GW_PID[$n]}" 2>/dev/null
	wait "${GW_PID[$n]}"
	echo "gateway $n exit status $?"
	GW_PID[$n]=
}

# cleanup: whatever ran, stop it, by PID; keep the cluster's logs.
cleanup() {
	stop_writer
	iscsiadm -m node -T "$IQN" --logout >/dev/null 2>&1
	[[ -n $MPATHD_PID ]] && kill -TERM "$MPATHD_PID" 2>/dev/null
	stop_gw 1
	stop_gw 2
	[[ -n $ISCSID_PID ]] && kill -TERM "$ISCSID_PID" 2>/dev/null
	if [[ -d $CLUSTER ]]; then
		bash "$HERE/ceph-cluster.sh" stop "$CLUSTER"
		mkdir -p "$OUT/ceph"
		cp -r "$CLUSTER/log/." "$OUT/ceph/" 2>/dev/null
	fi
	cp "$WLOG" "$OUT/" 2>/dev/null
}

# run STEP CMD...: step, and on failure clean up and exit (the later steps need it).
run() {
	step "$@" || {
		cleanup
		result all FAIL "step $1 failed"
		exit 1
	}
}

echo "guest: $(nproc) vCPUs, $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MiB"
run net setup_net
run scratch setup_scratch
run ceph_start start_ceph
run gateway1_start start_gw 1
run gateway2_start start_gw 2
run udevd start_udevd
run iscsid start_iscsid
run login_both login_both
run disks wait_until 60 find_disks
run multipath_map start_multipathd
run gateway1_holder take_lock_gw1
run alua_groups wait_until 30 groups_by_alua
run alua_groups_stay sleep_then groups_by_alua
run writer_start start_writer
run kill_holder kill_holder
step gateway2_holder holder_is_gw2
step gateway1_back_non_optimized back_non_optimized
stop_writer
check_gaps
step acked_blocks_in_image verify_export
cleanup
if ((failures == 0)); then
	result all PASS
else
	result all FAIL "$failures failed"
fi
exit "$failures"
