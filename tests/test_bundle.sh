#!/usr/bin/env bash
# Checks tools/bench-bundle.sh: makes the bundle, copies it elsewhere and runs
# a small part of it (one test program, one benchmark, the examples) on PoCL
# from an empty environment: once with the system's ICD folder, once with no
# ICD folder, so that run.sh must find libpocl itself and write the vendor
# file. About 40 s on the 2-core CI machine with a built tree.
#
# usage: tests/test_bundle.sh   (BUILD_DIR as for tools/bench-bundle.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d /tmp/clgrad-bundle-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
check() { # description, command...
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}

tools/bench-bundle.sh "$tmp/made" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; exit 1; }
cat "$tmp/make.log"
# Relocated: nothing may point back into the build tree.
mv "$tmp/made" "$tmp/b"
b=$tmp/b

check "bundle has the programs, fixtures and run.sh" \
    test -x "$b/bin/clgrad" -a -x "$b/bin/tests/test_context" -a -x "$b/bin/bench/bench_tape" \
    -a -d "$b/fixtures" -a -x "$b/run.sh" -a -f "$b/lib/libclgrad.so.0"
check "bundle has the ocl-icd loader and Criterion" \
    test -f "$b/lib/libOpenCL.so.1" -a -f "$b/lib/libcriterion.so.3"
check "bundle leaves glibc to the target" \
    bash -c "! ls '$b/lib' | grep -qE '^(libc|libm|libpthread|libdl|ld-linux)[.-]'"
unresolved() {
    local f
    for f in "$b"/bin/clgrad "$b"/bin/*/*; do
        LD_LIBRARY_PATH=$b/lib ldd "$f" | grep -q 'not found' && return 1
    done
    return 0
}
check "every program resolves its libraries in the bundle" unresolved
size=$(du -sm "$b" | cut -f1)
check "bundle is under 40 MB (${size} MB)" test "$size" -lt 40

subset=(--quick --tests context --benches tape --shapes none)
mkdir -p "$tmp/home" "$tmp/cwd" "$tmp/no-vendors"
run_clean() { # out-dir, then the environment and command for env -i
    local out=$1
    shift
    (cd "$tmp/cwd" && env -i PATH=/usr/bin:/bin "$@") >"$out.log" 2>&1
}

# 1. With the system's ICD folder.
if run_clean "$tmp/out1" HOME="$tmp/home" OUT="$tmp/out1" bash "$b/run.sh" "${subset[@]}"; then
    rc=0
else
    rc=$?
fi
check "run.sh with /etc/OpenCL/vendors exits 0 (got $rc)" test "$rc" -eq 0
check "the summary counts the test program's passes and no failure" \
    grep -qE '^summary: device [0-9]+:[0-9]+ \| opencl [1-9][0-9]* passed 0 failed \| examples 3 ok 0 failed \| benches 1 ok 0 failed \| total' \
    "$tmp/out1/summary.txt"
check "the benchmark wrote its JSON" grep -q '"median"' "$tmp/out1/bench/tape.json"
check "the test program's log is kept" grep -q 'Synthesis' "$tmp/out1/logs/opencl-test_context.log"

# 2. No ICD folder and no HOME: run.sh must find libpocl and write the file.
if run_clean "$tmp/out2" OUT="$tmp/out2" BUNDLE_VENDORS_DIR="$tmp/no-vendors" \
    bash "$b/run.sh" "${subset[@]}" --pack; then
    rc=0
else
    rc=$?
fi
check "run.sh without ICD files exits 0 (got $rc)" test "$rc" -eq 0
check "run.sh wrote a PoCL vendor file" grep -q 'wrote pocl-bundle.icd -> /' "$tmp/out2.log"
check "and ran the tests on it" grep -qE 'opencl [1-9][0-9]* passed 0 failed' "$tmp/out2/summary.txt"
check "--pack leaves the logs in one archive" \
    bash -c "tar tzf '$tmp/out2/logs.tar.gz' | grep -q opencl-test_context.log && ! test -d '$tmp/out2/logs'"

# 3. A machine too old for the bundle is told so, with exit 3.
sed -i 's/^glibc_needed .*/glibc_needed 99.0/' "$b/MANIFEST"
if run_clean "$tmp/out3" OUT="$tmp/out3" bash "$b/run.sh" "${subset[@]}"; then rc=0; else rc=$?; fi
check "an older glibc stops run.sh with exit 3 (got $rc)" test "$rc" -eq 3
check "and names both versions" grep -q 'glibc .* is older than 99.0' "$tmp/out3.log"

if [ "$failures" -ne 0 ]; then
    for f in "$tmp"/out*.log; do echo "--- $f"; tail -n 30 "$f"; done
    echo "test_bundle: $failures failed"
    exit 1
fi
echo "test_bundle: all passed"
