"""The label-sweep driver, its plots and its report, on digits with tiny budgets: 2 methods × 2 label counts
× 1 seed, interrupted and rerun."""
import csv
import os
import re
import sys

import numpy as np
import pytest
from PIL import Image

import jaxssl
from jaxssl import data, evaluate, train
from test_train import ROOT

sys.path.insert(0, os.path.join(ROOT, "experiments"))
import fashion_mnist_speed  # noqa: E402
import label_propagation  # noqa: E402
import label_sweep  # noqa: E402
import per_class  # noqa: E402
import plot  # noqa: E402
import report  # noqa: E402

SWEEP = dict(dataset="digits", methods=["supervised", "simclr"], labels_per_class=[2, 5], seeds=[0], steps=3,
             overrides={"batch_size": 32, "eval.probe_steps": 20, "finetune.steps": 4, "finetune.eval_every": 2,
                        "finetune.refit": False,
                        "eval.headline": "knn_k20"})


def test_an_epoch_budget_is_passes_of_the_batch_over_the_training_images():
  config = label_sweep.sweep_config(ROOT, "simclr", "digits", 5, 0, 100, {"batch_size": 64}, epochs=2.5)
  assert config.num_train_steps == config.eval_every_steps == 57  # ceil(2.5 · 1437 / 64)
  assert config.checkpoint_every_steps == 57 and config.data.split_seed == 0 and config.data.labels_per_class == 5


def test_a_run_s_evaluations_and_their_share_of_its_time_are_counted_as_the_train_loop_makes_them():
  """At step 0, every `every` steps and at the end (experiments/fashion_mnist_speed.py's table)."""
  assert fashion_mnist_speed.evaluations(2000, every=500) == 5  # 0, 500, 1000, 1500, 2000.
  assert fashion_mnist_speed.evaluations(2000, every=1000) == 3
  assert fashion_mnist_speed.evaluations(2001, every=1000) == 4  # 0, 1000, 2000 and the last step, 2001.
  assert fashion_mnist_speed.share(2, 3.0, steps=938, step_s=0.35) == pytest.approx(6 / (6 + 328.3))


def test_sweeps_sharing_a_folder_keep_each_other_s_rows(tmp_path):
  """Two sweeps into one --out folder: each cell's row is added to the file as it is then, not to the rows
  its sweep read when it started (which dropped the other sweep's finished cells)."""
  path = str(tmp_path / "results.csv")
  row = lambda method, seed, headline: {"method": method, "labels_per_class": 1, "seed": seed, "headline": headline}
  label_sweep.add_row(path, row("paws", 0, 0.5))
  started = label_sweep.read_rows(path)  # A second sweep starts here; the first then finishes another cell.
  label_sweep.add_row(path, row("paws", 1, 0.6))
  rows = label_sweep.add_row(path, row("supervised", 0, 0.4))
  assert len(started) == 1 and rows == label_sweep.read_rows(path)
  assert [(r["method"], r["seed"], r["headline"]) for r in rows] == [
      ("paws", "0", "0.5"), ("paws", "1", "0.6"), ("supervised", "0", "0.4")]
  rows = label_sweep.add_row(path, row("paws", 1, 0.7))  # The same cell again replaces its row.
  assert [(r["method"], r["seed"], r["headline"]) for r in rows] == [
      ("paws", "0", "0.5"), ("supervised", "0", "0.4"), ("paws", "1", "0.7")]
  assert sorted(os.listdir(tmp_path)) == [".lock", "results.csv"]


