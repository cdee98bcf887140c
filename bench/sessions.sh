#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# What an idle TCP session costs idmd (issue 8): start idmd (one target, a null LUN,
# default tunables), log in N idle sessions (default 1000) with the raw-socket client
# tests/integration/idle_sessions, and print idmd's resident memory before and after and
# the growth per session in KiB. Loopback only; everything started is stopped by PID.
#
#   bench/sessions.sh [-n N] [--idmd PATH] [--build DIR]
#
# The last line is "sessions N rss_before_kib B rss_after_kib A kib_per_session K".
set -uo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
WORK=$(mktemp -d /tmp/idm-sessions.XXXXXX)
. "$ROOT/bench/lib.sh"

N=1000
BUILD=$ROOT/build
IDMD=
while [[ $# -gt 0 ]]; do
	case $1 in
	-n) N=$2; shift ;;
	--idmd) IDMD=$2; shift ;;
	--build) BUILD=$2; shift ;;
	*) die "usage: $0 [-n N] [--idmd PATH] [--build DIR]" ;;
	esac
	shift
done
IDMD=${IDMD:-$BUILD/idmd}
CLIENT=$BUILD/tests/integration/idle_sessions
IQN=iqn.2026-11.org.idm:sessions
[[ -x $IDMD ]] || die "$IDMD not found (build idmd first: make)"
[[ -x $CLIENT ]] || die "$CLIENT not found (build first: make)"

IDMD_PID=""
CLIENT_PID=""
cleanup() {
	[[ -n $CLIENT_PID ]] && exec 4>&- 2>/dev/null
	stop_pid "$CLIENT_PID"
	stop_pid "$IDMD_PID"
	rm -rf "$WORK"
}
trap cleanup EXIT

# rss_kib PID: resident set size in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# idmd holds one descriptor per connection: give it room (within the hard limit)
ulimit -n "$(ulimit -Hn)" 2>/dev/null
PORT=$(free_port)
# its own control socket: the default one may be held by another idmd
"$IDMD" --portal "127.0.0.1:$PORT" --target "$IQN" --lun null:1G \
	--control-socket "$WORK/ctl.sock" >"$WORK/idmd.log" 2>&1 </dev/null &
IDMD_PID=$!
wait_listen "$PORT" "$IDMD_PID" || { tail "$WORK/idmd.log"; die "idmd did not start"; }
sleep 0.5
before=$(rss_kib "$IDMD_PID")

# the client keeps its sessions until its stdin (fd 4's fifo) is closed
mkfifo "$WORK/hold"
"$CLIENT" -p "127.0.0.1:$PORT" -t "$IQN" -n "$N" <"$WORK/hold" >"$WORK/client.out" 2>&1 &
CLIENT_PID=$!
exec 4>"$WORK/hold"
start=$(date +%s%N)
while ! grep -q '^logged-in' "$WORK/client.out"; do
	kill -0 "$CLIENT_PID" 2>/dev/null || { cat "$WORK/client.out"; die "client failed"; }
	sleep 0.2
done
secs=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN {printf "%.1f", ns / 1e9}')
sleep 1 # let idmd settle (deferred frees, timers)
after=$(rss_kib "$IDMD_PID")
kill -0 "$IDMD_PID" 2>/dev/null || die "idmd died"
log "$N sessions logged in within ${secs}s"
log "idmd RSS before ${before} KiB, after ${after} KiB"
exec 4>&-
wait "$CLIENT_PID"
CLIENT_PID=
awk -v n="$N" -v b="$before" -v a="$after" 'BEGIN {
	printf "sessions %d rss_before_kib %d rss_after_kib %d kib_per_session %.1f\n", n, b, a, (a - b) / n }'
