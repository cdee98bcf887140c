#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Churn and leaks (issue 8): 10,000 login/logout cycles (normal and discovery, CHAP and
# not; libiscsi through limits_client) and then 1,000 concurrent sessions, all closed:
# idmd's open descriptors come back to their start value and its resident memory stays
# within a small bound of it (CHURN_RSS_SLACK_KIB, default 16 MiB: the allocator's arenas
# and the reactors' buffer caches; idmd trims its heap when a burst of connections has
# all gone). Prints the figures. Under a wrapper (IDMD_WRAPPER: valgrind in tests/run-all.sh)
# the counts are 200 per kind and 200 concurrent: the shorter run must be clean; under ASan
# 2,500 cycles (its leak check runs at idmd's exit) and no RSS bound. idmd B
# requires CHAP for discovery (then discovery without CHAP is A's).
# About 30 s plain, 45 s under ASan.
. "$(dirname "$0")/lib.sh"

require_idmd
need_test_prog LC limits_client

T1=iqn.2026-11.org.idm:churn-1
T2=iqn.2026-11.org.idm:churn-chap
INI=iqn.2026-11.org.idm:churn-ini
CHAP_USER=churn-user
CHAP_SECRET=churn-secret-123
ASAN=
[[ $(ldd "$IDMD" 2>/dev/null) == *libasan* ]] && ASAN=1
if [[ -n $IDMD_WRAPPER ]]; then
	N_NORMAL=200 N_CHAP=200 N_DISC=200 N_DISC_CHAP=200 N_HOLD=200
elif [[ -n $ASAN ]]; then # a login costs 10 times as much: a quarter of the cycles
	N_NORMAL=1000 N_CHAP=600 N_DISC=600 N_DISC_CHAP=300 N_HOLD=1000
else
	N_NORMAL=4000 N_CHAP=2500 N_DISC=2500 N_DISC_CHAP=1000 N_HOLD=1000
fi
RSS_SLACK_KIB=${CHURN_RSS_SLACK_KIB:-16384}

idmd_fds() { ls "/proc/$IDMD_PID/fd" | wc -l; }
idmd_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$IDMD_PID/status"; }
# settle FDS: wait (up to 20 s) until idmd holds FDS descriptors: a thousand dropped
# connections are torn down on the reactors after the client has gone
settle() {
	for ((i = 0; i < 200; i++)); do
		(($(idmd_fds) <= $1)) && return 0
		sleep 0.1
	done
}

# config PORT DISCOVERY_JSON
config() {
	cat >"$TEST_TMP/idmd.json" <<JSON
{
  "portals": [ { "addr": "127.0.0.1", "port": $1, "tpgt": 1 } ],
  "targets": [ { "iqn": "$T1", "luns": [ { "spec": "mem:16M" } ] },
               { "iqn": "$T2", "luns": [ { "spec": "mem:16M" } ],
                 "chap": { "user": "$CHAP_USER", "secret": "$CHAP_SECRET" } } ],
  $2
  "tunables": { "nop_interval_s": 0, "max_discovery_sessions": 64 }
}
JSON
}

# cycles ARGS...: limits_client cycles, which prints "N KIND cycles in S s"
cycles() {
	local out
	out=$(timeout 300 "$LC" -p "127.0.0.1:$PORT" -i "$INI" "$@" cycles) || fail "cycles $*: $out"
	log "$out"
}

PORT=$(free_port) || exit 1
config "$PORT" ""
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
# warm up: the first sessions fill the allocator's caches and the reactors' pools
cycles -t "$T1" -n 20
cycles -d -n 20
fds0=$(idmd_fds)
rss0=$(idmd_rss_kib)
cycles -t "$T1" -n "$N_NORMAL"
cycles -t "$T2" -c "$CHAP_USER:$CHAP_SECRET" -n "$N_CHAP"
cycles -d -n "$N_DISC"
settle "$fds0"
fds1=$(idmd_fds)
rss1=$(idmd_rss_kib)
mkfifo "$TEST_TMP/hold.in"
timeout 300 "$LC" -p "127.0.0.1:$PORT" -t "$T1" -i "$INI" -n "$N_HOLD" hold \
	<"$TEST_TMP/hold.in" >"$TEST_TMP/hold.out" 2>&1 &
hold_pid=$!
exec {hold_fd}>"$TEST_TMP/hold.in"
for ((i = 0; i < 2400; i++)); do
	grep -q "^held" "$TEST_TMP/hold.out" && break
	kill -0 "$hold_pid" 2>/dev/null || break
	sleep 0.1
done
grep -q "^held $N_HOLD " "$TEST_TMP/hold.out" || fail "hold: $(cat "$TEST_TMP/hold.out")"
fds_held=$(idmd_fds)
rss_held=$(idmd_rss_kib)
exec {hold_fd}>&-
wait "$hold_pid" || fail "hold: $(cat "$TEST_TMP/hold.out")"
log "$(head -n 1 "$TEST_TMP/hold.out"), all closed"
settle "$fds0"
fds2=$(idmd_fds)
rss2=$(idmd_rss_kib)
total=$((N_NORMAL + N_CHAP + N_DISC + N_DISC_CHAP))
log "descriptors: start $fds0, after the cycles $fds1, with $N_HOLD sessions $fds_held, after $fds2"
log "RSS KiB: start $rss0, after the cycles $rss1, with $N_HOLD sessions $rss_held, after $rss2"
echo "churn: $total cycles + $N_HOLD concurrent: fds $fds0 -> $fds2, RSS $rss0 -> $rss2 KiB" \
	"(held: $fds_held fds, $rss_held KiB)"
((fds1 == fds0 && fds2 == fds0)) || fail "descriptors not back: $fds0 -> $fds1 -> $fds2"
((fds_held >= fds0 + N_HOLD)) || fail "$N_HOLD sessions held only $fds_held descriptors"
# valgrind's and ASan's own allocators (ASan's quarantine keeps 256 MiB of freed memory)
# say nothing about idmd's; ASan's leak check and valgrind's do that job there
if [[ -z $IDMD_WRAPPER && -z $ASAN ]]; then
	((rss1 <= rss0 + RSS_SLACK_KIB)) || fail "RSS grew by $((rss1 - rss0)) KiB over the cycles"
	((rss2 <= rss0 + RSS_SLACK_KIB)) ||
		fail "RSS $((rss2 - rss0)) KiB above the start after $N_HOLD sessions closed"
fi
idmd_stop

# discovery with CHAP (its own idmd: discovery CHAP applies to every discovery session)
config "$PORT" "\"discovery\": { \"chap\": { \"user\": \"$CHAP_USER\", \"secret\": \"$CHAP_SECRET\" } },"
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
cycles -d -c "$CHAP_USER:$CHAP_SECRET" -n 10
fds0=$(idmd_fds)
cycles -d -c "$CHAP_USER:$CHAP_SECRET" -n "$N_DISC_CHAP"
settle "$fds0"
fds1=$(idmd_fds)
log "discovery CHAP: descriptors $fds0 -> $fds1"
((fds1 == fds0)) || fail "descriptors not back after discovery CHAP: $fds0 -> $fds1"
idmd_stop
echo "PASS"
