#!/usr/bin/env bash
# run.sh of a bundle made by tools/bench-bundle.sh: runs clgrad's test
# programs on the GPU, then the benchmarks, from this folder alone (no
# compiler, packages or network), and ends with a one-line summary.
#
# usage: run.sh [options] [DEVICE]
#   DEVICE          P:D, a name substring or ref (default CLGRAD_DEVICE, else
#                   the first GPU `clgrad devices` lists, else its first device)
#   --tests LIST    test programs to run, e.g. "ops tape" (default all)
#   --benches LIST  benchmarks to run, e.g. "tape" (default all; "none")
#   --shapes LIST   extra passes with CLGRAD_KERNEL_SHAPE=each (default gpu;
#                   "none"; skipped when the library has no such switch)
#   --ref           one more pass on the reference path, for comparison
#   --quick         benchmarks at small sizes and one repeat (for a CPU check)
#   --budget S      seconds for the whole run (default 330); each step gets a
#                   timeout, and a step that cannot start in time is skipped
#   --jobs N        Criterion workers per test program (default: the cores)
#   --pack          ends with the logs in OUT/logs.tar.gz instead of OUT/logs/,
#                   for a runner that brings back only a few files
# Environment: OUT (where logs and JSON go; default ./bundle-out),
#   BUNDLE_VENDORS_DIR (the system's ICD folder; default /etc/OpenCL/vendors),
#   BUNDLE_KEEP_WORK=1 keeps the kernel cache and scratch folder.
# Exit status: 0 all passed, 1 something failed or timed out, 2 usage,
#   3 this machine cannot run the bundle (glibc, no OpenCL device).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
t0=$SECONDS

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit "$1"; }
device=${CLGRAD_DEVICE:-}
tests_sel="" benches_sel="" shapes=gpu with_ref=0 quick=0 budget=330 jobs="" pack=0
while [ $# -gt 0 ]; do
    case $1 in
        --tests) tests_sel=${2:-}; shift ;;
        --benches) benches_sel=${2:-}; shift ;;
        --shapes) shapes=${2:-}; shift ;;
        --ref) with_ref=1 ;;
        --quick) quick=1 ;;
        --budget) budget=${2:-}; shift ;;
        --jobs) jobs=${2:-}; shift ;;
        --pack) pack=1 ;;
        -h | --help) usage 0 ;;
        -*) echo "run.sh: unknown option '$1'" >&2; usage 2 >&2 ;;
        *) device=$1 ;;
    esac
    shift
done
[[ $budget =~ ^[0-9]+$ ]] || { echo "run.sh: --budget takes seconds" >&2; exit 2; }
[ "$shapes" = none ] && shapes=""
[ "$benches_sel" = none ] && benches_sel=" "
if [ -z "$jobs" ]; then
    jobs=$(nproc 2>/dev/null || echo 2)
    [ "$jobs" -lt 2 ] && jobs=2
    [ "$jobs" -gt 16 ] && jobs=16
fi

out=${OUT:-$PWD/bundle-out}
mkdir -p "$out/logs" "$out/bench" || { echo "run.sh: cannot create $out" >&2; exit 3; }
out=$(cd "$out" && pwd)
: >"$out/run.log"
exec > >(tee -a "$out/run.log") 2>&1
tee_pid=$!
work=$(mktemp -d "${TMPDIR:-/tmp}/clgrad-bundle.XXXXXX") || { echo "run.sh: no scratch dir"; exit 3; }
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    [ "${BUNDLE_KEEP_WORK:-0}" = 1 ] || rm -rf "$work"
    # The last lines reach the terminal before run.sh returns.
    exec >&- 2>&-
    wait "$tee_pid" 2>/dev/null
}
trap cleanup EXIT
mkdir -p "$work/cache" "$work/icd" "$work/scratch"
# PoCL and NVIDIA cache compiled kernels under HOME; an unset or read-only one
# must not fail the run.
if [ -z "${HOME:-}" ] || ! [ -w "$HOME" ]; then export HOME=$work/home; mkdir -p "$HOME"; fi

fail_setup() { echo "run.sh: $*"; echo "summary: setup failed: $*; total $((SECONDS - t0)) s"; exit 3; }

echo "== bundle: $here"
sed 's/^/   /' "$here/MANIFEST"
echo "== host: $(uname -srm), $(nproc 2>/dev/null) cores, $(getconf GNU_LIBC_VERSION 2>/dev/null)"
if command -v nvidia-smi >/dev/null 2>&1; then
    echo "== nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 4 | tr '\n' ';')"
fi

