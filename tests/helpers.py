"""Shared by the tests: train steps compared across device and process layouts, and the checks every
finished run's report must pass."""
import dataclasses
import math
import os
import re

import jax
import numpy as np

from jaxssl import config as config_lib, data, evaluate, methods, parallel, train


def subprocess_env(**overrides) -> dict[str, str]:
  """The environment of a process a test starts that sets its own device count (jaxssl.main: 1 CPU device; a
  2-process job: 2 each): this one's, with conftest's XLA flags but not its 4 virtual devices."""
  flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", os.environ.get("XLA_FLAGS", ""))
  return {**os.environ, "XLA_FLAGS": " ".join(flags.split()), **overrides}


def small_heads(config):
  """Heads of a few dozen units for the later methods (their defaults are thousands wide), so that CPU tests
  run in seconds; other methods' configs are left as they are."""
  if config.method not in ("byol", "moco_v3", "dino", "vicreg", "barlow_twins"):
    return config
  section = config[config.method]
  for key, dims in (("projector_dims", (64, 32)), ("predictor_dims", (64, 32)), ("hidden_dims", (64,))):
    if key in section:
      section[key] = dims if config.method not in ("vicreg", "barlow_twins") else (64, 64, 64)
  if config.method == "dino":
    section.bottleneck, section.num_prototypes = 32, 64
  return config


def layout_config(method):
  """The config of the tests that train a few steps on several device or process layouts (test_parallel,
  test_multiprocess) and of the EMA test: shared, so that each method's train step compiles once for all of
  them (the session's compilation cache, conftest.py). SGD with momentum: its update is linear in the
  gradient, so a gradient summed instead of averaged over devices moves the parameters 4× as far (Adam's
  update would hide it: it is invariant to the gradient's scale)."""
  config = small_heads(config_lib.base_config(method))
  config.data.labels_per_class = 8
  config.batch_size, config.labelled_batch_size = 16, 20  # 20: two of each class for stratified batches.
  config.model.width = 16
  # The VAEs' pixel-summed ELBO has gradients ~100× larger: a smaller step keeps them finite.
  config.optimizer.name, config.optimizer.learning_rate = "sgd", 1e-4 if "vae" in method else 0.1
  if method == "fixmatch":  # Its running class distribution is state averaged over devices: checked too.
    config.fixmatch.distribution_alignment = True
  return config


def abstract_state(method, dataset, config):
  """`train.create_state`'s (graphdef, TrainState, tx), the state as shapes: traced, not run (run eagerly, the
  initialisers compile one small program per parameter shape, 15-25 s for a ResNet-18 or a VAE)."""
  built = {}

  def create():
    built["graphdef"], state, built["tx"], _ = train.create_state(method, dataset, config)
    return state

  state = jax.eval_shape(create)
  return built["graphdef"], state, built["tx"]


def train_steps(config, mesh, steps):
  """Runs `steps` train steps of `config` on `mesh` and returns (losses, state before, state after) as numpy.

  Step i trains on the global batch a one-process run draws at step i (each process gathers the unlabelled
  shards of the others), each process feeding its rows of it: any device or process layout sees the same data.
  """
  m = methods.create(config)
  dataset = data.load(config.data)
  whole = dataclasses.replace(dataset, unlabelled_images=parallel.gather_rows(dataset.unlabelled_images))
  batch_fn = data.make_batch_fn(whole, m.batch_sizes(), seed=0, stratified=m.stratified_labels)
  graphdef, state, tx, _ = train.create_state(m, dataset, config)
  before = jax.tree.map(np.asarray, state)
  step = parallel.make_train_step(graphdef, tx, m, mesh, jax.random.key(0))
  state = parallel.replicate(mesh, state)
  losses = []
  for i in range(steps):
    shard = (jax.process_index(), jax.process_count())
    rows = {k: data.process_shard(v, shard) for k, v in batch_fn(i).items()}
    state, out = step(state, parallel.shard_batch(mesh, rows))
    losses.append(float(out["loss"]))
  return losses, before, jax.tree.map(np.asarray, state)


def assert_moves_match(actual, desired, rtol=1e-3, floor=1e-5):
  """Each leaf of the pytree `actual` (parameter moves on one layout) equals `desired`'s (on another) to `rtol`
  in L2 norm, give or take `floor` × the largest entry of any leaf of `desired`, per entry.

  Summation order bounds a float error by the size of the terms summed, not of their sum: an entry that
  cancels to near 0 can differ by far more than `rtol` of itself, at whichever entries a CPU's reduction
  order picks (a per-entry check failed one of 8192 entries on one CI machine, and here in the code that
  XLA_FLAGS=--xla_cpu_max_isa=SSE4_2 makes). The leaf's norm is what that error is small against. The floor
  covers leaves whose exact move is 0 (a bias that the BatchNorm or normalisation after it cancels), where
  only rounding is left.
  """
  scale = max(float(np.abs(d).max()) for d in jax.tree.leaves(desired))
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(actual), jax.tree.leaves(desired), strict=True):
    error, allowed = np.linalg.norm(a - b), rtol * np.linalg.norm(b) + floor * scale * math.sqrt(b.size)
    assert error <= allowed, f"{jax.tree_util.keystr(path)}: |a - b| = {error:.3g} > {allowed:.3g} allowed"


def assert_rows_match(actual, desired, rtol=1e-4):
  """Each row of `actual` [N, D] (features on one layout) equals `desired`'s (on another) to `rtol` of the
  row's L2 norm: what kNN's cosine similarities and the probe's logits see. Rounding is small against the
  row, not against an entry near 0 (12 of 10,240 entries missed 1e-4 of themselves in another CPU's code)."""
  error, size = np.linalg.norm(actual - desired, axis=-1), np.linalg.norm(desired, axis=-1)
  worst = int(np.argmax(error / size))
  assert (error <= rtol * size).all(), f"row {worst}: |a - b| is {error[worst] / size[worst]:.3g} of |b|"


def check_results(results, config, dataset):
  """What a finished run of `config` on `dataset` reports: finite train metrics; final accuracies for kNN at the
  k it computed, the probe, SNN and (a method that classifies) its own head, each a count of test images; the
  step; the probe's learning rate, one of those it chose from."""
  assert all(np.isfinite(v) for v in results["train"].values()), results["train"]
  final, num_test = results["final"], len(dataset.test_images)
  ks = evaluate.knn_ks(config.eval.knn_k, len(dataset.labelled_images))
  head = {"head"} if methods.get(config.method).classifies else set()
  assert set(final) == {"step", *(f"knn_k{k}" for k in ks), "probe", "snn", *head}, final
  assert final["step"] == config.num_train_steps
  for key, accuracy in ((k, v) for k, v in final.items() if k != "step"):
    assert math.isfinite(accuracy) and 0 <= accuracy <= 1 and math.isclose(
        accuracy * num_test, round(accuracy * num_test), abs_tol=1e-6), (key, accuracy, num_test)
  lrs = (*config.eval.probe_learning_rates, config.eval.probe_learning_rate)
  assert results["eval_choices"][str(config.num_train_steps)]["probe_lr"] in lrs, results["eval_choices"]
