#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Boot the test VM (Debian 12 under qemu, software emulation, no KVM), run one guest
# script in it as root, bring its output back and exit with the script's status.
#
# Usage: tests/vm/run-vm.sh GUEST_SCRIPT [FILE...]
#   GUEST_SCRIPT  runs in the guest as /idm/guest.sh, in /tmp, with PATH starting at /idm.
#   FILE...       copied next to it in /idm (by base name); build/idmd and guest/lib.sh always are.
# The guest sees the host directory shared over 9p as /idm; whatever the script writes to
# $IDM_VM_OUT (/idm/out) comes back, with its output (output.log), the guest's dmesg and
# the serial console (serial.log), into $IDM_VM_LOGDIR (default build/test-logs/vm/NAME,
# NAME = the script's base name).
# Exit status: the guest script's; 124 when the VM ran out of time; 125 when the VM
# could not run or the guest never reported a status.
# Environment: IDM_VM_CACHE (cache, default ~/.cache/idm-vm), IDM_VM_TIMEOUT (seconds,
# default 600), IDM_VM_MEM (MiB, 2048), IDM_VM_CPUS (2), IDMD (default build/idmd),
# IDM_VM_FLAVOUR and IDM_VM_EXTRA_PACKAGES (boot a tree with more packages, see
# build-rootfs.sh), IDM_VM_SCRATCH (a size such as 4G: an empty scratch disk, /dev/vdb in
# the guest, fresh on every run).
set -uo pipefail

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${IDM_VM_CACHE:-$HOME/.cache/idm-vm}
TIMEOUT=${IDM_VM_TIMEOUT:-600}
MEM=${IDM_VM_MEM:-2048}
CPUS=${IDM_VM_CPUS:-2}
IDMD=${IDMD:-$ROOT/build/idmd}

msg() { echo "run-vm: $*" >&2; }
die() {
	msg "$*"
	exit 125
}

