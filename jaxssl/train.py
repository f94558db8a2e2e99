"""One run: config -> data, model, method, optimizer -> the train loop -> kNN / linear-probe evaluation.

The workdir holds orbax checkpoints (`checkpoints/`), the resolved `config.json`, TensorBoard events and
`results.json` (every evaluation so far and the final metrics). Calling again with the same workdir resumes
from the latest checkpoint that restores; SIGTERM / SIGINT save a checkpoint after the current step and stop.
"""
import collections
import contextlib
import functools
import json
import logging
import math
import os
import time

import jax
import ml_collections
import numpy as np
from flax import nnx

from jaxssl import augment, checkpoint, config as config_lib, data, evaluate, methods, models, optim, parallel
from jaxssl import preemption, pretrained
from jaxssl.metrics import MetricWriter, Progress, format_accuracies


def write_json(path: str, obj) -> None:
  """Writes JSON atomically (a crash never leaves a half-written file in place of a good one)."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def read_json(path: str) -> dict:
  """The JSON object in `path`, or {} if there is no such file."""
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def create_state(method: methods.Method, dataset: data.Dataset, config: ml_collections.ConfigDict,
                 init_from: bool = True):
  """Builds the model and optimizer: returns (graphdef, initial TrainState, optax tx, lr schedule). With
  `config.init_from` (a run's workdir) and `init_from`, the encoder starts from that run's (heads as built,
  a teacher as a copy of the started model)."""
  model = method.build(dataset.image_shape, dataset.num_classes, nnx.Rngs(config.seed))
  models.check_feature_layer(model.encoder, config.model.get("feature_layer", "fc"), "config.model.feature_layer")
  if init_from and config.get("init_from"):
    step = pretrained.init_encoder_from(model.encoder, config.init_from, config.model, dataset.image_shape)
    logging.info("The encoder starts from step %d of the run in %s (config.init_from).", step, config.init_from)
  tx, lr = optim.create(config.optimizer, config.num_train_steps)
  graphdef, state = parallel.init_state(model, tx, method.init_extra)
  return graphdef, state, tx, lr


def evaluate_state(embed, state: parallel.TrainState, dataset: data.Dataset, mesh: jax.sharding.Mesh,
                   eval_config: ml_collections.ConfigDict, method: methods.Method,
                   classify=None) -> tuple[dict[str, float], dict[str, float]]:
  """(accuracies, choices) of `evaluate.evaluate_features` for the encoder in `state` that `method` evaluates
  (`eval_variables`: the student, or a teacher) with the labelled split as bank / probe train set, on the
  whole test split: each process embeds its test shard and a 1/P part of the labelled set. With `classify`
  (`make_embed_fn(..., logits=True)` of a method that `classifies`: features and logits in one pass over the
  test images), also `head`: its classifier's accuracy."""
  variables = method.eval_variables(state.params, state.rest, state.extra)
  own = data.process_shard(dataset.labelled_images, (jax.process_index(), jax.process_count()))
  bank = evaluate.extract_features(functools.partial(embed, *variables), own, mesh, eval_config.batch_size)
  outputs = evaluate.extract_features(functools.partial(classify or embed, *variables), dataset.test_images,
                                      mesh, eval_config.batch_size)
  test, logits = outputs if classify is not None else (outputs, None)  # classify: (features, logits).
  test_labels = parallel.gather_rows(dataset.test_labels)
  accuracies, choices = evaluate.evaluate_features(bank, dataset.labelled_labels, test, test_labels,
                                                   dataset.num_classes, eval_config)
  if logits is not None:
    accuracies["head"] = evaluate.head_accuracy(logits, test_labels)
  return accuracies, choices


def _check_finite(metrics: dict[str, float], step: int, ckpt, workdir: str) -> None:
  if not all(map(math.isfinite, metrics.values())):
    ckpt.wait_until_finished()
    raise FloatingPointError(
        f"non-finite training metrics at step {step}: {metrics}. No checkpoint of this state was written; the "
        f"last good checkpoint is step {ckpt.latest_step()} in {workdir}. Lower config.optimizer.learning_rate "
        "(or add warm-up) and rerun with the same --workdir to resume.")


def write_view_grid(writer, method: methods.Method, batch: dict, seed: int, max_images: int = 8) -> None:
  """Logs a grid of the first batch's images (first row) and two augmented views of each (TensorBoard)."""
  images = batch[method.streams[0]][:max_images]
  grid = augment.view_grid(jax.random.key(seed), images, method.view_config)
  writer.write_images(0, {"augmented_views": np.asarray(grid)[None]})


# How many train steps the host may dispatch before the device has finished them. Two already keep the device
# busy; more only hold more batches in device memory. And XLA:CPU deadlocks at its own bound (32 computations in
# flight per device): with several (virtual) devices, three of four could wait in a collective for the fourth,
# whose launch waited for a free slot ("Termination timeout ... all gather": 3 runs in 20 of a 200-step test).
MAX_STEPS_AHEAD = 4


class StepPacer:
  """Keeps the host at most `depth` steps ahead of the device without draining it: `dispatched(outputs)` takes
  step k's outputs (any pytree of arrays) and blocks until step k - depth's are ready."""

  def __init__(self, depth: int = MAX_STEPS_AHEAD):
    self.depth, self.pending = depth, collections.deque()

  def dispatched(self, outputs) -> None:
    self.pending.append(outputs)
    if len(self.pending) > self.depth:
      jax.block_until_ready(self.pending.popleft())


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, source=None) -> dict:
  """Trains `config.method` for `config.num_train_steps` steps, evaluating every `eval_every_steps` and at
  the end; resumes from `workdir` if it holds a checkpoint. Returns the contents of results.json (its
  `final` entry holds the last evaluation). `source`: `data.from_arrays(...)`, with config.data.name="arrays"."""
  start_time = time.time()
  mesh = parallel.make_mesh()
  config_lib.validate(config, mesh.devices.size, jax.process_count())
  is_main = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)
  method = methods.create(config)
  dataset = data.load(config.data, source)
  logging.info("data %s: %d labelled, %d unlabelled, %d test images of shape %s; %d devices.", config.data.name,
               len(dataset.labelled_images), len(dataset.unlabelled_images), len(dataset.test_images),
               dataset.image_shape, mesh.devices.size)
  graphdef, state, tx, lr = create_state(method, dataset, config, init_from=False)
  if config.reset:
    checkpoint.set_aside(workdir)
  checkpoint.check_compatible(workdir, config)
  ckpt_dir = os.path.join(workdir, "checkpoints")
  state, resumed = checkpoint.restore_latest(ckpt_dir, parallel.replicate(mesh, state))
  if not resumed and config.get("init_from"):  # A resume needs only its checkpoint, not the run it started from.
    state = parallel.replicate(mesh, create_state(method, dataset, config)[1])
  train_step = parallel.make_train_step(graphdef, tx, method, mesh, jax.random.key(config.seed))
  embed = parallel.make_embed_fn(graphdef, mesh, augment.to_float)
  classify = parallel.make_embed_fn(graphdef, mesh, augment.to_float, logits=True) if method.classifies else None
  results_path = os.path.join(workdir, "results.json")

  with checkpoint.manager(ckpt_dir, config.max_checkpoints_to_keep) as ckpt, preemption.StopRequest() as stop, \
       contextlib.closing(MetricWriter(workdir if is_main else None)) as writer:
    start_step = int(state.step)
    if start_step > config.num_train_steps:
      raise ValueError(f"{workdir} holds a checkpoint of step {start_step}, past config.num_train_steps="
                       f"{config.num_train_steps}; raise num_train_steps or use a new --workdir.")
    if resumed:
      logging.info("Resumed from the checkpoint of step %d in %s.", start_step, workdir)
    results = read_json(results_path) if resumed else {}
    previous_wall_s = results.get("train_wall_s", 0.0)  # Earlier invocations of this run (before a resume).

    def run_wall_s() -> float:  # Every invocation of this run, up to now.
      return previous_wall_s + time.time() - start_time

    results.pop("preempted_at_step", None)
    results.update(config=config.to_dict(), start_step=start_step, data=dict(
        image_shape=list(dataset.image_shape), class_names=list(dataset.class_names)))
    results.setdefault("evals", {})
    if is_main:
      write_json(os.path.join(workdir, "config.json"), config.to_dict())

    def run_eval(step: int) -> None:
      eval_start = time.time()
      accuracies, choices = evaluate_state(embed, state, dataset, mesh, config.eval, method, classify)
      eval_s = time.time() - eval_start
      writer.write_scalars(step, {**{f"eval/{k}": v for k, v in accuracies.items()},
                                  **{f"eval_choice/{k}": v for k, v in choices.items()}})
      results["evals"][str(step)] = accuracies
      # Every evaluation of the run, resumes included, and the run's time up to here: the share evaluation
      # costs. Both are on disk at each evaluation, so a run killed later and resumed keeps counting both.
      results["eval_wall_s"] = results.get("eval_wall_s", 0.0) + eval_s
      results["train_wall_s"] = run_wall_s()
      logging.info("eval at step %d (%.1f s): %s", step, eval_s, format_accuracies(accuracies))
      results.setdefault("eval_choices", {})[str(step)] = choices
      if is_main:
        write_json(results_path, results)

    computed_ks = evaluate.knn_ks(config.eval.knn_k, len(dataset.labelled_images))
    if computed_ks != tuple(config.eval.knn_k):
      logging.warning("kNN: the labelled bank has %d images, so config.eval.knn_k=%s is computed (and reported) "
                      "as k=%s.", len(dataset.labelled_images), tuple(config.eval.knn_k), computed_ks)
    if start_step == 0 or (start_step % config.eval_every_steps == 0 and str(start_step) not in results["evals"]):
      run_eval(start_step)  # Step 0: the untrained encoder; a resume: the evaluation a preemption skipped.
    progress = Progress(start_step, config.num_train_steps, sum(method.batch_sizes().values()))
    batch_fn = data.make_batch_fn(dataset, method.batch_sizes(), config.seed, jax.process_index(),
                                  jax.process_count(), method.stratified_labels)
    sync_every = math.gcd(config.log_every_steps, config.checkpoint_every_steps)
    train_metrics = results.get("train", {})
    batches = data.prefetch_to_device(data.prefetch(batch_fn, start_step, config.num_train_steps),
                                      functools.partial(parallel.shard_batch, mesh), config.device_prefetch)
    pacer = StepPacer()
    for step, (batch, device_batch) in enumerate(batches, start_step + 1):
      if step == 1:
        write_view_grid(writer, method, batch, config.seed)
      state, metrics = train_step(state, device_batch)
      pacer.dispatched(metrics)
      if step == start_step + 1:  # The first step compiles: the rate counts from its end.
        jax.block_until_ready(metrics)
        progress = Progress(step, config.num_train_steps, progress.images_per_step)
      is_last = step == config.num_train_steps
      stopping = not is_last and stop.requested(step)  # Preemption: checkpoint this step, then return.
      if is_last or stopping or step % sync_every == 0:  # Fetching metrics syncs the host: only here and before saves.
        train_metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        _check_finite(train_metrics, step, ckpt, workdir)
        if is_last or step % config.log_every_steps == 0:
          writer.write_scalars(step, {**{f"train/{k}": v for k, v in train_metrics.items()},
                                      "train/learning_rate": float(lr(step - 1))})
          progress.log(step, train_metrics)
      if stopping:  # Save before anything slow: a preemption's grace period can be short. Evaluate on resume.
        checkpoint.save(ckpt, step, state)
        ckpt.wait_until_finished()
        results.update(train=train_metrics, preempted_at_step=step, wall_time_s=time.time() - start_time,
                       train_wall_s=run_wall_s())
        if is_main:
          write_json(results_path, results)
        logging.warning("stopped at step %d on request; its checkpoint is saved in %s.", step, workdir)
        return results
      if is_last or step % config.eval_every_steps == 0:
        run_eval(step)
        progress.restart_clock()
      if is_last or step % config.checkpoint_every_steps == 0:
        checkpoint.save(ckpt, step, state)

    final_step = config.num_train_steps
    if str(final_step) not in results["evals"]:  # Resumed after the end: evaluate the restored state once.
      run_eval(final_step)
    ckpt.wait_until_finished()
  results.update(train=train_metrics, final={"step": final_step, **results["evals"][str(final_step)]},
                 wall_time_s=time.time() - start_time, train_wall_s=run_wall_s())
  if is_main:
    write_json(results_path, results)
  return results
