#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# idmio, the initiator CLI, against idmd and against tgtd (Debian tgt):
# discovery, login, INQUIRY, READ CAPACITY, write/read/compare (sizes that
# need R2T and several Data-In PDUs), copy both ways, bench in each mode,
# and the transport choice (iser refused, auto falls back to TCP).
. "$(dirname "$0")/lib.sh"

require_idmd
IDMIO=${IDMIO:-$IDM_BUILD/idmio}
[[ -x $IDMIO ]] || fail "$IDMIO not built"
IQN=iqn.2026-11.org.idm:idmio
BENCH_TIME=${BENCH_TIME:-2}

# bench_ok URL MODE: 2 s of bench must report a nonzero IOPS.
bench_ok() {
	local out iops
	out=$(c "$IDMIO" bench "$1" --rw "$2" --bs 4k --qd 32 --time "$BENCH_TIME") ||
		fail "bench $2 failed: $out"
	echo "$out" >"$TEST_LOGDIR/bench-$2-$3.log"
	iops=$(awk '$1 == "IOPS:" { print int($2) }' <<<"$out")
	[[ ${iops:-0} -gt 0 ]] || fail "bench $2 on $3: no IOPS ($out)"
	log "bench $2 on $3: $iops IOPS"
}

# rw_compare URL LBA BYTES NAME: write a random file, read it back, compare.
rw_compare() {
	local url=$1 lba=$2 bytes=$3 name=$4 blocks
	head -c "$bytes" /dev/urandom >"$TEST_TMP/$name.in"
	blocks=$((bytes / 512))
	# shellcheck disable=SC2086 # DIGEST is an optional word
	c "$IDMIO" ${DIGEST:-} write "$url" --lba "$lba" --count "$blocks" --in "$TEST_TMP/$name.in" ||
		fail "write $name"
	# shellcheck disable=SC2086
	c "$IDMIO" ${DIGEST:-} read "$url" --lba "$lba" --count "$blocks" --out "$TEST_TMP/$name.out" ||
		fail "read $name"
	cmp "$TEST_TMP/$name.in" "$TEST_TMP/$name.out" || fail "data differs: $name"
	log "write/read/compare $name ($bytes bytes at LBA $lba): ok"
}

# ---- against idmd ----

PORT=$(free_port) || exit 1
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun "mem:$((32 << 20))"
URL="iscsi://127.0.0.1:$PORT/$IQN/0"

out=$(c "$IDMIO" discover "iscsi://127.0.0.1:$PORT") || fail "discover: $out"
grep -q "^$IQN\$" <<<"$out" || fail "discover did not list $IQN: $out"
grep -q "127.0.0.1:$PORT" <<<"$out" || fail "discover did not list the portal: $out"
out=$(c "$IDMIO" login "$URL") || fail "login: $out"
grep -q "MaxRecvDataSegmentLength(target)=" <<<"$out" || fail "login printed no parameters"
out=$(c "$IDMIO" inquiry "$URL") || fail "inquiry: $out"
grep -q "peripheral type: 0" <<<"$out" || fail "inquiry: $out"
out=$(c "$IDMIO" readcap "$URL") || fail "readcap: $out"
grep -q "bytes: $((32 << 20))" <<<"$out" || fail "readcap: $out"

rw_compare "$URL" 0 4096 small
rw_compare "$URL" 1000 $((3 << 20)) r2t            # beyond FirstBurstLength: R2Ts
rw_compare "$URL" 20000 $((1 << 20)) datain         # several Data-In per command
rw_compare "$URL" 7 $((256 * 1024 + 512)) odd
out=$(c "$IDMIO" --digest login "$URL") || fail "digest login: $out"
grep -q "DataDigest=CRC32C" <<<"$out" || fail "digests not negotiated: $out"
DIGEST=--digest rw_compare "$URL" 500 $((2 << 20)) digest

head -c $((5 << 20)) /dev/urandom >"$TEST_TMP/copy.in"
c "$IDMIO" copy "$TEST_TMP/copy.in" "$URL" 2>"$TEST_TMP/copy.err" || fail "copy to LUN"
grep -q "progress:" "$TEST_TMP/copy.err" || fail "copy printed no progress lines"
c "$IDMIO" copy "$URL" "$TEST_TMP/copy.out" 2>/dev/null || fail "copy from LUN"
cmp -n $((5 << 20)) "$TEST_TMP/copy.in" "$TEST_TMP/copy.out" || fail "copy data differs"
[[ $(stat -c %s "$TEST_TMP/copy.out") == $((32 << 20)) ]] || fail "copy from LUN: wrong size"
log "copy both ways: ok"

for m in randread randwrite read write; do
	bench_ok "$URL" "$m" idmd
done

# errors: non-zero exit with a message
c "$IDMIO" inquiry "iscsi://127.0.0.1:$PORT/iqn.2026-11.org.idm:nope/0" 2>"$TEST_TMP/e1" &&
	fail "login to an unknown target succeeded"
