#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The daemon's life cycle: a bad portal (port in use, address not ours, no port), a bad
# LUN spec, an unreadable config or a damaged reservation state file make idmd exit
# non-zero with one error line; SIGTERM and SIGINT make it exit 0; a file LUN keeps its
# data across a restart.
. "$(dirname "$0")/lib.sh"

require_idmd
IQN=iqn.2026-11.org.idm:daemon

# expect_refusal WHAT ARGS...: idmd with ARGS must exit non-zero, quickly, printing
# exactly one (non-empty) line on stderr.
expect_refusal() {
	local what=$1 rc err=$TEST_TMP/err.txt lines
	shift
	# shellcheck disable=SC2086
	t 20 $IDMD_WRAPPER "$IDMD" "$@" >"$TEST_TMP/out.txt" 2>"$err" </dev/null
	rc=$?
	((rc == 124 || rc == 137)) && fail "$what: idmd did not exit (it should refuse to start)"
	((rc != 0)) || fail "$what: idmd exited 0 (it should refuse to start)"
	sanitizer_report "$err" && { cat "$err" >&2; fail "$what: sanitizer report"; }
	lines=$(grep -c . "$err")
	((lines == 1)) || { cat "$err" >&2; fail "$what: expected one error line, got $lines"; }
	echo "$what: exit $rc: $(cat "$err")"
}

PORT=$(free_port) || exit 1
MEM=(--target "$IQN" --lun mem:16M)

# a port somebody else listens on (a python listener we start and stop ourselves)
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(60)' \
	"$PORT" &
busy_pid=$!
for _ in $(seq 50); do port_listening "$PORT" && break; sleep 0.1; done
port_listening "$PORT" || fail "could not occupy port $PORT for the test"
expect_refusal "port in use" --portal "127.0.0.1:$PORT" "${MEM[@]}"
kill "$busy_pid"
wait "$busy_pid" 2>/dev/null

expect_refusal "address not on this host" --portal "192.0.2.1:$PORT" "${MEM[@]}"
expect_refusal "port out of range" --portal "127.0.0.1:99999" "${MEM[@]}"
expect_refusal "portal without port" --portal "127.0.0.1:" "${MEM[@]}"
expect_refusal "unknown LUN type" --portal "127.0.0.1:$PORT" --target "$IQN" --lun bogus:1G
expect_refusal "LUN without size" --portal "127.0.0.1:$PORT" --target "$IQN" --lun mem:
expect_refusal "LUN bad size" --portal "127.0.0.1:$PORT" --target "$IQN" --lun mem:12Q
expect_refusal "file LUN in a missing directory" --portal "127.0.0.1:$PORT" --target "$IQN" \
	--lun "file:$TEST_TMP/no/such/dir/lun.img:16M"
expect_refusal "missing config" --config "$TEST_TMP/none.json"
expect_refusal "config is a directory" --config "$TEST_TMP"
printf '{ "targets": [ { "iqn": ' >"$TEST_TMP/broken.json"
expect_refusal "truncated JSON config" --config "$TEST_TMP/broken.json"
# a damaged APTPL state file (a name split by a newline): refused, naming file and line
mkdir -p "$TEST_TMP/state"
state=$TEST_TMP/state/pr-iqn.2026-11.org.idm_daemon-lun0.state
printf 'idm-pr 1\ngeneration 1\nreg 1111 1 a\nb t\n' >"$state"
expect_refusal "damaged reservation state" --portal "127.0.0.1:$PORT" "${MEM[@]}" \
	--state-dir "$TEST_TMP/state"
grep -qF "$state:3: " "$TEST_TMP/err.txt" || fail "state error without file:line: $(cat "$TEST_TMP/err.txt")"
port_listening "$PORT" && fail "a refused idmd left port $PORT listening"

# SIGTERM and SIGINT: clean exit 0 (idmd_stop checks status and sanitizer reports)
idmd_start --portal "127.0.0.1:$PORT" "${MEM[@]}"
idmd_stop
echo "SIGTERM: exit 0"
idmd_start --portal "127.0.0.1:$PORT" "${MEM[@]}"
kill -INT "$IDMD_PID"
for _ in $(seq $((STOP_TIMEOUT * 10))); do idmd_alive || break; sleep 0.1; done
idmd_alive && fail "idmd ignored SIGINT"
wait "$IDMD_PID"
rc=$?
IDMD_PID=
((rc == 0)) || fail "idmd exited $rc after SIGINT (expected 0)"
sanitizer_report "$IDMD_LOG" && fail "sanitizer report after SIGINT in $IDMD_LOG"
echo "SIGINT: exit 0"

# a JSON config (the schema of src/target/config.c) starts the same target
cat >"$TEST_TMP/idmd.json" <<JSON
{
  "reactors": 2,
  "portals": [ { "addr": "127.0.0.1", "port": $PORT, "tpgt": 1 } ],
  "targets": [ { "iqn": "$IQN", "alias": "daemon-test",
                 "luns": [ { "lun": 0, "spec": "mem:16M" } ] } ]
}
JSON
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
if command -v iscsi-ls >/dev/null; then
	out=$(c iscsi-ls -s "iscsi://127.0.0.1:$PORT" 2>&1) || fail "iscsi-ls on the --config target: $out"
	grep -qF "Target:$IQN" <<<"$out" || fail "--config target not listed: $out"
fi
idmd_stop
echo "--config: started, served, exit 0"

# a file LUN keeps its data across a restart
if command -v qemu-img >/dev/null; then
	img=$TEST_TMP/persist.img
	truncate -s 16M "$img"
	dd if=/dev/urandom of="$TEST_TMP/pattern.raw" bs=1M count=1 status=none
	url="iscsi://127.0.0.1:$PORT/$IQN/0"
	idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun "file:$img:16M"
	c qemu-img convert -n -f raw -O raw "$TEST_TMP/pattern.raw" "$url" || fail "write failed"
	idmd_stop
	cmp -n $((1 << 20)) "$TEST_TMP/pattern.raw" "$img" ||
		fail "the backing file does not hold the data after SIGTERM (not flushed?)"
	idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun "file:$img:16M"
	c qemu-img dd -f raw -O raw bs=1M count=1 if="$url" of="$TEST_TMP/back.raw" ||
		fail "read after restart failed"
	idmd_stop
	cmp "$TEST_TMP/pattern.raw" "$TEST_TMP/back.raw" || fail "data lost across restart"
	echo "file LUN: data kept across restart"
else
	log "qemu-img missing: persistence across restart not tested"
fi
echo "PASS"
