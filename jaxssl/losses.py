"""Losses: pure functions of arrays. Most return a scalar; those a method reads in parts return their terms
(`paws_terms`, `fixmatch_terms`, `distribution_alignment`), DINO its new centre beside the loss, and
`kl_to_standard_normal` one value an image: each docstring says.

Under `jax.shard_map` a loss given `axis_name` returns this device's mean over its own anchors, computed
against embeddings gathered from every device (Barlow Twins, whose cross-correlation is of the global batch,
returns the global batch's loss on every device); the train step averages it over devices with `lax.pmean`
(every device holds the same number of anchors, so that is the mean over the global batch).
"""
import jax
import jax.numpy as jnp
import optax
from jax import lax


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy. logits float [B, C], labels int [B] -> scalar."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  """Scales each row of x [B, D] to unit L2 norm."""
  return x * lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), eps))


def gather_rows(x: jax.Array, axis_name: str | None) -> tuple[jax.Array, jax.Array]:
  """Rows of x [n, ...] from every device along `axis_name`, concatenated in device order ([n·D, ...]),
  and the offset of this device's rows in that concatenation (0 without `axis_name`)."""
  if axis_name is None:
    return x, jnp.asarray(0)
  return lax.all_gather(x, axis_name, tiled=True), lax.axis_index(axis_name) * x.shape[0]


def nt_xent(z1: jax.Array, z2: jax.Array, temperature: float = 0.1, axis_name: str | None = None) -> jax.Array:
  """Symmetric NT-Xent (SimCLR's normalised temperature-scaled cross-entropy).

  z1, z2: float [n, D], embeddings of two views of the same n images (row i of z1 pairs with row i of z2).
  Embeddings are L2-normalised. Each of the 2n anchors is scored against all 2N embeddings of the global
  batch (N = n × devices when `axis_name` is given; negatives gathered from every device) with cosine / T;
  its positive is the other view of its image, itself is excluded, and its loss is the cross-entropy of
  picking the positive among the other 2N − 1.

  Normalisation: the MEAN over the 2n anchors (= the average of the z1→z2 and z2→z1 directions).
  Returns a scalar (this device's mean when `axis_name` is given; see the module docstring).
  """
  n = z1.shape[0]
  z = l2_normalize(jnp.concatenate([z1, z2]))                       # [2n, D] local anchors.
  g1, offset = gather_rows(l2_normalize(z1), axis_name)
  g2, _ = gather_rows(l2_normalize(z2), axis_name)
  columns = jnp.concatenate([g1, g2])                                # [2N, D], all views 1 then all views 2.
  big_n = g1.shape[0]
  logits = z @ columns.T / temperature                               # [2n, 2N]
  rows = offset + jnp.arange(n)
  self_col = jnp.concatenate([rows, big_n + rows])
  positive_col = jnp.concatenate([big_n + rows, rows])
  logits = jnp.where(jnp.arange(2 * big_n)[None, :] == self_col[:, None], -jnp.inf, logits)
  return cross_entropy(logits, positive_col)


def info_nce(z1: jax.Array, z2: jax.Array, temperature: float = 0.1, axis_name: str | None = None) -> jax.Array:
  """One-directional InfoNCE (the Keras semi-supervised baselines' InfoNCE): view 1 picks its view 2.

  z1, z2: float [n, D], embeddings of two views of the same n images (row i of z1 pairs with row i of z2),
  L2-normalised here. logits = z1 · z2ᵀ / T [n, N] against the view-2 embeddings of the whole global batch
  (N = n × devices when `axis_name` is given; gathered from every device, as in `nt_xent`), and
    l_i = −log( exp(z1_i · z2_i / T) / Σ_j exp(z1_i · z2_j / T) ),   j over the N columns,
  i.e. the cross-entropy of each row with its positive on the (global) diagonal. Unlike `nt_xent` there are
  no view-1 negatives and no z2 -> z1 direction, so the loss is not symmetric in (z1, z2).

  Normalisation: the MEAN over the n anchors. Returns a scalar (this device's mean under `axis_name`).
  """
  columns, offset = gather_rows(l2_normalize(z2), axis_name)       # [N, D]
  logits = l2_normalize(z1) @ columns.T / temperature               # [n, N]
  return cross_entropy(logits, offset + jnp.arange(z1.shape[0]))


