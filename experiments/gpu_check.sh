#!/usr/bin/env bash
# The prepared GPU check (at most 8 minutes on one H100 or H200): does jaxssl run, learn and run fast on a GPU?
#
# For a GPU machine whose image has jax (with its CUDA plugin), flax, optax, orbax, chex, tensorboard, torch,
# scikit-learn and pytest, but not ml-collections or dm-pix, and no network. Before the run, on a machine with
# pip and network, in the repository root, put those two wheels (pure Python) in .whl/:
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl ml-collections==1.1.0 dm-pix==0.4.5
# then, in the repository root on the GPU machine (OUT: a folder for the results, default /tmp/gpu_check):
#   bash experiments/gpu_check.sh
# Steps, in order of what the GPU/TPU issue asks first; each logged to $OUT/gpu_check.log and stopped at its own
# time limit, and none started once BUDGET_S (default 480) seconds have passed:
#   1. the versions and devices JAX and PyTorch see;
#   2. experiments/benchmark.py --rows=accelerator: the matmul ceiling (fp32, bf16), the train step of SimCLR
#      ResNet-18 (CIFAR stem) 32 px batch 512 in fp32 and bf16, PAWS WRN-28-2 32 px and the seed convnet 96 px
#      batch 512 in bf16 (images/s, compile seconds, MFU against the ceiling and against PEAK_TFLOPS), the same
#      ResNet-18 step in PyTorch on the same GPU in both dtypes (the peer), and the convnet step with and
#      without device prefetch -> $OUT/benchmark_gpu.json;
#   3. experiments/methods_check.py: 20 steps of every method's digits config (compile seconds, step time, loss
#      and kNN before and after) -> $OUT/methods_gpu.json;
#   4. the loss, model and evaluation tests that need no virtual CPU devices, on the GPU;
#   5. the main job on digits (SimCLR, 300 steps; PAWS in bfloat16, 300 steps): each must reach the accuracy it
#      reaches on a CPU (docs/methods.md).
# A dry run of the same steps on a CPU (small batches): JAX_PLATFORMS=cpu QUICK=1 bash experiments/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
BUDGET_S=${BUDGET_S:-480}
# The bf16 dense rate of an 8192³ matrix product measured on this project's H100 and H200 machines (769-798
# TFLOP/s; NVIDIA's datasheet peak is 989): MFU against what the chip does, not against a figure it never reaches.
PEAK_TFLOPS=${PEAK_TFLOPS:-790}
QUICK=${QUICK:-}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 JAX_PLATFORMS=${JAX_PLATFORMS:-cuda}
log() { echo "== $*" | tee -a "$OUT/gpu_check.log"; }
step() {  # step LIMIT_S COMMAND...: runs it for at most LIMIT_S seconds and what is left of BUDGET_S.
  local limit=$1 left=$((BUDGET_S - SECONDS)); shift
  if ((left < 30)); then log "skipped (budget of $BUDGET_S s spent): $*"; return; fi
  ((limit > left)) && limit=$left
  log "[$SECONDS s] $* (limit $limit s)"
  timeout "$limit" "$@" 2>&1 | tee -a "$OUT/gpu_check.log"
  log "rc=${PIPESTATUS[0]}"
}
STEPS=300
BENCH=(--rows=accelerator --sections=ceiling,step,peers,prefetch --peak_tflops="$PEAK_TFLOPS")
if [[ -n $QUICK ]]; then STEPS=20; BENCH+=(--quick); fi

step 60 python3 -c "import jax, flax, optax, torch; print('jax', jax.__version__, 'flax', flax.__version__, 'optax',
optax.__version__, 'torch', torch.__version__); print(jax.devices()); print(torch.cuda.is_available() and
torch.cuda.get_device_name())"
step 240 python3 experiments/benchmark.py "${BENCH[@]}" --out="$OUT/benchmark_gpu.json"
step 180 python3 experiments/methods_check.py --steps=20 --out="$OUT/methods_gpu.json"
step 90 python3 -m pytest -q -p no:cacheprovider -n 0 -m "not slow" tests/test_losses.py tests/test_ssl_losses.py \
  tests/test_evaluate.py tests/test_metrics.py
RUNS=$(mktemp -d)  # Run folders stay out of $OUT (the device tool returns at most 8 files); their results go in.
step 60 python3 -m jaxssl.main --config=configs/simclr_digits.py --workdir="$RUNS/simclr_digits" \
  --config.num_train_steps=$STEPS
step 60 python3 -m jaxssl.main --config=configs/paws_digits.py --workdir="$RUNS/paws_digits_bf16" \
  --config.num_train_steps=$STEPS --config.dtype=bfloat16
for run in simclr_digits paws_digits_bf16; do
  cp "$RUNS/$run/results.json" "$OUT/${run}_results.json" 2>/dev/null
done
log "done in $SECONDS s; in $OUT: $(ls "$OUT" | tr '\n' ' ')"
