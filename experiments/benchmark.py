"""How fast is jaxssl, measured side by side: the train step against a TF/Keras and a PyTorch implementation
of the same step, the input pipeline, the kNN / probe evaluation against scikit-learn, and weak scaling.

  python experiments/benchmark.py --quick          # < 5 min on a 2-core CPU (Zen 1: 0.07 TFLOP/s)
  python experiments/benchmark.py                  # the full settings below
  python experiments/benchmark.py --rows=accelerator --sections=ceiling,step,peers,prefetch --peak_tflops=790
                                                   # a GPU's rows (experiments/gpu_check.sh)

Sections (each prints a markdown table; everything goes to `--out`, JSON):
- ceiling: the dense matmul rate of this machine (jnp.dot of two 2048² fp32 matrices, best of 8; on an
  accelerator 8192² and bf16 too), measured in this run: `mfu` below is relative to it; `mfu_peak` to
  `--peak_tflops` (the device's bf16 dense peak) where given.
- step: the jaxssl train step of a config (`configs/<name>.py`) on random uint8 images of its shape: images/s
  (host images a step / step time), the median over `--repeats` timed runs of `--steps` steps after a
  warm-up, with the host batch sampling, host-to-device transfer and on-device augmentation included, as in
  `jaxssl.main`; compile time apart; model-FLOP utilisation = XLA's cost analysis of the compiled step /
  step time / the ceiling. Each row runs in its own process and reports its peak RSS.
- tuning: the SimCLR/convnet step with XLA's convolution against jaxssl's, under glibc's default malloc, huge
  pages (jaxssl's default), "reuse", and tcmalloc where the system has it.
- prefetch: the SimCLR/convnet step with the next batches' host-to-device copies started 0, 1 and 2 steps
  ahead (`config.device_prefetch` 1, 2, 3; jaxssl's default is 2), alternating round by round in one process.
- peers: the SimCLR/convnet step written with TF/Keras (`peers/simclr_tf.py`) and PyTorch
  (`peers/simclr_torch.py`) at the same batch and image size; jaxssl/peer ratios. Installs the peers'
  requirements (`peers/requirements.txt`) if they are missing. With `--rows=accelerator`: the SimCLR
  ResNet-18 step at 32 px, batch 512, in PyTorch on the same device, float32 and bfloat16 (autocast), against
  the step section's rows of the same dtype (no TF/Keras peer: the GPU image has no TensorFlow).
- pipeline: host batches/s of jaxssl's input pipeline alone (the SimCLR/STL-10 setting) and its headroom
  over what the train step consumes.
- knn: weighted kNN (k=20 and 200, T=0.07) on a random bank [N, 512] and queries, jaxssl (`evaluate.knn_predict`)
  vs scikit-learn's brute-force cosine KNeighborsClassifier with the same weights; and the linear probe
  (`evaluate.linear_probe`) vs scikit-learn's LogisticRegression, both on the same standardised features.
- scaling: the SimCLR/convnet step at a fixed per-device batch on 1, 2 and 4 devices (virtual CPU devices
  through XLA_FLAGS on a CPU host).
"""
import argparse
import ctypes.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (config, overrides): SimCLR and PAWS with the Keras baselines' convnet at 96×96, SimCLR with ResNet-18 (CIFAR
# stem) at 32×32, SESEMI with WRN-28-2 at 32×32. `--quick` runs every convnet row (step, tuning, peers, pipeline,
# the first scaling row) at batch QUICK_BATCH, so that each is measured once (`child` reuses a row's result).
BATCH, QUICK_BATCH = 512, 64
RESNET18_32PX = {"data.image_size": 32, "model.name": "resnet18", "model.stem": "cifar", "model.final_relu": False}
STEP_ROWS = [("simclr_stl10", {"batch_size": BATCH}), ("paws_stl10", {}),
             ("simclr_stl10", {**RESNET18_32PX, "batch_size": 256}), ("sesemi_cifar10", {})]
QUICK_STEP_ROWS = [("simclr_stl10", {"batch_size": QUICK_BATCH}),
                   ("simclr_stl10", {**RESNET18_32PX, "batch_size": 32})]


