#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Authentication and access control with libiscsi's tools: one-way and mutual CHAP
# (right and wrong secrets), logins without credentials, per-target ACLs (the initiator
# name set with -i), an unknown target, discovery CHAP and SendTargets filtered by the
# ACLs (iscsi-ls -s over two targets from a --config file), the weak-secret warning, and
# no secret in any idmd log. libiscsi 1.19 offers only CHAP_A=5 (MD5): the other
# algorithms are covered by tests/target/target_auth_ut.c.
. "$(dirname "$0")/lib.sh"

require_idmd
require_prog iscsi-inq iscsi-ls

IQN=iqn.2026-11.org.idm:auth
IQN_B=iqn.2026-11.org.idm:auth-b
IQN_C=iqn.2026-11.org.idm:auth-c
INI_OK=iqn.2026-11.org.idm:allowed
INI_NO=iqn.2026-11.org.idm:stranger
SECRET=alice-secret-0001
TSECRET=target-secret-0002
DSECRET=disc-secret-0003
WEAK=weakpw7

# inq_ok URL [ARGS...]: iscsi-inq must log in and see a connected disk.
inq_ok() {
	local url=$1 out
	shift
	out=$(c iscsi-inq "$@" "$url" 2>&1) || fail "iscsi-inq $* ${url%%\?*} failed: $out"
	grep -qF "Peripheral Qualifier:CONNECTED" <<<"$out" || fail "iscsi-inq: not connected: $out"
}

# inq_refused WHAT URL [ARGS...]: iscsi-inq must fail to log in.
inq_refused() {
	local what=$1 url=$2 out
	shift 2
	if out=$(c iscsi-inq "$@" "$url" 2>&1); then
		fail "$what: iscsi-inq logged in but should have been refused"
	fi
	log "$what refused as expected: $(head -n 1 <<<"$out")"
}

# logged STATUS: idmd's current log holds a login refusal with STATUS (e.g. 0x0201).
logged() {
	grep -qF "login refused ($1)" "$IDMD_LOG" || fail "idmd log lacks \"login refused ($1)\""
}

PORT=$(free_port) || exit 1
URL="iscsi://127.0.0.1:$PORT"

# ---- one-way CHAP ----
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun mem:16M --chap "alice:$SECRET"
inq_ok "iscsi://alice%$SECRET@127.0.0.1:$PORT/$IQN/0"
echo "one-way CHAP (MD5): ok"
inq_refused "wrong secret" "iscsi://alice%not-the-secret-9@127.0.0.1:$PORT/$IQN/0"
logged 0x0201
inq_refused "wrong user" "iscsi://mallory%$SECRET@127.0.0.1:$PORT/$IQN/0"
inq_refused "no credentials" "$URL/$IQN/0"
[[ $(grep -c "login refused (0x0201)" "$IDMD_LOG") == 3 ]] ||
	fail "expected three 0x0201 refusals in $IDMD_LOG"
inq_refused "unknown target" "iscsi://alice%$SECRET@127.0.0.1:$PORT/$IQN-nope/0"
logged 0x0203
idmd_stop
echo "one-way CHAP refusals (0x0201, 0x0203): ok"

# ---- mutual CHAP ----
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun mem:16M --chap "alice:$SECRET" \
	--mutual-chap "tgt:$TSECRET"
inq_ok "iscsi://alice%$SECRET@127.0.0.1:$PORT/$IQN/0?target_user=tgt&target_password=$TSECRET"
echo "mutual CHAP: ok"
inq_refused "wrong target secret" \
	"iscsi://alice%$SECRET@127.0.0.1:$PORT/$IQN/0?target_user=tgt&target_password=other-secret-44"
[[ $(grep -c "normal session" "$IDMD_LOG") == 1 ]] || fail "expected one session in $IDMD_LOG"
idmd_stop
echo "mutual CHAP with a wrong target secret refused by the initiator: ok"

