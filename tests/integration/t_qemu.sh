#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# QEMU's iscsi block driver (libiscsi inside qemu-img): 64 MiB of random data to the
# LUN and back, compared byte for byte; over a mem LUN and a file LUN, with and without
# CRC32C header digests (qemu's header-digest option).
. "$(dirname "$0")/lib.sh"

require_idmd
require_prog qemu-img
[[ -e /usr/lib/x86_64-linux-gnu/qemu/block-iscsi.so ]] || qemu-img --help 2>/dev/null |
	grep -q 'Supported formats:.*iscsi' || skip "qemu's iscsi driver missing (qemu-block-extra)"

IQN=iqn.2026-11.org.idm:qemu
MIB=64
PORT=$(free_port) || exit 1

dd if=/dev/urandom of="$TEST_TMP/src.raw" bs=1M count=$MIB status=none
truncate -s ${MIB}M "$TEST_TMP/lun1.img"
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" \
	--lun "mem:${MIB}M" --lun "file:$TEST_TMP/lun1.img:${MIB}M"

# roundtrip LUN DIGEST: write the source over the whole LUN, read the LUN back, compare.
roundtrip() {
	local lun=$1 digest=$2 opts back=$TEST_TMP/back.raw
	opts="driver=iscsi,transport=tcp,portal=127.0.0.1:$PORT,target=$IQN,lun=$lun"
	opts+=",header-digest=$digest"
	rm -f "$back"
	c qemu-img info --image-opts "$opts" || fail "qemu-img info LUN $lun ($digest) failed"
	c qemu-img convert -n -f raw --target-image-opts "$TEST_TMP/src.raw" "$opts" ||
		fail "qemu-img convert to LUN $lun ($digest) failed"
	c qemu-img convert --image-opts "$opts" -O raw "$back" ||
		fail "qemu-img convert from LUN $lun ($digest) failed"
	cmp "$TEST_TMP/src.raw" "$back" || fail "LUN $lun ($digest): data read back differs"
	echo "LUN $lun header-digest=$digest: $MIB MiB round trip ok"
	# overwrite the source so the next round trip cannot pass on stale data
	dd if=/dev/urandom of="$TEST_TMP/src.raw" bs=1M count=$MIB status=none
}

for lun in 0 1; do
	for digest in none crc32c; do
		roundtrip "$lun" "$digest"
	done
done
idmd_alive || fail "idmd died"
idmd_stop
echo "PASS"