def accelerator_step_rows(quick: bool) -> list[tuple[str, dict, tuple[str, ...]]]:
  """`--rows=accelerator` (experiments/gpu_check.sh), with the dtypes of each: SimCLR ResNet-18 (CIFAR stem) at
  32 px, batch 512, in both (its PyTorch peer runs both); PAWS with WRN-28-2 at 32 px (paws_stl10's 250
  unlabelled + 250 labelled images a step) and the seed convnet at 96 px, batch 512, in bfloat16, what a GPU run
  would use. `quick` (a dry run on a CPU): batches of 64 (PAWS: 64 + 60 labelled)."""
  batch, paws = (QUICK_BATCH, {"batch_size": QUICK_BATCH, "labelled_batch_size": 60}) if quick else (BATCH, {})
  return [("simclr_stl10", {**RESNET18_32PX, "batch_size": batch}, ("float32", "bfloat16")),
          ("paws_stl10", {"data.image_size": 32, "model.name": "wrn28_2", **paws}, ("bfloat16",)),
          ("simclr_stl10", {"batch_size": batch}, ("bfloat16",))]


# glibc malloc settings the tuning section compares. "reuse" keeps freed buffers (one arena, no mmap, no trim), so
# no step faults fresh pages in; it is not jaxssl's default, as it fragments the heap of some steps (README).
REUSE_MALLOC = "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=" \
    + str(2 ** 46)


# tcmalloc, where the system has it (Debian: apt-get install libtcmalloc-minimal4): the tuning section adds a row
# with it preloaded. It keeps freed pages for reuse, at a memory cost (README); not a jaxssl default.
TCMALLOC = ctypes.util.find_library("tcmalloc_minimal")


def malloc_name(env) -> str:
  """The tuning table's name for the malloc that an environment (a mapping like os.environ) selects."""
  if "tcmalloc" in env.get("LD_PRELOAD", ""):
    return "tcmalloc (not default)"
  tunables = env.get("GLIBC_TUNABLES", "")
  if "glibc.malloc.mmap_max=0" in tunables:
    return "reuse (not default)"
  return "huge pages" if "glibc.malloc.hugetlb=1" in tunables else "glibc default"


def run_json(args: list[str], env: dict | None = None) -> dict:
  """Runs a command (in `env`, a whole environment, or this one) that prints one JSON object as its last line;
  returns it."""
  proc = subprocess.run(args, capture_output=True, text=True, env=env or dict(os.environ), check=False)
  if proc.returncode:
    raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
  """The host CPU as /proc/cpuinfo names it, with its widest x86 vector extension (figures from different CPUs
  of a shared pool are not comparable; this says which one a JSON file came from)."""
  try:
    with open("/proc/cpuinfo") as f:
      info = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
  except OSError:
    return platform.processor() or platform.machine()
  info = {k.strip(): v.strip() for k, v in info.items()}
  flags = set(info.get("flags", "").split())
  simd = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), "")
  return (f"{info.get('model name', '?')} (family {info.get('cpu family', '?')}, model {info.get('model', '?')}"
          f"{', ' + simd if simd else ''})")


def matmul_ceiling(dtype: str = "float32", n: int = 2048, repeats: int = 8, burst: int = 1) -> float:
  """Dense matmul FLOP/s of the default device: the best of `repeats` timings of `burst` back-to-back jnp.dot of
  two n×n matrices (a burst of several on an accelerator, where one product takes about a millisecond and
  the dispatch would otherwise count)."""
  import jax
  import jax.numpy as jnp
  a = jax.random.normal(jax.random.key(0), (n, n), dtype)
  dot = jax.jit(jnp.dot)
  dot(a, a).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready([dot(a, a) for _ in range(burst)])
    best = min(best, (time.perf_counter() - start) / burst)
  return 2 * n ** 3 / best


