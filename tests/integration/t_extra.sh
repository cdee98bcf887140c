#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# iscsi_extra (libiscsi): SendTargets discovery, REPORT LUNS, NOP-Out ping, a 1 MiB
# write+read compare, logout and relogin; on a target with a mem and a file LUN, with
# and without CRC32C header digests.
. "$(dirname "$0")/lib.sh"

require_idmd
need_test_prog EXTRA iscsi_extra

IQN=iqn.2026-11.org.idm:extra
PORT=$(free_port) || exit 1
truncate -s 32M "$TEST_TMP/lun1.img"
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" \
	--lun mem:32M --lun "file:$TEST_TMP/lun1.img:32M" --lun null:1G
for lun in 0 1; do
	c "$EXTRA" -p "127.0.0.1:$PORT" -t "$IQN" -n 3 -l "$lun" || fail "iscsi_extra LUN $lun"
	c "$EXTRA" -p "127.0.0.1:$PORT" -t "$IQN" -n 3 -l "$lun" -d ||
		fail "iscsi_extra LUN $lun with header digests"
done
idmd_alive || fail "idmd died"
idmd_stop
echo "PASS"
