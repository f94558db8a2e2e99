"""A trained encoder in your own code: `load_encoder(workdir)` restores it from a run's orbax checkpoint and
the config saved beside it; no config needs to be passed again. A run of your own method or encoder loads
once the modules that register them import: those in its `config.imports` (what --import recorded) are
imported first."""
import dataclasses
import functools
import json
import os

import jax
import ml_collections
import numpy as np
from flax import nnx

from jaxssl import augment, checkpoint, config as config_lib, evaluate, methods, models, optim, parallel


@dataclasses.dataclass(frozen=True)
class TrainedEncoder:
  """The encoder of a run at one of its checkpoints.

  `embed(images)` gives the features the run's own kNN and probe evaluation reads; `classify(images)` the
  logits of the method's own classifier, for methods that train one (supervised, SESEMI, FixMatch); `model`
  is the method's whole NNX model (encoder, heads), with the restored parameters and BatchNorm statistics.
  """
  config: ml_collections.ConfigDict
  model: nnx.Module
  step: int
  image_shape: tuple[int, int, int]
  class_names: tuple[str, ...]
  mesh: jax.sharding.Mesh
  _embed: callable
  _classify: callable = None

  @property
  def encoder(self) -> models.Encoder:
    return self.model.encoder

  @property
  def classifies(self) -> bool:
    """Whether the run's method trains a classifier, so that `classify` works."""
    return self._classify is not None

  def embed(self, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Features float32 [N, D] of uint8 images [N, H, W, C] of the run's `image_shape` (eval mode, batched
    over every device of this process)."""
    return evaluate.extract_features(self._embed, self._check(images), self.mesh, batch_size)

  def classify(self, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits float32 [N, num_classes] of the method's classifier for uint8 images [N, H, W, C], as the run's
    `head` evaluation reads them; only for methods that train a classifier."""
    if not self.classifies:
      raise ValueError(f"{self.config.method!r} trains no classifier; use embed() with a probe or kNN instead.")
    return evaluate.extract_features(self._classify, self._check(images), self.mesh, batch_size)

  def _check(self, images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != self.image_shape:
      raise ValueError(f"embed and classify take uint8 images [N, {', '.join(map(str, self.image_shape))}] as "
                       f"the run trained on; got {images.dtype} {images.shape}.")
    return images


def _workdir(path: str) -> str:
  """The run's workdir, given it or its checkpoints/ folder."""
  path = os.path.abspath(path.rstrip("/"))
  if os.path.basename(path) == "checkpoints":
    path = os.path.dirname(path)
  if not os.path.exists(os.path.join(path, "config.json")):
    raise FileNotFoundError(f"{path} has no config.json: pass the --workdir of a jaxssl run (or its checkpoints/).")
  return path


def load_encoder(path: str, step: int | None = None, feature_layer: str | None = None) -> TrainedEncoder:
  """Restores the encoder of the run in `path` (its workdir or checkpoints/ folder) at `step` (default: the
  newest checkpoint), on this process's devices. `feature_layer`: the layer `embed` reads instead of the
  run's `config.model.feature_layer` (an option of encoders that have one, e.g. "conv3"; the checkpoint is the
  same whatever layer is read)."""
  workdir = _workdir(path)
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  with open(os.path.join(workdir, "results.json")) as f:
    shape = json.load(f)["data"]
  image_shape, class_names = tuple(shape["image_shape"]), tuple(shape["class_names"])
  config_lib.import_modules(saved.get("imports", ()))  # They register the run's own components, if any.
  config = ml_collections.ConfigDict(config_lib.with_defaults(saved))  # Options newer than the run: defaults.
  if feature_layer is not None:
    config.model.feature_layer = feature_layer
  method = methods.create(config)
  model = method.build(image_shape, len(class_names), nnx.Rngs(config.seed))
  if feature_layer is not None:
    models.check_feature_layer(model.encoder, feature_layer, "load_encoder(feature_layer)")
  tx, _ = optim.create(config.optimizer, config.num_train_steps)
  graphdef, state = parallel.init_state(model, tx, method.init_extra)
  mesh = parallel.make_mesh(jax.local_devices())
  with checkpoint.manager(os.path.join(workdir, "checkpoints"), max_to_keep=None) as mgr:
    step = mgr.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"{workdir}/checkpoints holds no checkpoint yet.")
    state = checkpoint.restore(mgr, step, parallel.replicate(mesh, state))
  embed = parallel.make_embed_fn(graphdef, mesh, augment.to_float)
  variables = method.eval_variables(state.params, state.rest, state.extra)  # A teacher, where the method has one.
  classify = None
  if method.classifies:
    both = parallel.make_embed_fn(graphdef, mesh, augment.to_float, logits=True)
    classify = functools.partial(jax.jit(lambda *args: both(*args)[1]), *variables)  # XLA drops the features.
  return TrainedEncoder(config, nnx.merge(graphdef, *variables), step, image_shape, class_names, mesh,
                        functools.partial(embed, *variables), classify)


def init_encoder_from(encoder: nnx.Module, path: str, model_config: ml_collections.ConfigDict,
                      image_shape: tuple[int, int, int]) -> int:
  """Sets `encoder`'s parameters and BatchNorm statistics, in place, to those of the encoder the run in `path`
  evaluates (`config.<method>.evaluate`: DINO's teacher, BYOL's online network) at its newest checkpoint:
  `config.init_from`, e.g. FixMatch starting from a PAWS or SimCLR encoder. Its `model` config and image
  shape must be this run's. Returns the step it was read from."""
  try:
    trained = load_encoder(path)
  except FileNotFoundError as e:
    raise FileNotFoundError(f"config.init_from={path!r}: {e}") from e
  theirs, ours = json.loads(trained.config.model.to_json()), json.loads(model_config.to_json())
  differ = sorted(k for k in theirs.keys() | ours.keys() if k != "feature_layer" and theirs.get(k) != ours.get(k))
  if differ or trained.image_shape != tuple(image_shape):
    found = "; ".join([f"model.{k}: {theirs.get(k)!r} there, {ours.get(k)!r} here" for k in differ] +
                      ([f"images {trained.image_shape} there, {tuple(image_shape)} here"]
                       if trained.image_shape != tuple(image_shape) else []))
    raise ValueError(f"config.init_from={path!r} holds a different encoder ({found}): set this run's config.model "
                     "and data.image_size to that run's, or pre-train one that matches.")
  theirs, ours = nnx.state(trained.encoder), nnx.state(encoder)
  if jax.tree.map(np.shape, theirs) != jax.tree.map(np.shape, ours):  # Same options, another kind (a VAE's).
    raise ValueError(f"config.init_from={path!r}: that {trained.config.method} run's encoder "
                     f"({type(trained.encoder).__name__}) has other variables than this {type(encoder).__name__}; "
                     "start from a run whose method builds the same encoder.")
  nnx.update(encoder, jax.device_get(theirs))
  return trained.step
