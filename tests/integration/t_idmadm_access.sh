#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Access administration of a running idmd: per-initiator LUN maps (iscsi-ls,
# iscsi-readcapacity16 and iscsi-inq see each initiator's LUNs under its numbers and not
# the others; a live change reaches a held QEMU session as REPORTED LUNS DATA HAS
# CHANGED), read-only LUNs (libiscsi's ReadOnly suite: WP in MODE SENSE, every writing
# command refused with DATA PROTECT; QEMU's writes refused and reads served; lun set
# lifts it live), a LUN added with its cache and identity options (iscsi-inq sees vendor,
# product, VPD 0x80 serial and VPD 0x83 NAA; WCE through MODE SENSE and MODE SELECT with
# the mode_wce client), portals added and removed live (a login through the new one, a session
# there logged out when it goes, the old port refusing), and config save keeping all
# of it across a restart (the same bytes saved again), and SIGHUP applying changes to
# each from the file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/adm_lib.sh"

require_idmd
require_prog qemu-io iscsi-ls iscsi-inq iscsi-readcapacity16 iscsi-test-cu python3
IDMADM=${IDMADM:-$IDM_BUILD/idmadm}
MODE_WCE=$IDM_BUILD/tests/integration/mode_wce
trap '' PIPE
[[ -x $IDMADM ]] || fail "$IDMADM not built"
[[ -x $MODE_WCE ]] || fail "$MODE_WCE not built"

T=iqn.2026-11.org.idm:access
INI_A=iqn.2026-11.org.idm:access-a # sees a map
INI_B=iqn.2026-11.org.idm:access-b # sees every LUN
PORT=$(free_port) || exit 1
CTL=$TEST_TMP/idmd.sock
CONF=$TEST_TMP/idmd.json
cat >"$CONF" <<JSON
{
  "reactors": 2,
  "control_socket": "$CTL",
  "portals": [ { "addr": "127.0.0.1", "port": $PORT } ],
  "targets": [ { "iqn": "$T", "luns": [ { "lun": 0, "spec": "mem:16M" },
                                        { "lun": 1, "spec": "mem:32M" },
                                        { "lun": 2, "spec": "file:$TEST_TMP/l2.img:8M" } ] } ],
  "tunables": { "shutdown_grace_s": 2 }
}
JSON
IDMD_CTL_FROM_CONFIG=1 IDMD_PORT=$PORT idmd_start --config "$CONF"
URL=iscsi://127.0.0.1:$PORT
# luns_of INITIATOR [PORT]: the LUN numbers iscsi-ls shows that initiator.
luns_of() {
	c iscsi-ls -i "$1" -s "iscsi://127.0.0.1:${2:-$PORT}" |
		awk '/^Lun:/ {sub("Lun:", "", $1); printf "%s ", $1}'
}
capacity() { c iscsi-readcapacity16 -i "$1" -s "$URL/$T/$2"; }
# held_start NAME PORT LUN INITIATOR: a qemu-io session kept open on LUN of $T, reading
# its commands from the fifo $TEST_TMP/NAME.in (the caller opens it for writing), its
# output in $TEST_TMP/NAME.log; HELD_PID is its process.
held_start() {
	mkfifo "$TEST_TMP/$1.in"
	qemu-io --image-opts "driver=iscsi,transport=tcp,portal=127.0.0.1:$2,target=$T,lun=$3,initiator-name=$4" \
		<"$TEST_TMP/$1.in" >"$TEST_TMP/$1.log" 2>&1 &
	HELD_PID=$!
}