# The programs were linked against the build machine's glibc; an older one
# fails on every program with "version GLIBC_x not found".
need=$(awk '$1 == "glibc_needed" {print $2}' "$here/MANIFEST")
have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
if [ -n "$have" ] && [ -n "$need" ] &&
    [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
    fail_setup "this system's glibc $have is older than $need, which the bundle needs;" \
        "make the bundle on an older distribution"
fi

# --- OpenCL: the system's ICD files, plus a vendor file for any driver
# library that none of them names (a container often has the NVIDIA driver
# mounted but no /etc/OpenCL/vendors). The bundle's ocl-icd loader reads the
# private folder through OCL_ICD_VENDORS.
vendors_dir=${BUNDLE_VENDORS_DIR:-/etc/OpenCL/vendors}
lib_dirs=(/usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64 /lib64 /usr/local/nvidia/lib64
          /usr/local/nvidia/lib /usr/lib /usr/local/lib /opt/rocm/lib /opt/rocm/opencl/lib
          /usr/lib/wsl/lib)
ldconfig_list=$( (/sbin/ldconfig -p || /usr/sbin/ldconfig -p || ldconfig -p) 2>/dev/null)
# Prints the first file matching one of the names, from lib_dirs or ld.so's cache.
find_lib() {
    local name dir f
    for name in "$@"; do
        for dir in "${lib_dirs[@]}"; do
            for f in "$dir"/$name; do
                [ -f "$f" ] && { echo "$f"; return 0; }
            done
        done
        f=$(awk -v n="$name" '{sub(/\*/, "", n)} index($1, n) == 1 && /x86-64/ {print $NF; exit}' \
            <<<"$ldconfig_list")
        [ -n "$f" ] && [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}
named="" extra_ld=""
# The driver's own dependencies (libcuda beside libnvidia-opencl) may live
# where ld.so does not look without the LD_LIBRARY_PATH env -i dropped.
add_ld_dir() {
    case $1 in
        /usr/lib/x86_64-linux-gnu | /lib/x86_64-linux-gnu | /usr/lib64 | /lib64 | /usr/lib | /lib) ;;
        *) case "$extra_ld:" in *":$1:"*) ;; *) extra_ld="$extra_ld:$1" ;; esac ;;
    esac
}
for f in "$vendors_dir"/*.icd; do
    [ -f "$f" ] || continue
    cp "$f" "$work/icd/"
    lib=$(head -n 1 "$f")
    named="$named $(basename "$lib")"
    echo "== ICD: $f -> $lib"
    case $lib in
        /*) add_ld_dir "$(dirname "$lib")" ;;
        *) if path=$(find_lib "$lib"); then add_ld_dir "$(dirname "$path")"; fi ;;
    esac
done
[ -n "$named" ] || echo "== ICD: no vendor files in $vendors_dir; searching for drivers"
found_gpu=0
for entry in "nvidia libnvidia-opencl.so.1 libnvidia-opencl.so.*" "amd libamdocl64.so" \
    "intel libigdrcl.so" "pocl libpocl.so.2 libpocl.so"; do
    read -r vendor names <<<"$entry"
    stem=${names%%.so*}
    case " $named" in *" $stem"*) continue ;; esac
    # PoCL (a CPU) only when there is nothing else to run on.
    if [ "$vendor" = pocl ] && { [ -n "$named" ] || [ "$found_gpu" = 1 ]; }; then continue; fi
    # shellcheck disable=SC2086
    lib=$(find_lib $names) || continue
    echo "$lib" >"$work/icd/$vendor-bundle.icd"
    [ "$vendor" = pocl ] || found_gpu=1
    add_ld_dir "$(dirname "$lib")"
    echo "== ICD: wrote $vendor-bundle.icd -> $lib"
done
ls "$work/icd"/*.icd >/dev/null 2>&1 || fail_setup "no OpenCL driver found (no ICD file in" \
    "$vendors_dir, no libnvidia-opencl/libamdocl64/libigdrcl/libpocl in ${lib_dirs[*]})"

libpath="$here/lib$extra_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Only the bundle's programs see its libraries: the system's tools keep theirs.
common_env=(LD_LIBRARY_PATH="$libpath" OCL_ICD_VENDORS="$work/icd" CLGRAD_CACHE_DIR="$work/cache"
            CLGRAD_EXE="$here/bin/clgrad" CLGRAD_FIXTURES="$here/fixtures" TMPDIR="$work/scratch"
            CLGRAD_SHARED_LIB="$here/lib/libclgrad.so.0")
bx() { env "${common_env[@]}" "$@"; }

echo "== clgrad devices"
bx "$here/bin/clgrad" devices >"$out/devices.txt" 2>&1
sed 's/^/   /' "$out/devices.txt"
if [ -z "$device" ]; then
    device=$(awk '$2 == "GPU" {print $1; exit}' "$out/devices.txt")
    if [ -z "$device" ]; then
        device=$(awk '$1 ~ /^[0-9]+:[0-9]+$/ {print $1; exit}' "$out/devices.txt")
        [ -n "$device" ] && echo "run.sh: no GPU listed; running on $device instead"
    fi
fi
if [ -z "$device" ]; then
    bx OCL_ICD_DEBUG=7 "$here/bin/clgrad" devices >"$out/logs/icd-debug.log" 2>&1
    sed 's/^/   /' "$out/logs/icd-debug.log" | head -40
    fail_setup "OpenCL lists no device (see logs/icd-debug.log); pass ref to run on the reference path"
fi
common_env+=(CLGRAD_DEVICE="$device")
echo "== device: $device: $(awk -v d="$device" '$1 == d' "$out/devices.txt" | cut -c46-)"

# --- Steps. Each phase ends by a share of the budget, so a hung test leaves
# time for the benchmarks; time a phase does not use goes to the next.
deadline() { echo $((t0 + budget * $1 / 100)); }
# Prints the seconds a step may take (its own limit, capped by the phase's end),
# or fails when fewer than 5 are left.
step_limit() {
    local left=$(($1 - SECONDS))
    [ "$left" -ge 5 ] || return 1
    [ "$left" -lt "$2" ] && echo "$left" || echo "$2"
}
declare -A passed=() failed=() skipped=()
summary_parts=()
status=0

select_progs() { # dir prefix selection
    local f n
    for f in "$1"/*; do
        if ! [ -f "$f" ] || ! [ -x "$f" ]; then continue; fi
        n=$(basename "$f")
        n=${n#"$2"}
        if [ -n "$3" ]; then case " $3 " in *" $n "*) ;; *) continue ;; esac; fi
        echo "$f"
    done
}

# Runs every selected test program in pass $1 with the extra environment $3..,
# until the phase's end $2.
test_pass() {
    local pass=$1 end=$2 prog name log limit rc s line tested pass_n fail_n crash_n
    shift 2
    passed[$pass]=0 failed[$pass]=0 skipped[$pass]=0
    echo "== tests: $pass${*:+ ($*)}"
    while read -r prog; do
        name=$(basename "$prog")
        log=$out/logs/$pass-$name.log
        if ! limit=$(step_limit "$end" "${BUNDLE_TEST_TIMEOUT:-120}"); then
            skipped[$pass]=$((skipped[$pass] + 1))
            printf '   %-16s skipped: out of time\n' "$name"
            continue
        fi
        s=$SECONDS
        (cd "$work/scratch" && timeout -k 10 "$limit" env "${common_env[@]}" "$@" "$prog" \
            --jobs "$jobs") >"$log" 2>&1
        rc=$?
        line=$(grep -a 'Synthesis:' "$log" | tail -n 1)
        tested=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$line")
        pass_n=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
        fail_n=$(sed -n 's/.*Failing: \([0-9]*\).*/\1/p' <<<"$line")
        crash_n=$(sed -n 's/.*Crashing: \([0-9]*\).*/\1/p' <<<"$line")
        if [ -z "$line" ]; then
            # No synthesis: the program died or was killed; count it as one failure.
            pass_n=0 fail_n=1 crash_n=0 tested="?"
        fi
        passed[$pass]=$((passed[$pass] + pass_n))
        failed[$pass]=$((failed[$pass] + fail_n + crash_n))
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            printf '   %-16s TIMED OUT after %s s (%s passed before)\n' "$name" "$limit" "$pass_n"
            [ -z "$line" ] || failed[$pass]=$((failed[$pass] + 1))
        elif [ "$rc" -ne 0 ] || [ $((fail_n + crash_n)) -ne 0 ]; then
            printf '   %-16s %s/%s passed, %s failed, %s crashed, exit %s (%d s)\n' "$name" \
                "$pass_n" "$tested" "$fail_n" "$crash_n" "$rc" $((SECONDS - s))
            grep -aE '\[(FAIL|----)\]|CRASH|signal' "$log" | head -n 12 | sed 's/^/      /'
            [ -n "$line" ] || tail -n 5 "$log" | sed 's/^/      /'
        else
            printf '   %-16s %s/%s passed (%d s)\n' "$name" "$pass_n" "$tested" $((SECONDS - s))
        fi
    done < <(select_progs "$here/bin/tests" test_ "$tests_sel")
    local part="$pass ${passed[$pass]} passed ${failed[$pass]} failed"
    [ "${skipped[$pass]}" -eq 0 ] || part="$part ${skipped[$pass]} programs skipped"
    summary_parts+=("$part")
    [ "${failed[$pass]}" -eq 0 ] && [ "${skipped[$pass]}" -eq 0 ] || status=1
}

