"""What every method provides to the train loop, which knows nothing about any particular method."""
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxssl import augment, models


class Method:
  """A training objective. Subclasses set `streams` and implement `default_config`, `build` and `loss`.

  - `batch_sizes()`: global batch size of each host stream the method reads ("unlabelled", "labelled").
  - `build(image_shape, num_classes, rngs)`: the NNX model; `model.encoder` is the representation (and with
    `classifies`, `model(images)` the logits of its classifier).
  - `loss(model, batch, key, axis_name)`: (scalar loss, dict of scalar metrics) for this device's part of
    the batch; `batch` holds uint8 `unlabelled` [b_u, H, W, C], `labelled` [b_l, H, W, C], int32 `label` [b_l].
    `key` is the step's key, the same on every device: draw per-example randomness with
    `self.views(key, images, axis_name)` so results do not depend on how the batch is split.

  State beyond the model (an EMA teacher, DINO's center) lives in the TrainState's `extra`, a pytree the
  method owns, checkpointed with the rest and updated inside the compiled step:
  - `init_extra(params, rest)`: its value at step 0 ({} for a method without state);
  - `train_loss(model, batch, key, axis_name, extra, step)`: what the train step calls: (loss, metrics,
    terms), `terms` a pytree of this batch's contributions to the new state (default: `loss`, no terms);
  - `update_extra(extra, params, rest, step, terms)`: the new state after the optimizer step, from the
    updated student's variables and `step` (= steps taken); default: unchanged;
  - `eval_variables(params, rest, extra)`: the (params, rest) evaluation embeds with (default: the student's).
  """
  streams: tuple[str, ...] = ()
  # True: `model(images)` (eval mode) gives class logits [B, num_classes] from a head the method trains, and
  # evaluation also reports that head's test accuracy ("head"; FixMatch's and SESEMI's own classifier).
  classifies = False
  stratified_labels = False  # True: every labelled batch holds each class equally often, in class order.

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.options = config[config.method]
    self.view_config = augment.ViewConfig.from_config(config.augment)

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    raise NotImplementedError

  def batch_sizes(self) -> dict[str, int]:
    sizes = {"unlabelled": self.config.batch_size, "labelled": self.config.labelled_batch_size}
    return {stream: sizes[stream] for stream in self.streams}

  def build(self, image_shape: tuple[int, int, int], num_classes: int, rngs: nnx.Rngs) -> nnx.Module:
    raise NotImplementedError

  def build_encoder(self, image_shape: tuple[int, int, int], rngs: nnx.Rngs) -> models.Encoder:
    """The encoder named by `config.model` for images of `image_shape` [H, W, C], in `config.dtype`. Its
    BatchNorm layers use the batch they see; the train step averages them over the global batch
    (`models.set_batch_axis`)."""
    return models.build_encoder(self.config.model, image_shape[-1], image_shape[0], rngs, dtype=self.config.dtype)

  def head(self, in_features: int, dims, rngs: nnx.Rngs, batch_norm: bool = False) -> models.MLP:
    """An MLP head [B, in_features] -> [B, dims[-1]] (identity for no dims); BatchNorm as `build_encoder`'s."""
    return models.MLP(in_features, tuple(dims), batch_norm=batch_norm, rngs=rngs)

  def check_takes_size(self, model: nnx.Module, size: int, channels: int, option: str) -> None:
    """Raises a clear error if `model` cannot take size×size images (for the small crops `option` asks for)."""
    try:
      nnx.eval_shape(lambda m: m(jnp.zeros((1, size, size, channels))), model)
    except Exception as e:
      raise ValueError(f"config.{option} needs an encoder that takes {size}×{size} images; "
                       f"{self.config.model.name!r} does not ({e}). Set config.{option}=0.") from e

  def views(self, key, images, axis_name: str | None, view_config: augment.ViewConfig | None = None):
    """Augmented views of uint8 images [b, H, W, C] -> float [b, H, W, C], keyed per global example
    (`augment.views`); `view_config` defaults to the config's `augment` section."""
    return augment.views(key, images, view_config or self.view_config, axis_name=axis_name)

  def loss(self, model: nnx.Module, batch: dict, key, axis_name: str | None = None):
    raise NotImplementedError

  def init_extra(self, params: nnx.State, rest: nnx.State):
    return {}

  def train_loss(self, model: nnx.Module, batch: dict, key, axis_name: str | None, extra, step):
    del extra, step
    loss, metrics = self.loss(model, batch, key, axis_name)
    return loss, metrics, {}

  def update_extra(self, extra, params: nnx.State, rest: nnx.State, step, terms):
    del params, rest, step, terms
    return extra

  def eval_variables(self, params: nnx.State, rest: nnx.State, extra) -> tuple[nnx.State, nnx.State]:
    del extra
    return params, rest
