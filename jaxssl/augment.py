"""On-device image views: random resized crop, flip, colour jitter, grayscale, blur (dm-pix where it has the op).

All functions are pure and deterministic given a key, and run under jit/vmap/shard_map. A batch gets
per-example randomness from `views`, which keys each image by its index in the global batch.
"""
import dataclasses
import functools

import dm_pix as pix
import jax
import jax.numpy as jnp
import ml_collections


@dataclasses.dataclass(frozen=True)
class ViewConfig:
  """How one view is drawn; the defaults are the SimCLR/Keras STL-10 recipe (as in jaxssl.config)."""
  crop_scale: tuple[float, float] = (0.25, 1.0)   # Fraction of the image area kept by the crop.
  crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # Aspect ratio range, sampled log-uniformly.
  flip: bool = True
  jitter_prob: float = 0.8
  brightness: float = 0.6   # Additive delta in [-b, b] (TF/SimCLR convention).
  contrast: float = 0.2     # Factor in [1-c, 1+c].
  saturation: float = 0.2   # Factor in [1-s, 1+s]; RGB only.
  hue: float = 0.2          # Hue rotation in [-h, h] of a turn; RGB only.
  grayscale_prob: float = 0.2  # RGB only.
  blur_prob: float = 0.0    # Gaussian blur, sigma ~ U(0.1, 2.0), kernel ~10% of the side.

  @classmethod
  def from_config(cls, augment_config: ml_collections.ConfigDict) -> "ViewConfig":
    values = augment_config.to_dict()
    values["crop_scale"], values["crop_ratio"] = tuple(values["crop_scale"]), tuple(values["crop_ratio"])
    return cls(**values)


def to_float(images: jax.Array) -> jax.Array:
  """uint8 images -> float32 in [0, 1]; the encoders' input format."""
  return images.astype(jnp.float32) / 255.0


def uniforms(keys: jax.Array, bounds) -> jax.Array:
  """U(low, high) for each key [n] and its (low, high) pair in `bounds` (n pairs) -> float32 [n].

  Bit for bit what `jax.random.uniform(key, minval=low, maxval=high)` gives key by key, drawn in one batched
  call: XLA compiles one random-bits program instead of one per draw (`view`'s 13 draws this way: a batch of
  views compiles in 60% of the time, docs/performance.md).
  """
  low, high = (jnp.stack([jnp.asarray(pair[i], jnp.float32) for pair in bounds]) for i in (0, 1))
  return jax.vmap(lambda k, lo, hi: jax.random.uniform(k, minval=lo, maxval=hi))(keys, low, high)


def resized_crop(image: jax.Array, size: int, area_fraction: jax.Array, log_aspect: jax.Array,
                 y_fraction: jax.Array, x_fraction: jax.Array) -> jax.Array:
  """The box of area `area_fraction`·H·W and aspect ratio exp(`log_aspect`), at `y_fraction`/`x_fraction` of the
  room left above and beside it, resized to [size, size, C]. A box that would not fit is clipped to the image
  (torchvision retries instead; the difference only affects extreme ratio/scale draws)."""
  height, width, channels = image.shape
  area = height * width * area_fraction
  aspect = jnp.exp(log_aspect)
  crop_w = jnp.clip(jnp.sqrt(area * aspect), 1.0, width)
  crop_h = jnp.clip(jnp.sqrt(area / aspect), 1.0, height)
  y0 = y_fraction * (height - crop_h)
  x0 = x_fraction * (width - crop_w)
  zoom = jnp.array([size / crop_h, size / crop_w])
  return jax.image.scale_and_translate(image, (size, size, channels), (0, 1), zoom,
                                       -jnp.array([y0, x0]) * zoom, method="linear", antialias=True)


