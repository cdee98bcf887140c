#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# abort (raw sockets, issue 7): every TMF that aborts (ABORT TASK, ABORT TASK SET, CLEAR
# TASK SET, LOGICAL UNIT RESET, TARGET WARM RESET) and PERSISTENT RESERVE OUT PREEMPT AND
# ABORT, arriving while a 256 KiB WRITE's immediate data, unsolicited Data-Out or solicited
# Data-Out is half received; the rest of the WRITE comes after the TMF response, or never
# (connection closed). Afterwards no byte of the aborted WRITE is on the medium, idmd is
# alive, and a session on another target has written and verified all along. On a mem:
# and a file: LUN, with one reactor and with three: four idmd runs.
. "$(dirname "$0")/lib.sh"

require_idmd
need_test_prog ABORTER aborter

IQN=iqn.2026-11.org.idm:abort
IQN2=iqn.2026-11.org.idm:abort-bystander

# run_abort STORE REACTORS: one idmd with two targets on STORE LUNs, and the aborter.
run_abort() {
	local store=$1 reactors=$2 port spec spec2 cfg=$TEST_TMP/idmd.json
	port=$(free_port) || exit 1
	case $store in
	mem) spec=mem:64M spec2=mem:16M ;;
	file)
		spec=file:$TEST_TMP/lun.img:64M spec2=file:$TEST_TMP/bystander.img:16M
		rm -f "$TEST_TMP"/*.img
		;;
	esac
	cat >"$cfg" <<JSON
{
  "reactors": $reactors,
  "portals": [ { "addr": "127.0.0.1", "port": $port, "tpgt": 1 } ],
  "targets": [
    { "iqn": "$IQN", "luns": [ { "lun": 0, "spec": "$spec" } ] },
    { "iqn": "$IQN2", "luns": [ { "lun": 0, "spec": "$spec2" } ] }
  ]
}
JSON
	log "$store LUNs, $reactors reactor(s)"
	IDMD_PORT=$port idmd_start --config "$cfg"
	t 90 "$ABORTER" -p "127.0.0.1:$port" -t "$IQN" -T "$IQN2" ||
		fail "abort cases on $store LUNs with $reactors reactor(s) (idmd log: $IDMD_LOG)"
	idmd_alive || fail "idmd died in the abort cases ($store, $reactors reactor(s))"
	idmd_stop
}

# Every run, even after one failed (each in a subshell that cleans up its idmd).
failed=() runs=()
for run in "mem 1" "file 1" "mem 3" "file 3"; do
	IDMD_RUNS=${#runs[@]}
	runs+=("$run")
	# shellcheck disable=SC2086 # "STORE REACTORS"
	(
		trap 'idmd_alive && kill -KILL "$IDMD_PID"' EXIT
		run_abort $run
	) || failed+=("$run")
done
((${#failed[@]} == 0)) || fail "abort cases failed on: ${failed[*]} (store, reactors)"
echo "PASS"