examples_pass() {
    local end=$1 prog name limit rc ok=0 bad=0
    echo "== examples"
    while read -r prog; do
        name=$(basename "$prog")
        limit=$(step_limit "$end" 60) || { echo "   $name skipped: out of time"; bad=$((bad + 1)); continue; }
        (cd "$work/scratch" && timeout -k 5 "$limit" env "${common_env[@]}" "$prog") \
            >"$out/logs/example-$name.log" 2>&1
        rc=$?
        if [ "$rc" -eq 0 ]; then
            ok=$((ok + 1)); echo "   $name ok"
        else
            bad=$((bad + 1)); echo "   $name FAILED (exit $rc; logs/example-$name.log)"
            tail -n 5 "$out/logs/example-$name.log" | sed 's/^/      /'
        fi
    done < <(select_progs "$here/bin/examples" "" "")
    summary_parts+=("examples $ok ok $bad failed")
    [ "$bad" -eq 0 ] || status=1
}

# Short settings: a few repeats, full sizes on a GPU; --quick shrinks the sizes.
bench_args() {
    case $1 in
        linreg) [ "$quick" = 1 ] && echo "--points 100000 --repeats 1" || echo "--repeats 5" ;;
        tape) [ "$quick" = 1 ] && echo "--quick --repeats 1" || echo "--repeats 3" ;;
        optim) [ "$quick" = 1 ] && echo "--repeats 1" || echo "--repeats 5" ;;
        *) [ "$quick" = 1 ] && echo "--repeats 1" || echo "--repeats 3" ;;
    esac
}