# ---- ACL ----
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun mem:16M --acl "$INI_OK"
inq_ok "$URL/$IQN/0" -i "$INI_OK"
inq_refused "initiator outside the ACL" "$URL/$IQN/0" -i "$INI_NO"
logged 0x0202
idmd_stop
echo "ACL (0x0202): ok"

# ---- weak secret warning ----
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun mem:16M --chap "bob:$WEAK"
grep -qF "CHAP secret is shorter than 12 bytes" "$IDMD_LOG" || fail "no weak-secret warning"
inq_ok "iscsi://bob%$WEAK@127.0.0.1:$PORT/$IQN/0"
idmd_stop
echo "weak secret warning: ok"

# ---- discovery CHAP and ACL-filtered SendTargets ----
# iscsi-ls -s logs in to each listed target with the URL's credentials, and
# libiscsi 1.19 offering CHAP,None to a target that answers None repeats
# SessionType (refused, RFC 7143 section 6.2): so every target takes them.
CHAP='"chap": { "user": "disc", "secret": "'$DSECRET'" }'
cat >"$TEST_TMP/idm.json" <<EOF
{
  "reactors": 2,
  "portals": [ { "addr": "127.0.0.1", "port": $PORT } ],
  "discovery": { "chap": { "user": "disc", "secret": "$DSECRET" } },
  "targets": [
    { "iqn": "$IQN", "luns": [ { "spec": "mem:16M" } ], "acl": [ "$INI_OK" ], $CHAP },
    { "iqn": "$IQN_B", "luns": [ { "spec": "mem:16M" } ], "acl": [ "$INI_NO" ], $CHAP },
    { "iqn": "$IQN_C", "luns": [ { "spec": "mem:16M" } ], $CHAP }
  ]
}
EOF
IDMD_PORT=$PORT idmd_start --config "$TEST_TMP/idm.json"
out=$(c iscsi-ls -s -i "$INI_OK" "iscsi://disc%$DSECRET@127.0.0.1:$PORT" 2>&1) ||
	fail "iscsi-ls -s with discovery CHAP failed: $out"
echo "$out"
grep -qF "Target:$IQN Portal:" <<<"$out" || fail "iscsi-ls: $IQN not listed"
grep -qF "Target:$IQN_C" <<<"$out" || fail "iscsi-ls: $IQN_C (no ACL) not listed"
grep -qF "Target:$IQN_B" <<<"$out" && fail "iscsi-ls: $IQN_B listed to an initiator its ACL refuses"
[[ $(grep -c '^Lun:0' <<<"$out") == 2 ]] || fail "iscsi-ls -s: expected LUN 0 of two targets"
out=$(c iscsi-ls -i "$INI_NO" "iscsi://disc%$DSECRET@127.0.0.1:$PORT" 2>&1) ||
	fail "iscsi-ls as $INI_NO failed: $out"
grep -qF "Target:$IQN_B" <<<"$out" || fail "iscsi-ls: $IQN_B not listed to its initiator"
grep -qF "Target:$IQN Portal:" <<<"$out" && fail "iscsi-ls: $IQN listed to $INI_NO"
if out=$(c iscsi-ls -i "$INI_OK" "$URL" 2>&1); then
	fail "discovery without CHAP credentials was let in: $out"
fi
logged 0x0201
idmd_stop
echo "discovery CHAP and ACL-filtered SendTargets: ok"

# ---- no secret ever in a log ----
# lib.sh (and valgrind, as IDMD_WRAPPER) echo idmd's command line: skip those lines.
for s in "$SECRET" "$TSECRET" "$DSECRET" "$WEAK" not-the-secret-9 other-secret-44; do
	for f in "$TEST_LOGDIR"/idmd.*.log; do
		grep -vE '^(\+ |==[0-9]+== Command: )' "$f" | grep -qF -- "$s" &&
			fail "a secret appears in $f"
	done
done
echo "no secret in idmd's logs: ok"
echo "PASS"
