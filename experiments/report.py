"""A markdown table of a label sweep: method × labels per class, mean ± std over seeds, for each metric.

  python experiments/report.py experiments/results/sweep/results.csv [--metrics=knn_k20,probe]

Prints the table and writes it to `report.md` beside the CSV, next to the plots of experiments/plot.py. If a
hand-written `notes.md` is beside the CSV (the budget, the machine, the command, what the table shows), it
opens report.md and the tables follow it.
"""
import argparse
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot import sweep_table  # pylint: disable=g-import-not-at-top,wrong-import-position


def markdown_table(rows: list[dict], metrics: list[str]) -> str:
  """One table per metric: a row per method, a column per labels-per-class, cells 'mean ± std (n seeds)'."""
  parts = []
  for metric in metrics:
    table = sweep_table(rows, metric)
    counts = sorted({n for by_labels in table.values() for n in by_labels})
    lines = [f"**{metric}** (test accuracy, mean ± std over seeds)", "",
             "| method | " + " | ".join(f"{n}/class" for n in counts) + " |", "|---" * (len(counts) + 1) + "|"]
    for method, by_labels in sorted(table.items()):
      cells = [f"{np.mean(by_labels[n]):.3f} ± {np.std(by_labels[n]):.3f} ({len(by_labels[n])})" if n in by_labels
               else "–" for n in counts]
      lines.append(f"| {method} | " + " | ".join(cells) + " |")
    parts.append("\n".join(lines))
  return "\n\n".join(parts) + "\n"


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("csv")
  parser.add_argument("--metrics", default="knn_k20,probe")
  args = parser.parse_args()
  with open(args.csv) as f:
    text = markdown_table(list(csv.DictReader(f)), args.metrics.split(","))
  folder = os.path.dirname(os.path.abspath(args.csv))
  notes = os.path.join(folder, "notes.md")
  with open(os.path.join(folder, "report.md"), "w") as f:
    if os.path.exists(notes):
      with open(notes) as n:
        f.write(n.read().rstrip() + "\n\n## Tables\n\n")
    f.write(text)
  print(text)


if __name__ == "__main__":
  main()
