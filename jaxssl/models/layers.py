"""Pieces every encoder shares: the `Encoder` contract and conv / BatchNorm layers with the field's
initialisation, a compute dtype (fp32 parameters) and BatchNorm statistics over a device axis."""
import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models import conv as conv_ops


def variance_scaling(scale: float, mode: str, distribution: str):
  """`nnx.initializers.variance_scaling(scale, mode, distribution)` bit for bit (fans from the last two axes;
  tested), with its random numbers drawn as one flat vector and reshaped. Threefry numbers the elements in
  row-major order, so the values are the same; but XLA compiles a rank-4 draw several times slower than a
  flat one (CPU, one 3×3×8×8 kernel: 7 s against 0.9 s), once per parameter shape, eagerly or under jit."""
  if mode not in ("fan_in", "fan_out") or distribution not in ("normal", "truncated_normal"):
    raise ValueError(f"variance_scaling: mode {mode!r} / distribution {distribution!r} is not implemented.")

  def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    receptive_field = math.prod(shape[:-2])
    fan = (shape[-2] if mode == "fan_in" else shape[-1]) * receptive_field
    variance = jnp.array(scale / fan, dtype=dtype)
    if distribution == "normal":
      return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape) * jnp.sqrt(variance)
    stddev = jnp.sqrt(variance) / jnp.array(.87962566103423978, dtype)  # Of a standard normal cut at ±2.
    return jax.random.truncated_normal(key, -2, 2, (math.prod(shape),), dtype).reshape(shape) * stddev

  return init


def truncated_normal(stddev: float):
  """`nnx.initializers.truncated_normal(stddev)` bit for bit, drawn flat (see `variance_scaling`)."""
  def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    return jax.random.truncated_normal(key, -2.0, 2.0, (math.prod(shape),), dtype).reshape(shape) * jnp.array(
        stddev, dtype)
  return init


# torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu") for conv kernels.
CONV_INIT = variance_scaling(2.0, "fan_out", "normal")
# Flax's default kernel initialiser (LeCun normal), for every other Dense and conv kernel.
DENSE_INIT = variance_scaling(1.0, "fan_in", "truncated_normal")


class Encoder(nnx.Module):
  """Base of every encoder. `__call__(images float [B, H, W, C] in [0, 1], train) -> [B, self.features]` is
  what methods train their heads on; `representation(images) -> [B, D]` is what kNN, the linear probe,
  fine-tuning and `load_encoder` read: by default the same output in eval mode (BatchNorm running
  averages), always float32."""
  features: int

  def representation(self, images: jax.Array) -> jax.Array:
    return self(images, train=False)


def conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, padding: int | str | None = None,
         *, dtype=jnp.float32, rngs: nnx.Rngs) -> nnx.Conv:
  """A bias-free k×k conv (a BatchNorm follows it) with symmetric padding k // 2 by default, as torchvision
  pads: the output is ceil(S / stride) for odd k. Parameters are fp32; `dtype` is the compute dtype."""
  pad = kernel // 2 if padding is None else padding
  return nnx.Conv(in_channels, out_channels, (kernel, kernel), strides=stride,
                  padding=pad if isinstance(pad, str) else ((pad, pad), (pad, pad)), use_bias=False,
                  kernel_init=CONV_INIT, dtype=dtype, param_dtype=jnp.float32,
                  conv_general_dilated=conv_ops.conv_general_dilated, rngs=rngs)


def batch_norm(features: int, *, momentum: float = 0.9, zero_init: bool = False, dtype=jnp.float32,
               axis_name: str | None = None, rngs: nnx.Rngs) -> nnx.BatchNorm:
  """BatchNorm whose batch statistics are averaged over `axis_name` (the global batch inside the train
  step's shard_map) and kept in float32 whatever the compute `dtype`. `momentum` is Flax's: running =
  momentum · running + (1 − momentum) · batch (torchvision's momentum=0.1 is 0.9 here). `zero_init`: γ = 0,
  so a residual branch starts as the identity (Goyal et al. 2017)."""
  return nnx.BatchNorm(features, momentum=momentum, epsilon=1e-5, dtype=dtype, param_dtype=jnp.float32,
                       axis_name=axis_name,
                       scale_init=nnx.initializers.zeros if zero_init else nnx.initializers.ones, rngs=rngs)


def set_batch_axis(module: nnx.Module, axis_name: str | None) -> nnx.Module:
  """Makes every BatchNorm in `module` average its batch statistics over the mapped axis `axis_name` (the
  global batch under a shard_map / pmap over that axis), or over the local batch only (None). Models are
  built with None, so they run in train mode anywhere; jaxssl's train step sets its "data" axis on its own
  copy. Returns `module`, changed in place."""
  for _, m in nnx.iter_modules(module):
    if isinstance(m, nnx.BatchNorm):
      m.axis_name = axis_name
  return module


class ConvBN(nnx.Module):
  """`conv` then `batch_norm`: x [B, H, W, C_in] -> [B, H', W', C_out]; train=True normalises with (and
  updates the running averages from) the batch statistics, train=False with the running averages."""

  def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1,
               padding: int | str | None = None, *, zero_init: bool = False, momentum: float = 0.9,
               dtype=jnp.float32, axis_name: str | None = None, rngs: nnx.Rngs):
    self.conv = conv(in_channels, out_channels, kernel, stride, padding, dtype=dtype, rngs=rngs)
    self.norm = batch_norm(out_channels, momentum=momentum, zero_init=zero_init, dtype=dtype,
                           axis_name=axis_name, rngs=rngs)

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    return self.norm(self.conv(x), use_running_average=not train)


def max_pool(x: jax.Array, window: int = 3, stride: int = 2, pad: int = 0) -> jax.Array:
  """k×k max-pool with stride and symmetric padding (padded cells never win)."""
  return nnx.max_pool(x, (window, window), strides=(stride, stride), padding=((pad, pad), (pad, pad)))


def global_average_pool(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> float32 [B, C], averaging in float32."""
  return jnp.mean(x.astype(jnp.float32), axis=(1, 2))
