#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks (with apt-get), then configures
# and builds clgrad into ./build. Safe to run again: it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang and libclang-rt-dev (compiler-rt: libFuzzer and clang's sanitizer
# runtimes, only "recommended" by clang) build tools/fuzz-all.sh's harnesses;
# g++ builds tests/test_cpp.cpp (the header from C++), skipped without it.
packages=(gcc g++ pkg-config meson ninja-build ocl-icd-opencl-dev opencl-headers
          pocl-opencl-icd clinfo libcriterion-dev libcairo2-dev clang libclang-rt-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "bootstrap: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
echo "bootstrap: built build/clgrad" >&2
