"""kNN against a brute-force numpy implementation; the linear probe on separable features, encoder untouched."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxssl import augment, config as config_lib, evaluate, models, parallel


def knn_numpy(bank, bank_labels, queries, num_classes, k, temperature, weighted):
  bank = bank / np.linalg.norm(bank, axis=1, keepdims=True)
  queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
  preds = []
  for q in queries:
    sims = bank @ q
    top = np.argsort(-sims)[:k]
    votes = np.zeros(num_classes)
    for j in top:
      votes[bank_labels[j]] += np.exp(sims[j] / temperature) if weighted else 1.0
    preds.append(np.argmax(votes))
  return np.array(preds)


def test_knn_matches_brute_force():
  rng = np.random.default_rng(0)
  bank, queries = rng.normal(size=(300, 16)), rng.normal(size=(70, 16))
  bank_labels = rng.integers(0, 5, 300)
  for weighted in (True, False):
    preds = evaluate.knn_predict(bank, bank_labels, queries, 5, ks=(1, 20, 200), temperature=0.1,
                                 weighted=weighted, chunk_size=32)
    for k in (1, 20, 200):
      np.testing.assert_array_equal(preds[k], knn_numpy(bank, bank_labels, queries, 5, k, 0.1, weighted))
  # Weighted and majority votes disagree somewhere at k=200 on random data.
  assert not np.array_equal(preds[200], evaluate.knn_predict(bank, bank_labels, queries, 5, (200,), 0.1)[200])


def test_head_accuracy_counts_argmax_hits():
  logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.5, 3.0], [1.0, 4.0, 0.0], [0.0, 0.0, 1.0]])
  assert evaluate.head_accuracy(logits, np.array([0, 2, 0, 1])) == 0.5  # Rows 0 and 1 hit.
  with pytest.raises(ValueError, match=r"logits \[N, K\] and labels \[N\]"):
    evaluate.head_accuracy(logits, np.array([0, 2, 0]))


def test_knn_separable_clusters_and_small_bank():
  rng = np.random.default_rng(1)
  centres = rng.normal(size=(4, 32)) * 5
  labels = np.repeat(np.arange(4), 10)
  bank = centres[labels] + rng.normal(size=(40, 32))
  test_labels = np.repeat(np.arange(4), 25)
  queries = centres[test_labels] + rng.normal(size=(100, 32))
  preds = evaluate.knn_predict(bank, labels, queries, 4, ks=(20, 200))  # k=200 > 40: computed as k=40.
  assert np.mean(preds[20] == test_labels) == 1.0 and np.mean(preds[40] == test_labels) == 1.0


def test_linear_probe_learns_a_linear_rule():
  rng = np.random.default_rng(2)
  w = rng.normal(size=(20, 3))
  x_train, x_test = rng.normal(size=(600, 20)), rng.normal(size=(300, 20))
  acc = evaluate.linear_probe(x_train, np.argmax(x_train @ w, 1), x_test, np.argmax(x_test @ w, 1), 3)
  assert acc > 0.95
  # Labels that no linear rule explains stay near chance.
  chance = evaluate.linear_probe(x_train, rng.integers(0, 3, 600), x_test, rng.integers(0, 3, 300), 3)
  assert chance < 0.5


def test_probe_gradient_is_autodiffs_gradient_of_the_probe_loss():
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(50, 7)), jnp.float32)
  y = jnp.asarray(rng.integers(0, 4, 50))
  weights = jnp.asarray(rng.uniform(size=50) * (rng.uniform(size=50) > 0.3), jnp.float32)
  row_weights = weights / weights.sum()
  params = {"w": jnp.asarray(rng.normal(size=(7, 4)), jnp.float32),
            "b": jnp.asarray(rng.normal(size=4), jnp.float32)}
  ours = evaluate._probe_grad(params, x, x.T, jax.nn.one_hot(y, 4), row_weights, 0.3)
  autodiff = jax.grad(evaluate._probe_loss)(params, x, y, row_weights, 0.3)
  for name in ("w", "b"):
    np.testing.assert_allclose(ours[name], autodiff[name], rtol=1e-5, atol=1e-6)
  # Padded to 8 classes (as the probe trains): the same gradient for the real classes, 0 for the padding.
  padded = {name: jnp.pad(v, [(0, 0)] * (v.ndim - 1) + [(0, 4)]) for name, v in params.items()}
  mask = jnp.where(jnp.arange(8) < 4, 0.0, -jnp.inf)
  ours = evaluate._probe_grad(padded, x, x.T, jax.nn.one_hot(y, 8), row_weights, 0.3, mask)
  for name in ("w", "b"):
    np.testing.assert_allclose(ours[name][..., :4], autodiff[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours[name][..., 4:], 0.0)


def test_evaluation_leaves_encoder_bit_identical(devices):
  config = config_lib.base_config("supervised")
  model = models.EncoderAndHead(models.build_encoder(config.model, 1, 32, nnx.Rngs(0)),
                                models.MLP(128, (3,), rngs=nnx.Rngs(1)))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  before = jax.tree.map(np.array, params)
  mesh = parallel.make_mesh(devices)
  embed = functools.partial(parallel.make_embed_fn(graphdef, mesh, augment.to_float), params, rest)
  rng = np.random.default_rng(3)
  images = rng.integers(0, 256, (30, 32, 32, 1), np.uint8)
  features = evaluate.extract_features(embed, images, mesh, batch_size=8)  # 4 batches, the last one padded.
  labels = np.arange(30) % 3
  metrics, choices = evaluate.evaluate_features(features, labels, features, labels, 3, config.eval)
  assert set(metrics) == {"knn_k20", "knn_k30", "probe", "snn"}  # k=200 over a bank of 30: computed as k=30.
  assert set(choices) == {"probe_lr"}
  jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.array, params))
  # Features of the padded, sharded extraction equal a plain forward pass.
  direct = model.encoder(augment.to_float(images))
  np.testing.assert_allclose(features, direct, rtol=1e-5, atol=1e-5)
  # With the classifier's logits (one pass for both, as a run's `head` evaluation reads them): the same
  # features to the bit, and the logits of the model's own forward pass.
  both = functools.partial(parallel.make_embed_fn(graphdef, mesh, augment.to_float, logits=True), params, rest)
  same_features, logits = evaluate.extract_features(both, images, mesh, batch_size=8)
  np.testing.assert_array_equal(same_features, features)
  assert logits.shape == (30, 3) and logits.dtype == np.float32
  np.testing.assert_allclose(logits, model(augment.to_float(images)), rtol=1e-5, atol=1e-5)


def test_weighted_and_majority_votes_differ_where_they_should():
  """One very close neighbour of class 0 against two far ones of class 1: similarity-weighted votes (T=0.07)
  follow the close one, one vote each follows the majority."""
  bank = np.array([[1.0, 0.0], [0.0, 1.0], [0.05, 1.0]])
  labels = np.array([0, 1, 1])
  query = np.array([[1.0, 0.6]])  # cos 0.86 to class 0, 0.51 and 0.55 to class 1.
  assert evaluate.knn_predict(bank, labels, query, 2, ks=(3,), weighted=True)[3] == [0]
  assert evaluate.knn_predict(bank, labels, query, 2, ks=(3,), weighted=False)[3] == [1]


def test_probe_learning_rate_is_picked_on_held_out_labelled_features_never_the_test_split():
  rng = np.random.default_rng(0)
  w = rng.normal(size=(8, 3))
  x = rng.normal(size=(300, 8))
  y = np.argmax(x @ w, 1)
  config = config_lib.base_config("simclr").eval
  config.probe_learning_rates = (1e-5, 0.1)  # 1e-5 barely moves in 500 steps: the held-out part must show it.
  test_x = rng.normal(size=(100, 8))
  picked = [evaluate.evaluate_features(x, y, test_x, test_y, 3, config)[1]["probe_lr"]
            for test_y in (np.argmax(test_x @ w, 1), rng.integers(0, 3, 100))]
  assert picked == [0.1, 0.1]  # The same choice whatever the test labels are.
  one_each = evaluate.evaluate_features(x[:3], np.arange(3), test_x, y[:100], 3, config)[1]
  assert one_each["probe_lr"] == config.probe_learning_rate  # Nothing to hold out: the configured default.


@pytest.mark.parametrize("correct, losses, picked", [
    ((50, 50, 50), (0.90, 0.40, 0.41), 0.1),   # Accuracy tied: the lower held-out loss.
    ((50, 49, 45), (0.90, 0.40, 0.30), 0.1),   # Within one example of the best counts as tied; 45 does not.
    ((50, 48, 50), (0.40, 0.10, 0.4002), 0.01),  # Losses within 1e-3 (relative): the smallest rate.
    ((40, 50, 20), (0.10, 0.50, 0.05), 0.1),   # A clear accuracy lead wins over a lower loss.
])
def test_probe_learning_rate_rule(correct, losses, picked):
  assert evaluate.pick_learning_rate((0.01, 0.1, 1.0), correct, losses) == picked


def test_knn_reports_the_k_it_computed():
  """A k above the bank size is computed as k = bank size and reported under that k, not the requested one."""
  rng = np.random.default_rng(5)
  bank, labels, queries = rng.normal(size=(30, 4)), np.arange(30) % 3, rng.normal(size=(7, 4))
  preds = evaluate.knn_predict(bank, labels, queries, 3, ks=(20, 200, 300))
  assert sorted(preds) == [20, 30]
  np.testing.assert_array_equal(preds[30], evaluate.knn_predict(bank, labels, queries, 3, ks=(30,))[30])
  assert evaluate.knn_ks((20, 200), 100) == (20, 100) and evaluate.knn_ks((5,), 100) == (5,)


def test_soft_nearest_neighbour_is_chunked_and_matches_a_float64_reference():
  """snn_predict works through `chunk_size` queries at a time (as kNN: only [chunk, N] similarities at once;
  before, the whole [M, N] matrix, 2 GB at 10k × 50k) at full float32 precision, and agrees with numpy."""
  rng = np.random.default_rng(6)
  bank, labels, queries = rng.normal(size=(500, 8)), rng.integers(0, 5, 500), rng.normal(size=(1000, 8))
  normalise = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
  logits = normalise(queries) @ normalise(bank).T / 0.1
  weights = np.exp(logits - logits.max(1, keepdims=True))
  reference = np.argmax(weights @ np.eye(5)[labels], 1)
  np.testing.assert_array_equal(evaluate.snn_predict(bank, labels, queries, 5, chunk_size=64), reference)
  lowered = evaluate._snn_predict.lower(jnp.zeros((500, 8)), jnp.zeros(500, jnp.int32), jnp.zeros((1024, 8)),
                                        num_classes=5, tau=0.1, chunk_size=64)
  temp = lowered.compile().memory_analysis().temp_size_in_bytes
  assert temp < 1024 * 500 * 4, temp  # Less than one whole [M, N] float32 similarity matrix.


def test_soft_nearest_neighbour_classifier_on_separable_clusters():
  rng = np.random.default_rng(1)
  centres = np.eye(4, 16) * 5
  bank_labels, query_labels = np.repeat(np.arange(4), 10), np.repeat(np.arange(4), 25)
  bank = centres[bank_labels] + rng.normal(size=(40, 16))
  queries = centres[query_labels] + rng.normal(size=(100, 16))
  assert np.mean(evaluate.snn_predict(bank, bank_labels, queries, 4) == query_labels) > 0.95
  np.testing.assert_array_equal(  # τ → 0: the nearest neighbour's class (k=1).
      evaluate.snn_predict(bank, bank_labels, queries, 4, tau=1e-3),
      evaluate.knn_predict(bank, bank_labels, queries, 4, ks=(1,))[1])


def test_probe_rows_off_the_fit_mask_are_ignored():
  """Selection trains on all rows with 0 weight off the fit part (one compile per bank shape): the held-out
  rows, here given wrong labels, must not change the classifier."""
  rng = np.random.default_rng(2)
  x, test_x = rng.normal(size=(200, 6)), rng.normal(size=(100, 6))
  w = rng.normal(size=(6, 3))
  y = np.argmax(x @ w, 1)
  fit = rng.random(200) < 0.7
  y_wrong = np.where(fit, y, (y + 1) % 3)
  masked = evaluate._probe_predict(x, y_wrong, fit, test_x, 3, 300, 0.1, 1e-4)
  alone = evaluate._probe_predict(x[fit], y[fit], np.ones(fit.sum(), bool), test_x, 3, 300, 0.1, 1e-4)
  assert np.mean(masked == alone) > 0.98 and np.mean(alone == np.argmax(test_x @ w, 1)) > 0.9
