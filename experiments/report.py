"""A markdown table of a label sweep: method × labels per class, mean ± std over seeds, for each metric.

  python experiments/report.py experiments/results/sweep/results.csv [--metrics=knn_k20,probe]
      [--baseline=supervised]

With `--baseline`, first a table per labels-per-class count of the first metric, seed by seed: each method's
value on every seed, its mean, and its difference to the baseline method on the same seed (the same labelled
draw), since the draw moves every method together.

Prints the table and writes it to `report.md` beside the CSV, next to the plots of experiments/plot.py. If a
hand-written `notes.md` is beside the CSV (the budget, the machine, the command, what the table shows), it
opens report.md and the tables follow it. report.md is written, never edited: edit notes.md and run this
again (a test checks that every committed report is what this script writes from its CSV and notes).
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


def paired_table(rows: list[dict], metric: str, baseline: str) -> str:
  """Per labels-per-class count: a row per method (best mean first, `baseline` last) with `metric` on each
  seed, the mean and, on the seeds both ran, the method's value minus `baseline`'s."""
  table = {}  # {labels per class: {method: {seed: value}}}
  for r in rows:
    if r[metric] != "":
      table.setdefault(int(r["labels_per_class"]), {}).setdefault(r["method"], {})[int(r["seed"])] = float(r[metric])
  protocol = ({r["method"]: r.get("headline_protocol", "") for r in rows if r[metric] != ""}
              if metric == "headline" else {})
  parts = []
  for n, by_method in sorted(table.items()):
    if baseline not in by_method:
      raise ValueError(f"--baseline={baseline!r} has no {metric} at {n} labels per class; methods there: "
                       f"{sorted(by_method)}.")
    seeds = sorted({s for by_seed in by_method.values() for s in by_seed})
    lines = [f"**{metric}, {n} labels/class** (test accuracy by seed; − {baseline}: on the same seed)", "",
             f"| method | seeds {', '.join(map(str, seeds))} | mean | − {baseline}, per seed |", "|---|---|---|---|"]
    order = sorted(by_method, key=lambda m: (m == baseline, -np.mean(list(by_method[m].values()))))
    for method in order:
      by_seed = by_method[method]
      name = f"{method} ({protocol[method]})" if protocol.get(method) else method
      own = ", ".join(f"{by_seed[s]:.3f}" if s in by_seed else "–" for s in seeds)
      diff = "" if method == baseline else ", ".join(
          f"{by_seed[s] - by_method[baseline][s]:+.3f}" if s in by_seed and s in by_method[baseline] else "–"
          for s in seeds)
      lines.append(f"| {name} | {own} | {np.mean(list(by_seed.values())):.3f} | {diff} |")
    parts.append("\n".join(lines))
  return "\n\n".join(parts) + "\n"


FOOTER = "<!-- written by experiments/report.py {args}; edit notes.md beside results.csv and run it again -->"


def report(csv_path: str, metrics: list[str], baseline: str = "") -> str:
  """The whole of report.md for a sweep's results.csv: notes.md beside it (if any), then the tables, then a
  footer naming the arguments, from which a test writes each committed report again and compares."""
  with open(csv_path) as f:
    rows = list(csv.DictReader(f))
  text = markdown_table(rows, metrics)
  if baseline:
    text = paired_table(rows, metrics[0], baseline) + "\n" + text
  notes = os.path.join(os.path.dirname(os.path.abspath(csv_path)), "notes.md")
  if os.path.exists(notes):
    with open(notes) as n:
      text = n.read().rstrip() + "\n\n## Tables\n\n" + text
  args = f"--metrics={','.join(metrics)}" + (f" --baseline={baseline}" if baseline else "")
  return text + "\n" + FOOTER.format(args=args) + "\n"


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("csv")
  parser.add_argument("--metrics", default="knn_k20,probe")
  parser.add_argument("--baseline", default="", help="a method: first, the first metric seed by seed against it")
  args = parser.parse_args()
  text = report(args.csv, args.metrics.split(","), args.baseline)
  with open(os.path.join(os.path.dirname(os.path.abspath(args.csv)), "report.md"), "w") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  main()
