"""MoCo v3: queries from the base network, keys from its EMA (momentum) network, contrasted over the global
batch."""
import ml_collections

from jaxssl import losses
from jaxssl.methods.byol import BYOL


class MoCoV3(BYOL):
  """Two views of each unlabelled image; queries q = predictor(projector(encoder(view))) of the base network,
  keys k = projector(encoder(view)) of the momentum network; loss = `losses.moco_v3(q1, q2, k1, k2, T)` with
  keys gathered from every device (Chen, Xie & He 2021). The official ResNet recipe: a 3-layer projector
  and 2-layer predictor with BatchNorm (`projector_dims` (4096, 4096, 256), `predictor_dims` (4096, 256)),
  T = 0.2 (the official ViT runs and solo-learn's CIFAR recipe; the official ResNet-50 run uses 1.0),
  momentum 0.99 -> 1 on a cosine. Evaluation reads the base encoder, as the official linear probe does
  (`evaluate="teacher"`: the momentum encoder). Networks and views are BYOL's; the loss is contrastive."""
  streams = ("unlabelled",)

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"projector_dims": (4096, 4096, 256), "predictor_dims": (4096, 256),
                                      "temperature": 0.2, "base_momentum": 0.99, "evaluate": "student"})

  def train_loss(self, model, batch, key, axis_name, extra, step):
    q1, q2, k1, k2 = self.predictions_and_targets(model, batch, key, axis_name, extra)
    loss = losses.moco_v3(q1, q2, k1, k2, self.options.temperature, axis_name)
    return loss, {"momentum": self.momentum(step)}, {}
