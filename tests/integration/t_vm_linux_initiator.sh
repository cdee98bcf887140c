#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The Linux kernel iSCSI initiator (open-iscsi, iscsi_tcp) against idmd, in a Debian 12
# VM under qemu (software emulation): our own kernel has no SCSI or iSCSI. The guest
# script tests/vm/guest/linux-initiator.sh does the work (discovery, login, ext4,
# copy, logout, login, fsck, compare; without and with CRC32C digests; with idmadm, a
# LUN added live appears after iscsiadm --rescan and LUN 0 grown live shows its new
# size in blockdev --getsize64 without a logout); this passes when
# every one of its RESULT lines says PASS. The guest tree is built once and cached
# (tests/vm/build-rootfs.sh). IDM_VM_TESTS=0 skips the VM tests.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_idmd
[[ ${IDM_VM_TESTS:-1} != 0 ]] || skip "VM tests turned off (IDM_VM_TESTS=0)"
VM=$IDM_ROOT/tests/vm
# t_vm_linux_iser.sh runs the same over iSER: another guest script, the shared one beside it
GUEST_NAME=${VM_GUEST_NAME:-linux-initiator}
GUEST=$VM/guest/$GUEST_NAME.sh
read -r -a EXTRA_FILES <<<"${VM_EXTRA_FILES:-}"
# idmadm for the live administration steps (LUN added, LUN resized under a session)
[[ -x $IDM_BUILD/idmadm ]] && EXTRA_FILES+=("$IDM_BUILD/idmadm")
# the steps that must have passed, whatever else the guest prints
read -r -d '' -a REQUIRED <<<"${VM_REQUIRED:-discovery None_login None_transport None_fsck_compare
	None_backing_file CRC32C_negotiated CRC32C_fsck_compare CRC32C_backing_file
	CHAP_None_fsck_compare chap_bad_secret_refused chap_sha3_256_used idmd_sigterm
	live_lun_seen live_resize_seen live_same_session all}"

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
echo "guest tree ready in $((t1 - t0)) s: $(tail -n 1 "$TEST_LOGDIR/build-rootfs.log")"

VM_LOGS=${TEST_LOGDIR%/*}/vm/$GUEST_NAME
IDMD=$IDMD IDM_VM_LOGDIR=$VM_LOGS IDM_VM_TIMEOUT=${IDM_VM_TIMEOUT:-480} \
	"$VM/run-vm.sh" "$GUEST" "${EXTRA_FILES[@]}"
rc=$?
t2=$(date +%s)
echo "VM run: $((t2 - t1)) s (guest status $rc); guest logs in $VM_LOGS"

out=$VM_LOGS/output.log
[[ -f $out ]] || fail "the guest wrote no output (status $rc); see $VM_LOGS/serial.log"
grep '^RESULT ' "$out"
# figures a guest prints (idmio bench, idmd's connection counters, the failover gap)
grep -E '^(BENCH .*(IOPS|MiB/s|latency|conn:)|COUNTERS |GAP |RETURN_GAP |INFO )' "$out"
# every idmd the guest ran, and our own programs' output (idmio)
for f in "$VM_LOGS"/idmd*.log "$out"; do
	[[ -f $f ]] && sanitizer_report "$f" && {
		grep -m 20 -E -A 10 'Sanitizer|runtime error' "$f" >&2
		fail "sanitizer report in the guest's $(basename "$f")"
	}
done
((rc != 124)) || fail "the VM ran out of time"
((rc == 0)) || fail "guest script exited $rc; failed: $(sed -n 's/^RESULT \([^ ]*\): FAIL.*/\1/p' "$out" | grep -vx all | tr '\n' ' ')"
grep -q '^RESULT .*: FAIL' "$out" && fail "a step failed though the guest exited 0"
for s in "${REQUIRED[@]}"; do
	grep -q "^RESULT $s: PASS" "$out" || fail "step $s did not pass"
done
echo "PASS: $(grep -c '^RESULT .*: PASS' "$out") steps; total $((t2 - t0)) s"
