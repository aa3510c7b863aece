#!/bin/sh
# The lecture's 5000-epoch fit (P1) in clgrad's fused trainer against its peers (JAX jit +
# lax.fori_loop, PyTorch eager, tinygrad TinyJit), interleaved on this machine: each round runs
# every command once, in rotating order, and the report gives medians and the median per-round
# ratio to clgrad. A benchmark for people, not a test: nothing in tests/ or CI runs it.
#
# usage: bench/peers-p1.sh [BUILD_DIR] [ROUNDS]        (defaults: build, 5)
# environment:
#   PEERS_DIR    the peer scripts (default: ../shared/peers beside the repository)
#   PEERS_VENV   the virtual environment setup-venv.sh made (default ~/.cache/clgrad-peers)
#   PEERS_BASE   another bench_linreg binary to time beside this build's (e.g. the base commit's)
#   PEERS_OUT    where interleave.py writes its JSON (default: none)
# PyTorch is Debian's python3-torch (1.13) under /usr/bin/python3 with two threads, and 2.x from
# the venv; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset in those commands only.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
rounds=${2:-5}
case $build in /*) ;; *) build=$here/$build ;; esac
peers=${PEERS_DIR:-$here/../shared/peers}
venv=${PEERS_VENV:-$HOME/.cache/clgrad-peers}
bench=$build/bench/bench_linreg
[ -x "$bench" ] || { echo "peers-p1: no $bench (build first)" >&2; exit 2; }
[ -f "$peers/interleave.py" ] || { echo "peers-p1: no peer scripts in $peers" >&2; exit 2; }
spec=$(mktemp /tmp/peers-p1-XXXXXX.json)
trap 'rm -f "$spec"' EXIT
blas='env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE'
{
    printf '[["clgrad", "%s --peer-json --repeats 21"]' "$bench"
    if [ -n "${PEERS_BASE:-}" ]; then
        printf ',\n ["clgrad-base", "%s --peer-json --repeats 21"]' "$PEERS_BASE"
    fi
    if [ -x "$venv/bin/python" ]; then
        printf ',\n ["jax", "%s/bin/python %s/p1_jax.py 21"]' "$venv" "$peers"
        printf ',\n ["torch2-eager", "%s %s/bin/python %s/p1_torch.py eager 3"]' "$blas" "$venv" "$peers"
        printf ',\n ["tinygrad", "DEV=CPU %s/bin/python %s/p1_tinygrad.py 2"]' "$venv" "$peers"
    else
        echo "peers-p1: no venv at $venv (run $peers/setup-venv.sh): JAX, torch 2 and tinygrad left out" >&2
    fi
    if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
        printf ',\n ["torch1.13-eager", "%s OMP_NUM_THREADS=2 /usr/bin/python3 %s/p1_torch.py eager 3"]' "$blas" "$peers"
    fi
    printf ']\n'
} > "$spec"
cd "$peers"
python3 interleave.py "$spec" "$rounds" train_seconds ${PEERS_OUT:+--out "$PEERS_OUT"}