# --- LUN maps
adm acl add "$T" "$INI_A" --lun-map 0=2,5=1 | grep -qx done || fail "acl add with a LUN map"
adm acl add "$T" "$INI_B" | grep -qx done || fail "acl add without a map"
adm acl list "$T" | tee "$TEST_TMP/acl.txt"
grep -qE "^$INI_A +target +- +0=2,5=1$" "$TEST_TMP/acl.txt" || fail "acl list: $INI_A's map"
grep -qE "^$INI_B +target +- +all$" "$TEST_TMP/acl.txt" || fail "acl list: $INI_B sees all"
[[ $(luns_of "$INI_A") == "0 5 " ]] || fail "$INI_A sees LUNs $(luns_of "$INI_A")"
[[ $(luns_of "$INI_B") == "0 1 2 " ]] || fail "$INI_B sees LUNs $(luns_of "$INI_B")"
[[ $(capacity "$INI_A" 0) == $((8 << 20)) ]] || fail "$INI_A LUN 0 is not LUN 2: $(capacity "$INI_A" 0)"
[[ $(capacity "$INI_A" 5) == $((32 << 20)) ]] || fail "$INI_A LUN 5 is not LUN 1: $(capacity "$INI_A" 5)"
[[ $(capacity "$INI_B" 0) == $((16 << 20)) ]] || fail "$INI_B LUN 0: $(capacity "$INI_B" 0)"
c iscsi-inq -i "$INI_A" "$URL/$T/0" | grep -q "Peripheral Qualifier:CONNECTED" || fail "iscsi-inq $INI_A LUN 0"
for lun in 1 2; do
	c iscsi-inq -i "$INI_A" "$URL/$T/$lun" 2>&1 | grep -q "Peripheral Qualifier:CONNECTED" &&
		fail "$INI_A reaches LUN $lun, which its map leaves out"
done
capacity "$INI_A" 1 >/dev/null 2>&1 && fail "READ CAPACITY on $INI_A's unmapped LUN 1"
adm_fails "a LUN map naming a target LUN twice" acl add "$T" "$INI_A" --lun-map 0=1,1=1
adm_fails "a LUN map out of range" acl add "$T" "$INI_A" --lun-map 0=64
log "LUN maps: $INI_A sees 0 (LUN 2) and 5 (LUN 1), $INI_B all three"

# data written through the map lands on the real LU
qemu-io --image-opts "driver=iscsi,transport=tcp,portal=127.0.0.1:$PORT,target=$T,lun=0,initiator-name=$INI_A" \
	-c "write -P 0x5a 0 64k" >"$TEST_TMP/qw.log" 2>&1 || { cat "$TEST_TMP/qw.log" >&2; fail "write through the map"; }
qemu-io --image-opts "driver=iscsi,transport=tcp,portal=127.0.0.1:$PORT,target=$T,lun=2,initiator-name=$INI_B" \
	-c "read -P 0x5a 0 64k" >"$TEST_TMP/qr.log" 2>&1 || { cat "$TEST_TMP/qr.log" >&2; fail "read of LUN 2"; }
grep -q "read 65536/65536" "$TEST_TMP/qr.log" || { cat "$TEST_TMP/qr.log" >&2; fail "$INI_A's LUN 0 is not LUN 2"; }

# a live change reaches a held session of INI_A
held_start qio-held "$PORT" 0 "$INI_A"
held_pid=$HELD_PID
exec 7>"$TEST_TMP/qio-held.in"
echo "read -P 0x5a 0 64k" >&7
wait_for "$TEST_TMP/qio-held.log" "read 65536/65536"
adm acl add "$T" "$INI_A" --lun-map 0=2,3=0 | grep -qx done || fail "acl add: a new map"
grep -q "$T: 1 session(s) see other LUNs now" "$IDMD_LOG" || fail "the held session's map did not change"
echo "read -P 0x5a 0 64k" >&7
wait_for "$TEST_TMP/qio-held.log" "UNIT_ATTENTION.*0x3f0e" # REPORTED LUNS DATA HAS CHANGED
for _ in $(seq 50); do (($(grep -c "read 65536/65536" "$TEST_TMP/qio-held.log") == 2)) && break; sleep 0.1; done
(($(grep -c "read 65536/65536" "$TEST_TMP/qio-held.log") == 2)) ||
	{ cat "$TEST_TMP/qio-held.log" >&2; fail "held session: the read after the map change"; }
exec 7>&-
wait "$held_pid"
[[ $(luns_of "$INI_A") == "0 3 " ]] || fail "after the change $INI_A sees LUNs $(luns_of "$INI_A")"
[[ $(capacity "$INI_A" 3) == $((16 << 20)) ]] || fail "$INI_A LUN 3 is not LUN 0"
log "a live map change: REPORTED LUNS DATA HAS CHANGED to the held session, new LUNs seen"

