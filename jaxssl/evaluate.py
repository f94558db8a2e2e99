"""Evaluation of a representation: kNN (weighted or majority votes), a linear probe and PAWS's soft nearest
neighbour classifier, all on frozen features.

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
from jaxssl.data.split import holdout_split


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
    # The barrier keeps XLA:CPU's fast top-k: fusing exp() into its values turned it into a full sort (20×).
    sims, idx = lax.optimization_barrier(lax.top_k(jnp.dot(q, bank.T, precision=lax.Precision.HIGHEST), max(ks)))
    weights = jnp.exp((sims - sims[:, :1]) / temperature) if weighted else jnp.ones_like(sims)
    neighbour_labels = jax.nn.one_hot(bank_labels[idx], num_classes, dtype=weights.dtype)  # [chunk, k, C]
    # Votes as one small contraction per k (a scatter-add per query is slow on the CPU).
    return jnp.stack([jnp.argmax(jnp.einsum("qk,qkc->qc", weights[:, :k], neighbour_labels[:, :k]), -1)
                      for k in ks])

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


def _probe_loss(params, x, y, row_weights, weight_decay):
  """Softmax cross-entropy of logits x [N, D] @ w + b against labels y [N], rows weighted by row_weights [N]
  (summing to 1), + weight_decay/2 · ||w||²."""
  per_row = optax.softmax_cross_entropy_with_integer_labels(x @ params["w"] + params["b"], y)
  return jnp.sum(row_weights * per_row) + 0.5 * weight_decay * jnp.sum(params["w"] ** 2)


def _probe_grad(params, x, x_t, targets, row_weights, weight_decay, logit_mask=0.0):
  """jax.grad(_probe_loss), given x_t = x.T [D, N] and targets = one-hot labels [N, C]; logit_mask [C] is
  added to the logits (-inf: a padding class, whose probability, and so gradient, is 0). Written out so that
  the weight gradient is x_t @ [N, C] with x_t laid out once per fit: autodiff's form of the same product (x
  contracted over its rows, in every step) made the probe 1.6× slower on XLA:CPU."""
  logits = x @ params["w"] + params["b"] + logit_mask
  residual = (jax.nn.softmax(logits) - targets) * row_weights[:, None]  # [N, C]
  return {"w": x_t @ residual + weight_decay * params["w"], "b": residual.sum(0)}


@functools.partial(jax.jit, static_argnames=("num_classes", "steps"))
def _train_linear(x, y, weights, learning_rate, weight_decay, *, num_classes, steps):
  """Softmax regression on rows x [N, D] with labels y [N], each row's loss weighted by weights [N] (0: unused).

  The classes are padded to a multiple of 8 with classes of logit -inf, which stay at zero weight: XLA:CPU
  runs [N, D] @ [D, 10] 2.4× slower than @ [D, 16] (and [D, N] @ [N, 10] likewise), measured on 10k×512."""
  width = -(-num_classes // 8) * 8
  params = {"w": jnp.zeros((x.shape[1], width)), "b": jnp.zeros((width,))}
  logit_mask = jnp.where(jnp.arange(width) < num_classes, 0.0, -jnp.inf)
  tx = optax.adam(learning_rate)
  x_t, targets, row_weights = x.T, jax.nn.one_hot(y, width), weights / jnp.sum(weights)

  def update(_, carry):
    p, opt_state = carry
    grads = _probe_grad(p, x, x_t, targets, row_weights, weight_decay, logit_mask)
    updates, opt_state = tx.update(grads, opt_state, p)
    return optax.apply_updates(p, updates), opt_state

  params = lax.fori_loop(0, steps, update, (params, tx.init(params)))[0]
  return {"w": params["w"][:, :num_classes], "b": params["b"][:num_classes]}


def fit_linear_probe(x: np.ndarray, y: np.ndarray, num_classes: int, fit: np.ndarray | None = None,
                     steps: int = 500, learning_rate: float = 0.1,
                     weight_decay: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
  """The linear probe on features x [N, D] with labels y [N]: weights [D, num_classes] and bias [num_classes]
  with logits = x @ w + b on the raw features. It trains on standardised features (the rows `fit`, bool [N],
  or all); the standardisation is folded into w and b. Training on all N rows with 0 weights off `fit` keeps
  one compiled program per bank shape."""
  fit = np.ones(len(y), bool) if fit is None else fit
  mean, std = x[fit].mean(0), x[fit].std(0) + 1e-6
  params = _train_linear(jnp.asarray((x - mean) / std), jnp.asarray(y, jnp.int32), jnp.asarray(fit, jnp.float32),
                         jnp.float32(learning_rate), jnp.float32(weight_decay), num_classes=num_classes, steps=steps)
  w = np.asarray(params["w"]) / std[:, None]
  return w, np.asarray(params["b"]) - mean @ w


def _probe_predict(x: np.ndarray, y: np.ndarray, fit: np.ndarray | None, queries: np.ndarray, num_classes: int,
                   steps: int, learning_rate: float, weight_decay: float) -> np.ndarray:
  """Labels [M] that a probe trained on the rows `fit` (bool [N]) of x [N, D] predicts for queries [M, D]."""
  w, b = fit_linear_probe(x, y, num_classes, fit, steps, learning_rate, weight_decay)
  return np.argmax(queries @ w + b, -1)


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 num_classes: int, steps: int = 500, learning_rate: float = 0.1,
                 weight_decay: float = 1e-4) -> float:
  """Top-1 test accuracy of a softmax classifier trained on frozen features.

  Features [N, D] are standardised with the training set's mean and std; the classifier is trained
  full-batch with Adam for `steps` steps on cross-entropy + weight_decay/2 · ||W||².
  """
  return float(np.mean(_probe_predict(train_x, train_y, None, test_x, num_classes, steps, learning_rate,
                                      weight_decay) == test_y))


def select_probe_learning_rate(x: np.ndarray, y: np.ndarray, num_classes: int, learning_rates: Sequence[float],
                               holdout_fraction: float = 0.2, seed: int = 0, steps: int = 500,
                               weight_decay: float = 1e-4) -> float | None:
  """The learning rate of `learning_rates` whose probe, trained on the rest of the labelled features x [N, D],
  is most accurate on a stratified `holdout_fraction` of them (ties: the first). The test split is never
  seen. None when a class has too few examples to hold one out (fewer than 2)."""
  split = holdout_split(y, num_classes, holdout_fraction, seed)
  if split is None:
    return None
  held = split[1]
  fit = np.ones(len(y), bool)
  fit[held] = False
  scores = [np.mean(_probe_predict(x, y, fit, x[held], num_classes, steps, lr, weight_decay) == y[held])
            for lr in learning_rates]
  return learning_rates[int(np.argmax(scores))]


def snn_predict(bank: np.ndarray, bank_labels: np.ndarray, queries: np.ndarray, num_classes: int,
                tau: float = 0.1) -> np.ndarray:
  """PAWS's own classifier: the soft nearest-neighbour class distribution over the whole labelled bank,
  softmax(cos(q, bank) / τ) · onehot(labels), argmax. bank [N, D], queries [M, D] -> int labels [M]."""
  targets = jax.nn.one_hot(jnp.asarray(bank_labels), num_classes)
  probs = losses.snn(losses.l2_normalize(jnp.asarray(queries)), losses.l2_normalize(jnp.asarray(bank)), targets, tau)
  return np.asarray(jnp.argmax(probs, -1))


def evaluate_features(bank: np.ndarray, bank_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                      num_classes: int, eval_config: ml_collections.ConfigDict) -> dict[str, float]:
  """Test accuracy of a representation under each protocol, with the labelled training features [N, D] as
  the kNN bank, the probe's training set and the soft-nearest-neighbour support:
  `knn_k<k>` (every k of `eval_config.knn_k`, votes `knn_vote`), `probe` (learning rate `probe_lr`, picked
  from `probe_learning_rates` on held-out labelled features), and `snn` (PAWS's classifier, τ = `snn_tau`)."""
  preds = knn_predict(bank, bank_labels, test, num_classes, tuple(eval_config.knn_k), eval_config.knn_temperature,
                      weighted=eval_config.knn_vote == "weighted")
  metrics = {f"knn_k{k}": float(np.mean(p == test_labels)) for k, p in preds.items()}
  probe = dict(steps=eval_config.probe_steps, weight_decay=eval_config.probe_weight_decay)
  lr = None
  if eval_config.probe_learning_rates:
    lr = select_probe_learning_rate(bank, bank_labels, num_classes, tuple(eval_config.probe_learning_rates),
                                    eval_config.probe_holdout_fraction, **probe)
  metrics["probe_lr"] = lr or eval_config.probe_learning_rate  # One label a class: nothing to hold out.
  metrics["probe"] = linear_probe(bank, bank_labels, test, test_labels, num_classes,
                                  learning_rate=metrics["probe_lr"], **probe)
  metrics["snn"] = float(np.mean(snn_predict(bank, bank_labels, test, num_classes, eval_config.snn_tau) == test_labels))
  return metrics
