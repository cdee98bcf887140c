#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A single-node Ceph cluster on 127.0.0.1 for the rbd store's tests and bench:
#   ceph-cluster.sh start DIR [POOL]   one monitor, one bluestore OSD in a sparse file, pool
#                                       POOL (default "rbd") of size 1, cephx on
#   ceph-cluster.sh stop DIR           stop every daemon it started, by PID
#   ceph-cluster.sh kill-osd DIR / start-osd DIR   (fault tests)
#   ceph-cluster.sh kill-mon DIR / start-mon DIR   (a cluster that does not answer)
# DIR is created (it must not exist or be empty). On success `start` writes DIR/env, which a
# test sources, with:
#   CEPH_CONF=DIR/ceph.conf      the cluster's config (monitor address, admin keyring)
#   CEPH_CLIENT_ID=idm           a client allowed "profile rbd" on POOL only
#   CEPH_CLIENT_KEYRING=DIR/client.idm.keyring
#   CEPH_POOL=POOL
# A start that fails halfway stops what it started before it exits non-zero.
# Facts this relies on (ceph 16.2): an OSD must sit under a host bucket in the CRUSH map;
# "cluster addr" keeps the OSD off 0.0.0.0; without a mgr some ceph commands wait forever, so
# every one runs under `timeout`; memstore is not used (it grows without bound under 4 KiB
# writes), bluestore lives in a sparse file instead.
set -Eeuo pipefail

CMD=${1:-}
D=${2:-}
POOL=${3:-rbd}
CEPH_TIMEOUT=${CEPH_TIMEOUT:-20}
OSD_BLOCK_BYTES=${OSD_BLOCK_BYTES:-8589934592}

usage() {
	echo "usage: $0 start|stop|kill-osd|start-osd|kill-mon|start-mon DIR [POOL]" >&2
	exit 2
}
[[ -n $CMD && -n $D ]] || usage

# ceph_cli ARGS...: the admin CLI, never left hanging.
ceph_cli() {
	timeout -k 2 "$CEPH_TIMEOUT" ceph --conf "$D/ceph.conf" "$@"
}

# stop_pidfile FILE: SIGTERM the daemon whose PID FILE holds, then SIGKILL after 10 s.
stop_pidfile() {
	local f=$1 pid i
	[[ -s $f ]] || return 0
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	kill -TERM "$pid" 2>/dev/null || {
		rm -f "$f"
		return 0
	}
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$f"
}

stop_all() {
	local f
	# The OSD first: a monitor stopped first leaves it retrying.
	for f in "$D"/run/osd.*.pid "$D"/run/mon.*.pid; do
		[[ -e $f ]] && stop_pidfile "$f"
	done
	return 0
}

# wait_for SECONDS CMD...: retry CMD once a second until it succeeds.
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 1
	done
	return 1
}

osd_up() {
	ceph_cli osd stat 2>/dev/null | grep -q ' 1 up'
}

