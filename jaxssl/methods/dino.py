"""DINO: a student matches an EMA teacher's centred, sharpened distribution over K prototypes, across crops."""
import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxssl import augment, losses, models
from jaxssl.methods.teacher import TeacherMethod
from jaxssl.models.layers import DENSE_INIT, truncated_normal


class DINOHead(nnx.Module):
  """[B, in] -> MLP (Linear -> [BatchNorm ->] GELU per hidden layer) -> bottleneck -> L2-normalise ->
  weight-normalised Linear without bias (each output column has norm 1, as DINO's last layer with its norm
  fixed) -> [B, K]. `batch_norm`: the official `use_bn_in_head` (statistics over the step's batch axis)."""

  def __init__(self, in_features: int, hidden: tuple[int, ...], bottleneck: int, num_prototypes: int, *,
               batch_norm: bool = False, rngs: nnx.Rngs):
    sizes = (in_features, *hidden, bottleneck)
    self.layers = nnx.List([nnx.Linear(a, b, kernel_init=DENSE_INIT, rngs=rngs)
                            for a, b in zip(sizes[:-1], sizes[1:])])
    self.norms = nnx.List([nnx.BatchNorm(b, momentum=0.9, rngs=rngs) for b in hidden] if batch_norm else [])
    self.prototypes = nnx.Param(truncated_normal(0.02)(rngs.params(), (bottleneck, num_prototypes)))

  def project(self, x: jax.Array, train: bool = False) -> jax.Array:
    """The L2-normalised bottleneck [B, bottleneck] the prototypes score."""
    for i, layer in enumerate(self.layers[:-1]):
      x = layer(x)
      x = self.norms[i](x, use_running_average=not train) if self.norms else x
      x = nnx.gelu(x, approximate=False)
    return losses.l2_normalize(self.layers[-1](x))

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    v = self.prototypes[...]
    return self.project(x, train) @ (v * jax.lax.rsqrt(jnp.sum(v * v, axis=0, keepdims=True)))


class DINO(TeacherMethod):
  """Crops of each unlabelled image: 2 global views (the config's `augment`) and `local_crops` small ones of
  `local_size` px (crop area `local_scale`; the encoder must take that size). The teacher sees the global
  views, the student all crops; loss and new center from `losses.dino` (Caron et al. 2021). The teacher
  temperature warms up linearly from `warmup_teacher_temperature` to `teacher_temperature` over the first
  `teacher_warmup_fraction` of the run. The center lives in the TrainState's `extra` beside the teacher.
  `use_bn_in_head`: BatchNorm after each hidden Linear of the head (the official option, off by default;
  student and teacher normalise with their batch's statistics). Evaluation reads the teacher encoder."""
  streams = ("unlabelled",)

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({
        "hidden_dims": (2048, 2048), "bottleneck": 256, "num_prototypes": 4096, "student_temperature": 0.1,
        "teacher_temperature": 0.04, "warmup_teacher_temperature": 0.04, "teacher_warmup_fraction": 0.3,
        "center_momentum": 0.9, "base_momentum": 0.996, "local_crops": 0, "local_size": 16,
        "local_scale": (0.05, 0.4), "use_bn_in_head": False, "evaluate": "teacher"})

  def build(self, image_shape, num_classes, rngs):
    del num_classes
    encoder = self.build_encoder(image_shape, rngs)
    o = self.options
    model = models.EncoderAndHead(encoder, DINOHead(encoder.features, tuple(o.hidden_dims), o.bottleneck,
                                                    o.num_prototypes, batch_norm=o.use_bn_in_head, rngs=rngs))
    if o.local_crops:
      self.check_takes_size(model, o.local_size, image_shape[-1], "dino.local_crops")
    return model

  def init_extra(self, params, rest):
    return {**super().init_extra(params, rest), "center": jnp.zeros((1, self.options.num_prototypes))}

  def teacher_temperature(self, step: jax.Array) -> jax.Array:
    o = self.options
    warmup = round(o.teacher_warmup_fraction * self.config.num_train_steps)
    fraction = jnp.minimum(step / warmup, 1.0) if warmup > 0 else 1.0
    return o.warmup_teacher_temperature + fraction * (o.teacher_temperature - o.warmup_teacher_temperature)

  def train_loss(self, model, batch, key, axis_name, extra, step):
    o = self.options
    images = batch["unlabelled"]
    keys = jax.random.split(key, 3)
    global_views = jnp.concatenate([self.views(keys[0], images, axis_name), self.views(keys[1], images, axis_name)])
    features = [model.encoder(global_views, train=True)]
    if o.local_crops:
      local_config = dataclasses.replace(self.view_config, crop_scale=tuple(o.local_scale))
      crops = [augment.views(k, images, local_config, o.local_size, axis_name)
               for k in jax.random.split(keys[2], o.local_crops)]
      features.append(model.encoder(jnp.concatenate(crops), train=True))
    # The encoder runs once per crop size, the head once on every crop (the official MultiCropWrapper), so a
    # BatchNorm'd head takes its statistics over all of them.
    student = model.head(jnp.concatenate(features), train=True)                 # [(2 + L)·n, K], crop-major.
    teacher = self.teacher(model, extra, axis_name)(global_views, train=True)
    temperature = self.teacher_temperature(step)
    loss, center = losses.dino(student, teacher, extra["center"], o.student_temperature, temperature,
                               o.center_momentum, axis_name)
    return loss, {"momentum": self.momentum(step), "teacher_temperature": temperature}, {"center": center}

  def update_extra(self, extra, params, rest, step, terms):
    return {**super().update_extra(extra, params, rest, step, terms), "center": terms["center"]}
