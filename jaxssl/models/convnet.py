"""The small ConvNet encoder of the Keras semi-supervised STL-10 baselines."""
import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models import conv as conv_ops
from jaxssl.models.layers import DENSE_INIT, Encoder

FEATURE_LAYERS = ("conv1", "conv2", "conv3", "conv4", "fc")


def valid_conv_size(size: int, kernel: int = 3, stride: int = 2) -> int:
  """Spatial size after a VALID convolution."""
  return (size - kernel) // stride + 1


class ConvNet(Encoder):
  """4 × (Conv width, 3×3, stride 2, VALID, ReLU) -> flatten -> Dense(features) [-> ReLU].

  images float [B, S, S, C] in [0, 1] -> features [B, features].
  At S=96 the maps are 96→47→23→11→5 pixels wide; at S=32: 32→15→7→3→1.
  No normalisation layers, as in the seeds (`final_relu=True` is the Keras SimCLR example's variant).
  `representation` (what evaluation reads) is the flattened output of `feature_layer`: "conv1".."conv4"
  (after ReLU; at S=32 [B, 15·15·width], [B, 7·7·width], [B, 3·3·width], [B, width]) or "fc" (the features
  methods train on), as RotNet reads a block below the one its pretext task specialises.
  `dtype`: compute dtype (parameters stay float32); the features are float32.
  """

  def __init__(self, in_channels: int, image_size: int, width: int = 128, features: int = 128,
               final_relu: bool = False, *, feature_layer: str = "fc", dtype=jnp.float32, rngs: nnx.Rngs):
    if feature_layer not in FEATURE_LAYERS:
      raise ValueError(f"unknown convnet feature_layer {feature_layer!r}; config.model.feature_layer must be "
                       f"one of {FEATURE_LAYERS}.")
    sizes = [image_size]
    for _ in range(4):
      sizes.append(valid_conv_size(sizes[-1]))
    if sizes[-1] < 1:
      raise ValueError(f"convnet needs images of at least 31×31 pixels, got {image_size}; raise "
                       "config.data.image_size.")
    channels = [in_channels] + [width] * 4
    self.convs = nnx.List([nnx.Conv(c_in, c_out, (3, 3), strides=2, padding="VALID", kernel_init=DENSE_INIT,
                                    dtype=dtype, conv_general_dilated=conv_ops.conv_general_dilated, rngs=rngs)
                           for c_in, c_out in zip(channels[:-1], channels[1:])])
    self.dense = nnx.Linear(sizes[-1] ** 2 * width, features, kernel_init=DENSE_INIT, dtype=dtype, rngs=rngs)
    self.final_relu = final_relu
    self.features = features
    self.feature_layer = feature_layer

  def _forward(self, images: jax.Array, stop_at: str = "fc") -> jax.Array:
    x = images
    for name, conv in zip(FEATURE_LAYERS, self.convs):
      x = nnx.relu(conv(x))
      if name == stop_at:
        return x.reshape(x.shape[0], -1).astype(jnp.float32)
    x = self.dense(x.reshape(x.shape[0], -1)).astype(jnp.float32)
    return nnx.relu(x) if self.final_relu else x

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    del train  # No dropout or normalisation: train and eval modes agree.
    return self._forward(images)

  def representation(self, images: jax.Array) -> jax.Array:
    return self._forward(images, stop_at=self.feature_layer)
