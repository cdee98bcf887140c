#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Peers that never read (hostile -m flood-*): one floods reserved-opcode headers before
# login, then one floods Rejects, NOP-In echoes and SCSI Responses after login, both with
# a small receive buffer, on the one reactor libiscsi's clients share with them.
# idmd's transmit queues are bounded and it stops reading such a peer, so its resident
# memory grows by less than 64 MiB and its log by fewer than 10,000 lines;
# iscsi-inq and iscsi-readcapacity16 are answered during the flood, and each flooder is
# dropped (after tx_stall_timeout_s, or at once: before login an illegal opcode closes).
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
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"

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

max_rss=$base_rss

# flood WHEN: one flooder (hostile -m flood-WHEN) until idmd drops it, sampling idmd's
# memory; normal clients must be answered while it is connected and stopped.
flood() {
	local when=$1 pid rc=0 served=0 r start=$SECONDS
	c "$HOSTILE" -p "127.0.0.1:$IDMD_PORT" -t "$IQN" -m "flood-$when" -s "$FLOOD_S" \
		-T "$STALL_S" >"$TEST_LOGDIR/flood-$when.log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		idmd_alive || fail "idmd died under the flood ($when)"
		r=$(rss_kib)
		((r > max_rss)) && max_rss=$r
		if ((SECONDS - start >= 2)); then
			# a normal session, on the flooder's reactor, once a second or so
			c iscsi-inq "$URL" >/dev/null 2>&1 || fail "iscsi-inq during the flood ($when)"
			c iscsi-readcapacity16 "$URL" >/dev/null 2>&1 ||
				fail "iscsi-readcapacity16 during the flood ($when)"
			served=$((served + 1))
		fi
		sleep 0.5
	done
	wait "$pid" || rc=$?
	cat "$TEST_LOGDIR/flood-$when.log"
	((rc == 0)) || fail "flood $when (flood-$when.log)"
	# before login an illegal opcode ends the connection at once (the core's intake):
	# only the logged-in flooder lives long enough to be served beside
	if [[ $when == ffp ]]; then
		((served >= 2)) || fail "the flood ($when) ended before the normal clients ran twice"
	else
		c iscsi-inq "$URL" >/dev/null || fail "iscsi-inq after the flood ($when)"
	fi
	log "flood $when: normal clients served $served times meanwhile"
}

# One after the other: each peer's bound is under test, not their sum.
flood prelogin
flood ffp

growth=$((max_rss - base_rss))
lines=$(($(wc -l <"$IDMD_LOG") - base_lines))
log "resident memory $base_rss KiB -> peak $max_rss KiB (+$growth KiB); $lines log lines"
((growth < MAX_RSS_GROWTH_KIB)) || fail "idmd grew by $growth KiB (limit $MAX_RSS_GROWTH_KIB)"
((lines < MAX_LOG_LINES)) || fail "idmd wrote $lines log lines (limit $MAX_LOG_LINES)"
grep -q "input stopped" "$IDMD_LOG" || fail "idmd never stopped reading a flooder"
grep -q "peer read nothing for $STALL_S s" "$IDMD_LOG" ||
	fail "no stall drop in the idmd log"
grep -q "more messages suppressed" "$IDMD_LOG" || fail "no rate-limit summary in the idmd log"
c iscsi-inq "$URL" >/dev/null || fail "iscsi-inq after the flood"
idmd_stop
echo "PASS"