def _mean_over_global_count(per_anchor: jax.Array, valid: jax.Array, axis_name: str | None) -> jax.Array:
  """Mean of per_anchor [n] over the anchors where `valid` [n], counted over every device: with `axis_name`
  returns this device's share (sum / global count × devices), so pmean over devices gives the global mean."""
  total = jnp.sum(jnp.where(valid, per_anchor, 0.0))
  count = jnp.sum(valid).astype(per_anchor.dtype)
  if axis_name is not None:
    count = lax.psum(count, axis_name) / lax.psum(1, axis_name)
  return total / jnp.maximum(count, 1.0)


def supcon(z: jax.Array, labels: jax.Array, temperature: float = 0.1, axis_name: str | None = None,
           form: str = "suncet") -> jax.Array:
  """Supervised contrastive loss on labelled embeddings (SuNCEt / SupCon).

  z: float [n, D] embeddings (L2-normalised here), labels: int [n]. Each anchor i is scored against every
  other embedding a of the global batch (gathered over `axis_name`) with s_ia = cos(z_i, z_a) / T; its
  positives P(i) are the others with the same label.
  - form="suncet" (default; the SuNCEt seed's soft-nearest-neighbour loss, SupCon's L_in less its constant
    log|P(i)| an anchor, so the same gradient):
      l_i = -log( Σ_{p∈P(i)} exp s_ip / Σ_{a≠i} exp s_ia )
  - form="supcon" (SupCon's L_out, which Khosla et al. found better with many positives per anchor):
      l_i = -1/|P(i)| Σ_{p∈P(i)} log( exp s_ip / Σ_{a≠i} exp s_ia )
  SuNCEt is the default because it is what the SuNCEt/Keras baselines this method reproduces used.
  Anchors with no positive contribute nothing (no NaN); the loss is the mean over anchors that have one,
  counted over all devices (0 if none has). Returns a scalar (this device's share under `axis_name`).
  """
  if form not in ("suncet", "supcon"):
    raise ValueError(f"supcon form must be 'suncet' or 'supcon', got {form!r}")
  z = l2_normalize(z)
  columns, offset = gather_rows(z, axis_name)
  column_labels, _ = gather_rows(labels, axis_name)
  n = z.shape[0]
  not_self = jnp.arange(columns.shape[0])[None, :] != (offset + jnp.arange(n))[:, None]   # [n, N]
  positive = not_self & (labels[:, None] == column_labels[None, :])
  logits = jnp.where(not_self, z @ columns.T / temperature, -jnp.inf)
  log_prob = logits - jax.nn.logsumexp(logits, axis=1, keepdims=True)
  num_pos = positive.sum(axis=1)
  valid = num_pos > 0
  # Rows without a positive use every other column instead (a finite stand-in, masked out below), so that
  # neither the loss nor its gradient sees a log-sum-exp over nothing.
  positive = jnp.where(valid[:, None], positive, not_self)
  if form == "suncet":
    per_anchor = -jax.nn.logsumexp(jnp.where(positive, log_prob, -jnp.inf), axis=1)
  else:
    per_anchor = -jnp.sum(jnp.where(positive, log_prob, 0.0), axis=1) / positive.sum(axis=1)
  return _mean_over_global_count(per_anchor, valid, axis_name)


def sharpen(p: jax.Array, temperature: float) -> jax.Array:
  """p^(1/T) renormalised over the last axis: a lower T gives a more confident distribution. [.., C]."""
  p = p ** (1.0 / temperature)
  return p / jnp.sum(p, axis=-1, keepdims=True)


def snn(queries: jax.Array, support: jax.Array, support_targets: jax.Array, tau: float) -> jax.Array:
  """Soft nearest-neighbour class probabilities: softmax(norm(q) · norm(S)ᵀ / τ) @ Y.
  queries [n, D], support [m, D], support_targets [m, C] (rows sum to 1) -> [n, C]."""
  weights = jax.nn.softmax(l2_normalize(queries) @ l2_normalize(support).T / tau, axis=-1)
  return weights @ support_targets


