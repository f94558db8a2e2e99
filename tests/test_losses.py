"""nt_xent, info_nce and cross_entropy: hand-computed values, a numpy reference, invariances, gradients, devices."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxssl import losses, parallel


def nt_xent_numpy(z1, z2, temperature):
  """Direct O(N²) NT-Xent: for every anchor, -log softmax over all other embeddings at its positive."""
  z = np.concatenate([z1, z2]).astype(np.float64)
  z /= np.linalg.norm(z, axis=1, keepdims=True)
  n = len(z1)
  total = 0.0
  for i in range(2 * n):
    positive = (i + n) % (2 * n)
    logits = {j: z[i] @ z[j] / temperature for j in range(2 * n) if j != i}
    total += -logits[positive] + math.log(sum(math.exp(v) for v in logits.values()))
  return total / (2 * n)


def info_nce_numpy(z1, z2, temperature):
  """Direct one-directional InfoNCE: each view-1 row, -log softmax over all view-2 rows at its own."""
  a = z1.astype(np.float64) / np.linalg.norm(z1, axis=1, keepdims=True)
  b = z2.astype(np.float64) / np.linalg.norm(z2, axis=1, keepdims=True)
  total = 0.0
  for i in range(len(a)):
    logits = [a[i] @ b[j] / temperature for j in range(len(b))]
    total += -logits[i] + math.log(sum(math.exp(v) for v in logits))
  return total / len(a)


def test_cross_entropy_hand_computed():
  # logits [0, ln 3] with label 1: p = 3/4 -> -ln(3/4) = 0.28768207.
  logits = jnp.array([[0.0, math.log(3.0)]])
  np.testing.assert_allclose(losses.cross_entropy(logits, jnp.array([1])), 0.28768207, rtol=1e-6)


def test_nt_xent_hand_computed():
  # Two images, identical orthogonal views, T=1: each anchor sees its positive at cosine 1 and two
  # negatives at cosine 0, so every anchor's loss is -log(e / (e + 2)) = log(1 + 2/e) = 0.5514447139.
  z = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  np.testing.assert_allclose(losses.nt_xent(z, z, temperature=1.0), 0.5514447139, rtol=1e-6)
  # Scaling rows does not matter (embeddings are normalised).
  np.testing.assert_allclose(losses.nt_xent(3 * z, 0.5 * z, temperature=1.0), 0.5514447139, rtol=1e-6)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_matches_numpy_reference(temperature):
  rng = np.random.default_rng(0)
  z1, z2 = rng.normal(size=(2, 6, 5)).astype(np.float32)
  np.testing.assert_allclose(losses.nt_xent(z1, z2, temperature), nt_xent_numpy(z1, z2, temperature), rtol=1e-5)


def test_nt_xent_invariances_and_gradient():
  rng = np.random.default_rng(1)
  z1, z2 = rng.normal(size=(2, 8, 4)).astype(np.float32)
  loss = losses.nt_xent(z1, z2, 0.2)
  np.testing.assert_allclose(losses.nt_xent(z2, z1, 0.2), loss, rtol=1e-6)  # Order of the pair.
  perm = rng.permutation(8)
  np.testing.assert_allclose(losses.nt_xent(z1[perm], z2[perm], 0.2), loss, rtol=1e-6)  # Order of images.
  g1, g2 = jax.grad(losses.nt_xent, argnums=(0, 1))(jnp.asarray(z1), jnp.asarray(z2), 0.2)
  assert np.all(np.isfinite(g1)) and np.all(np.isfinite(g2)) and np.abs(g1).sum() > 0
  # Aligning a pair lowers the loss.
  assert losses.nt_xent(z1, z1 + 0.01 * z2, 0.2) < loss


def test_info_nce_hand_computed():
  # Two images, identical orthogonal views, T=1: each view-1 row sees its positive at cosine 1 and one view-2
  # negative at cosine 0 (no view-1 negatives), so every anchor's loss is -log(e / (e + 1)) = log(1 + 1/e).
  z = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  np.testing.assert_allclose(losses.info_nce(z, z, temperature=1.0), 0.3132616875, rtol=1e-6)
  np.testing.assert_allclose(losses.info_nce(3 * z, 0.5 * z, temperature=1.0), 0.3132616875, rtol=1e-6)
  # T=0.5, view 2 = view 1 rotated by 60°: z2 = [[c, s], [-s, c]] with c = cos 60° = 1/2, s = sin 60°. Logits
  # z1·z2ᵀ/T = [[2c, -2s], [2s, 2c]], positives on the diagonal: l_0 = -2c + log(e^2c + e^-2s) and
  # l_1 = -2c + log(e^2s + e^2c); the loss is their mean.
  c, s = 0.5, math.sqrt(3) / 2
  z2 = jnp.array([[c, s], [-s, c]])
  l0 = -2 * c + math.log(math.exp(2 * c) + math.exp(-2 * s))
  l1 = -2 * c + math.log(math.exp(2 * s) + math.exp(2 * c))
  np.testing.assert_allclose(losses.info_nce(z, z2, temperature=0.5), (l0 + l1) / 2, rtol=1e-6)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_info_nce_matches_numpy_reference_and_is_one_directional(temperature):
  rng = np.random.default_rng(3)
  z1, z2 = rng.normal(size=(2, 6, 5)).astype(np.float32)
  loss = losses.info_nce(z1, z2, temperature)
  np.testing.assert_allclose(loss, info_nce_numpy(z1, z2, temperature), rtol=1e-5)
  # Not symmetric in its two views, and not NT-Xent.
  assert abs(float(losses.info_nce(z2, z1, temperature)) - float(loss)) > 1e-3
  assert abs(float(losses.nt_xent(z1, z2, temperature)) - float(loss)) > 1e-3


@pytest.mark.parametrize("loss_name", ["nt_xent", "info_nce"])
def test_contrastive_losses_gather_negatives_over_devices(devices, loss_name):
  loss_fn = getattr(losses, loss_name)
  rng = np.random.default_rng(2)
  z1, z2 = rng.normal(size=(2, 16, 8)).astype(np.float32)
  mesh = parallel.make_mesh(devices)

  def per_device(a, b):
    return jax.lax.pmean(loss_fn(a, b, 0.1, axis_name=parallel.DATA), parallel.DATA)

  sharded = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(P("data"), P("data")), out_specs=P()))
  np.testing.assert_allclose(sharded(z1, z2), loss_fn(z1, z2, 0.1), rtol=1e-5)
  # Both views' gradients equal the single-device ones (view 2's flows back through the gather).
  g_sharded = jax.grad(sharded, argnums=(0, 1))(jnp.asarray(z1), jnp.asarray(z2))
  g_single = jax.grad(loss_fn, argnums=(0, 1))(jnp.asarray(z1), jnp.asarray(z2), 0.1)
  for g_s, g_1 in zip(g_sharded, g_single):
    np.testing.assert_allclose(g_s, g_1, rtol=1e-4, atol=1e-6)
