#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Live administration of a running idmd, while QEMU copies 32 MiB of random data to
# another target and back in rounds (each verified): idmadm target create/delete, lun
# add/remove/resize (file, mem and null stores; iscsi-ls and iscsi-readcapacity16 see
# each change, a shrink needs --force), delete of a target with a session open (it is
# logged out), config save (mode 0600; restart from it and save again: the same
# bytes), SIGHUP with a changed file (a target and a LUN appear, a CHAP secret rotates:
# new logins need the new secret, a session already in goes on) and with a broken one
# (nothing changes, one error line).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/adm_lib.sh"

require_idmd
require_prog qemu-img qemu-io iscsi-ls iscsi-inq iscsi-readcapacity16 python3
IDMADM=${IDMADM:-$IDM_BUILD/idmadm}
trap '' PIPE # a held qemu-io that ends early shows in its log, not as SIGPIPE here
[[ -x $IDMADM ]] || fail "$IDMADM not built"

T1=iqn.2026-11.org.idm:live1
T2=iqn.2026-11.org.idm:live2
T3=iqn.2026-11.org.idm:live3
INI=iqn.2026-11.org.idm:live-initiator
PORT=$(free_port) || exit 1
CTL=$TEST_TMP/idmd.sock
CONF=$TEST_TMP/idmd.json
cat >"$CONF" <<JSON
{
  "reactors": 2,
  "control_socket": "$CTL",
  "portals": [ { "addr": "127.0.0.1", "port": $PORT } ],
  "targets": [ { "iqn": "$T1", "luns": [ { "lun": 0, "spec": "mem:64M" } ] } ],
  "tunables": { "shutdown_grace_s": 2 }
}
JSON
IDMD_CTL_FROM_CONFIG=1 IDMD_PORT=$PORT idmd_start --config "$CONF"
URL=iscsi://127.0.0.1:$PORT
# lun_sizes IQN: "LUN:BYTES ..." as iscsi-readcapacity16 sees each LUN iscsi-ls lists.
luns_of() { c iscsi-ls -s "$URL" | awk -v t="$1" '/^Target:/ {on = ($1 == "Target:" t)} on && /^Lun:/ {sub("Lun:", "", $1); printf "%s ", $1}'; }
capacity() { c iscsi-readcapacity16 -s "$URL/$1/$2"; }

# --- background I/O on T1 LUN 0 until told to stop
background_io_start "$URL/$T1/0"

# --- target create, LUNs of each kind
adm target create "$T2" --alias live-two | grep -qx done || fail "target create"
adm_fails "create of an existing target" target create "$T2"
adm lun add "$T2" mem:32M | grep -qx "LUN 0 added" || fail "lun add mem"
adm lun add "$T2" "file:$TEST_TMP/t2l1.img:16M" | grep -qx "LUN 1 added" || fail "lun add file"
adm lun add "$T2" null:1G --lun 3 --block-size 4096 | grep -qx "LUN 3 added" || fail "lun add null"
adm_fails "lun add on a used number" lun add "$T2" mem:1M --lun 3
adm_fails "lun add of a bad spec" lun add "$T2" bogus:1G
adm_fails "lun add to an unknown target" lun add iqn.2026-11.org.idm:nope mem:1M
[[ $(luns_of "$T2") == "0 1 3 " ]] || fail "iscsi-ls of $T2: LUNs $(luns_of "$T2")"
[[ $(capacity "$T2" 3) == $((1 << 30)) ]] || fail "LUN 3 capacity $(capacity "$T2" 3)"
c iscsi-inq "$URL/$T2/1" | grep -q "Peripheral Qualifier:CONNECTED" || fail "iscsi-inq LUN 1"
log "created $T2 with LUNs 0 (mem), 1 (file), 3 (null, 4096-byte blocks)"

# --- a session held open on T2 LUN 1 across a resize (and later the delete)
mkfifo "$TEST_TMP/qio.in"
qemu-io -f raw "$URL/$T2/1" <"$TEST_TMP/qio.in" >"$TEST_TMP/qio-held.log" 2>&1 &
held_pid=$!
exec 7>"$TEST_TMP/qio.in"
# held CMD: run one qemu-io command in the held session and wait for its prompt.
held() {
	local n
	n=$(grep -o "qemu-io>" "$TEST_TMP/qio-held.log" | wc -l)
	echo "$1" >&7
	for _ in $(seq 100); do
		(($(grep -o "qemu-io>" "$TEST_TMP/qio-held.log" | wc -l) > n)) && return 0
		sleep 0.1
	done
	fail "held session: \"$1\" did not finish"
}
echo "write -P 0x33 0 64k" >&7
wait_for "$TEST_TMP/qio-held.log" "wrote 65536/65536"

