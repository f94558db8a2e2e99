"""Vision Transformer (Dosovitskiy et al. 2021) in timm's layout: patch embedding, a class token, learned
position embeddings, pre-norm blocks (LayerNorm -> multi-head self-attention, LayerNorm -> GELU MLP), a final
LayerNorm; the representation is the class token. ViT-S/16 here has timm's 21,665,664 parameters (without
its classifier; tested)."""
import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import DENSE_INIT, Encoder, truncated_normal

PRESETS = {"vit_tiny": dict(width=192, depth=12, num_heads=3), "vit_small": dict(width=384, depth=12, num_heads=6)}
_INIT = truncated_normal(0.02)


class Block(nnx.Module):
  """x + Attention(LN(x)); x + MLP(LN(x)), on tokens [B, T, width]."""

  def __init__(self, width: int, num_heads: int, mlp_ratio: float, *, dtype, rngs: nnx.Rngs):
    dense = lambda a, b: nnx.Linear(a, b, kernel_init=_INIT, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
    self.norm1 = nnx.LayerNorm(width, epsilon=1e-6, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
    self.qkv, self.proj = dense(width, 3 * width), dense(width, width)
    self.norm2 = nnx.LayerNorm(width, epsilon=1e-6, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
    hidden = int(width * mlp_ratio)
    self.fc1, self.fc2 = dense(width, hidden), dense(hidden, width)
    self.num_heads = num_heads

  def __call__(self, x: jax.Array) -> jax.Array:
    b, t, d = x.shape
    q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.num_heads, d // self.num_heads).transpose(2, 0, 1, 3, 4)
    attended = jax.nn.dot_product_attention(q, k, v)                    # [B, T, heads, d / heads]
    x = x + self.proj(attended.reshape(b, t, d))
    return x + self.fc2(nnx.gelu(self.fc1(self.norm2(x)), approximate=False))


class ViT(Encoder):
  """images float [B, S, S, C] in [0, 1] -> class-token features [B, width].

  `image_size` / `patch_size` patches a side (32 px with patch 4: 8 × 8 = 64 patches + the class token). Images
  of another size (DINO's local crops) get the position embeddings resized bilinearly to their patch grid.
  `dtype`: compute dtype (parameters and the features stay float32)."""

  def __init__(self, in_channels: int, image_size: int, patch_size: int = 4, width: int = 192, depth: int = 12,
               num_heads: int = 3, mlp_ratio: float = 4.0, *, dtype=jnp.float32, rngs: nnx.Rngs):
    if image_size % patch_size or width % num_heads:
      raise ValueError(f"vit: image size {image_size} must be a multiple of config.model.patch_size={patch_size}, "
                       f"and width {width} of num_heads {num_heads}.")
    self.patch_size, self.grid = patch_size, image_size // patch_size
    self.patch_embed = nnx.Conv(in_channels, width, (patch_size, patch_size), strides=patch_size, padding="VALID",
                                kernel_init=DENSE_INIT, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
    self.cls_token = nnx.Param(jnp.zeros((1, 1, width)))
    self.pos_embed = nnx.Param(_INIT(rngs.params(), (1, self.grid ** 2 + 1, width)))
    self.blocks = nnx.List([Block(width, num_heads, mlp_ratio, dtype=dtype, rngs=rngs) for _ in range(depth)])
    self.norm = nnx.LayerNorm(width, epsilon=1e-6, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
    self.features = width

  def _position_embedding(self, grid: int) -> jax.Array:
    pos = self.pos_embed[...]
    if grid == self.grid:
      return pos
    patches = pos[:, 1:].reshape(1, self.grid, self.grid, -1)
    patches = jax.image.resize(patches, (1, grid, grid, patches.shape[-1]), "bilinear")
    return jnp.concatenate([pos[:, :1], patches.reshape(1, grid * grid, -1)], axis=1)

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    del train  # No dropout or BatchNorm: train and eval modes agree.
    x = self.patch_embed(images)                                          # [B, S/p, S/p, width]
    b, grid, _, width = x.shape
    cls = jnp.broadcast_to(self.cls_token[...].astype(x.dtype), (b, 1, width))
    x = jnp.concatenate([cls, x.reshape(b, grid * grid, width)], axis=1) + self._position_embedding(grid).astype(x.dtype)
    for block in self.blocks:
      x = block(x)
    return self.norm(x)[:, 0].astype(jnp.float32)