grep -q "target not found" "$TEST_TMP/e1" || fail "no clear error: $(cat "$TEST_TMP/e1")"
c "$IDMIO" read "$URL" --lba $((64 << 20)) --count 1 2>/dev/null && fail "read beyond the LUN"
c "$IDMIO" inquiry "iscsi://127.0.0.1:$PORT/$IQN" 2>/dev/null && fail "bad URL accepted"

# transports
c "$IDMIO" --transport iser inquiry "$URL" 2>"$TEST_TMP/e2" && fail "--transport iser worked"
grep -qi "iser" "$TEST_TMP/e2" || fail "no clear iSER message: $(cat "$TEST_TMP/e2")"
c "$IDMIO" --transport auto inquiry "$URL" >/dev/null 2>"$TEST_TMP/e3" || fail "auto: $(cat "$TEST_TMP/e3")"
grep -qi "falling back" "$TEST_TMP/e3" || fail "auto did not say why it fell back"
grep -q "using tcp" "$TEST_TMP/e3" || fail "auto did not pick tcp"

# ABORT TASK, then LU RESET, while 8 WRITEs of 512 KiB are in flight: no part of an aborted
# WRITE beside the old data on the medium, nothing changes after the TMF response (issue 7)
out=$(c "$IDMIO" abort "$URL" --lba 8192 --bs 512k --qd 8 2>&1) || fail "abort: $out"
grep -q "^lun reset: 8 writes" <<<"$out" || fail "abort: $out"
idmd_alive || fail "idmd died"
idmd_stop

# a target with RFC-default-like limits (InitialR2T=Yes, no immediate data,
# 8 KiB PDUs) that pings every second: all data by R2T, NOP-Ins answered
PORT=$(free_port) || exit 1
cat >"$TEST_TMP/idmd.json" <<JSON
{ "portals": [ { "addr": "127.0.0.1", "port": $PORT } ],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "spec": "mem:16M" } ] } ],
  "tunables": { "max_recv_dsl": 8192, "first_burst_length": 65536, "max_burst_length": 262144,
                "initial_r2t": true, "immediate_data": false,
                "nop_interval_s": 1, "nop_timeout_s": 1 } }
JSON
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd.json"
URL="iscsi://127.0.0.1:$PORT/$IQN/0"
out=$(c "$IDMIO" login "$URL" --idle 4) || fail "idle session: $out"
grep -q "InitialR2T=Yes" <<<"$out" || fail "InitialR2T not negotiated: $out"
pdus=$(awk '$1 == "idle" { print $5 }' <<<"$out")
((${pdus:-0} > 2)) || fail "no NOP-In seen while idle: $out"
rw_compare "$URL" 3 $((1500 * 1024)) r2t-only
out=$(c "$IDMIO" reset "$URL") || fail "reset: $out"
grep -q "lun reset: done" <<<"$out" || fail "reset: $out"
idmd_alive || fail "idmd died"
idmd_stop

# small PDUs with InitialR2T=No: immediate data, then unsolicited Data-Out
# up to FirstBurstLength, then R2Ts
PORT=$(free_port) || exit 1
sed -e "s/\"port\": [0-9]*/\"port\": $PORT/" -e 's/"initial_r2t": true/"initial_r2t": false/' \
	-e 's/"immediate_data": false/"immediate_data": true/' "$TEST_TMP/idmd.json" >"$TEST_TMP/idmd2.json"
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idmd2.json"
URL="iscsi://127.0.0.1:$PORT/$IQN/0"
out=$(c "$IDMIO" login "$URL") || fail "login: $out"
grep -q "InitialR2T=No" <<<"$out" || fail "InitialR2T=No not negotiated: $out"
rw_compare "$URL" 11 $((1500 * 1024)) unsolicited
rw_compare "$URL" 2000 $((40 * 1024)) unsolicited-short
idmd_alive || fail "idmd died"
idmd_stop

# ---- IPv6 portal (when the loopback has ::1) ----

if ip -6 addr show lo 2>/dev/null | grep -q "::1"; then
	PORT=$(free_port) || exit 1
	idmd_start --portal "[::1]:$PORT" --target "$IQN" --lun "mem:$((4 << 20))"
	out=$(c "$IDMIO" inquiry "iscsi://[::1]:$PORT/$IQN/0") || fail "IPv6 inquiry: $out"
	out=$(c "$IDMIO" discover "iscsi://[::1]:$PORT") || fail "IPv6 discover: $out"
	grep -q "^$IQN\$" <<<"$out" || fail "IPv6 discover: $out"
	idmd_stop
	log "IPv6 portal: ok"
fi

# ---- a hostile target: random answers must give errors, never a crash ----

if command -v python3 >/dev/null; then
	HPORT=$(free_port) || exit 1
	cat >"$TEST_TMP/hostile.py" <<'HOSTILE_PY'
import random, socket, struct, sys
port, n, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(8)
OPS = b"HeaderDigest=None\0DataDigest=None\0MaxRecvDataSegmentLength=8192\0" \
      b"ImmediateData=Yes\0InitialR2T=No\0MaxBurstLength=65536\0FirstBurstLength=65536\0"