def step_row(config_name: str, overrides: dict, steps: int, repeats: int, conv: str = "auto",
             device_prefetch: int = 2) -> dict:
  """Times the jaxssl train step of configs/<config_name>.py (with `overrides`) on random images; `conv`:
  "auto" (jaxssl's default convolution) or "xla" (XLA's own convolution everywhere); `device_prefetch`:
  batches whose host-to-device copy is started ahead of their step (1: none, as without prefetch)."""
  import jax
  from jaxssl import config as config_lib, data, methods, parallel, train
  from jaxssl import cpu_tricks

  cpu_tricks.ENABLED = conv == "auto"  # "xla": no CPU trick at all (jaxssl.cpu_tricks).
  config = config_lib.from_file(os.path.join(ROOT, "configs", f"{config_name}.py"))
  config.lock()  # As jaxssl.main reads a config: an override of an option that does not exist is an error.
  config.update_from_flattened_dict(overrides)
  config_lib.validate(config, jax.device_count(), jax.process_count())
  size, channels = config.data.image_size, 3
  rng = np.random.default_rng(0)
  pool = lambda n: rng.integers(0, 256, (n, size, size, channels), np.uint8)  # noqa: E731
  labels = np.arange(1000) % 10
  dataset = data.Dataset(pool(1000), labels.astype(np.int32), pool(2 * config.batch_size), pool(10),
                         np.zeros(10, np.int32), 10)
  method = methods.create(config)
  graphdef, state, tx, _ = train.create_state(method, dataset, config)
  mesh = parallel.make_mesh()
  state = parallel.replicate(mesh, state)
  step_fn = parallel.make_train_step(graphdef, tx, method, mesh, jax.random.key(0))
  batch_fn = data.make_batch_fn(dataset, method.batch_sizes(), 0, stratified=method.stratified_labels)
  start = time.perf_counter()
  lowered = step_fn.lower(state, parallel.shard_batch(mesh, batch_fn(0)))
  compiled = lowered.compile()
  compile_s = time.perf_counter() - start
  # The FLOPs of the program as traced: on a GPU the compiled program's convolutions and many matmuls are
  # cuDNN/cuBLAS custom calls, which XLA's cost analysis counts as -1 FLOP. On the CPU both agree.
  first = lambda cost: (cost[0] if isinstance(cost, list) else cost or {}).get("flops", float("nan"))  # noqa: E731
  flops, compiled_flops = first(lowered.cost_analysis()), first(compiled.cost_analysis())
  state, _ = compiled(state, parallel.shard_batch(mesh, batch_fn(0)))  # Warm-up.
  jax.block_until_ready(state)
  # device_prefetch a list: its depths alternate, round after round, in this one process (a side-by-side ratio).
  depths = device_prefetch if isinstance(device_prefetch, list) else [device_prefetch]
  times = {d: [] for d in depths}
  for r in range(repeats):
    for i, depth in enumerate(depths if r % 2 == 0 else depths[::-1]):
      first = 1 + (r * len(depths) + i) * steps
      start = time.perf_counter()
      host = data.prefetch(batch_fn, first, first + steps)
      for _, batch in data.prefetch_to_device(host, lambda b: parallel.shard_batch(mesh, b), depth):
        state, metrics = compiled(state, batch)
      jax.block_until_ready((state, metrics))
      times[depth].append((time.perf_counter() - start) / steps)
  step_s = statistics.median(times[depths[0]])
  images = sum(method.batch_sizes().values())
  return {"config": config_name, "overrides": overrides, "model": config.model.name, "image_size": size,
          "method": config.method, "conv": conv, "device_prefetch": device_prefetch, "malloc": malloc_name(os.environ),
          "images_per_step": images, "devices": jax.device_count(), "dtype": config.dtype,
          "compile_s": compile_s, "step_s": step_s, "images_per_s": images / step_s, "step_flops": flops,
          "compiled_step_flops": compiled_flops,
          "step_s_by_prefetch": {str(d): statistics.median(t) for d, t in times.items()},
          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def pipeline_row(batch_size: int, image_size: int, pool_size: int, steps: int) -> dict:
  """Host batches/s of jaxssl's pipeline alone (batch sampling from a uint8 pool, prefetched on a thread)."""
  from jaxssl import data
  rng = np.random.default_rng(0)
  pool = rng.integers(0, 256, (pool_size, image_size, image_size, 3), np.uint8)
  dataset = data.Dataset(pool[:10], np.zeros(10, np.int32), pool, pool[:10], np.zeros(10, np.int32), 10)
  batch_fn = data.make_batch_fn(dataset, {"unlabelled": batch_size}, 0)
  start = time.perf_counter()
  for _ in data.prefetch(batch_fn, 0, steps):
    pass
  return {"batch_size": batch_size, "image_size": image_size, "batches_per_s": steps / (time.perf_counter() - start)}


def knn_rows(bank_size: int, queries: int, dim: int = 512, classes: int = 10) -> list[dict]:
  """jaxssl's kNN and linear probe vs scikit-learn's, on the same random clustered features."""
  from sklearn.linear_model import LogisticRegression
  from sklearn.neighbors import KNeighborsClassifier
  from jaxssl import evaluate
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(classes, dim))
  make = lambda n: (lambda y: ((centres[y] + 2.0 * rng.normal(size=(n, dim))).astype(np.float32), y))(  # noqa: E731
      rng.integers(0, classes, n))
  (bank, bank_y), (query, query_y) = make(bank_size), make(queries)
  ks, temperature = (20, 200), 0.07

  def timed(fn, repeats=2):  # Median of the calls after a first (compiling) one.
    result, times = fn(), []
    for _ in range(repeats):
      start = time.perf_counter()
      result = fn()
      times.append(time.perf_counter() - start)
    return result, statistics.median(times)

  ours, ours_s = timed(lambda: evaluate.knn_predict(bank, bank_y, query, classes, ks, temperature))

  def sklearn_knn():
    knn = KNeighborsClassifier(max(ks), algorithm="brute", metric="cosine").fit(bank, bank_y)
    dist, idx = knn.kneighbors(query)
    out = {}
    for k in ks:  # exp(-distance / T) = exp((cos - 1) / T): the same weights as exp(cos / T), up to a factor.
      votes = np.zeros((len(query), classes))
      np.add.at(votes, (np.arange(len(query))[:, None], bank_y[idx[:, :k]]), np.exp(-dist[:, :k] / temperature))
      out[k] = votes.argmax(1)
    return out
  theirs, theirs_s = timed(sklearn_knn, repeats=1)
  agree = min(float(np.mean(ours[k] == theirs[k])) for k in ks)
  rows = [{"eval": f"kNN k={ks} bank {bank_size}x{dim}, {queries} queries", "jaxssl_s": ours_s,
           "sklearn_s": theirs_s, "speedup": theirs_s / ours_s, "agreement": agree}]
  probe_n = min(bank_size, 10000)
  x, y = bank[:probe_n], bank_y[:probe_n]
  acc, ours_s = timed(lambda: evaluate.linear_probe(x, y, query, query_y, classes), repeats=1)  # Seconds a fit.
  mean, std = x.mean(0), x.std(0) + 1e-6

  def sklearn_probe():
    clf = LogisticRegression(C=1.0 / (1e-4 * len(x)), max_iter=500).fit((x - mean) / std, y)
    return float(np.mean(clf.predict((query - mean) / std) == query_y))
  sk_acc, theirs_s = timed(sklearn_probe, repeats=1)
  rows.append({"eval": f"linear probe {probe_n}x{dim} -> {queries} queries", "jaxssl_s": ours_s,
               "sklearn_s": theirs_s, "speedup": theirs_s / ours_s, "agreement": f"{acc:.3f} vs {sk_acc:.3f}"})
  return rows


