#!/usr/bin/env bash
# The backend boundary (docs/DESIGN.md, The backends): outside
# src/host/backend/ and the reference loops in src/host/ref/, no library file
# tests which backend it runs on or calls OpenCL. Types (cl_mem in a struct)
# may still be named. Prints each offending line; exits 1 if there is one.
set -uo pipefail
cd "$(dirname "$0")/.."
pattern='->is_ref|\bcg__cl[A-Z][A-Za-z]*\(|\bcl[A-Z][A-Za-z]+\(|\bcg__(kernel|set_args|launch[a-z0-9_]*)\('
if grep -nE -e "$pattern" src/host/*.c src/host/ref/*.c; then
    echo "check-backend-boundary: device-specific code outside src/host/backend/ (above)" >&2
    exit 1
fi
echo "check-backend-boundary: ok"
