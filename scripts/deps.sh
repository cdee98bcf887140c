#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Install the Debian packages idm needs to build and test, but only those that
# are missing: `apt-get update` runs only when something has to be installed.
# Works as root, or through sudo when it is available.
set -euo pipefail

PACKAGES=(
	gcc meson ninja-build pkg-config
	libisal-dev liburing-dev libjson-c-dev libssl-dev libcmocka-dev
	libibverbs-dev librdmacm-dev libiscsi-dev libiscsi-bin
	tgt qemu-utils qemu-block-extra valgrind iproute2 procps python3
	clang libclang-rt-14-dev # make fuzz: libFuzzer
	ceph-mon ceph-osd ceph-common librbd-dev fio tgt-rbd
	libsystemd-dev libmicrohttpd-dev prometheus mandoc systemd util-linux
)

# is_installed PKG: true when dpkg knows PKG as fully installed.
is_installed() {
	local status
	status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
	[[ $status == installed ]]
}

if ! command -v dpkg-query >/dev/null; then
	echo "deps.sh: not a Debian system (no dpkg-query); install by hand: ${PACKAGES[*]}" >&2
	exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	is_installed "$p" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

SUDO=()
if ((EUID != 0)); then
	if command -v sudo >/dev/null; then
		SUDO=(sudo)
	else
		echo "deps.sh: missing packages (${missing[*]}) and not root, no sudo" >&2
		exit 1
	fi
fi

echo "deps.sh: installing ${missing[*]}" >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	"${missing[@]}"