# --- read-only LUNs
adm lun add "$T" mem:8M --lun 4 --read-only | grep -qx "LUN 4 added" || fail "lun add --read-only"
adm lun list "$T" | grep -qE "^$T +4 mem +8M .*\(read-only\)$" || fail "lun list: read-only"
c iscsi-test-cu --dataloss -i "$INI_B" -t ALL.ReadOnly "$URL/$T/4" >"$TEST_TMP/ro.log" 2>&1 ||
	{ cat "$TEST_TMP/ro.log" >&2; fail "iscsi-test-cu ReadOnly"; }
python3 - "$TEST_TMP/ro.log" <<'PY' || { cat "$TEST_TMP/ro.log" >&2; fail "ReadOnly suite: not run or failed"; }
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r"tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", t)
assert m and int(m.group(2)) >= 1 and int(m.group(4)) == 0, m and m.groups()
assert "SKIPPED" not in t.upper().replace("SKIPPED: 0", ""), "skipped"
PY
QIO4="driver=iscsi,transport=tcp,portal=127.0.0.1:$PORT,target=$T,lun=4,initiator-name=$INI_B"
cp "$TEST_TMP/ro.log" "$TEST_LOGDIR/readonly-suite.log"
# QEMU reads WP and opens the LU read-only (or not at all for writing)
qemu-io --image-opts "$QIO4" -c "write -P 0x11 0 4k" >"$TEST_TMP/q4.log" 2>&1
grep -q "write protected" "$TEST_TMP/q4.log" || { cat "$TEST_TMP/q4.log" >&2; fail "a write to the read-only LUN"; }
qemu-io -r --image-opts "$QIO4" -c "read -P 0 0 4k" 2>&1 | grep -q "read 4096/4096" || fail "a read of the read-only LUN"
adm lun set "$T" 4 --read-write | grep -qx done || fail "lun set --read-write"
qemu-io --image-opts "$QIO4" -c "write -P 0x11 0 4k" 2>&1 | grep -q "wrote 4096/4096" ||
	fail "a write after lun set --read-write"
adm lun set "$T" 4 --read-only | grep -qx done || fail "lun set --read-only"
qemu-io -r --image-opts "$QIO4" -c "read -P 0x11 0 4k" 2>&1 | grep -q "read 4096/4096" || fail "read back"
adm_fails "lun set without a mode" lun set "$T" 4
log "read-only LUN: libiscsi's ReadOnly suite passes, QEMU writes refused, lun set toggles it"

# --- a LUN's cache and identity, as an initiator sees them
# ident LUN: "vendor|product|serial|naa" from iscsi-inq's standard data, VPD 0x80 and
# VPD 0x83 (whose T10 designator must be the vendor and the serial too).
ident() {
	local u="$URL/$T/$1"
	{ c iscsi-inq -i "$INI_B" "$u" && c iscsi-inq -i "$INI_B" -e 1 -c 128 "$u" &&
		c iscsi-inq -i "$INI_B" -e 1 -c 131 "$u"; } | python3 -c '
import re, sys
t = sys.stdin.buffer.read()
v = re.search(rb"^Vendor:(.*)$", t, re.M).group(1).rstrip().decode()
p = re.search(rb"^Product:(.*)$", t, re.M).group(1).rstrip().decode()
s = re.search(rb"^Unit Serial Number:\[(.*)\]$", t, re.M).group(1).decode()
n = re.search(rb"Designator Type:\(3\) NAA\nDesignator:\[(.{16})\]", t, re.S).group(1).hex()
t10 = re.search(rb"T10_VENDORT_ID\nDesignator:\[(.*)\]", t).group(1).decode()
assert t10 == v.ljust(8) + s, t10
print(f"{v}|{p}|{s}|{n}")'
}
wce() { c "$MODE_WCE" -i "$INI_B" "$URL/$T/$1" ${2:+"$2"}; }
NAA6=6001405aa8e1c7f3c6a3b2b1e0d9c8b7
adm lun add "$T" mem:8M --lun 6 --no-wce --vendor ACME --product "Fast Disk" --serial SN-0042 \
	--naa "${NAA6^^}" | grep -qx "LUN 6 added" || fail "lun add with identity options"