# --- resize: grow the file LUN, shrink only with --force
adm lun resize "$T2" 1 32M | grep -qx done || fail "lun resize grow"
[[ $(capacity "$T2" 1) == $((32 << 20)) ]] || fail "after grow: $(capacity "$T2" 1)"
[[ $(stat -c %s "$TEST_TMP/t2l1.img") == $((32 << 20)) ]] || fail "file not grown"
# The session's next command gets the unit attention (QEMU logs it and retries).
held "write -P 0x44 $((8 << 20)) 64k"
wait_for "$TEST_TMP/qio-held.log" "CAPACITY_DATA_HAS_CHANGED"
held "write -P 0x44 $((8 << 20)) 64k"
held "read -P 0x33 0 64k"
adm_fails "shrink without --force" lun resize "$T2" 1 8M
adm lun resize "$T2" 1 24M --force | grep -qx done || fail "lun resize shrink"
[[ $(capacity "$T2" 1) == $((24 << 20)) ]] || fail "after shrink: $(capacity "$T2" 1)"
adm lun resize "$T2" 3 2G | grep -qx done || fail "null LUN resize"
[[ $(capacity "$T2" 3) == $((2 << 30)) ]] || fail "null LUN after resize"
adm_fails "resize to a partial block" lun resize "$T2" 3 1000
held "read -P 0x44 $((8 << 20)) 64k" # the shrink's unit attention
held "read -P 0x44 $((8 << 20)) 64k"
for _ in $(seq 50); do
	(($(grep -c "CAPACITY_DATA_HAS_CHANGED" "$TEST_TMP/qio-held.log") == 2)) && break
	sleep 0.1
done
(($(grep -c "CAPACITY_DATA_HAS_CHANGED" "$TEST_TMP/qio-held.log") == 2)) ||
	{ cat "$TEST_TMP/qio-held.log" >&2; fail "not one unit attention per resize"; }
(($(grep -c "failed" "$TEST_TMP/qio-held.log") == 0)) ||
	{ cat "$TEST_TMP/qio-held.log" >&2; fail "held session: errors besides the unit attentions"; }
(($(grep -c "read 65536/65536" "$TEST_TMP/qio-held.log") == 3)) ||
	{ cat "$TEST_TMP/qio-held.log" >&2; fail "held session: reads not verified"; }
log "resized: file 16M -> 32M -> 24M, null 1G -> 2G"

# --- remove a LUN
adm lun remove "$T2" 3 | grep -qx done || fail "lun remove"
[[ $(luns_of "$T2") == "0 1 " ]] || fail "after remove: LUNs $(luns_of "$T2")"
adm_fails "remove of a missing LUN" lun remove "$T2" 3

# --- config save, and the file it wrote
adm config save "$TEST_TMP/saved.json" | grep -qx "saved $TEST_TMP/saved.json" || fail "config save"
[[ $(stat -c %a "$TEST_TMP/saved.json") == 600 ]] || fail "saved config mode $(stat -c %a "$TEST_TMP/saved.json")"
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); assert [t["iqn"] for t in c["targets"]] == sys.argv[2:], c' \
	"$TEST_TMP/saved.json" "$T1" "$T2" || fail "saved config targets"

# --- delete a target with a session open: it is logged out
adm target delete "$T2" | grep -qx done || fail "target delete"
grep -q "target $T2 deleted (1 session(s) ended)" "$IDMD_LOG" || fail "delete did not end the session"
c iscsi-ls "$URL" | grep -q "$T2" && fail "$T2 still discovered"
adm target list | grep -q "$T2" && fail "$T2 still listed"
adm_fails "delete of a deleted target" target delete "$T2"
exec 7>&-
kill "$held_pid" 2>/dev/null
wait "$held_pid" 2>/dev/null

# --- SIGHUP: a new target with a CHAP account, a LUN more on T1
python3 - "$CONF" "$T3" "$INI" <<'PY'
import json, sys
path, t3, ini = sys.argv[1:4]
c = json.load(open(path))
c["targets"][0]["luns"].append({"lun": 1, "spec": "mem:8M"})
c["targets"].append({"iqn": t3, "luns": [{"lun": 0, "spec": "mem:16M"}], "acl": [ini],
                     "chap": {"user": "alice", "secret": "first-secret-1"}})
json.dump(c, open(path, "w"), indent=1)
PY
kill -HUP "$IDMD_PID"
for _ in $(seq 50); do grep -q "reloaded $CONF" "$IDMD_LOG" && break; sleep 0.1; done
grep -q "reloaded $CONF" "$IDMD_LOG" || fail "SIGHUP: no reload logged"
[[ $(luns_of "$T1") == "0 1 " ]] || fail "after reload: $T1 LUNs $(luns_of "$T1")"
c iscsi-inq -i "$INI" "$URL/$T3/0" >/dev/null 2>&1 && fail "$T3 let a login in without CHAP"
c iscsi-inq -i "$INI" "iscsi://alice%first-secret-1@127.0.0.1:$PORT/$T3/0" |
	grep -q CONNECTED || fail "CHAP login to $T3"

