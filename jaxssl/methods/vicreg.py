"""VICReg: two views through an expander, variance-invariance-covariance over the global batch (no negatives,
no teacher). `TwoViewExpander` is shared with Barlow Twins."""
import jax
import ml_collections

from jaxssl import losses, models
from jaxssl.methods.base import Method


class TwoViewExpander(Method):
  """Encoder + expander MLP (Linear -> BatchNorm -> ReLU per hidden layer, `projector_dims`); the loss of the
  two views' expansions is `_objective`."""
  streams = ("unlabelled",)

  def build(self, image_shape, num_classes, rngs):
    del num_classes
    encoder = self.build_encoder(image_shape, rngs)
    return models.EncoderAndHead(encoder, self.head(encoder.features, self.options.projector_dims, rngs, True))

  def loss(self, model, batch, key, axis_name=None):
    key1, key2 = jax.random.split(key)
    z1 = model(self.views(key1, batch["unlabelled"], axis_name), train=True)
    z2 = model(self.views(key2, batch["unlabelled"], axis_name), train=True)
    return self._objective(z1, z2, axis_name), {}


class VICReg(TwoViewExpander):
  """`losses.vicreg` (Bardes, Ponce & LeCun 2022): invariance 25, variance 25, covariance 1; the official
  expander is 3 × 8192 on ResNet-50 (solo-learn's CIFAR recipe: 3 × 2048)."""

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"projector_dims": (2048, 2048, 2048), "sim_weight": 25.0,
                                      "std_weight": 25.0, "cov_weight": 1.0})

  def _objective(self, z1, z2, axis_name):
    o = self.options
    return losses.vicreg(z1, z2, o.sim_weight, o.std_weight, o.cov_weight, axis_name)
