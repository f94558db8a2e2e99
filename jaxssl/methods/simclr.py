"""SimCLR: two augmented views of each unlabelled image, pulled together by NT-Xent through a projector."""
import jax
import ml_collections

from jaxssl import losses, models
from jaxssl.methods.base import Method


class SimCLR(Method):
  """Encoder + MLP projector; loss = nt_xent(projector(encoder(view1)), projector(encoder(view2))) with
  negatives from the whole global batch. Main stream: `config.batch_size` unlabelled images per step.
  `symmetric=False` uses the one-directional `losses.info_nce` instead (view 1 against the view-2 embeddings
  only: the InfoNCE of the Keras semi-supervised baselines)."""
  streams = ("unlabelled",)

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"temperature": 0.1, "projector_dims": (128, 128),
                                      "projector_batch_norm": False, "symmetric": True})

  def build(self, image_shape, num_classes, rngs):
    del num_classes  # Self-supervised: labels are only used by evaluation.
    encoder = self.build_encoder(image_shape, rngs)
    o = self.options
    return models.EncoderAndHead(encoder, self.head(encoder.features, o.projector_dims, rngs, o.projector_batch_norm))

  def loss(self, model, batch, key, axis_name=None):
    images = batch["unlabelled"]
    key1, key2 = jax.random.split(key)
    z1 = model(self.views(key1, images, axis_name), train=True)
    z2 = model(self.views(key2, images, axis_name), train=True)
    contrastive = losses.nt_xent if self.options.symmetric else losses.info_nce
    return contrastive(z1, z2, self.options.temperature, axis_name), {}
