"""Supervised cross-entropy on the labelled images: the baseline every method is compared with."""
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxssl import models
from jaxssl.methods.base import Method


class Supervised(Method):
  """Encoder + linear classifier trained with cross-entropy on one augmented view of each labelled image.
  Its main stream is the labelled one: `config.batch_size` labelled images per step."""
  streams = ("labelled",)
  classifies = True

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"label_smoothing": 0.0})

  def batch_sizes(self) -> dict[str, int]:
    return {"labelled": self.config.batch_size}

  def build(self, image_shape, num_classes, rngs):
    encoder = self.build_encoder(image_shape, rngs)
    return models.EncoderAndHead(encoder, self.head(encoder.features, (num_classes,), rngs))

  def loss(self, model, batch, key, axis_name=None):
    logits = model(self.views(key, batch["labelled"], axis_name), train=True)
    targets = optax.smooth_labels(jax.nn.one_hot(batch["label"], logits.shape[-1]), self.options.label_smoothing)
    loss = optax.softmax_cross_entropy(logits, targets).mean()
    return loss, {"train_accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"])}
