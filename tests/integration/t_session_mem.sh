#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Memory per idle session (issue 8): idmd with default tunables holds SESSIONS (1000) idle
# TCP sessions logged in by tests/integration/idle_sessions, and its resident memory grows
# by less than MAX_KIB (64) KiB per session. Each session ran one TEST UNIT READY: nothing
# sized by the queue depth may stay allocated for it (the task table grows on demand).
# Under ASan (idmd linked with libasan) redzones and shadow memory inflate every allocation:
# the bound is then doubled (128 KiB; measured 45 KiB, and the old 162 KiB task table alone
# would exceed it). Under a wrapper (valgrind) the tool's own memory counts as idmd's: the
# test skips. About 10 s.
. "$(dirname "$0")/lib.sh"

require_idmd
CLIENT=$IDM_BUILD/tests/integration/idle_sessions
[[ -x $CLIENT ]] || fail "$CLIENT not built"
SESSIONS=${SESSIONS:-1000}
MAX_KIB=64
[[ -z $IDMD_WRAPPER ]] || skip "idmd under a wrapper: its RSS includes the wrapper's own memory"
# (ldd's whole output first: grep -q quitting early would SIGPIPE it, failing the pipe)
if [[ $(ldd "$IDMD" 2>/dev/null) == *libasan* ]]; then
	MAX_KIB=$((MAX_KIB * 2))
	log "ASan build: bound scaled to $MAX_KIB KiB per session"
fi
# one descriptor per connection in idmd and in the client, plus slack
ulimit -n "$(ulimit -Hn)" 2>/dev/null
(($(ulimit -n) >= SESSIONS + 64)) || skip "open-file hard limit $(ulimit -Hn) < $((SESSIONS + 64))"
# ASan's quarantine would count freed login buffers as resident
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"

CLIENT_PID=
stop_client() {
	exec 4>&- 2>/dev/null
	if [[ -n $CLIENT_PID ]]; then
		kill -TERM "$CLIENT_PID" 2>/dev/null
		wait "$CLIENT_PID" 2>/dev/null
		CLIENT_PID=
	fi
}
trap 'stop_client; on_exit' EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

IQN=iqn.2026-11.org.idm:session-mem
PORT=$(free_port) || exit 1
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun null:1G
sleep 0.5
before=$(rss_kib "$IDMD_PID")

# the client holds its sessions until its stdin (the fifo on fd 4) closes
mkfifo "$TEST_TMP/hold"
"$CLIENT" -p "127.0.0.1:$PORT" -t "$IQN" -n "$SESSIONS" <"$TEST_TMP/hold" \
	>"$TEST_LOGDIR/client.log" 2>&1 &
CLIENT_PID=$!
exec 4>"$TEST_TMP/hold"
for ((i = 0; i < CLIENT_TIMEOUT * 10; i++)); do
	grep -q '^logged-in' "$TEST_LOGDIR/client.log" && break
	kill -0 "$CLIENT_PID" 2>/dev/null || break
	sleep 0.1
done
grep -q '^logged-in' "$TEST_LOGDIR/client.log" ||
	fail "$SESSIONS sessions did not log in: $(tail -n 1 "$TEST_LOGDIR/client.log")"
sleep 1 # deferred work of the last logins
after=$(rss_kib "$IDMD_PID")
per=$(((after - before) / SESSIONS))
log "$SESSIONS idle sessions: idmd RSS $before -> $after KiB, $per KiB per session (bound $MAX_KIB)"
stop_client
((per < MAX_KIB)) || fail "$per KiB of resident memory per idle session, bound $MAX_KIB KiB"
idmd_alive || fail "idmd died"
idmd_stop
echo "PASS"
