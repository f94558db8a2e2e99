"""Wide-ResNet-28-2 (Zagoruyko & Komodakis 2016) as SESEMI, FixMatch and PAWS use it on CIFAR and SVHN."""
import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import Encoder, batch_norm, conv, global_average_pool

# The FixMatch / PAWS PyTorch WRN: leaky ReLU 0.1 and BatchNorm momentum 0.001 in PyTorch's convention.
SLOPE, MOMENTUM = 0.1, 0.999


class PreActBlock(nnx.Module):
  """a = lrelu(BN(x)); out = conv3×3(lrelu(BN(conv3×3(stride)(a)))) + (x, or conv1×1(stride)(a) when the
  shape changes)."""

  def __init__(self, in_channels: int, out_channels: int, stride: int, *, dtype, axis_name, rngs):
    norm = dict(momentum=MOMENTUM, dtype=dtype, axis_name=axis_name, rngs=rngs)
    self.bn1 = batch_norm(in_channels, **norm)
    self.conv1 = conv(in_channels, out_channels, 3, stride, dtype=dtype, rngs=rngs)
    self.bn2 = batch_norm(out_channels, **norm)
    self.conv2 = conv(out_channels, out_channels, 3, dtype=dtype, rngs=rngs)
    same = stride == 1 and in_channels == out_channels
    self.shortcut = None if same else conv(in_channels, out_channels, 1, stride, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    a = nnx.leaky_relu(self.bn1(x, use_running_average=not train), SLOPE)
    y = self.conv1(a)
    y = self.conv2(nnx.leaky_relu(self.bn2(y, use_running_average=not train), SLOPE))
    return y + (x if self.shortcut is None else self.shortcut(a))


class WideResNet(Encoder):
  """images [B, H, W, C] -> conv3×3(16) -> 3 groups of (depth − 4) / 6 pre-activation blocks of widths
  16k, 32k, 64k (stride 1, 2, 2) -> BN, leaky ReLU -> global average pool -> float32 [B, 64k].

  WRN-28-2 has 1,466,320 parameters (the FixMatch count of 1,467,610 includes its 10-class Dense, 128·10 + 10).
  """

  def __init__(self, depth: int = 28, widen: int = 2, in_channels: int = 3, *, dtype=jnp.float32,
               axis_name: str | None = None, rngs: nnx.Rngs):
    if (depth - 4) % 6:
      raise ValueError(f"a Wide-ResNet's depth must be 6n + 4, got {depth}.")
    n = (depth - 4) // 6
    self.stem = conv(in_channels, 16, 3, dtype=dtype, rngs=rngs)
    blocks, channels = [], 16
    for i, width in enumerate((16 * widen, 32 * widen, 64 * widen)):
      for j in range(n):
        stride = 2 if i > 0 and j == 0 else 1
        blocks.append(PreActBlock(channels, width, stride, dtype=dtype, axis_name=axis_name, rngs=rngs))
        channels = width
    self.blocks = nnx.List(blocks)
    self.bn = batch_norm(channels, momentum=MOMENTUM, dtype=dtype, axis_name=axis_name, rngs=rngs)
    self.features = channels

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    x = self.stem(images)
    for block in self.blocks:
      x = block(x, train)
    return global_average_pool(nnx.leaky_relu(self.bn(x, use_running_average=not train), SLOPE))
