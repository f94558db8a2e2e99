"""The README's Python examples run as written, each in a fresh namespace, in order, in a scratch directory
holding the `my_images/` folder they read (so the documentation cannot rot), and its Results table is the
committed results' means."""
import csv
import os
import re
import sys

import numpy as np

from test_folder import write_tree
from test_train import ROOT, load_config

sys.path.insert(0, os.path.join(ROOT, "experiments"))
from label_sweep import uses_labels  # noqa: E402
from plot import sweep_table  # noqa: E402


def readme_python_blocks():
  with open(os.path.join(ROOT, "README.md")) as f:
    return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_readme_has_the_examples_the_issues_ask_for():
  text = "\n".join(readme_python_blocks())
  for call in ("data.from_arrays(", "jaxssl.load_encoder(", "jaxssl.train_and_evaluate(", "losses.nt_xent(",
               "losses.paws(", 'config.data.name = "folder"'):
    assert call in text, call


def test_readme_python_examples_run_in_order(tmp_path, monkeypatch):
  write_tree(tmp_path / "my_images")
  monkeypatch.chdir(tmp_path)
  for index, block in enumerate(readme_python_blocks()):  # A later example may read an earlier one's run.
    exec(compile(block, f"README.md python block {index}", "exec"), {"__name__": "readme"})


PROTOCOLS = {"snn": "soft nearest neighbour", "head": "its own classifier", "finetune": "fine-tuned"}
ROW_METHODS = {"PAWS": "paws", "FixMatch": "fixmatch", "SESEMI": "sesemi", "supervised from scratch": "supervised"}


def test_readme_results_are_the_means_of_the_committed_table():
  """Each figure of the README's Results table is its method's headline mean over seeds in
  experiments/results/fashion_mnist/results.csv, under the protocol the row names; the 'best self-supervised'
  row is the best of the methods whose training reads no labels, named; bold marks each column's best."""
  with open(os.path.join(ROOT, "experiments", "results", "fashion_mnist", "results.csv")) as f:
    rows = list(csv.DictReader(f))
  protocols = {r["method"]: r["headline_protocol"] for r in rows}
  means = {(method, n): f"{np.mean(values):.3f}" for method, by_labels in sweep_table(rows, "headline").items()
           for n, values in by_labels.items()}
  label_free = [m for m in protocols if not uses_labels(load_config(f"{m}_fashion_mnist"))]
  assert {"simclr", "byol", "rotnet", "vae"} <= set(label_free) and "suncet" not in label_free
  assert {protocols[m] for m in label_free} == {"finetune"}

  with open(os.path.join(ROOT, "README.md")) as f:
    section = f.read().split("\n## Results\n")[1].split("\n## ")[0]
  table = [line.strip("| ").split(" | ") for line in section.splitlines() if line.startswith("| ")]
  assert table[0][1:] == ["1 label/class", "10 labels/class", "100 labels/class"]
  counts, shown = (1, 10, 100), {}
  for label, *cells in table[1:]:
    name, protocol = re.fullmatch(r"(.*?) \((.*?)[,)].*", label).groups()
    for n, cell in zip(counts, cells):
      value, named = re.fullmatch(r"\**([0-9.]+)\**(?: \((.*)\))?", cell).groups()
      shown.setdefault(n, []).append((value, cell.startswith("**")))
      if name in ROW_METHODS:
        method = ROW_METHODS[name]
        assert PROTOCOLS[protocols[method]] == protocol, (name, protocol)
        assert value == means[method, n], (name, n, value, means[method, n])
      else:
        assert name == "the best self-supervised method" and protocol == "fine-tuned"
        best = max((means[m, n] for m in label_free), key=float)
        assert value == best, (n, value, best)
        assert sorted(named.lower().replace(" ", "_").split(",_")) == sorted(
            m for m in label_free if means[m, n] == best), (n, named)
  for n, column in shown.items():
    assert [bold for _, bold in column] == [value == max((v for v, _ in column), key=float) for value, _ in column], n
