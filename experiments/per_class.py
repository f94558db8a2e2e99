"""Per-class test accuracy of trained runs, by the protocol each declares: where do the errors go?

  python experiments/per_class.py RUN [RUN ...] [--json=per_class.json]

RUN is a jaxssl workdir (its newest checkpoint). Each run is classified on its own config's test split (the
validation split, for runs with `data.validation_size`) with its labelled subset as bank: by its classifier
(`head`), soft nearest neighbour (`snn`) or kNN (`knn_k<k>`), per `config.eval.headline`; runs declaring
`finetune` or `probe` are read by kNN k=20 instead (say which on the printed line). Prints a table, a row per
class (accuracy, and the class it is most often taken for), a column per run; `--json` also writes the
confusion matrices (rows: true class, columns: predicted).
"""
import argparse
import json

import numpy as np


def predictions(workdir: str) -> tuple[str, np.ndarray, np.ndarray, tuple[str, ...]]:
  """(protocol, predicted labels [M], true labels [M], class names) of the run in `workdir` on its test split."""
  import jaxssl
  from jaxssl import data, evaluate

  encoder = jaxssl.load_encoder(workdir)
  dataset = data.load(encoder.config.data)
  protocol = encoder.config.eval.headline
  if protocol == "head":
    return protocol, np.asarray(encoder.classify(dataset.test_images)).argmax(-1), dataset.test_labels, \
        dataset.class_names
  bank, test = encoder.embed(dataset.labelled_images), encoder.embed(dataset.test_images)
  if protocol == "snn":
    predicted = evaluate.snn_predict(bank, dataset.labelled_labels, test, dataset.num_classes,
                                     encoder.config.eval.snn_tau)
  else:  # As the run's evaluation computes it (its ks together: the same program, the same votes).
    k = int(protocol[len("knn_k"):]) if protocol.startswith("knn_k") else 20
    ks = tuple(encoder.config.eval.knn_k) if k in encoder.config.eval.knn_k else (k,)
    k = evaluate.knn_ks((k,), len(bank))[0]  # A bank smaller than k: k = its size, as in the run's results.
    predicted = evaluate.knn_predict(bank, dataset.labelled_labels, test, dataset.num_classes, ks,
                                     encoder.config.eval.knn_temperature,
                                     weighted=encoder.config.eval.knn_vote == "weighted")[k]
    protocol = f"knn_k{k}" if protocol.startswith("knn_k") else f"knn_k{k} (declares {protocol})"
  return protocol, predicted, dataset.test_labels, dataset.class_names


def confusion(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
  """int [C, C]: row = true class, column = predicted class."""
  matrix = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(matrix, (labels, predicted), 1)
  return matrix


def table(names: list[str], matrices: list[np.ndarray], class_names) -> str:
  """Markdown: a row per class, a column per run: accuracy on that class, and what it is most taken for."""
  lines = ["| class | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
  for c, class_name in enumerate(class_names):
    cells = []
    for m in matrices:
      row = m[c] / max(m[c].sum(), 1)
      other = max((j for j in range(len(row)) if j != c), key=lambda j: row[j])
      cells.append(f"{row[c]:.3f} ({class_names[other]} {row[other]:.3f})")
    lines.append(f"| {class_name} | " + " | ".join(cells) + " |")
  overall = [f"{np.trace(m) / m.sum():.4f}" for m in matrices]
  lines.append("| all | " + " | ".join(overall) + " |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("runs", nargs="+")
  parser.add_argument("--json", default="", help="also write {run: {protocol, confusion}} here")
  args = parser.parse_args()
  names, matrices, out, class_names = [], [], {}, None
  for run in args.runs:
    protocol, predicted, labels, class_names = predictions(run)
    matrices.append(confusion(predicted, labels, len(class_names)))
    names.append(f"{run.rstrip('/').split('/')[-1]}: {protocol}")
    out[run] = {"protocol": protocol, "confusion": matrices[-1].tolist(), "class_names": list(class_names)}
  print(table(names, matrices, class_names))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(out, f, indent=1)


if __name__ == "__main__":
  main()