def paws_terms(anchors: tuple[jax.Array, jax.Array], support: jax.Array, support_labels: jax.Array,
               num_classes: int, tau: float = 0.1, sharpen_temperature: float = 0.25, label_smoothing: float = 0.1,
               me_max: bool = True, small_anchors: jax.Array | None = None,
               targets: tuple[jax.Array, jax.Array, jax.Array] | None = None,
               axis_name: str | None = None) -> tuple[jax.Array, jax.Array]:
  """The two terms of the PAWS loss (Assran et al. 2021), (cross-entropy, me-max); `paws` is their sum.

  Predict, for each view, the sharpened soft-nearest-neighbour pseudo-label of the other.

  anchors: two views' embeddings (z1, z2), each [n, D], row i of both from image i.
  support: embeddings [m, D] of the labelled support batch with int labels [m]; gathered over `axis_name`,
    labels smoothed: Y = (1 − ε)·onehot + ε / C.
  small_anchors: optional [k·n, D] multi-crop views (k crops of each image, crop-major); their target is
    the mean of the two large views' targets.
  targets: optional (h1 [n, D], h2 [n, D], support [m, D]) embeddings the pseudo-labels are computed from
    instead of the anchors' — the paper's code with a prediction head: anchors = pred(h), targets from h.
  p_v = snn(z_v, S, Y, τ); targets t_1 = sharpen(p_2, T), t_2 = sharpen(p_1, T) with stop-gradient (entries
  below 1e-4 zeroed, as the reference code does); loss = mean over anchors of H(t, p) = −Σ_c t_c log p_c,
  minus (with `me_max`) the entropy H(p̄) of p̄ = mean over all anchors (and devices) of sharpen(p, T).
  Returns (cross-entropy, −H(p̄) or 0) — the cross-entropy is this device's mean under `axis_name`.
  """
  support, _ = gather_rows(support, axis_name)
  support_labels, _ = gather_rows(support_labels, axis_name)
  targets_y = optax.smooth_labels(jax.nn.one_hot(support_labels, num_classes), label_smoothing)
  z1, z2 = anchors
  n = z1.shape[0]
  queries = jnp.concatenate([z1, z2] + ([small_anchors] if small_anchors is not None else []))
  probs = snn(queries, support, targets_y, tau)
  target_probs = probs
  if targets is not None:
    h1, h2, target_support = targets
    target_probs = snn(jnp.concatenate([h1, h2]), gather_rows(target_support, axis_name)[0], targets_y, tau)
  target = lax.stop_gradient(sharpen(jnp.concatenate([target_probs[n:2 * n], target_probs[:n]]), sharpen_temperature))
  target = jnp.where(target < 1e-4, 0.0, target)
  if small_anchors is not None:
    mean_target = 0.5 * (target[:n] + target[n:])
    target = jnp.concatenate([target, jnp.tile(mean_target, (small_anchors.shape[0] // n, 1))])
  ce = jnp.mean(-jnp.sum(target * jnp.log(jnp.maximum(probs, 1e-12)), axis=-1))
  me_max_term = jnp.zeros(())
  if me_max:
    avg = jnp.mean(sharpen(probs, sharpen_temperature), axis=0)
    avg = lax.pmean(avg, axis_name) if axis_name is not None else avg
    me_max_term = jnp.sum(avg * jnp.log(jnp.maximum(avg, 1e-12)))  # = −H(p̄).
  return ce, me_max_term


def paws(*args, **kwargs) -> jax.Array:
  """The PAWS loss: cross-entropy to the other view's sharpened pseudo-label − H(p̄); arguments, shapes and
  conventions as `paws_terms`. Returns a scalar (this device's share under `axis_name`)."""
  ce, me_max_term = paws_terms(*args, **kwargs)
  return ce + me_max_term


def kl_to_standard_normal(mean: jax.Array, log_var: jax.Array) -> jax.Array:
  """KL(N(mean, exp(log_var)) ‖ N(0, I)) per example: −½ Σ_d (1 + log σ² − μ² − σ²). [B, Z] -> [B]."""
  return -0.5 * jnp.sum(1.0 + log_var - mean ** 2 - jnp.exp(log_var), axis=-1)


def elbo_terms(images: jax.Array, decoded: jax.Array, mean: jax.Array, log_var: jax.Array,
               likelihood: str = "bernoulli") -> tuple[jax.Array, jax.Array]:
  """The two terms of a VAE's negative ELBO, (reconstruction, KL), each averaged over the batch.

  images: targets in [0, 1], [B, H, W, C]; decoded: the decoder's output [B, H, W, C] — logits for
  likelihood="bernoulli" (reconstruction = Σ_pixels binary cross-entropy), the mean image for "gaussian"
  (reconstruction = ½ Σ_pixels squared error: a unit-variance Gaussian, constants dropped).
  mean, log_var: posterior parameters [B, Z].
  """
  if likelihood == "bernoulli":
    per_pixel = optax.sigmoid_binary_cross_entropy(decoded, images)
  elif likelihood == "gaussian":
    per_pixel = 0.5 * (decoded - images) ** 2
  else:
    raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
  return jnp.mean(jnp.sum(per_pixel, axis=(1, 2, 3))), jnp.mean(kl_to_standard_normal(mean, log_var))


def elbo(images: jax.Array, decoded: jax.Array, mean: jax.Array, log_var: jax.Array, beta: float = 1.0,
         likelihood: str = "bernoulli") -> jax.Array:
  """Negative ELBO averaged over the batch: reconstruction + β · KL (terms, shapes: `elbo_terms`). Scalar."""
  reconstruction, kl = elbo_terms(images, decoded, mean, log_var, likelihood)
  return reconstruction + beta * kl


def triplet(anchor: jax.Array, positive: jax.Array, margin: float = 0.5, axis_name: str | None = None) -> jax.Array:
  """Triplet margin loss with squared L2 distances: mean_i max(0, ‖a_i − p_i‖² − ‖a_i − n_i‖² + margin).

  anchor, positive: [n, D] (row i of each from the same image). The negative of anchor i is the positive
  of the next image in the global batch (index (g + 1) mod N, positives gathered over `axis_name`), so
  every anchor gets a different image. Returns a scalar (this device's mean under `axis_name`).
  """
  all_positive, offset = gather_rows(positive, axis_name)
  negative = jnp.roll(all_positive, -1, axis=0)[offset + jnp.arange(anchor.shape[0])]
  d_pos = jnp.sum((anchor - positive) ** 2, axis=-1)
  d_neg = jnp.sum((anchor - negative) ** 2, axis=-1)
  return jnp.mean(jnp.maximum(0.0, d_pos - d_neg + margin))


def _sum_over_devices(x: jax.Array, axis_name: str | None) -> jax.Array:
  """x summed over the devices along `axis_name` (x itself without one)."""
  return x if axis_name is None else lax.psum(x, axis_name)


def _global_rows(n: int, axis_name: str | None) -> int | jax.Array:
  """Rows in the global batch when every device along `axis_name` holds n."""
  return n if axis_name is None else n * lax.psum(1, axis_name)


def _global_batch_mean(x: jax.Array, axis_name: str | None) -> jax.Array:
  """Mean of x [n, ...] over the rows of the global batch: the sum over every device's rows / their count."""
  return _sum_over_devices(jnp.sum(x, axis=0), axis_name) / _global_rows(x.shape[0], axis_name)


def byol(p1: jax.Array, p2: jax.Array, z1: jax.Array, z2: jax.Array) -> jax.Array:
  """BYOL's symmetric regression loss (Grill et al. 2020).

  p1, p2: float [n, D], the online network's predictions for views 1 and 2; z1, z2: float [n, D], the target
  network's projections of the same views (row i of all four from image i), under stop-gradient. Each
  direction is the squared distance of the L2-normalised vectors, 2 − 2·cos(p, z), and the two are summed:
    l_i = (2 − 2·cos(p1_i, z2_i)) + (2 − 2·cos(p2_i, z1_i)),   in [0, 8].

  Normalisation: the MEAN over the n images of that sum. Needs no other device's rows, so there is no
  `axis_name`: under `jax.shard_map` it is this device's mean, and pmean over devices gives the global one.
  """
  def direction(p, z):
    return 2.0 - 2.0 * jnp.sum(l2_normalize(p) * l2_normalize(lax.stop_gradient(z)), axis=-1)

  return jnp.mean(direction(p1, z2) + direction(p2, z1))


def moco_v3(q1: jax.Array, q2: jax.Array, k1: jax.Array, k2: jax.Array, temperature: float = 0.2,
            axis_name: str | None = None) -> jax.Array:
  """MoCo v3's symmetric contrastive loss (Chen, Xie & He 2021).

  q1, q2: float [n, D], the base encoder's queries for views 1 and 2; k1, k2: float [n, D], the momentum
  encoder's keys of the same views (row i of all four from image i), under stop-gradient and gathered from
  every device along `axis_name` (N = n × devices keys). Both are L2-normalised. Each direction is
    ctr(q, k) = 2T · mean_i −log( exp(q_i · k_{o+i} / T) / Σ_j exp(q_i · k_j / T) ),   j over the N keys,
  with the positive at the global diagonal (o = this device's offset in the gathered keys); the 2T factor
  is the official code's. Returns ctr(q1, k2) + ctr(q2, k1), a scalar (this device's mean over its n
  queries under `axis_name`; see the module docstring).
  """
  def contrast(q, k):
    keys, offset = gather_rows(l2_normalize(lax.stop_gradient(k)), axis_name)   # [N, D]
    logits = l2_normalize(q) @ keys.T / temperature                             # [n, N]
    return 2.0 * temperature * cross_entropy(logits, offset + jnp.arange(q.shape[0]))

  return contrast(q1, k2) + contrast(q2, k1)


def dino(student: jax.Array, teacher: jax.Array, center: jax.Array, student_temperature: float = 0.1,
         teacher_temperature: float | jax.Array = 0.04, center_momentum: float = 0.9,
         axis_name: str | None = None) -> tuple[jax.Array, jax.Array]:
  """DINO's self-distillation loss and its updated teacher center (Caron et al. 2021).

  student: float [V·n, K] logits of V crops of n images, crop-major (crop 0 of every image, then crop 1, …);
    crops 0 and 1 are the two global views, the rest local ones.
  teacher: float [2·n, K] logits of the two global views, crop-major too.
  center: float [1, K], the running center of the teacher's logits.
  Teacher probabilities t_q = softmax((teacher_q − center) / T_t) under stop-gradient (neither teacher nor
  center gets a gradient; T_t may be a traced scalar, e.g. from a schedule); student log-probabilities
  log s_v = log_softmax(student_v / T_s). For each pair of a teacher view q ∈ {0, 1} and a student crop v ≠ q,
  the term is the mean over the n images of −Σ_K t_q · log s_v.

  Normalisation: the MEAN over the 2·(V − 1) pairs (the official code's sum of terms / n_loss_terms), so
  under `axis_name` this device's mean over its images (see the module docstring).
  new_center = m · center + (1 − m) · (mean of the teacher's rows over the global batch: the sum over every
  device's 2·n rows / their count), under stop-gradient and the same on every device.
  Returns (loss, new_center [1, K]).
  """
  n = teacher.shape[0] // 2
  if teacher.shape[0] != 2 * n or student.shape[0] % n:
    raise ValueError(f"dino expects teacher [2·n, K] and student [V·n, K], got {teacher.shape} and {student.shape}")
  num_crops = student.shape[0] // n
  teacher_probs = lax.stop_gradient(jax.nn.softmax((teacher - center) / teacher_temperature, axis=-1))
  teacher_probs = teacher_probs.reshape(2, n, -1)
  student_log_probs = jax.nn.log_softmax(student / student_temperature, axis=-1).reshape(num_crops, n, -1)
  terms = -jnp.einsum("qik,vik->qv", teacher_probs, student_log_probs) / n            # [2, V]
  other_view = jnp.arange(2)[:, None] != jnp.arange(num_crops)[None, :]
  loss = jnp.sum(jnp.where(other_view, terms, 0.0)) / (2 * (num_crops - 1))
  new_center = center * center_momentum + (1.0 - center_momentum) * _global_batch_mean(teacher, axis_name)[None]
  return loss, lax.stop_gradient(new_center)


def vicreg(z1: jax.Array, z2: jax.Array, sim_weight: float = 25.0, std_weight: float = 25.0, cov_weight: float = 1.0,
           axis_name: str | None = None) -> jax.Array:
  """VICReg's variance-invariance-covariance loss (Bardes, Ponce & LeCun 2022), as the official code computes it.

  z1, z2: float [n, D], embeddings of two views of the same n images (row i of z1 pairs with row i of z2).
  - invariance: repr = mean over the n·D elements of (z1 − z2)².
  - variance, per branch z (gathered from every device along `axis_name`: N = n × devices rows):
      std(z) = mean_d relu(1 − sqrt(Var_d(z) + 1e-4)),   Var unbiased (divided by N − 1, as torch.var);
    std_loss = (std(z1) + std(z2)) / 2.
  - covariance, per branch: C = (z − z̄)ᵀ (z − z̄) / (N − 1) [D, D], cov(z) = Σ_{i≠j} C_ij² / D;
    cov_loss = cov(z1) + cov(z2).
  loss = sim_weight · repr + std_weight · std_loss + cov_weight · cov_loss, a scalar.
  Under `axis_name` the variance and covariance use the global batch's statistics (the same on every device)
  and repr is this device's mean, so pmean over devices equals the loss on the global batch.
  """
  def variance_and_covariance(z):
    z, _ = gather_rows(z, axis_name)                                 # [N, D]
    big_n, dim = z.shape
    z = z - jnp.mean(z, axis=0)
    cov = z.T @ z / (big_n - 1)
    variance = jnp.diagonal(cov)
    std_term = jnp.mean(jax.nn.relu(1.0 - jnp.sqrt(variance + 1e-4)))
    cov_term = jnp.sum(jnp.where(jnp.eye(dim, dtype=bool), 0.0, cov ** 2)) / dim
    return std_term, cov_term

  representation = jnp.mean((z1 - z2) ** 2)
  std1, cov1 = variance_and_covariance(z1)
  std2, cov2 = variance_and_covariance(z2)
  return sim_weight * representation + std_weight * (std1 + std2) / 2 + cov_weight * (cov1 + cov2)


def barlow_twins(z1: jax.Array, z2: jax.Array, lambd: float = 0.0051, axis_name: str | None = None) -> jax.Array:
  """Barlow Twins' redundancy-reduction loss (Zbontar et al. 2021), as the official code computes it.

  z1, z2: float [n, D], embeddings of two views of the same n images (row i of z1 pairs with row i of z2).
  Each branch is normalised as BatchNorm without affine parameters does in training: BN(z) = (z − mean) /
  sqrt(var + 1e-5), batch mean and biased variance over the global batch (N = n × devices rows when
  `axis_name` is given). The cross-correlation c = BN(z1)ᵀ BN(z2) / N [D, D] (under `axis_name` each
  device's BN(z1)ᵀ BN(z2) summed over devices), and
    loss = Σ_i (1 − c_ii)² + lambd · Σ_{i≠j} c_ij².
  Returns a scalar: under `axis_name` the loss on the global batch, the same on every device, so pmean over
  devices equals it too. Its gradient is the global loss's (the official code's plain all_reduce of c, not
  differentiated through, scales it by 1 / devices).
  """
  def batch_norm(z):
    mean = _global_batch_mean(z, axis_name)
    variance = _global_batch_mean((z - mean) ** 2, axis_name)
    return (z - mean) * lax.rsqrt(variance + 1e-5)

  c = _sum_over_devices(batch_norm(z1).T @ batch_norm(z2), axis_name) / _global_rows(z1.shape[0], axis_name)
  on_diagonal = jnp.sum((1.0 - jnp.diagonal(c)) ** 2)
  off_diagonal = jnp.sum(jnp.where(jnp.eye(c.shape[0], dtype=bool), 0.0, c ** 2))
  return on_diagonal + lambd * off_diagonal


def fixmatch_terms(logits_labelled: jax.Array, labels: jax.Array, logits_weak: jax.Array, logits_strong: jax.Array,
                   threshold: float = 0.95, weak_probs: jax.Array | None = None) -> dict[str, jax.Array]:
  """The terms of the FixMatch loss (Sohn et al. 2020); `fixmatch` combines them.

  logits_labelled: float [b, C] with int labels [b]; logits_weak, logits_strong: float [u, C], the logits of
  a weakly and a strongly augmented view of the same u unlabelled images, weak ones under stop-gradient.
  The pseudo-label of image j is argmax softmax(weak_j), kept where its probability max softmax(weak_j) ≥
  `threshold`. Returns scalars
    'labelled': mean over the b labelled images of CE(logits_labelled, labels);
    'unlabelled': mean over ALL u unlabelled images of mask_j · CE(strong_j, pseudo-label_j) (images below the
      threshold count as 0, as the official FixMatch and USB code do);
    'mask_fraction': the fraction of the u images above the threshold.
  `weak_probs` [u, C], if given, replaces softmax(weak) as what pseudo-labels and confidences are read from
  (e.g. after `distribution_alignment`).
  Per-device means: under `jax.shard_map` pmean over devices gives the global ones.
  """
  if weak_probs is None:
    weak_probs = jax.nn.softmax(logits_weak, axis=-1)
  weak_probs = lax.stop_gradient(weak_probs)  # The pseudo-labels and the mask get no gradient.
  confident = jnp.max(weak_probs, axis=-1) >= threshold
  per_image = optax.softmax_cross_entropy_with_integer_labels(logits_strong, jnp.argmax(weak_probs, axis=-1))
  return {"labelled": cross_entropy(logits_labelled, labels),
          "unlabelled": jnp.mean(jnp.where(confident, per_image, 0.0)),
          "mask_fraction": jnp.mean(confident.astype(per_image.dtype))}


def distribution_alignment(probs: jax.Array, running_mean: jax.Array, momentum: float, step: jax.Array,
                           axis_name: str | None = None) -> tuple[jax.Array, jax.Array]:
  """Distribution alignment towards a uniform class prior (ReMixMatch, Berthelot et al. 2020; as USB's
  `DistAlignEMAHook` with a uniform target, but for how the first batches are weighted).

  probs: float [u, C], class probabilities of this device's unlabelled images (the weak view).
  running_mean: float [C], the moving average (`momentum`) of the global batch's mean of probs over the steps
    before this one, zeros at step 0; step: steps taken before this one.
  The model's class distribution p_model is the running mean updated with this batch, divided by
  1 − momentum^(step+1) so that it sums to 1 (at step 0: this batch's mean). Each batch weighs momentum^age;
  USB instead starts from the first batch's mean, which then keeps weight momentum^steps. Each row is
  multiplied by (1/C) / p_model (p_model floored at 1e-6) and renormalised: classes the model predicts more
  often than 1/C are damped. Returns (aligned probabilities [u, C], new_mean [C]), both under stop-gradient.
  """
  probs = lax.stop_gradient(probs)
  new_mean = momentum * running_mean + (1.0 - momentum) * _global_batch_mean(probs, axis_name)
  p_model = new_mean / (1.0 - jnp.power(momentum, step + 1.0))
  aligned = probs / jnp.maximum(p_model, 1e-6)
  return aligned / jnp.sum(aligned, axis=-1, keepdims=True), new_mean


def fixmatch(logits_labelled: jax.Array, labels: jax.Array, logits_weak: jax.Array, logits_strong: jax.Array,
             threshold: float = 0.95, unlabelled_weight: float = 1.0) -> jax.Array:
  """The FixMatch loss: 'labelled' + unlabelled_weight · 'unlabelled' (terms, shapes: `fixmatch_terms`). Scalar."""
  terms = fixmatch_terms(logits_labelled, labels, logits_weak, logits_strong, threshold)
  return terms["labelled"] + unlabelled_weight * terms["unlabelled"]
