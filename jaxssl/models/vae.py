"""VAE parts: a Gaussian encoder on any backbone and a convolutional decoder back to the image."""
import jax
from flax import nnx

from jaxssl.models.layers import DENSE_INIT, Encoder


class GaussianEncoder(Encoder):
  """backbone -> (mean, log-variance) of q(z|x), each [B, latent_dim]. Calling it returns the mean: the
  representation that kNN, the probe and fine-tuning use."""

  def __init__(self, backbone: nnx.Module, latent_dim: int, *, rngs: nnx.Rngs):
    self.backbone = backbone
    self.mean = nnx.Linear(backbone.features, latent_dim, kernel_init=DENSE_INIT, rngs=rngs)
    self.log_var = nnx.Linear(backbone.features, latent_dim, kernel_init=DENSE_INIT, rngs=rngs)
    self.features = latent_dim

  def posterior(self, images: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    h = self.backbone(images, train=train)
    return self.mean(h), self.log_var(h)

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    return self.posterior(images, train)[0]


class ConvDecoder(nnx.Module):
  """z [B, Z] -> Dense to (S/2^k)² × widths[0] -> k = len(widths) − 1 × (ConvTranspose 4×4 stride 2, ReLU:
  widths[i] → widths[i+1]) -> Conv 3×3 to C: [B, S, S, C] (logits or mean image, as the likelihood reads it).
  S must be a multiple of 2^k."""

  def __init__(self, latent_dim: int, image_size: int, channels: int,
               widths: tuple[int, ...] = (256, 128, 64, 32, 32), *, rngs: nnx.Rngs):
    factor = 2 ** (len(widths) - 1)
    if image_size % factor:
      raise ValueError(f"the VAE decoder upsamples {factor}×: config.data.image_size ({image_size}) must be a "
                       f"multiple of {factor}.")
    self.start, self.width = image_size // factor, widths[0]
    self.dense = nnx.Linear(latent_dim, self.start ** 2 * widths[0], kernel_init=DENSE_INIT, rngs=rngs)
    self.ups = nnx.List([nnx.ConvTranspose(a, b, (4, 4), strides=2, padding="SAME", kernel_init=DENSE_INIT,
                                              rngs=rngs)
                         for a, b in zip(widths[:-1], widths[1:])])
    self.out = nnx.Conv(widths[-1], channels, (3, 3), padding="SAME", kernel_init=DENSE_INIT, rngs=rngs)

  def __call__(self, z: jax.Array) -> jax.Array:
    x = nnx.relu(self.dense(z)).reshape(z.shape[0], self.start, self.start, self.width)
    for up in self.ups:
      x = nnx.relu(up(x))
    return self.out(x)


class VAE(nnx.Module):
  """`encoder`: GaussianEncoder (the representation); `decoder`: ConvDecoder."""

  def __init__(self, encoder: GaussianEncoder, decoder: ConvDecoder):
    self.encoder = encoder
    self.decoder = decoder
