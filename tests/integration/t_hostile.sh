#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# hostile (raw sockets): malformed and hostile PDUs while a well-behaved session keeps
# doing verified I/O, then CRC32C header+data digests end to end (libiscsi has no data
# digest). idmd must answer each attack with a Reject, a failed login or a closed
# connection, never hang, and still be alive and exit 0 at the end.
. "$(dirname "$0")/lib.sh"

require_idmd
need_test_prog HOSTILE hostile

IQN=iqn.2026-11.org.idm:hostile
PORT=$(free_port) || exit 1
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun mem:64M
c "$HOSTILE" -p "127.0.0.1:$PORT" -t "$IQN" -m hostile || fail "hostile cases (good session plain)"
idmd_alive || fail "idmd died under the hostile cases"
c "$HOSTILE" -p "127.0.0.1:$PORT" -t "$IQN" -m hostile -d ||
	fail "hostile cases (good session with digests)"
idmd_alive || fail "idmd died under the hostile cases"
c "$HOSTILE" -p "127.0.0.1:$PORT" -t "$IQN" -m digest || fail "CRC32C digest session"
idmd_alive || fail "idmd died in the digest session"
idmd_stop
echo "PASS"