adm lun list "$T" | grep -qx "    wce off, vendor \"ACME\", product \"Fast Disk\", serial SN-0042, naa $NAA6" ||
	{ adm lun list "$T"; fail "lun list: LUN 6's cache and identity"; }
adm_fails "lun add with a NAA in use" lun add "$T" mem:1M --lun 7 --naa "$NAA6"
adm_fails "lun add with a NAA 5" lun add "$T" mem:1M --lun 7 --naa "5${NAA6:1}"
adm_fails "lun add with a short NAA" lun add "$T" mem:1M --lun 7 --naa "${NAA6:1}"
adm_fails "lun add with a space in the serial" lun add "$T" mem:1M --lun 7 --serial "SN 1"
adm_fails "lun add with a 9-character vendor" lun add "$T" mem:1M --lun 7 --vendor ACMEACME9
adm_fails "lun add with a 17-character product" lun add "$T" mem:1M --lun 7 --product 12345678901234567
adm lun list "$T" | grep -qE "^$T +7 " && fail "a refused lun add left LUN 7"
[[ $(ident 6) == "ACME|Fast Disk|SN-0042|$NAA6" ]] || fail "iscsi-inq LUN 6: $(ident 6)"
IDENT0=$(ident 0)
[[ $IDENT0 =~ ^IDM\|idm\ disk\|[0-9a-f]{32}\|6[0-9a-f]{31}$ ]] || fail "iscsi-inq LUN 0: $IDENT0"
[[ $(wce 6) == WCE=0 ]] || fail "MODE SENSE LUN 6: $(wce 6)"
[[ $(wce 0) == WCE=1 ]] || fail "MODE SENSE LUN 0: $(wce 0)"
[[ $(wce 6 1) == WCE=1 ]] || fail "MODE SELECT WCE=1 on LUN 6"
[[ $(wce 6 0) == WCE=0 ]] || fail "MODE SELECT WCE=0 on LUN 6"
log "LUN 6 added with --no-wce, vendor, product, serial, NAA: iscsi-inq and MODE SENSE see them"

# --- portals added and removed live
PORT2=$(free_port) || exit 1
adm portal add "127.0.0.1:$PORT2" --tpgt 2 --transports tcp | grep -qx done || fail "portal add"
adm portal list | grep -qE "^127.0.0.1 +$PORT2 +2 tcp$" || { adm portal list; fail "portal list"; }
adm_fails "portal add of an existing one" portal add "127.0.0.1:$PORT2"
adm_fails "portal add of a foreign address" portal add "192.0.2.1:$PORT2"
adm_fails "portal add of a bad transport" portal add "127.0.0.1:$((PORT2 + 1))" --transports udp
[[ $(luns_of "$INI_B" "$PORT2") == "0 1 2 4 6 " ]] || fail "iscsi-ls through the new portal"
held_start qio2 "$PORT2" 1 "$INI_B"
held2=$HELD_PID
exec 8>"$TEST_TMP/qio2.in"
echo "write -P 0x22 0 64k" >&8
wait_for "$TEST_TMP/qio2.log" "wrote 65536/65536"
adm session list | grep -q "portal 127.0.0.1:$PORT2" || { adm session list; fail "session list: the new portal"; }
adm portal remove "127.0.0.1:$PORT2" | grep -qx done || fail "portal remove"
grep -q "portal 127.0.0.1 port $PORT2 removed (1 connection(s) ended)" "$IDMD_LOG" ||
	fail "portal remove did not end its session"
exec 8>&-
kill "$held2" 2>/dev/null
wait "$held2" 2>/dev/null
c iscsi-ls -i "$INI_B" "iscsi://127.0.0.1:$PORT2" >/dev/null 2>&1 && fail "the removed portal still answers"
adm portal list | grep -q " $PORT2 " && fail "the removed portal is listed"
adm_fails "portal remove of a missing one" portal remove "127.0.0.1:$PORT2"
[[ $(luns_of "$INI_B") == "0 1 2 4 6 " ]] || fail "the first portal after the removal"
adm portal add "127.0.0.1:$PORT2" --tpgt 3 | grep -qx done || fail "portal add again"
log "portals: added with tpgt 2, a session there logged out on removal, added again"

