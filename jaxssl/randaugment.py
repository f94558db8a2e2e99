"""FixMatch's views, on device: weak = flip + translate; strong = weak, then RandAugment's operations with random
magnitudes, then Cutout (Sohn et al. 2020, its "RA" variant). One image float [H, W, C] in [0, 1] per call;
`weak_views` / `strong_views` map a batch with per-example keys (`augment.example_keys`), so a view does not
depend on how the batch is split over devices."""
import jax
import jax.numpy as jnp
from jax import lax

from jaxssl import augment

GREY = 0.5  # Fill of pixels a geometric operation or Cutout uncovers (FixMatch: 127 / 255).


def flip_translate(key: jax.Array, image: jax.Array, max_fraction: float = 0.125, flip: bool = True) -> jax.Array:
  """A random left-right flip (if `flip`), then a shift of up to `max_fraction` of the side in each direction,
  with reflection at the border (FixMatch's weak augmentation). [H, W, C] -> [H, W, C]."""
  k_flip, k_shift = jax.random.split(key)
  if flip:
    image = jnp.where(jax.random.uniform(k_flip) < 0.5, image[:, ::-1], image)
  h, w, c = image.shape
  pad = round(max_fraction * h)
  if pad == 0:
    return image
  dy, dx = jax.random.randint(k_shift, (2,), 0, 2 * pad + 1)
  padded = jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
  return lax.dynamic_slice(padded, (dy, dx, 0), (h, w, c))


def _grey(image):
  return jnp.mean(image, axis=-1, keepdims=True) if image.shape[-1] == 3 else image


def _blend(image, other, factor):
  """PIL's ImageEnhance: other + factor·(image − other), clipped."""
  return jnp.clip(other + factor * (image - other), 0.0, 1.0)


