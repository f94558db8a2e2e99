"""A faster 2-D convolution for XLA:CPU, a drop-in `conv_general_dilated` for `nnx.Conv`.

XLA:CPU runs the filter gradient of a convolution far below the FLOP rate it reaches on a matmul, and strided
convolutions below it in both directions (the "tuning" rows of `experiments/benchmark.py` time a training step
with XLA's convolution against this one). On the CPU this module computes, for a 2-D NHWC/HWIO convolution
without dilation or groups:
- the filter gradient as gradᵀ [O, N·Ho·Wo] @ (the inputs each kernel tap meets): with stride 1 one GEMM per
  tap (2.8× faster than XLA's on a 16×16×128 ResNet layer), strided one GEMM over the image patches;
- a strided convolution's forward pass as one matmul over image patches (im2col): patches [N, Ho, Wo,
  kh·kw·C] @ kernel [kh·kw·C, O];
- a strided convolution's input gradient as s_h·s_w stride-1 convolutions of the output gradient, one per
  phase of the input grid (sub-pixel decomposition), where XLA runs one input-dilated convolution;
- the stride-1 input gradient and forward pass with XLA's own convolutions (YNNPACK runs those well).
Other platforms, and the cases it does not cover, use `lax.conv_general_dilated` unchanged: traced on a
GPU/TPU host (or with JAXSSL_CPU_TRICKS=0, see `jaxssl.cpu_tricks`) this module adds nothing to the program,
and traced on a CPU host it sits behind `lax.platform_dependent`, so a program lowered there for "cuda" or
"tpu" holds XLA's convolution only. Same parameters and results (to float rounding) either way.
"""
import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxssl import cpu_tricks

NHWC = ("NHWC", "HWIO", "NHWC")


def _patches(x: jax.Array, kernel: tuple[int, int], strides: tuple[int, int]) -> jax.Array:
  """x [N, H, W, C] (already padded) -> [N, Ho, Wo, kh·kw·C], tap-major (the HWIO kernel's row order).

  One gather over the flattened H·W axis with static indices, a single pass at memory speed (1.6× faster
  than stacking kh·kw strided slices, which XLA:CPU copies twice)."""
  n, h, w, c = x.shape
  (kh, kw), (sh, sw) = kernel, strides
  ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
  rows = sh * np.arange(ho)[:, None, None, None] + np.arange(kh)[None, None, :, None]
  cols = sw * np.arange(wo)[None, :, None, None] + np.arange(kw)[None, None, None, :]
  flat = (rows * w + cols).reshape(-1)  # [Ho·Wo·kh·kw] positions in the flattened image.
  return x.reshape(n, h * w, c).at[:, flat].get(mode="promise_in_bounds").reshape(n, ho, wo, kh * kw * c)


def _kernel_grad(x: jax.Array, grad: jax.Array, kernel_shape: tuple[int, ...], strides: tuple[int, int],
                 precision) -> jax.Array:
  """The filter gradient [kh, kw, C, O] (float32) of a convolution of the padded input x [N, H, W, C] whose
  output gradient is grad [N, Ho, Wo, O], as gradᵀ [O, M] @ inputs [M, ·] (M = N·Ho·Wo; both operands in the
  layout a GEMM reads, so XLA transposes neither): with stride 1, one GEMM per kernel tap over the shifted
  input; strided, one GEMM over the patches (the strided slices measured slower there)."""
  kh, kw, c, o = kernel_shape
  n, ho, wo, _ = grad.shape
  rows = n * ho * wo
  grad_t = grad.reshape(rows, o).T.astype(x.dtype)
  gemm = functools.partial(jnp.dot, precision=precision, preferred_element_type=jnp.float32)
  if max(strides) > 1:
    return gemm(grad_t, _patches(x, (kh, kw), strides).reshape(rows, -1)).T.reshape(kernel_shape)
  taps = [x[:, a:a + ho, b:b + wo].reshape(rows, c) for a in range(kh) for b in range(kw)]
  return jnp.stack([gemm(grad_t, tap).T for tap in taps]).reshape(kernel_shape)


