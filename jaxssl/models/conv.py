"""A faster 2-D convolution for XLA:CPU, a drop-in `conv_general_dilated` for `nnx.Conv`.

XLA:CPU runs strided convolutions well below its matmul rate, the filter gradient worst of all
(../shared/DESIGN.md). On the CPU this computes a strided convolution as one matmul over image patches
(im2col): the forward pass as patches [N, Ho, Wo, kh·kw·C] @ kernel [kh·kw·C, O], the filter gradient as
patchesᵀ @ output gradient (the patches are rebuilt from the input rather than kept, 2.25× its memory), and
the input gradient with XLA's own transposed convolution (faster there than scattering patch gradients
back). Other platforms, and the cases it does not cover (stride 1, dilation, feature groups, non-NHWC
layouts), use `lax.conv_general_dilated` unchanged: `lax.platform_dependent` picks at lowering time.
Same parameters and results (to float rounding) either way; `experiments/benchmark.py` ("tuning")
measures it.
"""
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

NHWC = ("NHWC", "HWIO", "NHWC")
IM2COL_ON_CPU = True  # Read when a model is traced; False: XLA's convolution everywhere (benchmarks compare both).


def _patches(x: jax.Array, kernel: tuple[int, int], strides: tuple[int, int]) -> jax.Array:
  """x [N, H, W, C] (already padded) -> [N, Ho, Wo, kh·kw·C], tap-major (the HWIO kernel's row order)."""
  n, h, w, c = x.shape
  (kh, kw), (sh, sw) = kernel, strides
  ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
  taps = [x[:, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw] for a in range(kh) for b in range(kw)]
  return jnp.stack(taps, 3).reshape(n, ho, wo, kh * kw * c)


def _im2col_conv(strides: tuple[int, int], padding: Sequence[tuple[int, int]], precision, out_dtype,
                 reference: Callable):
  """(x [N, H, W, C], kernel [kh, kw, C, O]) -> [N, Ho, Wo, O], with the gradients described above;
  `reference` is the same convolution by XLA, whose VJP gives the input gradient."""

  def pad(x):
    return jnp.pad(x, ((0, 0), *padding, (0, 0))) if any(p for pair in padding for p in pair) else x

  def forward(x, kernel):
    matrix = kernel.reshape(-1, kernel.shape[-1])
    return jnp.dot(_patches(pad(x), kernel.shape[:2], strides), matrix, precision=precision,
                   preferred_element_type=out_dtype)

  @jax.custom_vjp
  def conv(x, kernel):
    return forward(x, kernel)

  def conv_fwd(x, kernel):
    return forward(x, kernel), (x, kernel)

  def conv_bwd(residuals, grad):
    x, kernel = residuals
    dx = jax.vjp(lambda x: reference(x, kernel), x)[1](grad)[0]
    patches = _patches(pad(x), kernel.shape[:2], strides)
    dk = jnp.einsum("nhwk,nhwo->ko", patches, grad.astype(patches.dtype), precision=precision,
                    preferred_element_type=jnp.float32)
    return dx, dk.reshape(kernel.shape).astype(kernel.dtype)

  conv.defvjp(conv_fwd, conv_bwd)
  return conv


def _varying_axes(x: jax.Array) -> frozenset:
  """The shard_map axes along which x varies (empty outside shard_map)."""
  return jax.typeof(x).manual_axis_type.varying


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                         preferred_element_type=None, **kwargs):
  """`lax.conv_general_dilated`, computed by im2col on the CPU for strided 2-D NHWC/HWIO convolutions without
  dilation or groups; pass it to `nnx.Conv(conv_general_dilated=...)`. Stride-1 convolutions keep XLA's
  (there the 3×3 patches are 9× the input, and im2col measured 5-15% slower on ResNet-18 / WRN-28-2)."""
  def reference(lhs, rhs):
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                    dimension_numbers, feature_group_count, batch_group_count, precision,
                                    preferred_element_type, **kwargs)

  if kwargs.get("out_sharding") is None:  # nnx.Conv passes out_sharding=None.
    kwargs.pop("out_sharding", None)
  dims = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
  covered = (lhs.ndim == 4 and max(window_strides) > 1
             and dims == lax.conv_dimension_numbers(lhs.shape, rhs.shape, NHWC)
             and all(d == 1 for d in (lhs_dilation or (1, 1)) + (rhs_dilation or (1, 1)))
             and feature_group_count == 1 and batch_group_count == 1 and not kwargs)
  if not (covered and IM2COL_ON_CPU):
    return reference(lhs, rhs)
  pads = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding) if isinstance(padding, str) \
      else [tuple(p) for p in padding]
  im2col = _im2col_conv(tuple(window_strides), pads, precision, preferred_element_type, reference)
  # Under shard_map the images vary over the batch axis and the kernel does not: give the kernel the images'
  # axes here, outside the custom VJP, so that JAX sums its gradient over them as for any other op.
  if missing := tuple(_varying_axes(lhs) - _varying_axes(rhs)):
    rhs = lax.pcast(rhs, missing, to="varying")
  return lax.platform_dependent(lhs, rhs, cpu=im2col, default=reference)
