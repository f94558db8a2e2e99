"""Every method on digits, a few train steps each, on the default device: does each one compile, run and move?

  python experiments/methods_check.py --steps=20 --out=/tmp/methods_check.json

For each `configs/<method>_digits.py` (every method of jaxssl), in this one process: the config's train step
compiled for the default device (a GPU or TPU where there is one; experiments/gpu_check.sh runs it there),
`--steps` steps on the config's own batches, and the evaluation `jaxssl.main` runs (kNN k=20, probe, soft nearest
neighbour) of the untrained encoder and of the trained one, on the digits test split. A row: compile seconds,
the median step time after the first, the loss of the first step and the mean of the last five, kNN k=20 before
and after, and the method's wall seconds (build, two evaluations, compile, steps). `ok`: the step compiled and
every loss and accuracy is finite; `moved`: the mean of the last five losses is 1% below the first loss or kNN
rose by 0.01 or more (20 steps are few: a method can be `ok` and not yet `moved`). The step time is a single
step's latency (batch, copy, step, and the loss fetched), not throughput: experiments/benchmark.py measures
that. Prints a table and writes the rows as JSON after each method, so a run stopped at its time limit keeps
what it measured. Exits 1 if a method is not `ok`.
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def build_run(config) -> types.SimpleNamespace:
  """What `jaxssl.main` builds for `config` before its first step, in this process on its devices: `mesh`,
  `method`, `dataset`, the replicated TrainState `state`, `step_fn(state, sharded batch)`, `batch_fn(step)` (host
  batches) and `evaluate(state)`: the accuracies a run reports (kNN, probe, SNN, and a method's own head)."""
  import jax
  from jaxssl import augment, config as config_lib, data, methods, parallel, train

  mesh = parallel.make_mesh()
  config_lib.validate(config, mesh.devices.size, jax.process_count())
  method = methods.create(config)
  dataset = data.load(config.data)
  graphdef, state, tx, _ = train.create_state(method, dataset, config)
  embed = parallel.make_embed_fn(graphdef, mesh, augment.to_float)
  classify = parallel.make_embed_fn(graphdef, mesh, augment.to_float, logits=True) if method.classifies else None
  return types.SimpleNamespace(
      mesh=mesh, method=method, dataset=dataset, state=parallel.replicate(mesh, state),
      step_fn=parallel.make_train_step(graphdef, tx, method, mesh, jax.random.key(config.seed)),
      batch_fn=data.make_batch_fn(dataset, method.batch_sizes(), config.seed, stratified=method.stratified_labels),
      evaluate=lambda state: train.evaluate_state(embed, state, dataset, mesh, config.eval, method, classify)[0])


def check(config_path: str, steps: int) -> dict:
  """One method's row (see the module docstring)."""
  from jaxssl import config as config_lib, parallel

  started = time.perf_counter()
  config = config_lib.from_file(config_path)
  config.num_train_steps = steps
  run = build_run(config)
  mesh, method, state, step_fn, batch_fn, evaluate = (run.mesh, run.method, run.state, run.step_fn, run.batch_fn,
                                                      run.evaluate)
  before = evaluate(state)
  start = time.perf_counter()
  compiled = step_fn.lower(state, parallel.shard_batch(mesh, batch_fn(0))).compile()
  compile_s = time.perf_counter() - start
  losses, times = [], []
  for i in range(steps):
    start = time.perf_counter()
    state, metrics = compiled(state, parallel.shard_batch(mesh, batch_fn(i)))
    losses.append(float(metrics["loss"]))  # Synchronises: each step is timed whole.
    times.append(time.perf_counter() - start)
  after = evaluate(state)
  last = statistics.fmean(losses[-5:])
  finite = all(map(math.isfinite, [*losses, *before.values(), *after.values()]))
  return {"method": config.method, "config": os.path.basename(config_path), "model": config.model.name,
          "images_per_step": sum(method.batch_sizes().values()), "steps": steps, "compile_s": compile_s,
          "step_s": statistics.median(times[1:] or times), "first_loss": losses[0], "last_loss": last,
          "knn_before": before["knn_k20"], "knn_after": after["knn_k20"], "before": before, "after": after,
          "ok": finite, "moved": finite and (last < losses[0] - 0.01 * abs(losses[0])
                                             or after["knn_k20"] >= before["knn_k20"] + 0.01),
          "wall_s": time.perf_counter() - started}


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--methods", default=None, help="comma-separated methods (default: every digits config)")
  parser.add_argument("--out", default=None, help="JSON file for the rows")
  args = parser.parse_args()
  import jax
  configs = sorted(glob.glob(os.path.join(ROOT, "configs", "*_digits.py")))
  if args.methods:
    configs = [c for c in configs if os.path.basename(c)[:-len("_digits.py")] in args.methods.split(",")]
  device = jax.devices()[0]
  print(f"# {len(configs)} methods on digits, {args.steps} steps each, on {device.device_kind} ({device.platform}),"
        f" jax {jax.__version__}", flush=True)
  rows = []
  for path in configs:
    try:
      rows.append(check(path, args.steps))
    except Exception as e:  # pylint: disable=broad-except  # One method's failure is a row, not the end.
      rows.append({"config": os.path.basename(path), "ok": False, "moved": False, "error": f"{type(e).__name__}: {e}"})
    row = rows[-1]
    print(f"  {row['config']}: " + (f"compile {row['compile_s']:.1f} s, step {1e3 * row['step_s']:.1f} ms, loss "
          f"{row['first_loss']:.4g} -> {row['last_loss']:.4g}, knn_k20 {row['knn_before']:.3f} -> "
          f"{row['knn_after']:.3f}, {row['wall_s']:.0f} s in all" if "error" not in row else row["error"][:500]),
          flush=True)
    if args.out:
      with open(args.out, "w") as f:
        json.dump({"device": device.device_kind, "platform": device.platform, "jax": jax.__version__,
                   "steps": args.steps, "rows": rows}, f, indent=2)
  print("\n| config | ok | moved | compile_s | step_ms | loss first -> last 5 | knn_k20 before -> after |\n"
        "|---|---|---|---|---|---|---|")
  for r in rows:
    if "error" in r:
      print(f"| {r['config']} | no | no | | | {r['error'][:80]} | |")
    else:
      print(f"| {r['config']} | {'yes' if r['ok'] else 'no'} | {'yes' if r['moved'] else 'no'} | {r['compile_s']:.1f} "
            f"| {1e3 * r['step_s']:.1f} | {r['first_loss']:.4g} -> {r['last_loss']:.4g} | "
            f"{r['knn_before']:.3f} -> {r['knn_after']:.3f} |")
  sys.exit(0 if all(r["ok"] for r in rows) else 1)


if __name__ == "__main__":
  main()
