"""FixMatch's weak and strong views: each operation does what its name says at known magnitudes, and the
views are deterministic, in range and per example."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxssl import randaugment as ra

IMAGE = jax.random.uniform(jax.random.key(0), (10, 10, 3))


def op(index, v=1.0, sign=1.0, image=IMAGE):
  return ra._operations(image, jnp.asarray(v), jnp.asarray(sign))[index](image)  # pylint: disable=protected-access


def test_flip_translate_is_a_window_of_the_reflected_image():
  padded = np.pad(np.asarray(IMAGE), ((1, 1), (1, 1), (0, 0)), mode="reflect")  # 0.125 · 10 px rounds to 1.
  windows = {(dy, dx) for dy in range(3) for dx in range(3)
             for key in range(20)
             if np.array_equal(ra.flip_translate(jax.random.key(key), IMAGE, 0.125, flip=False),
                               padded[dy:dy + 10, dx:dx + 10])}
  assert len(windows) > 3  # Every draw was a window of the padded image, and several different ones.
  np.testing.assert_array_equal(ra.flip_translate(jax.random.key(0), IMAGE, 0.0, flip=False), IMAGE)
  flips = [np.array_equal(ra.flip_translate(jax.random.key(k), IMAGE, 0.0), IMAGE[:, ::-1]) for k in range(20)]
  assert 0 < sum(flips) < 20


def test_operations_at_known_magnitudes():
  names = ["identity", "autocontrast", "brightness", "color", "contrast", "equalize", "posterize", "rotate",
           "sharpness", "shear_x", "shear_y", "solarize", "translate_x", "translate_y"]
  assert len(names) == ra.NUM_OPERATIONS == len(ra._operations(IMAGE, 0.0, 1.0))  # pylint: disable=protected-access
  x = np.asarray(IMAGE)
  np.testing.assert_array_equal(op(0), x)
  narrow = 0.4 + 0.2 * IMAGE
  stretched = op(1, image=narrow)
  np.testing.assert_allclose(stretched.min((0, 1)), 0, atol=1e-6)
  np.testing.assert_allclose(stretched.max((0, 1)), 1, atol=1e-6)
  np.testing.assert_allclose(op(2, v=0.5), x * 0.5, rtol=1e-6)  # Brightness factor 0.05 + 0.9 · 0.5.
  grey_in_colour = np.asarray(op(3, v=0.0))
  np.testing.assert_allclose(grey_in_colour, 0.95 * x.mean(-1, keepdims=True) + 0.05 * x, rtol=1e-5)
  assert np.asarray(op(5, image=narrow)).max() == pytest.approx(1.0)  # Equalize spreads a narrow histogram.
  levels = np.asarray(op(6, v=0.0)) * 255  # 4 bits: multiples of 16.
  np.testing.assert_allclose(levels % 16, 0, atol=1e-3)
  for index in (7, 9, 10, 12, 13):  # Rotate, shears and translations are the identity at magnitude 0.
    np.testing.assert_allclose(op(index, v=0.0), x, atol=1e-6)
  np.testing.assert_allclose(op(12, v=1.0)[:, :7], x[:, 3:], atol=1e-6)  # 0.3 · 10 px: 3 columns.
  np.testing.assert_allclose(op(13, v=1.0, sign=-1.0)[3:], x[:7], atol=1e-6)
  assert np.allclose(op(12, v=1.0)[:, 7:], ra.GREY)  # What the shift uncovers is grey.
  np.testing.assert_allclose(op(11, v=1.0), 1 - x, atol=1e-6)  # Solarize every pixel at full magnitude.
  rotated = np.asarray(op(7, v=1.0))
  assert not np.allclose(rotated, x) and np.allclose(rotated[0, 0], ra.GREY)  # 30°: corners come from outside.


def test_cutout_greys_one_square():
  out = np.asarray(ra.cutout(jax.random.key(3), IMAGE, 0.4))
  grey = np.all(out == ra.GREY, axis=-1)
  rows, cols = np.nonzero(grey)
  assert grey.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # A rectangle ...
  assert rows.max() - rows.min() + 1 <= 4 and cols.max() - cols.min() + 1 <= 4 and grey.sum() >= 4  # ... ≤ 4 × 4.
  np.testing.assert_array_equal(out[~grey], np.asarray(IMAGE)[~grey])


def test_strong_views_are_deterministic_in_range_and_per_example():
  images = jax.random.randint(jax.random.key(1), (6, 16, 16, 3), 0, 256).astype(jnp.uint8)
  images = images.at[3].set(images[0])  # Two copies of one image get different views.
  # Traced twice (a draw from any source but the key would differ), jitted as a train step calls it: op by op,
  # the second took 15 s of CI.
  strong = lambda: jax.jit(lambda k, x: ra.strong_views(k, x, True, 0.125, 2, 0.5))
  views, again = strong()(jax.random.key(0), images), strong()(jax.random.key(0), images)
  assert views.shape == (6, 16, 16, 3) and views.dtype == jnp.float32
  np.testing.assert_allclose(views, again, atol=1e-6)
  assert float(views.min()) >= 0 and float(views.max()) <= 1
  assert not np.allclose(views[0], views[3])
  weak = ra.weak_views(jax.random.key(0), images, True, 0.125)
  assert weak.shape == (6, 16, 16, 3) and not np.allclose(weak, views)
