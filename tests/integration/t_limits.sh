#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Limits and timeouts (issue 8), each reached and refused while the sessions already in
# keep doing I/O:
#   - max_sessions_per_target, max_sessions_per_initiator, max_discovery_sessions: the
#     login past the limit gets 0x0302 Out of resources, the held sessions then write and
#     read back; one rate-limited line names the limit;
#   - max_connections, max_connections_per_portal, max_connections_per_address,
#     max_prelogin_connections: connections past the limit are closed at accept, others
#     (another portal, another address) are not; prelogin_timeout_s closes an idle socket;
#   - dataout_timeout_s: a WRITE whose data never comes is dropped after it (stall_write);
#   - 3,000 concurrent sessions with idmd started under a soft file limit of 1024;
#   - EMFILE: with its hard file limit lowered under a connection storm, idmd closes what
#     it cannot hold, keeps its CPU low (no spinning accept) and its log short.
# About 40 s (plain).
. "$(dirname "$0")/lib.sh"

require_idmd
need_test_prog LC limits_client
need_test_prog STALL stall_write

T1=iqn.2026-11.org.idm:limits-1
T2=iqn.2026-11.org.idm:limits-2
T3=iqn.2026-11.org.idm:limits-3
INI=iqn.2026-11.org.idm:limits-ini

# idmd_fds / idmd_cpu_ticks: open descriptors, utime+stime of the idmd we started
idmd_fds() { ls "/proc/$IDMD_PID/fd" | wc -l; }
idmd_cpu_ticks() { awk '{print $14 + $15}' "/proc/$IDMD_PID/stat"; }

# config PORT [PORT2] TUNABLES_JSON: three mem targets on one or two portals
config() {
	local port=$1 port2=$2 tun=$3 p2=""
	[[ -n $port2 ]] && p2=", { \"addr\": \"127.0.0.1\", \"port\": $port2, \"tpgt\": 2 }"
	cat >"$TEST_TMP/idmd.json" <<JSON
{
  "portals": [ { "addr": "127.0.0.1", "port": $port, "tpgt": 1 }$p2 ],
  "targets": [ { "iqn": "$T1", "luns": [ { "spec": "mem:16M" } ] },
               { "iqn": "$T2", "luns": [ { "spec": "mem:16M" } ] },
               { "iqn": "$T3", "luns": [ { "spec": "mem:16M" } ] } ],
  "tunables": { $tun }
}
JSON
}

# limit_refused NAME ARGS...: limits_client limit ARGS must pass and the log name NAME
limit_refused() {
	local name=$1 out
	shift
	out=$(timeout "$CLIENT_TIMEOUT" "$LC" -p "127.0.0.1:$PORT" "$@" limit) ||
		fail "$name: $out"
	grep -q "Out of resources\|(770)" <<<"$out" || fail "$name: refused, but how? $out"
	grep -q "login refused (0x0302): $name" "$IDMD_LOG" || fail "$name: no log line naming it"
	log "$name: $(tail -n 1 <<<"$out"); $(grep -m1 refused: <<<"$out")"
}

# ---- session limits, and a stalled WRITE ----
PORT=$(free_port) || exit 1
config "$PORT" "" '"max_sessions_per_target": 3, "max_sessions_per_initiator": 2,
  "max_discovery_sessions": 2, "dataout_timeout_s": 3'
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
limit_refused max_sessions_per_target -t "$T1" -i "$INI" -I -n 3
limit_refused max_sessions_per_initiator -t "$T2" -i "$INI" -n 2
limit_refused max_discovery_sessions -d -i "$INI" -I -n 2
# the refusals leave nothing behind: the same logins succeed again
out=$(timeout "$CLIENT_TIMEOUT" "$LC" -p "127.0.0.1:$PORT" -t "$T1" -i "$INI" -I -n 3 limit) ||
	fail "logins after the refusals: $out"
out=$(timeout "$CLIENT_TIMEOUT" "$STALL" -p "127.0.0.1:$PORT" -t "$T3" -T 3) ||
	fail "stalled WRITE: $out"
