#!/usr/bin/env bash
# The prepared GPU check (about 8 minutes on one H200): does jaxssl run, learn and run fast on a GPU?
#
# For a GPU machine whose image has jax (with its CUDA plugin), flax, optax, orbax, chex, tensorboard,
# scikit-learn and pytest, but not ml-collections or dm-pix, and no network. Before the run, on a machine
# with pip and network, put those two wheels in .whl/ of the repository root:
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl ml-collections==1.1.0 dm-pix==0.4.5
# then, in the repository root on the GPU machine (OUT: a folder for the results, default /tmp/gpu_check):
#   bash experiments/gpu_check.sh
# Steps, each logged to $OUT/gpu_check.log and stopped at its own time limit:
#   1. the versions and devices JAX sees;
#   2. the loss, model and evaluation tests that need no virtual CPU devices, on the GPU;
#   3. the main job on digits (SimCLR, 300 steps; PAWS in bfloat16, 300 steps): it must reach the accuracy it
#      reaches on a CPU (docs/methods.md) and print images/s;
#   4. experiments/benchmark.py sections ceiling, step and prefetch (the step with and without device
#      prefetch, side by side) -> $OUT/benchmark_gpu.json.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 JAX_PLATFORMS=${JAX_PLATFORMS:-cuda}
log() { echo "== $*" | tee -a "$OUT/gpu_check.log"; }
step() { local limit=$1; shift; log "$*"; timeout "$limit" "$@" 2>&1 | tee -a "$OUT/gpu_check.log"; log "rc=${PIPESTATUS[0]}"; }

step 60 python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__); print(jax.devices())"
step 180 python3 -m pytest -q -p no:cacheprovider -n 0 -m "not slow" tests/test_losses.py tests/test_ssl_losses.py tests/test_evaluate.py tests/test_metrics.py
step 150 python3 -m jaxssl.main --config=configs/simclr_digits.py --workdir="$OUT/simclr_digits" --config.num_train_steps=300
step 150 python3 -m jaxssl.main --config=configs/paws_digits.py --workdir="$OUT/paws_digits_bf16" --config.num_train_steps=300 --config.dtype=bfloat16
step 240 python3 experiments/benchmark.py --sections=ceiling,step,prefetch --out="$OUT/benchmark_gpu.json"
