"""Checkpoints of the train state with orbax: periodic async saves, `max_to_keep`, and a resume that falls
back past unreadable checkpoints and refuses a checkpoint from an incompatible config. Beyond orbax keeping a
run's newest `max_to_keep` saves, nothing here deletes a checkpoint: an unreadable one is moved to
`<workdir>/unreadable_checkpoints/`, a run replaced with `config.reset` to `<workdir>/replaced/<time>/`."""
import dataclasses
import json
import logging
import os
import shutil
import sys
import time

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

from jaxssl import parallel

# Config keys whose change makes a saved state unusable (its shapes or its meaning differ).
# Config keys whose change makes a saved state unusable or mixes two runs in one results.json (its shapes,
# its meaning, its labelled subset or its random stream differ); the keys read only by evaluation do not count.
STATE_KEYS = ("method", "seed", "dtype", "model", "data.name", "data.image_size", "data.labels_per_class",
              "data.label_fraction", "data.split_seed", "data.validation_size", "optimizer.name", "init_from")
EVAL_ONLY_KEYS = ("model.feature_layer",)


def manager(directory: str, max_to_keep: int) -> ocp.CheckpointManager:
  """An orbax CheckpointManager for `directory` that saves asynchronously and keeps `max_to_keep` steps."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, enable_async_checkpointing=True, create=True)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options, item_names=("state",))


def _on_disk(state):
  """What is saved of a TrainState: its fields as a dict, without `extra` when the method keeps no state (so a
  checkpoint of a stateless method is the same as one written before TrainState had `extra`). Any other
  pytree is saved as it is."""
  if not dataclasses.is_dataclass(state):
    return state
  fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
  if not jax.tree.leaves(fields.get("extra", {})):
    fields.pop("extra", None)
  return fields


def _from_disk(restored, like):
  return like.replace(**restored) if dataclasses.is_dataclass(like) else restored


def _abstract(like):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, _on_disk(like))


def save(mgr: ocp.CheckpointManager, step: int, state) -> None:
  """Starts an asynchronous save of `state` at `step` (call `mgr.wait_until_finished()` before exiting)."""
  mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(_on_disk(state))))


def restore(mgr: ocp.CheckpointManager, step: int, like):
  """The state saved at `step`, with the structure, dtypes and shardings of `like` (a TrainState)."""
  _drop_closed_event_loop_reports()
  try:
    restored = mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(like)))).state
  except Exception as e:
    raise RuntimeError(f"could not restore the checkpoint of step {step} in {mgr.directory}: "
                       f"{type(e).__name__}: {str(e)[:400]}") from e
  return _from_disk(restored, like)


def _restore_alone(directory: str, step: int, like):
  """`restore` of `step`, read by this process without waiting for the others (no cross-process barrier),
  so that one process can try checkpoints the others do not."""
  path = os.path.join(os.path.abspath(directory), str(step), "state")
  _drop_closed_event_loop_reports()  # Before the read: reports can come before orbax's exception does.
  try:
    return _from_disk(ocp.StandardCheckpointHandler().restore(
        epath.Path(path), args=ocp.args.StandardRestore(_abstract(like))), like)
  except Exception as e:
    raise RuntimeError(f"could not restore the checkpoint of step {step} in {directory}: "
                       f"{type(e).__name__}: {str(e)[:400]}") from e


def _drop_closed_event_loop_reports() -> None:
  """Silences what a failed restore leaves behind. orbax reads a checkpoint's arrays concurrently in an event
  loop and closes the loop as soon as one read fails; each read still in flight then completes in a
  tensorstore thread, cannot deliver its result to the closed loop and prints "RuntimeError: Event loop is
  closed" with its traceback (85 lines for one corrupt SimCLR checkpoint), though the fallback worked. From
  this process's first restore on, its `sys.unraisablehook` drops exactly those reports: that error, raised
  where a tensorstore future was being handed to an event loop. Any other report passes on."""
  previous = sys.unraisablehook
  if getattr(previous, "drops_closed_event_loop_reports", False):
    return

  def from_a_tensorstore_future(unraisable) -> bool:
    error, tb = unraisable.exc_value, unraisable.exc_traceback
    if not (isinstance(error, RuntimeError) and str(error) == "Event loop is closed") or tb is None:
      return False
    handed = tb.tb_frame.f_locals.get("args", ())  # call_soon_threadsafe(callback, *args)
    return any(type(a).__module__.startswith("tensorstore") for a in handed)

  def hook(unraisable):
    if not from_a_tensorstore_future(unraisable):
      previous(unraisable)

  hook.drops_closed_event_loop_reports = True
  sys.unraisablehook = hook


def _newest_readable(directory: str, steps: list[int], like) -> tuple[int | None, object, list]:
  """(step, state, failures) of the newest of `steps` in `directory` that restores on this process; step is
  None when there is none, and failures lists (step, error) of the newer ones that did not restore."""
  failures = []
  for step in steps:
    try:
      return step, _restore_alone(directory, step, like), failures
    except RuntimeError as e:
      logging.warning("%s; trying an earlier checkpoint.", e)
      failures.append((step, e))
  return None, like, failures


def restore_latest(directory: str, like):
  """(state, True) from the newest checkpoint in `directory` that restores, or (`like`, False) if there is
  none. A newer checkpoint that does not restore (truncated, corrupt) is moved to
  `../unreadable_checkpoints/<step>` with a warning, so that training can save that step again; if none
  restores, raises and moves nothing.

  With several processes, process 0 alone looks for that checkpoint and every process restores the step it
  found; if one of them cannot (a file-system error on one host, say), all raise the same error and nothing
  moves, so processes never resume from different steps."""
  found = os.path.isdir(directory)
  parallel.barrier("jaxssl_checkpoints_looked_up")  # Every process looks before any creates the folder.
  if not found:
    return like, False
  with manager(directory, max_to_keep=None) as mgr:  # Every process: the manager syncs them as it opens.
    steps = sorted(mgr.all_steps(), reverse=True)
  step, state, failures = (_newest_readable(directory, steps, like) if jax.process_index() == 0
                           else (None, like, []))
  if jax.process_count() > 1:  # -1: process 0 found no checkpoints; -2: none of them restored.
    code = -1 if step is None and not failures else (-2 if step is None else step)
    code = int(multihost_utils.broadcast_one_to_all(np.int64(code)))
    step = code if code >= 0 else None
    failures = failures or ([(None, "see process 0's log")] if code == -2 else [])
    error = ""
    if step is not None and jax.process_index() > 0:
      try:
        state = _restore_alone(directory, step, like)
      except RuntimeError as e:
        error = str(e)
    failed = np.flatnonzero(np.asarray(multihost_utils.process_allgather(np.int32(bool(error)))))
    if failed.size:
      raise RuntimeError(
          f"process 0 restored the checkpoint of step {step} in {directory}, but process(es) {failed.tolist()} "
          f"could not{': ' + error if error else ''}. Every process stops rather than resume from different "
          "steps; nothing was moved. Check that every host sees the same files, then rerun.")
  if step is None:
    if failures:
      raise RuntimeError(
          f"none of the checkpoints in {directory} could be restored; the newest failed with: {failures[0][1]}\n"
          "Nothing was deleted or moved. Pass a new --workdir (or --config.reset=True) to start over.")
    return like, False
  if jax.process_index() == 0:
    for bad, _ in failures:
      target = os.path.join(os.path.dirname(os.path.abspath(directory)), "unreadable_checkpoints", str(bad))
      os.makedirs(os.path.dirname(target), exist_ok=True)
      shutil.move(os.path.join(directory, str(bad)), target)
      logging.warning("moved the unreadable checkpoint of step %d to %s; resuming from step %d.", bad, target, step)
  parallel.barrier("jaxssl_unreadable_checkpoints_moved")  # No process saves before the moves are done.
  return state, True


def _get(config: dict, dotted: str):
  """config[a][b] for dotted "a.b" (None if absent), with the EVAL_ONLY_KEYS below it left out."""
  for key in dotted.split("."):
    config = config.get(key) if isinstance(config, dict) else None
  if isinstance(config, dict):
    config = {k: v for k, v in config.items() if f"{dotted}.{k}" not in EVAL_ONLY_KEYS}
  return config


def incompatible_keys(saved: dict, config: ml_collections.ConfigDict) -> list[str]:
  """'key: saved → now' for each STATE_KEYS entry (and the method's own section) that differs. A key the
  saved config lacks (a newer option) counts as its default, so an older run still resumes."""
  from jaxssl import config as config_lib  # pylint: disable=g-import-not-at-top

  now = json.loads(config.to_json())
  if saved.get("method") == now["method"]:
    saved = config_lib.with_defaults(saved)
  keys = STATE_KEYS + (saved.get("method", ""),)
  return [f"{k}: {_get(saved, k)!r} -> {_get(now, k)!r}" for k in keys if k and _get(saved, k) != _get(now, k)]


def check_compatible(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the differences if `workdir` holds checkpoints of an incompatible config."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path) or not os.path.isdir(os.path.join(workdir, "checkpoints")):
    return
  with open(path) as f:
    saved = json.load(f)
  diffs = incompatible_keys(saved, config)
  if diffs:
    raise ValueError(f"{workdir} holds checkpoints of a different config ({'; '.join(diffs)}). Use a new "
                     "--workdir, or --config.reset=True to move that run to <workdir>/replaced/ and start over.")


def set_aside(workdir: str) -> str | None:
  """Moves a previous run's checkpoints, config.json and results.json to <workdir>/replaced/<time>/ and
  returns that folder (None if there was nothing to move, and on every process but 0, which does the move)."""
  names = [n for n in ("checkpoints", "config.json", "results.json") if os.path.exists(os.path.join(workdir, n))]
  target = None
  if names and jax.process_index() == 0:
    target = os.path.join(workdir, "replaced", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(target)
    for name in names:
      shutil.move(os.path.join(workdir, name), os.path.join(target, name))
    logging.warning("config.reset: moved the previous run in %s to %s.", workdir, target)
  parallel.barrier("jaxssl_previous_run_set_aside")  # Nobody reads the workdir before it is cleared.
  return target
