#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The rbd store's gateway-group ops (struct idm_backing_cluster_ops) over a real single-node
# Ceph cluster (tests/ceph/ceph-cluster.sh), with rbd_cluster_check opening one image as two
# stores, each with its own client, as two gateways do:
#   1. medium id equal on both; the lock holder each reports follows the writes; an explicit
#      move (gateway_take) and a write of the old holder afterwards (cooperative lock), data
#      intact; shared records: compare-and-swap on the version (20 two-writer races, one
#      -ECANCELED each), every watcher's changed() done before the writer returns; gateway 1
#      blocklisted: it reopens, publishes its new address, watches again;
#   2. failover: a third gateway (a child process) holds the lock and is SIGKILLed; gateway 1's
#      next write waits for the OSD to time its header watch out, breaks the lock (blocklisting
#      the dead client) and goes through. The OSDs' osd_client_watch_timeout is set to
#      WATCH_TIMEOUT s (Ceph's default is 30 s) and the write must complete within it + 5 s;
#   3. an image without the exclusive-lock feature: gateway_join refused.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/ceph/test-cluster.sh
. "$IDM_ROOT/tests/ceph/test-cluster.sh"

require_prog ceph-mon ceph-osd rbd ceph
need_test_prog CHECK rbd_cluster_check

CLUSTER=$TEST_TMP/ceph
WATCH_TIMEOUT=${WATCH_TIMEOUT:-5}

cleanup() {
	ceph_test_cluster_stop
	on_exit
}
trap cleanup EXIT

ceph_test_cluster_start
# Read by the OSD when a watch is registered: set before any client opens an image.
timeout -k 2 20 ceph --conf "$CEPH_CONF" config set osd osd_client_watch_timeout "$WATCH_TIMEOUT" ||
	fail "ceph config set osd_client_watch_timeout"
"${RBD[@]}" create "$CEPH_POOL/gw" --size 64M || fail "rbd create gw"
"${RBD[@]}" create "$CEPH_POOL/failover" --size 64M || fail "rbd create failover"
"${RBD[@]}" create "$CEPH_POOL/nolock" --size 64M --image-feature layering || fail "rbd create nolock"

bad=0
run() {
	local name=$1 out=$TEST_LOGDIR/$1.log
	shift
	t "$@" >"$out" 2>&1
	local rc=$?
	cat "$out"
	if ((rc != 0)) || grep -q '^FAIL' "$out"; then
		echo "rbd_cluster_check $name failed (exit $rc, see $out)"
		bad=1
	fi
}

run check 60 "$CHECK" "$CEPH_CONF" "$CEPH_CLIENT_ID" "$CEPH_CLIENT_KEYRING" "$CEPH_POOL/gw" check
run failover 60 "$CHECK" "$CEPH_CONF" "$CEPH_CLIENT_ID" "$CEPH_CLIENT_KEYRING" "$CEPH_POOL/failover" failover
run nolock 30 "$CHECK" "$CEPH_CONF" "$CEPH_CLIENT_ID" "$CEPH_CLIENT_KEYRING" "$CEPH_POOL/nolock" nolock
took=$(sed -n 's/.*write completed after \([0-9]*\) ms.*/\1/p' "$TEST_LOGDIR/failover.log")
if [[ -z $took ]] || ((took > (WATCH_TIMEOUT + 5) * 1000)); then
	echo "failover took ${took:-?} ms with osd_client_watch_timeout $WATCH_TIMEOUT s"
	bad=1
fi

((bad == 0)) || fail "rbd cluster checks failed (logs in $TEST_LOGDIR)"
echo "PASS"
