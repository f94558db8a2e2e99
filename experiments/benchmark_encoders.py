"""Encoder cost table: parameters, FLOPs and forward+backward time per image, float32 vs bfloat16.

  python experiments/benchmark_encoders.py [--batch_size=256] [--repeats=3] [--dtypes=float32,bfloat16]
      [--quick] [--out=FILE.json]   # --quick: 3 encoders at batch 32, 2 repeats (over --batch_size, --repeats)

For each encoder (at the image size it is used at) and compute dtype, times one jitted training pass on
the default device: the forward in train mode (BatchNorm on batch statistics, running averages updated)
and the gradient of a scalar of the features with respect to every parameter. Compile time is reported
apart; the step time is the median of `repeats` timed calls after one warm-up. GFLOP/image is XLA's cost
analysis of the compiled pass. Prints a markdown table and writes JSON.
"""
import argparse
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxssl import config as config_lib, models

# (encoder, image size, model options): each as it is used — CIFAR-size inputs for the CIFAR stem and
# WRN, STL-10-size (96 px) for the ImageNet stem, the Keras baselines' convnet and AlexNet.
ROWS = [("convnet", 96, {}), ("resnet18", 32, {"stem": "cifar"}), ("resnet18", 96, {"stem": "imagenet"}),
        ("resnet50", 32, {"stem": "cifar"}), ("resnet50", 96, {"stem": "imagenet"}), ("wrn28_2", 32, {}),
        ("alexnet", 96, {})]
QUICK_ROWS = [("convnet", 96, {}), ("resnet18", 32, {"stem": "cifar"}), ("wrn28_2", 32, {})]


def model_config(name: str, options: dict) -> ml_collections.ConfigDict:
  c = config_lib.base_config("simclr").model
  c.name = name
  c.update(options)
  return c


def train_pass(graphdef: nnx.GraphDef):
  """(params, rest, images) -> (gradients w.r.t. params, updated BatchNorm statistics)."""
  def loss(params, rest, images):
    model = nnx.merge(graphdef, params, rest, copy=True)
    features = model(images, train=True)
    return jnp.mean(features ** 2), nnx.state(model, nnx.Not(nnx.Param))

  return jax.jit(jax.grad(loss, has_aux=True))


def measure(name: str, size: int, options: dict, dtype: str, batch_size: int, repeats: int) -> dict:
  encoder = models.build_encoder(model_config(name, options), 3, size, nnx.Rngs(0), dtype=dtype)
  graphdef, params, rest = nnx.split(encoder, nnx.Param, ...)
  images = jax.random.uniform(jax.random.key(0), (batch_size, size, size, 3))
  fn = train_pass(graphdef)
  start = time.perf_counter()
  compiled = fn.lower(params, rest, images).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  jax.block_until_ready(compiled(params, rest, images))  # Warm-up.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(params, rest, images))
    times.append(time.perf_counter() - start)
  step_s = statistics.median(times)
  flops = float(cost.get("flops", 0.0)) if cost else 0.0
  return {"encoder": name, "image_size": size, **options, "dtype": dtype, "batch_size": batch_size,
          "params": sum(x.size for x in jax.tree.leaves(params)), "compile_s": compile_s, "step_s": step_s,
          "step_times_s": times, "ms_per_image": 1e3 * step_s / batch_size, "images_per_s": batch_size / step_s,
          "gflop_per_image": flops / batch_size / 1e9, "gflop_per_s": flops / step_s / 1e9}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch_size", type=int, default=256)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--dtypes", default="float32,bfloat16")
  parser.add_argument("--quick", action="store_true", help="3 encoders, batch 32, 2 repeats")
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "benchmark_encoders.json"))
  args = parser.parse_args()
  rows = QUICK_ROWS if args.quick else ROWS
  batch_size, repeats = (32, 2) if args.quick else (args.batch_size, args.repeats)
  device = jax.devices()[0]
  print(f"{device.platform} ({device.device_kind}) × {jax.device_count()}, jax {jax.__version__}, "
        f"{os.cpu_count()} CPUs, batch {batch_size}, median of {repeats}", flush=True)
  print("| encoder | image | params | GFLOP/img (fwd+bwd) | dtype | compile s | ms/img | img/s | GFLOP/s |")
  print("|---|---|---|---|---|---|---|---|---|", flush=True)
  results = []
  for name, size, options in rows:
    for dtype in args.dtypes.split(","):
      r = measure(name, size, options, dtype, batch_size, repeats)
      results.append(r)
      label = name + (f" ({options['stem']})" if "stem" in options else "")
      print(f"| {label} | {size} | {r['params']:,} | {r['gflop_per_image']:.2f} | {dtype} | {r['compile_s']:.1f} | "
            f"{r['ms_per_image']:.1f} | {r['images_per_s']:.1f} | {r['gflop_per_s']:.1f} |", flush=True)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump({"device": f"{device.platform} {device.device_kind}", "machine": platform.machine(),
               "cpus": os.cpu_count(), "jax": jax.__version__, "batch_size": batch_size, "repeats": repeats,
               "results": results}, f, indent=2)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
