#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang into ./build-fuzz and runs each
# for a fixed number of inputs from a fixed seed, so that a run repeats; a
# crash, leak, sanitizer report, timeout or broken check fails it. Every
# tests/fuzz/fuzz_<name>.c is a harness: it must be built (listed in
# tests/fuzz/meson.build) and have its seed corpus in tests/fuzz/corpus/<name>/.
# New inputs go to a temporary folder, not the committed corpus; a finding is
# kept in build-fuzz/findings/<name>/ (rerun: build-fuzz/tests/fuzz/fuzz_<name> FILE).
# FUZZ_RUNS overrides the runs per harness (5000000: about a minute each on
# an idle 2-core machine). Ends with one line: "fuzz: ..." and the status.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${FUZZ_RUNS:-5000000}
dir=build-fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -f "$dir/build.ninja" ]; then
    if ! CC=clang meson setup "$dir" --buildtype=debugoptimized --werror -Dfuzz=true \
        >"$work/setup.log" 2>&1; then
        cat "$work/setup.log" >&2
        echo "fuzz: FAILED: meson setup $dir (CC=clang, -Dfuzz=true)"
        exit 1
    fi
fi
if ! ninja -C "$dir" fuzz >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    echo "fuzz: FAILED: build"
    exit 1
fi

passed=()
failed=()
start=$SECONDS
for src in tests/fuzz/fuzz_*.c; do
    name=${src#tests/fuzz/fuzz_}
    name=${name%.c}
    exe=$dir/tests/fuzz/fuzz_$name
    corpus=tests/fuzz/corpus/$name
    if [ ! -x "$exe" ] || [ ! -d "$corpus" ]; then
        echo "fuzz: $src needs an entry in tests/fuzz/meson.build and seeds in $corpus/" >&2
        failed+=("$name(not built or no corpus)")
        continue
    fi
    findings=$dir/findings/$name
    mkdir -p "$work/$name" "$findings"
    t0=$SECONDS
    if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
       UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$exe" -runs="$runs" -seed=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$findings/" "$work/$name" "$corpus" >"$work/$name.log" 2>&1; then
        passed+=("$name")
        echo "fuzz: $name: $runs runs clean in $((SECONDS - t0)) s" >&2
    else
        tail -n 60 "$work/$name.log" >&2
        failed+=("$name")
        echo "fuzz: $name: FAILED after $((SECONDS - t0)) s; input kept in $findings/" >&2
    fi
done

total=$((${#passed[@]} + ${#failed[@]}))
if [ ${#failed[@]} -eq 0 ] && [ "$total" -gt 0 ]; then
    echo "fuzz: $total harness(es), $runs runs each, seed 1: all clean ($((SECONDS - start)) s)"
    exit 0
fi
echo "fuzz: $total harness(es), $runs runs each, seed 1: FAILED: ${failed[*]:-no harness found}"
exit 1
