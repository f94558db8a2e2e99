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
