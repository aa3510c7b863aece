#!/usr/bin/env bash
# Runs every test: the Criterion suites on the default OpenCL device (PoCL
# where there is no GPU) and on the reference path, in a build with warnings
# as errors; the OpenCL suites again with GPU kernel shapes
# (CLGRAD_KERNEL_SHAPE=gpu, so PoCL runs the branches GPUs take); the
# reference suites again with eager realization (CLGRAD_EAGER=1); then every
# suite again under AddressSanitizer and UndefinedBehaviorSanitizer, on both
# paths (the fault-injection walk included). Ends with one line:
# "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
passed=0
failed=0

# Adds up Criterion's "Synthesis" lines of one meson test log.
count() {
    local log=$1 p f
    p=$(grep -ho 'Passing: [0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
    f=$(grep -hoE '(Failing|Crashing): [0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
    passed=$((passed + p))
    failed=$((failed + f))
}

run_suite() {
    local dir=$1
    shift
    if ! meson test -C "$dir" --num-processes 2 --print-errorlogs "$@"; then status=1; fi
    count "$dir/meson-logs/testlog.txt"
}

[ -f build-test/build.ninja ] || meson setup build-test --buildtype=release --werror >/dev/null || exit 1
ninja -C build-test || exit 1
run_suite build-test
CLGRAD_KERNEL_SHAPE=gpu run_suite build-test --suite opencl
# Eager realization (every op run as it is called) must give the same results.
CLGRAD_EAGER=1 run_suite build-test --suite ref

[ -f build-sanitize/build.ninja ] || meson setup build-sanitize --buildtype=debug --werror \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
ninja -C build-sanitize || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
LSAN_OPTIONS=suppressions=$PWD/tools/lsan.supp \
    run_suite build-sanitize --suite ref --suite opencl
# A leak is reported when a test's process exits, after Criterion has counted
# the test as passed: the log is where it shows.
if grep -qE "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" \
        build-sanitize/meson-logs/testlog.txt; then
    grep -E -A12 "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" \
        build-sanitize/meson-logs/testlog.txt | head -60
    echo "FAIL: sanitizer reports in build-sanitize/meson-logs/testlog.txt" >&2
    failed=$((failed + 1))
    status=1
fi

# Shell-level checks count as one test each.
check() { # name, command...
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        echo "FAIL: $name" >&2
        failed=$((failed + 1))
        status=1
    fi
}
# Every libFuzzer harness in tests/fuzz, a fixed number of runs from a fixed seed.
check "fuzz" tools/fuzz-all.sh
# The GPU bundle, relocated and run from an empty environment on PoCL.
BUILD_DIR=build-test check "bundle" tests/test_bundle.sh

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