# A free loopback TCP port (the monitor's), from the kernel.
free_port() {
	python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

write_conf() {
	local fsid=$1 port=$2
	cat >"$D/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$port
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $D/admin.keyring
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
run dir = $D/run
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
[mon]
admin socket = $D/run/\$name.asok
mon data = $D/mon
keyring = $D/mon/keyring
[osd]
admin socket = $D/run/\$name.asok
osd data = $D/osd\$id
keyring = $D/osd\$id/keyring
osd objectstore = bluestore
bluestore block path = $D/osd\$id.block
bluestore block create = true
bluestore block size = $OSD_BLOCK_BYTES
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 268435456
osd memory target = 939524096
CONF
}

# The keys: mon., client.admin (for this script and the tests' rbd CLI) in their keyrings.
make_keys() {
	ceph-authtool --create-keyring "$D/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool --create-keyring "$D/admin.keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
	ceph-authtool "$D/mon.keyring" --import-keyring "$D/admin.keyring" >/dev/null
}

start_mon() {
	local fsid=$1 port=$2
	monmaptool --create --addv a "[v2:127.0.0.1:$port]" --fsid "$fsid" "$D/monmap" >/dev/null
	ceph-mon --conf "$D/ceph.conf" --mkfs -i a --monmap "$D/monmap" \
		--keyring "$D/mon.keyring" >"$D/log/mon-mkfs.log" 2>&1
	ceph-mon --conf "$D/ceph.conf" -i a
	wait_for 30 ceph_cli -s || {
		echo "ceph-cluster: monitor did not answer within 30 s (see $D/log)" >&2
		return 1
	}
}

start_osd_daemon() {
	ceph-osd --conf "$D/ceph.conf" -i 0 >>"$D/log/osd-start.log" 2>&1
}

start_osd() {
	local id
	id=$(ceph_cli osd create)
	[[ $id == 0 ]] || {
		echo "ceph-cluster: expected osd id 0, got '$id'" >&2
		return 1
	}
	mkdir -p "$D/osd0"
	# The key first: mkfs fetches its config from the monitor with it.
	ceph_cli auth get-or-create osd.0 osd 'allow *' mon 'allow profile osd' \
		mgr 'allow profile osd' >"$D/osd0/keyring"
	ceph-osd --conf "$D/ceph.conf" -i 0 --mkfs >"$D/log/osd-mkfs.log" 2>&1
	ceph_cli osd crush add-bucket localhost host >/dev/null 2>&1
	ceph_cli osd crush move localhost root=default >/dev/null 2>&1
	ceph_cli osd crush add osd.0 1 host=localhost >/dev/null 2>&1
	start_osd_daemon
	wait_for 60 osd_up || {
		echo "ceph-cluster: OSD did not come up within 60 s (see $D/log)" >&2
		return 1
	}
}

make_pool() {
	ceph_cli osd pool create "$POOL" 8 >/dev/null 2>&1
	timeout -k 2 "$CEPH_TIMEOUT" rbd --conf "$D/ceph.conf" pool init "$POOL" >/dev/null 2>&1
	ceph_cli auth get-or-create client.idm mon 'profile rbd' osd "profile rbd pool=$POOL" \
		>"$D/client.idm.keyring"
	chmod 600 "$D/client.idm.keyring"
	# So that every client (rbd CLI, fio, tgt-rbd) finds the key from the id alone.
	printf '[client.idm]\nkeyring = %s\n' "$D/client.idm.keyring" >>"$D/ceph.conf"
}

start() {
	local fsid port
	for p in ceph-mon ceph-osd ceph ceph-authtool monmaptool rbd; do
		command -v "$p" >/dev/null || {
			echo "ceph-cluster: $p not installed (scripts/deps.sh)" >&2
			exit 3
		}
	done
	if [[ -e $D && -n $(ls -A "$D" 2>/dev/null) ]]; then
		echo "ceph-cluster: $D exists and is not empty" >&2
		exit 2
	fi
	mkdir -p "$D"/{mon,run,log}
	D=$(cd "$D" && pwd)
	trap 'echo "ceph-cluster: start failed; stopping what started" >&2; stop_all' ERR
	fsid=$(cat /proc/sys/kernel/random/uuid)
	port=$(free_port)
	write_conf "$fsid" "$port"
	make_keys
	start_mon "$fsid" "$port"
	start_osd
	make_pool
	trap - ERR
	cat >"$D/env" <<ENV
CEPH_CONF=$D/ceph.conf
CEPH_CLIENT_ID=idm
CEPH_CLIENT_KEYRING=$D/client.idm.keyring
CEPH_POOL=$POOL
ENV
	cat "$D/env"
}

case $CMD in
start) start ;;
stop) stop_all ;;
kill-osd) stop_pidfile "$D/run/osd.0.pid" ;;
start-osd) start_osd_daemon && wait_for 60 osd_up ;;
kill-mon) stop_pidfile "$D/run/mon.a.pid" ;;
start-mon) ceph-mon --conf "$D/ceph.conf" -i a && wait_for 30 ceph_cli -s ;;
*) usage ;;
esac
