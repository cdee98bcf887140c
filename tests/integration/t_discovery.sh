#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Discovery and basic identification with libiscsi's tools: iscsi-ls (SendTargets +
# REPORT LUNS), iscsi-inq (INQUIRY), iscsi-readcapacity16 (the LUN size), over a mem
# LUN and a file LUN, on an IPv4 and an IPv6 loopback portal.
. "$(dirname "$0")/lib.sh"

require_idmd
require_prog iscsi-ls iscsi-inq iscsi-readcapacity16

IQN=iqn.2026-11.org.idm:discovery
MEM_BYTES=$((64 << 20))
FILE_BYTES=$((32 << 20))

# check_portal HOST: idmd listens on HOST:PORT; every tool sees both LUNs right.
check_portal() {
	local host=$1 out url lun
	url="iscsi://$host:$PORT"
	out=$(c iscsi-ls -s "$url" 2>&1) || fail "iscsi-ls -s $url failed: $out"
	echo "$out"
	grep -qF "Target:$IQN" <<<"$out" || fail "iscsi-ls: target $IQN not listed"
	grep -qF "Portal:$host:$PORT" <<<"$out" || fail "iscsi-ls: portal $host:$PORT not listed"
	for lun in 0 1; do
		grep -qE "^Lun:${lun}[[:space:]]+Type:DIRECT_ACCESS" <<<"$out" ||
			fail "iscsi-ls: LUN $lun not listed as DIRECT_ACCESS"
	done
	[[ $(grep -c '^Lun:' <<<"$out") == 2 ]] || fail "iscsi-ls: expected exactly 2 LUNs"

	for lun in 0 1; do
		out=$(c iscsi-inq "$url/$IQN/$lun" 2>&1) || fail "iscsi-inq LUN $lun failed: $out"
		grep -qF "Peripheral Device Type:DIRECT_ACCESS" <<<"$out" ||
			fail "iscsi-inq LUN $lun: not a direct-access device: $out"
		grep -qF "Peripheral Qualifier:CONNECTED" <<<"$out" ||
			fail "iscsi-inq LUN $lun: not connected: $out"
	done
	check_size "$url/$IQN/0" "$MEM_BYTES"
	check_size "$url/$IQN/1" "$FILE_BYTES"
}

# check_size URL BYTES: READ CAPACITY(16) reports BYTES.
check_size() {
	local out
	out=$(c iscsi-readcapacity16 "$1" 2>&1) || fail "iscsi-readcapacity16 $1 failed: $out"
	grep -qx "Total size:$2" <<<"$out" || fail "iscsi-readcapacity16 $1: expected $2 bytes, got: $out"
	echo "$1: $2 bytes ok"
}

PORT=$(free_port) || exit 1
truncate -s "$FILE_BYTES" "$TEST_TMP/lun1.img"
LUNS=(--lun "mem:$MEM_BYTES" --lun "file:$TEST_TMP/lun1.img:$FILE_BYTES")

idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" "${LUNS[@]}"
check_portal 127.0.0.1
idmd_stop

if ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/'; then
	PORT=$(free_port) || exit 1
	idmd_start --portal "[::1]:$PORT" --target "$IQN" "${LUNS[@]}"
	check_portal "[::1]"
	idmd_stop
else
	log "no ::1 on lo; IPv6 portal not tested"
fi
echo "PASS"