def test_sweep_resumes_after_an_interruption_and_plots(tmp_path, monkeypatch):
  out = str(tmp_path / "sweep")
  calls = []
  real = jaxssl.train_and_evaluate

  def interrupted_at_the_third_run(config, workdir, *args, **kwargs):
    calls.append(os.path.basename(workdir))
    if len(calls) == 3:
      raise KeyboardInterrupt
    return real(config, workdir, *args, **kwargs)

  monkeypatch.setattr(jaxssl, "train_and_evaluate", interrupted_at_the_third_run)
  with pytest.raises(KeyboardInterrupt):
    label_sweep.run_sweep(ROOT, out=out, **SWEEP)
  first = label_sweep.read_rows(os.path.join(out, "results.csv"))
  assert [(r["method"], r["labels_per_class"]) for r in first] == [("supervised", "2"), ("supervised", "5")]
  assert calls == ["supervised_l2_s0", "supervised_l5_s0", "simclr_s0"]  # SimCLR reads no labels: one run.

  def recorded(config, workdir, *args, **kwargs):
    calls.append(os.path.basename(workdir))
    return real(config, workdir, *args, **kwargs)

  calls.clear()
  monkeypatch.setattr(jaxssl, "train_and_evaluate", recorded)
  rows = label_sweep.run_sweep(ROOT, out=out, **SWEEP, with_finetune=True)
  assert calls == ["simclr_s0"]  # Resumed and finished once; the second label count reuses it.
  assert rows[:2] == first  # Finished cells are kept as they were, not rerun.
  assert [(r["method"], int(r["labels_per_class"])) for r in rows[2:]] == [("simclr", 2), ("simclr", 5)]
  # Above chance (0.1) with 2 and 5 labels a class: each cell evaluated its own labelled bank with its labels.
  assert all(float(r[m]) > 0.3 for r in rows for m in ("knn_k20", "probe", "snn")), rows
  # Banks of 20 and 50 images: k=200 is not computed, and k=10 (the column for banks of 10) is not asked for.
  assert all(r["knn_k200"] == "" and r["knn_k10"] == "" for r in rows)
  assert all(r["headline"] == r["knn_k20"] and r["headline_protocol"] == "knn_k20" for r in rows)
  assert all(int(r["steps"]) == 3 and float(r["epochs"]) == round(3 * 32 / 1437, 2) and float(r["train_s"]) > 0
             for r in rows), rows
  assert [r["finetune"] == "" for r in rows] == [True, True, False, False]  # Fine-tuned: the rerun's cells.
  assert all(float(r["finetune"]) > 0.3 for r in rows[2:])
  with open(os.path.join(out, "results.csv")) as f:
    assert len(list(csv.DictReader(f))) == 4

  logged = train.read_json(os.path.join(out, "runs", "simclr_s0", "results.json"))["label_sweep"]
  assert sorted(logged) == ["2", "5"] and logged["5"]["finetune"] == float(rows[3]["finetune"])
  assert os.listdir(os.path.join(out, "runs", "simclr_s0", "label_sweep"))  # The TensorBoard events.
  # A cell evaluates at step 0 and at its end, as experiments/fashion_mnist_speed.py counts a cell's
  # evaluations; results.json has the seconds they took, part of the training wall time.
  run = train.read_json(os.path.join(out, "runs", "simclr_s0", "results.json"))
  assert sorted(run["evals"], key=int) == ["0", "3"]
  assert len(run["evals"]) == fashion_mnist_speed.evaluations(3, every=3)
  assert 0 < run["eval_wall_s"] < run["train_wall_s"], run

  # Per class, by the cell's protocol (kNN k=20 here): the confusion matrix gives the row's accuracy exactly.
  protocol, predicted, labels, names = per_class.predictions(os.path.join(out, "runs", "simclr_s0"))
  matrix = per_class.confusion(predicted, labels, len(names))
  assert protocol == "knn_k20" and matrix.sum() == len(labels) == 360 and matrix.shape == (10, 10)
  assert np.trace(matrix) / matrix.sum() == float(rows[3]["knn_k20"])
  # Label propagation: over the labelled images alone it reproduces the run's kNN; with the 1387 others (the
  # 1437 training images less the 50 labelled) and their propagated labels it still classifies above chance.
  spread = label_propagation.evaluate_run(os.path.join(out, "runs", "simclr_s0"), k=10)
  assert spread["labelled"]["knn_k20"] == float(rows[3]["knn_k20"]) and spread["unlabelled"] == 1387
  assert spread["propagated"]["knn_k20"] > 0.3 and spread["propagated"]["snn"] > 0.3, spread
  png = str(tmp_path / "probe.png")
  assert plot.plot_sweep(os.path.join(out, "results.csv"), "probe", png) == 2  # One line per method.
  assert Image.open(png).format == "PNG"
  curves = str(tmp_path / "curves.png")  # Each run's kNN curves, from its TensorBoard events: k=20 and k=50
  # (k=200 over SimCLR's 50-image bank), and k=20 alone for supervised's 20-image bank.
  assert plot.plot_knn_curves([os.path.join(out, "runs", r) for r in ("simclr_s0", "supervised_l2_s0")], curves) == 3
  assert Image.open(curves).size == (600, 400)
  table = report.markdown_table(rows, ["knn_k20", "probe"])
  assert "| method | 2/class | 5/class |" in table and table.count("| simclr |") == 2
  # Evaluation of a finished run can read a lower block (an eval-only option): conv3's 3×3 map, not the Dense.
  overrides = {**SWEEP["overrides"], "model.feature_layer": "conv3"}
  lower = label_sweep.sweep_config(ROOT, "simclr", "digits", 5, 0, 3, overrides)
  metrics = label_sweep.evaluate_checkpoint(os.path.join(out, "runs", "simclr_s0"), lower)
  encoder = jaxssl.load_encoder(os.path.join(out, "runs", "simclr_s0"), feature_layer="conv3")
  ds = data.load(lower.data)
  bank = encoder.embed(ds.labelled_images)
  assert bank.shape == (50, 3 * 3 * 128)
  expected, _ = evaluate.evaluate_features(bank, ds.labelled_labels, encoder.embed(ds.test_images), ds.test_labels,
                                           10, lower.eval)
  assert metrics == expected and metrics["knn_k20"] > 0.3