def _strided_input_grad(grad: jax.Array, kernel: jax.Array, x_shape: tuple[int, ...], strides: tuple[int, int],
                        padding: Sequence[tuple[int, int]], precision) -> jax.Array:
  """The input gradient [N, H, W, C] of a strided convolution of x [N, H, W, C] (x_shape) with kernel
  [kh, kw, C, O], from its output gradient grad [N, Ho, Wo, O].

  Padded input row s·u + p meets kernel rows p, p + s, ... at output rows u, u - 1, ...: each phase (p, q) of
  the padded input grid is a stride-1 "full" convolution of grad with the kernel's taps [p::s_h, q::s_w],
  flipped. The s_h·s_w phases are interleaved back into one grid, then the padding is cut off. Same
  arithmetic as XLA's input-dilated convolution, which skips no zeros on the CPU (1.2–1.3× slower)."""
  n, h, w, c = x_shape
  (sh, sw), ((top, bottom), (left, right)) = strides, padding
  rows, cols = -(-(h + top + bottom) // sh), -(-(w + left + right) // sw)  # Phase grid [rows, cols].
  phases = []
  for p in range(sh):
    for q in range(sw):
      taps = jnp.flip(kernel[p::sh, q::sw], (0, 1)).swapaxes(2, 3)  # [T, R, O, C]
      t, r = taps.shape[:2]
      if not (t and r):  # No kernel tap lands on this phase (kernel smaller than the stride).
        phases.append(jnp.zeros((n, rows, cols, c), grad.dtype))
        continue
      phase = lax.conv_general_dilated(grad, taps, (1, 1), ((t - 1, t - 1), (r - 1, r - 1)),
                                       dimension_numbers=NHWC, precision=precision)[:, :rows, :cols]
      phases.append(jnp.pad(phase, ((0, 0), (0, rows - phase.shape[1]), (0, cols - phase.shape[2]), (0, 0))))
  grid = jnp.stack(phases, 3).reshape(n, rows, cols, sh, sw, c).transpose(0, 1, 3, 2, 4, 5)
  return grid.reshape(n, rows * sh, cols * sw, c)[:, top:top + h, left:left + w]


def _cpu_conv(strides: tuple[int, int], padding: Sequence[tuple[int, int]], precision, out_dtype,
              reference: Callable):
  """(x [N, H, W, C], kernel [kh, kw, C, O]) -> [N, Ho, Wo, O], computed as the module docstring describes;
  `reference` is the same convolution by XLA, which gives the stride-1 forward pass and input gradient."""

  def pad(x):
    return jnp.pad(x, ((0, 0), *padding, (0, 0))) if any(p for pair in padding for p in pair) else x

  def forward(x, kernel):
    if max(strides) == 1:
      return reference(x, kernel)
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
    if max(strides) > 1:
      dx = _strided_input_grad(grad, kernel, x.shape, strides, padding, precision).astype(x.dtype)
    else:
      dx = jax.vjp(lambda x: reference(x, kernel), x)[1](grad)[0]
    dk = _kernel_grad(pad(x), grad, kernel.shape, strides, precision)
    return dx, dk.astype(kernel.dtype)

  conv.defvjp(conv_fwd, conv_bwd)
  return conv


def _varying_axes(x: jax.Array) -> frozenset:
  """The shard_map axes along which x varies (empty outside shard_map)."""
  return jax.typeof(x).manual_axis_type.varying


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                         preferred_element_type=None, **kwargs):
  """`lax.conv_general_dilated`, computed as the module docstring describes on the CPU for 2-D NHWC/HWIO
  convolutions without dilation or groups; pass it to `nnx.Conv(conv_general_dilated=...)`."""
  def reference(lhs, rhs):
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                    dimension_numbers, feature_group_count, batch_group_count, precision,
                                    preferred_element_type, **kwargs)

  if kwargs.get("out_sharding") is None:  # nnx.Conv passes out_sharding=None.
    kwargs.pop("out_sharding", None)
  dims = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
  covered = (lhs.ndim == 4 and dims == lax.conv_dimension_numbers(lhs.shape, rhs.shape, NHWC)
             and all(d == 1 for d in (lhs_dilation or (1, 1)) + (rhs_dilation or (1, 1)))
             and feature_group_count == 1 and batch_group_count == 1 and not kwargs)
  if not (covered and cpu_tricks.active()):  # Off the CPU backend (or JAXSSL_CPU_TRICKS=0): XLA's own.
    return reference(lhs, rhs)
  pads = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding) if isinstance(padding, str) \
      else [tuple(p) for p in padding]
  cpu_conv = _cpu_conv(tuple(window_strides), pads, precision, preferred_element_type, reference)
  # Under shard_map the images vary over the batch axis and the kernel does not: give the kernel the images'
  # axes here, outside the custom VJP, so that JAX sums its gradient over them as for any other op.
  if missing := tuple(_varying_axes(lhs) - _varying_axes(rhs)):
    rhs = lax.pcast(rhs, missing, to="varying")
  return lax.platform_dependent(lhs, rhs, cpu=cpu_conv, default=reference)
