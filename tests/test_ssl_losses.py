"""byol, moco_v3, dino, vicreg, barlow_twins and fixmatch: hand-computed values, numpy references of the
official implementations, stop-gradients, and 4 devices against 1 (pmean of the per-device loss)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxssl import losses, parallel


def unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def log_softmax(x):
  x = x - x.max(axis=-1, keepdims=True)
  return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def byol_numpy(p1, p2, z1, z2):
  total = 0.0
  for i in range(len(p1)):
    total += (2 - 2 * unit(p1[i]) @ unit(z2[i])) + (2 - 2 * unit(p2[i]) @ unit(z1[i]))
  return total / len(p1)


def moco_v3_numpy(q1, q2, k1, k2, temperature):
  def ctr(q, k):
    q, k = unit(q.astype(np.float64)), unit(k.astype(np.float64))
    total = 0.0
    for i in range(len(q)):
      logits = [q[i] @ k[j] / temperature for j in range(len(k))]
      total += -logits[i] + math.log(sum(math.exp(v) for v in logits))
    return total / len(q) * 2 * temperature
  return ctr(q1, k2) + ctr(q2, k1)


def dino_numpy(student, teacher, center, student_temperature, teacher_temperature, center_momentum):
  """The official DINOLoss.forward / update_center loop on one device."""
  student, teacher = student.astype(np.float64), teacher.astype(np.float64)
  n = len(teacher) // 2
  student_crops = np.split(student / student_temperature, len(student) // n)
  teacher_probs = np.exp(log_softmax((teacher - center) / teacher_temperature))
  total, n_loss_terms = 0.0, 0
  for iq, q in enumerate(np.split(teacher_probs, 2)):
    for v, s in enumerate(student_crops):
      if v == iq:
        continue
      total += np.sum(-q * log_softmax(s), axis=-1).mean()
      n_loss_terms += 1
  new_center = center * center_momentum + teacher.sum(axis=0, keepdims=True) / len(teacher) * (1 - center_momentum)
  return total / n_loss_terms, new_center


def off_diagonal_squares(m):
  return np.sum(m ** 2) - np.sum(np.diag(m) ** 2)


def vicreg_numpy(z1, z2, sim_weight=25.0, std_weight=25.0, cov_weight=1.0):
  z1, z2 = z1.astype(np.float64), z2.astype(np.float64)
  repr_loss = np.mean((z1 - z2) ** 2)
  std_loss = sum(np.mean(np.maximum(0.0, 1 - np.sqrt(np.var(z, axis=0, ddof=1) + 1e-4))) for z in (z1, z2)) / 2
  cov_loss = sum(off_diagonal_squares(np.cov(z, rowvar=False)) / z.shape[1] for z in (z1, z2))  # np.cov: N − 1.
  return sim_weight * repr_loss + std_weight * std_loss + cov_weight * cov_loss


def barlow_twins_numpy(z1, z2, lambd=0.0051):
  def bn(z):
    z = z.astype(np.float64)
    return (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)  # Biased variance, as BatchNorm normalises.
  c = bn(z1).T @ bn(z2) / len(z1)
  return np.sum((1 - np.diag(c)) ** 2) + lambd * off_diagonal_squares(c)


def fixmatch_numpy(logits_labelled, labels, logits_weak, logits_strong, threshold, unlabelled_weight):
  labelled = -np.mean(log_softmax(logits_labelled.astype(np.float64))[np.arange(len(labels)), labels])
  weak_probs = np.exp(log_softmax(logits_weak.astype(np.float64)))
  strong_log_probs = log_softmax(logits_strong.astype(np.float64))
  unlabelled = 0.0
  for j in range(len(logits_weak)):
    if weak_probs[j].max() >= threshold:
      unlabelled += -strong_log_probs[j, weak_probs[j].argmax()]
  return labelled + unlabelled_weight * unlabelled / len(logits_weak)


def test_byol_hand_computed():
  e0, e1 = jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]])
  assert float(losses.byol(e0, 2 * e0, 3 * e0, 0.5 * e0)) == pytest.approx(0.0, abs=1e-6)   # Same directions.
  assert float(losses.byol(e0, e0, -e0, -2 * e0)) == pytest.approx(8.0, rel=1e-6)          # Opposite ones.
  assert float(losses.byol(e0, e0, e1, e1)) == pytest.approx(4.0, rel=1e-6)                # Orthogonal ones.
  # p1 is compared with z2 and p2 with z1 (the other view's target), not with its own view's.
  assert float(losses.byol(e0, e1, e1, e0)) == pytest.approx(0.0, abs=1e-6)


def test_byol_matches_numpy_reference_and_targets_get_no_gradient():
  rng = np.random.default_rng(0)
  p1, p2, z1, z2 = rng.normal(size=(4, 6, 5)).astype(np.float32)
  np.testing.assert_allclose(losses.byol(p1, p2, z1, z2), byol_numpy(p1, p2, z1, z2), rtol=1e-5)
  grads = jax.jit(jax.grad(losses.byol, argnums=(0, 1, 2, 3)))(p1, p2, z1, z2)
  assert np.abs(grads[0]).sum() > 0 and np.abs(grads[1]).sum() > 0
  np.testing.assert_array_equal(grads[2], 0.0)
  np.testing.assert_array_equal(grads[3], 0.0)


def test_moco_v3_hand_computed():
  # Two images, q = k = orthogonal unit rows, T = 0.25: logits q·kᵀ/T = [[4, 0], [0, 4]], each query's
  # cross-entropy is log(1 + e^-4); × 2T = 0.5 per direction, two directions: log(1 + e^-4) in all.
  z = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  expected = math.log(1 + math.exp(-4.0))
  np.testing.assert_allclose(losses.moco_v3(z, z, z, z, temperature=0.25), expected, rtol=1e-5)
  np.testing.assert_allclose(losses.moco_v3(3 * z, z, 0.5 * z, z, temperature=0.25), expected, rtol=1e-5)


def test_moco_v3_matches_numpy_reference_and_keys_get_no_gradient():
  rng = np.random.default_rng(1)
  q1, q2, k1, k2 = rng.normal(size=(4, 6, 5)).astype(np.float32)
  np.testing.assert_allclose(losses.moco_v3(q1, q2, k1, k2), moco_v3_numpy(q1, q2, k1, k2, 0.2), rtol=1e-5)
  grads = jax.jit(jax.grad(losses.moco_v3, argnums=(0, 1, 2, 3)))(q1, q2, k1, k2)
  assert np.abs(grads[0]).sum() > 0 and np.abs(grads[1]).sum() > 0
  np.testing.assert_array_equal(grads[2], 0.0)
  np.testing.assert_array_equal(grads[3], 0.0)


def test_dino_hand_computed_and_new_center():
  # A uniform student (all logits equal) scores log K against any teacher distribution.
  teacher = jnp.array([[1.0, 2.0, 0.0], [3.0, 4.0, -1.0]])   # n = 1 image, K = 3.
  center = jnp.array([[10.0, 0.0, 5.0]])
  loss, new_center = losses.dino(jnp.zeros((4, 3)), teacher, center)
  np.testing.assert_allclose(loss, math.log(3.0), rtol=1e-6)
  # 0.9 · center + 0.1 · mean of the teacher rows [2, 3, -0.5].
  np.testing.assert_allclose(new_center, [[9.2, 0.3, 4.45]], rtol=1e-6)
  # The teacher is centred: a teacher equal to the center is uniform, so the term is the student's mean
  # −log s over classes; student logits [0, ln 4, 0] / T_s=1 give s = [1/6, 4/6, 1/6].
  student = jnp.tile(jnp.array([[0.0, math.log(4.0), 0.0]]), (2, 1))
  loss, _ = losses.dino(student, jnp.tile(center, (2, 1)), center, student_temperature=1.0)
  np.testing.assert_allclose(loss, -(2 * math.log(1 / 6) + math.log(4 / 6)) / 3, rtol=1e-6)


def test_dino_matches_the_official_loop_with_local_crops():
  rng = np.random.default_rng(2)
  n, num_crops, k = 3, 4, 5            # 2 global + 2 local crops.
  student = rng.normal(size=(num_crops * n, k)).astype(np.float32)
  teacher = rng.normal(size=(2 * n, k)).astype(np.float32)
  center = rng.normal(size=(1, k)).astype(np.float32)
  expected_loss, expected_center = dino_numpy(student, teacher, center, 0.1, 0.04, 0.9)
  # Teacher temperature as a traced scalar (a schedule's value), in one jit with the gradients.
  def loss_fn(s, t, c, t_t):
    return losses.dino(s, t, c, teacher_temperature=t_t)
  (loss, new_center), grads = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1, 2), has_aux=True))(
      student, teacher, center, jnp.float32(0.04))
  np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
  np.testing.assert_allclose(new_center, expected_center, rtol=1e-5)
  assert np.abs(grads[0]).sum() > 0
  np.testing.assert_array_equal(grads[1], 0.0)      # The teacher gets no gradient,
  np.testing.assert_array_equal(grads[2], 0.0)      # nor the center.


def test_vicreg_hand_computed():
  # z1 = [[.5, .5], [-.5, -.5]], z2 = z1 + 1: repr = mean((−1)²) = 1. Each column of either branch has mean 0
  # and unbiased variance (.25 + .25) / 1 = .5, so std = mean_d relu(1 − sqrt(.5 + 1e-4)) per branch; the
  # off-diagonal covariance is .5 (twice), so cov = 2 · .25 / D=2 = .25 per branch, .5 for both.
  z1 = jnp.array([[0.5, 0.5], [-0.5, -0.5]])
  expected = 25 * 1.0 + 25 * (1 - math.sqrt(0.5001)) + 0.5
  np.testing.assert_allclose(losses.vicreg(z1, z1 + 1), expected, rtol=1e-6)
  # A biased variance (.25) would give the std term 25 · (1 − sqrt(.2501)) instead.
  assert abs(float(losses.vicreg(z1, z1 + 1)) - (25 + 25 * (1 - math.sqrt(0.2501)) + 0.5)) > 1


def test_vicreg_matches_numpy_reference():
  rng = np.random.default_rng(3)
  z1, z2 = (0.3 * rng.normal(size=(2, 10, 6))).astype(np.float32)   # Small spread: the std term is active.
  np.testing.assert_allclose(losses.vicreg(z1, z2), vicreg_numpy(z1, z2), rtol=1e-5)
  np.testing.assert_allclose(losses.vicreg(z1, z2, 1.0, 2.0, 3.0), vicreg_numpy(z1, z2, 1.0, 2.0, 3.0), rtol=1e-5)


def test_barlow_twins_hand_computed():
  # Columns of z are ±1 with mean 0, biased variance 1 and orthogonal: BN(z) = z / sqrt(1 + 1e-5), so
  # c = BN(z)ᵀ BN(z) / 4 = I / (1 + 1e-5).
  z = jnp.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
  assert float(losses.barlow_twins(z, z)) == pytest.approx(0.0, abs=1e-8)             # Identical: c ≈ I.
  assert float(losses.barlow_twins(z, 3 * z + 7)) == pytest.approx(0.0, abs=1e-8)     # BN removes scale, shift.
  assert float(losses.barlow_twins(z, -z)) == pytest.approx(8.0, rel=1e-4)            # c = −I: 2 · (1 + 1)².
  # Swapped columns: c = [[0, 1], [1, 0]], so Σ (1 − c_ii)² = 2 and λ Σ_{i≠j} c_ij² = 2λ.
  assert float(losses.barlow_twins(z, z[:, ::-1], lambd=0.1)) == pytest.approx(2.2, rel=1e-4)


def test_barlow_twins_matches_numpy_reference():
  rng = np.random.default_rng(4)
  z1 = rng.normal(size=(12, 6)).astype(np.float32)
  z2 = (z1 + 0.5 * rng.normal(size=(12, 6))).astype(np.float32)
  np.testing.assert_allclose(losses.barlow_twins(z1, z2), barlow_twins_numpy(z1, z2), rtol=1e-5)
  np.testing.assert_allclose(losses.barlow_twins(z1, z2, 0.5), barlow_twins_numpy(z1, z2, 0.5), rtol=1e-5)


def test_fixmatch_hand_computed_with_one_confident_image():
  # Max weak probabilities 1/(1 + e^-5) = 0.9933, 1/2 and e/(1 + e) = 0.731: only image 0 passes 0.95, with
  # pseudo-label 0; its strong logits [0, ln 3] give CE −log(1/4) = ln 4, and the mean over all 3 unlabelled
  # images is ln 4 / 3 (the other two count as 0). Labelled: logits [0, ln 3], label 1 -> −log(3/4).
  logits_labelled, labels = jnp.array([[0.0, math.log(3.0)]]), jnp.array([1])
  weak = jnp.array([[5.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
  strong = jnp.array([[0.0, math.log(3.0)], [9.0, -9.0], [-9.0, 9.0]])
  terms = losses.fixmatch_terms(logits_labelled, labels, weak, strong)
  np.testing.assert_allclose(terms["labelled"], math.log(4 / 3), rtol=1e-6)
  np.testing.assert_allclose(terms["unlabelled"], math.log(4.0) / 3, rtol=1e-6)
  np.testing.assert_allclose(terms["mask_fraction"], 1 / 3, rtol=1e-6)
  total = losses.fixmatch(logits_labelled, labels, weak, strong, unlabelled_weight=2.0)
  np.testing.assert_allclose(total, math.log(4 / 3) + 2 * math.log(4.0) / 3, rtol=1e-6)
  # Only the confident image's strong logits get a gradient; the weak logits get none.
  g_weak, g_strong = jax.grad(losses.fixmatch, argnums=(2, 3))(logits_labelled, labels, weak, strong)
  np.testing.assert_array_equal(g_weak, 0.0)
  assert np.abs(g_strong[0]).sum() > 0
  np.testing.assert_array_equal(g_strong[1:], 0.0)


def test_fixmatch_reads_pseudo_labels_from_the_weak_probabilities_it_is_given():
  # The same images as above with aligned probabilities instead of softmax(weak): only image 1 passes 0.95,
  # pseudo-label 1; its strong logits [9, −9] give CE log(1 + e^18), over 3 images.
  logits_labelled, labels = jnp.array([[0.0, math.log(3.0)]]), jnp.array([1])
  weak = jnp.array([[5.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
  strong = jnp.array([[0.0, math.log(3.0)], [9.0, -9.0], [-9.0, 9.0]])
  weak_probs = jnp.array([[0.5, 0.5], [0.02, 0.98], [0.9, 0.1]])
  terms = losses.fixmatch_terms(logits_labelled, labels, weak, strong, weak_probs=weak_probs)
  np.testing.assert_allclose(terms["unlabelled"], math.log1p(math.exp(18.0)) / 3, rtol=1e-6)
  np.testing.assert_allclose(terms["mask_fraction"], 1 / 3, rtol=1e-6)


def test_distribution_alignment_hand_computed_over_two_steps():
  # Step 0: p_model is this batch's mean [0.65, 0.25, 0.1] (0.01 · mean / (1 − 0.99)); row 0 / p_model =
  # [14/13, 0.8, 1], renormalised. The over-predicted class 0 is damped, the rare class 2 raised.
  probs = jnp.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]])
  aligned, mean = losses.distribution_alignment(probs, jnp.zeros(3), 0.99, jnp.asarray(0))
  first = np.array([0.65, 0.25, 0.1])
  np.testing.assert_allclose(mean, 0.01 * first, rtol=1e-6)
  row = np.array([14 / 13, 0.8, 1.0])
  np.testing.assert_allclose(aligned[0], row / row.sum(), rtol=1e-6)
  np.testing.assert_allclose(aligned.sum(-1), 1.0, rtol=1e-6)
  # Step 1, a batch whose mean is uniform: p_model = (0.99 · 0.01 · first + 0.01 / 3) / (1 − 0.99²).
  uniform = jnp.array([[0.5, 0.25, 0.25], [1 / 6, 5 / 12, 5 / 12]])
  aligned, mean = losses.distribution_alignment(uniform, mean, 0.99, jnp.asarray(1))
  p_model = (0.99 * 0.01 * first + 0.01 / 3) / (1 - 0.99 ** 2)
  np.testing.assert_allclose(mean, 0.99 * 0.01 * first + 0.01 / 3, rtol=1e-6)
  expected = np.asarray(uniform) / p_model
  np.testing.assert_allclose(aligned, expected / expected.sum(-1, keepdims=True), rtol=1e-5)
  # With momentum 0, p_model is the batch's own mean: a batch already uniform on average is left as it is.
  unchanged, _ = losses.distribution_alignment(uniform, jnp.zeros(3), 0.0, jnp.asarray(5))
  np.testing.assert_allclose(unchanged, uniform, rtol=1e-6)


def test_distribution_alignment_on_4_devices_equals_the_global_batch(devices):
  rng = np.random.default_rng(8)
  probs = np.asarray(jax.nn.softmax(3 * rng.normal(size=(16, 5)), -1), np.float32)
  running = (0.01 * rng.uniform(size=5)).astype(np.float32)
  align = lambda p, r, axis_name=None: losses.distribution_alignment(p, r, 0.9, jnp.asarray(3), axis_name)
  sharded = jax.shard_map(lambda p, r: align(p, r, parallel.DATA), mesh=parallel.make_mesh(devices),
                          in_specs=(P(parallel.DATA), P()), out_specs=(P(parallel.DATA), P()))
  for got, want in zip(jax.jit(sharded)(probs, running), align(probs, running)):
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_fixmatch_matches_numpy_reference():
  rng = np.random.default_rng(5)
  logits_labelled = rng.normal(size=(6, 4)).astype(np.float32)
  labels = rng.integers(0, 4, size=6)
  weak, strong = (3 * rng.normal(size=(2, 16, 4))).astype(np.float32)
  expected = fixmatch_numpy(logits_labelled, labels, weak, strong, 0.8, 0.5)
  terms = losses.fixmatch_terms(logits_labelled, labels, weak, strong, threshold=0.8)
  assert 0 < float(terms["mask_fraction"]) < 1      # Some images pass the threshold, some do not.
  np.testing.assert_allclose(losses.fixmatch(logits_labelled, labels, weak, strong, 0.8, 0.5), expected, rtol=1e-5)


def _byol(p1, p2, z1, z2, axis_name=None):
  return losses.byol(p1, p2, z1, z2)


def _fixmatch(logits_labelled, labels, weak, strong, axis_name=None):
  return losses.fixmatch(logits_labelled, labels, weak, strong, threshold=0.8)


def _inputs(name, rng):
  """Arrays of a global batch of 16 images (those the loss differentiates first), and their argnums."""
  if name == "fixmatch":
    labels = rng.integers(0, 4, size=8).astype(np.int32)
    logits_labelled, weak, strong = (3 * rng.normal(size=(3, 8, 4))).astype(np.float32)
    return (logits_labelled, labels, weak, strong), (0, 2, 3)
  count = 4 if name in ("byol", "moco_v3") else 2
  return tuple((0.5 * rng.normal(size=(count, 16, 8))).astype(np.float32)), tuple(range(count))


@pytest.mark.parametrize("name,loss_fn", [("byol", _byol), ("moco_v3", losses.moco_v3), ("vicreg", losses.vicreg),
                                          ("barlow_twins", losses.barlow_twins), ("fixmatch", _fixmatch)])
def test_pmean_over_4_devices_equals_the_loss_on_the_global_batch(devices, name, loss_fn):
  args, argnums = _inputs(name, np.random.default_rng(6))
  mesh = parallel.make_mesh(devices)

  def per_device(*local):
    return jax.lax.pmean(loss_fn(*local, axis_name=parallel.DATA), parallel.DATA)

  sharded = jax.shard_map(per_device, mesh=mesh, in_specs=(P(parallel.DATA),) * len(args), out_specs=P())
  loss_4, grads_4 = jax.jit(jax.value_and_grad(sharded, argnums))(*args)
  loss_1, grads_1 = jax.jit(jax.value_and_grad(loss_fn, argnums))(*args)
  np.testing.assert_allclose(loss_4, loss_1, rtol=1e-5)
  for g_4, g_1 in zip(grads_4, grads_1):
    np.testing.assert_allclose(g_4, g_1, rtol=1e-4, atol=1e-6)


def test_dino_on_4_devices_equals_the_loss_and_center_on_the_global_batch(devices):
  rng = np.random.default_rng(7)
  num_crops, big_n, k = 4, 8, 6
  student = rng.normal(size=(num_crops, big_n, k)).astype(np.float32)   # [crop, image, K] of the global batch.
  teacher = rng.normal(size=(2, big_n, k)).astype(np.float32)
  center = rng.normal(size=(1, k)).astype(np.float32)
  mesh = parallel.make_mesh(devices)

  def per_device(s, t, c):
    # Each device holds its images' crops, crop-major: [crop, local image, K] -> [V·n, K].
    loss, new_center = losses.dino(s.reshape(-1, k), t.reshape(-1, k), c, axis_name=parallel.DATA)
    return jax.lax.pmean(loss, parallel.DATA), new_center

  sharded = jax.shard_map(per_device, mesh=mesh, in_specs=(P(None, parallel.DATA), P(None, parallel.DATA), P()),
                          out_specs=(P(), P()))
  (loss_4, center_4), g_4 = jax.jit(jax.value_and_grad(sharded, has_aux=True))(student, teacher, center)

  def single(s, t, c):
    return losses.dino(s.reshape(-1, k), t.reshape(-1, k), c)

  (loss_1, center_1), g_1 = jax.jit(jax.value_and_grad(single, has_aux=True))(student, teacher, center)
  np.testing.assert_allclose(loss_4, loss_1, rtol=1e-5)
  np.testing.assert_allclose(center_4, center_1, rtol=1e-5)
  np.testing.assert_allclose(g_4, g_1, rtol=1e-4, atol=1e-6)