bench_pass() {
    local end=$1 prog name limit rc ok=0 bad=0 args=()
    echo "== benchmarks (JSON in $out/bench)"
    while read -r prog; do
        name=$(basename "$prog")
        name=${name#bench_}
        limit=$(step_limit "$end" "${BUNDLE_BENCH_TIMEOUT:-150}") ||
            { echo "   bench_$name skipped: out of time"; bad=$((bad + 1)); continue; }
        read -ra args <<<"$(bench_args "$name")"
        [ "$name" = linreg ] && args+=(--clgrad "$here/bin/clgrad")
        echo "-- bench_$name ${args[*]}"
        (cd "$work/scratch" && timeout -k 10 "$limit" env "${common_env[@]}" "$prog" "${args[@]}" \
            --json "$out/bench/$name.json") >"$out/bench/$name.log" 2>&1
        rc=$?
        sed 's/^/   /' "$out/bench/$name.log"
        if [ "$rc" -eq 0 ]; then ok=$((ok + 1)); else
            bad=$((bad + 1))
            echo "   bench_$name FAILED (exit $rc$([ "$rc" -eq 124 ] && echo ", timed out after $limit s"))"
        fi
    done < <(select_progs "$here/bin/bench" bench_ "$benches_sel")
    summary_parts+=("benches $ok ok $bad failed")
    [ "$bad" -eq 0 ] || status=1
}

test_pass opencl "$(deadline 45)"
examples_pass "$(deadline 50)"
[ "$benches_sel" = " " ] || bench_pass "$(deadline 80)"
for shape in $shapes; do
    if ! grep -aq CLGRAD_KERNEL_SHAPE "$here/lib/libclgrad.so.0"; then
        echo "== tests: shape-$shape skipped: this build has no CLGRAD_KERNEL_SHAPE switch"
        summary_parts+=("shape-$shape n/a")
        break
    fi
    test_pass "shape-$shape" "$(deadline $((with_ref ? 90 : 100)))" CLGRAD_KERNEL_SHAPE="$shape"
done
[ "$with_ref" = 0 ] || test_pass ref "$(deadline 100)" CLGRAD_DEVICE=ref

joined=$(printf ' | %s' "${summary_parts[@]}")
line="summary: device $device$joined | total $((SECONDS - t0)) s"
echo "$line"
echo "$line" >"$out/summary.txt"
if [ "$pack" = 1 ]; then
    (cd "$out" && tar czf logs.tar.gz logs bench/*.log 2>/dev/null && rm -rf logs bench/*.log) ||
        echo "run.sh: could not pack the logs; they stay in $out/logs"
fi
exit $status
