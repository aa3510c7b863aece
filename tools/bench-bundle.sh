#!/usr/bin/env bash
# Makes a relocatable folder that runs clgrad's tests and benchmarks on a
# machine with an OpenCL driver but no compiler, packages or network (a GPU
# box): the programs, the libraries they need that are not glibc's, the
# ocl-icd loader, the test fixtures and run.sh (tools/bundle-run.sh).
#
# usage: tools/bench-bundle.sh [OUTDIR]   (default build-bundle/bundle)
#   BUILD_DIR  the build to take the programs from (default build-bundle,
#              configured as a release build when it is missing)
#
# The target needs an x86-64 glibc at least as new as the one recorded in
# the bundle's MANIFEST (run.sh checks it first and says so).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${BUILD_DIR:-build-bundle}
out=${1:-$build/bundle}

die() { echo "bench-bundle: $*" >&2; exit 1; }

[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null ||
    die "meson setup $build failed"
ninja -C "$build" >/dev/null || die "ninja -C $build failed"

# Regular executable files only: meson keeps object folders (*.p) beside them.
programs() {
    local f
    for f in "$@"; do
        [ -f "$f" ] && [ -x "$f" ] && printf '%s\n' "$f"
    done
    return 0
}
mapfile -t tests < <(programs "$build"/tests/test_*)
mapfile -t benches < <(programs "$build"/bench/bench_*)
mapfile -t examples < <(programs "$build"/examples/*)
[ ${#tests[@]} -gt 0 ] || die "no test programs in $build/tests"

rm -rf "$out"
mkdir -p "$out"/bin/tests "$out"/bin/bench "$out"/bin/examples "$out"/lib "$out"/fixtures
cp "$build/clgrad" "$out/bin/"
cp "${tests[@]}" "$out/bin/tests/"
[ ${#benches[@]} -eq 0 ] || cp "${benches[@]}" "$out/bin/bench/"
[ ${#examples[@]} -eq 0 ] || cp "${examples[@]}" "$out/bin/examples/"
cp -L "$build"/libclgrad.so.0 "$out/lib/"
cp -r tests/fixtures/. "$out/fixtures/"
cp tools/bundle-run.sh "$out/run.sh"
chmod +x "$out/run.sh"
# Symbols only help a debugger, which the target does not have.
strip --strip-unneeded "$out"/bin/clgrad "$out"/bin/*/* "$out"/lib/libclgrad.so.0 2>/dev/null || true

# Every shared library ldd resolves, except glibc's own (they must match the
# target's loader, so the target's are used), the compiler runtimes the
# target's driver links too, and libOpenCL (the ocl-icd loader is added
# below, since a vendor's loader may not honour OCL_ICD_VENDORS).
system_lib() {
    case "$1" in
        linux-vdso.so* | ld-linux*.so* | libc.so.* | libm.so.* | libmvec.so.* | libpthread.so.* | \
            libdl.so.* | librt.so.* | libresolv.so.* | libutil.so.* | libanl.so.* | libnsl.so.* | \
            libBrokenLocale.so.* | libgcc_s.so.* | libstdc++.so.* | libOpenCL.so*) return 0 ;;
    esac
    return 1
}
declare -A copied=()
for f in "$out"/bin/clgrad "$out"/bin/*/* "$out"/lib/libclgrad.so.0; do
    # The bundle's own libclgrad stays first, as on the target.
    while read -r name _ path _; do
        [ "$path" = not ] && die "$f needs $name, which ldd does not find"
        if [ -z "$path" ] || ! [ -f "$path" ]; then continue; fi
        system_lib "$name" && continue
        [ "$name" = libclgrad.so.0 ] && continue
        [ -n "${copied[$name]:-}" ] && continue
        cp -L "$path" "$out/lib/$name"
        copied[$name]=1
    done < <(LD_LIBRARY_PATH="$out/lib" ldd "$f" | awk '$2 == "=>" {print $1, $2, $3}')
done

loader=""
for cand in $(ldconfig -p 2>/dev/null | awk '/libOpenCL\.so\.1 .*x86-64/ {print $NF}') \
    /usr/lib/x86_64-linux-gnu/libOpenCL.so.1 /lib/x86_64-linux-gnu/libOpenCL.so.1; do
    [ -f "$cand" ] || continue
    # ocl-icd's loader: the one that reads OCL_ICD_VENDORS.
    if grep -aq OCL_ICD_VENDORS "$(readlink -f "$cand")"; then loader=$cand; break; fi
done
[ -n "$loader" ] || die "no ocl-icd libOpenCL.so.1 here (apt-get install ocl-icd-libopencl1)"
cp -L "$loader" "$out/lib/libOpenCL.so.1"

# The newest glibc symbol version anything in the bundle asks for: run.sh
# compares it with the target's before running anything.
need=$(for f in "$out"/bin/clgrad "$out"/bin/*/* "$out"/lib/*; do
           objdump -T "$f" 2>/dev/null | awk '/\*UND\*/' | grep -o 'GLIBC_[0-9][0-9.]*'
       done | sed 's/GLIBC_//' | sort -uV | tail -1)
{
    echo "clgrad $(git -C "$src" describe --always --dirty 2>/dev/null || echo unknown)"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null | tr -d '"')"
    echo "glibc_needed ${need:-0}"
    echo "opencl_loader $(readlink -f "$loader")"
    echo "libs ${!copied[*]}"
} >"$out/MANIFEST"

size=$(du -sm "$out" | cut -f1)
echo "bench-bundle: $out: ${#tests[@]} tests, ${#benches[@]} benches, ${#examples[@]} examples," \
     "${#copied[@]} libraries + libOpenCL.so.1, ${size} MB, needs glibc >= ${need:-?}"
