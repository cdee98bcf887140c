#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Run every test: (a) meson unit tests, (b) tests/integration/t_*.sh against build/idmd,
# (c) both again on an ASan+UBSan build (build-asan) with IDMD=build-asan/idmd,
# (d) the unit tests and idmd under valgrind (memcheck), for the integration tests in
# $VALGRIND_TESTS, (e) the fuzz harnesses' corpora and short runs (tests/fuzz).
# One line per test; the very last line is "N passed, N failed[, N skipped]".
# Exit status is non-zero when any test failed. Logs: build/test-logs/.
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
TEST_TIMEOUT=${TEST_TIMEOUT:-600}   # per integration test, seconds
UNIT_TIMEOUT=${UNIT_TIMEOUT:-1800}  # the whole unit run of one build, seconds
LOGS=$ROOT/$BUILD/test-logs
VALGRIND="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite -q"
VALGRIND_TESTS=${VALGRIND_TESTS:-t_discovery t_extra t_hostile t_churn}
export ASAN_OPTIONS_RUN=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS_RUN=halt_on_error=1:print_stacktrace=1

passed=0 failed=0 skipped=0
rm -rf "$LOGS"
mkdir -p "$LOGS"

# report RESULT NAME [DETAIL]: print one line and count it.
report() {
	local res=$1 name=$2 detail=${3:-}
	case $res in
	PASS) passed=$((passed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)) ;;
	esac
	printf '%-5s %s%s\n' "$res" "$name" "${detail:+  ($detail)}"
}

# build_dir DIR [MESON_ARGS...]: configure DIR if needed and build it.
build_dir() {
	local dir=$1
	shift
	if [[ ! -f $dir/build.ninja ]]; then
		meson setup "$dir" "$@" || return 1
	fi
	ninja -C "$dir"
}

# run_unit DIR PREFIX: meson's unit suite in DIR, one line per test from testlog.json.
run_unit() {
	local dir=$1 prefix=$2 logdir=$LOGS/$2unit rc res name failed_before=$failed testlog
	mkdir -p "$logdir"
	rm -f "$dir"/meson-logs/testlog*.json
	timeout -k 10 "$UNIT_TIMEOUT" meson test -C "$dir" --suite unit --no-rebuild \
		${UNIT_WRAPPER:+--wrapper "$UNIT_WRAPPER"} --timeout-multiplier "${UNIT_TIMEOUT_MULT:-1}" \
		--print-errorlogs >"$logdir/meson-test.log" 2>&1
	rc=$?
	# with --wrapper, meson names the log after the wrapper: testlog-valgrind.json
	testlog=$(ls "$dir"/meson-logs/testlog*.json 2>/dev/null | head -n 1)
	if [[ ! -s $testlog ]]; then
		if grep -q 'No suitable tests defined' "$logdir/meson-test.log" ||
			grep -q 'No tests defined' "$logdir/meson-test.log"; then
			echo "      (no unit tests defined in $dir)"
			return 0
		fi
		report FAIL "${prefix}unit" "meson test exited $rc, see $logdir/meson-test.log"
		return 0
	fi
	while IFS=$'\t' read -r res name; do
		report "$res" "${prefix}unit/$name"
	done < <(python3 - "$testlog" "$logdir" <<'PY'
import json, os, re, sys
logdir = sys.argv[2]
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    t = json.loads(line)
    name = t.get("name", "?").split(" / ")[-1]
    res = t.get("result", "FAIL")
    res = {"OK": "PASS", "EXPECTEDFAIL": "PASS", "SKIP": "SKIP"}.get(res, "FAIL")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    with open(os.path.join(logdir, safe + ".log"), "w") as f:
        f.write(t.get("stdout") or "")
        f.write(t.get("stderr") or "")
    print(f"{res}\t{name}")
PY
	)
	# meson failing with no failing test (a crash in meson itself) is a failure too
	if ((rc != 0 && failed == failed_before)); then
		report FAIL "${prefix}unit" "meson test exited $rc, see $logdir/meson-test.log"
	fi
}

# idmd_in DIR: the daemon of build DIR.
idmd_in() {
	echo "$ROOT/$1/idmd"
}

