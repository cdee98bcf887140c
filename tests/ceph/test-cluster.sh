# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Sourced by the integration tests that need a Ceph cluster (after lib.sh): start one in
# $CLUSTER with ceph-cluster.sh and stop it again, keeping its logs.

# ceph_test_cluster_start: start the cluster in $CLUSTER (or fail the test), source its env
# (CEPH_CONF, CEPH_CLIENT_ID, CEPH_CLIENT_KEYRING, CEPH_POOL) and set RBD, the rbd CLI.
ceph_test_cluster_start() {
	log "starting the Ceph cluster"
	t 120 bash "$IDM_ROOT/tests/ceph/ceph-cluster.sh" start "$CLUSTER" >"$TEST_LOGDIR/ceph-start.log" 2>&1 ||
		{
			cat "$TEST_LOGDIR/ceph-start.log" >&2
			fail "the Ceph cluster did not start"
		}
	# shellcheck disable=SC1091 # written by ceph-cluster.sh
	. "$CLUSTER/env"
	# shellcheck disable=SC2034 # for the tests that source this
	RBD=(timeout -k 5 60 rbd --conf "$CEPH_CONF" --id "$CEPH_CLIENT_ID" --keyring "$CEPH_CLIENT_KEYRING")
}

# ceph_test_cluster_stop: stop it (from the EXIT trap), its logs into $TEST_LOGDIR/ceph.
ceph_test_cluster_stop() {
	if [[ -d $CLUSTER ]]; then
		bash "$IDM_ROOT/tests/ceph/ceph-cluster.sh" stop "$CLUSTER"
		mkdir -p "$TEST_LOGDIR/ceph"
		cp -r "$CLUSTER/log/." "$TEST_LOGDIR/ceph/" 2>/dev/null
	fi
}
