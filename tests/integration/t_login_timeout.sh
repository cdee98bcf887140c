#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# login timeout (issue 7): with "login_timeout_s": 30 in the config (and the pre-login
# timeout, which ends at the first Login PDU, as long: issue 8), a TCP connection that
# never sends a Login Request is still open at 28 s and closed by 35 s; idmd stays up and
# exits 0. One idle connection (bash's /dev/tcp), about 30 s.
. "$(dirname "$0")/lib.sh"

require_idmd

IQN=iqn.2026-11.org.idm:login-timeout
PORT=$(free_port) || exit 1
cat >"$TEST_TMP/idmd.json" <<JSON
{
  "portals": [ { "addr": "127.0.0.1", "port": $PORT, "tpgt": 1 } ],
  "targets": [ { "iqn": "$IQN", "luns": [ { "spec": "mem:16M" } ] } ],
  "tunables": { "login_timeout_s": 30, "prelogin_timeout_s": 30 }
}
JSON
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

exec 3<>"/dev/tcp/127.0.0.1/$PORT" || fail "cannot connect to 127.0.0.1:$PORT"
start=$(now_ms)
# read returns >128 on its timeout (connection open), 1 on EOF (closed); idmd sends
# nothing to a connection that has not logged in
read -r -t 28 -u 3 _
rc=$?
elapsed=$(($(now_ms) - start))
((rc > 128)) || fail "idle pre-login connection closed after ${elapsed} ms, expected ~30 s"
log "still open after ${elapsed} ms"
read -r -t 7 -u 3 _
rc=$?
elapsed=$(($(now_ms) - start))
((rc <= 128)) || fail "idle pre-login connection still open after ${elapsed} ms (login_timeout_s 30)"
exec 3<&-
log "closed after ${elapsed} ms"
idmd_alive || fail "idmd died"
idmd_stop
echo "PASS"