def ensure_peers() -> None:
  """Installs the peers' requirements (TF/Keras comes with jaxssl; PyTorch does not) if missing."""
  import importlib.util
  if importlib.util.find_spec("torch") is None:
    requirements = os.path.join(HERE, "peers", "requirements.txt")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", requirements],
                   check=True)


def torch_device(device) -> str:
  """PyTorch's name for the JAX device the step rows ran on: cuda for an NVIDIA GPU, else cpu."""
  return "cuda" if device.platform in ("gpu", "cuda") else "cpu"


def table(rows: list[dict], columns: list[str]) -> str:
  def fmt(v):
    return f"{v:.3g}" if isinstance(v, float) else str(v)
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="small batches and repeats (< 5 min on 2 CPU cores)")
  parser.add_argument("--sections", default="ceiling,step,tuning,prefetch,peers,pipeline,knn,scaling")
  parser.add_argument("--steps", type=int, default=None, help="steps per timed repeat")
  parser.add_argument("--repeats", type=int, default=None)
  parser.add_argument("--out", default=None, help="JSON file (default experiments/results/benchmark[_quick].json)")
  parser.add_argument("--rows", default="default", choices=("default", "accelerator"),
                      help="the step section's rows (and with accelerator, the peers section's)")
  parser.add_argument("--peak_tflops", type=float, default=None,
                      help="the device's bf16 dense peak, for mfu_peak (e.g. 790 measured on an H100 / H200)")
  parser.add_argument("--row", default=None, help=argparse.SUPPRESS)  # Internal: one step row, as JSON.
  args = parser.parse_args()
  accelerator_rows = args.rows == "accelerator" and not args.quick  # Steps of milliseconds: longer windows.
  steps = args.steps or (1 if args.quick else 20 if accelerator_rows else 3)
  repeats = args.repeats or (2 if args.quick else 5 if accelerator_rows else 3)
  batch = QUICK_BATCH if args.quick else BATCH
  if args.row:  # A child process: one step row.
    name, overrides, conv, *depth = json.loads(args.row)
    print(json.dumps(step_row(name, overrides, steps, repeats, conv, *depth)))
    return

  # On a GPU, JAX takes 75% of its memory when it starts, and the rows run in processes of their own beside this
  # one: this process (the matmul ceiling) allocates as it needs; the rows start with the environment they had.
  child_environ = dict(os.environ)
  os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
  import jax
  sections = args.sections.split(",")
  device = jax.devices()[0]
  cpu = cpu_name()
  results = {"machine": {"platform": device.platform, "device": device.device_kind, "cpu": cpu,
                         "cpus": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__},
             "quick": args.quick, "rows": args.rows, "peak_tflops": args.peak_tflops}
  out = args.out or os.path.join(HERE, "results", "benchmark_quick.json" if args.quick else "benchmark.json")
  os.makedirs(os.path.dirname(out), exist_ok=True)
  print(f"# jaxssl benchmark on {device.device_kind} ({device.platform}), {os.cpu_count()} × {cpu}, "
        f"jax {jax.__version__}")
  dtypes = ["float32"] + (["bfloat16"] if device.platform != "cpu" or args.rows == "accelerator" else [])
  results["section_s"] = {}
  clock = {"section": None, "start": time.perf_counter()}

  def save():  # After every section and step row: a run stopped at a time limit keeps what it measured.
    with open(out, "w") as f:
      json.dump(results, f, indent=2)

  def begin(section):  # Wall seconds of each section, so a slow machine shows where a run's time goes.
    now = time.perf_counter()
    if clock["section"] in sections:
      results["section_s"][clock["section"]] = now - clock["start"]
      save()
    clock.update(section=section, start=now)
    return section in sections

  if begin("ceiling") or "step" in sections:
    n = 2048 if device.platform == "cpu" else 8192  # An accelerator needs large products to reach its rate.
    results["ceiling_flops"] = {d: matmul_ceiling(d, n, burst=1 if device.platform == "cpu" else 10) for d in dtypes}
    ceiling = [{"dtype": d, "TFLOP/s": f / 1e12} for d, f in results["ceiling_flops"].items()]
    print("\n## Matmul ceiling\n" + table(ceiling, ["dtype", "TFLOP/s"]))

  from jaxssl.cpu_tricks import huge_page_malloc_env
  tuned_env = huge_page_malloc_env(dict(child_environ), platform.libc_ver()) or dict(child_environ)
  plain_env = {k: v for k, v in child_environ.items() if k != "GLIBC_TUNABLES"}

  measured = {}

  def child(name, overrides, env=None, conv="auto", tuned=True, device_prefetch=2):  # As jaxssl.main runs it.
    command = [sys.executable, __file__, f"--row={json.dumps([name, overrides, conv, device_prefetch])}",
               f"--steps={steps}", f"--repeats={repeats}"]
    env = {**(tuned_env if tuned else plain_env), **(env or {})}
    key = json.dumps([command, sorted(env.items())])
    if key not in measured:  # The same row in two sections (e.g. step and peers) is measured once; a failure too.
      try:
        measured[key] = run_json(command, env)
      except RuntimeError as e:
        measured[key] = e
    if isinstance(measured[key], RuntimeError):
      raise measured[key]
    return dict(measured[key])

  if args.rows == "accelerator":
    step_rows = accelerator_step_rows(args.quick)
  else:
    step_rows = [(name, overrides, dtypes) for name, overrides in (QUICK_STEP_ROWS if args.quick else STEP_ROWS)]

  def step_child(name, overrides, dtype):  # float32: the configs' default.
    return child(name, overrides if dtype == "float32" else {**overrides, "dtype": dtype})

  if begin("step"):
    rows = results["step"] = []
    for name, overrides, row_dtypes in step_rows:
      for dtype in row_dtypes:
        try:
          row = step_child(name, overrides, dtype)
        except RuntimeError as e:  # A row that fails (say, out of memory) is reported; the others still run.
          rows.append({"config": name, "overrides": overrides, "dtype": dtype, "error": str(e)[-2000:]})
          print(f"  {name} {dtype}: FAILED\n{str(e)[-2000:]}", flush=True)
          continue
        row["mfu"] = row["step_flops"] / row["step_s"] / results["ceiling_flops"][dtype]
        if args.peak_tflops and dtype == "bfloat16":  # The peak is the chip's bf16 rate.
          row["mfu_peak"] = row["step_flops"] / row["step_s"] / (args.peak_tflops * 1e12)
        rows.append(row)
        print(f"  {name} {row['model']} {dtype}: {row['images_per_s']:.1f} img/s, mfu {row['mfu']:.3f}, compile "
              f"{row['compile_s']:.1f} s", flush=True)
        save()
    print("\n## Train step\n" + table(rows, ["method", "model", "image_size", "images_per_step", "dtype", "compile_s",
                                             "step_s", "images_per_s", "mfu", "mfu_peak", "peak_rss_mb"]))

  if begin("tuning"):  # Before / after: XLA's convolution vs jaxssl's, three glibc malloc settings, tcmalloc.
    rows = []
    settings = [("xla", False, None), ("xla", True, None), ("auto", False, None), ("auto", True, None),
                ("auto", True, {"GLIBC_TUNABLES": REUSE_MALLOC}), ("xla", True, {"GLIBC_TUNABLES": REUSE_MALLOC})]
    settings += [("auto", True, {"LD_PRELOAD": TCMALLOC})] if TCMALLOC else []
    if args.quick:  # XLA's convolution is the slow one: quick keeps only its first row, the baseline.
      settings = settings[:1] + [s for s in settings if s[0] == "auto"]
    for conv, tuned, env in settings:
      row = child("simclr_stl10", {"batch_size": batch}, env, conv=conv, tuned=tuned)
      rows.append({"conv": "jaxssl's" if conv == "auto" else "XLA's", "malloc": row["malloc"],
                   "step_s": row["step_s"], "images_per_s": row["images_per_s"], "peak_rss_mb": row["peak_rss_mb"]})
      print(f"  tuning {rows[-1]['conv']} / {row['malloc']}: {row['images_per_s']:.1f} img/s", flush=True)
    for row in rows:
      row["speedup"] = row["images_per_s"] / rows[0]["images_per_s"]
    results["tuning"] = rows
    print(f"\n## Tuning: SimCLR / convnet step, batch {batch}, 96×96\n" +
          table(rows, ["conv", "malloc", "step_s", "images_per_s", "speedup", "peak_rss_mb"]))

  if begin("peers"):
    if args.rows == "accelerator":  # PyTorch's ResNet-18 step on this device, both dtypes.
      name, overrides, resnet_dtypes = next(row for row in step_rows if row[1].get("model.name") == "resnet18")
      rows = []
      results["peers"] = {"batch_size": overrides["batch_size"], "image_size": 32, "model": "resnet18", "rows": rows}
      for dtype in resnet_dtypes:
        try:
          ours = step_child(name, overrides, dtype)
          rows.append({"library": f"jaxssl (jax {jax.__version__})", "dtype": dtype,
                       "images_per_s": ours["images_per_s"], "step_s": ours["step_s"]})
        except RuntimeError as e:
          ours = None
          rows.append({"library": "jaxssl", "dtype": dtype, "error": str(e)[-2000:]})
        try:  # Run even where jaxssl's row failed.
          peer = run_json([sys.executable, os.path.join(HERE, "peers", "simclr_torch.py"), "--model=resnet18",
                           f"--batch_size={overrides['batch_size']}", "--image_size=32",
                           f"--device={torch_device(device)}", f"--dtype={dtype}", f"--steps={steps}",
                           f"--repeats={repeats}"], tuned_env)
          rows.append({**peer, "jaxssl_ratio": ours["images_per_s"] / peer["images_per_s"] if ours else None})
        except RuntimeError as e:
          rows.append({"library": "pytorch", "dtype": dtype, "error": str(e)[-2000:]})
        for r in rows[-2:]:
          result = f"FAILED {r['error']}" if "error" in r else f"{r['images_per_s']:.1f} img/s"
          print(f"  {r['library']} {dtype}: {result}", flush=True)
        save()
      print(f"\n## SimCLR / ResNet-18 (CIFAR stem) step, batch {overrides['batch_size']}, 32×32, 2 views "
            "(PyTorch eager)\n" + table(rows, ["library", "dtype", "step_s", "images_per_s", "jaxssl_ratio"]))
    else:
      ensure_peers()
      shape = [f"--batch_size={batch}", "--image_size=96", f"--steps={steps}", f"--repeats={repeats}"]
      ours = child("simclr_stl10", {"batch_size": batch})
      rows = [{"library": f"jaxssl (jax {jax.__version__})", "images_per_s": ours["images_per_s"],
               "step_s": ours["step_s"], "peak_rss_mb": ours["peak_rss_mb"]}]
      for script in ("simclr_tf.py", "simclr_torch.py"):
        peer = run_json([sys.executable, os.path.join(HERE, "peers", script)] + shape, tuned_env)  # Same malloc.
        rows.append({**peer, "jaxssl_ratio": ours["images_per_s"] / peer["images_per_s"]})
      results["peers"] = {"batch_size": batch, "image_size": 96, "rows": rows}
      print(f"\n## SimCLR / convnet step, batch {batch}, 96×96, 2 views\n" +
            table(rows, ["library", "step_s", "images_per_s", "jaxssl_ratio"]))

  if begin("prefetch"):  # The step with and without the next batches' host-to-device copies started ahead.
    # Interleaved; on an accelerator the convnet row in bfloat16, as the step section's.
    precision = {"dtype": "bfloat16"} if args.rows == "accelerator" else {}
    measured_row = child("simclr_stl10", {"batch_size": batch, **precision}, device_prefetch=[1, 2, 3])
    rows = []
    for depth, step_s in measured_row["step_s_by_prefetch"].items():
      rows.append({"device_prefetch": int(depth), "step_s": step_s,
                   "images_per_s": measured_row["images_per_step"] / step_s})
      print(f"  device_prefetch={depth}: {rows[-1]['images_per_s']:.1f} img/s", flush=True)
    for row in rows:
      row["speedup"] = row["images_per_s"] / rows[0]["images_per_s"]
    results["prefetch"] = rows
    print(f"\n## Device prefetch: SimCLR / convnet step, batch {batch}, 96×96 (1 = no prefetch)\n" +
          table(rows, ["device_prefetch", "step_s", "images_per_s", "speedup"]))

  if begin("pipeline"):
    pipe = pipeline_row(batch, 96, 4 * batch if args.quick else 10000, 20 if args.quick else 50)
    consumed = next((r for r in results.get("step", []) if r["config"] == "simclr_stl10" and "error" not in r), None)
    if consumed and consumed["images_per_step"] == batch:
      pipe["headroom"] = pipe["batches_per_s"] * consumed["step_s"]
    results["pipeline"] = pipe
    print("\n## Input pipeline (host batches/s; headroom = batches/s × train step seconds)\n" +
          table([pipe], ["batch_size", "image_size", "batches_per_s", "headroom"]))

  if begin("knn"):
    rows = knn_rows(10000 if args.quick else 50000, 2000 if args.quick else 10000)
    results["knn"] = rows
    print("\n## Evaluation vs scikit-learn\n" + table(rows, ["eval", "jaxssl_s", "sklearn_s", "speedup", "agreement"]))

  if begin("scaling"):
    per_device = 64
    rows = []
    for n in ((1, 2) if args.quick else (1, 2, 4)):
      # Forced only where it differs from this process's count, so that row is the step section's (measured once).
      forced = device.platform == "cpu" and n != jax.device_count()
      env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"} if forced else {}
      if device.platform != "cpu" and n > jax.device_count():
        break
      row = child("simclr_stl10", {"batch_size": per_device * n}, env)
      rows.append({"devices": n, "batch_size": per_device * n, "images_per_s": row["images_per_s"]})
    for row in rows:
      row["efficiency"] = row["images_per_s"] / (rows[0]["images_per_s"] * row["devices"])
    results["scaling"] = rows
    print(f"\n## Weak scaling, SimCLR/convnet 96×96, {per_device} images per device\n" +
          table(rows, ["devices", "batch_size", "images_per_s", "efficiency"]))

  begin(None)
  print("\nsection seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in results["section_s"].items()))
  save()
  print(f"\nwrote {out}")


if __name__ == "__main__":
  from jaxssl.main import restart_with_huge_page_malloc  # pylint: disable=g-import-not-at-top
  if not any(arg.startswith("--row") for arg in sys.argv):  # A row child runs in the environment it is given.
    restart_with_huge_page_malloc()  # As `python -m jaxssl.main` runs.
  main()
