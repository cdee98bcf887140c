#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# idmadm against a running idmd, while QEMU copies 32 MiB of random data to another
# target and back (verified after): status, version, target/lun/portal list, session
# list and logout (a libiscsi session held open by qemu-io), stats as tables, JSON and
# Prometheus (promtool; exactly 7 WRITEs of a known qemu-io run), log level. The
# control socket: mode 0600 owned by root, refused to a non-root user, hostile clients
# (adm_hostile.py: malformed JSON, huge requests, wrong types, unknown methods, a
# silent client, too many clients), a second idmd on the same socket refused, a stale
# socket removed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/adm_lib.sh"

require_idmd
require_prog qemu-img qemu-io iscsi-inq promtool python3 setpriv
IDMADM=${IDMADM:-$IDM_BUILD/idmadm}
[[ -x $IDMADM ]] || fail "$IDMADM not built"

T1=iqn.2026-11.org.idm:adm1
T2=iqn.2026-11.org.idm:adm2
PORT=$(free_port) || exit 1
MPORT=$(free_port) || exit 1
CTL=$TEST_TMP/idmd.sock
cat >"$TEST_TMP/idmd.json" <<JSON
{
  "reactors": 2,
  "control_socket": "$CTL",
  "log_level": "info",
  "metrics_listen": "127.0.0.1:$MPORT",
  "portals": [ { "addr": "127.0.0.1", "port": $PORT } ],
  "targets": [
    { "iqn": "$T1", "luns": [ { "lun": 0, "spec": "mem:64M" },
                              { "lun": 1, "spec": "file:$TEST_TMP/t1l1.img:32M" },
                              { "lun": 2, "spec": "null:1G", "block_size": 4096 } ] },
    { "iqn": "$T2", "luns": [ { "lun": 0, "spec": "mem:64M" } ] }
  ],
  "tunables": { "shutdown_grace_s": 2 }
}
JSON
# the control socket named in the config file (not lib.sh's own)
IDMD_CTL_FROM_CONFIG=1 IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
URL=iscsi://127.0.0.1:$PORT

# --- the control socket itself
[[ $(stat -c '%a %U' "$CTL") == "600 root" ]] || fail "socket mode/owner: $(stat -c '%a %U' "$CTL")"
chmod 0711 "$TEST_TMP" # nobody may reach the socket's directory, not the socket
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$IDMADM" --socket "$CTL" status 2>&1) &&
	fail "a non-root user could use the control socket: $out"
[[ $out == *"Permission denied"* ]] || fail "non-root refusal says: $out"
chmod 0700 "$TEST_TMP"
log "non-root: $out"

# --- background I/O on another target while idmadm works
background_io_start "$URL/$T2/0"

# --- read-only commands
adm status | tee "$TEST_TMP/status.txt"
grep -q '^targets: *2$' "$TEST_TMP/status.txt" || fail "status: not 2 targets"
grep -q '^luns: *4$' "$TEST_TMP/status.txt" || fail "status: not 4 LUNs"
grep -q "^portal: *127.0.0.1 port $PORT tpgt 1" "$TEST_TMP/status.txt" || fail "status: portal"
[[ $(adm --json status | jq_py 'r["reactors"]') == 2 ]] || fail "status --json: reactors"
adm version | grep -q "idmd $("$IDMD" --version | cut -d' ' -f2)" || fail "version"
adm target list | tee "$TEST_TMP/targets.txt"
grep -q "^$T1 *3 " "$TEST_TMP/targets.txt" && grep -q "^$T2 *1 " "$TEST_TMP/targets.txt" ||
	fail "target list"
adm lun list | tee "$TEST_TMP/luns.txt"
(($(grep -c "^iqn" "$TEST_TMP/luns.txt") == 4)) || fail "lun list: not 4 LUNs"
[[ $(adm --json lun list "$T1" | jq_py '[(l["lun"], l["kind"], l["size"], l["block_size"]) for l in r]') == \
	"[(0, 'mem', 67108864, 512), (1, 'file', 33554432, 512), (2, 'null', 1073741824, 4096)]" ]] ||
	fail "lun list $T1 --json"
adm_fails "lun list of an unknown target" lun list iqn.2026-11.org.idm:nope
adm portal list | grep -q "^127.0.0.1 *$PORT *1 tcp" || fail "portal list"

# --- exact counters: 7 WRITEs of 64 KiB to a LUN nothing else touched
ops=()
for i in 0 1 2 3 4 5 6; do ops+=(-c "write -P 0x5a $((i * 65536)) 64k"); done
c qemu-io -f raw "${ops[@]}" -c "read -P 0x5a 0 448k" "$URL/$T1/0" >"$TEST_TMP/qio.txt" ||
	fail "qemu-io on $T1/0"
grep -q 'read 458752/458752' "$TEST_TMP/qio.txt" || fail "qemu-io verify"
adm --json stats >"$TEST_TMP/stats.json"
got=$(jq_py '[(l["write_commands"], l["write_bytes"], l["errors"]) for t in r["targets"] if t["iqn"]=="'$T1'" for l in t["luns"] if l["lun"]==0][0]' <"$TEST_TMP/stats.json")
[[ $got == "(7, 458752, 0)" ]] || fail "stats of $T1 LUN 0: (writes, bytes, errors) = $got"
[[ $(jq_py '[t["luns"][0]["latency"]["write"]["count"] for t in r["targets"] if t["iqn"]=="'$T1'"][0]' \
	<"$TEST_TMP/stats.json") == 7 ]] || fail "stats: 7 write latencies"
