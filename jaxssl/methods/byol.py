"""BYOL: an online network predicts an EMA target network's projection of the other view (no negatives)."""
import jax
import ml_collections
from flax import nnx

from jaxssl import losses
from jaxssl.methods.teacher import TeacherMethod


class Predicting(nnx.Module):
  """encoder -> projector (`head`) -> predictor. Calling it gives the projection z; `predictor(z)` is p. The
  target network is the EMA of this whole module (its predictor is unused)."""

  def __init__(self, encoder: nnx.Module, head: nnx.Module, predictor: nnx.Module):
    self.encoder, self.head, self.predictor = encoder, head, predictor

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    return self.head(self.encoder(images, train=train), train=train)


class BYOL(TeacherMethod):
  """Two views of each unlabelled image; loss = `losses.byol(p1, p2, z1', z2')` with p the online predictions
  and z' the target's projections (Grill et al. 2020). Projector and predictor: Linear -> BatchNorm -> ReLU
  -> Linear (`projector_dims`, `predictor_dims` = (hidden, out)). Evaluation reads the online encoder, as the
  paper keeps it (`evaluate="teacher"`: the target's)."""
  streams = ("unlabelled",)

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"projector_dims": (4096, 256), "predictor_dims": (4096, 256),
                                      "base_momentum": 0.996, "evaluate": "student"})

  def build(self, image_shape, num_classes, rngs):
    del num_classes
    encoder = self.build_encoder(image_shape, rngs)
    o = self.options
    projector = self.head(encoder.features, o.projector_dims, rngs, batch_norm=True)
    return Predicting(encoder, projector, self.head(o.projector_dims[-1], o.predictor_dims, rngs, batch_norm=True))

  def predictions_and_targets(self, model, batch, key, axis_name, extra):
    """(p1, p2, z1, z2): the online predictions and the teacher's projections of two views, each [n, D]."""
    key1, key2 = jax.random.split(key)
    view1 = self.views(key1, batch["unlabelled"], axis_name)
    view2 = self.views(key2, batch["unlabelled"], axis_name)
    p1, p2 = (model.predictor(model(v, train=True), train=True) for v in (view1, view2))
    target = self.teacher(model, extra, axis_name)
    return p1, p2, target(view1, train=True), target(view2, train=True)

  def train_loss(self, model, batch, key, axis_name, extra, step):
    loss = losses.byol(*self.predictions_and_targets(model, batch, key, axis_name, extra))
    return loss, {"momentum": self.momentum(step)}, {}
