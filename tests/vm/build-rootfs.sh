#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Build (once) the Debian 12 guest tree the VM tests boot: a stock kernel with the
# iSCSI, SCSI and RDMA modules our own machines lack, open-iscsi, rdma-core, tgt and
# the shared libraries idmd and our test programs need.
#
# Usage: tests/vm/build-rootfs.sh [--force]
# Prints the tree's directory on its last stdout line. The tree lives outside git in
# ${IDM_VM_CACHE:-$HOME/.cache/idm-vm}/rootfs-KEY, where KEY hashes the suite, the
# package list and TREE_VERSION, so changing any of them builds a new tree (older
# trees are removed). Bump TREE_VERSION when the steps below change the tree.
# Needs root (debootstrap, chroot). Installs its own host tools with apt-get.
# Environment: IDM_VM_CACHE (cache directory), MIRROR (Debian mirror; default: the one
# this host's apt uses), IDM_VM_FLAVOUR and IDM_VM_EXTRA_PACKAGES (below).
#
# Flavours: a test that needs more packages than the others (the gateway failover test
# needs Ceph and multipath-tools, ~300 MiB more) names a flavour and its extra packages;
# that tree is rootfs-FLAVOUR-KEY, KEY hashing the extra packages too, and is built and
# cached beside the plain tree, so every other VM test keeps booting the small one.
# Rebuilding a flavour removes only that flavour's older trees.
set -euo pipefail

SUITE=bookworm
TREE_VERSION=1
CACHE=${IDM_VM_CACHE:-$HOME/.cache/idm-vm}

# Guest packages. ibverbs-providers is only a Recommends of libibverbs1, but without it
# no RDMA device (rxe) is visible to userspace. libasan8/libubsan1 let an ASan+UBSan
# build of idmd run in the guest too. librbd1 (the rbd store), libmicrohttpd12 (/metrics)
# and libsystemd0 (sd_notify) are libraries idmd links when they are found at build time.
PKGS=(
	linux-image-amd64 initramfs-tools kmod udev procps iproute2 util-linux e2fsprogs
	open-iscsi tgt rdma-core ibverbs-providers ibverbs-utils rdmacm-utils
	sg3-utils lsscsi
	libisal2 liburing2 libjson-c5 libssl3 libibverbs1 librdmacm1 libiscsi7 libiscsi-bin
	libasan8 libubsan1 librbd1 librados2 libmicrohttpd12 libsystemd0
)

# a flavour's name, and the packages it adds to PKGS (space-separated)
FLAVOUR=${IDM_VM_FLAVOUR:-}
read -r -a EXTRA_PKGS <<<"${IDM_VM_EXTRA_PACKAGES:-}"
if [[ -n $FLAVOUR && ! $FLAVOUR =~ ^[a-z][a-z0-9]*$ ]]; then
	echo "build-rootfs: IDM_VM_FLAVOUR must be lower-case letters and digits" >&2
	exit 2
fi
if [[ -z $FLAVOUR && ${#EXTRA_PKGS[@]} -gt 0 ]]; then
	echo "build-rootfs: IDM_VM_EXTRA_PACKAGES needs IDM_VM_FLAVOUR (the tree's name)" >&2
	exit 2
fi

force=0
[[ ${1:-} == --force ]] && force=1

msg() { echo "build-rootfs: $*" >&2; }
die() {
	msg "$*"
	exit 2
}

# host_tools: install what this script and run-vm.sh need on the host, when missing.
host_tools() {
	local need=()
	command -v debootstrap >/dev/null || need+=(debootstrap)
	command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
	command -v qemu-img >/dev/null || need+=(qemu-utils)
	command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
	((${#need[@]} == 0)) && return 0
	msg "installing host packages: ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends "${need[@]}" >&2; } ||
		die "cannot install ${need[*]}"
}

# host_mirror: the Debian archive this host's apt already uses (not the security one).
host_mirror() {
	local m
	m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources \
		2>/dev/null | grep -E '/debian/?$' | head -n 1 || true)
	if [[ -z $m && -r /etc/apt/sources.list ]]; then
		m=$(awk '$1 == "deb" && $0 ~ /bookworm/ && $0 !~ /security/ { print $2; exit }' \
			/etc/apt/sources.list)
	fi
	echo "$m"
}

# the plain tree's key (and directory) stay what they were before flavours existed
key=$(printf '%s\n' "$SUITE" "$TREE_VERSION" "${PKGS[@]}" "${EXTRA_PKGS[@]}" | sha256sum | cut -c1-12)
ROOTFS=$CACHE/rootfs-${FLAVOUR:+$FLAVOUR-}$key
PKGS+=("${EXTRA_PKGS[@]}")
if [[ -f $ROOTFS/.idm-complete && $force == 0 ]]; then
	echo "$ROOTFS"
	exit 0
fi

(($(id -u) == 0)) || die "debootstrap needs root"
host_tools
MIRROR=${MIRROR:-$(host_mirror)}
[[ -n $MIRROR ]] || die "no Debian mirror in /etc/apt/sources.list*; set MIRROR"

mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
flock 9
# another run may have built it while this one waited for the lock
if [[ -f $ROOTFS/.idm-complete && $force == 0 ]]; then
	echo "$ROOTFS"
	exit 0
fi
start=$(date +%s)
rm -rf "$ROOTFS" "$ROOTFS.tmp"
msg "debootstrap $SUITE from $MIRROR into $ROOTFS.tmp (a few minutes)"
pkgs=$(IFS=,; echo "${PKGS[*]}")
debootstrap --variant=minbase --include="$pkgs" "$SUITE" "$ROOTFS.tmp" "$MIRROR" >&2 ||
	die "debootstrap failed (see $ROOTFS.tmp/debootstrap/debootstrap.log)"
chroot "$ROOTFS.tmp" apt-get clean
echo idm-vm >"$ROOTFS.tmp/etc/hostname"
# a fixed initiator name: the guest has no systemd unit to generate one
echo "InitiatorName=iqn.2026-11.org.idm:vm-initiator" >"$ROOTFS.tmp/etc/iscsi/initiatorname.iscsi"
ls "$ROOTFS.tmp"/boot/vmlinuz-* "$ROOTFS.tmp"/boot/initrd.img-* >/dev/null ||
	die "no kernel or initrd in the tree"
touch "$ROOTFS.tmp/.idm-complete"
mv "$ROOTFS.tmp" "$ROOTFS"
# drop this flavour's trees built from an older package list (the plain tree's
# directories are rootfs-KEY, a flavour's rootfs-FLAVOUR-KEY; KEY is 12 hex digits)
for old in "$CACHE/rootfs-${FLAVOUR:+$FLAVOUR-}"????????????; do
	[[ $old == "$ROOTFS" || ! -d $old ]] || rm -rf "$old"
done
msg "done in $(($(date +%s) - start)) s"
echo "$ROOTFS"
