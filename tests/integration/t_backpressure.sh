#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Peers that never read (hostile -m flood-*): one floods reserved-opcode headers before
# login, one floods Rejects, NOP-In echoes and SCSI Responses after login, both with a
# small receive buffer, on the one reactor a good session and libiscsi's clients share.
# idmd's transmit queues are bounded and it stops reading such a peer, so its resident
# memory grows by less than 64 MiB and its log by fewer than 10,000 lines; the good
# session keeps verifying its I/O, iscsi-inq and iscsi-readcapacity16 are answered
# during the flood, and each flooder is dropped (after tx_stall_timeout_s, or at once).
. "$(dirname "$0")/lib.sh"

require_idmd
need_test_prog HOSTILE hostile
require_prog iscsi-inq iscsi-readcapacity16

IQN=iqn.2026-11.org.idm:backpressure
STALL_S=6           # tx_stall_timeout_s
FLOOD_S=12          # a flooder gives up after this long if never dropped
MAX_RSS_GROWTH_KIB=$((64 * 1024))
MAX_LOG_LINES=10000
# ASan keeps freed memory in a quarantine (256 MiB by default), which would count as
# growth here; the bound under test is idmd's own.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"

IDMD_PORT=$(free_port) || exit 1
CONF=$TEST_TMP/idmd.json
cat >"$CONF" <<EOF
{
  "reactors": 1,
  "portals": [ { "addr": "127.0.0.1", "port": $IDMD_PORT } ],
  "targets": [ { "iqn": "$IQN", "luns": [ { "spec": "mem:64M" } ] } ],
  "tunables": { "tx_stall_timeout_s": $STALL_S }
}
EOF
idmd_start --config "$CONF"
URL=iscsi://127.0.0.1:$IDMD_PORT/$IQN/0

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$IDMD_PID/status"; }

# Warm up the buffer caches and the PDU pool with normal traffic first.
c iscsi-readcapacity16 "$URL" >/dev/null || fail "iscsi-readcapacity16 before the flood"
base_rss=$(rss_kib)
base_lines=$(wc -l <"$IDMD_LOG")

run_flood() {
	c "$HOSTILE" -p "127.0.0.1:$IDMD_PORT" -t "$IQN" -m "flood-$1" -s "$FLOOD_S" -T "$STALL_S" \
		>"$TEST_LOGDIR/flood-$1.log" 2>&1
}
run_flood prelogin &
pre_pid=$!
run_flood ffp &
ffp_pid=$!

max_rss=$base_rss
served=0
start=$SECONDS
while kill -0 "$pre_pid" 2>/dev/null || kill -0 "$ffp_pid" 2>/dev/null; do
	idmd_alive || fail "idmd died under the flood"
	r=$(rss_kib)
	((r > max_rss)) && max_rss=$r
	if ((served == 0 && SECONDS - start >= STALL_S / 2)); then
		# the flooders are still connected and stopped: others are served
		c iscsi-inq "$URL" >"$TEST_TMP/inq.out" 2>&1 || fail "iscsi-inq during the flood"
		c iscsi-readcapacity16 "$URL" >/dev/null 2>&1 || fail "iscsi-readcapacity16 during the flood"
		served=1
	fi
	sleep 0.2
done
wait "$pre_pid" || rc_pre=$?
wait "$ffp_pid" || rc_ffp=$?
cat "$TEST_LOGDIR/flood-prelogin.log" "$TEST_LOGDIR/flood-ffp.log"
((${rc_pre:-0} == 0)) || fail "flood before login (flood-prelogin.log)"
((${rc_ffp:-0} == 0)) || fail "flood after login (flood-ffp.log)"
((served == 1)) || fail "the flood ended before the normal clients ran"

growth=$((max_rss - base_rss))
lines=$(($(wc -l <"$IDMD_LOG") - base_lines))
log "resident memory $base_rss KiB -> peak $max_rss KiB (+$growth KiB); $lines log lines"
((growth < MAX_RSS_GROWTH_KIB)) || fail "idmd grew by $growth KiB (limit $MAX_RSS_GROWTH_KIB)"
((lines < MAX_LOG_LINES)) || fail "idmd wrote $lines log lines (limit $MAX_LOG_LINES)"
grep -q "peer read nothing for $STALL_S s" "$IDMD_LOG" ||
	fail "no stall drop in the idmd log"
grep -q "more messages suppressed" "$IDMD_LOG" || fail "no rate-limit summary in the idmd log"
c iscsi-inq "$URL" >/dev/null || fail "iscsi-inq after the flood"
idmd_stop
echo "PASS"
