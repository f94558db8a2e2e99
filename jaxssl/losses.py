"""Losses: pure functions of arrays that return a scalar.

Under `jax.shard_map` a loss given `axis_name` returns this device's mean over its own anchors, computed
against embeddings gathered from every device; the train step averages it over devices with `lax.pmean`
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
  - form="suncet" (default; the SuNCEt seed's soft-nearest-neighbour loss, equivalent to SupCon's L_in):
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