# run_integration BUILD_DIR IDMD PREFIX [NAMES]: every tests/integration/t_*.sh (or
# only those named), one line each.
# A test's output goes to $LOGS/PREFIX/NAME.log, its own files (idmd logs, client logs)
# to the directory $LOGS/PREFIX/NAME/.
run_integration() {
	local dir=$1 idmd=$2 prefix=$3 only=${4:-} t name log rc reason
	for t in tests/integration/t_*.sh; do
		[[ -e $t ]] || continue
		name=$(basename "$t" .sh)
		[[ -z $only || " $only " == *" $name "* ]] || continue
		log=$LOGS/$prefix$name.log
		mkdir -p "$(dirname "$log")"
		IDMD=$idmd IDM_BUILD=$ROOT/$dir IDM_TEST_LOGDIR=$LOGS${prefix:+/${prefix%/}} TEST_NAME=$name \
			timeout -k 10 "$TEST_TIMEOUT" bash "$t" >"$log" 2>&1 </dev/null
		rc=$?
		case $rc in
		0) report PASS "$prefix$name" ;;
		77)
			reason=$(sed -n 's/^SKIP: //p' "$log" | tail -n 1)
			report SKIP "$prefix$name" "${reason:-no reason given}"
			;;
		124 | 137) report FAIL "$prefix$name" "timed out after ${TEST_TIMEOUT}s, see $log" ;;
		*)
			reason=$(sed -n 's/^FAIL: //p' "$log" | tail -n 1)
			report FAIL "$prefix$name" "${reason:-exit $rc}; see $log"
			;;
		esac
	done
}

echo "== unit tests ($BUILD)"
if build_dir "$BUILD" >"$LOGS/build.log" 2>&1; then
	run_unit "$BUILD" ""
else
	report FAIL "build" "see $LOGS/build.log"
fi
echo "== integration tests ($(idmd_in "$BUILD"))"
run_integration "$BUILD" "$(idmd_in "$BUILD")" ""

echo "== ASan+UBSan ($ASAN_BUILD)"
if build_dir "$ASAN_BUILD" -Db_sanitize=address,undefined -Db_lundef=false \
	>"$LOGS/build-asan.log" 2>&1; then
	export ASAN_OPTIONS=$ASAN_OPTIONS_RUN UBSAN_OPTIONS=$UBSAN_OPTIONS_RUN
	run_unit "$ASAN_BUILD" "asan/"
	run_integration "$ASAN_BUILD" "$(idmd_in "$ASAN_BUILD")" "asan/"
else
	report FAIL "asan/build" "see $LOGS/build-asan.log"
fi

echo "== valgrind ($BUILD)"
unset ASAN_OPTIONS UBSAN_OPTIONS
UNIT_WRAPPER=$VALGRIND UNIT_TIMEOUT_MULT=20 run_unit "$BUILD" "valgrind/"
IDMD_WRAPPER=$VALGRIND START_TIMEOUT=120 STOP_TIMEOUT=120 \
	run_integration "$BUILD" "$(idmd_in "$BUILD")" "valgrind/" "$VALGRIND_TESTS"

# (e) the libFuzzer harnesses (tests/fuzz): each replays its seed corpus, then
# fuzzes for $FUZZ_CHECK_SECONDS on a fuzz build (clang); long runs: make fuzz.
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_CHECK_SECONDS=${FUZZ_CHECK_SECONDS:-5}
echo "== fuzz harnesses ($FUZZ_BUILD)"
if ! command -v clang >/dev/null; then
	report SKIP "fuzz" "clang not installed (scripts/deps.sh)"
elif tests/fuzz/fuzz.sh build "$FUZZ_BUILD" >"$LOGS/build-fuzz.log" 2>&1; then
	for h in $(tests/fuzz/fuzz.sh list "$FUZZ_BUILD"); do
		if line=$(timeout -k 10 120 tests/fuzz/fuzz.sh check "$FUZZ_BUILD" "$h" \
			"$FUZZ_CHECK_SECONDS"); then
			report PASS "fuzz/$h" "${line#"$h: "}"
		else
			report FAIL "fuzz/$h" "${line#"$h: "}"
		fi
	done
else
	report FAIL "fuzz/build" "see $LOGS/build-fuzz.log"
fi

summary="$passed passed, $failed failed"
((skipped > 0)) && summary+=", $skipped skipped"
echo "$summary"
((failed == 0))