def _affine(image, matrix, shift):
  """Output pixel p reads input pixel matrix·(p − centre) + centre + shift ((row, col) coordinates), bilinearly;
  pixels read from outside the image are grey."""
  h, w, _ = image.shape
  centre = (jnp.array([h, w], jnp.float32) - 1) / 2
  grid = jnp.stack(jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"), -1)
  source = (grid - centre) @ matrix.T + centre + shift                 # [H, W, 2]
  top_left = jnp.floor(source)
  frac = source - top_left

  def tap(dy, dx):
    y, x = top_left[..., 0] + dy, top_left[..., 1] + dx
    inside = (y >= 0) & (y <= h - 1) & (x >= 0) & (x <= w - 1)
    pixel = image[jnp.clip(y, 0, h - 1).astype(jnp.int32), jnp.clip(x, 0, w - 1).astype(jnp.int32)]
    weight = (frac[..., 0] if dy else 1 - frac[..., 0]) * (frac[..., 1] if dx else 1 - frac[..., 1])
    return weight[..., None] * jnp.where(inside[..., None], pixel, GREY)

  return tap(0, 0) + tap(0, 1) + tap(1, 0) + tap(1, 1)


def _rotation(angle):
  """The (row, col) matrix of a rotation by `angle` radians about the centre."""
  c, s = jnp.cos(angle), jnp.sin(angle)
  return jnp.stack([jnp.stack([c, -s]), jnp.stack([s, c])])


def _equalize(image):
  """Histogram equalisation of each channel over 256 levels."""
  levels = jnp.round(image * 255).astype(jnp.int32)

  def channel(x):
    cdf = jnp.cumsum(jnp.bincount(x.ravel(), length=256))
    low = cdf[jnp.argmax(cdf > 0)]
    lut = jnp.clip((cdf - low) / jnp.maximum(cdf[-1] - low, 1), 0.0, 1.0)
    return lut[x]

  return jax.vmap(channel, in_axes=-1, out_axes=-1)(levels)


def _sharpness(image, factor):
  kernel = jnp.array([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
  smooth = jax.vmap(lambda x: jax.scipy.signal.convolve2d(x, kernel, mode="same"), in_axes=-1, out_axes=-1)(image)
  inner = jnp.zeros(image.shape[:2], bool).at[1:-1, 1:-1].set(True)[..., None]  # PIL keeps the border as is.
  return _blend(image, jnp.where(inner, smooth, image), factor)


def _operations(image, v, sign):
  """RandAugment's operations (FixMatch's pool) at magnitude v ∈ [0, 1] and direction sign ∈ {−1, 1}."""
  h = image.shape[0]
  enhance = 0.05 + 0.9 * v  # Brightness, Color, Contrast, Sharpness factors in [0.05, 0.95].
  shear = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  return [
      lambda x: x,                                                                            # Identity
      lambda x: (x - x.min((0, 1))) / jnp.maximum(x.max((0, 1)) - x.min((0, 1)), 1e-6),       # AutoContrast
      lambda x: _blend(x, jnp.zeros_like(x), enhance),                                        # Brightness
      lambda x: _blend(x, jnp.broadcast_to(_grey(x), x.shape), enhance),                      # Color
      lambda x: _blend(x, jnp.full_like(x, _grey(x).mean()), enhance),                        # Contrast
      _equalize,                                                                              # Equalize
      lambda x: jnp.floor(x * 255 / 2 ** (4 - jnp.floor(4 * v))) * 2 ** (4 - jnp.floor(4 * v)) / 255,  # Posterize 4-7 bits
      lambda x: _affine(x, _rotation(sign * v * jnp.pi / 6), jnp.zeros(2)),                 # Rotate ±30°
      lambda x: _sharpness(x, enhance),                                                      # Sharpness
      lambda x: _affine(x, shear.at[1, 0].set(0.3 * v * sign), jnp.zeros(2)),                # ShearX ±0.3
      lambda x: _affine(x, shear.at[0, 1].set(0.3 * v * sign), jnp.zeros(2)),                # ShearY ±0.3
      lambda x: jnp.where(x >= 1.0 - v, 1.0 - x, x),                                          # Solarize
      lambda x: _affine(x, shear, jnp.array([0.0, 0.3 * h * v * sign])),                     # TranslateX ±0.3
      lambda x: _affine(x, shear, jnp.array([0.3 * h * v * sign, 0.0])),                     # TranslateY ±0.3
  ]


NUM_OPERATIONS = 14


def rand_augment(key: jax.Array, image: jax.Array, num_ops: int = 2, probability: float = 0.5) -> jax.Array:
  """`num_ops` operations drawn uniformly from the pool, each applied with `probability` at a magnitude drawn
  uniformly (FixMatch's RandAugmentMC). [H, W, C] -> [H, W, C] in [0, 1]."""
  for k in jax.random.split(key, num_ops):
    k_op, k_v, k_sign, k_apply = jax.random.split(k, 4)
    v = jax.random.uniform(k_v)
    sign = jnp.where(jax.random.uniform(k_sign) < 0.5, -1.0, 1.0)
    # Every operation, then the drawn one: what lax.switch becomes under vmap anyway (and switch's select
    # does not trace under the train step's shard_map).
    candidates = jnp.stack([f(image).astype(image.dtype) for f in _operations(image, v, sign)])
    transformed = candidates[jax.random.randint(k_op, (), 0, NUM_OPERATIONS)]
    image = jnp.clip(jnp.where(jax.random.uniform(k_apply) < probability, transformed, image), 0.0, 1.0)
  return image


def cutout(key: jax.Array, image: jax.Array, fraction: float = 0.5) -> jax.Array:
  """A square of side `fraction` × the image side, at a uniform centre (cut at the border), set to grey."""
  h, w, _ = image.shape
  half = round(fraction * h) / 2
  cy, cx = jax.random.uniform(key, (2,)) * jnp.array([h, w])
  rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
  inside = (jnp.abs(rows + 0.5 - cy) <= half) & (jnp.abs(cols + 0.5 - cx) <= half)
  return jnp.where(inside[..., None], GREY, image)


def weak_views(key, images, flip: bool, translate: float, axis_name=None):
  """uint8 [b, H, W, C] -> float [b, H, W, C]: `flip_translate` of each image, keyed per global example."""
  keys = augment.example_keys(key, images.shape[0], axis_name)
  return jax.vmap(lambda k, x: flip_translate(k, augment.to_float(x), translate, flip))(keys, images)


def strong_views(key, images, flip: bool, translate: float, num_ops: int, cutout_fraction: float, axis_name=None):
  """uint8 [b, H, W, C] -> float [b, H, W, C]: flip + translate, RandAugment, then Cutout."""
  keys = augment.example_keys(key, images.shape[0], axis_name)

  def strong(k, x):
    k1, k2, k3 = jax.random.split(k, 3)
    x = rand_augment(k2, flip_translate(k1, augment.to_float(x), translate, flip), num_ops)
    return cutout(k3, x, cutout_fraction)

  return jax.vmap(strong)(keys, images)
