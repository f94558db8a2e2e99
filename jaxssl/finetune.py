"""Fine-tuning a trained encoder on the labelled images: the whole encoder or only its last N layers (of those
its representation reads), under a new linear classifier, with early stopping on a held-out part of the
labelled set (never the test split).

BatchNorm stays in eval mode (its running averages are not updated): with few labels, batch statistics of
a small labelled batch would overwrite what pre-training learned. Layers outside the last N receive no
update at all, bit for bit. By default the new head starts as the linear probe of the frozen encoder
(LP-FT, Kumar et al. 2022): a random head's first large gradients would distort the features it sits on,
and fine-tuning starts from the probe's accuracy, which early stopping can keep.
"""
import logging
from typing import Callable, Sequence

import jax
import jax.extend.core as jcore
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from jaxssl import augment, evaluate, losses, models
from jaxssl.data.split import holdout_split
from jaxssl.models.layers import DENSE_INIT


def representation_size(encoder: models.Encoder, image_shape: tuple[int, ...]) -> int:
  """D of `encoder.representation` for images [B, *image_shape]: `encoder.features`, or a lower block's
  flattened size where the encoder reads its `feature_layer` (traced, nothing computed)."""
  graphdef, state = nnx.split(encoder)
  out = jax.eval_shape(lambda state, x: nnx.merge(graphdef, state).representation(x), state,
                       jax.ShapeDtypeStruct((1, *image_shape), jnp.float32))
  return out.shape[-1]


class Classifier(nnx.Module):
  """An encoder's representation (eval-mode BatchNorm) under a linear layer: images [B, *image_shape] in
  [0, 1] -> logits [B, num_classes]."""

  def __init__(self, encoder: models.Encoder, num_classes: int, image_shape: tuple[int, ...], rngs: nnx.Rngs):
    self.encoder = encoder
    self.head = nnx.Linear(representation_size(encoder, image_shape), num_classes, kernel_init=DENSE_INIT,
                           rngs=rngs)

  def __call__(self, images: jax.Array) -> jax.Array:
    return self.head(self.encoder.representation(images))


def forward_layers(module: nnx.Module, prefix: tuple = ()) -> list[tuple]:
  """Attribute paths of `module`'s layers in attribute order: every sub-module attribute with parameters is one
  layer, except that lists and nested encoders are opened into their own layers. That is the order the encoder
  defines them in, but `nnx.split`/`nnx.merge` (a restored or abstract encoder) sort attributes by name, and
  some layers may not feed the representation: `representation_layers` gives those that do, in running order."""
  layers = []
  for name, value in vars(module).items():
    if isinstance(value, nnx.List):
      for i, item in enumerate(value):
        layers += forward_layers(item, prefix + (name, i)) if isinstance(item, models.Encoder) else [prefix + (name, i)]
    elif isinstance(value, models.Encoder):
      layers += forward_layers(value, prefix + (name,))
    elif isinstance(value, nnx.Module) and nnx.state(value, nnx.Param):
      layers.append(prefix + (name,))
  return layers


# Primitives whose one sub-jaxpr takes the equation's inputs and gives its outputs, run once: dependence inside
# them is read from that body (any other equation that gives a used value counts as reading all its inputs).
CALL_PRIMITIVES = frozenset({"jit", "pjit", "closed_call", "core_call", "remat2", "checkpoint", "custom_jvp_call",
                             "custom_vjp_call"})


def _first_reads(jaxpr: jcore.Jaxpr, used_outputs: Sequence[bool]) -> list[int | None]:
  """For each input of `jaxpr`, the index of the first equation that reads it among those the used outputs
  depend on (len(jaxpr.eqns) for an input returned as it is; None: no used output depends on it).

  One backward pass of data dependence: a call (`CALL_PRIMITIVES`) is opened into its body, any other equation
  (loops, conditionals) counts as reading every input it has, which can only over-count."""
  live = {v for v, used in zip(jaxpr.outvars, used_outputs) if used and isinstance(v, jcore.Var)}
  first = {}
  for i in reversed(range(len(jaxpr.eqns))):
    eqn = jaxpr.eqns[i]
    outputs = [v in live for v in eqn.outvars]
    if not any(outputs):
      continue
    bodies = list(jcore.jaxprs_in_params(eqn.params))
    if eqn.primitive.name in CALL_PRIMITIVES and len(bodies) == 1 and len(bodies[0].invars) == len(eqn.invars):
      reads = [read is not None for read in _first_reads(bodies[0], outputs)]
    else:
      reads = [True] * len(eqn.invars)
    for v, read in zip(eqn.invars, reads):
      if read and isinstance(v, jcore.Var):
        live.add(v)
        first[v] = i  # Walking backwards, the last one set is the earliest reader.
  return [first.get(v, len(jaxpr.eqns) if v in live else None) for v in jaxpr.invars]


