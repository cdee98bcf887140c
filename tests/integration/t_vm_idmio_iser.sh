#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Our initiator (idmio) over iSER, in the test VM on a Soft-RoCE device: against tgtd's
# iSER target and against idmd's iSER transport (inquiry, readcap, write/read/compare,
# copy both ways, bench with the counters: bytes_copied must be 0), and `--transport
# auto` falling back to TCP where there is no RDMA route. The guest script is
# tests/vm/guest/idmio-iser.sh; this passes when every one of its RESULT lines says
# PASS and the required steps are there. The bench figures land in this test's log.
# IDM_VM_TESTS=0 skips it (exit 77).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_idmd
[[ ${IDM_VM_TESTS:-1} != 0 ]] || skip "VM tests turned off (IDM_VM_TESTS=0)"
IDMIO=$IDM_BUILD/idmio
[[ -x $IDMIO ]] || fail "no idmio at $IDMIO (build first)"
VM=$IDM_ROOT/tests/vm
GUEST=$VM/guest/idmio-iser.sh
# one vCPU: another VM test may run beside this one
export IDM_VM_CPUS=${IDM_VM_CPUS:-1}
REQUIRED=(setup_net tcp_only_start setup_rdma tgtd_start tgtd_discover tgtd_inquiry tgtd_readcap
	tgtd_rw_small tgtd_rw_large tgtd_bench_randread tgtd_bench_randwrite idmd_start idmd_discover idmd_inquiry idmd_readcap
	idmd_rw_small idmd_rw_odd idmd_rw_large idmd_copy idmd_bench_randread
	idmd_bench_randwrite idmd_sigterm idmd_counters config_start
	config_bench_nocopy config_target_tcp_only config_sigterm config_nocopy_counters auto_start auto_falls_back_to_tcp
	iser_refused_on_loopback auto_sigterm
	auto_connect_falls_back_to_tcp tcp_only_sigterm all)

if ! command -v qemu-system-x86_64 >/dev/null || ! command -v debootstrap >/dev/null; then
	(($(id -u) == 0)) || skip "qemu-system-x86/debootstrap missing and not root to install them"
	command -v apt-get >/dev/null || skip "qemu-system-x86/debootstrap missing and no apt-get"
fi

t0=$(date +%s)
"$VM/build-rootfs.sh" >"$TEST_LOGDIR/build-rootfs.log" 2>&1 || {
	tail -n 20 "$TEST_LOGDIR/build-rootfs.log" >&2
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 cannot be installed here"
	fail "building the guest tree failed (see $TEST_LOGDIR/build-rootfs.log)"
}
t1=$(date +%s)

VM_LOGS=${IDM_VM_LOGDIR:-${TEST_LOGDIR%/*}/vm/idmio-iser}
IDMD=$IDMD IDM_VM_LOGDIR=$VM_LOGS IDM_VM_TIMEOUT=${IDM_VM_TIMEOUT:-600} \
	"$VM/run-vm.sh" "$GUEST" "$IDMIO"
rc=$?
t2=$(date +%s)
echo "VM run: $((t2 - t1)) s (guest status $rc); guest logs in $VM_LOGS"

out=$VM_LOGS/output.log
[[ -f $out ]] || fail "the guest wrote no output (status $rc); see $VM_LOGS/serial.log"
grep '^RESULT ' "$out"
# the figures: IOPS, MiB/s, latency and the connection counters of each bench
grep -E '^(BENCH .*(IOPS|MiB/s|latency|conn:)|COUNTERS )' "$out"
for f in "$VM_LOGS"/idmd*.log; do
	[[ -f $f ]] && sanitizer_report "$f" && {
		grep -m 20 -E -A 10 'Sanitizer|runtime error' "$f" >&2
		fail "sanitizer report in the guest's $(basename "$f")"
	}
done
sanitizer_report "$out" && {
	grep -m 20 -E -A 10 'Sanitizer|runtime error' "$out" >&2
	fail "sanitizer report from idmio in the guest"
}
((rc != 124)) || fail "the VM ran out of time"
((rc == 0)) || fail "guest script exited $rc: $(grep -c '^RESULT .*: FAIL' "$out") step(s) failed"
grep -q '^RESULT .*: FAIL' "$out" && fail "a step failed though the guest exited 0"
for s in "${REQUIRED[@]}"; do
	grep -q "^RESULT $s: PASS" "$out" || fail "step $s did not pass"
done
echo "PASS: $(grep -c '^RESULT .*: PASS' "$out") steps; total $((t2 - t0)) s"