def test_a_method_from_another_starts_from_that_cell_s_encoder(tmp_path, monkeypatch):
  """`supervised_from_simclr`: the SimCLR cell of the same seed trains first (once, shared with SimCLR's own
  rows), then supervised with config.init_from set to it; the row counts both runs' epochs and time."""
  out = str(tmp_path / "sweep")
  calls, real = [], jaxssl.train_and_evaluate
  monkeypatch.setattr(jaxssl, "train_and_evaluate", lambda config, workdir, *a, **k: (
      calls.append((os.path.basename(workdir), config.init_from)), real(config, workdir, *a, **k))[1])
  rows = label_sweep.run_sweep(ROOT, out=out, **{**SWEEP, "methods": ["simclr", "supervised_from_simclr"],
                                                 "labels_per_class": [5]})
  simclr = os.path.join(out, "runs", "simclr_s0")
  assert calls == [("simclr_s0", ""), ("supervised_from_simclr_l5_s0", os.path.abspath(simclr))]
  pipeline = os.path.join(out, "runs", "supervised_from_simclr_l5_s0")
  assert train.read_json(os.path.join(pipeline, "config.json"))["init_from"] == os.path.abspath(simclr)
  assert [r["method"] for r in rows] == ["simclr", "supervised_from_simclr"]
  assert float(rows[1]["epochs"]) == round(2 * 3 * 32 / 1437, 2), rows
  assert float(rows[1]["train_s"]) == pytest.approx(sum(label_sweep.train_seconds(w) for w in (simclr, pipeline)),
                                                    abs=0.1)


def test_a_preempted_cell_stops_the_sweep_without_a_row(tmp_path, monkeypatch):
  """SIGTERM during a cell (train_and_evaluate returns with preempted_at_step, its checkpoint saved): the sweep
  stops there. It neither evaluates the unfinished run as if it were done nor goes on to the next cell."""
  out = str(tmp_path / "sweep")
  calls = []

  def preempted(config, workdir, *args, **kwargs):
    calls.append(os.path.basename(workdir))
    return {"preempted_at_step": 1}

  monkeypatch.setattr(jaxssl, "train_and_evaluate", preempted)
  rows = label_sweep.run_sweep(ROOT, out=out, **SWEEP)
  assert rows == [] and calls == ["supervised_l2_s0"]
  assert not os.path.exists(os.path.join(out, "results.csv"))


def test_the_per_class_table_gives_each_class_its_accuracy_and_what_it_is_taken_for():
  predicted, labels = np.array([0, 0, 1, 2, 1, 2, 2]), np.array([0, 0, 0, 1, 1, 2, 2])
  matrix = per_class.confusion(predicted, labels, 3)
  np.testing.assert_array_equal(matrix, [[2, 1, 0], [0, 1, 1], [0, 0, 2]])
  assert per_class.table(["run: head"], [matrix], ("a", "b", "c")).splitlines() == [
      "| class | run: head |", "|---|---|", "| a | 0.667 (b 0.333) |", "| b | 0.500 (c 0.500) |",
      "| c | 1.000 (a 0.000) |", "| all | 0.7143 |"]


def test_the_paired_table_compares_each_method_with_the_baseline_on_the_same_seed():
  row = lambda method, seed, value, protocol="finetune": {"method": method, "labels_per_class": "2", "seed": str(seed),
                                                         "headline": value, "headline_protocol": protocol}
  rows = [row("supervised", 0, "0.5", "head"), row("supervised", 1, "0.6", "head"), row("simclr", 0, "0.55"),
          row("simclr", 1, "0.58"), row("paws", 0, "0.7", "snn"), row("paws", 1, "")]  # PAWS: seed 1 missing.
  lines = report.paired_table(rows, "headline", "supervised").splitlines()
  assert lines[0] == "**headline, 2 labels/class** (test accuracy by seed; − supervised: on the same seed)"
  assert lines[4:] == ["| paws (snn) | 0.700, – | 0.700 | +0.200, – |",  # Best mean first, the baseline last.
                       "| simclr (finetune) | 0.550, 0.580 | 0.565 | +0.050, -0.020 |",
                       "| supervised (head) | 0.500, 0.600 | 0.550 |  |"]
  with pytest.raises(ValueError, match="--baseline='fixmatch' has no headline at 2 labels per class"):
    report.paired_table(rows, "headline", "fixmatch")


