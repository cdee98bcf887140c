#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Gateway failover under the Linux initiator with dm-multipath, in the test VM
# (tests/vm/guest/gateway-failover.sh): a single-node Ceph cluster, two idmd gateways over
# one RBD image, open-iscsi logged in to both, multipathd grouping the paths by ALUA
# priority; a writer of sequence-numbered blocks runs while the lock-holding gateway gets
# SIGKILL; the longest pause between two acknowledged writes is printed (failover_gap),
# every acknowledged block must be in the image (rbd export), and the gateway, restarted,
# comes back as a non-optimized path. The guest tree is the "gw" flavour (Ceph and
# multipath-tools on top of the plain tree, built once and cached beside it); the VM gets
# 3 GiB and a scratch disk for the OSD. The VM machinery and the checks are
# t_vm_linux_initiator.sh's.
#
# Not in `make test`: the first run builds the "gw" tree (~11 min here, against ~2 min for
# the plain one), and the VM itself runs ~2.5-3 min. Run it by hand (as root):
#   tests/vm/failover.sh          (IDMD=build-asan/idmd for the ASan+UBSan daemon)
# Logs: build/test-logs/vm_failover/ and build/test-logs/vm/gateway-failover/.
here=$(cd "$(dirname "$0")" && pwd)
export TEST_NAME=${TEST_NAME:-vm_failover}
export IDM_VM_FLAVOUR=gw
export IDM_VM_EXTRA_PACKAGES="ceph-mon ceph-osd ceph-common multipath-tools python3"
export IDM_VM_MEM=${IDM_VM_MEM:-3072}
export IDM_VM_CPUS=${IDM_VM_CPUS:-2}
export IDM_VM_SCRATCH=8G
export IDM_VM_TIMEOUT=${IDM_VM_TIMEOUT:-600}
export VM_GUEST_NAME=gateway-failover
export VM_EXTRA_FILES="$here/../ceph/ceph-cluster.sh $here/guest/seqblocks.py"
export VM_REQUIRED="ceph_start gateway1_start gateway2_start login_both gateway1_holder
	multipath_map alua_groups alua_groups_stay kill_holder gateway2_holder failover_gap return_gap
	acked_blocks_in_image
	gateway1_back_non_optimized all"
exec bash "$here/../integration/t_vm_linux_initiator.sh"