adm stats | tee "$TEST_TMP/stats.txt"
grep -qE "^$T1 +0 +[0-9]+ +7 " "$TEST_TMP/stats.txt" || fail "stats table: $T1 LUN 0 writes"
adm stats --prometheus >"$TEST_TMP/metrics.txt"
promtool check metrics <"$TEST_TMP/metrics.txt" || fail "promtool check metrics"
grep -qx "idm_lun_commands_total{target=\"$T1\",lun=\"0\",op=\"write\"} 7" "$TEST_TMP/metrics.txt" ||
	fail "prometheus: 7 writes on $T1 LUN 0"
grep -qx "idm_lun_latency_seconds_count{target=\"$T1\",lun=\"0\",op=\"write\"} 7" \
	"$TEST_TMP/metrics.txt" || fail "prometheus: latency count"
python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
	"http://127.0.0.1:$MPORT/metrics" >"$TEST_TMP/http-metrics.txt" || fail "GET /metrics"
promtool check metrics <"$TEST_TMP/http-metrics.txt" || fail "promtool check metrics on /metrics"
grep -qx "idm_lun_commands_total{target=\"$T1\",lun=\"0\",op=\"write\"} 7" \
	"$TEST_TMP/http-metrics.txt" || fail "/metrics: 7 writes on $T1 LUN 0"
python3 -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 404 else 1)
sys.exit(1)' "http://127.0.0.1:$MPORT/other" || fail "/other is not a 404"
log "stats: 7 writes counted, promtool clean (idmadm and /metrics)"

# --- sessions: one held open by qemu-io on T1 LUN 1
mkfifo "$TEST_TMP/qio.in"
qemu-io -f raw "$URL/$T1/1" <"$TEST_TMP/qio.in" >"$TEST_LOGDIR/qemu-io-held.log" 2>&1 &
held_pid=$!
exec 7>"$TEST_TMP/qio.in"
echo "read 0 4k" >&7
tsih=
for _ in $(seq 100); do
	tsih=$(adm --json session list | jq_py '",".join(str(s["tsih"]) for s in r if s["target"]=="'$T1'")')
	[[ -n $tsih ]] && break
	sleep 0.1
done
[[ -n $tsih && $tsih != *,* ]] || fail "session list: no single session on $T1 ($tsih)"
adm session list | tee "$TEST_TMP/sessions.txt"
grep -qE "^ *$tsih [0-9a-f]{12} iqn\.2008-11\.org\.linux-kvm +$T1 +tcp " "$TEST_TMP/sessions.txt" ||
	fail "session list table"
grep -q "HeaderDigest=None" "$TEST_TMP/sessions.txt" || fail "session list: negotiated keys"
[[ $(adm --json session list | jq_py '[s["portal"] for s in r if s["tsih"]=='"$tsih"'][0]') == \
	"127.0.0.1:$PORT" ]] || fail "session list: portal"
adm session logout "$tsih" | tee "$TEST_TMP/logout.txt"
grep -q "session $tsih: logged out" "$TEST_TMP/logout.txt" || fail "session logout"
adm --json session list | jq_py '[s["tsih"] for s in r]' | grep -qw "$tsih" &&
	fail "session $tsih still listed after logout"
grep -q "normal session tsih $tsih" "$IDMD_LOG" || fail "no login of session $tsih logged"
exec 7>&-
wait "$held_pid" 2>/dev/null
adm_fails "logout of an unknown session" session logout 65000
adm_fails "logout of a bad TSIH" session logout zero

# --- log level
adm log level debug | grep -qx "log level: debug" || fail "log level debug"
adm status | grep -q "^log level: *debug" || fail "status after log level debug"
adm_fails "bad log level" log level loud
adm log level info | grep -qx "log level: info" || fail "log level info"
adm_fails "unknown command" frobnicate

# --- hostile clients; the data path goes on meanwhile
python3 "$(dirname "$0")/adm_hostile.py" "$CTL" || fail "hostile control clients"

# --- one socket, one daemon
PORT2=$(free_port) || exit 1
out=$(t 20 "$IDMD" --portal "127.0.0.1:$PORT2" --target "$T1" --lun mem:1M \
	--control-socket "$CTL" 2>&1) && fail "a second idmd started on a held control socket"
[[ $out == *"held by a running idmd"* ]] || fail "second idmd says: $out"
log "second idmd: $out"

background_io_stop 2
idmd_stop
[[ -e $CTL ]] && fail "the control socket outlived idmd"

# --- a stale socket (its daemon gone) is removed at start
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$CTL"
[[ -S $CTL ]] || fail "could not leave a stale socket"
IDMD_CTL_FROM_CONFIG=1 IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
grep -q "removing the stale control socket" "$IDMD_LOG" || fail "stale socket not noticed"
adm status >/dev/null || fail "idmadm after a stale socket"
idmd_stop
echo "PASS"