def test_every_committed_sweep_report_is_what_report_py_writes_from_its_csv_and_notes():
  """report.md is written, never edited: after notes.md or results.csv changes, experiments/report.py must run
  again (its footer names the arguments), or the report says what the notes no longer do."""
  written = {}
  for folder in sorted(os.listdir(os.path.join(ROOT, "experiments", "results"))):
    path = os.path.join(ROOT, "experiments", "results", folder, "report.md")
    if os.path.exists(path) and os.path.exists(os.path.join(os.path.dirname(path), "notes.md")):
      with open(path) as f:
        text = f.read()
      footer = re.fullmatch("(.*)".join(map(re.escape, report.FOOTER.split("{args}"))), text.splitlines()[-1])
      assert footer, f"{path} does not end with report.py's footer: run experiments/report.py on its results.csv"
      args = dict(arg.removeprefix("--").split("=") for arg in footer.group(1).split())
      again = report.report(os.path.join(os.path.dirname(path), "results.csv"), args["metrics"].split(","),
                            args.get("baseline", ""))
      assert again == text, (f"{path} is not what `python experiments/report.py` writes from results.csv and "
                             f"notes.md beside it now ({footer.group(1)}): run it again")
      written[folder] = args
  assert "fashion_mnist" in written and written["fashion_mnist"]["baseline"] == "supervised"


def test_labels_propagate_along_a_chain_of_neighbours_and_not_across_a_gap():
  """Two arcs of 11 points on the unit circle, 0.05 rad apart within an arc and 1 rad between the arcs, one
  labelled end point each: with 2 neighbours a point, every point of an arc takes its end point's class (the
  far end 10 hops away included), and no score crosses the gap."""
  angles = np.concatenate([np.arange(11) * 0.05, 1.5 + np.arange(11) * 0.05])
  x = np.stack([np.cos(angles), np.sin(angles)], 1)
  graph = label_propagation.knn_graph(x, k=2, chunk_size=5)
  assert graph.shape == (22, 22) and all(graph[i].nnz == 2 for i in range(22)) and graph.diagonal().sum() == 0
  assert sorted(graph[3].indices) == [2, 4] and graph[3, 4] == pytest.approx(np.cos(0.05))
  labels = np.full(22, -1)
  labels[0], labels[21] = 1, 0
  scores = label_propagation.propagate(x, labels, num_classes=2, k=2)
  assert list(scores.argmax(1)) == [1] * 11 + [0] * 11
  assert np.all(scores[:11, 1] > 0) and np.all(scores[:11, 0] == 0) and np.all(scores[11:, 1] == 0)
  assert scores[1, 1] > scores[10, 1]  # Nearer the labelled end, more of its class.


def test_propagation_solves_the_normalised_graph_system():
  """On 30 random points: the scores are the solution of (I − αS) Z = Y with S = D^-1/2 W D^-1/2, W the
  symmetrised 5-NN graph with weights max(cos, 0)^3 and Y each labelled row's one-hot over its class's count."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(30, 4))
  x /= np.linalg.norm(x, axis=1, keepdims=True)
  labels = np.full(30, -1)
  labels[[0, 1, 2]], labels[[3, 4]] = 0, 1
  cos = x @ x.T
  np.fill_diagonal(cos, -np.inf)
  w = np.zeros((30, 30))
  for i in range(30):
    nearest = np.argsort(-cos[i])[:5]
    w[i, nearest] = np.maximum(cos[i, nearest], 0) ** 3
  w = w + w.T
  s = w / np.sqrt(np.outer(w.sum(1), w.sum(1)))
  y = np.stack([(labels == c) / np.sum(labels == c) for c in (0, 1)], 1)
  expected = np.linalg.solve(np.eye(30) - 0.99 * s, y)
  np.testing.assert_allclose(label_propagation.propagate(x, labels, 2, k=5, iterations=300), expected,
                             rtol=1e-4, atol=1e-6)
