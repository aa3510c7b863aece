#!/bin/sh
# The lecture's 5000-epoch fit (P1) through clgrad's autograd tape (the captured step looped on
# the device: cg_capture_replay_n alone, and the whole cg_fit) against the fused trainer and JAX
# jit + lax.fori_loop, interleaved (../shared/peers/interleave.py): medians and per-round ratios.
# A benchmark for people, not a test: nothing in tests/ or CI runs it.
#
# usage: bench/peers-p1-tape.sh [BUILD_DIR] [ROUNDS]     (defaults: build, 5)
# environment: PEERS_DIR (default ../shared/peers), PEERS_VENV (default ~/.cache/clgrad-peers:
# the venv the peers' setup-venv.sh made; without it JAX is left out).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
rounds=${2:-5}
case $build in /*) ;; *) build=$here/$build ;; esac
peers=${PEERS_DIR:-$here/../shared/peers}
venv=${PEERS_VENV:-$HOME/.cache/clgrad-peers}
for b in bench_loop bench_linreg; do
    [ -x "$build/bench/$b" ] || { echo "peers-p1-tape: no $build/bench/$b (build first)" >&2; exit 2; }
done
tmp=$(mktemp -d /tmp/peers-p1-tape-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# bench_loop's figure as the one JSON line interleave.py reads (train_seconds)
cat > "$tmp/tape.sh" <<SH
#!/bin/sh
CLGRAD_BINARY_CACHE=on "$build/bench/bench_loop" --repeats 7 --json "$tmp/\$1.json" >/dev/null 2>&1
python3 -c 'import json,sys; name={"loop":"replay_n alone vs fused trainer","fit":"lecture fit via tape, loop vs fused"}[sys.argv[2]]; print(json.dumps({"fw":"clgrad tape "+sys.argv[2],"train_seconds":[r["median"] for r in json.load(open(sys.argv[1])) if r["name"]==name][0]/1e3}))' "$tmp/\$1.json" "\$1"
SH
chmod +x "$tmp/tape.sh"
{
    printf '[["clgrad-fused", "env CLGRAD_BINARY_CACHE=on %s/bench/bench_linreg --peer-json --repeats 21"]' "$build"
    printf ',\n ["clgrad-tape-loop", "%s/tape.sh loop"],\n ["clgrad-tape-fit", "%s/tape.sh fit"]' "$tmp" "$tmp"
    if [ -x "$venv/bin/python" ]; then
        printf ',\n ["jax", "%s/bin/python %s/p1_jax.py 21"]' "$venv" "$peers"
    else
        echo "peers-p1-tape: no venv at $venv (run $peers/setup-venv.sh): JAX left out" >&2
    fi
    printf ']\n'
} > "$tmp/spec.json"
cd "$peers"
python3 interleave.py "$tmp/spec.json" "$rounds" train_seconds
