"""On-device views: determinism, per-example randomness, ranges, and the crop's geometry."""
import jax
import jax.numpy as jnp
import numpy as np

from jaxssl import augment

STRONG = augment.ViewConfig(blur_prob=0.5)
# Compiled as in a train step: eagerly, each of its operations compiles on its own (246 programs, 10 s in one test).
views = jax.jit(augment.views, static_argnames=("cfg", "size", "axis_name"))


def _images(n=6, size=16, channels=3, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def test_views_deterministic_and_per_example():
  images = _images()
  a = views(jax.random.key(0), images, STRONG)
  b = views(jax.random.key(0), images, STRONG)
  c = views(jax.random.key(1), images, STRONG)
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  assert a.shape == (6, 16, 16, 3) and a.dtype == jnp.float32
  assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
  # The same image at two positions of the batch gets two different views.
  same = np.repeat(images[:1], 2, axis=0)
  v = views(jax.random.key(0), same, STRONG)
  assert not np.allclose(v[0], v[1])


def test_views_resize_and_grayscale_input():
  v = views(jax.random.key(0), _images(channels=1), augment.ViewConfig(), size=8)
  assert v.shape == (6, 8, 8, 1)


def test_full_crop_without_jitter_is_identity():
  cfg = augment.ViewConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=False, jitter_prob=0.0,
                           grayscale_prob=0.0)
  images = _images()
  np.testing.assert_allclose(views(jax.random.key(3), images, cfg), images / 255.0, atol=1e-5)


def test_crop_zooms_into_the_image():
  # A left-dark / right-bright image: a crop of a quarter of the area never shows both halves at full size,
  # and the view of a uniform image stays uniform.
  cfg = augment.ViewConfig(crop_scale=(0.25, 0.25), crop_ratio=(1.0, 1.0), flip=False, jitter_prob=0.0,
                           grayscale_prob=0.0)
  uniform = np.full((4, 16, 16, 1), 100, np.uint8)
  np.testing.assert_allclose(views(jax.random.key(0), uniform, cfg), 100 / 255, atol=1e-5)
  half = np.zeros((64, 16, 16, 1), np.uint8)
  half[:, :, 8:] = 255
  v = np.asarray(views(jax.random.key(0), half, cfg))[..., 0]  # [64, 16, 16]
  # An axis-aligned crop, resized: every view stays constant down each column and dark-to-bright left to
  # right (a flipped, transposed or sheared crop would break one of these).
  np.testing.assert_allclose(v, np.broadcast_to(v[:, :1], v.shape), atol=1e-5)
  assert np.all(np.diff(v, axis=2) >= -1e-5)
  bright_fraction = (v > 0.5).mean(axis=(1, 2))
  assert (bright_fraction > 0.99).any() and (bright_fraction < 0.01).any()  # Some crops land in one half.
  assert ((bright_fraction > 0.1) & (bright_fraction < 0.9)).any()  # And some straddle the edge.


def test_example_keys_independent_of_device_split(devices):
  from jax.sharding import PartitionSpec as P
  from jaxssl import parallel

  images = _images(n=8)
  mesh = parallel.make_mesh(devices)
  sharded = jax.jit(jax.shard_map(lambda x: augment.views(jax.random.key(5), x, STRONG, axis_name="data"),
                                  mesh=mesh, in_specs=P("data"), out_specs=P("data")))
  # Same randomness on 1 and 4 devices; only float rounding of two compiled programs differs (~1e-6).
  np.testing.assert_allclose(sharded(images), views(jax.random.key(5), images, STRONG), atol=1e-5)


def test_view_grid_shows_the_images_then_their_views():
  images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), np.uint8)
  cfg = augment.ViewConfig()
  key = jax.random.key(0)
  grid = np.asarray(augment.view_grid(key, images, cfg, num_views=2))
  assert grid.shape == (3 * 8, 3 * 8, 3)
  np.testing.assert_allclose(grid[:8, 8:16], images[1] / 255.0, atol=1e-6)  # Row 0: the images as they are.
  second = np.asarray(augment.views(jax.random.split(key, 2)[1], images, cfg))
  np.testing.assert_allclose(grid[16:, 16:], second[2], atol=1e-6)  # Row 2: the second view of each.
