"""Every method's digits config, run as the README runs it, in one table: what each method reaches on digits.

  python experiments/digits_table.py [--methods=simclr,paws] [--out=experiments/results/digits]

Runs `python -m jaxssl.main --config=configs/<method>_digits.py --workdir=<out>/runs/<method>` for each method
(a finished run is not trained again, an interrupted one resumes), then writes `<out>/results.csv`, one row per
method: the kNN accuracy of the untrained encoder (step 0) and at the end, the probe, `snn`, the method's own
classifier (`head`, where it has one), the steps and the training wall time; and `<out>/report.md`, the same as
a markdown table. The test split is digits' 360 held-out images; each config labels 10 images a class.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELDS = ("method", "steps", "knn_k20_untrained", "knn_k20", "knn_k100", "probe", "snn", "head", "train_s")


def run(method: str, workdir: str) -> dict:
  """Trains (or resumes, or skips when finished) `method`'s digits config; returns its results.json row."""
  command = [sys.executable, "-m", "jaxssl.main", f"--config=configs/{method}_digits.py", f"--workdir={workdir}"]
  subprocess.run(command, cwd=ROOT, check=True)
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  final = results["final"]
  return {"method": method, "steps": final["step"], "knn_k20_untrained": results["evals"]["0"]["knn_k20"],
          "train_s": round(results.get("train_wall_s", 0.0), 1),
          **{k: final.get(k, "") for k in ("knn_k20", "knn_k100", "probe", "snn", "head")}}


def markdown(rows: list[dict]) -> str:
  lines = ["Every method's digits config, as `python -m jaxssl.main --config=configs/<method>_digits.py` runs it "
           "(`python experiments/digits_table.py`): test accuracy on digits' 360 held-out images, 10 labelled "
           "images a class as the bank / probe set; `train s` is the wall time of training on the machine that "
           "ran it.", "",
           "| method | steps | kNN k=20: untrained → trained | kNN k=100 | probe | snn | head | train s |",
           "|---|---|---|---|---|---|---|---|"]
  for r in rows:
    cell = lambda k: f"{float(r[k]):.3f}" if r[k] != "" else "–"
    lines.append(f"| {r['method']} | {r['steps']} | {cell('knn_k20_untrained')} → {cell('knn_k20')} | "
                 f"{cell('knn_k100')} | {cell('probe')} | {cell('snn')} | {cell('head')} | {r['train_s']} |")
  return "\n".join(lines) + "\n"


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--methods", default=",".join(sorted(
      f[:-len("_digits.py")] for f in os.listdir(os.path.join(ROOT, "configs")) if f.endswith("_digits.py"))))
  parser.add_argument("--out", default="experiments/results/digits")
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  rows = [run(m, os.path.abspath(os.path.join(args.out, "runs", m))) for m in args.methods.split(",")]
  with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, FIELDS)
    writer.writeheader()
    writer.writerows(rows)
  table = markdown(rows)
  with open(os.path.join(args.out, "report.md"), "w") as f:
    f.write(table)
  print(table)


if __name__ == "__main__":
  main()
