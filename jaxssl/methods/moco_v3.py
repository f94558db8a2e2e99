"""MoCo v3: queries from the base network, keys from its EMA (momentum) network, contrasted over the global
batch."""
import jax
import ml_collections

from jaxssl import losses
from jaxssl.methods.byol import Predicting
from jaxssl.methods.teacher import TeacherMethod


class MoCoV3(TeacherMethod):
  """Two views of each unlabelled image; queries q = predictor(projector(encoder(view))) of the base network,
  keys k = projector(encoder(view)) of the momentum network; loss = `losses.moco_v3(q1, q2, k1, k2, T)` with
  keys gathered from every device (Chen, Xie & He 2021). The official ResNet recipe: a 3-layer projector
  and 2-layer predictor with BatchNorm (`projector_dims` (4096, 4096, 256), `predictor_dims` (4096, 256)),
  T = 0.2 (the official ViT runs and solo-learn's CIFAR recipe; the official ResNet-50 run uses 1.0),
  momentum 0.99 -> 1 on a cosine. Evaluation reads the base encoder, as the official linear probe does
  (`evaluate="teacher"`: the momentum encoder)."""
  streams = ("unlabelled",)

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"projector_dims": (4096, 4096, 256), "predictor_dims": (4096, 256),
                                      "temperature": 0.2, "base_momentum": 0.99, "evaluate": "student"})

  def build(self, image_shape, num_classes, rngs):
    del num_classes
    encoder = self.build_encoder(image_shape, rngs)
    o = self.options
    projector = self.head(encoder.features, o.projector_dims, rngs, batch_norm=True)
    return Predicting(encoder, projector, self.head(o.projector_dims[-1], o.predictor_dims, rngs, batch_norm=True))

  def train_loss(self, model, batch, key, axis_name, extra, step):
    key1, key2 = jax.random.split(key)
    view1 = self.views(key1, batch["unlabelled"], axis_name)
    view2 = self.views(key2, batch["unlabelled"], axis_name)
    q1, q2 = (model.predictor(model(v, train=True), train=True) for v in (view1, view2))
    momentum_net = self.teacher(model, extra, axis_name)
    k1, k2 = momentum_net(view1, train=True), momentum_net(view2, train=True)
    loss = losses.moco_v3(q1, q2, k1, k2, self.options.temperature, axis_name)
    return loss, {"momentum": self.momentum(step)}, {}
