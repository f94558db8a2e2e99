"""Barlow Twins: two views through a projector, the cross-correlation of their batch-normalised embeddings over
the global batch driven to the identity (no negatives, no teacher)."""
import ml_collections

from jaxssl import losses
from jaxssl.methods.vicreg import TwoViewExpander


class BarlowTwins(TwoViewExpander):
  """`losses.barlow_twins` (Zbontar et al. 2021) × `scale_loss`: λ = 0.0051; the official projector is 3 × 8192
  on ResNet-50 (solo-learn's CIFAR recipe: 3 × 2048, loss scaled by 0.1)."""

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"projector_dims": (2048, 2048, 2048), "lambd": 0.0051, "scale_loss": 1.0})

  def _objective(self, z1, z2, axis_name):
    return self.options.scale_loss * losses.barlow_twins(z1, z2, self.options.lambd, axis_name)
