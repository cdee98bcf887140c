#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# SCSI/iSCSI conformance with libiscsi's iscsi-test-cu, suite by suite. libiscsi 1.19
# silently runs nothing for a suite name it does not know, so each suite must have run
# at least one test (CUnit "Run Summary" tests/Ran) and failed none.
. "$(dirname "$0")/lib.sh"

require_idmd
require_prog iscsi-test-cu

SUITES=(ALL.Mandatory ALL.TestUnitReady ALL.Inquiry ALL.ReadCapacity10 ALL.ReadCapacity16
	ALL.Read6 ALL.Read10 ALL.Read12 ALL.Read16 ALL.Write10 ALL.Write12 ALL.Write16
	ALL.ModeSense6 ALL.Verify10 ALL.Verify12 ALL.Verify16 ALL.StartStopUnit
	ALL.iSCSIcmdsn ALL.iSCSIdatasn ALL.iSCSIResiduals ALL.iSCSITMF)
SUITE_TIMEOUT=${SUITE_TIMEOUT:-300}
IQN=iqn.2026-11.org.idm:conformance

# cunit_counts LOG: print "ran failed" from the tests row of CUnit's Run Summary:
#   tests  Total  Ran  Passed  Failed  Inactive
cunit_counts() {
	awk '$1 == "tests" && NF >= 6 { print $3, $5; found = 1 } END { if (!found) exit 1 }' "$1"
}

PORT=$(free_port) || exit 1
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun "mem:$((128 << 20))"
URL="iscsi://127.0.0.1:$PORT/$IQN/0"

bad=0
for suite in "${SUITES[@]}"; do
	slog=$TEST_LOGDIR/$suite.log
	t "$SUITE_TIMEOUT" iscsi-test-cu --dataloss --test "$suite" "$URL" >"$slog" 2>&1
	rc=$?
	if ! counts=$(cunit_counts "$slog"); then
		echo "$suite: no CUnit summary (exit $rc), see $slog"
		bad=1
	else
		read -r ran nfail <<<"$counts"
		echo "$suite: ran $ran, failed $nfail (exit $rc)"
		if ((ran == 0 || nfail != 0 || rc != 0)); then
			grep -E 'FAILED|Test: .*\.\.\.FAILED|CU_ASSERT|failed' "$slog" | head -n 20
			bad=1
		fi
	fi
	idmd_alive || fail "idmd died during $suite"
done
idmd_stop

# The whole suite (every SCSI and iSCSI test of libiscsi 1.19) on a file LUN, the URL
# given twice so the MultipathIO tests get their second session, with a state
# directory for APTPL. Skips are counted and their reasons listed: the README names
# the ones that cannot apply.
state=$TEST_LOGDIR/state
img=$TEST_LOGDIR/all.img
rm -rf "$state" "$img"
truncate -s 256M "$img"
PORT=$(free_port) || exit 1
idmd_start --portal "127.0.0.1:$PORT" --target "$IQN" --lun "file:$img:256M" --state-dir "$state"
URL="iscsi://127.0.0.1:$PORT/$IQN/0"
alog=$TEST_LOGDIR/ALL.log
t 900 iscsi-test-cu --dataloss --test ALL "$URL" "$URL" >"$alog" 2>&1
rc=$?
if ! counts=$(cunit_counts "$alog"); then
	echo "ALL: no CUnit summary (exit $rc), see $alog"
	bad=1
else
	read -r ran nfail <<<"$counts"
	nskip=$(grep -c '\[SKIPPED\]' "$alog")
	echo "ALL: ran $ran, failed $nfail, of which libiscsi skipped $nskip (exit $rc)"
	grep -o '\[SKIPPED\].*' "$alog" | sort | uniq -c | sort -rn | sed 's/^/    /'
	if ((ran < 200 || nfail != 0 || rc != 0)); then
		grep -E '^ *Test: .*FAILED|CU_ASSERT' "$alog" | head -n 20
		bad=1
	fi
fi
idmd_alive || fail "idmd died during the whole suite"
idmd_stop
rm -f "$img"
((bad == 0)) || fail "conformance failures (logs in $TEST_LOGDIR)"
echo "PASS"