# --- config save keeps maps, read-only and portals; restart; the same bytes again
adm config save | grep -qx "saved $CONF" || fail "config save"
python3 - "$CONF" "$INI_A" "$PORT2" "$NAA6" "$IDENT0" <<'PY' || fail "the saved config"
import json, sys
c = json.load(open(sys.argv[1]))
t = c["targets"][0]
a = [e for e in t["acl"] if isinstance(e, dict) and e["initiator"] == sys.argv[2]][0]
assert a["lun_map"] == {"0": 2, "3": 0}, a
assert [l.get("read_only", False) for l in t["luns"]] == [False, False, False, True, False], t["luns"]
l6 = t["luns"][4]
assert (l6["lun"], l6["write_cache"], l6["vendor"], l6["product"], l6["serial"], l6["naa"]) == \
    (6, False, "ACME", "Fast Disk", "SN-0042", sys.argv[4]), l6
# a derived identity is saved too, so that it follows the LUN if renumbered
l0 = t["luns"][0]
assert "|".join(["IDM", "idm disk", l0["serial"], l0["naa"]]) == sys.argv[5], l0
assert "write_cache" not in l0 and "vendor" not in l0, l0
assert [(p["port"], p["tpgt"]) for p in c["portals"]][1] == (int(sys.argv[3]), 3), c["portals"]
PY
cp "$CONF" "$TEST_TMP/first.json"
idmd_stop
IDMD_CTL_FROM_CONFIG=1 IDMD_PORT=$PORT idmd_start --config "$CONF"
adm config save "$TEST_TMP/second.json" >/dev/null || fail "config save after restart"
cmp "$TEST_TMP/first.json" "$TEST_TMP/second.json" || fail "config save round trip differs"
[[ $(luns_of "$INI_A") == "0 3 " ]] || fail "after restart $INI_A sees $(luns_of "$INI_A")"
[[ $(luns_of "$INI_B" "$PORT2") == "0 1 2 4 6 " ]] || fail "after restart: the second portal"
adm lun list "$T" | grep -qE "^$T +4 .*\(read-only\)$" || fail "after restart: LUN 4 read-only"
[[ $(ident 0) == "$IDENT0" ]] || fail "after restart: LUN 0 is $(ident 0), was $IDENT0"
[[ $(ident 6) == "ACME|Fast Disk|SN-0042|$NAA6" ]] || fail "after restart: LUN 6 is $(ident 6)"
[[ $(wce 6) == WCE=0 ]] || fail "after restart: LUN 6 $(wce 6)"

# --- SIGHUP applies the same: a new map, LUN 4 writable, the second portal gone
python3 - "$CONF" "$INI_A" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
t = c["targets"][0]
[e for e in t["acl"] if isinstance(e, dict) and e["initiator"] == sys.argv[2]][0]["lun_map"] = {"0": 1}
t["luns"][3]["read_only"] = False
t["luns"][4]["serial"] = "SN-0043"
c["portals"] = c["portals"][:1]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
kill -HUP "$IDMD_PID"
wait_for "$IDMD_LOG" "reloaded $CONF"
[[ $(luns_of "$INI_A") == "0 " ]] || fail "after SIGHUP $INI_A sees $(luns_of "$INI_A")"
[[ $(capacity "$INI_A" 0) == $((32 << 20)) ]] || fail "after SIGHUP $INI_A LUN 0 is not LUN 1"
adm lun list "$T" | grep -qE "^$T +4 .*\(read-only\)$" && fail "after SIGHUP: LUN 4 still read-only"
adm portal list | grep -q " $PORT2 " && fail "after SIGHUP: the second portal is still there"
[[ $(ident 6) == "ACME|Fast Disk|SN-0043|$NAA6" ]] || fail "after SIGHUP: LUN 6 is $(ident 6)"
[[ $(ident 0) == "$IDENT0" ]] || fail "after SIGHUP: LUN 0 is $(ident 0)"
log "SIGHUP: a LUN map, write protection, a portal and a LUN's serial changed from the file"
idmd_stop
echo "PASS"
