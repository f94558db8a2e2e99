"""PAWS: predict view-swapped, sharpened soft-nearest-neighbour pseudo-labels from a labelled support set."""
import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxssl import augment, losses
from jaxssl.methods.base import Method


class PAWSModel(nnx.Module):
  """encoder -> projector (`head`) -> predictor: calling it gives the projector's output h; the anchors of the
  loss are predictor(h) (the identity with no predictor_dims). `num_classes`: the support labels' classes."""

  def __init__(self, encoder: nnx.Module, head: nnx.Module, predictor: nnx.Module, num_classes: int):
    self.encoder, self.head, self.predictor = encoder, head, predictor
    self.num_classes = num_classes

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    return self.head(self.encoder(images, train=train), train=train)


class PAWS(Method):
  """Two strong views of each unlabelled image and one view of each image of the class-stratified labelled
  support batch go through encoder (+ optional projector); `losses.paws` turns them into the loss. Optional
  multi-crop: `multicrop` small views of `multicrop_size` px (the encoder must accept that size).
  `projector_dims` (+ `projector_batch_norm`) and `predictor_dims` give the paper's heads: with a predictor,
  the anchors are predictor(h) and the pseudo-labels come from h (stop-gradient); the Keras seed has neither."""
  streams = ("unlabelled", "labelled")
  stratified_labels = True

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({
        "tau": 0.1, "sharpen_temperature": 0.25, "label_smoothing": 0.1, "me_max": True, "projector_dims": (),
        "projector_batch_norm": False, "predictor_dims": (),
        "multicrop": 0, "multicrop_size": 18, "multicrop_scale": (0.05, 0.3)})

  def build(self, image_shape, num_classes, rngs):
    encoder = self.build_encoder(image_shape, rngs)
    o = self.options
    head = self.head(encoder.features, o.projector_dims, rngs, o.projector_batch_norm)
    out_features = o.projector_dims[-1] if o.projector_dims else encoder.features
    model = PAWSModel(encoder, head, self.head(out_features, o.predictor_dims, rngs, o.projector_batch_norm),
                      num_classes)
    if self.options.multicrop:
      self.check_takes_size(model, self.options.multicrop_size, image_shape[-1], "paws.multicrop")
    return model

  def loss(self, model, batch, key, axis_name=None):
    k = jax.random.split(key, 4)
    unlabelled, labelled = batch["unlabelled"], batch["labelled"]
    n = len(unlabelled)
    images = jnp.concatenate([self.views(k[0], unlabelled, axis_name),
                              self.views(k[1], unlabelled, axis_name),
                              self.views(k[2], labelled, axis_name)])
    o = self.options
    h = model(images, train=True)
    z = model.predictor(h, train=True)
    small = None
    if o.multicrop:
      small_config = dataclasses.replace(self.view_config, crop_scale=tuple(o.multicrop_scale))
      crops = [augment.views(kc, unlabelled, small_config, o.multicrop_size, axis_name)
               for kc in jax.random.split(k[3], o.multicrop)]
      small = model.predictor(model(jnp.concatenate(crops), train=True), train=True)
    targets = (h[:n], h[n:2 * n], h[2 * n:]) if o.predictor_dims else None
    ce, me_max = losses.paws_terms((z[:n], z[n:2 * n]), z[2 * n:], batch["label"], model.num_classes, o.tau,
                                   o.sharpen_temperature, o.label_smoothing, o.me_max, small, targets, axis_name)
    return ce + me_max, {"paws_ce": ce, "paws_me_max": me_max}
