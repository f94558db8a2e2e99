"""Where a Fashion-MNIST run's time goes: the train step and the periodic evaluation of each method's config.

  python experiments/fashion_mnist_speed.py [--methods=paws,simclr] [--steps=20] [--out=FILE.json]

For each `configs/<method>_fashion_mnist.py` as committed (100 labels a class: the largest kNN bank and probe
set of the results table), on the real images (Debian's IDX files), in one process as `jaxssl.main` runs
(its devices, its huge-page malloc):
- step: images/s of the train step (host images a step / step time; the mean over `--steps` steps after the
  compiling one, with host batch sampling, transfer and prefetch as in a run); compile time apart;
- eval: seconds of one evaluation (`train.evaluate_state`: embed the labelled bank and the 10k test images,
  kNN, the probe with its learning-rate choice, snn, and the method's own classifier where it has one),
  timed after a first evaluation that compiles;
- the share of a run's wall time that evaluation takes, from these two: in the config's own run
  (`num_train_steps`, evaluated at step 0, every `eval_every_steps` and at the end) and in a 4-epoch cell of
  `experiments/label_sweep.py` (evaluated at step 0 and at the end; its fine-tuning, `--finetune`, comes
  after training and is not counted).
Prints a markdown table and writes every row to `--out` (JSON).
"""
import argparse
import functools
import json
import math
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
METHODS = ("supervised", "simclr", "suncet", "paws", "sesemi", "rotnet", "vae", "siamese_vae", "fixmatch",
           "byol", "moco_v3", "dino", "vicreg", "barlow_twins")
SWEEP_EPOCHS = 4


def evaluations(num_steps: int, every: int) -> int:
  """How many times a run of `num_steps` evaluates: at step 0, at each multiple of `every`, at the end."""
  return 1 + num_steps // every + (num_steps % every != 0)


def share(evals: int, eval_s: float, steps: int, step_s: float) -> float:
  """Evaluation's part of a run's wall time (compilation left out)."""
  return evals * eval_s / (evals * eval_s + steps * step_s)


def measure(method_name: str, steps: int) -> dict:
  """One row: the step's and one evaluation's times for configs/<method_name>_fashion_mnist.py."""
  import jax
  import label_sweep
  import methods_check
  from jaxssl import config as config_lib, data, parallel

  config = config_lib.from_file(os.path.join(ROOT, "configs", f"{method_name}_fashion_mnist.py"))
  run = methods_check.build_run(config)
  mesh, method, dataset, state, step_fn, batch_fn = (run.mesh, run.method, run.dataset, run.state, run.step_fn,
                                                     run.batch_fn)
  shard = functools.partial(parallel.shard_batch, mesh)

  start = time.perf_counter()
  state, metrics = step_fn(state, shard(batch_fn(0)))
  jax.block_until_ready((state, metrics))
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  for _, batch in data.prefetch_to_device(data.prefetch(batch_fn, 1, 1 + steps), shard, config.device_prefetch):
    state, metrics = step_fn(state, batch)
  jax.block_until_ready((state, metrics))
  step_s = (time.perf_counter() - start) / steps

  times = []
  for _ in range(2):  # The first compiles.
    start = time.perf_counter()
    run.evaluate(state)
    times.append(time.perf_counter() - start)
  first_eval_s, eval_s = times

  sweep_steps = math.ceil(SWEEP_EPOCHS * label_sweep.num_train_images(config) / config.batch_size)
  run_evals = evaluations(config.num_train_steps, config.eval_every_steps)
  images = sum(method.batch_sizes().values())
  return {"method": method_name, "model": config.model.name, "images_per_step": images,
          "devices": mesh.devices.size, "compile_s": compile_s, "step_s": step_s, "images_per_s": images / step_s,
          "bank": len(dataset.labelled_images), "test": len(dataset.test_images), "first_eval_s": first_eval_s,
          "eval_s": eval_s, "run_steps": config.num_train_steps, "run_evals": run_evals,
          "run_eval_share": share(run_evals, eval_s, config.num_train_steps, step_s),
          "sweep_steps": sweep_steps,
          "sweep_eval_share": share(evaluations(sweep_steps, sweep_steps), eval_s, sweep_steps, step_s)}


def cpu_model() -> str:
  """The CPU's name, family and model from /proc/cpuinfo (family 25 model 1: Zen 3), else platform's."""
  try:
    with open("/proc/cpuinfo") as f:
      fields = dict(map(str.strip, line.split(":", 1)) for line in f.read().split("\n\n")[0].splitlines()
                    if ":" in line)
  except OSError:
    return platform.processor() or platform.machine()
  get = lambda key: fields.get(key, "?")  # noqa: E731
  avx = "AVX-512" if "avx512f" in get("flags").split() else "AVX2" if "avx2" in get("flags").split() else "no AVX2"
  return f"{get('model name')} (family {get('cpu family')}, model {get('model')}, {avx})"


def table(rows: list[dict]) -> str:
  head = ("| method | images/step | images/s | compile s | eval s (first) | config's run: steps, evals, eval share | "
          "4-epoch cell: steps, eval share |")
  lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
  for r in rows:
    lines.append(f"| {r['method']} | {r['images_per_step']} | {r['images_per_s']:.0f} | {r['compile_s']:.1f} | "
                 f"{r['eval_s']:.1f} ({r['first_eval_s']:.1f}) | {r['run_steps']}, {r['run_evals']}, "
                 f"{100 * r['run_eval_share']:.1f}% | {r['sweep_steps']}, {100 * r['sweep_eval_share']:.1f}% |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--methods", default=",".join(METHODS))
  parser.add_argument("--steps", type=int, default=20, help="timed train steps per config")
  parser.add_argument("--out", default=os.path.join(HERE, "results", "fashion_mnist_speed.json"))
  args = parser.parse_args()
  rows = []
  for name in args.methods.split(","):
    rows.append(measure(name, args.steps))
    print(json.dumps(rows[-1]), flush=True)
  print(table(rows))
  with open(args.out, "w") as f:
    json.dump({"machine": f"{cpu_model()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
               "steps": args.steps, "rows": rows}, f, indent=2)


if __name__ == "__main__":
  sys.path.insert(0, ROOT)
  from jaxssl import main as jaxssl_main
  jaxssl_main.restart_with_huge_page_malloc()  # As `python -m jaxssl.main` runs on a CPU.
  main()
