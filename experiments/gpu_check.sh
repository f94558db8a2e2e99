#!/usr/bin/env bash
# The prepared GPU check (at most 8 minutes on one H100 or H200): does jaxssl run, learn and run fast on a GPU?
#
# For a GPU machine whose image has jax (with its CUDA plugin), flax, optax, orbax, chex, tensorboard, torch,
# scikit-learn and pytest, but not ml-collections or dm-pix, and no network. Before the run, on a machine with
# pip and network, in the repository root, put those two wheels (pure Python) in .whl/ (with the device tool,
# that folder must be carried: it is not tracked):
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl ml-collections==1.1.0 dm-pix==0.4.5
# then, in the repository root on the GPU machine (OUT: a folder for the results, default /tmp/gpu_check):
#   bash experiments/gpu_check.sh
# Steps, each logged to $OUT/gpu_check.log, stopped at its own time limit, and not started once BUDGET_S
# (default 480) seconds have passed:
#   1. the versions and devices JAX and PyTorch see;
#   2. the loss and evaluation tests that need no virtual CPU devices, on the GPU, at float32 matmul precision
#      (JAX_DEFAULT_MATMUL_PRECISION=highest: on the GPU JAX's default for float32 is TF32, ~1e-3, and the tests
#      compare with NumPy to 1e-5);
#   3. experiments/methods_check.py: 20 steps of every method's digits config (compile seconds, step time, loss
#      and kNN before and after) -> $OUT/methods_gpu.json;
#   4. experiments/benchmark.py --rows=accelerator: the matmul ceiling (fp32, bf16), the train step of SimCLR
#      ResNet-18 (CIFAR stem) 32 px batch 512 in fp32 and bf16, PAWS WRN-28-2 32 px and the seed convnet 96 px
#      batch 512 in bf16 (images/s, compile seconds, MFU against the ceiling and, in bf16, against PEAK_TFLOPS),
#      the same ResNet-18 step in eager PyTorch on the same GPU in both dtypes (the peer), and the convnet step
#      with and without device prefetch -> $OUT/benchmark_gpu.json (written after every row);
#   5. the main job on digits (SimCLR, 300 steps) -> $OUT/simclr_digits_results.json: the accuracy it reaches
#      on a CPU (docs/methods.md), if the budget leaves time for it.
# Exits 1 if a step failed or did not run. A dry run of the same steps on a CPU (small batches and 20 steps):
#   JAX_PLATFORMS=cpu QUICK=1 BUDGET_S=1200 bash experiments/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
BUDGET_S=${BUDGET_S:-480}
# The bf16 dense rate of an 8192³ matrix product measured on this project's H100 and H200 machines (769-798
# TFLOP/s; NVIDIA's datasheet peak is 989): MFU against what the chip does, not against a figure it never reaches.
PEAK_TFLOPS=${PEAK_TFLOPS:-790}
QUICK=${QUICK:-}
cd "$(dirname "$0")/.."
log() { echo "== $*" | tee -a "$OUT/gpu_check.log"; }
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 JAX_PLATFORMS=${JAX_PLATFORMS:-cuda}
python3 -c "import ml_collections, dm_pix" ||
  { log "ml-collections or dm-pix is missing: bring their wheels in .whl/"; exit 1; }
FAILED=0
step() {  # step LIMIT_S COMMAND...: runs it for at most LIMIT_S seconds and what is left of BUDGET_S.
  local limit=$1 left=$((BUDGET_S - SECONDS)); shift
  if ((left < 30)); then log "skipped (budget of $BUDGET_S s spent): $*"; FAILED=1; return; fi
  ((limit > left)) && limit=$left
  log "[$SECONDS s] $* (limit $limit s)"
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$OUT/gpu_check.log"  # -k: a process that ignores SIGTERM too.
  local rc=${PIPESTATUS[0]}
  log "rc=$rc"
  ((rc == 0)) || FAILED=1
}
STEPS=300
BENCH=(--rows=accelerator --sections=ceiling,step,peers,prefetch --peak_tflops="$PEAK_TFLOPS")
if [[ -n $QUICK ]]; then STEPS=20; BENCH+=(--quick); fi

step 30 python3 -c "import jax, flax, optax, torch; print('jax', jax.__version__, 'flax', flax.__version__, 'optax',
optax.__version__, 'torch', torch.__version__); print(jax.devices()); print(torch.cuda.is_available() and
torch.cuda.get_device_name())"
step 60 env JAX_DEFAULT_MATMUL_PRECISION=highest python3 -m pytest -q -p no:cacheprovider -n 0 -m "not slow" \
  tests/test_losses.py tests/test_ssl_losses.py tests/test_evaluate.py tests/test_metrics.py
step 140 python3 experiments/methods_check.py --steps=20 --out="$OUT/methods_gpu.json"
step 210 python3 experiments/benchmark.py "${BENCH[@]}" --out="$OUT/benchmark_gpu.json"
RUNS=$(mktemp -d)  # The run folder stays out of $OUT (the device tool returns at most 8 files); results go in.
step 40 python3 -m jaxssl.main --config=configs/simclr_digits.py --workdir="$RUNS/simclr_digits" \
  --config.num_train_steps=$STEPS
cp "$RUNS/simclr_digits/results.json" "$OUT/simclr_digits_results.json" 2>/dev/null
log "done in $SECONDS s (failed: $FAILED); in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit $FAILED
