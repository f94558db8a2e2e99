"""Evaluation of a representation: kNN (weighted or majority votes), a linear probe and PAWS's soft nearest
neighbour classifier, all on frozen features.

All three work on pre-extracted features, so no gradient can reach the encoder. `extract_features` runs any
encoder over every process's host images on every device of a mesh.
"""
import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax import lax

from jaxssl import cpu_tricks, losses, parallel
from jaxssl.data.split import holdout_split


def extract_features(embed: Callable[[jax.Array], jax.Array | tuple[jax.Array, ...]], images: np.ndarray,
                     mesh: jax.sharding.Mesh, batch_size: int = 512) -> np.ndarray | tuple[np.ndarray, ...]:
  """Features [sum_p N_p, D] of every process's uint8 images [N_p, H, W, C], in process order, on every
  process (with one process: the features of `images`). Every process must call it, with its own images.

  `embed` maps a global batch sharded over `data` to its features, or to a tuple of such arrays (features
  and logits, from one pass: `parallel.make_embed_fn(..., logits=True)`), and then so does this. Each process
  feeds batch_size / P rows a batch, padded to that fixed size, so `embed` compiles once.
  """
  procs = jax.process_count()
  local_size = -(-batch_size // mesh.devices.size) * mesh.devices.size // procs
  counts = parallel.gather_rows(np.array([len(images)]))
  batches = []  # Each: embed's output, every array as [procs, local_size, D].
  for start in range(0, max(int(counts.max()), 1), local_size):
    chunk = images[start:start + local_size]
    padded = np.concatenate([chunk, np.zeros((local_size - len(chunk), *images.shape[1:]), images.dtype)])
    outputs = embed(parallel.shard_batch(mesh, {"x": padded})["x"])
    batches.append(jax.tree.map(lambda x: parallel.to_host(x).reshape(procs, local_size, -1), outputs))

  def rows_in_process_order(*parts):
    per_process = np.concatenate(parts, axis=1)  # [procs, batches × local_size, D]
    return np.concatenate([rows[:n] for rows, n in zip(per_process, counts)]).astype(np.float32)

  return jax.tree.map(rows_in_process_order, *batches)


@functools.partial(jax.jit, static_argnames=("num_classes", "ks", "temperature", "weighted", "chunk_size"))
def _knn_predict(bank, bank_labels, queries, *, num_classes, ks, temperature, weighted, chunk_size):
  bank = losses.l2_normalize(bank)
  queries = losses.l2_normalize(queries)

  def predict(q):  # q [chunk, D] -> [len(ks), chunk]
    sims, idx = lax.top_k(jnp.dot(q, bank.T, precision=lax.Precision.HIGHEST), max(ks))
    if cpu_tricks.active():  # Keeps XLA:CPU's fast top-k: fused with exp() it became a full sort (20× slower).
      sims, idx = lax.optimization_barrier((sims, idx))
    weights = jnp.exp((sims - sims[:, :1]) / temperature) if weighted else jnp.ones_like(sims)
    neighbour_labels = jax.nn.one_hot(bank_labels[idx], num_classes, dtype=weights.dtype)  # [chunk, k, C]
    # Votes as one small contraction per k (a scatter-add per query is slow on the CPU).
    return jnp.stack([jnp.argmax(jnp.einsum("qk,qkc->qc", weights[:, :k], neighbour_labels[:, :k]), -1)
                      for k in ks])

  chunks = queries.reshape(-1, chunk_size, queries.shape[-1])
  return jnp.moveaxis(lax.map(predict, chunks), 1, 0).reshape(len(ks), -1)


def knn_ks(ks: Sequence[int], bank_size: int) -> tuple[int, ...]:
  """The neighbour counts kNN computes for the requested `ks` over a bank of `bank_size` examples: each
  clamped to the bank size, duplicates dropped, in the order given (e.g. (20, 200) over 100 -> (20, 100))."""
  return tuple(dict.fromkeys(min(int(k), bank_size) for k in ks))


def knn_predict(bank: np.ndarray, bank_labels: np.ndarray, queries: np.ndarray, num_classes: int,
                ks: Sequence[int] = (20, 200), temperature: float = 0.07, weighted: bool = True,
                chunk_size: int = 256) -> dict[int, np.ndarray]:
  """k-nearest-neighbour classification by cosine similarity.

  Args:
    bank: features [N, D] of the labelled set; bank_labels: int [N].
    queries: features [M, D] to classify.
    ks: neighbour counts to evaluate at once; a k above N is computed as k = N (`knn_ks`).
    temperature: votes are weighted exp(similarity / T) when `weighted`, else each neighbour votes 1.
    chunk_size: queries per block; only [chunk_size, N] similarities exist at a time.

  Returns:
    {k: predicted labels int [M]} keyed by the k actually computed (`knn_ks(ks, N)`). Ties go to the
    lowest class index.
  """
  computed = knn_ks(ks, len(bank))
  preds = _knn_predict(jnp.asarray(bank), jnp.asarray(bank_labels, jnp.int32), _pad_rows(queries, chunk_size),
                       num_classes=num_classes, ks=computed, temperature=temperature, weighted=weighted,
                       chunk_size=chunk_size)
  preds = np.asarray(preds)[:, :len(queries)]
  return {k: preds[i] for i, k in enumerate(computed)}


def _pad_rows(x: np.ndarray, multiple: int) -> jax.Array:
  """x [M, D] with zero rows appended up to a multiple of `multiple`."""
  return jnp.asarray(np.concatenate([x, np.zeros((-len(x) % multiple, x.shape[1]), x.dtype)]))


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

  On the CPU (`cpu_tricks`) the classes are padded to a multiple of 8 with classes of logit -inf, which stay at
  zero weight: XLA:CPU runs [N, D] @ [D, 10] 2.4× slower than @ [D, 16] (and [D, N] @ [N, 10] likewise),
  measured on 10k×512."""
  width = -(-num_classes // 8) * 8 if cpu_tricks.active() else num_classes
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


def _probe_logits(x: np.ndarray, y: np.ndarray, fit: np.ndarray | None, queries: np.ndarray, num_classes: int,
                  steps: int, learning_rate: float, weight_decay: float) -> np.ndarray:
  """Logits [M, C] that a probe trained on the rows `fit` (bool [N]) of x [N, D] gives queries [M, D]."""
  w, b = fit_linear_probe(x, y, num_classes, fit, steps, learning_rate, weight_decay)
  return queries @ w + b


def _probe_predict(x, y, fit, queries, num_classes, steps, learning_rate, weight_decay) -> np.ndarray:
  """Labels [M] that a probe trained on the rows `fit` of x predicts for queries (see `_probe_logits`)."""
  return np.argmax(_probe_logits(x, y, fit, queries, num_classes, steps, learning_rate, weight_decay), -1)


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 num_classes: int, steps: int = 500, learning_rate: float = 0.1,
                 weight_decay: float = 1e-4) -> float:
  """Top-1 test accuracy of a softmax classifier trained on frozen features.

  Features [N, D] are standardised with the training set's mean and std; the classifier is trained
  full-batch with Adam for `steps` steps on cross-entropy + weight_decay/2 · ||W||².
  """
  return float(np.mean(_probe_predict(train_x, train_y, None, test_x, num_classes, steps, learning_rate,
                                      weight_decay) == test_y))


def pick_learning_rate(learning_rates: Sequence[float], correct: Sequence[int], losses_: Sequence[float],
                       loss_rtol: float = 1e-3) -> float:
  """The probe's learning rate by a fixed rule that rounding cannot flip: of the rates whose held-out
  correct count `correct` is within one example of the best, the one with the lowest held-out cross-entropy
  `losses_`; losses within `loss_rtol` (relative) of that lowest count as tied, and the smallest rate wins.
  A non-finite loss (features of a diverged encoder) counts as the highest."""
  losses_ = [loss if np.isfinite(loss) else np.inf for loss in losses_]
  best = max(correct)
  near = [i for i, c in enumerate(correct) if c >= best - 1]
  lowest = min(losses_[i] for i in near)
  tied = [i for i in near if losses_[i] <= lowest + loss_rtol * abs(lowest)]
  return float(min(learning_rates[i] for i in tied))


def select_probe_learning_rate(x: np.ndarray, y: np.ndarray, num_classes: int, learning_rates: Sequence[float],
                               holdout_fraction: float = 0.2, seed: int = 0, steps: int = 500,
                               weight_decay: float = 1e-4) -> float | None:
  """The learning rate of `learning_rates` picked by `pick_learning_rate` from probes trained on the rest of
  the labelled features x [N, D] and scored on a stratified `holdout_fraction` of them. The test split is
  never seen. None when a class has too few examples to hold one out (fewer than 2)."""
  split = holdout_split(y, num_classes, holdout_fraction, seed)
  if split is None:
    return None
  held = split[1]
  fit = np.ones(len(y), bool)
  fit[held] = False
  correct, held_losses = [], []
  for lr in learning_rates:
    logits = _probe_logits(x, y, fit, x[held], num_classes, steps, lr, weight_decay)
    correct.append(int(np.sum(np.argmax(logits, -1) == y[held])))
    held_losses.append(float(optax.softmax_cross_entropy_with_integer_labels(
        jnp.asarray(logits, jnp.float32), jnp.asarray(y[held], jnp.int32)).mean()))
  return pick_learning_rate(learning_rates, correct, held_losses)


@functools.partial(jax.jit, static_argnames=("num_classes", "tau", "chunk_size"))
def _snn_predict(bank, bank_labels, queries, *, num_classes, tau, chunk_size):
  bank = losses.l2_normalize(bank)
  targets = jax.nn.one_hot(bank_labels, num_classes)

  def predict(q):  # q [chunk, D] -> [chunk]
    sims = jnp.dot(losses.l2_normalize(q), bank.T, precision=lax.Precision.HIGHEST)
    return jnp.argmax(jax.nn.softmax(sims / tau, -1) @ targets, -1)

  return lax.map(predict, queries.reshape(-1, chunk_size, queries.shape[-1])).reshape(-1)


def snn_predict(bank: np.ndarray, bank_labels: np.ndarray, queries: np.ndarray, num_classes: int,
                tau: float = 0.1, chunk_size: int = 256) -> np.ndarray:
  """PAWS's own classifier: the soft nearest-neighbour class distribution over the whole labelled bank,
  softmax(cos(q, bank) / τ) · onehot(labels), argmax. bank [N, D], queries [M, D] -> int labels [M].
  Like kNN, it works through `chunk_size` queries at a time ([chunk_size, N] similarities, full fp32)."""
  preds = _snn_predict(jnp.asarray(bank), jnp.asarray(bank_labels, jnp.int32), _pad_rows(queries, chunk_size),
                       num_classes=num_classes, tau=float(tau), chunk_size=chunk_size)
  return np.asarray(preds)[:len(queries)]


def head_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
  """Accuracy of a classifier's logits [N, K] against int labels [N]: the fraction whose argmax is the label."""
  logits = np.asarray(logits)
  if logits.ndim != 2 or len(logits) != len(labels):
    raise ValueError(f"head_accuracy takes logits [N, K] and labels [N]; got {logits.shape} and {np.shape(labels)}.")
  return float(np.mean(np.argmax(logits, -1) == np.asarray(labels)))


def evaluate_features(bank: np.ndarray, bank_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                      num_classes: int, eval_config: ml_collections.ConfigDict
                      ) -> tuple[dict[str, float], dict[str, float]]:
  """Test accuracy of a representation under each protocol, with the labelled training features [N, D] as
  the kNN bank, the probe's training set and the soft-nearest-neighbour support.

  Returns (accuracies, choices). accuracies: `knn_k<k>` for each k computed (`knn_ks(eval_config.knn_k, N)`,
  votes `knn_vote`), `probe` and `snn` (PAWS's classifier, τ = `snn_tau`). choices: the hyperparameters
  evaluation picked, `probe_lr` (from `probe_learning_rates` on held-out labelled features; with one label
  a class, nothing can be held out and it is `probe_learning_rate`)."""
  preds = knn_predict(bank, bank_labels, test, num_classes, tuple(eval_config.knn_k), eval_config.knn_temperature,
                      weighted=eval_config.knn_vote == "weighted")
  accuracies = {f"knn_k{k}": float(np.mean(p == test_labels)) for k, p in preds.items()}
  probe = dict(steps=eval_config.probe_steps, weight_decay=eval_config.probe_weight_decay)
  lr = None
  if eval_config.probe_learning_rates:
    lr = select_probe_learning_rate(bank, bank_labels, num_classes, tuple(eval_config.probe_learning_rates),
                                    eval_config.probe_holdout_fraction, **probe)
  choices = {"probe_lr": lr or eval_config.probe_learning_rate}
  accuracies["probe"] = linear_probe(bank, bank_labels, test, test_labels, num_classes,
                                     learning_rate=choices["probe_lr"], **probe)
  accuracies["snn"] = float(np.mean(snn_predict(bank, bank_labels, test, num_classes, eval_config.snn_tau)
                                    == test_labels))
  return accuracies, choices
