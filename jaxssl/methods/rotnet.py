"""RotNet: predict which of 4 rotations was applied to each unlabelled image."""
import jax.numpy as jnp
import ml_collections

from jaxssl import augment, losses, models
from jaxssl.methods.base import Method


class RotNet(Method):
  """Every unlabelled image (one augmented view) in all 4 rotations; 4-way cross-entropy of a rotation head
  (MLP with `head_dims` hidden layers, then 4 logits) on the encoder's features."""
  streams = ("unlabelled",)

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"head_dims": ()})

  def build(self, image_shape, num_classes, rngs):
    encoder = self.build_encoder(image_shape, rngs)
    return models.EncoderAndHead(encoder, self.head(encoder.features, (*self.options.head_dims, 4), rngs))

  def loss(self, model, batch, key, axis_name=None):
    images, labels = augment.proxy_views(self.views(key, batch["unlabelled"], axis_name), 4)
    logits = model(images, train=True)
    return losses.cross_entropy(logits, labels), {"rotation_accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}
