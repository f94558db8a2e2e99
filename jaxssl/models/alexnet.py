"""The AlexNet-BN encoder of RotNet (Gidaris et al. 2018), used by the RotNet-vs-VAE seed."""
import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import DENSE_INIT, ConvBN, Encoder, max_pool

# (name, out channels, kernel, stride, padding, 3×3/2 max-pool after it): torchvision's AlexNet convs.
CONVS = (("conv1", 64, 11, 4, 2, True), ("conv2", 192, 5, 1, 2, True), ("conv3", 384, 3, 1, 1, False),
         ("conv4", 256, 3, 1, 1, False), ("conv5", 256, 3, 1, 1, True))
FEATURE_LAYERS = tuple(name for name, *_ in CONVS) + ("fc",)
MIN_SIZE = 63  # Smallest image for which pool5 is at least 1×1.


def pool5_size(size: int) -> int:
  """Spatial size of pool5's output for S×S images."""
  for _, _, kernel, stride, pad, pool in CONVS:
    size = (size + 2 * pad - kernel) // stride + 1
    size = (size - 3) // 2 + 1 if pool else size
  return size


class AlexNet(Encoder):
  """images [B, S, S, C] -> 5 × conv-BN-ReLU (64 11×11/4, 192 5×5, 384, 256, 256 3×3; 3×3/2 max-pool after
  conv1, conv2, conv5) -> flatten -> 2 × (Dense(fc_dim, no bias)-BN-ReLU) -> [B, fc_dim]: what a method's
  head trains on (RotNet's rotation classifier sits on fc7).

  `representation` (what evaluation reads) is the flattened output of `feature_layer`: "conv1".."conv5"
  (after ReLU, before that layer's pool), as RotNet's and the seed's classifiers on conv blocks, or "fc".
  At S = 96 the conv maps are 23, 11, 5, 5, 5 pixels wide and pool5 is 2×2.
  """

  def __init__(self, in_channels: int = 3, image_size: int = 224, *, feature_layer: str = "fc",
               fc_dim: int = 4096, dtype=jnp.float32, axis_name: str | None = None, rngs: nnx.Rngs):
    if feature_layer not in FEATURE_LAYERS:
      raise ValueError(f"unknown AlexNet feature_layer {feature_layer!r}; config.model.feature_layer must be "
                       f"one of {FEATURE_LAYERS}.")
    if image_size < MIN_SIZE:
      raise ValueError(f"alexnet needs images of at least {MIN_SIZE}×{MIN_SIZE} pixels, got {image_size}; raise "
                       "config.data.image_size or pick another config.model.name.")
    kw = dict(dtype=dtype, axis_name=axis_name, rngs=rngs)
    channels = (in_channels,) + tuple(c for _, c, *_ in CONVS)
    self.convs = nnx.List([ConvBN(c_in, c_out, k, s, pad, **kw)
                           for c_in, (_, c_out, k, s, pad, _) in zip(channels, CONVS)])
    flat = pool5_size(image_size) ** 2 * channels[-1]
    self.fc6 = nnx.Linear(flat, fc_dim, use_bias=False, kernel_init=DENSE_INIT, dtype=dtype, rngs=rngs)
    self.bn6 = nnx.BatchNorm(fc_dim, momentum=0.9, dtype=dtype, axis_name=axis_name, rngs=rngs)
    self.fc7 = nnx.Linear(fc_dim, fc_dim, use_bias=False, kernel_init=DENSE_INIT, dtype=dtype, rngs=rngs)
    self.bn7 = nnx.BatchNorm(fc_dim, momentum=0.9, dtype=dtype, axis_name=axis_name, rngs=rngs)
    self.feature_layer = feature_layer
    self.features = fc_dim

  def _forward(self, images: jax.Array, train: bool, stop_at: str = "fc") -> jax.Array:
    x = images
    for conv, (name, *_, pool) in zip(self.convs, CONVS):
      x = nnx.relu(conv(x, train))
      if name == stop_at:
        return x.reshape(x.shape[0], -1).astype(jnp.float32)
      x = max_pool(x) if pool else x
    x = x.reshape(x.shape[0], -1)
    x = nnx.relu(self.bn6(self.fc6(x), use_running_average=not train))
    x = nnx.relu(self.bn7(self.fc7(x), use_running_average=not train))
    return x.astype(jnp.float32)

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    return self._forward(images, train)

  def representation(self, images: jax.Array) -> jax.Array:
    return self._forward(images, train=False, stop_at=self.feature_layer)