(($# >= 1)) || die "usage: run-vm.sh GUEST_SCRIPT [FILE...]"
SCRIPT=$1
shift
[[ -r $SCRIPT ]] || die "no guest script $SCRIPT"
[[ -x $IDMD ]] || die "$IDMD not built"
NAME=$(basename "$SCRIPT" .sh)
LOGDIR=${IDM_VM_LOGDIR:-$ROOT/build/test-logs/vm/$NAME}

# base_image ROOTFS: print the directory holding root.ext4, vmlinuz and initrd.img made
# from ROOTFS plus our guest-init; made once per tree and guest-init version.
base_image() {
	local rootfs=$1 key dir mib
	key=$(basename "$rootfs")-$(sha256sum <"$HERE/guest-init" | cut -c1-8)
	dir=$CACHE/image-$key
	if [[ ! -f $dir/.idm-complete ]]; then
		msg "making the base image $dir"
		rm -rf "$dir" && mkdir -p "$dir" || return 1
		install -m 0755 "$HERE/guest-init" "$rootfs/sbin/idm-guest-init" || return 1
		# 2 GiB, or the tree and 1 GiB free when a flavour's tree is larger (sparse anyway)
		mib=$(du -sm "$rootfs" | cut -f1)
		mib=$((mib + 1024 > 2048 ? mib + 1024 : 2048))
		truncate -s "${mib}M" "$dir/root.ext4" &&
			mkfs.ext4 -q -F -L idmroot -d "$rootfs" "$dir/root.ext4" || return 1
		cp "$rootfs"/boot/vmlinuz-* "$dir/vmlinuz" &&
			cp "$rootfs"/boot/initrd.img-* "$dir/initrd.img" || return 1
		touch "$dir/.idm-complete"
		# drop older images of the same tree flavour (plain: image-rootfs-KEY-HASH)
		for old in "$CACHE/image-rootfs-${IDM_VM_FLAVOUR:+$IDM_VM_FLAVOUR-}"????????????-????????; do
			[[ $old == "$dir" || ! -d $old ]] || rm -rf "$old"
		done
	fi
	echo "$dir"
}

t0=$(date +%s)
ROOTFS=$("$HERE/build-rootfs.sh" | tail -n 1) || die "no guest tree (tests/vm/build-rootfs.sh failed)"
[[ -d $ROOTFS ]] || die "no guest tree (tests/vm/build-rootfs.sh failed)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not installed"
exec 8>"$CACHE/.image.lock"
flock 8
IMAGE=$(base_image "$ROOTFS") || die "cannot make the base image"
flock -u 8

RUN=$(mktemp -d "$CACHE/run-$NAME.XXXXXX")
SHARE=$RUN/share
QPID=
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap
# cleanup: never leave our qemu behind; drop the run's scratch files.
cleanup() {
	if [[ -n $QPID ]] && kill -0 "$QPID" 2>/dev/null; then
		kill -KILL "$QPID" 2>/dev/null
		wait "$QPID" 2>/dev/null
	fi
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

mkdir -p "$SHARE/out"
install -m 0755 "$SCRIPT" "$SHARE/guest.sh"
install -m 0755 "$IDMD" "$SHARE/idmd"
cp "$HERE/guest/lib.sh" "$SHARE/lib.sh" # result/step for every guest script
for f in "$@"; do
	cp -a "$f" "$SHARE/" || die "cannot copy $f"
done
qemu-img create -q -f qcow2 -b "$IMAGE/root.ext4" -F raw "$RUN/root.qcow2" ||
	die "qemu-img create failed"
SCRATCH=()
if [[ -n ${IDM_VM_SCRATCH:-} ]]; then
	qemu-img create -q -f qcow2 "$RUN/scratch.qcow2" "$IDM_VM_SCRATCH" ||
		die "qemu-img create of the scratch disk failed"
	SCRATCH=(-drive "file=$RUN/scratch.qcow2,if=virtio,format=qcow2,cache=unsafe")
fi

t1=$(date +%s)
msg "booting (tcg, $CPUS vCPUs, $MEM MiB, timeout ${TIMEOUT}s), script $SCRIPT"
qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp "$CPUS" -m "$MEM" \
	-kernel "$IMAGE/vmlinuz" -initrd "$IMAGE/initrd.img" \
	-append "console=ttyS0,115200 root=/dev/vda rw init=/sbin/idm-guest-init panic=1 loglevel=4" \
	-drive "file=$RUN/root.qcow2,if=virtio,format=qcow2,cache=unsafe" "${SCRATCH[@]}" \
	-fsdev "local,id=idm,path=$SHARE,security_model=none" \
	-device "virtio-9p-pci,fsdev=idm,mount_tag=idm" \
	-nic none -display none -monitor none -serial "file:$RUN/serial.log" -no-reboot \
	</dev/null >"$RUN/qemu.log" 2>&1 &
QPID=$!
timed_out=0
deadline=$((t1 + TIMEOUT))
while kill -0 "$QPID" 2>/dev/null; do
	if (($(date +%s) >= deadline)); then
		msg "the VM ran out of time (${TIMEOUT}s): killing qemu (pid $QPID)"
		kill -KILL "$QPID" 2>/dev/null
		timed_out=1
		break
	fi
	sleep 1
done
wait "$QPID" 2>/dev/null
qrc=$?
QPID=
t2=$(date +%s)

rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
cp -a "$SHARE/out/." "$LOGDIR/" 2>/dev/null
cp "$RUN/serial.log" "$RUN/qemu.log" "$LOGDIR/" 2>/dev/null
if ((timed_out)); then
	msg "the guest's output so far:"
	tail -n 20 "$SHARE/out/output.log" >&2 2>/dev/null
	rc=124
elif [[ -s $SHARE/out/status ]]; then
	rc=$(cat "$SHARE/out/status")
else
	msg "the guest reported no status (qemu exit $qrc); serial console tail:"
	tail -n 30 "$RUN/serial.log" >&2
	rc=125
fi
msg "timings: prepare $((t1 - t0)) s, VM $((t2 - t1)) s; guest status $rc; logs in $LOGDIR"
exit "$rc"
