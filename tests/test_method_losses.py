"""The losses of SuNCEt/SupCon, PAWS, VAE, Siamese VAE and the proxy tasks: hand-computed values,
invariances, gradients, and equality of the device-gathered losses with their single-device values."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxssl import augment, losses, parallel

E = math.e


def test_supcon_hand_computed_both_forms():
  # Anchors 0, 1 (label 0): cosines 1 (pos), 0.6 (pos), 0 (neg); anchor 2 (label 0): 0.6, 0.6 (pos), 0.8 (neg);
  # anchor 3 (label 1) has no positive and is left out. T = 1.
  #   suncet l_0 = −log((e + e^0.6) / (e + e^0.6 + 1)),  l_2 = −log(2e^0.6 / (2e^0.6 + e^0.8))
  #   supcon l_0 = −½[log(e / D_0) + log(e^0.6 / D_0)],    l_2 = −(0.6 − log(2e^0.6 + e^0.8))
  z = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
  labels = jnp.array([0, 0, 0, 1])
  np.testing.assert_allclose(losses.supcon(z, labels, 1.0, form="suncet"), 0.29159094871871843, rtol=1e-6)
  np.testing.assert_allclose(losses.supcon(z, labels, 1.0, form="supcon"), 0.9979835105053353, rtol=1e-6)
  # With one positive each, the two forms agree: log(1 + 1/e) for two identical anchors and an orthogonal one.
  z3, l3 = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), jnp.array([0, 0, 1])
  for form in ("suncet", "supcon"):
    np.testing.assert_allclose(losses.supcon(z3, l3, 1.0, form=form), math.log(1 + 1 / E), rtol=1e-6)


@pytest.mark.parametrize("form", ["suncet", "supcon"])
def test_supcon_with_one_label_per_image_is_nt_xent(form):
  rng = np.random.default_rng(0)
  z1, z2 = rng.normal(size=(2, 6, 5)).astype(np.float32)
  ids = np.arange(6)
  np.testing.assert_allclose(losses.supcon(np.concatenate([z1, z2]), np.concatenate([ids, ids]), 0.2, form=form),
                             losses.nt_xent(z1, z2, 0.2), rtol=1e-5)


def test_supcon_no_positive_is_zero_not_nan_and_gradient_finite():
  z = jnp.asarray(np.random.default_rng(1).normal(size=(4, 3)), jnp.float32)
  assert float(losses.supcon(z, jnp.arange(4), 0.1)) == 0.0
  labels = jnp.array([0, 0, 1, 2])  # Anchors 2 and 3 have no positive.
  for form in ("suncet", "supcon"):
    g = jax.grad(lambda x: losses.supcon(x, labels, 0.1, form=form))(z)
    assert np.all(np.isfinite(g)) and np.abs(g).sum() > 0


def test_sharpen_and_snn():
  np.testing.assert_allclose(losses.sharpen(jnp.array([0.5, 0.25, 0.25]), 0.5), [2 / 3, 1 / 6, 1 / 6], rtol=1e-6)
  support, targets = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.eye(2)
  np.testing.assert_allclose(losses.snn(jnp.array([[2.0, 0.0]]), support, targets, 1.0),
                             [[E / (E + 1), 1 / (E + 1)]], rtol=1e-6)


def test_paws_hand_computed():
  # Support (1,0) label 0, (0,1) label 1; τ = 1, T = 0.5, no smoothing. View 1 = (1,0), view 2 = (0,1):
  # p_1 = softmax(1, 0), p_2 = softmax(0, 1); targets swap views, sharpened: t_1 = softmax(0, 2), t_2 = softmax(2, 0).
  # CE = −(t_1 · log p_1) = 1.1940587655 for both views; me-max: mean of sharpened p = (½, ½) -> −H = log ½.
  support, labels = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.array([0, 1])
  z1, z2 = jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]])
  ce, me_max = losses.paws_terms((z1, z2), support, labels, 2, tau=1.0, sharpen_temperature=0.5, label_smoothing=0.0)
  np.testing.assert_allclose(ce, 1.1940587654961052, rtol=1e-5)
  np.testing.assert_allclose(me_max, math.log(0.5), rtol=1e-5)
  loss = losses.paws((z1, z2), support, labels, 2, tau=1.0, sharpen_temperature=0.5, label_smoothing=0.0)
  np.testing.assert_allclose(loss, 0.50091158493616, rtol=1e-5)
  no_me_max = losses.paws((z1, z2), support, labels, 2, 1.0, 0.5, 0.0, me_max=False)
  np.testing.assert_allclose(no_me_max, 1.1940587654961052, rtol=1e-5)


def _paws_inputs(seed=0, n=8, m=12, d=6, c=3):
  rng = np.random.default_rng(seed)
  z1, z2 = rng.normal(size=(2, n, d)).astype(np.float32)
  return z1, z2, rng.normal(size=(m, d)).astype(np.float32), np.arange(m) % c


def test_paws_invariances_and_gradient():
  z1, z2, support, labels = _paws_inputs()
  loss = losses.paws((z1, z2), support, labels, 3)
  perm = np.random.default_rng(1).permutation(len(labels))
  np.testing.assert_allclose(losses.paws((z1, z2), support[perm], labels[perm], 3), loss, rtol=1e-5)
  np.testing.assert_allclose(losses.paws((z2, z1), support, labels, 3), loss, rtol=1e-5)  # Swap views.
  grads = jax.grad(lambda a, s: losses.paws((a, z2), s, labels, 3), argnums=(0, 1))(z1, support)
  assert all(np.all(np.isfinite(g)) and np.abs(g).sum() > 0 for g in grads)
  # Label smoothing changes the targets, so the loss.
  assert not np.isclose(losses.paws((z1, z2), support, labels, 3, label_smoothing=0.0), loss)


def test_paws_multicrop_targets_are_the_mean_of_the_large_views():
  z1, z2, support, labels = _paws_inputs()
  small = np.random.default_rng(2).normal(size=(16, 6)).astype(np.float32)  # 2 crops × 8 images.
  ce, _ = losses.paws_terms((z1, z2), support, labels, 3, me_max=False, small_anchors=small)
  y = jax.nn.one_hot(labels, 3) * 0.9 + 0.1 / 3
  p1, p2, ps = (losses.snn(q, support, y, 0.1) for q in (z1, z2, small))
  t1, t2 = losses.sharpen(p2, 0.25), losses.sharpen(p1, 0.25)
  t1, t2 = (jnp.where(t < 1e-4, 0.0, t) for t in (t1, t2))
  ts = jnp.tile(0.5 * (t1 + t2), (2, 1))
  h = lambda t, p: -jnp.sum(t * jnp.log(p), -1)
  expected = jnp.mean(jnp.concatenate([h(t1, p1), h(t2, p2), h(ts, ps)]))
  np.testing.assert_allclose(ce, expected, rtol=1e-5)


def test_elbo_and_kl():
  zeros = jnp.zeros((3, 4))
  np.testing.assert_allclose(losses.kl_to_standard_normal(zeros, zeros), 0.0, atol=1e-7)  # q = N(0, I).
  # KL(N(1, 1) ‖ N(0, 1)) = ½ per dimension; KL(N(0, e) ‖ N(0, 1)) = ½(e − 1 − 1) in that dimension.
  np.testing.assert_allclose(losses.kl_to_standard_normal(jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]])),
                             [0.5 + 0.5 * (E - 2)], rtol=1e-6)
  images = jnp.full((2, 4, 4, 1), 0.5)
  # Bernoulli: logits 0 against targets ½ cost log 2 per pixel; 16 pixels.
  args = images, jnp.zeros_like(images), jnp.zeros((2, 3)), jnp.zeros((2, 3))
  np.testing.assert_allclose([losses.elbo(*args), *losses.elbo_terms(*args)], [16 * math.log(2), 16 * math.log(2), 0.0],
                             rtol=1e-6, atol=1e-7)
  # Gaussian: ½ Σ (0.7 − 0.5)² = ½ · 16 · 0.04 = 0.32; β scales the KL.
  args = images, jnp.full_like(images, 0.7), jnp.ones((2, 3)), jnp.zeros((2, 3))
  np.testing.assert_allclose([*losses.elbo_terms(*args, likelihood="gaussian"),
                              losses.elbo(*args, beta=2.0, likelihood="gaussian")], [0.32, 1.5, 0.32 + 3.0], rtol=1e-5)


def test_triplet_hand_computed():
  # Negatives are the next image's positive: anchor 0 vs (1,1), anchor 1 vs (0,1).
  # d_pos = [1, 0], d_neg = [2, 1]; margin 1.5 -> [0.5, 0.5]; margin 0.5 -> [0, 0].
  anchor, positive = jnp.array([[0.0, 0.0], [1.0, 1.0]]), jnp.array([[0.0, 1.0], [1.0, 1.0]])
  np.testing.assert_allclose(losses.triplet(anchor, positive, margin=1.5), 0.5, rtol=1e-6)
  np.testing.assert_allclose(losses.triplet(anchor, positive, margin=0.5), 0.0, atol=1e-7)
  g = jax.grad(lambda a: losses.triplet(a, positive, 1.5))(anchor)
  assert np.all(np.isfinite(g)) and np.abs(g).sum() > 0


def test_proxy_views_map_each_label_to_its_transformation():
  image = jnp.array([[1, 2], [3, 4]])[None, :, :, None]  # Asymmetric under every transformation.
  views, labels = augment.proxy_views(jnp.concatenate([image, image + 10]), 6)
  expected = {0: [[1, 2], [3, 4]], 1: [[2, 4], [1, 3]], 2: [[4, 3], [2, 1]], 3: [[3, 1], [4, 2]],
              4: [[2, 1], [4, 3]], 5: [[3, 4], [1, 2]]}
  for k, grid in expected.items():
    np.testing.assert_array_equal(views[2 * k, :, :, 0], grid)          # Image 0 under transform k.
    np.testing.assert_array_equal(views[2 * k + 1, :, :, 0], np.array(grid) + 10)
    assert labels[2 * k] == labels[2 * k + 1] == k
  assert augment.proxy_views(image, 4)[0].shape == (4, 2, 2, 1)


def _sharded(fn, mesh, n_args):
  per_device = lambda *a: jax.lax.pmean(fn(*a, axis_name="data"), "data")
  return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(P("data"),) * n_args, out_specs=P()))


@pytest.mark.parametrize("name", ["supcon", "supcon_out", "paws", "paws_multicrop", "triplet"])
def test_gathered_losses_equal_single_device(devices, name):
  mesh = parallel.make_mesh(devices)
  z1, z2, support, labels = _paws_inputs(n=8, m=12)
  labels_z = np.array([0, 0, 1, 1, 2, 0, 1, 2])  # Devices hold different numbers of anchors with a positive.
  small = np.random.default_rng(3).normal(size=(8, 6)).astype(np.float32)
  cases = {
      "supcon": (lambda z, y, axis_name=None: losses.supcon(z, y, 0.1, axis_name), (z1, labels_z)),
      "supcon_out": (lambda z, y, axis_name=None: losses.supcon(z, y, 0.1, axis_name, "supcon"), (z1, labels_z)),
      "paws": (lambda a, b, s, y, axis_name=None: losses.paws((a, b), s, y, 3, axis_name=axis_name),
               (z1, z2, support, labels)),
      # One small crop per image keeps each device's crops aligned with its images.
      "paws_multicrop": (lambda a, b, s, y, c, axis_name=None: losses.paws((a, b), s, y, 3, small_anchors=c,
                                                                           axis_name=axis_name),
                         (z1, z2, support, labels, small)),
      "triplet": (lambda a, b, axis_name=None: losses.triplet(a, b, 2.0, axis_name), (z1, z2)),
  }
  fn, args = cases[name]
  sharded = _sharded(fn, mesh, len(args))
  np.testing.assert_allclose(sharded(*args), fn(*args), rtol=1e-5)
  grad_sharded = jax.grad(lambda a: sharded(a, *args[1:]))(jnp.asarray(args[0]))
  grad_single = jax.grad(lambda a: fn(a, *args[1:]))(jnp.asarray(args[0]))
  np.testing.assert_allclose(grad_sharded, grad_single, rtol=1e-4, atol=1e-6)


def test_paws_loss_needs_no_state_from_build():
  """The loss reads the number of classes from the model it is given, so a PAWS instance that never built
  (one that only computes the loss, e.g. on a loaded model) gives the same loss as the one that built it."""
  from flax import nnx
  from jaxssl import config as config_lib, methods
  config = config_lib.base_config("paws")
  config.model.width, config.model.features = 8, 16
  builder = methods.create(config)
  model = builder.build((32, 32, 1), 4, nnx.Rngs(0))
  rng = np.random.default_rng(0)
  batch = {"unlabelled": rng.integers(0, 256, (6, 32, 32, 1), np.uint8),
           "labelled": rng.integers(0, 256, (8, 32, 32, 1), np.uint8), "label": np.repeat(np.arange(4), 2)}
  key = jax.random.key(0)
  loss_of = lambda method: nnx.jit(lambda m: method.loss(m, batch, key)[0])(model)  # Eager: 3x the time.
  loss, fresh_loss = loss_of(builder), loss_of(methods.create(config))
  assert np.isfinite(loss) and float(fresh_loss) == float(loss)
