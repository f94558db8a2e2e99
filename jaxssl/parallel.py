"""Devices: the `data` mesh, host<->device batches, and the one shard_map'ed train step.

The step is an SPMD program over every device (what `pmap` expresses): parameters and optimizer state are
replicated (P()), the batch is split along its first axis (P("data")). The loss is averaged over devices
with `lax.pmean` INSIDE the differentiated function: under shard_map (check_vma=True) the gradient with
respect to replicated parameters then comes back as the gradient of the global-mean loss, already summed
over devices. (pmean-ing per-device gradients instead, the old pmap idiom, would give N× that.)
"""
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import lax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxssl import models

DATA = "data"


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training; a pytree that orbax saves and the step donates."""
  step: jax.Array          # int32 scalar: number of steps taken.
  params: nnx.State        # Trainable parameters (nnx.Param).
  rest: nnx.State          # Other model variables (e.g. BatchNorm statistics).
  opt_state: optax.OptState
  extra: Any               # The method's own state (`Method.init_extra`): an EMA teacher, a center; or {}.


def init_state(model: nnx.Module, tx: optax.GradientTransformation,
               init_extra: Callable = lambda params, rest: {}) -> tuple[nnx.GraphDef, TrainState]:
  """Splits `model` into its graph and a step-0 TrainState (parameters, other variables, `tx`'s state and
  the method's `init_extra(params, rest)`)."""
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  return graphdef, TrainState(step=jnp.zeros((), jnp.int32), params=params, rest=rest, opt_state=tx.init(params),
                              extra=init_extra(params, rest))


def make_mesh(devices=None) -> jax.sharding.Mesh:
  """A 1-D mesh with axis `data` over `devices` (default: every device of every process)."""
  devices = list(devices) if devices is not None else jax.devices()
  return jax.make_mesh((len(devices),), (DATA,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


def replicate(mesh: jax.sharding.Mesh, tree):
  """Places a pytree of arrays on every device of `mesh`."""
  return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(mesh: jax.sharding.Mesh, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
  """This process's rows of a global batch -> global arrays split along axis 0 over `data`."""
  sharding = NamedSharding(mesh, P(DATA))
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


def to_host(x: jax.Array) -> np.ndarray:
  """A global array as one numpy array on every process."""
  return np.asarray(multihost_utils.process_allgather(x, tiled=True) if jax.process_count() > 1 else x)


def gather_rows(x: np.ndarray) -> np.ndarray:
  """Every process's host rows x [N_p, ...] concatenated in process order, [sum_p N_p, ...], on every
  process (the N_p may differ). With one process, `x` itself. Every process must call it."""
  if jax.process_count() == 1:
    return x
  counts = np.asarray(multihost_utils.process_allgather(np.int64(len(x))))
  padded = np.zeros((int(counts.max()), *x.shape[1:]), x.dtype)
  padded[:len(x)] = x
  rows = np.asarray(multihost_utils.process_allgather(padded))  # [P, max N_p, ...]
  return np.concatenate([r[:n] for r, n in zip(rows, counts)])


def barrier(name: str) -> None:
  """Waits until every process reaches `name` (a no-op with one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, method, mesh: jax.sharding.Mesh,
                    key: jax.Array) -> Callable:
  """Returns jitted (state, batch) -> (new state, metrics), with `state` donated.

  `method` (a `methods.Method`) gives `train_loss(model, local_batch, key, axis_name, extra, step)` ->
  (scalar loss, dict of scalars, terms) and `update_extra(extra, params, rest, step, terms)`, applied after
  the optimizer step in the same program (so an EMA teacher resumes bitwise and is the same on 1 or N devices).
  The step's key is fold_in(key, step), the same on every device: randomness is a function of the step
  (and, through `augment.views`, of each example's global index), not of the device layout.
  """
  def step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    step_key = jax.random.fold_in(key, state.step)

    def global_loss(params):
      # copy=True: fresh Variables at this trace level, which BatchNorm may update (the State's own
      # Variables belong to the outer trace, and NNX refuses to mutate them here).
      model = models.set_batch_axis(nnx.merge(graphdef, params, state.rest, copy=True), DATA)  # Global batch.
      loss, metrics, terms = method.train_loss(model, batch, step_key, DATA, state.extra, state.step)
      return lax.pmean(loss, DATA), (metrics, terms, nnx.state(model, nnx.Not(nnx.Param)))

    (loss, (metrics, terms, rest)), grads = jax.value_and_grad(global_loss, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    extra = method.update_extra(state.extra, params, rest, state.step + 1, terms)
    metrics = {**lax.pmean(metrics, DATA), "loss": loss, "grad_norm": optax.tree.norm(grads)}
    return state.replace(step=state.step + 1, params=params, rest=rest, opt_state=opt_state, extra=extra), metrics

  sharded = jax.shard_map(step, mesh=mesh, in_specs=(P(), P(DATA)), out_specs=(P(), P()))
  return jax.jit(sharded, donate_argnums=0)


def make_embed_fn(graphdef: nnx.GraphDef, mesh: jax.sharding.Mesh, preprocess: Callable,
                  logits: bool = False) -> Callable:
  """Returns jitted (params, rest, uint8 images [B, H, W, C] sharded over `data`) -> features [B, D],
  running `model.encoder.representation(preprocess(images))` (eval mode) on every device's rows; with
  `logits`, (features, the whole model's output `model(preprocess(images))`: a classifier's logits [B, K])
  from one program, where the encoder's layers that both read run once (XLA merges the common ops)."""
  def embed(params, rest, images):
    model = nnx.merge(graphdef, params, rest)
    x = preprocess(images)
    features = model.encoder.representation(x)
    return (features, model(x)) if logits else features

  return jax.jit(jax.shard_map(embed, mesh=mesh, in_specs=(P(), P(), P(DATA)), out_specs=P(DATA)))
