"""PNG plots of a label sweep and of kNN accuracy during training.

  python experiments/plot.py sweep experiments/results/sweep/results.csv [--metrics=knn_k20,probe]
  python experiments/plot.py curves OUT.png runs/simclr runs/paws ...

`sweep` writes `<csv dir>/<metric>_vs_labels.png` for each metric: accuracy against labels per class (log
axis), one line per method (the supervised baseline black and dashed), error bars the standard deviation over
seeds. `curves` plots each `eval/knn_k<k>` a run logged (the smallest k solid, larger ones dashed) against the
training step, read from its TensorBoard events, like the Keras baselines' kNN curves.
"""
import argparse
import collections
import csv
import glob
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position


def sweep_table(rows: list[dict], metric: str) -> dict[str, dict[int, list[float]]]:
  """{method: {labels_per_class: [metric of each seed]}} from the rows of a sweep's results.csv."""
  table = collections.defaultdict(lambda: collections.defaultdict(list))
  for row in rows:
    if row[metric] != "":  # Cells without this metric (e.g. not fine-tuned) are left out.
      table[row["method"]][int(row["labels_per_class"])].append(float(row[metric]))
  return table


def plot_sweep(csv_path: str, metric: str, out_png: str) -> int:
  """Writes accuracy (`metric`) vs labels per class to `out_png`; returns the number of methods plotted."""
  with open(csv_path) as f:
    table = sweep_table(list(csv.DictReader(f)), metric)
  fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
  colors = plt.get_cmap("tab20").colors  # 20 distinct colours, and a marker per method: 14+ methods stay apart.
  for i, (method, by_labels) in enumerate(sorted(table.items())):
    labels = sorted(by_labels)
    accuracies = [by_labels[n] for n in labels]
    ax.errorbar(labels, [np.mean(a) for a in accuracies], yerr=[np.std(a) for a in accuracies],
                marker="os^vDP*Xph<>"[i % 12], capsize=3, label=method,
                **(dict(color="black", linestyle="--") if method == "supervised" else dict(color=colors[i % 20])))
  counts = sorted({n for by_labels in table.values() for n in by_labels})
  ax.set(xscale="log", xlabel="labelled images per class", ylabel=f"test accuracy ({metric})")
  ax.set_xticks(counts, labels=[str(n) for n in counts])
  ax.minorticks_off()
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
  fig.tight_layout()
  fig.savefig(out_png)
  plt.close(fig)
  return len(table)


def read_scalars(workdir: str, tag: str) -> tuple[np.ndarray, np.ndarray]:
  """(steps, values) of scalar `tag` in the TensorBoard events of `workdir`, in step order."""
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  from tensorboard.util import tensor_util  # pylint: disable=g-import-not-at-top

  points = {}
  for path in sorted(glob.glob(os.path.join(workdir, "events.out.tfevents.*"))):
    events = event_accumulator.EventAccumulator(path, size_guidance={event_accumulator.TENSORS: 0})
    events.Reload()
    if tag in events.Tags()["tensors"]:
      for event in events.Tensors(tag):
        points[event.step] = float(tensor_util.make_ndarray(event.tensor_proto))
  steps = np.array(sorted(points))
  return steps, np.array([points[s] for s in steps])


def knn_tags(workdir: str) -> list[str]:
  """The `eval/knn_k<k>` tags in a run's TensorBoard events, by k (k is the one computed: see knn_ks)."""
  from tensorboard.backend.event_processing import event_accumulator
  tags = set()
  for path in glob.glob(os.path.join(workdir, "events.out.tfevents.*")):
    events = event_accumulator.EventAccumulator(path, size_guidance={event_accumulator.TENSORS: 0})
    events.Reload()
    tags |= {t for t in events.Tags()["tensors"] if t.startswith("eval/knn_k")}
  return sorted(tags, key=lambda t: int(t[len("eval/knn_k"):]))


def plot_knn_curves(workdirs: list[str], out_png: str) -> int:
  """Writes kNN accuracy (the smallest k solid, larger ones dashed) vs step for each run to `out_png`; returns
  the number of lines drawn."""
  fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
  lines = 0
  for i, workdir in enumerate(workdirs):
    for j, tag in enumerate(knn_tags(workdir)):
      style = "-" if j == 0 else "--"
      steps, values = read_scalars(workdir, tag)
      if len(steps):
        ax.plot(steps, values, style, color=f"C{i}", label=f"{os.path.basename(workdir.rstrip('/'))} {tag[5:]}")
        lines += 1
  ax.set(xlabel="training step", ylabel="kNN test accuracy")
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
  fig.tight_layout()
  fig.savefig(out_png)
  plt.close(fig)
  return lines


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)
  sweep = sub.add_parser("sweep")
  sweep.add_argument("csv")
  sweep.add_argument("--metrics", default="knn_k20,probe")
  curves = sub.add_parser("curves")
  curves.add_argument("out")
  curves.add_argument("workdirs", nargs="+")
  args = parser.parse_args()
  if args.command == "sweep":
    for metric in args.metrics.split(","):
      out = os.path.join(os.path.dirname(os.path.abspath(args.csv)), f"{metric}_vs_labels.png")
      print(f"{out}: {plot_sweep(args.csv, metric, out)} methods")
  else:
    print(f"{args.out}: {plot_knn_curves(args.workdirs, args.out)} lines")


if __name__ == "__main__":
  main()
