# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
#
# Helpers of the idmadm tests (t_idmadm.sh, t_idmadm_live.sh); source after lib.sh, with
# IDMADM and CTL (the control socket) set.

# adm ARGS...: idmadm against the idmd under test.
adm() { c "$IDMADM" --socket "$CTL" "$@"; }

# adm_fails WHAT ARGS...: idmadm must exit non-zero with exactly one line on stderr.
adm_fails() {
	local what=$1 err=$TEST_TMP/adm.err
	shift
	adm "$@" >/dev/null 2>"$err" && fail "$what: idmadm $* succeeded"
	(($(grep -c . "$err") == 1)) || { cat "$err" >&2; fail "$what: not one error line"; }
	log "$what: $(cat "$err")"
}

# wait_for FILE TEXT: until FILE holds TEXT (10 s at most).
wait_for() {
	for _ in $(seq 100); do grep -q "$2" "$1" && return 0; sleep 0.1; done
	cat "$1" >&2
	fail "no \"$2\" in $1"
}

# jq_py EXPR: evaluate a Python expression over the JSON on stdin (as `r`).
jq_py() { python3 -c "import json,sys; r=json.load(sys.stdin); print($1)"; }

# background_io_start URL: rounds of 32 MiB of random data to URL (a LUN) and back, each
# compared, until background_io_stop. BG_PID is the loop's.
background_io_start() {
	local url=$1
	head -c 32M /dev/urandom >"$TEST_TMP/src.raw"
	rm -f "$TEST_TMP/stop"
	(
		round=0
		while [[ ! -e $TEST_TMP/stop ]]; do
			round=$((round + 1))
			qemu-img convert -n -f raw -O raw "$TEST_TMP/src.raw" "$url" &&
				qemu-img convert -f raw -O raw "$url" "$TEST_TMP/back.raw" &&
				cmp -n $((32 << 20)) "$TEST_TMP/src.raw" "$TEST_TMP/back.raw" ||
				{ echo "round $round failed"; exit 1; }
			echo "round $round verified"
		done
	) >"$TEST_LOGDIR/background.log" 2>&1 &
	BG_PID=$!
}

# background_io_stop MIN_ROUNDS: end the loop; every round verified, at least MIN_ROUNDS.
background_io_stop() {
	local rounds
	touch "$TEST_TMP/stop"
	wait "$BG_PID" || { cat "$TEST_LOGDIR/background.log" >&2; fail "background I/O failed"; }
	rounds=$(grep -c verified "$TEST_LOGDIR/background.log")
	((rounds >= $1)) || fail "background I/O: only $rounds round(s) while idmadm ran"
	log "background I/O: $rounds rounds of 32 MiB verified"
}
