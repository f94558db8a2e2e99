"""VAE (negative ELBO) and Siamese VAE (plus a triplet loss on the latent means of two views)."""
import jax
import jax.numpy as jnp
import ml_collections

from jaxssl import augment, losses, models
from jaxssl.methods.base import Method


class VAE(Method):
  """Encoder (config.model) -> Gaussian posterior (latent_dim) -> reparameterised sample -> ConvDecoder;
  loss = reconstruction + beta · KL (`losses.elbo`). The posterior mean is the representation."""
  streams = ("unlabelled",)

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"latent_dim": 64, "beta": 1.0, "likelihood": "bernoulli",
                                      "decoder_channels": (128, 64, 32, 16, 16)})

  def build(self, image_shape, num_classes, rngs):
    encoder = models.GaussianEncoder(self.build_encoder(image_shape, rngs), self.options.latent_dim, rngs=rngs)
    decoder = models.ConvDecoder(self.options.latent_dim, image_shape[0], image_shape[-1],
                                 tuple(self.options.decoder_channels), rngs=rngs)
    return models.VAE(encoder, decoder)

  def noise(self, key, n: int, axis_name) -> jax.Array:
    """Standard-normal noise [n, latent_dim], keyed by each image's index in the global batch."""
    keys = augment.example_keys(key, n, axis_name)
    return jax.vmap(lambda k: jax.random.normal(k, (self.options.latent_dim,)))(keys)

  def elbo(self, model, images, noise):
    """(negative ELBO, metrics, posterior mean) of float images [b, H, W, C] with reparameterisation noise [b, Z]."""
    mean, log_var = model.encoder.posterior(images, train=True)
    decoded = model.decoder(mean + jnp.exp(0.5 * log_var) * noise)
    reconstruction, kl = losses.elbo_terms(images, decoded, mean, log_var, self.options.likelihood)
    return reconstruction + self.options.beta * kl, {"reconstruction": reconstruction, "kl": kl}, mean

  def loss(self, model, batch, key, axis_name=None):
    k_view, k_noise = jax.random.split(key)
    images = self.views(k_view, batch["unlabelled"], axis_name)
    loss, metrics, _ = self.elbo(model, images, self.noise(k_noise, len(images), axis_name))
    return loss, metrics


class SiameseVAE(VAE):
  """VAE on two views of each image (ELBO averaged over both) + triplet_weight · triplet(mean(view 1),
  mean(view 2), margin), the negative being another image's view 2 (`losses.triplet`). Seed D: weight 5,
  margin 0.5."""

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    config = VAE.default_config()
    config.update({"triplet_weight": 5.0, "margin": 0.5})
    return config

  def loss(self, model, batch, key, axis_name=None):
    k = jax.random.split(key, 4)
    n = len(batch["unlabelled"])
    images = jnp.concatenate([self.views(k[0], batch["unlabelled"], axis_name),
                              self.views(k[1], batch["unlabelled"], axis_name)])
    noise = jnp.concatenate([self.noise(k[2], n, axis_name), self.noise(k[3], n, axis_name)])
    elbo, metrics, mean = self.elbo(model, images, noise)  # One pass over both views: the ELBO is their mean.
    triplet = losses.triplet(mean[:n], mean[n:], self.options.margin, axis_name)
    return elbo + self.options.triplet_weight * triplet, {**metrics, "triplet": triplet}
