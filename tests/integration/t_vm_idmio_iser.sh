#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Our initiator (idmio) over iSER, in the test VM on a Soft-RoCE device: against tgtd's
# iSER target and against idmd's iSER transport (inquiry, readcap, write/read/compare,
# copy both ways, bench with the counters: bytes_copied must be 0), idmd's own counters,
# a config idmd (copy threshold, a TCP-only target), and `--transport auto` falling back
# to TCP where there is no RDMA route. The guest script is tests/vm/guest/idmio-iser.sh;
# the VM machinery and the checks are t_vm_linux_initiator.sh's. The bench figures land
# in this test's log. IDM_VM_TESTS=0 skips it (exit 77).
here=$(cd "$(dirname "$0")" && pwd)
IDMIO=${IDM_BUILD:-$here/../../build}/idmio
if [[ ${IDM_VM_TESTS:-1} != 0 && ! -x $IDMIO ]]; then
	echo "FAIL: no idmio at $IDMIO (build first)"
	exit 1
fi
# one vCPU: another VM test may run beside this one
export IDM_VM_CPUS=${IDM_VM_CPUS:-1}
export TEST_NAME=${TEST_NAME:-t_vm_idmio_iser}
export VM_GUEST_NAME=idmio-iser
export VM_EXTRA_FILES=$IDMIO
export VM_REQUIRED="setup_net tcp_only_start setup_rdma tgtd_start tgtd_discover tgtd_inquiry tgtd_readcap
	tgtd_rw_small tgtd_rw_large tgtd_bench_randread tgtd_bench_randwrite idmd_start idmd_discover idmd_inquiry idmd_readcap
	idmd_rw_small idmd_rw_odd idmd_rw_large idmd_copy idmd_bench_randread
	idmd_bench_randwrite idmd_sigterm idmd_counters config_start
	config_bench_nocopy config_target_tcp_only config_sigterm config_nocopy_counters auto_start auto_falls_back_to_tcp
	iser_refused_on_loopback auto_sigterm
	auto_connect_falls_back_to_tcp tcp_only_sigterm all"
exec bash "$here/t_vm_linux_initiator.sh"
