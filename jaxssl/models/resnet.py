"""ResNet-18 / ResNet-50 as torchvision lays them out (v1.5: the stride on the 3×3 conv), NHWC, with an
ImageNet stem (7×7/2 conv + 3×3/2 max-pool) or the CIFAR stem (3×3/1 conv, no pool) of SimCLR and the
contrastive-learning literature. The representation is the global-average-pooled final block (512 / 2048)."""
import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import ConvBN, Encoder, global_average_pool, max_pool

STEMS = ("imagenet", "cifar")


def _shortcut(in_channels: int, out_channels: int, stride: int, **kw) -> ConvBN | None:
  """The projection (1×1 conv(stride) + BN) when a block changes shape; None for the identity."""
  return None if stride == 1 and in_channels == out_channels else ConvBN(in_channels, out_channels, 1, stride, **kw)


class BasicBlock(nnx.Module):
  """relu(conv3×3(stride)-BN-ReLU-conv3×3-BN + shortcut(x)). kw: dtype, axis_name, rngs (see ConvBN)."""
  expansion = 1

  def __init__(self, in_channels: int, width: int, stride: int, zero_init_residual: bool, **kw):
    self.a = ConvBN(in_channels, width, 3, stride, **kw)
    self.b = ConvBN(width, width, 3, zero_init=zero_init_residual, **kw)
    self.shortcut = _shortcut(in_channels, width, stride, **kw)

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    y = self.b(nnx.relu(self.a(x, train)), train)
    return nnx.relu(y + (x if self.shortcut is None else self.shortcut(x, train)))


class Bottleneck(nnx.Module):
  """relu(conv1×1-BN-ReLU-conv3×3(stride)-BN-ReLU-conv1×1(4·width)-BN + shortcut(x))."""
  expansion = 4

  def __init__(self, in_channels: int, width: int, stride: int, zero_init_residual: bool, **kw):
    self.a = ConvBN(in_channels, width, 1, **kw)
    self.b = ConvBN(width, width, 3, stride, **kw)
    self.c = ConvBN(width, width * 4, 1, zero_init=zero_init_residual, **kw)
    self.shortcut = _shortcut(in_channels, width * 4, stride, **kw)

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    y = self.c(nnx.relu(self.b(nnx.relu(self.a(x, train)), train)), train)
    return nnx.relu(y + (x if self.shortcut is None else self.shortcut(x, train)))


class ResNet(Encoder):
  """images [B, H, W, C] -> stem -> 4 stages of `blocks` (widths w, 2w, 4w, 8w; stride 2 from stage 2) ->
  global average pool -> float32 [B, 8w · expansion].

  stem: "imagenet" (7×7/2 conv, 3×3/2 max-pool: ÷4) or "cifar" (3×3/1 conv, no pool).
  zero_init_residual: γ = 0 in each residual branch's last BatchNorm.
  dtype: compute dtype (parameters and BatchNorm statistics stay float32).
  axis_name: the device axis BatchNorm averages its batch statistics over (the train step's "data").
  """

  def __init__(self, block: type, blocks: tuple[int, ...], in_channels: int = 3, *, stem: str = "imagenet",
               width: int = 64, zero_init_residual: bool = False, dtype=jnp.float32,
               axis_name: str | None = None, rngs: nnx.Rngs):
    if stem not in STEMS:
      raise ValueError(f"unknown ResNet stem {stem!r}; config.model.stem must be one of {STEMS} or 'auto'.")
    kw = dict(dtype=dtype, axis_name=axis_name, rngs=rngs)
    self.stem = stem
    self.conv1 = ConvBN(in_channels, width, 7, 2, **kw) if stem == "imagenet" else ConvBN(in_channels, width, 3, **kw)
    stages, channels = [], width
    for i, n in enumerate(blocks):
      for j in range(n):
        stride = 2 if i > 0 and j == 0 else 1
        stages.append(block(channels, width * 2 ** i, stride, zero_init_residual, **kw))
        channels = width * 2 ** i * block.expansion
    self.blocks = nnx.List(stages)
    self.features = channels

  def apply_stem(self, images: jax.Array, train: bool = False) -> jax.Array:
    """[B, S, S, C] -> [B, S/4, S/4, w] (imagenet stem) or [B, S, S, w] (cifar stem)."""
    x = nnx.relu(self.conv1(images, train))
    return max_pool(x, 3, 2, pad=1) if self.stem == "imagenet" else x

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    x = self.apply_stem(images, train)
    for block in self.blocks:
      x = block(x, train)
    return global_average_pool(x)


def resnet18(in_channels: int = 3, **kw) -> ResNet:
  """ResNet-18 (BasicBlock × [2, 2, 2, 2]): 512 features; 11,176,512 parameters with the ImageNet stem."""
  return ResNet(BasicBlock, (2, 2, 2, 2), in_channels, **kw)


def resnet50(in_channels: int = 3, **kw) -> ResNet:
  """ResNet-50 (Bottleneck × [3, 4, 6, 3]): 2048 features; 23,508,032 parameters with the ImageNet stem."""
  return ResNet(Bottleneck, (3, 4, 6, 3), in_channels, **kw)
