# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
#
# Helpers for the integration tests (tests/integration/t_*.sh). Source it first:
#   . "$(dirname "$0")/lib.sh"
# Everything runs on loopback. Environment:
#   IDMD          the daemon under test (default: build/idmd)
#   IDM_BUILD     the build directory holding the test programs (default: build)
#   IDMD_WRAPPER  optional command put in front of idmd, e.g. "valgrind --error-exitcode=99"
#   IDM_TEST_LOGDIR  where logs go (default: build/test-logs)
# A test exits 0 (pass), 77 (skipped, reason on a "SKIP:" line) or anything else (fail).

set -uo pipefail

IDM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IDM_BUILD=${IDM_BUILD:-$IDM_ROOT/build}
if [[ -z ${IDMD:-} ]]; then
	IDMD=$IDM_BUILD/idmd
fi
IDMD_WRAPPER=${IDMD_WRAPPER:-}
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
TEST_LOGDIR=${IDM_TEST_LOGDIR:-$IDM_BUILD/test-logs}/$TEST_NAME
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-60}   # seconds allowed to any single client call
STOP_TIMEOUT=${STOP_TIMEOUT:-15}       # seconds idmd has to exit after SIGTERM
START_TIMEOUT=${START_TIMEOUT:-20}     # seconds idmd has to start listening
mkdir -p "$TEST_LOGDIR"
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/idm-$TEST_NAME.XXXXXX")

IDMD_PID=
IDMD_LOG=
IDMD_RC=
IDMD_RUNS=0

log() { printf '[%s] %s: %s\n' "$(date +%H:%M:%S)" "$TEST_NAME" "$*" >&2; }

# fail MSG: end the test as failed (the EXIT trap stops idmd).
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# skip REASON: end the test as skipped; run-all.sh prints the reason.
skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# require_idmd: the daemon must exist; say clearly which path was expected.
require_idmd() {
	[[ -x $IDMD ]] || fail "$IDMD not found (idmd not built)"
}

# require_prog NAME...: skip when a client program is not installed.
require_prog() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null || skip "$p not installed (scripts/deps.sh)"
	done
}

# t SECONDS CMD...: run a client with a hard time limit (never a hang).
t() {
	local secs=$1
	shift
	timeout -k 5 "$secs" "$@"
}

# c CMD...: run a client under the default client time limit.
c() {
	t "$CLIENT_TIMEOUT" "$@"
}

# port_listening PORT: true when some socket listens on TCP PORT.
port_listening() {
	ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# free_port: print a loopback TCP port nobody listens on, below the kernel's ephemeral
# range (32768-60999 by default), where a client's own socket could hold it.
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		if ! port_listening "$p" && ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	fail "no free port found"
}

