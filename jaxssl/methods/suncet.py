"""SuNCEt / SupCon: InfoNCE on unlabelled views plus a supervised contrastive term on the labelled views."""
import jax
import jax.numpy as jnp
import ml_collections

from jaxssl import losses, models
from jaxssl.methods.base import Method


class SuNCEt(Method):
  """loss = nt_xent(two views of the unlabelled batch) + supervised_weight · supcon(two views of the
  class-stratified labelled batch, form `suncet` or `supcon`); both with negatives from every device.
  Defaults follow the SuNCEt/Keras seed: T=0.1, weight 1, no projector (loss on the encoder's features)."""
  streams = ("unlabelled", "labelled")
  stratified_labels = True

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"temperature": 0.1, "supervised_weight": 1.0, "form": "suncet",
                                      "projector_dims": ()})

  def build(self, image_shape, num_classes, rngs):
    encoder = self.build_encoder(image_shape, rngs)
    return models.EncoderAndHead(encoder, self.head(encoder.features, self.options.projector_dims, rngs))

  def loss(self, model, batch, key, axis_name=None):
    k = jax.random.split(key, 4)
    unlabelled, labelled = batch["unlabelled"], batch["labelled"]
    images = jnp.concatenate([self.views(k[0], unlabelled, axis_name),
                              self.views(k[1], unlabelled, axis_name),
                              self.views(k[2], labelled, axis_name),
                              self.views(k[3], labelled, axis_name)])
    z1, z2, s1, s2 = jnp.split(model(images, train=True), [len(unlabelled), 2 * len(unlabelled),
                                                           2 * len(unlabelled) + len(labelled)])
    unsupervised = losses.nt_xent(z1, z2, self.options.temperature, axis_name)
    supervised = losses.supcon(jnp.concatenate([s1, s2]), jnp.concatenate([batch["label"]] * 2),
                               self.options.temperature, axis_name, self.options.form)
    return unsupervised + self.options.supervised_weight * supervised, {"nt_xent": unsupervised, "supcon": supervised}