log "$(grep 'stalled WRITE' <<<"$out")"
grep -q "no Data-Out for 3 s" "$IDMD_LOG" || fail "no log line for the stalled WRITE"
idmd_stop

# ---- connection limits: each alone at 4 ----
# bg_start NAME CMD...: run CMD in the background with a pipe as stdin (it holds what it
# opened until that closes) and wait for its first output line, in LINE_<NAME>
bg_start() {
	local name=$1 fd line i pid_var=PID_$1
	shift
	mkfifo "$TEST_TMP/in.$name"
	(
		# not the others' pipes: each must see its own close alone
		for v in ${!FD_@}; do eval "exec {$v}>&-"; done
		exec "$@"
	) <"$TEST_TMP/in.$name" >"$TEST_TMP/out.$name" 2>&1 &
	printf -v "PID_$name" %s $!
	exec {fd}>"$TEST_TMP/in.$name"
	printf -v "FD_$name" %s "$fd"
	for ((i = 0; i < ${BG_WAIT_S:-30} * 10; i++)); do
		line=$(head -n 1 "$TEST_TMP/out.$name")
		[[ -n $line ]] && break
		kill -0 "${!pid_var}" 2>/dev/null || break
		sleep 0.1
	done
	printf -v "LINE_$name" %s "$line"
	[[ -n $line ]] || fail "$name: no answer from $*"
}
# bg_stop NAME: close its stdin, wait for it; fails when it failed
bg_stop() {
	local pid=PID_$1
	eval "exec {FD_$1}>&-"
	wait "${!pid}" || fail "$1 failed: $(cat "$TEST_TMP/out.$1")"
	rm -f "$TEST_TMP/in.$1"
}
expect_open() { # WHAT LINE OPEN CLOSED
	[[ $2 == *" open $3 closed $4" ]] || fail "$1: $2, expected open $3 closed $4"
}