# portal_port ARGS...: the port of the first --portal ADDR:PORT in idmd's arguments.
portal_port() {
	while (($#)); do
		if [[ $1 == --portal && $# -ge 2 ]]; then
			echo "${2##*:}"
			return 0
		fi
		shift
	done
	return 1
}

# sanitizer_report LOG: true when LOG holds an ASan/UBSan/LSan/valgrind error.
sanitizer_report() {
	grep -qE 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|SUMMARY: (Address|Undefined|Leak)|ERROR SUMMARY: [1-9]' "$1"
}

# idmd_start ARGS...: start idmd in the background with ARGS, log to a file, wait until
# its portal listens (the port of --portal, or $IDMD_PORT with --config). Sets IDMD_PID,
# IDMD_LOG and IDMD_CTL (its control socket: the test's own unless ARGS name one or
# IDMD_CTL_FROM_CONFIG is set, so tests never share the default /run/idm/idmd.sock). Fails with the log tail if idmd
# dies or never listens.
idmd_start() {
	local port i
	require_idmd
	port=$(portal_port "$@") || port=${IDMD_PORT:?idmd_start: no --portal and no IDMD_PORT}
	IDMD_RUNS=$((IDMD_RUNS + 1))
	if [[ " $* " != *" --control-socket "* && -z ${IDMD_CTL_FROM_CONFIG:-} ]]; then
		IDMD_CTL=$TEST_TMP/ctl.$IDMD_RUNS.sock
		set -- "$@" --control-socket "$IDMD_CTL"
	fi
	IDMD_LOG=$TEST_LOGDIR/idmd.$IDMD_RUNS.log
	echo "+ $IDMD $*" >"$IDMD_LOG"
	# shellcheck disable=SC2086 # the wrapper is a word list on purpose
	$IDMD_WRAPPER "$IDMD" "$@" >>"$IDMD_LOG" 2>&1 </dev/null &
	IDMD_PID=$!
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		if ! kill -0 "$IDMD_PID" 2>/dev/null; then
			wait "$IDMD_PID"
			IDMD_RC=$?
			IDMD_PID=
			tail -n 20 "$IDMD_LOG" >&2
			fail "idmd exited (status $IDMD_RC) before listening on port $port"
		fi
		port_listening "$port" && return 0
		sleep 0.1
	done
	tail -n 20 "$IDMD_LOG" >&2
	fail "idmd did not listen on port $port within ${START_TIMEOUT}s"
}

# idmd_alive: true while the idmd we started runs.
idmd_alive() {
	[[ -n $IDMD_PID ]] && kill -0 "$IDMD_PID" 2>/dev/null
}

# idmd_stop: SIGTERM the idmd we started; it must exit 0 within STOP_TIMEOUT seconds
# and leave no sanitizer report in its log.
idmd_stop() {
	local i
	[[ -n $IDMD_PID ]] || fail "idmd_stop: idmd is not running"
	kill -0 "$IDMD_PID" 2>/dev/null || {
		wait "$IDMD_PID"
		IDMD_RC=$?
		IDMD_PID=
		tail -n 20 "$IDMD_LOG" >&2
		fail "idmd died before it was stopped (status $IDMD_RC)"
	}
	kill -TERM "$IDMD_PID"
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		kill -0 "$IDMD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$IDMD_PID" 2>/dev/null; then
		kill -KILL "$IDMD_PID" 2>/dev/null
		wait "$IDMD_PID" 2>/dev/null
		IDMD_PID=
		tail -n 20 "$IDMD_LOG" >&2
		fail "idmd did not exit within ${STOP_TIMEOUT}s of SIGTERM"
	fi
	wait "$IDMD_PID"
	IDMD_RC=$?
	IDMD_PID=
	if sanitizer_report "$IDMD_LOG"; then
		grep -m 20 -E -A 10 'Sanitizer|runtime error|ERROR SUMMARY' "$IDMD_LOG" >&2
		fail "sanitizer/valgrind report in $IDMD_LOG"
	fi
	if ((IDMD_RC != 0)); then
		tail -n 20 "$IDMD_LOG" >&2
		fail "idmd exited with status $IDMD_RC after SIGTERM (expected 0)"
	fi
}

# on_exit: never leave an idmd behind; keep the logs, drop the scratch files.
on_exit() {
	if [[ -n $IDMD_PID ]] && kill -0 "$IDMD_PID" 2>/dev/null; then
		kill -TERM "$IDMD_PID" 2>/dev/null
		sleep 1
		kill -KILL "$IDMD_PID" 2>/dev/null
	fi
	rm -rf "$TEST_TMP"
}
trap on_exit EXIT

# tgtd_start WHY: a tgtd of our own (Debian tgt) on a free loopback port, stopped on exit;
# skips the rest of the test ("tgtd not installed (WHY)") without it. Sets TPORT, CPORT,
# TGT_PID, TGT_LOG and TA (tgtadm on its control channel, --lld iscsi).
tgtd_start() {
	if ! command -v tgtd >/dev/null || ! command -v tgtadm >/dev/null; then
		skip "tgtd not installed ($1)"
	fi
	TPORT=$(free_port) || exit 1
	# tgtd's control channel number (-C) must stay below 32768, and must not
	# collide with another tgtd's socket
	CPORT=$((TPORT % 30000 + 1000))
	while [[ -e /var/run/tgtd/socket.$CPORT ]]; do CPORT=$((CPORT + 1)); done
	TGT_LOG=$TEST_LOGDIR/tgtd.log
	mkdir -p /var/run/tgtd
	tgtd -f -C "$CPORT" --iscsi "portal=127.0.0.1:$TPORT" >"$TGT_LOG" 2>&1 </dev/null &
	TGT_PID=$!
	trap tgtd_stop EXIT
	for _ in $(seq 50); do
		port_listening "$TPORT" && [[ -S /var/run/tgtd/socket.$CPORT ]] && break
		sleep 0.1
	done
	port_listening "$TPORT" || fail "tgtd did not listen (see $TGT_LOG)"
	TA=(tgtadm -C "$CPORT" --lld iscsi)
}

# tgtd_stop: the exit trap of tgtd_start (then on_exit).
tgtd_stop() {
	if [[ -n ${TGT_PID:-} ]] && kill -0 "$TGT_PID" 2>/dev/null; then
		# tgtd leaves on a system delete; a signal is the fallback
		tgtadm -C "$CPORT" --op delete --mode system >/dev/null 2>&1 ||
			kill -TERM "$TGT_PID" 2>/dev/null
		for _ in $(seq 30); do kill -0 "$TGT_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$TGT_PID" 2>/dev/null
		wait "$TGT_PID" 2>/dev/null
	fi
	TGT_PID=
	on_exit
}

# need_test_prog VAR NAME: set VAR to the path of test program NAME built by
# tests/integration/meson.build; skip the test when it was not built.
need_test_prog() {
	local -n out_var=$1
	local p=$IDM_BUILD/tests/integration/$2
	[[ -x $p ]] || skip "$p not built (libiscsi-dev or libisal-dev missing?)"
	# shellcheck disable=SC2034 # a nameref: sets the caller's variable
	out_var=$p
}

log "idmd=$IDMD logs=$TEST_LOGDIR"
