#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Shutdown with I/O in flight: on SIGTERM idmd sends every logged-in initiator an
# Asynchronous Message asking it to log out (RFC 7143 11.9.1, AsyncEvent 1) and waits
# for the logouts (the shutdown grace period) before closing what is left. Proven with
# two initiators running writes at the time: idm's idmio and libiscsi's iscsi-perf.
# idmd must exit 0 within the grace period, and both sessions must have logged out on
# request (not been cut off).
. "$(dirname "$0")/lib.sh"

require_idmd
require_prog iscsi-perf
IDMIO=${IDMIO:-$IDM_BUILD/idmio}
[[ -x $IDMIO ]] || fail "$IDMIO not built"

IQN=iqn.2026-11.org.idm:async
PORT=$(free_port) || exit 1
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun mem:256M --lun mem:256M
URL=iscsi://127.0.0.1:$PORT/$IQN

# Two initiators with I/O queued: idmio writing LUN 0, iscsi-perf reading LUN 1.
# libiscsi reconnects after a logout and ignores SIGTERM meanwhile: -k ends it.
"$IDMIO" bench "$URL/0" --rw randwrite --bs 4k --qd 32 --time 30 >"$TEST_LOGDIR/idmio.log" 2>&1 &
idmio_pid=$!
timeout -k 2 40 iscsi-perf -t 30 -m 32 -b 8 "$URL/1" >"$TEST_LOGDIR/iscsi-perf.log" 2>&1 &
perf_pid=$!
sleep 2
kill -0 "$idmio_pid" 2>/dev/null || fail "idmio ended before the shutdown"
start=$SECONDS
idmd_stop
took=$((SECONDS - start))
log "idmd stopped in ${took}s"
grep -q 'every initiator logged out on request (2 connection(s))' "$IDMD_LOG" ||
	fail "the initiators did not both log out on request; see $IDMD_LOG"
((took <= 5 + 2)) || fail "idmd took ${took}s to stop (grace period 5 s)"
for ((i = 0; i < 100; i++)); do
	kill -0 "$idmio_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$idmio_pid" 2>/dev/null && fail "idmio still running after the logout request"
wait "$idmio_pid"
grep -q 'asynchronous message, event 1' "$TEST_LOGDIR/idmio.log" ||
	fail "idmio did not see the logout request; see $TEST_LOGDIR/idmio.log"
kill "$perf_pid" 2>/dev/null
wait "$perf_pid" 2>/dev/null
echo "PASS"