# a session in with the first secret, then the secret rotates
mkfifo "$TEST_TMP/qio3.in"
qemu-io --image-opts "driver=iscsi,transport=tcp,portal=127.0.0.1:$PORT,target=$T3,lun=0,user=alice,password=first-secret-1,initiator-name=$INI" \
	<"$TEST_TMP/qio3.in" >"$TEST_TMP/qio3.log" 2>&1 &
held3=$!
exec 8>"$TEST_TMP/qio3.in"
echo "write -P 0x77 0 64k" >&8
wait_for "$TEST_TMP/qio3.log" "wrote 65536/65536"
sed -i 's/first-secret-1/second-secret-2/' "$CONF"
kill -HUP "$IDMD_PID"
for _ in $(seq 50); do (($(grep -c "reloaded $CONF" "$IDMD_LOG") == 2)) && break; sleep 0.1; done
(($(grep -c "reloaded $CONF" "$IDMD_LOG") == 2)) || fail "second SIGHUP not applied"
c iscsi-inq -i "$INI" "iscsi://alice%first-secret-1@127.0.0.1:$PORT/$T3/0" >/dev/null 2>&1 &&
	fail "the old CHAP secret still logs in"
c iscsi-inq -i "$INI" "iscsi://alice%second-secret-2@127.0.0.1:$PORT/$T3/0" | grep -q CONNECTED ||
	fail "the new CHAP secret does not log in"
echo "read -P 0x77 0 64k" >&8
sleep 0.5
exec 8>&-
wait "$held3"
grep -q "read 65536/65536" "$TEST_TMP/qio3.log" || { cat "$TEST_TMP/qio3.log" >&2; fail "the session in before the rotation stopped"; }
log "CHAP secret rotated by SIGHUP: new logins need it, the session in goes on"

# --- per-initiator ACL entries, with their own CHAP account or the target's
INI2=iqn.2026-11.org.idm:live-initiator-2
INI3=iqn.2026-11.org.idm:live-initiator-3
inq_t3() { c iscsi-inq -i "$1" "iscsi://$2@127.0.0.1:$PORT/$T3/0" 2>&1 | grep -q CONNECTED; }
inq_t3 "$INI2" alice%second-secret-2 && fail "$INI2 logged in before its ACL entry"
adm acl add "$T3" "$INI2" --chap bob:bob-secret-1234 | grep -qx done || fail "acl add with CHAP"
adm acl add "$T3" "$INI3" | grep -qx done || fail "acl add"
adm acl list "$T3" | tee "$TEST_TMP/acl.txt"
grep -qE "^$INI +target" "$TEST_TMP/acl.txt" && grep -qE "^$INI2 +one-way +bob" "$TEST_TMP/acl.txt" &&
	grep -qE "^$INI3 +target" "$TEST_TMP/acl.txt" || fail "acl list"
inq_t3 "$INI2" bob%bob-secret-1234 || fail "$INI2 with its own CHAP account"
inq_t3 "$INI2" alice%second-secret-2 && fail "$INI2 logged in with the target's account"
inq_t3 "$INI3" alice%second-secret-2 || fail "$INI3 with the target's account"
adm acl remove "$T3" "$INI2" | grep -qx done || fail "acl remove"
inq_t3 "$INI2" bob%bob-secret-1234 && fail "$INI2 logged in after its ACL entry went"
adm_fails "acl remove of an initiator not listed" acl remove "$T3" "$INI2"
adm_fails "acl add with a bad credential" acl add "$T3" "$INI2" --chap nosecret
adm_fails "acl list of an unknown target" acl list iqn.2026-11.org.idm:nope
log "ACL: per-initiator CHAP account, target account, removal"

# a broken file changes nothing
cp "$CONF" "$TEST_TMP/good.json"
printf '{ "targets": [ ' >"$CONF"
kill -HUP "$IDMD_PID"
for _ in $(seq 50); do grep -q "nothing changed" "$IDMD_LOG" && break; sleep 0.1; done
(($(grep -c "reload: .*nothing changed" "$IDMD_LOG") == 1)) || fail "broken file: no single error line"
[[ $(adm --json target list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') == 2 ]] ||
	fail "a broken file changed the targets"
cp "$TEST_TMP/good.json" "$CONF"

background_io_stop 1

# --- config save, restart from it, save again: the same bytes
adm config save | grep -qx "saved $CONF" || fail "config save to the file idmd started with"
cp "$CONF" "$TEST_TMP/first.json"
idmd_stop
IDMD_CTL_FROM_CONFIG=1 IDMD_PORT=$PORT idmd_start --config "$CONF"
adm config save "$TEST_TMP/second.json" >/dev/null || fail "config save after restart"
cmp "$TEST_TMP/first.json" "$TEST_TMP/second.json" || fail "config save round trip differs"
[[ $(luns_of "$T1") == "0 1 " ]] || fail "restart from the saved file: $T1"
adm lun list "$T3" | grep -q "^$T3 *0 mem *16M" || fail "restart from the saved file: $T3"
idmd_stop
echo "PASS"
