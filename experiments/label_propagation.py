"""Label propagation over a run's unlabelled images: do their embeddings carry what the few labels do not?

  python experiments/label_propagation.py RUN [RUN ...] [--k=50] [--json=F]

RUN is a jaxssl workdir (its newest checkpoint). Its evaluated encoder embeds the run's labelled subset and its
unlabelled training images; the labels spread over a k-nearest-neighbour graph of those embeddings (Zhou et al.
2004, the form Iscen et al. 2019 use for deep semi-supervised learning: edge weights cos^3, alpha 0.99, conjugate
gradient); the run's test split (its validation split, for runs with `data.validation_size`) is then
classified by weighted kNN (k=20) and by soft nearest neighbour over all of them with their propagated labels.
Test images are never in the graph. Beside it, the same two classifiers over the labelled images alone, as the
run's own evaluation computes them. Prints a table, a row per run; `--json` writes the figures.
"""
import argparse
import json

import numpy as np
import scipy.sparse
import scipy.sparse.linalg


def knn_graph(x: np.ndarray, k: int, chunk_size: int = 2048) -> scipy.sparse.csr_matrix:
  """Sparse [N, N]: row i holds the cosine similarities of L2-normalised x [N, D] to its k nearest others."""
  rows, cols, sims = [], [], []
  for start in range(0, len(x), chunk_size):
    s = x[start:start + chunk_size] @ x.T
    s[np.arange(len(s)), start + np.arange(len(s))] = -np.inf  # Not its own neighbour.
    nearest = np.argpartition(-s, k - 1, axis=1)[:, :k]
    rows.append(np.repeat(np.arange(start, start + len(s)), k))
    cols.append(nearest.ravel())
    sims.append(np.take_along_axis(s, nearest, 1).ravel())
  rows, cols, sims = map(np.concatenate, (rows, cols, sims))
  return scipy.sparse.csr_matrix((sims, (rows, cols)), shape=(len(x), len(x)))


def propagate(x: np.ndarray, labels: np.ndarray, num_classes: int, k: int = 50, gamma: float = 3.0,
              alpha: float = 0.99, iterations: int = 20) -> np.ndarray:
  """Class scores [N, C] of features x [N, D] (L2-normalised) from `labels` int [N] (-1: unlabelled).

  Solves (I - alpha S) Z = Y, S = D^-1/2 W D^-1/2, W the symmetrised k-NN graph with weights max(cos, 0)^gamma,
  Y one-hot rows of the labelled points divided by their class's count (so every class starts with equal mass).
  """
  w = knn_graph(x, k)
  w.data = np.maximum(w.data, 0.0) ** gamma
  w = w + w.T
  degree = np.asarray(w.sum(1)).ravel()
  d = scipy.sparse.diags(1.0 / np.sqrt(np.maximum(degree, 1e-12)))
  system = scipy.sparse.identity(len(x)) - alpha * (d @ w @ d)
  scores = np.zeros((len(x), num_classes))
  for c in range(num_classes):
    y = (labels == c) / max(np.sum(labels == c), 1)
    scores[:, c], _ = scipy.sparse.linalg.cg(system, y, maxiter=iterations)
  return scores


def evaluate_run(workdir: str, k: int) -> dict:
  """Test accuracies of kNN (k=20) and soft nearest neighbour over the labelled images alone and over the
  labelled and unlabelled images with propagated labels."""
  import jaxssl
  from jaxssl import data, evaluate

  encoder = jaxssl.load_encoder(workdir)
  config = encoder.config
  data_config = config.data.copy_and_resolve_references()
  data_config.unlabelled_includes_labelled = False  # Each labelled image once in the graph, with its label.
  dataset = data.load(data_config)
  normalise = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
  labelled, unlabelled, test = (normalise(encoder.embed(a)) for a in (
      dataset.labelled_images, dataset.unlabelled_images, dataset.test_images))
  bank = np.concatenate([labelled, unlabelled])
  labels = np.concatenate([dataset.labelled_labels, np.full(len(unlabelled), -1)])
  propagated = propagate(bank, labels, dataset.num_classes, k).argmax(1)
  propagated[:len(labelled)] = dataset.labelled_labels
  weighted = config.eval.knn_vote == "weighted"

  def accuracies(bank, bank_labels):
    knn_k = evaluate.knn_ks((20,), len(bank))[0]
    knn = evaluate.knn_predict(bank, bank_labels, test, dataset.num_classes, (knn_k,),
                               config.eval.knn_temperature, weighted)[knn_k]
    snn = evaluate.snn_predict(bank, bank_labels, test, dataset.num_classes, config.eval.snn_tau)
    return {f"knn_k{knn_k}": float(np.mean(knn == dataset.test_labels)),
            "snn": float(np.mean(snn == dataset.test_labels))}

  return {"labelled": accuracies(labelled, dataset.labelled_labels),
          "propagated": accuracies(bank, propagated),
          "unlabelled": len(unlabelled), "k": k}


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("runs", nargs="+")
  parser.add_argument("--k", type=int, default=50, help="neighbours a node of the graph links to")
  parser.add_argument("--json", default="", help="also write {run: figures} here")
  args = parser.parse_args()
  out = {run: evaluate_run(run, args.k) for run in args.runs}
  print("| run | labelled: kNN | labelled: snn | propagated: kNN k=20 | propagated: snn |\n|---|---|---|---|---|")
  for run, r in out.items():
    (knn, a), (_, b) = r["labelled"].items()
    print(f"| {run.rstrip('/').split('/')[-1]} | {a:.4f} ({knn}) | {b:.4f} | "
          f"{r['propagated']['knn_k20']:.4f} | {r['propagated']['snn']:.4f} |")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(out, f, indent=1)


if __name__ == "__main__":
  main()
