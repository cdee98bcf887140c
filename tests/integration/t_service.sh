#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# idmd as a system service: the man pages lint clean (mandoc -Tlint), the systemd unit
# verifies clean (systemd-analyze verify), `meson install` puts programs, man pages,
# unit and example config in place, idmd tells systemd READY/RELOADING/STOPPING
# (sd_notify, to a NOTIFY_SOCKET of our own), writes priority-prefixed lines when its
# stderr is the journal stream, and drops lines above its log level.
. "$(dirname "$0")/lib.sh"

require_idmd
require_prog mandoc systemd-analyze meson python3

# --- man pages
for page in "$IDM_ROOT"/dist/man/*.[0-9]; do
	out=$(mandoc -Tlint -Wwarning "$page" 2>&1) || fail "mandoc -Tlint $page: $out"
	[[ -z $out ]] || fail "mandoc -Tlint $page: $out"
done
log "man pages lint clean: $(cd "$IDM_ROOT/dist/man" && echo *)"

# --- the unit, pointing at the idmd under test
unit=$IDM_BUILD/dist/idmd.service
[[ -f $unit ]] || fail "$unit not generated"
sed "s|^ExecStart=[^ ]*|ExecStart=$IDMD|" "$unit" >"$TEST_TMP/idmd.service"
out=$(systemd-analyze verify --man=no "$TEST_TMP/idmd.service" 2>&1) || fail "systemd-analyze: $out"
[[ -z $out ]] || fail "systemd-analyze verify: $out"
grep -qx "Type=notify" "$unit" && grep -qx "LimitMEMLOCK=infinity" "$unit" &&
	grep -q "^ExecReload=.*-HUP" "$unit" || fail "unit lacks Type=notify, LimitMEMLOCK or ExecReload"
log "systemd unit verifies clean"

# --- meson install
dest=$TEST_TMP/dest
meson install -C "$IDM_BUILD" --no-rebuild --destdir "$dest" >"$TEST_LOGDIR/install.log" 2>&1 ||
	{ tail "$TEST_LOGDIR/install.log" >&2; fail "meson install"; }
for f in sbin/idmd sbin/idmadm bin/idmio share/man/man8/idmd.8 share/man/man8/idmadm.8 \
	share/man/man1/idmio.1 share/man/man5/idmd.json.5 lib/systemd/system/idmd.service \
	share/doc/idm/idmd.json.example; do
	found=$(find "$dest" -path "*/$f" | head -n 1)
	[[ -n $found ]] || fail "meson install did not install $f"
done
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' \
	"$(find "$dest" -name idmd.json.example)" || fail "the example config is not JSON"
log "meson install: programs, man pages, unit, example config"

# --- sd_notify to our own socket
PORT=$(free_port) || exit 1
cat >"$TEST_TMP/idmd.json" <<JSON
{ "portals": [ { "addr": "127.0.0.1", "port": $PORT } ],
  "targets": [ { "iqn": "iqn.2026-11.org.idm:svc", "luns": [ { "spec": "mem:16M" } ] } ] }
JSON
python3 - "$TEST_TMP/notify.sock" >"$TEST_TMP/notify.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
try:
    while True:
        msg = s.recv(4096).decode()
        print(msg.replace("\n", " "), flush=True)
        if "STOPPING=1" in msg:
            break
except socket.timeout:
    pass
PY
listener=$!
for _ in $(seq 50); do [[ -S $TEST_TMP/notify.sock ]] && break; sleep 0.1; done
NOTIFY_SOCKET=$TEST_TMP/notify.sock IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
for _ in $(seq 50); do grep -q READY=1 "$TEST_TMP/notify.txt" && break; sleep 0.1; done
kill -HUP "$IDMD_PID"
for _ in $(seq 50); do (($(grep -c READY=1 "$TEST_TMP/notify.txt") == 2)) && break; sleep 0.1; done
idmd_stop
wait "$listener"
cat "$TEST_TMP/notify.txt"
grep -q "^READY=1 STATUS=serving 1 target(s) on 1 portal(s)" "$TEST_TMP/notify.txt" &&
	grep -q "^RELOADING=1" "$TEST_TMP/notify.txt" && grep -q "^STOPPING=1" "$TEST_TMP/notify.txt" &&
	(($(grep -c READY=1 "$TEST_TMP/notify.txt") == 2)) || fail "sd_notify messages"
log "sd_notify: READY, RELOADING, READY, STOPPING"

# --- the journal stream: priority prefixes, and the log level
log_file=$TEST_TMP/journal.log
: >"$log_file"
JOURNAL_STREAM=$(stat -c '%d:%i' "$log_file") $IDMD_WRAPPER "$IDMD" --config "$TEST_TMP/idmd.json" \
	--control-socket "$TEST_TMP/ctl.sock" 2>>"$log_file" &
pid=$!
for _ in $(seq 50); do grep -q serving "$log_file" && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid" || fail "idmd (journal stream) exited non-zero"
grep -q "^<6>idmd: serving 1 target" "$log_file" || { cat "$log_file" >&2; fail "no <6> prefix on the journal stream"; }
grep -q "^20[0-9][0-9]-" "$log_file" && fail "timestamps on the journal stream"
$IDMD_WRAPPER "$IDMD" --config "$TEST_TMP/idmd.json" --control-socket "$TEST_TMP/ctl.sock" \
	--log-level error 2>"$TEST_TMP/quiet.log" &
pid=$!
sleep 1
kill -TERM "$pid"
wait "$pid" || fail "idmd --log-level error exited non-zero"
[[ ! -s $TEST_TMP/quiet.log ]] || { cat "$TEST_TMP/quiet.log" >&2; fail "info lines at log level error"; }
log "journal stream prefixes and log level"
echo "PASS"