PORT=$(free_port) || exit 1
PORT2=$(free_port) || exit 1
for limit in max_connections_per_address max_prelogin_connections max_connections_per_portal \
	max_connections; do
	config "$PORT" "$PORT2" "\"$limit\": 4, \"prelogin_timeout_s\": 30"
	IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
	# one logged-in session (from 127.0.0.1), then six bare connections from 127.0.0.2
	bg_start S timeout "$CLIENT_TIMEOUT" "$LC" -p "127.0.0.1:$PORT" -t "$T1" -i "$INI" -n 1 hold
	[[ $LINE_S == "held 1 "* ]] || fail "$limit: session: $LINE_S"
	bg_start C timeout "$CLIENT_TIMEOUT" "$LC" -p "127.0.0.1:$PORT" -b 127.0.0.2 -n 6 conns
	case $limit in
	max_connections | max_connections_per_portal) # the session holds one
		expect_open "$limit" "$LINE_C" 3 3 ;;
	*) expect_open "$limit" "$LINE_C" 4 2 ;;
	esac
	grep -q "connection refused: $limit reached" "$IDMD_LOG" || fail "$limit: no log line"
	# the session writes and reads back while the limit holds
	bg_stop S
	grep -q "^closed" "$TEST_TMP/out.S" || fail "$limit: session: $(cat "$TEST_TMP/out.S")"
	case $limit in
	max_connections_per_address) other=(-p "127.0.0.1:$PORT" -b 127.0.0.3) ;;
	max_connections_per_portal) other=(-p "127.0.0.1:$PORT2" -b 127.0.0.2) ;;
	*) other=() ;;
	esac
	if ((${#other[@]})); then # another address / portal is not limited by this one
		out=$(timeout 20 "$LC" "${other[@]}" -n 4 conns </dev/null)
		expect_open "$limit (other)" "$out" 4 0
	fi
	log "$limit 4: $LINE_C"
	bg_stop C
	# every connection gone: admitted again
	out=$(timeout 20 "$LC" -p "127.0.0.1:$PORT" -b 127.0.0.2 -n 4 conns </dev/null)
	expect_open "$limit (after)" "$out" 4 0
	idmd_stop
done

# ---- prelogin_timeout_s: an idle connection goes after it ----
config "$PORT" "" '"prelogin_timeout_s": 2, "login_timeout_s": 30'
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
exec 3<>"/dev/tcp/127.0.0.1/$PORT" || fail "cannot connect"
start=$(date +%s%N)
read -r -t 6 -u 3 _
rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
exec 3<&-
((rc <= 128 && elapsed >= 1500)) || fail "idle connection: rc $rc after ${elapsed} ms (prelogin_timeout_s 2)"
log "prelogin_timeout_s 2: idle connection closed after ${elapsed} ms"
idmd_stop

# ---- 3,000 sessions, idmd started with a soft file limit of 1024 ----
# (no NOP-In: the client does not read its idle sessions while it logs in the others)
config "$PORT" "" '"nop_interval_s": 0, "max_connections": 4000, "max_connections_per_portal": 4000,
  "max_connections_per_address": 4000, "max_sessions_per_target": 4000,
  "max_sessions_per_initiator": 4000'
hard=$(ulimit -Hn)
((hard >= 3300)) || skip "hard file limit $hard: cannot hold 3,000 sessions"
ulimit -Sn 1024
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
ulimit -Sn "$hard"
grep -q "open file limit $hard: room for about" "$IDMD_LOG" ||
	fail "idmd did not raise its open file limit to $hard: $(grep 'open file limit' "$IDMD_LOG")"
fds0=$(idmd_fds)
BG_WAIT_S=240 bg_start H timeout 300 "$LC" -p "127.0.0.1:$PORT" -t "$T1" -i "$INI" -n 3000 hold
line=$LINE_H
[[ $line == "held 3000 "* ]] || fail "3,000 sessions: $line"
fds_held=$(idmd_fds)
bg_stop H
log "$line; idmd descriptors $fds0 -> $fds_held"
((fds_held >= fds0 + 3000)) || fail "idmd holds $fds_held descriptors with 3,000 sessions"
idmd_stop

# ---- EMFILE: the hard limit lowered under a storm; no spinning, a short log ----
config "$PORT" "" '"prelogin_timeout_s": 60'
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
nofile=$(($(idmd_fds) + 8))
prlimit --pid "$IDMD_PID" --nofile="$nofile:$nofile" || fail "prlimit failed"
bg_start C timeout 60 "$LC" -p "127.0.0.1:$PORT" -b 127.0.0.2 -n 40 conns
log "nofile $nofile: 40 connections: $LINE_C"
[[ $LINE_C =~ open\ ([0-9]+)\ closed\ ([0-9]+) ]] || fail "conns: $LINE_C"
((BASH_REMATCH[1] <= 10 && BASH_REMATCH[2] >= 30)) || fail "EMFILE: $LINE_C"
# while the limit holds, idle or with more connections knocking, idmd stays almost idle
# (under 10% of a CPU: Linux fails accept4 with EMFILE even when nothing waits, so an
# accept loop that retries after freeing a descriptor spins)
cpu0=$(idmd_cpu_ticks)
sleep 1
for _ in 1 2 3; do
	out=$(timeout 20 "$LC" -p "127.0.0.1:$PORT" -b 127.0.0.3 -n 20 conns </dev/null)
	[[ $out == *"open 0 closed 20" ]] || fail "EMFILE storm: $out"
	sleep 0.5
done
cpu=$(($(idmd_cpu_ticks) - cpu0))
tick=$(getconf CLK_TCK)
log "EMFILE: idmd used $cpu ticks of $tick/s in ~3 s at the limit, 60 connections refused"
((cpu * 10 <= 3 * tick)) || fail "idmd used $cpu CPU ticks in ~3 s at EMFILE (spinning?)"
lines=$(grep -c "accept: Too many open files" "$IDMD_LOG")
((lines >= 1 && lines <= 12)) || fail "$lines accept lines in the log (expected 1..12)"
bg_stop C
# descriptors back: logins work again
out=$(timeout "$CLIENT_TIMEOUT" "$LC" -p "127.0.0.1:$PORT" -t "$T1" -i "$INI" -n 1 cycles) ||
	fail "login after EMFILE: $out"
idmd_stop
echo "PASS"