def representation_layers(encoder: models.Encoder, image_shape: tuple[int, ...]) -> list[tuple]:
  """The layers of `forward_layers(encoder)` whose parameters `encoder.representation` reads for images
  [B, *image_shape], in the order it runs them: found by data dependence in its traced program
  (jax.make_jaxpr, nothing computed), so a VAE's `log_var` or AlexNet's layers after its `feature_layer`
  are left out, whatever order the encoder's attributes are in."""
  graphdef, params, rest = nnx.split(encoder, nnx.Param, ...)
  trace = jax.make_jaxpr(lambda params, rest, x: nnx.merge(graphdef, params, rest).representation(x))
  closed = trace(params, rest, jax.ShapeDtypeStruct((1, *image_shape), jnp.float32))
  reads = _first_reads(closed.jaxpr, [True] * len(closed.jaxpr.outvars))  # params' leaves come first.
  names = [jax.tree_util.keystr(path, simple=True, separator=".") + "."
           for path, _ in jax.tree_util.tree_leaves_with_path(params)]
  first = {}  # layer -> (first equation reading it, attribute position).
  for position, layer in enumerate(forward_layers(encoder)):
    prefix = ".".join(map(str, layer)) + "."
    at = [read for name, read in zip(names, reads) if name.startswith(prefix) and read is not None]
    if at:
      first[layer] = (min(at), position)
  return sorted(first, key=first.get)


def trainable_filter(encoder: models.Encoder, last_layers: int, image_shape: tuple[int, ...]):
  """An NNX filter for the parameters fine-tuning updates: the head's, and those of the last `last_layers` of
  the encoder's layers on the path to its representation of images [B, *image_shape] (`representation_layers`;
  every encoder parameter for 0)."""
  layers = representation_layers(encoder, image_shape)
  if last_layers < 0 or last_layers > len(layers):
    raise ValueError(f"config.finetune.last_layers={last_layers}: this encoder has {len(layers)} layers "
                     f"({', '.join('.'.join(map(str, p)) for p in layers)}) on the path to its representation; "
                     f"use 0 (all) to {len(layers)}.")
  chosen = [("encoder",) + p for p in layers[len(layers) - last_layers:]] if last_layers else [("encoder",)]
  chosen.append(("head",))

  def trainable(path, value) -> bool:
    return isinstance(value, nnx.Param) and any(tuple(path[:len(p)]) == p for p in chosen)
  return trainable


def _features(encoder: models.Encoder, images: np.ndarray, batch: int = 512) -> np.ndarray:
  """The encoder's representation float32 [N, D] of uint8 images [N, H, W, C], on this process's device."""
  graphdef, state = nnx.split(encoder)
  embed = jax.jit(lambda state, x: nnx.merge(graphdef, state).representation(augment.to_float(x)))
  return np.concatenate([np.asarray(embed(state, images[i:i + batch])) for i in range(0, len(images), batch)])


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
                    view_config: augment.ViewConfig | None) -> Callable:
  """Returns jitted (trainable, frozen, opt_state, uint8 images [B, H, W, C], labels int [B], key) ->
  (trainable, opt_state, loss): one cross-entropy step of the `Classifier` split as (graphdef, trainable,
  frozen), on `view_config`'s augmented views of the images (none if None)."""
  @jax.jit
  def train_step(trainable, frozen, opt_state, x, y, key):
    x = augment.views(key, x, view_config) if view_config else augment.to_float(x)

    def loss_fn(params):
      return losses.cross_entropy(nnx.merge(graphdef, params, frozen)(x), y)
    loss, grads = jax.value_and_grad(loss_fn)(trainable)
    updates, opt_state = tx.update(grads, opt_state, trainable)
    return optax.apply_updates(trainable, updates), opt_state, loss
  return train_step


