"""Checkpoints of the train state with orbax: periodic async saves, `max_to_keep`, resume from the latest."""
import os

import jax
import orbax.checkpoint as ocp


def manager(directory: str, max_to_keep: int) -> ocp.CheckpointManager:
  """An orbax CheckpointManager for `directory` that saves asynchronously and keeps `max_to_keep` steps."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, enable_async_checkpointing=True, create=True)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options, item_names=("state",))


def save(mgr: ocp.CheckpointManager, step: int, state) -> None:
  """Starts an asynchronous save of `state` at `step` (call `mgr.wait_until_finished()` before exiting)."""
  mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)))


def restore(mgr: ocp.CheckpointManager, step: int, like):
  """The state saved at `step`, with the structure, dtypes and shardings of `like` (a pytree of arrays)."""
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
  try:
    return mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))).state
  except Exception as e:
    raise RuntimeError(
        f"could not restore the checkpoint of step {step} in {mgr.directory}: {type(e).__name__}: "
        f"{str(e)[:400]}\nIt may be truncated or come "
        "from a different config (method, model, data shape). Nothing was deleted: move that step's folder away "
        "to resume from an earlier one, or pass a new --workdir to start over.") from e


def restore_latest(mgr: ocp.CheckpointManager, like):
  """(state restored from the latest step, True), or (`like`, False) when there is no checkpoint yet."""
  step = mgr.latest_step()
  if step is None:
    return like, False
  return restore(mgr, step, like), True
