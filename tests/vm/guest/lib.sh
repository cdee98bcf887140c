#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Sourced by the guest scripts INSIDE the test VM (run-vm.sh copies it beside them into
# /idm): one RESULT line per step, and the count of failed ones in $failures.

failures=0

# result NAME STATUS [WHY]: one RESULT line; count failures.
result() {
	echo "RESULT $1: $2${3:+ ($3)}"
	[[ $2 == PASS ]] || failures=$((failures + 1))
}

# step NAME CMD...: run CMD (output to the log), report it as NAME, return its status.
step() {
	local name=$1 rc t0=$SECONDS
	shift
	echo "+ [$name] $*"
	"$@"
	rc=$?
	if ((rc == 0)); then
		result "$name" PASS "$((SECONDS - t0)) s"
	elif dmesg | grep -q 'Login/Text in progress'; then
		# the kernel initiator refused its own Login PDU: see t_vm_linux_iser.sh (one vCPU)
		result "$name" FAIL "exit $rc; kernel: Login/Text in progress, an initiator-side race"
	else
		result "$name" FAIL "exit $rc"
	fi
	return "$rc"
}