def hsv_planes(image: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Hue, saturation and value planes [H, W] in [0, 1] of an RGB image [H, W, 3]: dm-pix's formulas, with the hue's
  formula picked by comparing the channels with each other, not with their maximum. dm-pix tests `max == green`,
  and XLA may compute the green channel twice, rounding differently (e.g. a multiply-add contracted in one fusion
  only): then the test fails and the pixel gets the blue formula, a hue up to half a turn off. A
  comparison between channels errs only at near-ties, where the formulas agree."""
  red, green, blue = image[..., 0], image[..., 1], image[..., 2]
  value = jnp.maximum(jnp.maximum(red, green), blue)
  range_ = value - jnp.minimum(jnp.minimum(red, green), blue)
  saturation = jnp.where(value > 0, range_ / jnp.where(value > 0, value, 1.0), 0.0)
  norm = 1.0 / (6.0 * jnp.where(range_ > 0, range_, 1.0))
  hue = jnp.where((red >= green) & (red >= blue), norm * (green - blue),
                  jnp.where(green >= blue, norm * (blue - red) + 2.0 / 6.0, norm * (red - green) + 4.0 / 6.0))
  return jnp.where(range_ > 0, hue, 0.0) + (hue < 0.0), saturation, value


def adjust_colors(image: jax.Array, delta_brightness: jax.Array, contrast: jax.Array, saturation: jax.Array,
                  delta_hue: jax.Array) -> jax.Array:
  """Brightness + delta, contrast × factor, then (RGB only) saturation × factor and hue + delta (a turn's
  fraction), as dm-pix's adjust_* (through `hsv_planes`); clipped to [0, 1]."""
  image = pix.adjust_contrast(pix.adjust_brightness(image, delta_brightness), contrast)
  if image.shape[-1] == 3:
    hue, sat, value = hsv_planes(jnp.clip(image, 0, 1))
    image = pix.hsv_to_rgb(jnp.stack([hue, jnp.clip(sat * saturation, 0.0, 1.0), value], -1))
    hue, sat, value = hsv_planes(image)
    image = pix.hsv_to_rgb(jnp.stack([(hue + delta_hue) % 1.0, sat, value], -1))
  return jnp.clip(image, 0.0, 1.0)


def view(key: jax.Array, image: jax.Array, cfg: ViewConfig, size: int) -> jax.Array:
  """One augmented view of one uint8 or float image [H, W, C] -> float32 [size, size, C] in [0, 1].

  Its 13 random numbers are drawn in one call (`uniforms`), from the keys that drew them one at a time before
  (tests/test_augment.py checks the stream): the crop from split(keys[0], 4), the jitter from split(keys[3], 4).
  """
  keys = jax.random.split(key, 8)
  crop_keys, jitter_keys = jax.vmap(lambda k: jax.random.split(k, 4))(keys[jnp.array([0, 3])])
  # Crop (area, log aspect, y, x); jitter (brightness, contrast, saturation, hue); flip; whether to jitter,
  # grey; blur's sigma; whether to blur.
  u = uniforms(jnp.concatenate([crop_keys, jitter_keys, keys[jnp.array([1, 2, 4, 5, 6])]]), [
      cfg.crop_scale, (jnp.log(cfg.crop_ratio[0]), jnp.log(cfg.crop_ratio[1])), (0.0, 1.0), (0.0, 1.0),
      (-cfg.brightness, cfg.brightness), (1 - cfg.contrast, 1 + cfg.contrast),
      (1 - cfg.saturation, 1 + cfg.saturation), (-cfg.hue, cfg.hue),
      (0.0, 1.0), (0.0, 1.0), (0.0, 1.0), (0.1, 2.0), (0.0, 1.0)])
  crop, jitter, (flip, apply_jitter, apply_grey, sigma, apply_blur) = u[:4], u[4:8], u[8:]
  image = image.astype(jnp.float32) / 255.0 if image.dtype == jnp.uint8 else image
  image = resized_crop(image, size, *crop)
  if cfg.flip:
    image = jnp.where(flip < 0.5, image[:, ::-1], image)
  if cfg.jitter_prob > 0:
    image = jnp.where(apply_jitter < cfg.jitter_prob, adjust_colors(image, *jitter), image)
  if cfg.grayscale_prob > 0 and image.shape[-1] == 3:
    grey = jnp.broadcast_to(pix.rgb_to_grayscale(image, keep_dims=True), image.shape)
    image = jnp.where(apply_grey < cfg.grayscale_prob, grey, image)
  if cfg.blur_prob > 0:
    kernel = max(3, (size // 10) | 1)
    image = jnp.where(apply_blur < cfg.blur_prob, pix.gaussian_blur(image, sigma, kernel), image)
  return image


def example_keys(key: jax.Array, n: int, axis_name: str | None = None) -> jax.Array:
  """One key per example [n]: fold_in(key, global row index). Under shard_map with `axis_name`, row r of
  device d has global index d·n + r, so an example gets the same randomness on any number of devices."""
  offset = jax.lax.axis_index(axis_name) * n if axis_name else 0
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(offset + jnp.arange(n))


def views(key: jax.Array, images: jax.Array, cfg: ViewConfig, size: int | None = None,
          axis_name: str | None = None) -> jax.Array:
  """Independent views of a batch: images [B, H, W, C] -> float32 [B, size, size, C], keyed per example
  (see `example_keys`; pass the step's `axis_name` under shard_map)."""
  size = size or images.shape[1]
  keys = example_keys(key, images.shape[0], axis_name)
  return jax.vmap(lambda k, x: view(k, x, cfg, size))(keys, images)


@functools.partial(jax.jit, static_argnames=("cfg", "num_views"))
def view_grid(key: jax.Array, images: jax.Array, cfg: ViewConfig, num_views: int = 2) -> jax.Array:
  """A picture of the augmentation: row 0 the uint8 images [n, H, W, C] as they are, rows 1..num_views their
  views -> float32 [(1 + num_views)·H, n·W, C] in [0, 1] (the Keras SimCLR example's grid)."""
  rows = [to_float(images)] + [views(k, images, cfg) for k in jax.random.split(key, num_views)]
  n, h, w, c = images.shape
  return jnp.stack(rows).transpose(0, 2, 1, 3, 4).reshape(len(rows) * h, n * w, c)


PROXY_TRANSFORMS = ("rot0", "rot90", "rot180", "rot270", "hflip", "vflip")


def proxy_views(images: jax.Array, num_transforms: int) -> tuple[jax.Array, jax.Array]:
  """Every image under each of the first `num_transforms` proxy transformations, with its proxy label.

  Label k is PROXY_TRANSFORMS[k]: 0-3 rotate k × 90° counter-clockwise (RotNet uses these 4), 4 flips left-right,
  5 flips up-down (SESEMI uses all 6). images [B, H, W, C] (square) -> ([num_transforms·B, H, W, C]
  transform-major, int32 labels [num_transforms·B]).
  """
  forms = [jnp.rot90(images, k, axes=(1, 2)) for k in range(4)] + [images[:, :, ::-1], images[:, ::-1]]
  labels = jnp.repeat(jnp.arange(num_transforms, dtype=jnp.int32), images.shape[0])
  return jnp.concatenate(forms[:num_transforms]), labels
