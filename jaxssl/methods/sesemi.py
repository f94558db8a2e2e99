"""SESEMI: supervised cross-entropy jointly with a 6-way self-supervised proxy task on unlabelled images."""
import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxssl import augment, losses
from jaxssl.methods.base import Method


class TwoHeads(nnx.Module):
  """A shared encoder with a supervised `head` and a `proxy_head`; calling it uses the supervised head."""

  def __init__(self, encoder: nnx.Module, head: nnx.Module, proxy_head: nnx.Module):
    self.encoder, self.head, self.proxy_head = encoder, head, proxy_head

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    return self.head(self.encoder(images, train=train))


class SESEMI(Method):
  """loss = CE(head(view of labelled images), label) + proxy_weight · CE(proxy_head(t_k(x)), k) for every
  unlabelled image x under all 6 transformations t_k (augment.PROXY_TRANSFORMS). The seed makes the
  proxy batch (6 × unlabelled) the same size as the labelled batch. Unlabelled views are not flipped
  before the transformations (a flip is one of the labels)."""
  streams = ("unlabelled", "labelled")
  classifies = True

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"proxy_weight": 1.0})

  def build(self, image_shape, num_classes, rngs):
    encoder = self.build_encoder(image_shape, rngs)
    return TwoHeads(encoder, self.head(encoder.features, (num_classes,), rngs),
                    self.head(encoder.features, (len(augment.PROXY_TRANSFORMS),), rngs))

  def loss(self, model, batch, key, axis_name=None):
    k_l, k_u = jax.random.split(key)
    labelled = self.views(k_l, batch["labelled"], axis_name)
    unflipped = dataclasses.replace(self.view_config, flip=False)
    proxy_images, proxy_labels = augment.proxy_views(
        self.views(k_u, batch["unlabelled"], axis_name, unflipped), len(augment.PROXY_TRANSFORMS))
    features = model.encoder(jnp.concatenate([labelled, proxy_images]), train=True)
    logits, proxy_logits = model.head(features[:len(labelled)]), model.proxy_head(features[len(labelled):])
    supervised = losses.cross_entropy(logits, batch["label"])
    proxy = losses.cross_entropy(proxy_logits, proxy_labels)
    return supervised + self.options.proxy_weight * proxy, {
        "supervised_ce": supervised, "proxy_ce": proxy,
        "train_accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
        "proxy_accuracy": jnp.mean(jnp.argmax(proxy_logits, -1) == proxy_labels)}