def login_rsp(req):
    csg = (req[1] >> 2) & 3
    data = b"AuthMethod=None\0" if csg == 0 else OPS
    b = bytearray(48)
    b[0], b[1] = 0x23, 0x80 | (csg << 2) | (3 if csg == 1 else 1)
    b[5:8] = len(data).to_bytes(3, "big")
    b[8:14], b[14:16], b[16:20] = req[8:14], b"\0\1", req[16:20]
    struct.pack_into(">III", b, 24, 0, 1, 64)
    return bytes(b) + data + b"\0" * (-len(data) % 4)
def garbage(req):
    b = bytearray(rnd.getrandbits(8) for _ in range(48))
    b[0] = rnd.choice([0x20, 0x21, 0x22, 0x24, 0x25, 0x26, 0x31, 0x32, 0x3f, rnd.randrange(64)])
    if rnd.random() < 0.7:
        b[16:20] = req[16:20]
    if rnd.random() < 0.5:
        b[4] = 0
    dl = rnd.choice([0, 1, 100, 8192, rnd.randrange(1 << 24)])
    b[5:8] = dl.to_bytes(3, "big")
    return bytes(b) + bytes(rnd.getrandbits(8) for _ in range(min(dl, 9000)))
for _ in range(n):
    c, _ = ls.accept()
    c.settimeout(2)
    mode = rnd.randrange(4)
    try:
        while True:
            req = c.recv(48, socket.MSG_WAITALL)
            if len(req) < 48:
                break
            dl = int.from_bytes(req[5:8], "big")
            if dl:
                c.recv(dl + (-dl % 4), socket.MSG_WAITALL)
            if req[0] & 0x3f == 3 and mode > 0:
                c.sendall(login_rsp(req))
                continue
            for _ in range(rnd.randrange(1, 6)):
                c.sendall(garbage(req))
            if rnd.random() < 0.3:
                break
    except OSError:
        pass
    c.close()
HOSTILE_PY
	HN=60
	python3 "$TEST_TMP/hostile.py" "$HPORT" "$HN" "$RANDOM" &
	HPID=$!
	for _ in $(seq 50); do port_listening "$HPORT" && break; sleep 0.1; done
	HURL="iscsi://127.0.0.1:$HPORT/iqn.2026-11.org.idm:hostile/0"
	for ((i = 0; i < HN; i++)); do
		case $((i % 3)) in
		0) t 10 "$IDMIO" inquiry "$HURL" >/dev/null 2>"$TEST_TMP/h.err" ;;
		1) t 10 "$IDMIO" write "$HURL" --lba 0 --count 300 --pattern 1 >/dev/null 2>"$TEST_TMP/h.err" ;;
		2) t 10 "$IDMIO" discover "iscsi://127.0.0.1:$HPORT" >/dev/null 2>"$TEST_TMP/h.err" ;;
		esac
		rc=$?
		if ((rc > 2)) || sanitizer_report "$TEST_TMP/h.err"; then
			cat "$TEST_TMP/h.err" >&2
			kill "$HPID" 2>/dev/null
			fail "idmio crashed or hung against a hostile target (exit $rc)"
		fi
	done
	kill "$HPID" 2>/dev/null
	wait "$HPID" 2>/dev/null
	log "hostile target: $HN sessions, no crash"
fi

# ---- against tgtd ----

tgtd_start "the idmd part passed"
TIQN=iqn.2026-11.org.idm:tgtd
TGT_BACKING=$TEST_TMP/tgtd-lun1.img
truncate -s 64M "$TGT_BACKING"
"${TA[@]}" --op new --mode target --tid 1 -T "$TIQN" || fail "tgtadm: new target"
"${TA[@]}" --op new --mode logicalunit --tid 1 --lun 1 -b "$TGT_BACKING" || fail "tgtadm: new lun"
"${TA[@]}" --op bind --mode target --tid 1 -I ALL || fail "tgtadm: bind"
TURL="iscsi://127.0.0.1:$TPORT/$TIQN/1"

out=$(c "$IDMIO" login "$TURL") || fail "tgtd login: $out"
out=$(c "$IDMIO" inquiry "$TURL") || fail "tgtd inquiry: $out"
out=$(c "$IDMIO" readcap "$TURL") || fail "tgtd readcap: $out"
grep -q "bytes: $((64 << 20))" <<<"$out" || fail "tgtd readcap: $out"
rw_compare "$TURL" 0 4096 tgt-small
rw_compare "$TURL" 100 $((2 << 20)) tgt-r2t   # tgtd's defaults: 8 KiB PDUs, 64 KiB first burst
DIGEST=--digest rw_compare "$TURL" 5000 $((1 << 20)) tgt-digest
bench_ok "$TURL" randread tgtd
bench_ok "$TURL" randwrite tgtd
c "$IDMIO" --transport auto inquiry "$TURL" >/dev/null 2>"$TEST_TMP/e4" || fail "tgtd auto"
grep -qi "falling back" "$TEST_TMP/e4" || fail "auto did not say why it fell back (tgtd)"
echo "PASS"
