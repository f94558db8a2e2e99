"""Evaluation of a representation: weighted kNN and a linear probe on frozen features.

Both work on pre-extracted features, so no gradient can reach the encoder. `extract_features` runs any
encoder over every process's host images on every device of a mesh.
"""
import functools
import logging
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax import lax

from jaxssl import losses, parallel


def extract_features(embed: Callable[[jax.Array], jax.Array], images: np.ndarray, mesh: jax.sharding.Mesh,
                     batch_size: int = 512) -> np.ndarray:
  """Features [sum_p N_p, D] of every process's uint8 images [N_p, H, W, C], in process order, on every
  process (with one process: the features of `images`). Every process must call it, with its own images.

  `embed` maps a global batch sharded over `data` to its features. Each process feeds batch_size / P rows a
  batch, padded to that fixed size, so `embed` compiles once.
  """
  procs = jax.process_count()
  local_size = -(-batch_size // mesh.devices.size) * mesh.devices.size // procs
  counts = parallel.gather_rows(np.array([len(images)]))
  parts = [[] for _ in range(procs)]
  for start in range(0, max(int(counts.max()), 1), local_size):
    chunk = images[start:start + local_size]
    padded = np.concatenate([chunk, np.zeros((local_size - len(chunk), *images.shape[1:]), images.dtype)])
    features = parallel.to_host(embed(parallel.shard_batch(mesh, {"x": padded})["x"]))
    for p, rows in enumerate(features.reshape(procs, local_size, -1)):
      parts[p].append(rows)
  return np.concatenate([np.concatenate(rows)[:n] for rows, n in zip(parts, counts)]).astype(np.float32)


@functools.partial(jax.jit, static_argnames=("num_classes", "ks", "temperature", "weighted", "chunk_size"))
def _knn_predict(bank, bank_labels, queries, *, num_classes, ks, temperature, weighted, chunk_size):
  bank = losses.l2_normalize(bank)
  queries = losses.l2_normalize(queries)

  def predict(q):  # q [chunk, D] -> [len(ks), chunk]
    sims, idx = lax.top_k(jnp.dot(q, bank.T, precision=lax.Precision.HIGHEST), max(ks))
    weights = jnp.exp((sims - sims[:, :1]) / temperature) if weighted else jnp.ones_like(sims)
    neighbour_labels = bank_labels[idx]
    preds = []
    for k in ks:
      votes = jax.vmap(lambda w, y: jnp.zeros(num_classes).at[y].add(w))(weights[:, :k], neighbour_labels[:, :k])
      preds.append(jnp.argmax(votes, axis=-1))
    return jnp.stack(preds)

  chunks = queries.reshape(-1, chunk_size, queries.shape[-1])
  return jnp.moveaxis(lax.map(predict, chunks), 1, 0).reshape(len(ks), -1)


def knn_predict(bank: np.ndarray, bank_labels: np.ndarray, queries: np.ndarray, num_classes: int,
                ks: Sequence[int] = (20, 200), temperature: float = 0.07, weighted: bool = True,
                chunk_size: int = 256) -> dict[int, np.ndarray]:
  """k-nearest-neighbour classification by cosine similarity.

  Args:
    bank: features [N, D] of the labelled set; bank_labels: int [N].
    queries: features [M, D] to classify.
    ks: neighbour counts to evaluate at once (each clamped to N).
    temperature: votes are weighted exp(similarity / T) when `weighted`, else each neighbour votes 1.
    chunk_size: queries per block; only [chunk_size, N] similarities exist at a time.

  Returns:
    {k: predicted labels int [M]} (keys are the requested ks). Ties go to the lowest class index.
  """
  clamped = tuple(min(k, len(bank)) for k in ks)
  if clamped != tuple(ks):
    logging.warning("kNN: the labelled bank has only %d examples; k=%s evaluated as k=%s.", len(bank), ks, clamped)
  num_queries = len(queries)
  padded = np.concatenate([queries, np.zeros((-num_queries % chunk_size, queries.shape[1]), queries.dtype)])
  preds = _knn_predict(jnp.asarray(bank), jnp.asarray(bank_labels, jnp.int32), jnp.asarray(padded),
                       num_classes=num_classes, ks=clamped, temperature=temperature, weighted=weighted,
                       chunk_size=chunk_size)
  preds = np.asarray(preds)[:, :num_queries]
  return {k: preds[i] for i, k in enumerate(ks)}


@functools.partial(jax.jit, static_argnames=("num_classes", "steps", "learning_rate", "weight_decay"))
def _train_linear(x, y, *, num_classes, steps, learning_rate, weight_decay):
  params = {"w": jnp.zeros((x.shape[1], num_classes)), "b": jnp.zeros((num_classes,))}
  tx = optax.adam(learning_rate)

  def loss_fn(p):
    return losses.cross_entropy(x @ p["w"] + p["b"], y) + 0.5 * weight_decay * jnp.sum(p["w"] ** 2)

  def update(_, carry):
    p, opt_state = carry
    grads = jax.grad(loss_fn)(p)
    updates, opt_state = tx.update(grads, opt_state, p)
    return optax.apply_updates(p, updates), opt_state

  return lax.fori_loop(0, steps, update, (params, tx.init(params)))[0]


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 num_classes: int, steps: int = 500, learning_rate: float = 0.1,
                 weight_decay: float = 1e-4) -> float:
  """Top-1 test accuracy of a softmax classifier trained on frozen features.

  Features [N, D] are standardised with the training set's mean and std; the classifier is trained
  full-batch with Adam for `steps` steps on cross-entropy + weight_decay/2 · ||W||².
  """
  mean, std = train_x.mean(0), train_x.std(0) + 1e-6
  params = _train_linear(jnp.asarray((train_x - mean) / std), jnp.asarray(train_y, jnp.int32),
                         num_classes=num_classes, steps=steps, learning_rate=learning_rate,
                         weight_decay=weight_decay)
  logits = jnp.asarray((test_x - mean) / std) @ params["w"] + params["b"]
  return float(np.mean(np.asarray(jnp.argmax(logits, -1)) == test_y))


def evaluate_features(bank: np.ndarray, bank_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                      num_classes: int, eval_config: ml_collections.ConfigDict) -> dict[str, float]:
  """kNN (every k of `eval_config.knn_k`) and linear-probe test accuracy of a representation.
  The labelled training features are the kNN bank and the probe's training set."""
  preds = knn_predict(bank, bank_labels, test, num_classes, tuple(eval_config.knn_k), eval_config.knn_temperature)
  metrics = {f"knn_k{k}": float(np.mean(p == test_labels)) for k, p in preds.items()}
  metrics["probe"] = linear_probe(bank, bank_labels, test, test_labels, num_classes, eval_config.probe_steps,
                                  eval_config.probe_learning_rate, eval_config.probe_weight_decay)
  return metrics