def finetune(encoder: models.Encoder, images: np.ndarray, labels: np.ndarray, test_images: np.ndarray,
             test_labels: np.ndarray, num_classes: int, options: ml_collections.ConfigDict,
             view_config: augment.ViewConfig | None = None, seed: int = 0) -> dict:
  """Fine-tunes `encoder` (modified in place) under a new linear head on labelled uint8 images [N, H, W, C].

  `options` (config.finetune): `last_layers` (0: all), `head_init` ("probe": the linear probe of the frozen
  encoder on the images it trains on; "random"), `steps`, `batch_size`, `learning_rate` (Adam),
  `holdout_fraction` and `eval_every` / `patience` for early stopping on held-out labelled images (step 0
  included), and `refit`: train again from the start on all labelled images for the number of steps early
  stopping chose, so that the held-out images are not lost to the final model (step 0 chosen: the head as
  initialised on all of them, i.e. their probe with head_init="probe"). Training batches get `view_config`'s
  augmentation if given. Returns {"accuracy": test accuracy of the final model, "best_step": the steps early
  stopping chose, "steps": the steps it took to choose them, "holdout_accuracy", "refit": whether it was
  trained again on all labelled images after early stopping (False also where nothing could be held out, and
  it trained on all of them from the start)} and the fine-tuned `Classifier` as "model".
  """
  if options.head_init not in ("probe", "random"):
    raise ValueError(f"config.finetune.head_init must be 'probe' or 'random', got {options.head_init!r}.")
  split = holdout_split(labels, num_classes, options.holdout_fraction, seed)
  if split is None:
    logging.warning("fine-tuning: a class has one labelled image, so nothing is held out; training all %d "
                    "steps without early stopping.", options.steps)
  model = Classifier(encoder, num_classes, images.shape[1:], nnx.Rngs(seed))
  is_trainable = trainable_filter(encoder, options.last_layers, images.shape[1:])
  graphdef = nnx.split(model, is_trainable, ...)[0]
  tx = optax.adam(options.learning_rate)
  train_step = make_train_step(graphdef, tx, view_config)

  @jax.jit
  def predict(trainable, frozen, x):
    return jnp.argmax(nnx.merge(graphdef, trainable, frozen)(augment.to_float(x)), -1)

  def accuracy(params, x, y, batch=512):
    return float(np.mean(np.concatenate([predict(*params, x[i:i + batch]) for i in range(0, len(x), batch)]) == y))

  def train(train_idx, held_idx, steps):
    """(held-out accuracy, step, (trainable, frozen)) of the best held-out evaluation (of the last step when
    nothing is held out), and the steps taken."""
    if options.head_init == "probe":  # The encoder is untouched until the end, so every call starts the same.
      kernel, bias = evaluate.fit_linear_probe(_features(encoder, images[train_idx]), labels[train_idx],
                                               num_classes)
      model.head.kernel[...], model.head.bias[...] = kernel, bias
    _, trainable, frozen = nnx.split(model, is_trainable, ...)
    opt_state, rng = tx.init(trainable), np.random.default_rng(seed)
    best = (accuracy((trainable, frozen), images[held_idx], labels[held_idx]) if len(held_idx) else float("nan"),
            0, (trainable, frozen))
    waited = step = 0
    for step in range(1, steps + 1):
      idx = rng.choice(train_idx, min(options.batch_size, len(train_idx)), replace=False)
      trainable, opt_state, _ = train_step(trainable, frozen, opt_state, images[idx], labels[idx],
                                           jax.random.fold_in(jax.random.key(seed), step))
      if not len(held_idx):
        best = (float("nan"), step, (trainable, frozen))
      elif step % options.eval_every == 0 or step == steps:
        held = accuracy((trainable, frozen), images[held_idx], labels[held_idx])
        logging.info("fine-tuning step %d: held-out accuracy %.4f (best %.4f at step %d)", step, held, *best[:2])
        if held > best[0]:
          best, waited = (held, step, (trainable, frozen)), 0
        else:
          waited += 1
          if waited >= options.patience:
            break
    return best, step

  everything, nothing = np.arange(len(labels)), np.zeros(0, np.int64)
  best, steps = train(*(split or (everything, nothing)), options.steps)
  refit = split is not None and options.refit
  final = train(everything, nothing, best[1])[0][2] if refit else best[2]
  nnx.update(model, final[0])
  return {"accuracy": accuracy(final, test_images, test_labels), "best_step": best[1], "steps": steps,
          "holdout_accuracy": best[0], "refit": refit, "model": model}
